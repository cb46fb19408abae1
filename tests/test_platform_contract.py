"""The connector contract (`MarketplaceConnector`), run against every platform's sandbox.

Jobs and handlers rely on these behaviours whatever the platform: the same test runs once per
connector, over real HTTP.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from erp.platforms.base import AuthorizationExpired, MarketplaceConnector
from erp.platforms.registry import ConnectorRegistry
from erp.sandbox.amazon import AmazonSandbox
from erp.sandbox.generate import generate_listings, generate_orders
from erp.sandbox.records import SandboxListing, SandboxOrder
from erp.sandbox.shopee import ShopeeSandbox
from tests.sandboxes import assert_speaks_the_platforms_language, make_sandbox_store

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Platform:
    name: str
    sandbox: AmazonSandbox | ShopeeSandbox
    connector: MarketplaceConnector
    listings: list[SandboxListing]
    orders: list[SandboxOrder]


@pytest.fixture(params=["amazon", "shopee"])
def platform(
    request: pytest.FixtureRequest, session: Session, connector_registry: ConnectorRegistry
) -> Iterator[Platform]:
    name = str(request.param)
    sandbox: AmazonSandbox | ShopeeSandbox = AmazonSandbox() if name == "amazon" else ShopeeSandbox()
    currency = "USD" if name == "amazon" else "MYR"
    listings = generate_listings(40, seed=11, platform=name, currency=currency, now=NOW)
    orders = generate_orders(130, seed=11, platform=name, listings=listings, currency=currency, now=NOW)
    sandbox.add_listings(*listings)
    sandbox.add_orders(*orders)
    with sandbox:
        store = make_sandbox_store(session, sandbox, name=f"{name} store")
        yield Platform(name, sandbox, connector_registry.connector_for(store), listings, orders)
    assert_speaks_the_platforms_language(sandbox)


def test_every_order_is_listed_once_paged_to_the_end(platform: Platform) -> None:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = platform.connector.list_orders(updated_after=NOW - timedelta(days=31), cursor=cursor)
        seen += [order.order_id for order in page.orders]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(order.order_id for order in platform.orders)
    assert platform.connector.platform == platform.name


def test_an_order_missing_from_the_list_is_found_directly(platform: Platform) -> None:
    order = platform.orders[7]
    platform.sandbox.hide_order(order.order_id)
    page = platform.connector.list_orders(updated_after=order.updated_at - timedelta(seconds=1))
    assert order.order_id not in [o.order_id for o in page.orders]
    found = platform.connector.get_order(order.order_id)
    assert found is not None
    assert found.order_id == order.order_id
    assert found.fulfilled_by_platform == order.fulfilled_by_platform
    assert found.skus == [line.sku for line in order.lines]
    assert Decimal(found.total_amount) == order.total


def test_listings_report_carries_every_listing(platform: Platform) -> None:
    connector = platform.connector
    report_id = connector.request_report("listings")
    state = connector.report_state(report_id)
    for _ in range(5):
        if state.status == "DONE":
            break
        state = connector.report_state(report_id)
    assert state.status == "DONE" and state.document_id
    text = b"".join(connector.download_report(state.document_id)).decode()
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    by_sku = {row["seller-sku"]: row for row in rows}
    assert set(by_sku) == {listing.sku for listing in platform.listings}
    for listing in platform.listings:
        row = by_sku[listing.sku]
        assert Decimal(row["price"]) == Decimal(listing.price)
        assert row["status"] == ("Active" if listing.active else "Inactive")


def test_live_price_reads_back_a_price_change(platform: Platform) -> None:
    listing = next(item for item in platform.listings if item.active)
    live = platform.connector.get_live_price(listing.sku)
    assert live is not None and Decimal(live.amount) == Decimal(listing.price)
    assert live.currency == listing.currency
    assert platform.connector.update_price(listing.sku, "77.70", listing.currency)
    changed = platform.connector.get_live_price(listing.sku)
    assert changed is not None and Decimal(changed.amount) == Decimal("77.70")
    assert platform.connector.get_live_price("NO-SUCH-SKU") is None


def test_revoked_authorization_is_authorization_expired(platform: Platform) -> None:
    platform.sandbox.reject_refresh_token()
    with pytest.raises(AuthorizationExpired, match="authorize"):
        platform.connector.list_orders(updated_after=NOW - timedelta(days=1))


def test_a_burst_of_server_errors_is_ridden_out(platform: Platform) -> None:
    platform.sandbox.faults.fail_next(3, status=500)
    assert platform.connector.get_order(platform.orders[0].order_id) is not None


@pytest.mark.parametrize("sandbox_class", [AmazonSandbox, ShopeeSandbox])
def test_seeding_is_reproducible(sandbox_class: type[AmazonSandbox] | type[ShopeeSandbox]) -> None:
    first, second = sandbox_class(), sandbox_class()
    first.seed(orders=25, listings=10, seed=3)
    second.seed(orders=25, listings=10, seed=3)
    assert sorted(first.data.orders) == sorted(second.data.orders)
    assert len(first.data.orders) == 25 and len(first.data.listings) == 10
    assert [lst.title for lst in first.data.listings.values()] == [
        lst.title for lst in second.data.listings.values()
    ]
