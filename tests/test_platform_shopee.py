"""The Shopee connector against the sandbox Shopee over real HTTP."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from erp.models import Store
from erp.platforms.base import (
    AuthorizationExpired,
    BadResponse,
    NotFound,
    PermissionDenied,
    PlatformError,
    PlatformUnavailable,
)
from erp.platforms.credentials import credentials_loader, credentials_saver
from erp.platforms.registry import ConnectorRegistry
from erp.platforms.reportformat import INVENTORY_COLUMNS, LISTINGS_COLUMNS
from erp.platforms.shopee import WINDOW_SECONDS, ShopeeConnector, decode_cursor, encode_cursor
from erp.sandbox.generate import generate_orders
from erp.sandbox.records import OrderLine, SandboxListing, SandboxOrder
from erp.sandbox.shopee import ShopeeSandbox
from tests.sandboxes import make_sandbox_store

NOW = datetime.now(UTC).replace(microsecond=0)


def _connector(registry: ConnectorRegistry, store: Store) -> ShopeeConnector:
    connector = registry.connector_for(store)
    assert isinstance(connector, ShopeeConnector)
    return connector


def _order(
    sn: str, updated: datetime, *, fbs: bool = False, skus: tuple[str, ...] = ("TSHIRT-M",)
) -> SandboxOrder:
    return SandboxOrder(
        order_id=sn,
        status="READY_TO_SHIP",
        created_at=updated - timedelta(hours=3),
        updated_at=updated,
        fulfilled_by_platform=fbs,
        lines=[OrderLine(sku=sku, quantity=1, price="25.90", item_id="1001") for sku in skus],
        currency="MYR",
    )


def _walk(connector: ShopeeConnector, after: datetime, cursor: str | None = None) -> list[str]:
    ids: list[str] = []
    while True:
        page = connector.list_orders(updated_after=after, cursor=cursor)
        ids += [o.order_id for o in page.orders]
        cursor = page.next_cursor
        if cursor is None:
            return ids


def _windows(sandbox: ShopeeSandbox) -> list[tuple[int, int]]:
    return [
        (int(r.query["time_from"][0]), int(r.query["time_to"][0]))
        for r in sandbox.server.requests
        if r.path == "/api/v2/order/get_order_list"
    ]


def test_orders_are_walked_window_by_window_to_now(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    orders = generate_orders(260, seed=9, platform="shopee", now=NOW, days=40, currency="MYR")
    shopee_sandbox.add_orders(*orders)
    ids = _walk(_connector(connector_registry, shopee_store), NOW - timedelta(days=45))
    assert sorted(set(ids)) == sorted(o.order_id for o in orders)
    windows = _windows(shopee_sandbox)
    assert all(0 < end - start <= WINDOW_SECONDS for start, end in windows)
    assert len(set(windows)) >= 4  # 45 days in windows of 15, the last up to now
    assert max(end for _, end in windows) >= int(NOW.timestamp())


def test_a_sync_resumes_from_its_cursor(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    orders = [_order(f"2611{n:06d}AB", NOW - timedelta(days=20, minutes=n)) for n in range(150)]
    orders += [_order(f"2612{n:06d}CD", NOW - timedelta(days=2, minutes=n)) for n in range(30)]
    shopee_sandbox.add_orders(*orders)
    after = NOW - timedelta(days=25)
    first = _connector(connector_registry, shopee_store).list_orders(updated_after=after)
    # 150 orders in one window are more than a page: the window was halved until it fit.
    assert 0 < len(first.orders) <= 100 and first.next_cursor is not None
    assert first.complete_through is not None
    position = decode_cursor(first.next_cursor)
    assert position.window_to - position.window_from <= WINDOW_SECONDS
    assert position.window_from == int(first.complete_through.timestamp()) + 1
    # A new process (new registry) picks up the stored cursor and finishes the job.
    fresh = ConnectorRegistry(retry=connector_registry.retry)
    try:
        rest = _walk(_connector(fresh, shopee_store), after, first.next_cursor)
    finally:
        fresh.close()
    assert sorted([o.order_id for o in first.orders] + rest) == sorted(o.order_id for o in orders)
    with pytest.raises(PlatformError, match="sync position"):
        _connector(connector_registry, shopee_store).list_orders(updated_after=after, cursor="garbage!")


def test_order_details_fulfilment_and_hidden_orders(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    shopee_sandbox.add_orders(
        _order("261126AAAAAAAA", NOW - timedelta(hours=5), fbs=True, skus=("A", "B")),
        _order("261126BBBBBBBB", NOW - timedelta(hours=4)),
    )
    shopee_sandbox.hide_order("261126BBBBBBBB")
    connector = _connector(connector_registry, shopee_store)
    page = connector.list_orders(updated_after=NOW - timedelta(days=1))
    assert [o.order_id for o in page.orders] == ["261126AAAAAAAA"]
    order = page.orders[0]
    assert order.fulfilled_by_platform and order.skus == ["A", "B"]
    assert (order.total_amount, order.currency, order.platform_status) == ("51.8", "MYR", "READY_TO_SHIP")
    hidden = connector.get_order("261126BBBBBBBB")
    assert hidden is not None and not hidden.fulfilled_by_platform
    assert connector.get_order("261126ZZZZZZZZ") is None
    assert connector.get_order("not an order/..") is None


def test_wrong_partner_key_is_rejected_by_signature(
    shopee_sandbox: ShopeeSandbox, session: Session, connector_registry: ConnectorRegistry
) -> None:
    credentials = {**shopee_sandbox.store_credentials(), "partner_key": "not-the-key"}
    store = make_sandbox_store(session, shopee_sandbox, name="typo", credentials=credentials)
    with pytest.raises(AuthorizationExpired, match="signature"):
        _connector(connector_registry, store).list_orders(updated_after=NOW - timedelta(days=1))
    assert shopee_sandbox.refreshes == 0


def test_expired_access_token_is_refreshed_and_rotated_tokens_are_stored(
    shopee_sandbox: ShopeeSandbox,
    shopee_store: Store,
    connector_registry: ConnectorRegistry,
    session: Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    shopee_sandbox.add_orders(_order("261126CCCCCCCC", NOW - timedelta(hours=1)))
    connector = _connector(connector_registry, shopee_store)
    old_refresh = shopee_store.credentials["refresh_token"]
    shopee_sandbox.expire_access_tokens()
    assert [o.order_id for o in connector.list_orders(updated_after=NOW - timedelta(days=1)).orders] == [
        "261126CCCCCCCC"
    ]
    assert shopee_sandbox.refreshes == 1
    session.refresh(shopee_store)
    stored = shopee_store.credentials
    assert stored["refresh_token"] == shopee_sandbox.data.refresh_token != old_refresh
    assert stored["access_token"] == shopee_sandbox.data.access_token
    assert stored["partner_key"] == shopee_sandbox.store_credentials()["partner_key"]
    # The row now holds the rotated tokens: the same connector keeps serving it.
    assert connector_registry.connector_for(shopee_store) is connector
    assert shopee_sandbox.data.access_token not in caplog.text
    assert stored["refresh_token"] not in caplog.text


def test_cancelled_authorization_is_reported(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    shopee_sandbox.reject_refresh_token()
    with pytest.raises(AuthorizationExpired, match="authorize the shop again") as caught:
        _connector(connector_registry, shopee_store).list_orders(updated_after=NOW - timedelta(days=1))
    assert "Shopee MY" in str(caught.value)


def test_throttling_server_errors_and_html(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    shopee_sandbox.add_orders(_order("261126DDDDDDDD", NOW - timedelta(hours=1)))
    connector = _connector(connector_registry, shopee_store)
    shopee_sandbox.faults.fail_next(2, status=429, retry_after=0.01, path="/api/v2/order")
    assert len(connector.list_orders(updated_after=NOW - timedelta(days=1)).orders) == 1
    shopee_sandbox.faults.fail_next(1, status=502, path="/api/v2/order/get_order_detail")
    assert len(connector.list_orders(updated_after=NOW - timedelta(days=1)).orders) == 1
    shopee_sandbox.faults.html_next(1, path="/api/v2/order")
    with pytest.raises(BadResponse, match="Shopee answered get_order_list with something that is not JSON"):
        connector.list_orders(updated_after=NOW - timedelta(days=1))


# -- products, reports and prices -------------------------------------------------------------


@pytest.fixture
def catalogue(shopee_sandbox: ShopeeSandbox) -> None:
    shopee_sandbox.add_listings(
        SandboxListing(
            sku="MUG-1", item_id="1001", title="Mug & Saucer", price="19.90", currency="MYR", quantity=7
        ),
        SandboxListing(
            sku="TEE-S",
            item_id="1002",
            title="T-shirt",
            price="29.00",
            currency="MYR",
            quantity=3,
            model_id=501,
        ),
        SandboxListing(
            sku="TEE-M",
            item_id="1002",
            title="T-shirt",
            price="31.00",
            currency="MYR",
            quantity=0,
            model_id=502,
        ),
        SandboxListing(
            sku="OLD-1", item_id="1003", title="Old lamp", price="9.00", currency="MYR", active=False
        ),
        SandboxListing(
            sku="GONE-1", item_id="1004", title="Deleted", price="5.00", currency="MYR", deleted=True
        ),
    )


def _tsv(chunks: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(chunks.decode()), delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.mark.usefixtures("catalogue")
def test_listings_report_has_amazons_columns(
    shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    connector = _connector(connector_registry, shopee_store)
    report_id = connector.request_report("listings")
    state = connector.report_state(report_id)
    assert state.status == "DONE" and state.document_id == report_id
    document = b"".join(connector.download_report(report_id))
    assert document.splitlines()[0].decode().split("\t") == list(LISTINGS_COLUMNS)
    rows = {row["seller-sku"]: row for row in _tsv(document)}
    assert set(rows) == {"MUG-1", "TEE-S", "TEE-M", "OLD-1"}  # deleted items are not listings
    assert (rows["MUG-1"]["price"], rows["MUG-1"]["quantity"], rows["MUG-1"]["status"]) == (
        "19.9",
        "7",
        "Active",
    )
    assert rows["MUG-1"]["item-name"] == "Mug & Saucer" and rows["MUG-1"]["asin1"] == "1001"
    assert rows["TEE-M"]["price"] == "31.0" and rows["TEE-M"]["asin1"] == "1002"
    assert rows["OLD-1"]["status"] == "Inactive"
    assert rows["MUG-1"]["open-date"].endswith(" UTC")
    with pytest.raises(NotFound):
        connector.report_state("12345")


@pytest.mark.usefixtures("catalogue")
def test_inventory_report(shopee_store: Store, connector_registry: ConnectorRegistry) -> None:
    connector = _connector(connector_registry, shopee_store)
    document = b"".join(connector.download_report(connector.request_report("inventory")))
    rows = {row["sku"]: row for row in _tsv(document)}
    assert list(next(iter(rows.values()))) == list(INVENTORY_COLUMNS)
    assert rows["TEE-S"]["mfn-fulfillable-quantity"] == "3"


@pytest.mark.usefixtures("catalogue")
def test_live_price_and_price_update_for_items_and_models(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    connector = _connector(connector_registry, shopee_store)
    mug = connector.get_live_price("MUG-1")
    assert mug is not None and (mug.amount, mug.currency, mug.status) == ("19.9", "MYR", "NORMAL")
    tee = connector.get_live_price("TEE-M")
    assert tee is not None and tee.amount == "31.0"
    assert connector.get_live_price("NOPE") is None
    assert connector.get_live_price("GONE-1") is None

    assert connector.update_price("TEE-M", "33.50", "MYR")
    assert shopee_sandbox.price_updates[-1] == {"item_id": 1002, "model_id": 502, "price": "33.5"}
    assert connector.get_live_price("TEE-M").amount == "33.5"  # type: ignore[union-attr]
    assert connector.get_live_price("TEE-S").amount == "29.0"  # type: ignore[union-attr]
    connector.update_price("MUG-1", "21", "MYR")
    assert (
        "model_id" not in shopee_sandbox.price_updates[-1]
        or shopee_sandbox.price_updates[-1]["model_id"] == 0
    )
    assert connector.get_live_price("MUG-1").amount == "21.0"  # type: ignore[union-attr]

    with pytest.raises(PlatformError, match="in MYR, not USD"):
        connector.update_price("MUG-1", "5", "USD")
    with pytest.raises(NotFound):
        connector.update_price("NOPE", "5", "MYR")
    with pytest.raises(PlatformError, match="positive"):
        connector.update_price("MUG-1", "0", "MYR")


def test_concurrent_calls_refresh_a_rotating_token_only_once(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    shopee_sandbox.add_orders(*[_order(f"261126{n:08d}", NOW - timedelta(hours=2)) for n in range(8)])
    connector = _connector(connector_registry, shopee_store)
    shopee_sandbox.expire_access_tokens()
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(connector.get_order, sorted(shopee_sandbox.data.orders)))
    assert all(order is not None for order in found)
    # A second refresh would have used the already rotated refresh token and failed.
    assert shopee_sandbox.refreshes == 1


def test_a_sku_found_on_the_second_page_of_search_results(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    # "CUP" is a substring of 150 other SKUs, and its item sorts last.
    shopee_sandbox.add_listings(
        *[
            SandboxListing(sku=f"CUP-{n}", item_id=str(5000 + n), title="Cup", price="3.00")
            for n in range(150)
        ],
        SandboxListing(sku="CUP", item_id="9999", title="Cup", price="4.20", currency="MYR"),
    )
    live = _connector(connector_registry, shopee_store).get_live_price("CUP")
    assert live is not None and live.amount == "4.2"
    assert shopee_sandbox.server.count("/api/v2/product/search_item") == 2


def test_a_token_known_to_be_expired_is_refreshed_before_use(
    shopee_sandbox: ShopeeSandbox, session: Session, connector_registry: ConnectorRegistry
) -> None:
    shopee_sandbox.add_orders(_order("261126EEEEEEEE", NOW - timedelta(hours=1)))
    expired = {
        **shopee_sandbox.store_credentials(),
        "access_token_expires_at": str(int(NOW.timestamp()) - 10),
    }
    store = make_sandbox_store(session, shopee_sandbox, name="stale", credentials=expired)
    assert _connector(connector_registry, store).get_order("261126EEEEEEEE") is not None
    assert shopee_sandbox.refreshes == 1
    assert shopee_sandbox.server.count("/api/v2/order/get_order_detail") == 1  # no refused first attempt


# -- issue 11: what the real Shopee Open Platform does ---------------------------------------


def test_a_price_change_during_a_promotion_reads_back_as_done(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    # Finding 7: update_price sets original_price; current_price is the promotion price.
    shopee_sandbox.add_listings(
        SandboxListing(sku="FAN-1", item_id="3001", title="Fan", price="40.00", currency="MYR")
    )
    shopee_sandbox.start_promotion("FAN-1", "29.90")
    connector = _connector(connector_registry, shopee_store)
    before = connector.get_live_price("FAN-1")
    assert before is not None and (before.amount, before.promotion_amount) == ("40.0", "29.9")

    connector.update_price("FAN-1", "45.00", "MYR")

    after = connector.get_live_price("FAN-1")
    assert after is not None and (after.amount, after.promotion_amount) == ("45.0", "29.9")


def test_a_temporary_refresh_error_leaves_the_shop_authorized(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    # Finding 7: "system error, please try again later" is no cancelled authorization.
    shopee_sandbox.add_orders(_order("261201FFFFFFFF", NOW - timedelta(hours=1)))
    connector = _connector(connector_registry, shopee_store)
    shopee_sandbox.expire_access_tokens()
    shopee_sandbox.fail_next_refresh(10)  # HTTP 500, outlasting the retries
    with pytest.raises(PlatformUnavailable, match="server error 500"):
        connector.list_orders(updated_after=NOW - timedelta(days=1))
    shopee_sandbox.clear_refresh_failures()
    shopee_sandbox.fail_next_refresh(1, status=200)  # the same error in a 200 answer
    with pytest.raises(PlatformUnavailable, match="'Shopee MY' is unchanged") as raised:
        connector.list_orders(updated_after=NOW - timedelta(days=1))
    assert not isinstance(raised.value, AuthorizationExpired)
    shopee_sandbox.clear_refresh_failures()
    assert [o.order_id for o in connector.list_orders(updated_after=NOW - timedelta(days=1)).orders] == [
        "261201FFFFFFFF"
    ]


def test_a_refresh_token_rotated_by_another_process_is_taken_from_the_store(
    shopee_sandbox: ShopeeSandbox,
    shopee_store: Store,
    connector_registry: ConnectorRegistry,
    engine: Engine,
    session: Session,
) -> None:
    # Finding 7: each refresh token works once. The scheduler rotated it; the bot's connector
    # still holds the consumed one and must retry with the newest, not give the shop up.
    shopee_sandbox.add_orders(_order("261201GGGGGGGG", NOW - timedelta(hours=1)))
    sessions: Callable[[], Session] = lambda: Session(engine, expire_on_commit=False)  # noqa: E731
    scheduler = ConnectorRegistry(
        on_credentials_changed=credentials_saver(sessions),
        load_credentials=credentials_loader(sessions),
        retry=connector_registry.retry,
    )
    try:
        bot = _connector(connector_registry, shopee_store)
        other = _connector(scheduler, shopee_store)
        shopee_sandbox.expire_access_tokens()
        assert other.get_order("261201GGGGGGGG") is not None  # rotates and stores the token
        shopee_sandbox.expire_access_tokens()
        assert bot.get_order("261201GGGGGGGG") is not None  # its own token is consumed
    finally:
        scheduler.close()
    assert shopee_sandbox.refreshes == 2
    session.refresh(shopee_store)
    assert shopee_store.credentials["refresh_token"] == shopee_sandbox.data.refresh_token


def test_missing_permission_and_prefixed_error_codes(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    # Finding 5: error_auth "no permission to current api" is a permission, not an expiry; and
    # codes may come as `common.invalid_acceess_token`, `product.error_auth`.
    shopee_sandbox.add_orders(_order("261201HHHHHHHH", NOW - timedelta(hours=1)))
    shopee_sandbox.add_listings(
        SandboxListing(sku="LAMP-1", item_id="3002", title="Lamp", price="12.00", currency="MYR")
    )
    shopee_sandbox.prefix_errors = True
    connector = _connector(connector_registry, shopee_store)
    shopee_sandbox.expire_access_tokens()
    assert connector.get_order("261201HHHHHHHH") is not None  # common.invalid_acceess_token: refreshed
    assert shopee_sandbox.refreshes == 1
    shopee_sandbox.deny_api("/api/v2/product/update_price")
    with pytest.raises(PermissionDenied, match="No permission to current api") as raised:
        connector.update_price("LAMP-1", "13.00", "MYR")
    assert not isinstance(raised.value, AuthorizationExpired)
    assert "authorization is unchanged" in str(raised.value)
    # A passing system error is temporary, whatever module prefixes it.
    shopee_sandbox.faults.fail_next(1, status=500, path="/api/v2/product/search_item")
    assert connector.get_live_price("LAMP-1") is not None


def test_a_window_of_one_busy_second_is_walked_twice_so_moving_orders_skip_none(
    shopee_sandbox: ShopeeSandbox, shopee_store: Store, connector_registry: ConnectorRegistry
) -> None:
    # Finding 8: 250 orders updated in the same second (a bulk status change) cannot be split
    # into windows; paged by offset while orders move out, the offsets would skip some.
    busy = NOW - timedelta(days=3)
    orders = [_order(f"2611{n:06d}ZZ", busy) for n in range(250)]
    shopee_sandbox.add_orders(*orders)
    first = sorted(o.order_id for o in orders)[:10]
    shopee_sandbox.change_orders_while_listing(first, per_page=5, once=True)

    second = int(busy.timestamp())
    at_the_busy_second = encode_cursor(second, second, "", second, 1)
    found = set(_walk(_connector(connector_registry, shopee_store), busy, at_the_busy_second))

    assert shopee_sandbox.changed_while_listing == set(first)
    assert {o.order_id for o in orders} - set(first) <= found
