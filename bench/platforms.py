"""Benchmark: the connector layer alone (no database) against sandbox platforms in a child process.

1. Order listing: S Amazon stores and S Shopee shops x N orders, each request answered after a
   delay that models the network; one store at a time versus all stores on a thread pool sharing
   the one HTTP client. Orders per second and requests per second.
2. Report download: a listings report of R rows, gzip-compressed by the sandbox, downloaded and
   gunzipped as a stream. Megabytes and rows per second, and this process's peak memory (the
   download streams, so memory must not grow with the report).
3. Rate limiter: cost of one uncontended token-bucket acquire.

Prints figures; asserts nothing.

    .venv/bin/python bench/platforms.py [--stores 10] [--orders 2000] [--latency-ms 20]
                                        [--workers 16] [--report-rows 200000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from erp.models import Store  # noqa: E402
from erp.platforms.base import MarketplaceConnector  # noqa: E402
from erp.platforms.ratelimit import RateLimit, TokenBucket  # noqa: E402
from erp.platforms.registry import ConnectorRegistry  # noqa: E402


def serve(stores: int, orders: int, latency: float, report_rows: int, pipe: Connection) -> None:
    """Child process: the sandboxes, as a real marketplace runs elsewhere."""
    from erp.sandbox.amazon import AmazonSandbox
    from erp.sandbox.generate import amazon_data, generate_listings, shopee_data
    from erp.sandbox.shopee import ShopeeSandbox

    sandboxes: list[AmazonSandbox | ShopeeSandbox] = []
    for seed in range(stores):
        sandboxes.append(AmazonSandbox(amazon_data(seed=seed, orders=orders, days=28)))
        sandboxes.append(ShopeeSandbox(shopee_data(seed=seed, orders=orders, days=28)))
    for sandbox in sandboxes:
        sandbox.start()
        sandbox.faults.slow(latency)
    reports = AmazonSandbox()
    reports.add_listings(*generate_listings(report_rows, seed=1))
    reports.start()
    pipe.send([s.store_fields(rate_limit_scale=100_000.0) for s in [*sandboxes, reports]])
    pipe.recv()
    for sandbox in [*sandboxes, reports]:
        sandbox.stop()


def list_all(connector: MarketplaceConnector) -> tuple[int, int]:
    """(orders, pages) of one store's full listing."""
    cursor: str | None = None
    orders = pages = 0
    after = datetime.now(UTC) - timedelta(days=30)
    while True:
        page = connector.list_orders(updated_after=after, cursor=cursor)
        orders += len(page.orders)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return orders, pages


def stores_for(fields: list[dict[str, Any]], first_id: int) -> list[Store]:
    return [Store(id=first_id + n, account_id=1, name=f"store {n}", **f) for n, f in enumerate(fields)]


def bench_listing(fields: list[dict[str, Any]], workers: int) -> None:
    for label, pool_size, first_id in (
        ("one store at a time", 1, 1_000),
        (f"{workers} at once", workers, 2_000),
    ):
        registry = ConnectorRegistry()
        connectors = [registry.connector_for(s) for s in stores_for(fields, first_id)]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=pool_size) as pool:
            results = list(pool.map(list_all, connectors))
        elapsed = time.perf_counter() - started
        orders = sum(r[0] for r in results)
        pages = sum(r[1] for r in results)
        print(
            f"order listing, {label}: {elapsed:.2f} s, {orders:,} orders, {pages:,} pages "
            f"({orders / elapsed:,.0f} orders/s)"
        )
        registry.close()


def bench_report(fields: dict[str, Any]) -> None:
    registry = ConnectorRegistry()
    connector = registry.connector_for(Store(id=9_999, account_id=1, name="reports", **fields))
    state = connector.report_state(connector.request_report("listings"))
    assert state.document_id is not None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    size = lines = 0
    for chunk in connector.download_report(state.document_id):
        size += len(chunk)
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"report download + gunzip: {lines - 1:,} rows, {size / 1e6:.1f} MB in {elapsed:.2f} s "
        f"({size / 1e6 / elapsed:.1f} MB/s, {(lines - 1) / elapsed:,.0f} rows/s); "
        f"peak memory {peak:.0f} MB (before the download: {before:.0f} MB)"
    )
    registry.close()


def bench_bucket(calls: int = 200_000) -> None:
    bucket = TokenBucket(RateLimit(rate=1e9, burst=1_000_000))
    started = time.perf_counter()
    for _ in range(calls):
        bucket.acquire()
    elapsed = time.perf_counter() - started
    print(f"token bucket acquire (uncontended): {elapsed / calls * 1e6:.2f} us per call")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", type=int, default=10, help="stores per platform")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--report-rows", type=int, default=200_000)
    args = parser.parse_args()

    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.Process(
        target=serve, args=(args.stores, args.orders, args.latency_ms / 1000, args.report_rows, theirs)
    )
    child.start()
    fields = ours.recv()
    print(
        f"{args.stores} Amazon + {args.stores} Shopee sandbox stores x {args.orders:,} orders, "
        f"latency {args.latency_ms:g} ms; cores: {os.cpu_count()}"
    )
    try:
        bench_listing(fields[:-1], args.workers)
        bench_report(fields[-1])
        bench_bucket()
    finally:
        ours.send("done")
        child.join()


if __name__ == "__main__":
    main()
