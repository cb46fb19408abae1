"""Load and validate the flow knowledge files (`knowledge/flows/*.toml`, see SCHEMA.md).

A malformed file fails loudly at start-up with a `KnowledgeError` that names the file and the
field, so a typo in a flow never turns into a wrong answer to a seller.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# The eight flows, in the order the bot lists them. The same ids as `handlers.verdicts.FLOW_IDS`
# (a test holds them equal): knowledge sits below handlers and must not import them.
FLOW_IDS: tuple[str, ...] = (
    "price_not_updated",
    "upload_sku_missing",
    "image_grab",
    "product_sku_missing",
    "orders_not_synced",
    "image_not_displaying",
    "publish_image_error",
    "delete_store_data",
)

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
DETAIL_KINDS: tuple[str, ...] = ("sku", "order_id", "image_url", "store")
OUT_OF_SCOPE_FILE = "out_of_scope.toml"
DEFAULT_DIRECTORY = Path(__file__).resolve().parent / "flows"

_TEXT_LIST_FIELDS = ("facts", "steps")
_TEXT_STRING_FIELDS = ("title", "explanation")


class KnowledgeError(ValueError):
    """A knowledge file is missing or malformed; the message names the file and the field."""


@dataclass(frozen=True)
class FlowText:
    """What the bot says about a flow in one language."""

    title: str
    explanation: str
    facts: list[str]
    steps: list[str]


@dataclass(frozen=True)
class FlowKnowledge:
    """One troubleshooting flow as data: the details it needs, its texts and example questions."""

    id: str
    required_details: list[str]
    optional_details: list[str]
    escalation: str
    examples: list[str]
    texts: Mapping[Language, FlowText] = field(repr=False)

    def text(self, language: str) -> FlowText:
        """The flow's title, explanation, facts and steps in `language` (English if unknown)."""
        return self.texts["zh" if language == "zh" else "en"]


@dataclass(frozen=True)
class KnowledgeBase:
    """All flows, in the order of `FLOW_IDS`, and the out-of-scope examples."""

    flows: dict[str, FlowKnowledge]
    out_of_scope: list[str]
    digest: str = ""  # hash of the files' bytes: identifies a trained model for caching

    def flow(self, flow_id: str) -> FlowKnowledge:
        """The flow with this id; raises `KeyError` for an unknown id."""
        return self.flows[flow_id]


def load_knowledge(directory: Path | None = None) -> KnowledgeBase:
    """Read and validate every flow file and the out-of-scope file.

    Args:
        directory: where the TOML files are; the packaged `knowledge/flows` by default.

    Returns:
        The knowledge base with one `FlowKnowledge` per id of `FLOW_IDS`, in that order.

    Raises:
        KnowledgeError: a file is missing, is not valid TOML, or a field is missing or malformed.
    """
    directory = directory or DEFAULT_DIRECTORY
    digest = hashlib.sha256()
    flows: dict[str, FlowKnowledge] = {}
    for flow_id in FLOW_IDS:
        name = f"{flow_id}.toml"
        raw, data = _read(directory, name)
        digest.update(name.encode() + b"\0" + raw)
        flows[flow_id] = _parse_flow(name, flow_id, data)
    raw, data = _read(directory, OUT_OF_SCOPE_FILE)
    digest.update(OUT_OF_SCOPE_FILE.encode() + b"\0" + raw)
    out_of_scope = _string_list(OUT_OF_SCOPE_FILE, "examples", data.get("examples"))
    _reject_unknown(OUT_OF_SCOPE_FILE, "", data, {"examples"})
    return KnowledgeBase(flows=flows, out_of_scope=out_of_scope, digest=digest.hexdigest())


def _read(directory: Path, name: str) -> tuple[bytes, dict[str, Any]]:
    path = directory / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise KnowledgeError(f"{name}: file is missing from {directory}") from exc
    except OSError as exc:
        raise KnowledgeError(f"{name}: cannot be read ({exc.strerror})") from exc
    try:
        return raw, tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise KnowledgeError(f"{name}: is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise KnowledgeError(f"{name}: is not valid TOML ({exc})") from exc


def _parse_flow(name: str, flow_id: str, data: dict[str, Any]) -> FlowKnowledge:
    _reject_unknown(name, "", data, {"id", "examples", "details", "en", "zh"})
    if data.get("id") != flow_id:
        raise KnowledgeError(f"{name}: id must be {flow_id!r} (the file name), not {data.get('id')!r}")
    details = _table(name, "details", data.get("details"))
    _reject_unknown(name, "details.", details, {"required", "optional", "escalation"})
    required = _details(name, "details.required", details.get("required"), allow_empty=False)
    optional = _details(name, "details.optional", details.get("optional", []), allow_empty=True)
    overlap = sorted(set(required) & set(optional))
    if overlap:
        raise KnowledgeError(f"{name}: details.optional repeats required details {overlap}")
    escalation = _string(name, "details.escalation", details.get("escalation"))
    texts = {language: _parse_text(name, language, data.get(language)) for language in LANGUAGES}
    examples = _string_list(name, "examples", data.get("examples"))
    return FlowKnowledge(
        id=flow_id,
        required_details=required,
        optional_details=optional,
        escalation=escalation,
        examples=examples,
        texts=texts,
    )


def _parse_text(name: str, language: str, value: object) -> FlowText:
    table = _table(name, language, value)
    _reject_unknown(name, f"{language}.", table, {*_TEXT_STRING_FIELDS, *_TEXT_LIST_FIELDS})
    return FlowText(
        title=_string(name, f"{language}.title", table.get("title")),
        explanation=_string(name, f"{language}.explanation", table.get("explanation")),
        facts=_string_list(name, f"{language}.facts", table.get("facts")),
        steps=_string_list(name, f"{language}.steps", table.get("steps")),
    )


def _table(name: str, key: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise KnowledgeError(f"{name}: [{key}] must be a table")
    return value


def _string(name: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeError(f"{name}: {key} must be a non-empty string")
    return value.strip()


def _string_list(name: str, key: str, value: object) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item.strip() for item in value)
    ):
        raise KnowledgeError(f"{name}: {key} must be a non-empty list of strings")
    strings = [item.strip() for item in value]
    duplicates = sorted(item for item, count in Counter(strings).items() if count > 1)
    if duplicates:
        raise KnowledgeError(f"{name}: {key} repeats {duplicates[0]!r}")
    return strings


def _details(name: str, key: str, value: object, *, allow_empty: bool) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise KnowledgeError(f"{name}: {key} must be a list of detail names {list(DETAIL_KINDS)}")
    if not value and not allow_empty:
        raise KnowledgeError(f"{name}: {key} must name at least one of {list(DETAIL_KINDS)}")
    unknown = [item for item in value if item not in DETAIL_KINDS]
    if unknown:
        raise KnowledgeError(f"{name}: {key} has unknown detail {unknown[0]!r}; use {list(DETAIL_KINDS)}")
    return list(value)


def _reject_unknown(
    name: str, prefix: str, table: Mapping[str, Any], known: Sequence[str] | set[str]
) -> None:
    # An unknown key is almost always a typo ("exampels") that would silently drop data.
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise KnowledgeError(f"{name}: {prefix}{unknown[0]} is not a known field")
