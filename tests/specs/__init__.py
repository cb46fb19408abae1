"""Checks of requests and answers against the platforms' own specifications (the files beside this).

Amazon: the Selling Partner API models (OpenAPI 2.0). A request must name a documented operation,
carry its required parameters and no undocumented ones, each of the documented type; its body
must match the body schema. An answer's status must be documented for the operation and its JSON
must match that status's schema (objects strict: a field the model does not list is an answer
Amazon would not give).

Shopee: the Open Platform v2 documents list each field's name, type and whether it is required;
they are turned into the same kind of checks here (`shopee_schema`). Error answers must use an
error code the document lists (with or without Shopee's module prefix).

Where a document contradicts itself, the correction is written down in `SHOPEE_ERRATA` with its
evidence. `exchange_problems(server)` checks everything a sandbox server recorded.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

from erp.sandbox.httpserver import Exchange, SandboxServer

SPEC_DIR = Path(__file__).parent
AMAZON_MODELS = ("ordersV0.json", "reports_2021-06-30.json", "listingsItems_2021-08-01.json")
SHOPEE_DOCUMENTS = (
    "v2.order.get_order_list.json",
    "v2.order.get_order_detail.json",
    "v2.product.get_item_list.json",
    "v2.product.get_item_base_info.json",
    "v2.product.get_model_list.json",
    "v2.product.search_item.json",
    "v2.product.update_price.json",
    "v2.public.refresh_access_token.json",
)
# Not SP-API operations: Login with Amazon and the pre-signed document download.
AMAZON_OUTSIDE_MODELS = ("/auth/o2/token", "/_documents/")

# get_item_base_info's field list puts complaint_policy, tax_info, description_info,
# description_type and stock_info_v2 beside item_list; its own response sample (and Shopee's
# item model) has them inside each item of item_list. The sample is taken as the truth.
SHOPEE_ERRATA: Mapping[str, Mapping[str, str]] = {
    "/api/v2/product/get_item_base_info": {
        "complaint_policy": "item_list",
        "tax_info": "item_list",
        "description_info": "item_list",
        "description_type": "item_list",
        "stock_info_v2": "item_list",
    }
}


# -- loading ----------------------------------------------------------------------------------


@cache
def amazon_model(name: str) -> dict[str, Any]:
    return json.loads((SPEC_DIR / "amazon" / name).read_text(encoding="utf-8"))


@cache
def shopee_document(name: str) -> dict[str, Any]:
    return json.loads((SPEC_DIR / "shopee" / name).read_text(encoding="utf-8"))


@cache
def shopee_documents_by_path() -> dict[str, dict[str, Any]]:
    return {shopee_document(name)["path"]: shopee_document(name) for name in SHOPEE_DOCUMENTS}


_USAGE_PLAN = re.compile(
    r"\|\s*Rate \(requests per second\)\s*\|\s*Burst\s*\|\s*\|[-\s|]+\|\s*([\d.]+)\s*\|\s*(\d+)\s*\|"
)


def spec_usage_plans() -> dict[str, tuple[float, int]]:
    """Every operation's default (rate, burst) from the models' usage plan tables."""
    plans: dict[str, tuple[float, int]] = {}
    for name in AMAZON_MODELS:
        for item in amazon_model(name)["paths"].values():
            for method, operation in item.items():
                if method == "parameters":
                    continue
                found = _USAGE_PLAN.search(operation.get("description", ""))
                if found:
                    plans[operation["operationId"]] = (float(found.group(1)), int(found.group(2)))
    return plans


# -- Amazon -----------------------------------------------------------------------------------


def _template(path: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{pattern}$")


@cache
def _amazon_operations() -> list[tuple[str, re.Pattern[str], dict[str, Any], list[dict[str, Any]], str]]:
    found = []
    for name in AMAZON_MODELS:
        model = amazon_model(name)
        for path, item in model["paths"].items():
            shared = item.get("parameters", [])
            for method, operation in item.items():
                if method != "parameters":
                    params = [*shared, *operation.get("parameters", [])]
                    found.append((method.upper(), _template(path), operation, params, name))
    # Literal paths before templated ones (/orders/v0/orders/{orderId} must not swallow others).
    found.sort(key=lambda entry: entry[1].pattern.count("(?P"))
    return found


def amazon_operation(method: str, path: str) -> tuple[dict[str, Any], list[dict[str, Any]], str] | None:
    """The model's operation for a request: (operation, its parameters, model file), or None."""
    for op_method, pattern, operation, params, model in _amazon_operations():
        if op_method == method and pattern.match(path):
            return operation, params, model
    return None


