"""Benchmark: CPU per order of the order sync's page writer, beside a plain Core upsert.

The same pages (100 orders each, three datetimes and a SKU list per order) go into a fresh
database twice: once through `OrderSync` (its page writer, with the run bookkeeping, from an
in-memory marketplace so no network time is counted), once through a plain SQLAlchemy Core
`INSERT ... ON CONFLICT DO UPDATE` executemany of ready-made dicts. Then each writes the same
pages again with every order changed (the update path). Prints CPU microseconds per order and
the ratio writer / baseline (target: <= 40 us per order).

    .venv/bin/python bench/upsert.py [--orders 20000] [--repeat 3]

DATABASE_URL (PostgreSQL) is used when set; otherwise an SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from erp.db import create_schema, make_engine  # noqa: E402
from erp.jobs.order_sync import OrderSync  # noqa: E402
from erp.models import Account, Order, Store  # noqa: E402
from erp.platforms.base import OrderPage, PlatformOrder  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync import fresh_database  # noqa: E402  (the same fresh database as the sync benchmark)

PAGE = 100
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def make_orders(count: int, status: str) -> list[PlatformOrder]:
    return [
        PlatformOrder(
            order_id=f"112-{i:07d}-0000001",
            platform_status=status,
            fulfilled_by_platform=i % 5 == 0,
            purchased_at=NOW - timedelta(days=2, seconds=i),
            updated_at=NOW - timedelta(days=1, seconds=count - i),
            total_amount=f"{10 + i % 90}.99",
            currency="USD",
            skus=[f"SKU-{i % 97:03d}", f"SKU-{i % 13:03d}"],
        )
        for i in range(count)
    ]


class Pages:
    """An in-memory marketplace: every order in pages of 100, whatever the window."""

    def __init__(self, orders: list[PlatformOrder]) -> None:
        self.orders = orders

    def list_orders(self, *, updated_after: datetime, cursor: str | None = None) -> OrderPage:
        start = int(cursor or 0)
        chunk = self.orders[start : start + PAGE]
        following = start + PAGE
        return OrderPage(chunk, str(following) if following < len(self.orders) else None)


def seeded(url: str) -> tuple[Engine, int]:
    engine = make_engine(url)
    create_schema(engine)
    with Session(engine) as session:
        account = Account(name="bench")
        session.add(account)
        session.commit()
        store = Store(account_id=account.id or 0, name="Amazon US", platform="amazon")
        session.add(store)
        session.commit()
        return engine, store.id or 0


def cpu(run: Callable[[], object]) -> float:
    started = time.process_time()
    run()
    return time.process_time() - started


def writer_pass(engine: Engine, store_id: int, orders: list[PlatformOrder]) -> float:
    market = Pages(orders)
    sync = OrderSync(lambda: Session(engine), lambda store: market, max_workers=1)  # type: ignore[arg-type,return-value]
    result: list[Any] = []
    seconds = cpu(lambda: result.append(sync.sync_store(store_id)))
    assert not result[0].error, result[0].error
    return seconds


def core_rows(store_id: int, orders: list[PlatformOrder]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(orders), PAGE):
        yield [
            {
                "store_id": store_id,
                "platform_order_id": o.order_id,
                "status": "ignored" if o.fulfilled_by_platform else "pending_processing",
                "platform_status": o.platform_status,
                "fulfillment_channel": "AFN" if o.fulfilled_by_platform else "MFN",
                "purchased_at": o.purchased_at,
                "platform_updated_at": o.updated_at,
                "total_amount": o.total_amount,
                "currency": o.currency,
                "skus": list(o.skus),
                "synced_at": NOW,
            }
            for o in orders[start : start + PAGE]
        ]


def core_pass(engine: Engine, store_id: int, orders: list[PlatformOrder]) -> float:
    """The baseline: a plain Core upsert per page, one transaction each, nothing else."""
    table: Any = Order.__table__  # type: ignore[attr-defined]
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["store_id", "platform_order_id"],
        set_={name: statement.excluded[name] for name in ("status", "platform_status", "skus", "synced_at")},
    )

    def run() -> None:
        for rows in core_rows(store_id, orders):
            with engine.begin() as connection:
                connection.execute(statement, rows)

    return cpu(run)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the median is shown")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL") or None
    if base and base.startswith("postgresql://"):
        base = "postgresql+psycopg://" + base.removeprefix("postgresql://")
    fresh, changed = make_orders(args.orders, "Unshipped"), make_orders(args.orders, "Shipped")
    figures: dict[str, list[float]] = {
        "writer new": [],
        "core new": [],
        "writer changed": [],
        "core changed": [],
    }
    with tempfile.TemporaryDirectory() as workdir:
        for attempt in range(args.repeat):
            for label, writer in (("writer", writer_pass), ("core", core_pass)):
                url = fresh_database(base, workdir, f"{label}{attempt}")
                engine, store_id = seeded(url)
                figures[f"{label} new"].append(writer(engine, store_id, fresh) / args.orders * 1e6)
                figures[f"{label} changed"].append(writer(engine, store_id, changed) / args.orders * 1e6)
                engine.dispose()
    backend = "PostgreSQL" if base else "SQLite"
    print(
        f"{args.orders} orders in pages of {PAGE} into {backend}; "
        f"CPU us per order, median (min-max) of {args.repeat}"
    )
    for kind in ("new", "changed"):
        writer, core = figures[f"writer {kind}"], figures[f"core {kind}"]
        ratio = statistics.median(writer) / statistics.median(core)
        print(
            f"  {kind:8s} page writer {statistics.median(writer):6.1f} ({min(writer):.1f}-{max(writer):.1f})"
            f"   plain Core upsert {statistics.median(core):6.1f} ({min(core):.1f}-{max(core):.1f})"
            f"   ratio {ratio:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
