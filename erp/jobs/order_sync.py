"""Order sync: bring each store's orders from its marketplace into the ERP.

A sync of one store pages through the orders updated since the store's watermark and upserts
each page in its own transaction, together with the run's resume cursor. So a sync that fails on
page 7 keeps pages 1-6, and the next sync of that store carries on from page 7 instead of
starting over. The watermark moves with each committed page as far as the connector vouches
that the listing is complete (`OrderPage.complete_through`), and every sync starts a margin
before it: windows overlap, orders come again at worst (upserts de-duplicate them by order id),
and an order that changed or was indexed late while a sync ran is never skipped for good.

An account's stores sync concurrently in a bounded thread pool (connectors are
thread-safe; each store has its own token bucket), and one store's failure is reported in the
seller's words without touching the other stores.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, insert, literal, select, update
from sqlmodel import Session, col

from erp.jobs.locks import Sessions, StoreLock, ThreadStoreLocks
from erp.models import AuditLog, AuthStatus, OrderStatus, Platform, Store, SyncRun, SyncStatus, table_of
from erp.platforms.base import (
    AuthorizationExpired,
    BadResponse,
    MarketplaceConnector,
    OrderPage,
    PermissionDenied,
    PlatformError,
    PlatformOrder,
    PlatformUnavailable,
    RateLimited,
)
from erp.progress import StoreSyncProgress, SyncProgressCallback

logger = logging.getLogger(__name__)

FIRST_SYNC_LOOKBACK = timedelta(days=30)
"""How far back the first sync of a store looks (no watermark yet)."""

SYNC_OVERLAP = timedelta(minutes=10)
"""How far before the watermark each sync starts: platform clocks and indexes lag a little."""

PLATFORM_NAMES = {Platform.AMAZON.value: "Amazon", Platform.SHOPEE.value: "Shopee"}

# Platform status -> ERP status. Keys are lower case: platforms are not consistent about case.
_AMAZON_STATUSES = {
    "pendingavailability": OrderStatus.PENDING_REVIEW,  # pre-order, not yet payable
    "pending": OrderStatus.PENDING_REVIEW,  # payment not yet authorized
    "unshipped": OrderStatus.PENDING_PROCESSING,
    "partiallyshipped": OrderStatus.PENDING_PROCESSING,
    "invoiceunconfirmed": OrderStatus.PENDING_PROCESSING,
    "shipped": OrderStatus.SHIPPED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    # The platform could not fulfil it: the seller has to look at it.
    "unfulfillable": OrderStatus.PENDING_REVIEW,
}
_SHOPEE_STATUSES = {
    "unpaid": OrderStatus.PENDING_REVIEW,
    "invoice_pending": OrderStatus.PENDING_REVIEW,
    "in_cancel": OrderStatus.PENDING_REVIEW,  # the buyer asked to cancel: the seller decides
    "ready_to_ship": OrderStatus.PENDING_PROCESSING,
    "processed": OrderStatus.PENDING_PROCESSING,
    "retry_ship": OrderStatus.PENDING_PROCESSING,
    "shipped": OrderStatus.SHIPPED,
    "to_confirm_receive": OrderStatus.SHIPPED,
    "to_return": OrderStatus.SHIPPED,
    "completed": OrderStatus.SHIPPED,
    "cancelled": OrderStatus.CANCELLED,
}
_STATUS_MAPS = {Platform.AMAZON.value: _AMAZON_STATUSES, Platform.SHOPEE.value: _SHOPEE_STATUSES}

# Fulfilment channel words stored with the order, per platform: (by the platform, by the seller).
_CHANNELS = {Platform.AMAZON.value: ("AFN", "MFN"), Platform.SHOPEE.value: ("FBS", "seller")}


def erp_status(platform: str, platform_status: str, fulfilled_by_platform: bool) -> OrderStatus:
    """The ERP status for a platform's order status.

    Args:
        platform: the store's platform (`Platform` value).
        platform_status: the platform's own status word.
        fulfilled_by_platform: FBA and similar; such orders need nothing from the seller.

    Returns:
        The ERP status; an unknown status lands in pending review so that a person looks at it.
    """
    if fulfilled_by_platform:
        return OrderStatus.IGNORED
    statuses = _STATUS_MAPS.get(platform, {})
    status = statuses.get(platform_status.strip().lower())
    if status is None:
        logger.warning("unknown %s order status %r: filed as pending review", platform, platform_status)
        return OrderStatus.PENDING_REVIEW
    return status


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything we store is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def seller_error(store_name: str, platform: str, error: BaseException) -> tuple[str, str]:
    """What failed and what to do, in the seller's words, and the kind of failure.

    Args:
        store_name: the store as the seller names it.
        platform: the store's platform.
        error: what the sync raised; a `PlatformError`'s text is safe to show.

    Returns:
        `(message, error_kind)` as `StoreSyncProgress` carries them.
    """
    label = PLATFORM_NAMES.get(platform, platform.title())
    said = f" ({error})" if str(error) else ""
    kept = "The orders synced so far are kept"
    if isinstance(error, AuthorizationExpired):
        return (
            f"{store_name}: the store's authorization has expired. "
            "Re-authorize it under Platform authorization, then sync again.",
            "authorization_expired",
        )
    if isinstance(error, PermissionDenied):
        return (
            f"{store_name}: {label} refused part of the sync for lack of a permission{said}. "
            f"{kept}; the store's authorization itself is fine.",
            "permission_denied",
        )
    if isinstance(error, RateLimited):
        return (
            f"{store_name}: {label} is limiting how fast we may ask for orders right now. "
            f"{kept}; the next sync carries on from where this one stopped.",
            "rate_limited",
        )
    if isinstance(error, BadResponse):
        return (
            f"{store_name}: {label} sent an answer we could not read{said}. "
            f"{kept}; try again later, and ask for a person if it keeps happening.",
            "bad_response",
        )
    if isinstance(error, PlatformError):
        return (
            f"{store_name}: {label} is not answering properly right now{said}. "
            f"{kept}; the next sync carries on from where this one stopped.",
            "platform_error",
        )
    return (
        f"{store_name}: the sync stopped unexpectedly. {kept}; try again, "
        "and ask for a person if it keeps happening.",
        "internal_error",
    )


@dataclass
class _Tally:
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    newest_update: datetime | None = None
    complete_through: datetime | None = None  # what the connector vouched for, page by page

    def snapshot(self, store: str, platform: str, *, done: bool = False) -> StoreSyncProgress:
        return StoreSyncProgress(
            store=store,
            platform=platform,
            pages=self.pages,
            fetched=self.fetched,
            inserted=self.inserted,
            updated=self.updated,
            done=done,
        )


@dataclass(frozen=True)
class _StoreInfo:
    id: int
    account_id: int
    name: str
    platform: str


class OrderSync:
    """Syncs stores' orders; one instance per process, shared by Slack, the console and the scheduler.

    Args:
        sessions: opens a database session.
        connector_for: the marketplace connector of a store.
        max_workers: how many stores sync at the same time.
        clock: the current time (tests pin it); UTC now by default.
        store_lock: one sync of a store at a time; across processes when given
            (`erp.jobs.locks.store_locks_for`), within this process by default.
    """

    def __init__(
        self,
        sessions: Callable[[], Session],
        connector_for: Callable[[Store], MarketplaceConnector],
        *,
        max_workers: int = 8,
        clock: Callable[[], datetime] | None = None,
        store_lock: StoreLock | None = None,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._sessions = sessions
        self._connector_for = connector_for
        self._max_workers = max_workers
        self._clock = clock or (lambda: datetime.now(UTC))
        # One sync of a store at a time: a second request waits, then runs incrementally (cheap)
        # so its caller still gets a fresh answer.
        self._store_lock: StoreLock = store_lock or ThreadStoreLocks()

    def sync_account(
        self,
        account_id: int,
        *,
        store_ids: Sequence[int] | None = None,
        trigger: str = "manual",
        actor: str = "",
        progress: SyncProgressCallback | None = None,
    ) -> list[StoreSyncProgress]:
        """Sync the account's stores now, concurrently.

        Args:
            account_id: whose stores.
            store_ids: only these stores (stores of other accounts are never touched).
            trigger: what started it (manual, schedule, slack, console), kept on the run.
            actor: who, for the audit log.
            progress: called after each page of each store, from worker threads but never two
                calls at once.

        Returns:
            One final progress per store (`done=True`), ordered by store name.
        """
        with self._sessions() as session:
            query = select(Store).where(col(Store.account_id) == account_id, col(Store.deleted_at).is_(None))
            if store_ids is not None:
                query = query.where(col(Store.id).in_(list(store_ids)))
            stores = [_info(store) for store in session.execute(query).scalars()]
        return self._sync_many(stores, trigger=trigger, actor=actor, progress=progress)

    def sync_all(
        self,
        *,
        trigger: str = "schedule",
        actor: str = "scheduler",
        progress: SyncProgressCallback | None = None,
    ) -> list[StoreSyncProgress]:
        """Sync every account's authorized stores (the scheduler's automatic sync).

        Stores whose authorization has expired are left out: only the seller can fix them, and
        they were told when it happened.
        """
        with self._sessions() as session:
            query = select(Store).where(
                col(Store.deleted_at).is_(None),
                col(Store.auth_status) == AuthStatus.AUTHORIZED.value,
            )
            stores = [_info(store) for store in session.execute(query).scalars()]
        return self._sync_many(stores, trigger=trigger, actor=actor, progress=progress)

    def sync_store(
        self,
        store_id: int,
        *,
        trigger: str = "manual",
        actor: str = "",
        progress: SyncProgressCallback | None = None,
    ) -> StoreSyncProgress:
        """Sync one store now; failures come back in the final progress, never as exceptions.

        Raises:
            LookupError: there is no such store.
        """
        with self._store_lock(store_id) as locked_sessions:
            # On PostgreSQL the lock's own connection carries the sync's writes too.
            sessions = locked_sessions or self._sessions
            return self._sync_store_locked(
                store_id, sessions, trigger=trigger, actor=actor, progress=progress
            )

    def _sync_many(
        self,
        stores: list[_StoreInfo],
        *,
        trigger: str,
        actor: str,
        progress: SyncProgressCallback | None,
    ) -> list[StoreSyncProgress]:
        stores.sort(key=lambda store: (store.name.lower(), store.id))
        if not stores:
            return []
        report = _serialized(progress)
        with ThreadPoolExecutor(
            max_workers=min(self._max_workers, len(stores)), thread_name_prefix="order-sync"
        ) as pool:
            futures = [
                pool.submit(self.sync_store, store.id, trigger=trigger, actor=actor, progress=report)
                for store in stores
            ]
            results: list[StoreSyncProgress] = []
            for store, future in zip(stores, futures, strict=True):
                try:
                    results.append(future.result())
                except Exception as exc:  # the store vanished mid-sync, or a bug: report, go on
                    logger.exception("order sync of store %s failed", store.id)
                    message, kind = seller_error(store.name, store.platform, exc)
                    results.append(
                        StoreSyncProgress(
                            store=store.name,
                            platform=store.platform,
                            done=True,
                            error=message,
                            error_kind=kind,
                        )
                    )
        return results

    def _sync_store_locked(
        self,
        store_id: int,
        sessions: Sessions,
        *,
        trigger: str,
        actor: str,
        progress: SyncProgressCallback | None,
    ) -> StoreSyncProgress:
        now = self._clock()
        tally = _Tally()
        with sessions() as session:
            store = session.get(Store, store_id)
            if store is None or store.deleted_at is not None:
                raise LookupError(f"no store with id {store_id}")
            info = _info(store)
            run_id, window_start, cursor = self._open_run(session, store, trigger, now)
            try:
                connector: MarketplaceConnector | None = self._connector_for(store)
                setup_error: Exception | None = None
            except Exception as exc:  # e.g. credentials missing from the store's settings
                connector, setup_error = None, exc
        if connector is None:
            assert setup_error is not None
            return _final(progress, self._finish_failed(sessions, info, run_id, tally, setup_error, actor))
        _notify(progress, tally.snapshot(info.name, info.platform))
        try:
            while True:
                try:
                    page = connector.list_orders(updated_after=window_start, cursor=cursor)
                except PlatformError as exc:
                    if not (cursor and tally.pages == 0 and _cursor_refused(exc)):
                        raise
                    # A resume cursor the platform no longer accepts (NextTokens expire): start the
                    # window over; the pages stored before are upserted again, unchanged.
                    logger.info(
                        "store %s: resume cursor refused, syncing the window from its start", store_id
                    )
                    cursor = None
                    continue
                if page.next_cursor is not None and page.next_cursor == cursor:
                    raise BadResponse("the platform returned the same page again")
                self._write_page(sessions, info, run_id, page, tally)
                _notify(progress, tally.snapshot(info.name, info.platform))
                cursor = page.next_cursor
                if cursor is None:
                    break
        except Exception as exc:
            if not isinstance(exc, PlatformError):
                logger.exception("order sync of store %s stopped", store_id)
            return _final(progress, self._finish_failed(sessions, info, run_id, tally, exc, actor))
        return self._finish_done(sessions, info, run_id, tally, actor)

    def _open_run(
        self, session: Session, store: Store, trigger: str, now: datetime
    ) -> tuple[int, datetime, str | None]:
        """Start a run: resume the last one when it stopped part-way, else a new incremental window.

        Core statements, not ORM objects, for the same reason as `_finish_done`.
        """
        connection = session.connection()
        last = connection.execute(
            select(_RUNS.c.id, _RUNS.c.status, _RUNS.c.cursor, _RUNS.c.window_start)
            .where(_RUNS.c.store_id == store.id)
            .order_by(_RUNS.c.id.desc())
            .limit(1)
        ).first()
        watermark = _as_utc(store.order_watermark)
        window_start = watermark - SYNC_OVERLAP if watermark is not None else now - FIRST_SYNC_LOOKBACK
        cursor: str | None = None
        last_status = last.status if last is not None else None
        if last is not None and last_status == SyncStatus.RUNNING.value:
            # Still "running" although this process holds the store's lock: its process died.
            connection.execute(
                update(_RUNS)
                .where(_RUNS.c.id == last.id)
                .values(status=SyncStatus.FAILED.value, error="interrupted", finished_at=now)
            )
            last_status = SyncStatus.FAILED.value
        if last is not None and last_status == SyncStatus.FAILED.value and last.cursor and last.window_start:
            # Carry on from the page where the failed run stopped, in the same window.
            window_start = _as_utc(last.window_start) or window_start
            cursor = last.cursor
        opened = connection.execute(
            insert(_RUNS).values(
                store_id=store.id or 0,
                status=SyncStatus.RUNNING.value,
                trigger=trigger,
                started_at=now,
                window_start=window_start,
                cursor=cursor or "",
            )
        )
        session.commit()
        key = opened.inserted_primary_key
        assert key is not None and key[0] is not None
        return int(key[0]), window_start, cursor

    def _write_page(
        self,
        sessions: Sessions,
        store: _StoreInfo,
        run_id: int,
        page: OrderPage,
        tally: _Tally,
    ) -> None:
        """Upsert one page, move the run's cursor past it and the store's watermark up to what
        the connector vouched complete, in one transaction: the watermark vouches only for
        stored orders, and one commit a page is cheaper than two.

        The hot path of every sync: one select of the page's stored orders, one executemany
        insert of the new ones, one executemany update of the changed ones and the run's
        progress, all as driver SQL with values already in the database's own form (ISO text for
        SQLite datetimes, JSON text), so no per-row type processing or statement compilation
        (bench/upsert.py).
        """
        now = self._clock()
        by_id = {order.order_id: order for order in page.orders}  # a page may repeat an order
        fetched = len(by_id)
        newest = tally.newest_update
        with sessions() as session:
            connection = session.connection()
            sql = _page_sql(connection.dialect.name)
            stamp = sql.moment
            values = {
                order_id: _order_values(store.platform, order, stamp) for order_id, order in by_id.items()
            }
            existing = {row[0]: row for row in sql.stored(connection, store.id, list(by_id))} if by_id else {}
            synced = stamp(now)
            new_rows: list[tuple[Any, ...]] = []
            changed_rows: list[tuple[Any, ...]] = []
            for order_id, row_values in values.items():
                current = existing.get(order_id)
                if current is None:
                    new_rows.append((store.id, order_id, *row_values, synced))
                elif _differs(current, row_values):
                    changed_rows.append((*row_values, synced, current[1]))
                updated_at = _as_utc(by_id[order_id].updated_at)
                if updated_at is not None and (newest is None or updated_at > newest):
                    newest = updated_at
            if new_rows:
                sql.write(connection, sql.insert, new_rows)
            if changed_rows:
                sql.write(connection, sql.update, changed_rows)
            sql.execute(
                connection,
                sql.progress,
                (
                    tally.pages + 1,
                    tally.fetched + fetched,
                    tally.inserted + len(new_rows),
                    tally.updated + len(changed_rows),
                    page.next_cursor or "",
                    run_id,
                ),
            )
            vouched = _as_utc(page.complete_through)
            if vouched is not None:
                connection.execute(
                    update(_STORES)
                    .where(_STORES.c.id == store.id, _watermark_before(vouched))
                    .values(order_watermark=vouched)
                )
            session.commit()
        tally.pages += 1
        tally.fetched += fetched
        tally.inserted += len(new_rows)
        tally.updated += len(changed_rows)
        tally.newest_update = newest
        if vouched is not None and (tally.complete_through is None or vouched > tally.complete_through):
            tally.complete_through = vouched

    def _finish_done(
        self, sessions: Sessions, store: _StoreInfo, run_id: int, tally: _Tally, actor: str
    ) -> StoreSyncProgress:
        """Close the run, move the store's watermark and sync fields, log it: three statements.

        Once per store, and most stores of a big ERP are small: loading the run and the store
        as ORM objects to change a few fields cost as much CPU as syncing 200 orders' pages.
        """
        now = self._clock()
        # What the connector vouched for when it can (moved page by page already); else the
        # newest update the platform sent. Too low is harmless (upserts are idempotent).
        reached = tally.complete_through or tally.newest_update
        watermark = _STORES.c.order_watermark
        expired = _STORES.c.auth_status == AuthStatus.EXPIRED.value  # re-authorized since
        store_values: dict[str, Any] = {
            "last_order_sync_at": now,
            "last_order_sync_error": "",
            "auth_status": case((expired, AuthStatus.AUTHORIZED.value), else_=_STORES.c.auth_status),
            "auth_error": case((expired, ""), else_=_STORES.c.auth_error),
        }
        if reached is not None:
            moved = literal(reached, watermark.type)  # stored as the column stores it
            store_values["order_watermark"] = case((_watermark_before(moved), moved), else_=watermark)
        with sessions() as session:
            connection = session.connection()
            connection.execute(
                update(_RUNS)
                .where(_RUNS.c.id == run_id)
                .values(status=SyncStatus.DONE.value, finished_at=now, cursor="")
            )
            connection.execute(update(_STORES).where(_STORES.c.id == store.id).values(**store_values))
            connection.execute(
                insert(_AUDIT).values(
                    at=now,
                    actor=actor or "system",
                    account_id=store.account_id,
                    store_id=store.id,
                    action="sync_orders",
                    result="ok",
                    detail=_tally_detail(tally),
                )
            )
            session.commit()
        return tally.snapshot(store.name, store.platform, done=True)

    def _finish_failed(
        self,
        sessions: Sessions,
        store: _StoreInfo,
        run_id: int,
        tally: _Tally,
        error: BaseException,
        actor: str,
    ) -> StoreSyncProgress:
        message, kind = seller_error(store.name, store.platform, error)
        logger.warning("order sync of store %s failed (%s) after %d pages", store.id, kind, tally.pages)
        now = self._clock()
        with sessions() as session:
            run = session.get(SyncRun, run_id)
            row = session.get(Store, store.id)
            assert run is not None and row is not None
            run.status, run.finished_at, run.error = SyncStatus.FAILED.value, now, message
            row.last_order_sync_error = message
            if isinstance(error, AuthorizationExpired):
                row.auth_status, row.auth_error = AuthStatus.EXPIRED.value, message
            session.add(
                AuditLog(
                    at=now,
                    actor=actor or "system",
                    account_id=store.account_id,
                    store_id=store.id,
                    action="sync_orders",
                    result="failed",
                    detail=f"{kind}: {_tally_detail(tally)}",
                )
            )
            session.commit()
        return replace(tally.snapshot(store.name, store.platform, done=True), error=message, error_kind=kind)


# The tables the sync writes with Core statements.
_RUNS = table_of(SyncRun)
_STORES = table_of(Store)
_AUDIT = table_of(AuditLog)


def _watermark_before(moment: Any) -> Any:
    """The store's watermark is unset or before `moment`: the only case it moves, so never back."""
    watermark = _STORES.c.order_watermark
    return watermark.is_(None) | (watermark < moment)


