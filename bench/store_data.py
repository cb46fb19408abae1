"""Deleting a big store's data: count, export (zip of JSON lines), hide, undo, purge.

Builds one store with many orders, products and report rows (bulk Core inserts) in a fresh SQLite
database (or DATABASE_URL), then times each step the owner's deletion and the scheduler's purge
take, and prints the export's size. Figures, not assertions.

    .venv/bin/python bench/store_data.py [--orders 20000] [--products 20000] [--report-rows 200000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from erp.db import create_schema, make_engine  # noqa: E402
from erp.models import Account, Order, PlatformReport, Product, ReportRow, Store  # noqa: E402
from erp.store_data import count_store_data, delete_store_data, purge_expired, undo_deletion  # noqa: E402

CHUNK = 10_000


@contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    print(f"{label:<34} {time.perf_counter() - started:8.2f} s")


def _rows(count: int, make: Callable[[int], dict[str, object]]) -> Iterator[list[dict[str, object]]]:
    for start in range(0, count, CHUNK):
        yield [make(n) for n in range(start, min(count, start + CHUNK))]


def build(session: Session, orders: int, products: int, report_rows: int) -> int:
    account = Account(name="bench")
    session.add(account)
    session.commit()
    store = Store(account_id=account.id or 0, name="Big Store", platform="amazon")
    session.add(store)
    session.commit()
    sid, aid = store.id or 0, account.id or 0
    report = PlatformReport(store_id=sid, kind="listings", status="done", row_count=report_rows)
    session.add(report)
    session.commit()
    now = datetime.now(UTC)
    for batch in _rows(
        orders,
        lambda n: {
            "store_id": sid,
            "platform_order_id": f"112-{n:07d}-0000001",
            "status": "shipped",
            "skus": [f"SKU-{n % products}"],
            "synced_at": now,
        },
    ):
        session.execute(insert(Order), batch)
    for batch in _rows(
        products,
        lambda n: {
            "account_id": aid,
            "store_id": sid,
            "sku": f"SKU-{n}",
            "image_urls": [],
            "created_at": now,
            "state": "valid",
            "sales_status": "normal",
        },
    ):
        session.execute(insert(Product), batch)
    for batch in _rows(report_rows, lambda n: {"report_id": report.id, "sku": f"SKU-{n % products}"}):
        session.execute(insert(ReportRow), batch)
    session.commit()
    return sid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--report-rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, _database(tmp) as url:
        engine = make_engine(url)
        create_schema(engine)

        def sessions() -> Session:
            return Session(engine, expire_on_commit=False)

        print(f"database: {engine.url.get_backend_name()}, cpus: {os.cpu_count()}")
        with timed("build (bulk insert)"), sessions() as session:
            sid = build(session, args.orders, args.products, args.report_rows)
        with timed("count"), sessions() as session:
            counts = count_store_data(session, sid)
        print(f"  rows: {counts.as_dict()} total {counts.total}")
        now = datetime.now(UTC)
        with timed("export + hide (owner's delete)"):
            deletion = delete_store_data(sessions, sid, actor="bench", export_dir=f"{tmp}/exports", now=now)
        print(f"  export: {os.path.getsize(deletion.export_path) / 1e6:.1f} MB zip")
        with timed("undo"):
            undo_deletion(sessions, sid, actor="bench", now=now + timedelta(days=1))
        delete_store_data(sessions, sid, actor="bench", export_dir=f"{tmp}/exports2", now=now)
        with timed("purge (scheduler, after 7 days)"), sessions() as session:
            purged = purge_expired(session, now + timedelta(days=8))
        with sessions() as session:
            left = count_store_data(session, sid).total
        print(f"  purged deletions: {purged}, rows left: {left}")
        engine.dispose()


@contextmanager
def _database(tmp: str) -> Iterator[str]:
    """A throw-away database: a SQLite file, or a new PostgreSQL database next to DATABASE_URL's."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgresql"):
        yield f"sqlite:///{tmp}/bench.db"
        return
    if base.startswith("postgresql://"):
        base = "postgresql+psycopg://" + base.removeprefix("postgresql://")
    name = f"bench_store_data_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
