"""The Amazon connector against the sandbox Amazon over real HTTP."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from erp.models import Store
from erp.platforms.amazon import AMAZON_RATE_LIMITS, AmazonConnector, token_url
from erp.platforms.base import (
    AuthorizationExpired,
    BadResponse,
    PermissionDenied,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
)
from erp.platforms.config import StoreSettings
from erp.platforms.http import PlatformHttp
from erp.platforms.ratelimit import RateLimit, RateLimiter
from erp.platforms.registry import ConnectorRegistry
from erp.platforms.reportformat import INVENTORY_COLUMNS, LISTINGS_COLUMNS
from erp.sandbox.amazon import MARKETPLACES, AmazonSandbox, AmazonSandboxData
from erp.sandbox.generate import generate_listings, generate_orders
from erp.sandbox.records import OrderLine, SandboxListing, SandboxOrder
from tests.sandboxes import make_sandbox_store
from tests.specs import spec_usage_plans

NOW = datetime.now(UTC).replace(microsecond=0)
LONG_AGO = NOW - timedelta(days=60)


def _connector(registry: ConnectorRegistry, store: Store) -> AmazonConnector:
    connector = registry.connector_for(store)
    assert isinstance(connector, AmazonConnector)
    return connector


def _all_orders(connector: AmazonConnector, after: datetime = LONG_AGO) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        page = connector.list_orders(updated_after=after, cursor=cursor)
        ids += [o.order_id for o in page.orders]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return ids, pages


def _order(
    order_id: str, *, updated: datetime, fba: bool = False, skus: tuple[str, ...] = ("SKU-1",)
) -> SandboxOrder:
    return SandboxOrder(
        order_id=order_id,
        status="Unshipped",
        created_at=updated - timedelta(hours=1),
        updated_at=updated,
        fulfilled_by_platform=fba,
        lines=[OrderLine(sku=sku, quantity=2, price="9.50") for sku in skus],
    )


def test_orders_are_paged_to_the_end(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    orders = generate_orders(250, seed=3, now=NOW)
    amazon_sandbox.add_orders(*orders)
    ids, pages = _all_orders(_connector(connector_registry, amazon_store))
    assert sorted(ids) == sorted(o.order_id for o in orders)
    assert pages == 3  # 100 + 100 + 50
    assert amazon_sandbox.server.count("/orders/v0/orders") == 3


def test_order_fields_and_incremental_window(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.add_orders(
        _order("111-0000001-0000001", updated=NOW - timedelta(days=10)),
        _order("111-0000002-0000002", updated=NOW - timedelta(hours=2), fba=True),
    )
    page = _connector(connector_registry, amazon_store).list_orders(updated_after=NOW - timedelta(days=1))
    assert [o.order_id for o in page.orders] == ["111-0000002-0000002"]
    order = page.orders[0]
    assert order.fulfilled_by_platform is True
    assert order.platform_status == "Unshipped"
    assert order.total_amount == "19.00" and order.currency == "USD"
    assert order.updated_at == NOW - timedelta(hours=2)
    assert page.next_cursor is None


def test_order_items_are_fetched_when_the_store_asks_for_them(
    amazon_sandbox: AmazonSandbox, session: Session, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.add_orders(
        _order("444-0000001-0000001", updated=NOW - timedelta(hours=1), skus=("A", "B"))
    )
    plain = make_sandbox_store(session, amazon_sandbox, name="plain")
    assert _connector(connector_registry, plain).list_orders(updated_after=LONG_AGO).orders[0].skus == []
    fields = amazon_sandbox.store_fields(order_items=True)
    detailed = make_sandbox_store(session, amazon_sandbox, name="detailed", options=fields["options"])
    page = _connector(connector_registry, detailed).list_orders(updated_after=LONG_AGO)
    assert page.orders[0].skus == ["A", "B"]
    assert amazon_sandbox.server.count("/orders/v0/orders/444-0000001-0000001/orderItems") == 1


def test_hidden_order_is_found_directly_with_its_skus(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.add_orders(
        _order("222-1234567-7654321", updated=NOW - timedelta(hours=1), skus=("A", "B"))
    )
    amazon_sandbox.hide_order("222-1234567-7654321")
    connector = _connector(connector_registry, amazon_store)
    assert _all_orders(connector)[0] == []
    found = connector.get_order("222-1234567-7654321")
    assert found is not None and found.skus == ["A", "B"]
    assert connector.get_order("999-0000000-0000000") is None
    assert connector.get_order("../../reports") is None  # never reaches another path


def test_access_token_is_exchanged_once_and_reused(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.add_orders(*generate_orders(120, seed=1, now=NOW))
    connector = _connector(connector_registry, amazon_store)
    _all_orders(connector)
    connector.get_order(next(iter(amazon_sandbox.data.orders)))
    assert amazon_sandbox.server.count("/auth/o2/token") == 1
    assert connector_registry.connector_for(amazon_store) is connector


def test_access_token_expiring_mid_run_is_refreshed_once(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    orders = generate_orders(150, seed=2, now=NOW)
    amazon_sandbox.add_orders(*orders)
    connector = _connector(connector_registry, amazon_store)
    first = connector.list_orders(updated_after=LONG_AGO)
    amazon_sandbox.expire_access_tokens()
    assert first.next_cursor is not None
    second = connector.list_orders(updated_after=LONG_AGO, cursor=first.next_cursor)
    assert len(first.orders) + len(second.orders) == 150
    assert amazon_sandbox.server.count("/auth/o2/token") == 2


def test_revoked_authorization_says_what_to_do_and_leaks_nothing(
    amazon_sandbox: AmazonSandbox,
    amazon_store: Store,
    connector_registry: ConnectorRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    amazon_sandbox.reject_refresh_token()
    with pytest.raises(AuthorizationExpired) as caught:
        _connector(connector_registry, amazon_store).list_orders(updated_after=LONG_AGO)
    message = str(caught.value)
    assert "Amazon US" in message and "authorize the store again" in message
    for secret in (amazon_sandbox.data.refresh_token, amazon_sandbox.data.client_secret):
        assert secret not in message and secret not in caplog.text


def test_wrong_client_secret_is_a_credentials_problem_not_an_expired_authorization(
    amazon_sandbox: AmazonSandbox, session: Session, connector_registry: ConnectorRegistry
) -> None:
    # Only a refused refresh token (invalid_grant) means the seller must authorize again.
    credentials = {**amazon_sandbox.store_credentials(), "client_secret": "wrong"}
    store = make_sandbox_store(session, amazon_sandbox, name="typo", credentials=credentials)
    with pytest.raises(PermissionDenied, match="invalid_client.*client id or secret") as raised:
        _connector(connector_registry, store).get_order("111-0000001-0000001")
    assert not isinstance(raised.value, AuthorizationExpired)


def test_throttling_and_server_errors_are_ridden_out(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.add_orders(_order("333-0000001-0000001", updated=NOW - timedelta(hours=1)))
    connector = _connector(connector_registry, amazon_store)
    amazon_sandbox.faults.fail_next(2, status=429, retry_after=0.01, path="/orders/v0/orders")
    assert len(connector.list_orders(updated_after=LONG_AGO).orders) == 1
    amazon_sandbox.faults.fail_next(2, status=500, path="/orders/v0/orders")
    assert len(connector.list_orders(updated_after=LONG_AGO).orders) == 1
    assert amazon_sandbox.server.count("/orders/v0/orders") == 6


def test_a_platform_that_stays_down_is_reported(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.faults.fail_next(20, status=503, path="/orders")
    with pytest.raises(PlatformUnavailable, match="server error 503"):
        _connector(connector_registry, amazon_store).list_orders(updated_after=LONG_AGO)


def test_html_instead_of_json_is_a_clear_error(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.faults.html_next(1, path="/orders")
    with pytest.raises(BadResponse, match="not JSON"):
        _connector(connector_registry, amazon_store).list_orders(updated_after=LONG_AGO)


# -- reports ----------------------------------------------------------------------------------


@pytest.fixture
def de_sandbox() -> Iterator[AmazonSandbox]:
    data = AmazonSandboxData(marketplace_id=MARKETPLACES["DE"], report_polls_to_done=2)
    with AmazonSandbox(data) as sandbox:
        sandbox.add_listings(
            SandboxListing(
                sku="CPU-I7",
                item_id="B005X64OA8",
                title="Intel Core i7 Prozessor f\u00fcr Sockel 1155\xa0Boxed",
                price="145",
                currency="EUR",
                quantity=6,
                opened_at=datetime(2020, 5, 2, 3, 18, tzinfo=UTC),
            ),
            SandboxListing(
                sku="FBA-1",
                item_id="B07R7Q3JZH",
                title="K\u00fchler & L\u00fcfter",
                price="19.99",
                currency="EUR",
                quantity=None,
                active=False,
                fulfilled_by_platform=True,
                opened_at=datetime(2019, 12, 31, 1, 53, tzinfo=UTC),
            ),
        )
        yield sandbox


def _rows(document: bytes, encoding: str = "utf-8") -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(document.decode(encoding)), delimiter="\t", quoting=csv.QUOTE_NONE)
    return list(reader)


def test_report_lifecycle_with_gzip_and_amazons_quirks(
    de_sandbox: AmazonSandbox, session: Session, connector_registry: ConnectorRegistry
) -> None:
    connector = _connector(connector_registry, make_sandbox_store(session, de_sandbox, name="Amazon DE"))
    report_id = connector.request_report("listings")
    assert connector.report_state(report_id).status == "IN_PROGRESS"
    state = connector.report_state(report_id)
    assert state.status == "DONE" and state.document_id and state.generated_at is not None
    document = b"".join(connector.download_report(state.document_id))
    assert document.startswith("\t".join(LISTINGS_COLUMNS).encode())
    rows = {row["seller-sku"]: row for row in _rows(document)}
    cpu, fba = rows["CPU-I7"], rows["FBA-1"]
    assert cpu["open-date"] == "02/05/2020 05:18:00 MEST"
    assert fba["open-date"] == "31/12/2019 02:53:00 MET"
    assert cpu["item-name"] == "Intel Core i7 Prozessor f&uuml;r Sockel 1155\xa0Boxed"
    assert fba["item-name"] == "K&uuml;hler &amp; L&uuml;fter"
    assert (fba["quantity"], fba["status"], fba["fulfillment-channel"]) == ("", "Inactive", "AMAZON_EU")
    assert (cpu["quantity"], cpu["status"], cpu["asin1"]) == ("6", "Active", "B005X64OA8")


def test_inventory_report_and_an_uncompressed_cp1252_document(
    de_sandbox: AmazonSandbox, session: Session, connector_registry: ConnectorRegistry
) -> None:
    de_sandbox.data.compress_reports = False
    de_sandbox.data.report_encoding = "cp1252"
    de_sandbox.data.report_polls_to_done = 1
    connector = _connector(connector_registry, make_sandbox_store(session, de_sandbox, name="Amazon DE"))
    state = connector.report_state(connector.request_report("inventory"))
    assert state.document_id is not None
    rows = _rows(b"".join(connector.download_report(state.document_id)), "cp1252")
    assert list(rows[0]) == list(INVENTORY_COLUMNS)
    assert {r["sku"]: r["afn-listing-exists"] for r in rows} == {"CPU-I7": "No", "FBA-1": "Yes"}


def test_stuck_failed_and_incomplete_reports(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.add_listings(*generate_listings(5, seed=4, now=NOW))
    connector = _connector(connector_registry, amazon_store)

    amazon_sandbox.stick_reports()
    stuck = connector.request_report("listings")
    states = [connector.report_state(stuck) for _ in range(4)]
    assert {s.status for s in states} == {"IN_PROGRESS"} and states[-1].document_id is None
    amazon_sandbox.stick_reports(False)

    amazon_sandbox.fail_next_report("FATAL")
    assert connector.report_state(connector.request_report("listings")).status == "FATAL"

    amazon_sandbox.omit_sku_from_reports("SKU-00002")
    state = connector.report_state(connector.request_report("listings"))
    assert state.document_id is not None
    skus = [row["seller-sku"] for row in _rows(b"".join(connector.download_report(state.document_id)))]
    assert skus == ["SKU-00001", "SKU-00003", "SKU-00004", "SKU-00005"]
    assert connector.get_live_price("SKU-00002") is not None  # the listing itself still exists

    with pytest.raises(PlatformError, match="no 'returns' report"):
        connector.request_report("returns")


def test_truncated_gzip_document_is_a_bad_response(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.add_listings(*generate_listings(300, seed=5, now=NOW))
    amazon_sandbox.truncate_next_document()
    connector = _connector(connector_registry, amazon_store)
    state = connector.report_state(connector.request_report("listings"))
    assert state.document_id is not None
    with pytest.raises(BadResponse, match="truncated"):
        b"".join(connector.download_report(state.document_id))


def test_download_cut_off_midway_is_a_bad_response(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.add_listings(*generate_listings(2000, seed=6, now=NOW))
    amazon_sandbox.data.compress_reports = False
    connector = _connector(connector_registry, amazon_store)
    state = connector.report_state(connector.request_report("listings"))
    assert state.document_id is not None
    amazon_sandbox.faults.cut_next(1, path="/_documents/")
    with pytest.raises(BadResponse, match="broke off"):
        b"".join(connector.download_report(state.document_id))
    # Asking again downloads the whole document.
    assert b"".join(connector.download_report(state.document_id)).count(b"\n") == 2001


# -- listings ---------------------------------------------------------------------------------


def test_live_price_and_price_changes(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.add_listings(
        SandboxListing(sku="MUG-1", item_id="B000000001", title="Mug", price="12.50"),
        SandboxListing(sku="OFF-1", item_id="B000000002", title="Lamp", price="30.00", active=False),
    )
    connector = _connector(connector_registry, amazon_store)
    live = connector.get_live_price("MUG-1")
    assert live is not None and (live.amount, live.currency, live.status) == (
        "12.50",
        "USD",
        "BUYABLE,DISCOVERABLE",
    )
    inactive = connector.get_live_price("OFF-1")
    assert inactive is not None and inactive.amount == "" and inactive.status == "DISCOVERABLE"
    assert connector.get_live_price("NOPE") is None

    submission = connector.update_price("MUG-1", "14.99", "USD")
    assert submission == amazon_sandbox.price_submissions[-1]["submissionId"]
    assert connector.get_live_price("MUG-1") == live.__class__(
        "MUG-1", "14.99", "USD", "BUYABLE,DISCOVERABLE"
    )

    amazon_sandbox.hold_price_updates()
    connector.update_price("MUG-1", "15.99", "USD")
    assert connector.get_live_price("MUG-1").amount == "14.99"  # type: ignore[union-attr]
    amazon_sandbox.apply_pending_prices()
    assert connector.get_live_price("MUG-1").amount == "15.99"  # type: ignore[union-attr]

    amazon_sandbox.reject_price_updates("MUG-1", "The price is outside the allowed range.")
    with pytest.raises(PlatformError, match="outside the allowed range"):
        connector.update_price("MUG-1", "0.99", "USD")
    sent = len(amazon_sandbox.price_submissions)
    with pytest.raises(PlatformError, match="not a price"):
        connector.update_price("MUG-1", "twelve", "USD")
    with pytest.raises(PlatformError, match="positive"):
        connector.update_price("MUG-1", "-3", "USD")
    assert len(amazon_sandbox.price_submissions) == sent  # bad input never reaches Amazon


# -- registry ---------------------------------------------------------------------------------


def test_registry_rebuilds_only_when_the_store_changes(
    amazon_sandbox: AmazonSandbox,
    amazon_store: Store,
    connector_registry: ConnectorRegistry,
    session: Session,
) -> None:
    first = connector_registry.connector_for(amazon_store)
    assert connector_registry.connector_for(amazon_store) is first
    amazon_store.credentials = {**amazon_store.credentials, "refresh_token": "Atzr|new-authorization"}
    session.add(amazon_store)
    session.commit()
    assert connector_registry.connector_for(amazon_store) is not first

    broken = make_sandbox_store(session, amazon_sandbox, name="nowhere", endpoint="")
    with pytest.raises(PlatformError, match="no platform address"):
        connector_registry.connector_for(broken)
    other = make_sandbox_store(session, amazon_sandbox, name="ebay", platform="ebay")
    with pytest.raises(PlatformError, match="ebay"):
        connector_registry.connector_for(other)


def test_store_options_set_the_rate_limits(
    amazon_sandbox: AmazonSandbox, session: Session, connector_registry: ConnectorRegistry
) -> None:
    store = make_sandbox_store(
        session, amazon_sandbox, name="tuned", options={"rate_limits": {"getOrders": [2, 5]}}
    )
    connector = _connector(connector_registry, store)
    assert connector.limits["getOrders"] == RateLimit(2.0, 5)
    assert connector.limits["getOrder"] == RateLimit(0.5, 30)  # the published limit otherwise
    assert re.fullmatch(r"\d+", connector.request_report("listings"))


def test_concurrent_calls_share_one_token_exchange(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    orders = generate_orders(16, seed=8, now=NOW)
    amazon_sandbox.add_orders(*orders)
    connector = _connector(connector_registry, amazon_store)
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(connector.get_order, [o.order_id for o in orders]))
    assert [o.order_id for o in found if o] == [o.order_id for o in orders]
    assert amazon_sandbox.server.count("/auth/o2/token") == 1


def test_cached_token_is_replaced_shortly_before_it_expires(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    amazon_sandbox.add_orders(_order("555-0000001-0000001", updated=NOW - timedelta(hours=1)))
    clock = [100.0]
    connector = AmazonConnector(
        StoreSettings.from_store(amazon_store),
        PlatformHttp(connector_registry.client, "Amazon", retry=connector_registry.retry),
        RateLimiter(),
        monotonic=lambda: clock[0],
    )
    connector.get_order("555-0000001-0000001")
    clock[0] += 3000  # well inside the hour
    connector.get_order("555-0000001-0000001")
    assert amazon_sandbox.server.count("/auth/o2/token") == 1
    clock[0] += 560  # within a minute of expiry: replaced before Amazon would refuse it
    connector.get_order("555-0000001-0000001")
    assert amazon_sandbox.server.count("/auth/o2/token") == 2
    assert connector.token_refreshes == 2


# -- issue 11: what the real SP-API does ----------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _offer_with_everything(price: str) -> list[dict[str, object]]:
    """A purchasable_offer as sellers have it: a sale, price bounds, a B2B tier, another marketplace."""
    us = MARKETPLACES["US"]
    return [
        {
            "marketplace_id": us,
            "currency": "USD",
            "audience": "ALL",
            "our_price": [{"schedule": [{"value_with_tax": float(price)}]}],
            "discounted_price": [
                {
                    "schedule": [
                        {
                            "start_at": _iso(NOW - timedelta(days=2)),
                            "end_at": _iso(NOW + timedelta(days=5)),
                            "value_with_tax": 9.99,
                        }
                    ]
                }
            ],
            "minimum_seller_allowed_price": [{"schedule": [{"value_with_tax": 8.0}]}],
            "maximum_seller_allowed_price": [{"schedule": [{"value_with_tax": 40.0}]}],
        },
        {
            "marketplace_id": us,
            "currency": "USD",
            "audience": "B2B",
            "our_price": [{"schedule": [{"value_with_tax": 11.5}]}],
            "quantity_discount_plan": [
                {"schedule": [{"discount_type": "fixed", "levels": [{"lower_bound": 10, "value": 10.5}]}]}
            ],
        },
        {
            "marketplace_id": MARKETPLACES["CA"],
            "currency": "CAD",
            "audience": "ALL",
            "our_price": [{"schedule": [{"value_with_tax": 17.0}]}],
        },
    ]


def test_a_price_change_keeps_the_rest_of_the_offer(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    # Finding 3: replacing purchasable_offer with only our_price would drop the sale, the price
    # bounds, the B2B tier and the Canadian offer.
    listing = SandboxListing(sku="KETTLE-1", item_id="B000000009", title="Kettle", price="12.50")
    listing.purchasable_offer = _offer_with_everything("12.50")
    amazon_sandbox.add_listings(listing)
    connector = _connector(connector_registry, amazon_store)

    connector.update_price("KETTLE-1", "14.25", "USD")

    stored = amazon_sandbox.data.listings["KETTLE-1"].purchasable_offer
    expected = _offer_with_everything("14.25")
    assert stored == expected
    # The price read back is the one written (our_price), not the running sale buyers pay.
    live = connector.get_live_price("KETTLE-1")
    assert live is not None and (live.amount, live.currency, live.promotion_amount) == (
        "14.25",
        "USD",
        "9.99",
    )
    # The listing was read first (attributes), then patched with the whole array.
    methods = [r.method for r in amazon_sandbox.server.requests if r.path.startswith("/listings/")]
    assert methods[:2] == ["GET", "PATCH"]


def test_next_pages_send_the_original_filters_again(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    # Finding 4: the model says NextToken "doesn't affect any filters": Amazon wants them again.
    amazon_sandbox.add_orders(*generate_orders(250, seed=21, now=NOW))
    ids, pages = _all_orders(_connector(connector_registry, amazon_store))
    assert len(set(ids)) == 250 and pages == 3
    queries = [r.query for r in amazon_sandbox.server.requests if r.path == "/orders/v0/orders"]
    assert [("NextToken" in q) for q in queries] == [False, True, True]
    for query in queries:
        assert query["LastUpdatedAfter"] == queries[0]["LastUpdatedAfter"]
        assert query["MaxResultsPerPage"] == ["100"] and query["MarketplaceIds"] == [MARKETPLACES["US"]]


def test_refused_next_tokens_halve_the_window_instead_of_starting_over(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    # Finding 4: a listing whose NextTokens Amazon refuses still finishes, window by window, and
    # every finished window vouches for its orders so the watermark can move.
    orders = generate_orders(250, seed=22, now=NOW, days=10)
    amazon_sandbox.add_orders(*orders)
    amazon_sandbox.refuse_next_tokens()
    connector = _connector(connector_registry, amazon_store)
    ids: list[str] = []
    vouched: list[datetime] = []
    cursor: str | None = None
    for _ in range(60):
        page = connector.list_orders(updated_after=NOW - timedelta(days=11), cursor=cursor)
        ids += [o.order_id for o in page.orders]
        if page.complete_through is not None:
            vouched.append(page.complete_through)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert cursor is None and set(ids) == {o.order_id for o in orders}
    assert len(vouched) > 2 and vouched == sorted(vouched)
    assert vouched[-1] >= max(o.updated_at for o in orders).replace(microsecond=0)


def test_a_missing_role_names_it_and_is_not_an_expired_authorization(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    # Finding 5: an application without the Amazon Fulfillment role gets 403 on FBA reports.
    amazon_sandbox.deny_role("Amazon Fulfillment")
    connector = _connector(connector_registry, amazon_store)
    with pytest.raises(PermissionDenied, match="'Amazon Fulfillment' role") as raised:
        connector.request_report("inventory")
    assert not isinstance(raised.value, AuthorizationExpired)
    assert "authorization is unchanged" in str(raised.value)
    # Everything the application may do still works, with the same authorization.
    assert re.fullmatch(r"\d+", connector.request_report("listings"))


def test_the_token_url_is_used_as_given_and_defaults_to_login_with_amazon(
    amazon_sandbox: AmazonSandbox, session: Session, connector_registry: ConnectorRegistry
) -> None:
    # Finding 6: --auth-endpoint is the token URL; the path is not added twice.
    amazon_sandbox.add_orders(_order("777-0000001-0000001", updated=NOW - timedelta(hours=1)))
    token_url_store = make_sandbox_store(
        session, amazon_sandbox, name="token url", auth_endpoint=f"{amazon_sandbox.base_url}/auth/o2/token"
    )
    assert _connector(connector_registry, token_url_store).get_order("777-0000001-0000001") is not None
    host_store = make_sandbox_store(
        session, amazon_sandbox, name="bare host", auth_endpoint=amazon_sandbox.base_url
    )
    assert _connector(connector_registry, host_store).get_order("777-0000001-0000001") is not None
    assert {r.path for r in amazon_sandbox.server.requests if r.method == "POST"} == {"/auth/o2/token"}
    # No auth endpoint: Login with Amazon's own host, never the SP-API host.
    plain = make_sandbox_store(session, amazon_sandbox, name="default", auth_endpoint="")
    assert token_url(StoreSettings.from_store(plain).auth_endpoint) == "https://api.amazon.com/auth/o2/token"


def test_the_announced_rate_limit_retunes_the_bucket(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    # Finding 6: x-amzn-RateLimit-Limit says what this seller's usage plan really is.
    amazon_sandbox.add_orders(_order("888-0000001-0000001", updated=NOW - timedelta(hours=1)))
    amazon_sandbox.usage_plans["getOrder"] = 0.25
    connector = _connector(connector_registry, amazon_store)
    assert connector.limits["getOrder"].rate == pytest.approx(0.5 * 10_000)
    connector.get_order("888-0000001-0000001")
    # The sandbox store runs 10,000 times faster than the plans; the announced plan likewise.
    assert connector.limits["getOrder"] == RateLimit(0.25 * 10_000, 30)
    bucket = connector.limiter.bucket(amazon_store.id, "getOrder", connector.limits["getOrder"])
    assert bucket.limit.rate == pytest.approx(2_500)


def test_a_429_waits_for_the_bucket_to_refill_within_a_deadline(
    amazon_sandbox: AmazonSandbox, amazon_store: Store, connector_registry: ConnectorRegistry
) -> None:
    # Finding 6: getOrders refills one request a minute: a 7.5 s backoff can never succeed.
    amazon_sandbox.add_orders(_order("999-0000001-0000001", updated=NOW - timedelta(hours=1)))
    slept: list[float] = []
    real_rates = StoreSettings.from_store(amazon_store)
    real_rates = StoreSettings(**{**real_rates.__dict__, "options": {}})  # the published plans
    connector = AmazonConnector(
        real_rates,
        PlatformHttp(connector_registry.client, "Amazon", sleep=slept.append, seed=1),
        RateLimiter(sleep=slept.append),
    )
    amazon_sandbox.faults.fail_next(1, status=429, path="/orders/v0/orders")
    assert len(connector.list_orders(updated_after=LONG_AGO).orders) == 1
    assert slept and min(slept) >= 1 / 0.0167 - 0.5  # waited for the refill, about a minute

    slept.clear()
    amazon_sandbox.faults.fail_next(20, status=429, path="/orders/v0/orders")
    with pytest.raises(RateLimited, match="about 60 seconds") as raised:
        connector.list_orders(updated_after=LONG_AGO)
    assert "try again" in str(raised.value)
    assert 59 < sum(slept) < 2 * 60  # one refill wait, then a clear answer instead of hanging


def test_published_usage_plans_match_the_models() -> None:
    # Finding 6: rates and bursts straight from the models' usage plan tables (patchListingsItem: 5).
    plans = spec_usage_plans()
    for operation, limit in AMAZON_RATE_LIMITS.items():
        assert plans[operation] == (limit.rate, limit.burst), operation
