"""The engine's SQLite settings: readers never wait for a writer, writers queue, acks do not."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from erp.db import BUSY_TIMEOUT, QUICK_BUSY_TIMEOUT, quick_engine


def _pragma(engine: Engine, name: str) -> object:
    with engine.connect() as connection:
        return connection.execute(text(f"PRAGMA {name}")).scalar()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has neither setting")
    assert _pragma(engine, "journal_mode") == "wal"
    assert _pragma(engine, "busy_timeout") == int(BUSY_TIMEOUT * 1000)
    quick = quick_engine(engine)
    try:
        assert quick is not engine and _pragma(quick, "journal_mode") == "wal"
        assert _pragma(quick, "busy_timeout") == int(QUICK_BUSY_TIMEOUT * 1000)
    finally:
        quick.dispose()


def test_postgresql_acks_use_the_engine_itself(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite gets an engine of its own for acks")
    assert quick_engine(engine) is engine


def test_an_older_database_loses_the_redundant_order_store_index(engine: Engine) -> None:
    # Databases made before keep an index on order.store_id that the unique (store_id,
    # platform_order_id) index covers; it goes at start, and the unique index stays.
    from sqlalchemy import inspect

    from erp.db import create_schema

    with engine.begin() as connection:
        connection.exec_driver_sql('CREATE INDEX ix_order_store_id ON "order" (store_id)')
    assert "ix_order_store_id" in {index["name"] for index in inspect(engine).get_indexes("order")}
    create_schema(engine)
    inspector = inspect(engine)
    assert "ix_order_store_id" not in {index["name"] for index in inspector.get_indexes("order")}
    unique = inspector.get_unique_constraints("order")
    assert ["store_id", "platform_order_id"] in [constraint["column_names"] for constraint in unique]


@pytest.mark.parametrize(
    ("table", "constraint", "references"),
    [
        ("reportrow", "reportrow_report_id_fkey", "(report_id) REFERENCES platformreport (id)"),
        ('"order"', "order_store_id_fkey", "(store_id) REFERENCES store (id)"),
    ],
)
def test_an_older_postgresql_database_loses_the_retired_foreign_keys(
    engine: Engine, table: str, constraint: str, references: str
) -> None:
    # Databases made before keep foreign keys whose check cost every written report row or new
    # order more than it guarded; they go at start, and the tables' unique indexes stay.
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite tables made before keep theirs: they are rebuilt only by a new database")
    from sqlalchemy import inspect

    from erp.db import create_schema

    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"ALTER TABLE {table} ADD CONSTRAINT {constraint} FOREIGN KEY {references}"
        )
    name = table.strip('"')
    assert inspect(engine).get_foreign_keys(name)
    create_schema(engine)
    inspector = inspect(engine)
    assert inspector.get_foreign_keys(name) == []
    if name == "order":
        unique = inspector.get_unique_constraints("order")
        assert ["store_id", "platform_order_id"] in [c["column_names"] for c in unique]


def test_a_process_starting_while_a_sync_writes_orders_does_not_wait_for_it(engine: Engine) -> None:
    # Every serve or worker start runs create_schema: with nothing left to drop it must not take
    # a lock on the order table, or it would queue behind a running sync's page (and every page
    # after it behind the start).
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no table locks")
    from sqlalchemy import create_engine

    from erp.db import create_schema

    url = engine.url.render_as_string(hide_password=False)
    starting = create_engine(url, connect_args={"options": "-c lock_timeout=3s"})
    with engine.connect() as syncing:
        syncing.exec_driver_sql('LOCK TABLE "order" IN ROW EXCLUSIVE MODE')  # as a page's insert does
        try:
            create_schema(starting)  # a lock wait fails here after 3 s
        finally:
            syncing.rollback()
            starting.dispose()
