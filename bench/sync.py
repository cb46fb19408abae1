"""Benchmark: order sync of 50 stores x 2,000 orders from the Amazon sandbox, concurrent vs one by one.

The sandbox platforms run in a child process (as a real marketplace runs elsewhere) and answer
each request after a small delay that models the network. Before anything is timed each sandbox
renders every order's getOrders JSON once (`AmazonSandbox.prerender_orders`); an order list page is
those rendered orders joined (an order changed since is rendered again), so the sandbox's CPU per
page is its paging, checks and HTTP, the same in both runs. The same stores sync twice, each time
into a fresh database: once one store at a time, once concurrently. Prints both wall times, the
speed-up (target >= 8x), orders per second into the database and this process's peak memory
(target < 300 MB).

    .venv/bin/python bench/sync.py [--stores 50] [--orders 2000] [--latency-ms 20] [--workers 16]

DATABASE_URL (PostgreSQL) is used when set; otherwise SQLite files in a temporary directory.
"""

from __future__ import annotations

import argparse
import atexit
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from erp.db import create_schema, make_engine  # noqa: E402
from erp.jobs.order_sync import OrderSync  # noqa: E402
from erp.models import Account, Store  # noqa: E402
from erp.platforms.registry import ConnectorRegistry  # noqa: E402
from erp.progress import StoreSyncProgress  # noqa: E402


def serve_sandboxes(stores: int, orders: int, latency: float, pipe: Connection) -> None:
    """Child process: one Amazon sandbox per store, each with its own seller and orders."""
    from erp.sandbox.amazon import AmazonSandbox
    from erp.sandbox.generate import amazon_data

    sandboxes = []
    for seed in range(stores):
        sandbox = AmazonSandbox(amazon_data(seed=seed, orders=orders, days=28))
        sandbox.prerender_orders()  # each order's JSON rendered once, before anything is timed
        sandbox.start()
        sandbox.faults.slow(latency)
        sandboxes.append(sandbox)
    pipe.send([sandbox.store_fields(rate_limit_scale=10_000.0) for sandbox in sandboxes])
    pipe.recv()  # wait until the benchmark is done
    for sandbox in sandboxes:
        sandbox.stop()


def fresh_database(base_url: str | None, workdir: str, label: str) -> str:
    """An empty database: an SQLite file in `workdir`, or a PostgreSQL database dropped when the
    benchmark exits (however it exits short of being killed)."""
    if base_url is None:
        return f"sqlite:///{os.path.join(workdir, label + '.db')}"
    name = f"sellerdesk_bench_{label}_{os.getpid()}"
    _drop_database(base_url, name)
    admin = make_engine(base_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    atexit.register(_drop_database, base_url, name)
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(base_url: str, name: str) -> None:
    admin = make_engine(base_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run_sync(database_url: str, store_fields: list[dict[str, Any]], workers: int) -> tuple[float, int, int]:
    """Sync every store into a fresh database; returns (seconds, orders inserted, stores failed).

    Also prints the CPU time this process spent: near the wall time means the sync itself is
    CPU bound (the GIL), far below it means it waits on the marketplace or the database.
    """
    engine = make_engine(database_url)
    create_schema(engine)
    with Session(engine) as session:
        account = Account(name="bench")
        session.add(account)
        session.commit()
        for number, fields in enumerate(store_fields):
            session.add(Store(account_id=account.id or 0, name=f"Amazon {number:02d}", **fields))
        session.commit()
        account_id = account.id or 0
    registry = ConnectorRegistry()
    sync = OrderSync(lambda: Session(engine), registry.connector_for, max_workers=workers)
    done: list[StoreSyncProgress] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    results = sync.sync_account(account_id, progress=lambda p: done.append(p) if p.done else None)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"  ({workers} at once) CPU time of the syncing process: {cpu:.2f} s of {elapsed:.2f} s wall")
    registry.close()
    engine.dispose()
    failed = [r for r in results if r.error]
    for result in failed[:3]:
        print(f"  failed: {result.error}")
    return elapsed, sum(r.inserted for r in results), len(failed)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="sandbox delay per request")
    parser.add_argument(
        "--workers", type=int, default=16, help="stores synced at once (the default of OrderSync)"
    )
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL") or None
    if base_url and base_url.startswith("postgresql://"):
        base_url = "postgresql+psycopg://" + base_url.removeprefix("postgresql://")

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve_sandboxes, args=(args.stores, args.orders, args.latency_ms / 1000, child), daemon=True
    )
    generating = time.perf_counter()
    server.start()
    store_fields = parent.recv()
    ready = time.perf_counter() - generating
    print(
        f"{args.stores} sandbox stores x {args.orders:,} orders ready in {ready:.1f} s "
        f"(latency {args.latency_ms:g} ms per request); cores: {os.cpu_count()}; "
        f"database: {'PostgreSQL' if base_url else 'SQLite'}"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="sellerdesk-bench-") as workdir:
            one_by_one, inserted_seq, failed_seq = run_sync(
                fresh_database(base_url, workdir, "sequential"), store_fields, workers=1
            )
            print(f"one store at a time: {one_by_one:.2f} s, {inserted_seq:,} orders, {failed_seq} failed")
            concurrent, inserted, failed = run_sync(
                fresh_database(base_url, workdir, "concurrent"), store_fields, workers=args.workers
            )
            print(
                f"concurrent ({args.workers} stores at once): {concurrent:.2f} s, {inserted:,} orders, "
                f"{failed} stores failed"
            )
    finally:
        parent.send("stop")
        server.join(timeout=30)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    speedup = one_by_one / concurrent
    rate = inserted / concurrent
    print(f"speed-up: {speedup:.1f}x (target >= 8x)")
    print(f"orders per second into the database (concurrent): {rate:,.0f}")
    print(f"peak memory of the syncing process: {peak_mb:.0f} MB (target < 300 MB)")
    return 0 if inserted == inserted_seq == args.stores * args.orders else 1


if __name__ == "__main__":
    sys.exit(main())