def _strict(schema: Any) -> Any:
    """The schema with every object that lists properties closed to undocumented ones."""
    if isinstance(schema, dict):
        closed = {key: _strict(value) for key, value in schema.items()}
        if "properties" in closed and "additionalProperties" not in closed:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_strict(value) for value in schema]
    return schema


@cache
def _amazon_definitions(model: str) -> dict[str, Any]:
    return _strict(copy.deepcopy(amazon_model(model).get("definitions", {})))


def _validate(
    instance: Any, schema: Mapping[str, Any], definitions: Mapping[str, Any], where: str
) -> list[str]:
    root = {"allOf": [_strict(dict(schema))], "definitions": dict(definitions)}
    return [
        f"{where}: {'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message[:300]}"
        for error in Draft4Validator(root).iter_errors(instance)
    ]


def _query_value(raw: list[str], param: Mapping[str, Any]) -> Any:
    """A query parameter as the model types it (csv arrays split, integers and booleans read)."""
    kind = param.get("type")
    if kind == "array":
        items = param.get("items", {})
        values = raw if param.get("collectionFormat") == "multi" else [v for r in raw for v in r.split(",")]
        return [_query_value([v], items) for v in values]
    return _scalar(raw[0], str(kind))


def _scalar(value: str, kind: str) -> Any:
    """A query string value read as the JSON type it stands for; left as text when it is not one
    (so the schema check then reports it)."""
    if kind == "integer":
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def _param_schema(param: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("type", "items", "enum", "maxItems", "minItems", "minimum", "maximum", "maxLength", "minLength")
    return {key: param[key] for key in keys if key in param}


def amazon_request_problems(exchange: Exchange) -> list[str]:
    request = exchange.request
    where = f"{request.method} {request.path}"
    found = amazon_operation(request.method, request.path)
    if found is None:
        return [f"{where}: no such operation in the SP-API models"]
    operation, params, model = found
    where = f"{operation['operationId']} request"
    declared = {p["name"] for p in params if p.get("in") == "query"}
    problems = [
        f"{where}: query parameter {name} is not in the model"
        for name in request.query
        if name not in declared
    ]
    for param in params:
        place, name = param.get("in"), param.get("name", "")
        if place == "query":
            raw = request.query.get(name)
            if not raw:
                if param.get("required"):
                    problems.append(f"{where}: required query parameter {name} is missing")
                continue
            value = _query_value(raw, param)
            problems += _validate(value, _param_schema(param), {}, f"{where} {name}")
        elif place == "body":
            if not request.body:
                if param.get("required"):
                    problems.append(f"{where}: the required body is missing")
                continue
            try:
                body = json.loads(request.body)
            except ValueError:
                problems.append(f"{where}: the body is not JSON")
                continue
            problems += _validate(body, param["schema"], _amazon_definitions(model), f"{where} body")
    return problems


def amazon_response_problems(exchange: Exchange) -> list[str]:
    request = exchange.request
    found = amazon_operation(request.method, request.path)
    if found is None:
        return []
    operation, _, model = found
    where = f"{operation['operationId']} answer {exchange.status}"
    responses = operation["responses"]
    documented = responses.get(str(exchange.status)) or responses.get("default")
    if documented is None:
        return [f"{where}: the model documents no such status"]
    schema = documented.get("schema")
    if schema is None:
        return []
    try:
        body = json.loads(exchange.body)
    except ValueError:
        return [f"{where}: the answer is not JSON"]
    return _validate(body, schema, _amazon_definitions(model), where)


# -- Shopee -----------------------------------------------------------------------------------

_SHOPEE_SCALARS = {
    "int": "integer",
    "int32": "integer",
    "int64": "integer",
    "uint64": "integer",
    "timestamp": "integer",
    "float": "number",
    "string": "string",
    "boolean": "boolean",
    "object": "object",
}


def _required(field: Mapping[str, Any]) -> bool:
    return str(field.get("required", "")).lower() in ("true", "yes")


def shopee_field_schema(field: Mapping[str, Any], *, enforce_required: bool) -> dict[str, Any]:
    """A document field (name, type, limits, children) as a JSON schema."""
    kind = str(field.get("type", "string")).strip()
    is_list = kind.endswith("[]")
    base = _SHOPEE_SCALARS.get(kind.removesuffix("[]"), "string")
    schema: dict[str, Any] = {"type": base}
    children = field.get("children") or []
    if base == "object" and children:
        schema = _object_schema(children, enforce_required=enforce_required)
    limits = field.get("limits")
    if is_list:
        schema = {"type": "array", "items": schema}
        if isinstance(limits, list) and len(limits) == 2:
            schema["maxItems"] = int(limits[1])
    elif base in ("integer", "number") and isinstance(limits, list) and len(limits) == 2:
        schema["minimum"], schema["maximum"] = limits
    return schema


def _object_schema(fields: Iterable[Mapping[str, Any]], *, enforce_required: bool) -> dict[str, Any]:
    fields = list(fields)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f["name"]: shopee_field_schema(f, enforce_required=enforce_required) for f in fields},
        "additionalProperties": False,
    }
    required = [f["name"] for f in fields if enforce_required and _required(f)]
    if required:
        schema["required"] = required
    return schema


