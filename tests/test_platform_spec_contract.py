"""Connectors and sandboxes checked against the platforms' own specifications (tests/specs).

Every request a connector sends and every answer a sandbox gives is validated against Amazon's
SP-API models and Shopee's API documents (the sandbox fixtures do it for every test that uses
them; these tests walk every operation the connectors use and show the checks can fail).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from erp.platforms import shopee as shopee_connector
from erp.platforms.base import MarketplaceConnector, NotFound
from erp.platforms.registry import ConnectorRegistry
from erp.sandbox.amazon import AmazonSandbox
from erp.sandbox.generate import generate_listings, generate_orders
from erp.sandbox.httpserver import Exchange, RecordedRequest
from erp.sandbox.records import SandboxListing
from erp.sandbox.shopee import ShopeeSandbox
from tests.sandboxes import make_sandbox_store
from tests.specs import (
    amazon_request_problems,
    amazon_response_problems,
    covered_operations,
    exchange_problems,
    shopee_document,
    shopee_request_problems,
    shopee_response_problems,
)

NOW = datetime.now(UTC).replace(microsecond=0)

AMAZON_OPERATIONS = {
    "getOrders",
    "getOrder",
    "getOrderItems",
    "createReport",
    "getReport",
    "getReportDocument",
    "getListingsItem",
    "patchListingsItem",
}
SHOPEE_OPERATIONS = {
    "v2.order.get_order_list",
    "v2.order.get_order_detail",
    "v2.product.get_item_list",
    "v2.product.get_item_base_info",
    "v2.product.get_model_list",
    "v2.product.search_item",
    "v2.product.update_price",
    "v2.public.refresh_access_token",
}


def _tour(connector: MarketplaceConnector, sandbox: AmazonSandbox | ShopeeSandbox, sku: str) -> None:
    """Every operation the product uses, the ways it uses them, failures included."""
    cursor: str | None = None
    while True:
        page = connector.list_orders(updated_after=NOW - timedelta(days=31), cursor=cursor)
        cursor = page.next_cursor
        if cursor is None:
            break
    order_id = sorted(sandbox.data.orders)[0]
    assert connector.get_order(order_id) is not None
    assert (
        connector.get_order("999-9999999-9999999" if sandbox.platform == "amazon" else "2612019999ZZZZ")
        is None
    )
    for kind in ("listings", "inventory"):
        report_id = connector.request_report(kind)
        state = connector.report_state(report_id)
        for _ in range(5):
            if state.status == "DONE":
                break
            state = connector.report_state(report_id)
        assert state.document_id
        assert b"".join(connector.download_report(state.document_id))
    assert connector.get_live_price(sku) is not None
    assert connector.get_live_price("NO-SUCH-SKU") is None
    assert connector.update_price(sku, "23.45", sandbox.data.currency)
    with pytest.raises(NotFound):
        connector.update_price("NO-SUCH-SKU", "1.00", sandbox.data.currency)
    sandbox.expire_access_tokens()  # a refresh in the middle of it all
    assert connector.get_order(order_id) is not None


@pytest.mark.parametrize("platform", ["amazon", "shopee"])
def test_every_operation_the_connectors_use_matches_the_platform_specification(
    platform: str, session: Session, connector_registry: ConnectorRegistry
) -> None:
    sandbox: AmazonSandbox | ShopeeSandbox = AmazonSandbox() if platform == "amazon" else ShopeeSandbox()
    listings = generate_listings(30, seed=41, platform=platform, currency=sandbox.data.currency, now=NOW)
    if platform == "shopee":  # one item with two models, so get_model_list is exercised
        listings += [
            SandboxListing(
                sku="TEE-S", item_id="7001", title="Tee", price="29.00", currency="MYR", model_id=71
            ),
            SandboxListing(
                sku="TEE-M", item_id="7001", title="Tee", price="31.00", currency="MYR", model_id=72
            ),
        ]
    sandbox.add_listings(*listings)
    sandbox.add_orders(
        *generate_orders(230, seed=41, platform=platform, listings=listings, currency=sandbox.data.currency)
    )
    with sandbox:
        store = make_sandbox_store(session, sandbox, name=f"{platform} tour")
        _tour(
            connector_registry.connector_for(store),
            sandbox,
            "TEE-M" if platform == "shopee" else listings[0].sku,
        )

    assert exchange_problems(sandbox.server, platform) == []
    expected = AMAZON_OPERATIONS if platform == "amazon" else SHOPEE_OPERATIONS
    assert covered_operations(sandbox.server, platform) == expected


def _exchange(
    method: str,
    path: str,
    query: dict[str, list[str]],
    answer: object,
    *,
    status: int = 200,
    body: object = None,
) -> Exchange:
    request = RecordedRequest(method, path, query, {}, b"" if body is None else json.dumps(body).encode())
    return Exchange(request, status, "application/json", json.dumps(answer).encode(), injected=False)


def test_the_amazon_checks_reject_what_amazon_would_not_send_or_accept() -> None:
    orders_query = {"MarketplaceIds": ["ATVPDKIKX0DEK"], "LastUpdatedAfter": ["2026-11-01T00:00:00Z"]}
    good_order = {
        "AmazonOrderId": "111-0000001-0000001",
        "PurchaseDate": "2026-11-01T00:00:00Z",
        "LastUpdateDate": "2026-11-02T00:00:00Z",
        "OrderStatus": "Shipped",
    }
    good = _exchange("GET", "/orders/v0/orders", orders_query, {"payload": {"Orders": [good_order]}})
    assert amazon_request_problems(good) == [] and amazon_response_problems(good) == []

    no_id = {k: v for k, v in good_order.items() if k != "AmazonOrderId"}
    invented = {**good_order, "ShippedBy": "me"}
    unknown_status = {**good_order, "OrderStatus": "Teleported"}
    for order, complaint in [
        (no_id, "'AmazonOrderId' is a required property"),
        (invented, "'ShippedBy' was unexpected"),
        (unknown_status, "'Teleported' is not one of"),
    ]:
        answer = _exchange("GET", "/orders/v0/orders", orders_query, {"payload": {"Orders": [order]}})
        assert any(complaint in problem for problem in amazon_response_problems(answer)), complaint

    assert amazon_response_problems(_exchange("GET", "/orders/v0/orders", orders_query, {}, status=418))
    no_marketplace = _exchange("GET", "/orders/v0/orders", {"LastUpdatedAfter": ["x"]}, {})
    assert "required query parameter MarketplaceIds is missing" in amazon_request_problems(no_marketplace)[0]
    bad_patch = _exchange(
        "PATCH",
        "/listings/2021-08-01/items/A1/SKU-1",
        {"marketplaceIds": ["ATVPDKIKX0DEK"]},
        {},
        body={"productType": "PRODUCT", "patches": [{"op": "swap", "path": "/attributes/x"}]},
    )
    assert any("'swap' is not one of" in p for p in amazon_request_problems(bad_patch))
    assert amazon_request_problems(_exchange("GET", "/orders/v1/everything", {}, {}))


def test_the_shopee_checks_reject_what_shopee_would_not_send_or_accept() -> None:
    common = {
        "partner_id": ["2001887"],
        "timestamp": ["1764547200"],
        "access_token": ["abc"],
        "shop_id": ["600012345"],
        "sign": ["f00"],
    }
    path = "/api/v2/product/search_item"
    good = {
        "error": "",
        "message": "",
        "request_id": "r1",
        "response": {"item_id_list": [1], "next_offset": ""},
    }
    query = {**common, "page_size": ["100"], "item_sku": ["CUP"]}
    assert shopee_request_problems(_exchange("GET", path, query, good)) == []
    assert shopee_response_problems(_exchange("GET", path, query, good)) == []

    invented = {**good, "response": {**good["response"], "has_next_page": True}}  # type: ignore[dict-item]
    assert any(
        "'has_next_page' was unexpected" in p
        for p in shopee_response_problems(_exchange("GET", path, query, invented))
    )
    wrong_type = {**good, "response": {"item_id_list": ["1"], "next_offset": ""}}
    assert any(
        "is not of type 'integer'" in p
        for p in shopee_response_problems(_exchange("GET", path, query, wrong_type))
    )
    made_up = {"error": "error_made_up", "message": "", "request_id": "r1"}
    assert shopee_response_problems(_exchange("GET", path, query, made_up))
    prefixed = {"error": "product.error_param", "message": "invalid field PageSize", "request_id": "r1"}
    assert shopee_response_problems(_exchange("GET", path, query, prefixed)) == []

    too_big = {**query, "page_size": ["500"]}
    assert any(
        "greater than the maximum" in p
        for p in shopee_request_problems(_exchange("GET", path, too_big, good))
    )
    unsigned = {k: v for k, v in query.items() if k != "sign"}
    assert shopee_request_problems(_exchange("GET", path, unsigned, good)) == [
        "v2.product.search_item request: common parameter sign is missing"
    ]


def test_the_connectors_page_sizes_stay_within_the_documented_limits() -> None:
    def limit(document: str, name: str) -> int:
        params = shopee_document(document)["params"]["request_params"]
        return int(next(p for p in params if p["name"] == name)["limits"][1])

    assert shopee_connector.ITEM_PAGE_SIZE <= limit("v2.product.get_item_list.json", "page_size")
    assert shopee_connector.ITEM_PAGE_SIZE <= limit("v2.product.search_item.json", "page_size")
    assert shopee_connector.DETAIL_BATCH <= limit("v2.product.get_item_base_info.json", "item_id_list")
