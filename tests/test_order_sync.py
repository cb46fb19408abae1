"""Order sync over a real database with an in-memory marketplace (the connector contract in memory).

The same behaviours are exercised over HTTP against the sandbox platforms in
`test_order_sync_sandbox.py`; these tests pin the job's own logic: status mapping, upserts,
watermark, resume, failure isolation and what the seller is told.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from erp.jobs.order_sync import FIRST_SYNC_LOOKBACK, SYNC_OVERLAP, OrderSync, erp_status
from erp.models import Account, AuditLog, AuthStatus, Order, OrderStatus, Store, SyncRun, SyncStatus
from erp.platforms.base import (
    AuthorizationExpired,
    BadResponse,
    LivePrice,
    OrderPage,
    PlatformOrder,
    PlatformUnavailable,
    ReportState,
)
from erp.progress import StoreSyncProgress

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class MemoryMarketplace:
    """A marketplace in memory, paged like the real ones, with faults on request."""

    def __init__(self, platform: str, orders: list[PlatformOrder], page_size: int = 10) -> None:
        self.platform = platform
        self.orders = {order.order_id: order for order in orders}
        self.page_size = page_size
        self.calls: list[tuple[datetime, str | None]] = []
        self.fail_on_page: int | None = None  # 1-based page number that fails once
        self.expired = False
        self.vouched: datetime | None = None  # each page's complete_through, when set

    def list_orders(self, *, updated_after: datetime, cursor: str | None = None) -> OrderPage:
        self.calls.append((updated_after, cursor))
        if self.expired:
            raise AuthorizationExpired("the refresh token was rejected")
        start = int(cursor or 0)
        if self.fail_on_page is not None and start // self.page_size + 1 == self.fail_on_page:
            self.fail_on_page = None
            raise PlatformUnavailable("the platform answered 503 three times")
        matching = sorted(
            (o for o in self.orders.values() if o.updated_at and o.updated_at >= updated_after),
            key=lambda o: (o.updated_at, o.order_id),
        )
        chunk = matching[start : start + self.page_size]
        following = start + self.page_size
        return OrderPage(
            orders=chunk,
            next_cursor=str(following) if following < len(matching) else None,
            complete_through=self.vouched,
        )

    def get_order(self, order_id: str) -> PlatformOrder | None:
        return self.orders.get(order_id)

    def request_report(self, kind: str) -> str:
        raise NotImplementedError

    def report_state(self, report_id: str) -> ReportState:
        raise NotImplementedError

    def download_report(self, document_id: str) -> Iterator[bytes]:
        raise NotImplementedError

    def get_live_price(self, sku: str) -> LivePrice | None:
        raise NotImplementedError

    def update_price(self, sku: str, amount: str, currency: str) -> str:
        raise NotImplementedError


def make_orders(
    prefix: str, count: int, *, status: str = "Unshipped", days_ago: float = 1
) -> list[PlatformOrder]:
    return [
        PlatformOrder(
            order_id=f"{prefix}-{i:04d}",
            platform_status=status,
            fulfilled_by_platform=False,
            purchased_at=NOW - timedelta(days=days_ago, minutes=i),
            updated_at=NOW - timedelta(days=days_ago, minutes=i),
            total_amount=f"{10 + i}.00",
            currency="EUR",
            skus=[f"SKU-{i % 7}"],
        )
        for i in range(count)
    ]


@pytest.fixture
def sessions(engine: Engine) -> object:
    return lambda: Session(engine)


@pytest.fixture
def account(session: Session) -> Account:
    account = Account(name="acme")
    session.add(account)
    session.commit()
    return account


def add_store(session: Session, account: Account, name: str, platform: str = "amazon") -> Store:
    assert account.id is not None
    store = Store(account_id=account.id, name=name, platform=platform, region="DE")
    session.add(store)
    session.commit()
    return store


def build_sync(engine: Engine, markets: Mapping[str, MemoryMarketplace], **kwargs: object) -> OrderSync:
    return OrderSync(
        lambda: Session(engine),
        lambda store: markets[store.name],
        clock=lambda: NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def orders_of(session: Session, store: Store) -> list[Order]:
    return list(
        session.exec(select(Order).where(Order.store_id == store.id).order_by(Order.platform_order_id))
    )


def test_pages_to_the_end_and_reports_progress_per_page(
    engine: Engine, session: Session, account: Account
) -> None:
    store = add_store(session, account, "Amazon DE")
    market = MemoryMarketplace("amazon", make_orders("A", 25), page_size=10)
    seen: list[StoreSyncProgress] = []

    results = build_sync(engine, {"Amazon DE": market}).sync_account(account.id or 0, progress=seen.append)

    assert [(r.store, r.pages, r.fetched, r.inserted, r.updated, r.done, r.error) for r in results] == [
        ("Amazon DE", 3, 25, 25, 0, True, "")
    ]
    assert [(p.pages, p.fetched) for p in seen] == [(0, 0), (1, 10), (2, 20), (3, 25)]
    stored = orders_of(session, store)
    assert len(stored) == 25
    assert {o.status for o in stored} == {OrderStatus.PENDING_PROCESSING}
    assert stored[0].skus == ["SKU-0"] and stored[0].total_amount == "10.00"
    # The first sync looks back 30 days.
    assert market.calls[0] == (NOW - FIRST_SYNC_LOOKBACK, None)


def test_second_sync_changes_nothing_and_counts_real_updates(
    engine: Engine, session: Session, account: Account
) -> None:
    store = add_store(session, account, "Amazon DE")
    market = MemoryMarketplace("amazon", make_orders("A", 12))
    sync = build_sync(engine, {"Amazon DE": market})
    sync.sync_account(account.id or 0)
    first_ids = {o.platform_order_id: o.id for o in orders_of(session, store)}

    again = sync.sync_store(store.id or 0)
    assert (again.inserted, again.updated) == (0, 0)
    assert {o.platform_order_id: o.id for o in orders_of(session, store)} == first_ids

    # The platform ships one order and a new one arrives: one update, one insert.
    shipped = market.orders["A-0003"]
    market.orders["A-0003"] = PlatformOrder(
        **{**shipped.__dict__, "platform_status": "Shipped", "updated_at": NOW + timedelta(minutes=5)}
    )
    market.orders["A-9999"] = PlatformOrder(
        order_id="A-9999",
        platform_status="Pending",
        fulfilled_by_platform=False,
        purchased_at=NOW,
        updated_at=NOW + timedelta(minutes=6),
    )
    third = sync.sync_store(store.id or 0)
    # Each sync starts SYNC_OVERLAP before the watermark: the orders updated in that margin come
    # again, unchanged (upserts by order id), besides the changed and the new one.
    newest = max(o.updated_at for o in make_orders("A", 12) if o.updated_at)
    margin = {
        o.order_id for o in market.orders.values() if o.updated_at and o.updated_at >= newest - SYNC_OVERLAP
    }
    assert {"A-0003", "A-9999"} < margin
    assert (third.fetched, third.inserted, third.updated) == (len(margin), 1, 1)
    session.expire_all()
    by_id = {o.platform_order_id: o for o in orders_of(session, store)}
    assert by_id["A-0003"].status == OrderStatus.SHIPPED and by_id["A-0003"].platform_status == "Shipped"
    assert by_id["A-9999"].status == OrderStatus.PENDING_REVIEW
    assert len(by_id) == 13


def test_incremental_sync_asks_only_for_orders_updated_after_the_watermark(
    engine: Engine, session: Session, account: Account
) -> None:
    store = add_store(session, account, "Amazon DE")
    orders = make_orders("A", 5)
    market = MemoryMarketplace("amazon", orders)
    sync = build_sync(engine, {"Amazon DE": market})
    sync.sync_store(store.id or 0)

    session.refresh(store)
    newest = max(o.updated_at for o in orders if o.updated_at)
    assert store.order_watermark is not None
    assert store.order_watermark.replace(tzinfo=UTC) == newest
    assert store.last_order_sync_at is not None and store.last_order_sync_error == ""

    sync.sync_store(store.id or 0)
    assert market.calls[-1] == (newest - SYNC_OVERLAP, None)


def test_a_vouched_moment_moves_the_watermark_with_the_page_and_never_back(
    engine: Engine, session: Session, account: Account
) -> None:
    store = add_store(session, account, "Amazon DE")
    market = MemoryMarketplace("amazon", make_orders("A", 25), page_size=10)
    market.vouched = NOW - timedelta(hours=1)
    market.fail_on_page = 2
    sync = build_sync(engine, {"Amazon DE": market})

    failed = sync.sync_store(store.id or 0)
    # The first page was stored and vouched for: the watermark moved with it, the failure kept it.
    assert (failed.pages, failed.error_kind) == (1, "platform_error")
    session.refresh(store)
    assert store.order_watermark is not None
    assert store.order_watermark.replace(tzinfo=UTC) == NOW - timedelta(hours=1)

    # Another process moved the watermark further meanwhile: an older vouched moment leaves it.
    store.order_watermark = NOW
    session.add(store)
    session.commit()
    done = sync.sync_store(store.id or 0)
    assert done.error == "" and done.pages >= 1
    session.refresh(store)
    assert store.order_watermark is not None and store.order_watermark.replace(tzinfo=UTC) == NOW


def test_failed_page_keeps_earlier_pages_and_the_next_sync_resumes_from_its_cursor(
    engine: Engine, session: Session, account: Account
) -> None:
    store = add_store(session, account, "Amazon DE")
    market = MemoryMarketplace("amazon", make_orders("A", 35), page_size=10)
    market.fail_on_page = 3
    sync = build_sync(engine, {"Amazon DE": market})

    failed = sync.sync_store(store.id or 0)
    assert failed.done and failed.error_kind == "platform_error"
    assert "Amazon DE" in failed.error and "kept" in failed.error
    assert len(orders_of(session, store)) == 20  # pages 1 and 2 stay
    run = session.exec(select(SyncRun).where(SyncRun.store_id == store.id)).one()
    assert (run.status, run.cursor, run.pages) == (SyncStatus.FAILED, "20", 2)
    session.refresh(store)
    assert store.last_order_sync_error == failed.error and store.order_watermark is None

    resumed = sync.sync_store(store.id or 0)
    assert resumed.error == "" and (resumed.pages, resumed.fetched, resumed.inserted) == (2, 15, 15)
    assert market.calls[-2] == (NOW - FIRST_SYNC_LOOKBACK, "20")  # same window, from page 3
    assert len(orders_of(session, store)) == 35
    session.refresh(store)
    assert store.last_order_sync_error == "" and store.order_watermark is not None


def test_a_run_left_running_by_a_crash_is_resumed(engine: Engine, session: Session, account: Account) -> None:
    store = add_store(session, account, "Amazon DE")
    window = NOW - timedelta(days=3)
    session.add(SyncRun(store_id=store.id or 0, status=SyncStatus.RUNNING, window_start=window, cursor="10"))
    session.commit()
    market = MemoryMarketplace("amazon", make_orders("A", 15), page_size=10)

    result = build_sync(engine, {"Amazon DE": market}).sync_store(store.id or 0)

    assert market.calls[0] == (window, "10")
    assert result.fetched == 5
    runs = list(session.exec(select(SyncRun).order_by(col(SyncRun.id))))
    assert [(r.status, r.error) for r in runs] == [(SyncStatus.FAILED, "interrupted"), (SyncStatus.DONE, "")]


def test_expired_store_is_reported_clearly_while_the_others_sync(
    engine: Engine, session: Session, account: Account
) -> None:
    de = add_store(session, account, "Amazon DE")
    uk = add_store(session, account, "Amazon UK")
    my = add_store(session, account, "Shopee MY", platform="shopee")
    markets = {
        "Amazon DE": MemoryMarketplace("amazon", make_orders("D", 3)),
        "Amazon UK": MemoryMarketplace("amazon", make_orders("U", 4)),
        "Shopee MY": MemoryMarketplace("shopee", make_orders("S", 5, status="READY_TO_SHIP")),
    }
    markets["Amazon DE"].expired = True

    results = build_sync(engine, markets).sync_account(account.id or 0, actor="slack:T1:U1")

    assert [(r.store, r.fetched, r.error_kind) for r in results] == [
        ("Amazon DE", 0, "authorization_expired"),
        ("Amazon UK", 4, ""),
        ("Shopee MY", 5, ""),
    ]
    assert results[0].error == (
        "Amazon DE: the store's authorization has expired. "
        "Re-authorize it under Platform authorization, then sync again."
    )
    assert "refresh token" not in results[0].error
    session.refresh(de)
    assert de.auth_status == AuthStatus.EXPIRED and de.last_order_sync_error == results[0].error
    assert len(orders_of(session, my)) == 5
    audit = list(session.exec(select(AuditLog).order_by(col(AuditLog.store_id))))
    assert [(a.actor, a.store_id, a.action, a.result) for a in audit] == [
        ("slack:T1:U1", de.id, "sync_orders", "failed"),
        ("slack:T1:U1", uk.id, "sync_orders", "ok"),
        ("slack:T1:U1", my.id, "sync_orders", "ok"),
    ]

    # The scheduler leaves the expired store alone; a manual sync after re-authorizing restores it.
    assert [r.store for r in build_sync(engine, markets).sync_all()] == ["Amazon UK", "Shopee MY"]
    markets["Amazon DE"].expired = False
    again = build_sync(engine, markets).sync_account(account.id or 0, store_ids=[de.id or 0])
    assert [(r.store, r.error) for r in again] == [("Amazon DE", "")]
    session.refresh(de)
    assert (de.auth_status, de.auth_error, de.last_order_sync_error) == (AuthStatus.AUTHORIZED, "", "")
    assert de.last_order_sync_at is not None


def test_fulfilled_by_platform_orders_are_ignored_and_statuses_map(
    engine: Engine, session: Session, account: Account
) -> None:
    store = add_store(session, account, "Amazon DE")
    orders = [
        PlatformOrder(f"O-{i}", status, fba, NOW, NOW - timedelta(hours=i))
        for i, (status, fba) in enumerate(
            [
                ("Pending", False),
                ("Unshipped", False),
                ("Shipped", False),
                ("Canceled", False),
                ("Shipped", True),
            ]
        )
    ]
    build_sync(engine, {"Amazon DE": MemoryMarketplace("amazon", orders)}).sync_store(store.id or 0)

    stored = {o.platform_order_id: (o.status, o.fulfillment_channel) for o in orders_of(session, store)}
    assert stored == {
        "O-0": ("pending_review", "MFN"),
        "O-1": ("pending_processing", "MFN"),
        "O-2": ("shipped", "MFN"),
        "O-3": ("cancelled", "MFN"),
        "O-4": ("ignored", "AFN"),
    }


@pytest.mark.parametrize(
    ("platform", "status", "expected"),
    [
        ("amazon", "PartiallyShipped", OrderStatus.PENDING_PROCESSING),
        ("shopee", "UNPAID", OrderStatus.PENDING_REVIEW),
        ("shopee", "READY_TO_SHIP", OrderStatus.PENDING_PROCESSING),
        ("shopee", "PROCESSED", OrderStatus.PENDING_PROCESSING),
        ("shopee", "SHIPPED", OrderStatus.SHIPPED),
        ("shopee", "COMPLETED", OrderStatus.SHIPPED),
        ("shopee", "CANCELLED", OrderStatus.CANCELLED),
        ("shopee", "SOMETHING_NEW", OrderStatus.PENDING_REVIEW),
    ],
)
def test_platform_statuses_map_to_erp_statuses(platform: str, status: str, expected: OrderStatus) -> None:
    assert erp_status(platform, status, fulfilled_by_platform=False) == expected


def test_stores_sync_concurrently_and_only_the_accounts_own(
    engine: Engine, session: Session, account: Account
) -> None:
    other = Account(name="other")
    session.add(other)
    session.commit()
    add_store(session, account, "B store")
    add_store(session, account, "A store")
    foreign = add_store(session, other, "Foreign")
    both_waiting = threading.Barrier(2, timeout=10)

    class Rendezvous(MemoryMarketplace):
        def list_orders(self, *, updated_after: datetime, cursor: str | None = None) -> OrderPage:
            if cursor is None:
                both_waiting.wait()  # fails unless both stores are being synced at the same time
            return super().list_orders(updated_after=updated_after, cursor=cursor)

    markets = {
        name: Rendezvous("amazon", make_orders(name[0], 3)) for name in ("A store", "B store", "Foreign")
    }
    results = build_sync(engine, markets, max_workers=4).sync_account(
        account.id or 0, store_ids=[s.id or 0 for s in session.exec(select(Store))]
    )

    assert [(r.store, r.fetched, r.error) for r in results] == [("A store", 3, ""), ("B store", 3, "")]
    assert markets["Foreign"].calls == []
    assert orders_of(session, foreign) == []


def test_a_broken_connector_setup_or_progress_display_is_reported_not_raised(
    engine: Engine, session: Session, account: Account
) -> None:
    add_store(session, account, "Amazon DE")

    def no_connector(store: Store) -> MemoryMarketplace:
        raise RuntimeError("client_secret missing")

    def broken_display(update: StoreSyncProgress) -> None:
        raise RuntimeError("display gone")

    sync = OrderSync(lambda: Session(engine), no_connector, clock=lambda: NOW)
    [result] = sync.sync_account(account.id or 0, progress=broken_display)
    assert result.done and result.error_kind == "internal_error"
    assert "client_secret" not in result.error
    run = session.exec(select(SyncRun)).one()
    assert run.status == SyncStatus.FAILED
    assert session.exec(select(AuditLog).where(col(AuditLog.result) == "failed")).one()

    market = MemoryMarketplace("amazon", make_orders("A", 3))
    [ok] = build_sync(engine, {"Amazon DE": market}).sync_account(account.id or 0, progress=broken_display)
    assert ok.error == "" and ok.inserted == 3


def test_a_resume_cursor_the_platform_refuses_starts_the_window_over(
    engine: Engine, session: Session, account: Account
) -> None:
    store = add_store(session, account, "Amazon DE")
    window = NOW - timedelta(days=3)
    session.add(SyncRun(store_id=store.id or 0, status=SyncStatus.FAILED, window_start=window, cursor="10"))
    session.commit()

    class ExpiredTokens(MemoryMarketplace):
        def list_orders(self, *, updated_after: datetime, cursor: str | None = None) -> OrderPage:
            if cursor == "10" and len(self.calls) == 0:
                self.calls.append((updated_after, cursor))
                raise BadResponse("Amazon refused the request: Invalid NextToken.")
            return super().list_orders(updated_after=updated_after, cursor=cursor)

    market = ExpiredTokens("amazon", make_orders("A", 15), page_size=10)
    result = build_sync(engine, {"Amazon DE": market}).sync_store(store.id or 0)

    assert (result.error, result.fetched, result.inserted) == ("", 15, 15)
    assert market.calls[:3] == [(window, "10"), (window, None), (window, "10")]


@pytest.mark.parametrize("plan", ["force_custom_plan", "force_generic_plan"])
def test_a_page_s_stored_orders_are_looked_up_by_id_however_the_table_is_planned(
    engine: Engine, session: Session, account: Account, plan: str
) -> None:
    # Before its first analyze PostgreSQL guessed a store holds a few rows, scanned all of them
    # for each page and filtered: a big store's first sync slowed with every page.
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite looks orders up by its unique index without statistics")
    from erp.jobs.order_sync import _page_sql

    store = add_store(session, account, "Amazon DE")
    market = MemoryMarketplace("amazon", make_orders("A", 3000, days_ago=2), page_size=100)
    build_sync(engine, {"Amazon DE": market}).sync_store(store.id or 0)
    page = [f"A-{i:04d}" for i in range(1000, 1100)]
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SET plan_cache_mode = {plan}")
        cursor = connection.connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _page_sql("postgresql").select, (page, store.id))
        explained = cursor.fetchone()
        assert explained is not None
        tree = explained[0][0]["Plan"]
        connection.rollback()

    def nodes(node: dict[str, object]) -> Iterator[dict[str, object]]:
        yield node
        for child in node.get("Plans", []) or []:  # type: ignore[attr-defined]
            yield from nodes(child)

    assert tree["Actual Rows"] == 100
    # Every stored row read is a row asked for: nothing read and thrown away.
    assert all(not node.get("Rows Removed by Filter") for node in nodes(tree))
    assert all(node["Node Type"] != "Seq Scan" for node in nodes(tree))
