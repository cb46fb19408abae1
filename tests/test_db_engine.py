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