def _with_errata(path: str, fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    moves = SHOPEE_ERRATA.get(path)
    if not moves:
        return fields
    fields = copy.deepcopy(fields)
    for top in fields:
        if top.get("name") != "response":
            continue
        children = top.get("children") or []
        moved = [c for c in children if c.get("name") in moves]
        top["children"] = [c for c in children if c.get("name") not in moves]
        for child in top["children"]:
            if child.get("name") in set(moves.values()):
                child["children"] = [*(child.get("children") or []), *moved]
    return fields


def shopee_response_schema(path: str, *, error: bool) -> dict[str, Any]:
    document = shopee_documents_by_path()[path]
    fields = _with_errata(path, document["params"].get("response_params", []))
    if error:  # an error answer carries the envelope only
        fields = [f for f in fields if f.get("name") != "response" and "children" not in f]
        envelope = [f for f in fields if f.get("name") in ("error", "message", "request_id", "warning")]
        return _object_schema(envelope, enforce_required=False)
    return _object_schema(fields, enforce_required=True)


def shopee_error_names(path: str) -> set[str]:
    document = shopee_documents_by_path()[path]
    return {e["name"] for e in [*document.get("error_list", []), *document.get("common_error_list", [])]}


def _shopee_query_value(raw: list[str], field: Mapping[str, Any]) -> Any:
    kind = str(field.get("type", "string"))
    base = _SHOPEE_SCALARS.get(kind.removesuffix("[]"), "string")
    if kind.endswith("[]"):
        # Shopee's samples: numbers as one comma-separated value (item_id_list=1,2), strings as
        # the parameter repeated (item_status=NORMAL&item_status=BANNED).
        values = [v for r in raw for v in r.split(",")] if base != "string" else raw
        return [_scalar(v, base) for v in values]
    if len(raw) > 1:
        return raw
    return _scalar(raw[0], base)


def shopee_request_problems(exchange: Exchange) -> list[str]:
    request = exchange.request
    document = shopee_documents_by_path().get(request.path)
    if document is None:
        return [f"{request.method} {request.path}: no such API in the Shopee documents"]
    where = f"{document['api_name']} request"
    method = "POST" if document["method"] == 1 else "GET"
    problems = [] if request.method == method else [f"{where}: sent as {request.method}, documented {method}"]
    common = {p["name"]: p for p in document["common_params"]}
    params = {p["name"]: p for p in document["params"].get("request_params", [])}
    for name, field in common.items():
        raw = request.query.get(name)
        if not raw:
            problems.append(f"{where}: common parameter {name} is missing")
            continue
        schema = shopee_field_schema(field, enforce_required=False)
        problems += _validate(_shopee_query_value(raw, field), schema, {}, f"{where} {name}")
    if method == "GET":
        for name in request.query:
            if name not in common and name not in params:
                problems.append(f"{where}: query parameter {name} is not documented")
        for name, field in params.items():
            raw = request.query.get(name)
            if not raw:
                if _required(field):
                    problems.append(f"{where}: required parameter {name} is missing")
                continue
            value = _shopee_query_value(raw, field)
            problems += _validate(
                value, shopee_field_schema(field, enforce_required=True), {}, f"{where} {name}"
            )
        return problems
    for name in request.query:
        if name not in common:
            problems.append(f"{where}: query parameter {name} belongs in the JSON body")
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return [*problems, f"{where}: the body is not JSON"]
    schema = _object_schema(params.values(), enforce_required=True)
    return problems + _validate(body, schema, {}, f"{where} body")


def shopee_response_problems(exchange: Exchange) -> list[str]:
    request = exchange.request
    document = shopee_documents_by_path().get(request.path)
    if document is None:
        return []
    where = f"{document['api_name']} answer"
    try:
        body = json.loads(exchange.body)
    except ValueError:
        return [f"{where}: the answer is not JSON"]
    if not isinstance(body, dict):
        return [f"{where}: the answer is not an object"]
    code = str(body.get("error") or "")
    if code:
        module, dot, rest = code.partition(".")
        name = rest if dot and module.isalpha() else code
        problems = (
            [] if name in shopee_error_names(request.path) else [f"{where}: error {code} is not documented"]
        )
        return problems + _validate(body, shopee_response_schema(request.path, error=True), {}, where)
    return _validate(body, shopee_response_schema(request.path, error=False), {}, where)


# -- both -------------------------------------------------------------------------------------


def exchange_problems(server: SandboxServer, platform: str) -> list[str]:
    """Everything the server recorded that a platform's specification does not allow.

    Injected faults (429s, 5xx pages, HTML, cut-off bodies: what proxies and bad days do) are
    checked as requests only; their answers are not the platform's.
    """
    problems: list[str] = []
    for exchange in server.exchanges:
        path = exchange.request.path
        if platform == "amazon":
            if path.startswith(AMAZON_OUTSIDE_MODELS):
                continue
            problems += amazon_request_problems(exchange)
            if not exchange.injected:
                problems += amazon_response_problems(exchange)
        else:
            problems += shopee_request_problems(exchange)
            if not exchange.injected:
                problems += shopee_response_problems(exchange)
    return sorted(set(problems))


def covered_operations(server: SandboxServer, platform: str) -> set[str]:
    """The documented operations the recorded requests used (operationId / Shopee api_name)."""
    names: set[str] = set()
    for exchange in server.exchanges:
        request = exchange.request
        if platform == "amazon":
            found = amazon_operation(request.method, request.path)
            if found is not None:
                names.add(found[0]["operationId"])
        else:
            document = shopee_documents_by_path().get(request.path)
            if document is not None:
                names.add(document["api_name"])
    return names
