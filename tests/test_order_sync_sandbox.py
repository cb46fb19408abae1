"""Order sync against the sandbox marketplaces over real HTTP, through the real connectors.

Paging to the end, idempotent re-sync, the incremental watermark, resume after a failure in the
middle, 429/500 recovery, an expired store reported while the others sync, FBA orders ignored,
and `sync-orders` as a user runs it.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from app import main
from erp.jobs.order_sync import SYNC_OVERLAP, OrderSync
from erp.models import AuditLog, AuthStatus, Order, Store, SyncRun, SyncStatus
from erp.platforms.registry import ConnectorRegistry
from erp.progress import StoreSyncProgress
from erp.sandbox.amazon import AmazonSandbox
from erp.sandbox.generate import generate_orders
from erp.sandbox.shopee import ShopeeSandbox
from tests.sandboxes import make_sandbox_store

ORDERS_PATH = "/orders/v0/orders"


def build_sync(engine: Engine, registry: ConnectorRegistry) -> OrderSync:
    return OrderSync(lambda: Session(engine, expire_on_commit=False), registry.connector_for, max_workers=4)


def count_orders(session: Session, store: Store) -> int:
    return session.exec(select(func.count()).select_from(Order).where(Order.store_id == store.id)).one()


def status_counts(session: Session, store: Store) -> Counter[str]:
    return Counter(session.exec(select(Order.status).where(Order.store_id == store.id)).all())


def get_orders_requests(sandbox: AmazonSandbox) -> list[dict[str, list[str]]]:
    return [dict(r.query) for r in sandbox.server.requests if r.path == ORDERS_PATH]


@pytest.fixture
def amazon_orders(amazon_sandbox: AmazonSandbox) -> list[object]:
    orders = generate_orders(250, seed=7, platform="amazon")
    amazon_sandbox.add_orders(*orders)
    return list(orders)


def test_pages_to_the_end_maps_statuses_and_ignores_fba(
    engine: Engine,
    session: Session,
    amazon_sandbox: AmazonSandbox,
    amazon_store: Store,
    connector_registry: ConnectorRegistry,
    amazon_orders: list[object],
) -> None:
    seen: list[tuple[int, int]] = []

    [result] = build_sync(engine, connector_registry).sync_account(
        amazon_store.account_id, progress=lambda p: seen.append((p.pages, p.fetched))
    )

    assert (result.store, result.pages, result.fetched, result.inserted, result.error) == (
        "Amazon US",
        3,
        250,
        250,
        "",
    )
    assert seen == [(0, 0), (1, 100), (2, 200), (3, 250)]
    assert count_orders(session, amazon_store) == 250
    fba = sum(1 for o in amazon_orders if o.fulfilled_by_platform)  # type: ignore[attr-defined]
    shipped = sum(
        1
        for o in amazon_orders
        if not o.fulfilled_by_platform and o.status == "Shipped"  # type: ignore[attr-defined]
    )
    counts = status_counts(session, amazon_store)
    assert fba > 0 and counts["ignored"] == fba
    assert counts["shipped"] == shipped
    assert set(counts) <= {"pending_review", "pending_processing", "shipped", "cancelled", "ignored"}
    run = session.exec(select(SyncRun)).one()
    assert (run.status, run.pages, run.inserted, run.cursor) == (SyncStatus.DONE, 3, 250, "")


def test_second_sync_changes_nothing_then_picks_up_only_what_changed(
    engine: Engine,
    session: Session,
    amazon_sandbox: AmazonSandbox,
    amazon_store: Store,
    connector_registry: ConnectorRegistry,
    amazon_orders: list[object],
) -> None:
    sync = build_sync(engine, connector_registry)
    started = datetime.now(UTC).replace(microsecond=0)
    sync.sync_store(amazon_store.id or 0)
    session.refresh(amazon_store)
    assert amazon_store.order_watermark is not None
    watermark = amazon_store.order_watermark.replace(tzinfo=UTC)
    newest = max(o.updated_at for o in amazon_orders)  # type: ignore[attr-defined]
    # The watermark is where Amazon said the listing was complete (its LastUpdatedBefore).
    assert newest.replace(microsecond=0) <= watermark and started <= watermark <= datetime.now(UTC)

    again = sync.sync_store(amazon_store.id or 0)
    assert (again.inserted, again.updated, again.error) == (0, 0, "")
    # Only the orders within the overlap before the watermark come again.
    in_overlap = sum(
        1
        for o in amazon_orders
        if o.updated_at.replace(microsecond=0) >= watermark - SYNC_OVERLAP  # type: ignore[attr-defined]
    )
    assert again.fetched == in_overlap < 250
    assert count_orders(session, amazon_store) == 250

    changed = next(o for o in amazon_orders if o.status == "Unshipped" and not o.fulfilled_by_platform)  # type: ignore[attr-defined]
    amazon_sandbox.touch_order(changed.order_id, status="Shipped")  # type: ignore[attr-defined]
    third = sync.sync_store(amazon_store.id or 0)
    assert (third.inserted, third.updated) == (0, 1)
    stored = session.exec(select(Order).where(Order.platform_order_id == changed.order_id)).one()  # type: ignore[attr-defined]
    assert (stored.status, stored.platform_status) == ("shipped", "Shipped")

    # Every incremental request asked from the watermark (less the overlap) on, not 30 days back.
    first_pages = [q for q in get_orders_requests(amazon_sandbox) if "NextToken" not in q]
    assert len(first_pages) == 3
    asked = [datetime.fromisoformat(q["LastUpdatedAfter"][0].replace("Z", "+00:00")) for q in first_pages]
    assert asked[0] < datetime.now(UTC) - timedelta(days=29)
    assert asked[1] == watermark - SYNC_OVERLAP


def test_a_failure_mid_sync_keeps_the_pages_and_the_next_sync_resumes(
    engine: Engine,
    session: Session,
    amazon_sandbox: AmazonSandbox,
    amazon_store: Store,
    connector_registry: ConnectorRegistry,
    amazon_orders: list[object],
) -> None:
    def break_after_two_pages(update: StoreSyncProgress) -> None:
        if update.pages == 2 and not update.done:
            amazon_sandbox.faults.fail_next(50, status=500, path=ORDERS_PATH)  # outlasts the retries

    sync = build_sync(engine, connector_registry)
    failed = sync.sync_store(amazon_store.id or 0, progress=break_after_two_pages)

    assert failed.error_kind == "platform_error" and (failed.pages, failed.fetched) == (2, 200)
    assert failed.error.startswith("Amazon US: Amazon is not answering properly right now")
    assert "The orders synced so far are kept" in failed.error
    assert count_orders(session, amazon_store) == 200
    run = session.exec(select(SyncRun)).one()
    assert run.status == SyncStatus.FAILED and run.cursor != ""
    session.refresh(amazon_store)
    assert amazon_store.last_order_sync_error == failed.error and amazon_store.order_watermark is None

    amazon_sandbox.faults.clear()
    amazon_sandbox.server.clear_log()
    resumed = sync.sync_store(amazon_store.id or 0)

    assert (resumed.error, resumed.pages, resumed.fetched, resumed.inserted) == ("", 1, 50, 50)
    [query] = get_orders_requests(amazon_sandbox)
    saved = json.loads(base64.urlsafe_b64decode(run.cursor + "=" * (-len(run.cursor) % 4)))
    assert query["NextToken"] == [saved["t"]]  # carried on from page 3, not from the start
    # ... with the first page's filters sent again, as the NextToken belongs to them.
    assert query["LastUpdatedAfter"] == [saved["f"]["LastUpdatedAfter"]]
    assert count_orders(session, amazon_store) == 250
    session.refresh(amazon_store)
    assert amazon_store.last_order_sync_error == "" and amazon_store.order_watermark is not None
    audit = session.exec(select(AuditLog.result).order_by(col(AuditLog.id))).all()
    assert audit == ["failed", "ok"]


def test_429_and_500_answers_are_retried_through_the_sync(
    engine: Engine,
    session: Session,
    amazon_sandbox: AmazonSandbox,
    amazon_store: Store,
    connector_registry: ConnectorRegistry,
    amazon_orders: list[object],
) -> None:
    amazon_sandbox.faults.fail_next(2, status=429, retry_after=0.01, path=ORDERS_PATH)
    amazon_sandbox.faults.fail_next(1, status=503, path=ORDERS_PATH)

    result = build_sync(engine, connector_registry).sync_store(amazon_store.id or 0)

    assert (result.error, result.fetched, result.inserted) == ("", 250, 250)
    assert amazon_sandbox.server.count(ORDERS_PATH) == 3 + 3  # three pages, three refused attempts


def test_an_expired_store_is_reported_clearly_while_the_others_sync(
    engine: Engine,
    session: Session,
    amazon_sandbox: AmazonSandbox,
    shopee_sandbox: ShopeeSandbox,
    connector_registry: ConnectorRegistry,
) -> None:
    amazon_sandbox.add_orders(*generate_orders(120, seed=1, platform="amazon"))
    shopee_sandbox.add_orders(*generate_orders(130, seed=2, platform="shopee"))
    with AmazonSandbox() as expired_sandbox:
        expired_sandbox.add_orders(*generate_orders(10, seed=3, platform="amazon"))
        expired_sandbox.reject_refresh_token()
        expired = make_sandbox_store(session, expired_sandbox, name="Amazon DE")
        us = make_sandbox_store(session, amazon_sandbox, name="Amazon US")
        my = make_sandbox_store(session, shopee_sandbox, name="Shopee MY")

        results = build_sync(engine, connector_registry).sync_account(us.account_id, actor="slack:T1:U1")

    assert [(r.store, r.fetched, r.error_kind) for r in results] == [
        ("Amazon DE", 0, "authorization_expired"),
        ("Amazon US", 120, ""),
        ("Shopee MY", 130, ""),
    ]
    assert results[0].error == (
        "Amazon DE: the store's authorization has expired. "
        "Re-authorize it under Platform authorization, then sync again."
    )
    session.refresh(expired)
    assert expired.auth_status == AuthStatus.EXPIRED
    assert count_orders(session, us) == 120 and count_orders(session, my) == 130
    assert count_orders(session, expired) == 0
    shopee_statuses = status_counts(session, my)
    assert shopee_statuses["pending_processing"] > 0 and shopee_statuses["shipped"] > 0
    rows = session.exec(select(AuditLog.store_id, AuditLog.actor, AuditLog.result)).all()
    assert sorted(rows) == sorted(
        [(expired.id, "slack:T1:U1", "failed"), (us.id, "slack:T1:U1", "ok"), (my.id, "slack:T1:U1", "ok")]
    )


def test_sync_orders_command_with_json_and_progress(
    database_url: str,
    session: Session,
    amazon_sandbox: AmazonSandbox,
    shopee_sandbox: ShopeeSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    amazon_sandbox.add_orders(*generate_orders(150, seed=4, platform="amazon"))
    shopee_sandbox.add_orders(*generate_orders(20, seed=5, platform="shopee"))
    make_sandbox_store(session, amazon_sandbox, name="Amazon US")
    make_sandbox_store(session, shopee_sandbox, name="Shopee MY")

    assert main(["sync-orders", "--json"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [
        {
            "store": "Amazon US",
            "platform": "amazon",
            "pages": 2,
            "fetched": 150,
            "inserted": 150,
            "updated": 0,
            "error": None,
            "error_kind": None,
        },
        {
            "store": "Shopee MY",
            "platform": "shopee",
            "pages": lines[1]["pages"],
            "fetched": 20,
            "inserted": 20,
            "updated": 0,
            "error": None,
            "error_kind": None,
        },
    ]
    assert "Amazon US: page 2, 150 orders so far" in err

    amazon_sandbox.reject_refresh_token()
    amazon_sandbox.expire_access_tokens()
    assert main(["sync-orders", "--store", "amazon us"]) == 1
    out, err = capsys.readouterr()
    assert out == (
        "Amazon US: the store's authorization has expired. "
        "Re-authorize it under Platform authorization, then sync again.\n"
    )
    assert main(["sync-orders", "--store", "Shopee MY"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("Shopee MY (shopee): ") and "0 new, 0 updated" in out


# -- issue 11: windows and watermarks that lose nothing ---------------------------------------


def _stored_statuses(session: Session, store: Store) -> dict[str, str]:
    session.expire_all()
    rows = session.exec(
        select(Order.platform_order_id, Order.platform_status).where(Order.store_id == store.id)
    )
    return dict(rows.all())


@pytest.mark.parametrize("platform", ["amazon", "shopee"])
def test_orders_changing_during_a_sync_are_never_lost(
    platform: str,
    engine: Engine,
    session: Session,
    amazon_sandbox: AmazonSandbox,
    shopee_sandbox: ShopeeSandbox,
    connector_registry: ConnectorRegistry,
) -> None:
    # Finding 8: buyers and carriers move orders while a sync pages through them (offsets shift
    # on Shopee). Nothing may be skipped for good, and the next sync brings every change.
    sandbox: AmazonSandbox | ShopeeSandbox = amazon_sandbox if platform == "amazon" else shopee_sandbox
    orders = generate_orders(700, seed=31, platform=platform, days=20)
    sandbox.add_orders(*orders)
    by_update = sorted(orders, key=lambda o: o.updated_at)
    moving = [o.order_id for o in by_update[: 30 * 4 : 4]]  # early in the listing: the offsets shift
    sandbox.change_orders_while_listing(moving, per_page=5)
    store = make_sandbox_store(session, sandbox, name=f"{platform} store")
    sync = build_sync(engine, connector_registry)

    first = sync.sync_store(store.id or 0)

    assert first.error == "" and sandbox.orders_changed_while_listing >= 20
    stored = _stored_statuses(session, store)
    untouched = {o.order_id for o in orders} - sandbox.changed_while_listing
    assert untouched - set(stored) == set()  # no order that stood still was skipped
    sandbox.change_orders_while_listing([])

    second = sync.sync_store(store.id or 0)

    assert second.error == ""
    stored = _stored_statuses(session, store)
    assert stored == {o.order_id: o.status for o in orders}  # every order, as the platform has it now


def test_the_watermark_moves_with_each_committed_page(
    engine: Engine,
    session: Session,
    shopee_sandbox: ShopeeSandbox,
    shopee_store: Store,
    connector_registry: ConnectorRegistry,
) -> None:
    # Finding 4: a sync that fails on a later page keeps what it vouched for, so the next one
    # does not start at the first page again.
    orders = generate_orders(500, seed=32, platform="shopee", days=20)
    shopee_sandbox.add_orders(*orders)

    def fail_after_three_pages(update: StoreSyncProgress) -> None:
        if update.pages == 3 and not update.done:
            shopee_sandbox.faults.fail_next(50, status=500, path="/api/v2/order/get_order_list")

    sync = build_sync(engine, connector_registry)
    failed = sync.sync_store(shopee_store.id or 0, progress=fail_after_three_pages)

    assert failed.error_kind == "platform_error" and failed.pages == 3
    session.refresh(shopee_store)
    assert shopee_store.order_watermark is not None
    watermark = shopee_store.order_watermark.replace(tzinfo=UTC)
    assert watermark > datetime.now(UTC) - timedelta(days=20)  # moved past the first page's window
    # Every order up to the watermark is stored: it only ever vouches for committed pages.
    stored = set(_stored_statuses(session, shopee_store))
    assert {o.order_id for o in orders if o.updated_at.replace(microsecond=0) <= watermark} <= stored
    assert len(stored) < 500

    shopee_sandbox.faults.clear()
    resumed = sync.sync_store(shopee_store.id or 0)
    assert resumed.error == "" and count_orders(session, shopee_store) == 500


def test_refused_next_tokens_do_not_stop_a_store_syncing(
    engine: Engine,
    session: Session,
    amazon_sandbox: AmazonSandbox,
    amazon_store: Store,
    connector_registry: ConnectorRegistry,
    amazon_orders: list[object],
) -> None:
    # Finding 4: a store whose NextTokens Amazon refuses synced page 1 forever.
    amazon_sandbox.refuse_next_tokens()
    result = build_sync(engine, connector_registry).sync_store(amazon_store.id or 0)
    assert (result.error, result.inserted) == ("", 250)
    session.refresh(amazon_store)
    assert amazon_store.order_watermark is not None


def test_a_missing_role_is_reported_and_the_store_keeps_its_authorization(
    engine: Engine,
    session: Session,
    amazon_sandbox: AmazonSandbox,
    amazon_store: Store,
    connector_registry: ConnectorRegistry,
    amazon_orders: list[object],
) -> None:
    # Finding 5: a 403 for a missing role must not mark the store expired (syncs would stop).
    amazon_sandbox.deny_role("Inventory and Order Tracking")
    sync = build_sync(engine, connector_registry)
    [result] = sync.sync_account(amazon_store.account_id)
    assert result.error_kind == "permission_denied"
    assert "Inventory and Order Tracking" in result.error and "authorization itself is fine" in result.error
    session.refresh(amazon_store)
    assert amazon_store.auth_status == AuthStatus.AUTHORIZED
    amazon_sandbox.deny_role("Inventory and Order Tracking", denied=False)
    [scheduled] = sync.sync_all()  # the scheduler still syncs it
    assert (scheduled.error, scheduled.inserted) == ("", 250)
