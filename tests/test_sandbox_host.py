"""Many sandbox sellers on one host, each under its own path, through the real connectors.

A platform serves every seller from one host; the scale benchmark mounts thousands of simulated
stores this way. Each store must see only its own orders and reports, a fault set on one seller's
sandbox must leave the others alone, and what a seller's sandbox says must still be what the
platform's specification allows.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from erp.jobs.order_sync import OrderSync
from erp.jobs.report_import import ReportRefresher
from erp.models import Order, PlatformReport, ReportRow, Store
from erp.platforms.registry import ConnectorRegistry
from erp.progress import StoreSyncProgress
from erp.sandbox.amazon import AmazonSandbox
from erp.sandbox.generate import amazon_data
from erp.sandbox.httpserver import SandboxHost
from tests.sandboxes import assert_speaks_the_platforms_language, make_sandbox_store


@pytest.fixture
def two_sellers() -> Iterator[tuple[SandboxHost, AmazonSandbox, AmazonSandbox]]:
    with SandboxHost() as host:
        first = AmazonSandbox(amazon_data(seed=1, orders=130, listings=40, days=20))
        second = AmazonSandbox(amazon_data(seed=2, orders=70, listings=25, days=20))
        first.mount(host)
        second.mount(host)
        yield host, first, second
    assert_speaks_the_platforms_language(first)
    assert_speaks_the_platforms_language(second)


def sync_both(
    engine: Engine, session: Session, registry: ConnectorRegistry, first: AmazonSandbox, second: AmazonSandbox
) -> tuple[dict[str, StoreSyncProgress], Store, Store]:
    """Both sellers as stores of one account, synced together: (outcome by store name, stores)."""
    store_one = make_sandbox_store(session, first, name="Amazon one")
    store_two = make_sandbox_store(session, second, name="Amazon two")
    sync = OrderSync(lambda: Session(engine, expire_on_commit=False), registry.connector_for)
    results = {result.store: result for result in sync.sync_account(store_one.account_id)}
    return results, store_one, store_two


def order_ids(session: Session, store: Store) -> set[str]:
    return set(session.exec(select(Order.platform_order_id).where(Order.store_id == store.id)).all())


def test_each_store_on_a_shared_host_syncs_only_its_own_orders(
    engine: Engine,
    session: Session,
    connector_registry: ConnectorRegistry,
    two_sellers: tuple[SandboxHost, AmazonSandbox, AmazonSandbox],
) -> None:
    host, first, second = two_sellers

    results, store_one, store_two = sync_both(engine, session, connector_registry, first, second)

    assert store_one.endpoint.startswith(host.base_url + "/stores/")
    assert store_one.endpoint != store_two.endpoint

    assert (results["Amazon one"].error, results["Amazon two"].error) == ("", "")
    assert order_ids(session, store_one) == {o.order_id for o in first.data.orders.values()}
    assert order_ids(session, store_two) == {o.order_id for o in second.data.orders.values()}
    # Each sandbox logged its own requests, with the host's prefix taken off.
    assert first.server.count("/orders/v0/orders") == 2 and second.server.count("/orders/v0/orders") == 1


def test_a_fault_on_one_seller_leaves_the_others_on_the_host_alone(
    engine: Engine,
    session: Session,
    connector_registry: ConnectorRegistry,
    two_sellers: tuple[SandboxHost, AmazonSandbox, AmazonSandbox],
) -> None:
    _, first, second = two_sellers
    first.reject_refresh_token()

    results, store_one, store_two = sync_both(engine, session, connector_registry, first, second)

    assert results["Amazon one"].error and not order_ids(session, store_one)
    assert results["Amazon two"].error == "" and len(order_ids(session, store_two)) == len(second.data.orders)


def test_a_report_document_is_downloaded_from_the_sellers_own_path(
    engine: Engine,
    session: Session,
    connector_registry: ConnectorRegistry,
    two_sellers: tuple[SandboxHost, AmazonSandbox, AmazonSandbox],
) -> None:
    _, first, second = two_sellers
    store_two = make_sandbox_store(session, second, name="Amazon two")
    refresher = ReportRefresher(
        lambda: Session(engine, expire_on_commit=False), connector_registry.connector_for, first_poll=0.01
    )

    report_id = refresher.refresh(store_two.id or 0, "listings", wait_seconds=10)

    report = session.get(PlatformReport, report_id)
    assert report is not None and report.status == "done"
    skus = set(session.exec(select(ReportRow.sku).where(col(ReportRow.report_id) == report_id)).all())
    assert skus == set(second.data.listings)
    assert second.server.count("/_documents/") == 1 and first.server.count("") == 0


def test_a_path_no_seller_is_mounted_on_answers_not_found() -> None:
    with SandboxHost() as host:
        AmazonSandbox().mount(host)
        assert httpx.get(f"{host.base_url}/stores/7/orders/v0/orders").status_code == 404
        assert httpx.get(f"{host.base_url}/orders/v0/orders").status_code == 404
        # The mounted seller answers (without a token: the platform's 403, not the host's 404).
        assert httpx.get(f"{host.base_url}/stores/0/orders/v0/orders").status_code == 403