def _cursor_refused(error: PlatformError) -> bool:
    """Whether a failure on a resumed run's first page may be the cursor's fault, not a passing one."""
    return not isinstance(error, AuthorizationExpired | RateLimited | PlatformUnavailable)


def _info(store: Store) -> _StoreInfo:
    assert store.id is not None
    return _StoreInfo(id=store.id, account_id=store.account_id, name=store.name, platform=store.platform)


def _order_values(platform: str, order: PlatformOrder, stamp: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """An order's stored columns (`_ORDER_COLUMNS` order), in the database's own value forms."""
    by_platform, by_seller = _CHANNELS.get(platform, ("platform", "seller"))
    purchased, updated = order.purchased_at, order.updated_at
    return (
        erp_status(platform, order.platform_status, order.fulfilled_by_platform).value,
        order.platform_status,
        by_platform if order.fulfilled_by_platform else by_seller,
        None if purchased is None else stamp(purchased),
        None if updated is None else stamp(updated),
        order.total_amount,
        order.currency,
        _skus_json(tuple(order.skus)),
    )


@functools.lru_cache(maxsize=4096)
def _skus_json(skus: tuple[str, ...]) -> str:
    """An order's SKU list as SQLAlchemy's JSON type writes it. A store's orders carry the same few
    SKU lists over and over, and `json.dumps` cost ten times the look-up (1.1 us against 0.1 us)."""
    return json.dumps(list(skus))


def _differs(current: Any, values: tuple[Any, ...]) -> bool:
    """Whether a stored row (`_page_sql(...).select`: order id, row id, then the columns) changes."""
    return tuple(current[2:]) != values


_ORDER_COLUMNS = (
    "status",
    "platform_status",
    "fulfillment_channel",
    "purchased_at",
    "platform_updated_at",
    "total_amount",
    "currency",
    "skus",
)


@dataclass(frozen=True)
class _PageSql:
    """The page writer's statements for one database, and how it stores a moment.

    SQLite's `executemany` loops in C, a row a statement. On PostgreSQL a row at a time through
    psycopg's pipeline costs about 35 us of CPU, and one long VALUES list is parsed anew for
    every page; so there the rows go as one array per column, through `unnest`, in one short
    statement that psycopg prepares once. There every statement goes straight to psycopg's own
    cursor with binary parameters: SQLAlchemy's driver-SQL path costs about as much per
    statement as a page's worth of rows, and a text array is quoted element by element.
    """

    select: str  # {marks} for the order ids (SQLite); the ids as one text[], the store (PostgreSQL)
    mark: str  # the driver's parameter marker
    insert: str
    update: str
    progress: str  # the run's counts and resume cursor, then the run's id
    by_column: bool  # rows go as one array per column
    moment: Callable[[datetime], Any]

    def stored(self, connection: Any, store_id: int, order_ids: list[str]) -> list[Any]:
        """The stored rows of a page's orders: order id, row id, then `_ORDER_COLUMNS`."""
        if not self.by_column:
            query = self.select.format(marks=", ".join([self.mark] * len(order_ids)))
            return list(connection.exec_driver_sql(query, (store_id, *order_ids)))
        with _driver_cursor(connection) as cursor:
            cursor.execute(self.select, (order_ids, store_id))
            return cursor.fetchall()

    def write(self, connection: Any, statement: str, rows: list[tuple[Any, ...]]) -> None:
        if self.by_column:
            self.execute(connection, statement, [list(column) for column in zip(*rows, strict=True)])
        else:
            connection.exec_driver_sql(statement, rows)

    def execute(self, connection: Any, statement: str, parameters: Sequence[Any]) -> None:
        if self.by_column:
            with _driver_cursor(connection) as cursor:
                cursor.execute(statement, parameters)
        else:
            connection.exec_driver_sql(statement, tuple(parameters))


@contextmanager
def _driver_cursor(connection: Any) -> Iterator[Any]:
    """psycopg's own cursor on the session's connection, in the session's transaction."""
    cursor = connection.connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def _sqlite_moment(value: datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite: UTC, ISO text with microseconds, no offset."""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _postgres_moment(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_PG_TYPES = ("text", "text", "text", "timestamptz", "timestamptz", "text", "text", "json")


@functools.cache
def _page_sql(dialect: str) -> _PageSql:
    columns = ", ".join(_ORDER_COLUMNS)
    into = f'INSERT INTO "order" (store_id, platform_order_id, {columns}, synced_at) '
    conflict = " ON CONFLICT (store_id, platform_order_id) DO NOTHING"  # another process was first
    progress = (
        "UPDATE syncrun SET pages = {mark}, fetched = {mark}, inserted = {mark}, updated = {mark}, "
        "cursor = {mark} WHERE id = {mark}"
    )
    if dialect == "sqlite":
        marks = ", ".join(["?"] * (len(_ORDER_COLUMNS) + 3))
        assignments = ", ".join(f"{name} = ?" for name in (*_ORDER_COLUMNS, "synced_at"))
        return _PageSql(
            select=f'SELECT platform_order_id, id, {columns} FROM "order" '
            "WHERE store_id = ? AND platform_order_id IN ({marks})",
            mark="?",
            insert=into + f"VALUES ({marks})" + conflict,
            update=f'UPDATE "order" SET {assignments} WHERE id = ?',
            progress=progress.format(mark="?"),
            by_column=False,
            moment=_sqlite_moment,
        )

    # PostgreSQL's json type keeps the text as given: read back as text, a stored row compares
    # with a new one without decoding either.
    # %b: binary parameters; as text psycopg would quote every array element with a regex.
    arrays = ", ".join(f"%b::{kind}[]" for kind in _PG_TYPES)
    assignments = ", ".join(f"{name} = v.{name}" for name in (*_ORDER_COLUMNS, "synced_at"))
    return _PageSql(
        # One unique-index lookup per order id, whatever the table's statistics say: a plain
        # `store_id = %s AND platform_order_id = ANY(...)` is planned from the table's size, and
        # before its first analyze PostgreSQL guesses a store has a few rows, scans all of them
        # for every page and filters (3.5 ms a page at 20,000 orders, growing with the store).
        # LIMIT 1 keeps the subquery a per-id lookup instead of a join the planner may rewrite.
        select=f"SELECT o.* FROM unnest(%b::text[]) AS page(order_id) CROSS JOIN LATERAL "
        f'(SELECT platform_order_id, id, {columns.replace("skus", "skus::text")} FROM "order" '
        "WHERE store_id = %b::int AND platform_order_id = page.order_id LIMIT 1) AS o",
        mark="%s",
        insert=into + f"SELECT * FROM unnest(%b::int[], %b::text[], {arrays}, %b::timestamptz[])" + conflict,
        update=f'UPDATE "order" AS o SET {assignments} '
        f"FROM unnest({arrays}, %b::timestamptz[], %b::int[]) AS v({columns}, synced_at, id) "
        "WHERE o.id = v.id",
        progress=progress.format(mark="%b"),
        by_column=True,
        moment=_postgres_moment,
    )


def _tally_detail(tally: _Tally) -> str:
    return f"pages={tally.pages} fetched={tally.fetched} inserted={tally.inserted} updated={tally.updated}"


def _serialized(progress: SyncProgressCallback | None) -> SyncProgressCallback | None:
    """Progress from many worker threads, delivered one call at a time."""
    if progress is None:
        return None
    lock = threading.Lock()

    def report(update: StoreSyncProgress) -> None:
        with lock:
            progress(update)

    return report


def _final(progress: SyncProgressCallback | None, failed: StoreSyncProgress) -> StoreSyncProgress:
    """A failed store's final snapshot is reported too, so a progress display shows it failed."""
    _notify(progress, failed)
    return failed


def _notify(progress: SyncProgressCallback | None, update: StoreSyncProgress) -> None:
    if progress is None:
        return
    try:
        progress(update)
    except Exception:  # a broken progress display must not stop the sync
        logger.exception("order sync progress callback failed")
