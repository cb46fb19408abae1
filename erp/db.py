"""The database: one engine per process, a complete schema on first start (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel, create_engine

import erp.models  # noqa: F401  (registers every table on SQLModel.metadata)

# How long a SQLite writer waits for another's lock before "database is locked". Long writers
# (a report import) commit in batches, so background work gets in between within this.
BUSY_TIMEOUT = 30.0
# On Slack's acknowledgement path a write must not wait: Slack gives up after 3 seconds.
QUICK_BUSY_TIMEOUT = 0.1
# SQLite connections kept open per engine: enough for every server and listener thread at once.
# Beyond the pool a connection is opened (with its pragmas) and closed again for each use.
SQLITE_POOL_SIZE = 32


def is_memory_sqlite(url: str) -> bool:
    return url in ("sqlite://", "sqlite:///:memory:")


def make_engine(url: str, *, busy_timeout: float = BUSY_TIMEOUT) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign keys, so it behaves like a
    server database: readers never wait for a writer, and writers queue instead of failing.

    Args:
        url: the database URL.
        busy_timeout: seconds a SQLite write waits for another writer's lock.
    """
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": busy_timeout}}
        if is_memory_sqlite(url):
            kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_SIZE)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def quick_engine(engine: Engine) -> Engine:
    """An engine for the acknowledgement path: on SQLite, writes give up after a fraction of a
    second instead of queueing behind a long writer (PostgreSQL's row locks never make these
    small inserts wait, so the engine itself is used there, as for an in-memory SQLite).
    """
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name != "sqlite" or is_memory_sqlite(url):
        return engine
    return make_engine(url, busy_timeout=QUICK_BUSY_TIMEOUT)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Create every missing table; safe to call at every start."""
    SQLModel.metadata.create_all(engine)
    with engine.begin() as connection:
        # Databases made before it was dropped keep an index on order.store_id that the unique
        # (store_id, platform_order_id) index already covers; every synced order paid for it.
        connection.exec_driver_sql("DROP INDEX IF EXISTS ix_order_store_id")
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            _drop_retired_foreign_keys(connection)


# Foreign keys older databases carry and new ones are made without: each cost every written row a
# check on PostgreSQL (a report row's check more server time than its COPY; an order's, a third
# of its insert), and what they guarded is deleted by our own code with its parent.
_RETIRED_FOREIGN_KEYS = {"reportrow": "reportrow_report_id_fkey", "order": "order_store_id_fkey"}


def _drop_retired_foreign_keys(connection: Connection) -> None:
    # Looked up first: ALTER TABLE locks the table even when there is nothing to drop, and every
    # process start would then queue behind (and hold up) the syncs writing to it.
    present = connection.exec_driver_sql(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE conname = ANY(%(names)s)",
        {"names": list(_RETIRED_FOREIGN_KEYS.values())},
    ).all()
    for table, name in present:
        if _RETIRED_FOREIGN_KEYS.get(table.strip('"')) == name:
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
