"""Benchmark: the nightly order sync and report import fanned out to 1, 2 and 4 workers.

Simulated stores on the Amazon sandbox (a child process; each request waits --latency-ms, like
the network; each sandbox renders every order's JSON once before anything is timed and serves
order pages from those rendered orders, as bench/sync.py says) sync into a fresh PostgreSQL
database. For each worker count the scheduler's own enqueueing job queues one task per store
(`bot.scheduling.enqueueing_jobs`), `python app.py worker --queues sync` processes take them,
and the benchmark waits until every store's run has finished; then the same for the nightly
report import (one task per store, `--queues nightly`).
Printed: wall time, orders and report rows per second, peak memory per worker, the sync's speed-up
over one store at a time in one process, and, side by side in the same run, the page writer's CPU per
order against a plain Core upsert, a report import against plain `csv` + executemany (SQLite)
and `csv` + COPY (PostgreSQL), and `serve`'s ack latency (with a broker; on SQLite and on
PostgreSQL) against a bare Bolt app under the same load, each as a ratio.

    .venv/bin/python bench/scale.py [--stores 20] [--orders 1000] [--latency-ms 20] [--workers 1,2,4]
        [--threads 16] [--listings 2000] [--import-rows 200000] [--requests 200] [--clients 20]

The 2,000-store run: --stores 2000 --orders 200 --listings 200 --requests 0. Needs PostgreSQL
(DATABASE_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres: a database is
created and dropped) and Redis (SELLERDESK_BROKER_URL,
default redis://127.0.0.1:6379/10: that database is emptied).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import report_import  # noqa: E402
import upsert  # noqa: E402
from ack_latency import (  # noqa: E402
    client_objects_frozen,
    free_port,
    peak_memory_mb,
    prepare_database,
    signed_command,
    start_fake_slack,
)
from cpu_meter import CpuSplit, RunMeter, postgres_server_pid, process_cpu, redis_server_pid  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402
from sync import fresh_database  # noqa: E402

from erp.db import create_schema, make_engine  # noqa: E402
from erp.models import Account, Store  # noqa: E402

SECRET = "bench-signing-secret-0123456789"


def seed(url: str, store_fields: list[dict[str, Any]]) -> None:
    engine = make_engine(url)
    create_schema(engine)
    with Session(engine) as session:
        account = Account(name="scale")
        session.add(account)
        session.commit()
        for number, fields in enumerate(store_fields):
            session.add(Store(account_id=account.id or 0, name=f"Amazon {number:04d}", **fields))
        session.commit()
    engine.dispose()


def reset(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text('TRUNCATE "order", syncrun, auditlog'))
        conn.execute(text("UPDATE store SET order_watermark = NULL, last_order_sync_at = NULL"))
    engine.dispose()


def serve_stores(stores: int, orders: int, listings: int, latency: float, pipe: Connection) -> None:
    """Child process: one Amazon sandbox per store, with orders and listings (for the reports),
    all on one host under a path each, as a platform serves its sellers: a server per store
    would mean thousands of listening threads polling on two cores."""
    from erp.sandbox.amazon import AmazonSandbox
    from erp.sandbox.generate import amazon_data
    from erp.sandbox.httpserver import SandboxHost

    host = SandboxHost("amazon-sandboxes")  # started by the first mount
    fields = []
    for seed in range(stores):
        sandbox = AmazonSandbox(amazon_data(seed=seed, orders=orders, listings=listings, days=28))
        sandbox.prerender_orders()  # each order's JSON rendered once, before anything is timed
        sandbox.server.stop_recording()  # a run of thousands of stores would keep every page
        sandbox.mount(host)
        sandbox.faults.slow(latency)
        fields.append(sandbox.store_fields(rate_limit_scale=10_000.0))
    pipe.send(fields)
    pipe.recv()
    host.stop()


def finished_runs(probe: Engine, job: str) -> int:
    """Stores whose sync has finished, or reports whose import has; polled while the run goes on,
    on one kept connection and reading only the small run tables (a new connection each time, or
    counting orders or report rows as they grow, would spend the server CPU the run is measured on)."""
    query = (
        "SELECT count(DISTINCT store_id) FROM syncrun WHERE status <> 'running'"
        if job == "order_sync"
        else "SELECT count(*) FROM platformreport WHERE status IN ('done', 'failed', 'cancelled')"
    )
    with probe.connect() as conn:
        done = conn.execute(text(query)).scalar()
    return int(done or 0)


def stored_count(url: str, job: str) -> int:
    """Orders stored (order sync) or report rows stored (report import)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        table = '"order"' if job == "order_sync" else "reportrow"
        count = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    engine.dispose()
    return int(count or 0)


def sequential(url: str, meter: RunMeter) -> tuple[float, CpuSplit]:
    """One store at a time, in this process: the baseline of the speed-up, on the same store locks
    (and so the same connection per store) as the workers' sync."""
    from erp.jobs.locks import store_locks_for
    from erp.jobs.order_sync import OrderSync
    from erp.platforms.registry import ConnectorRegistry

    engine = make_engine(url)
    registry = ConnectorRegistry()
    locks = store_locks_for(engine)
    sync = OrderSync(lambda: Session(engine), registry.connector_for, max_workers=1, store_lock=locks)
    meter.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    sync.sync_all()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    split = meter.stop(workers=cpu)
    registry.close()
    engine.dispose()
    return elapsed, split


def components_for(env: dict[str, str]) -> Any:
    from app import Components
    from bot.settings import Settings

    return Components(Settings.from_env(env))


@dataclass(frozen=True)
class FanOut:
    wall: float
    count: int  # orders stored (order sync) or report rows stored (report import)
    peak_mb: float  # of the largest worker
    cpu: CpuSplit


def fan_out(
    url: str,
    env: dict[str, str],
    meter: RunMeter,
    workers: int,
    threads: int,
    stores: int,
    job: str = "order_sync",
) -> FanOut:
    """Start `workers` worker processes, enqueue the nightly `job` and wait until every run is done."""
    from bot.scheduling import enqueueing_jobs

    procs = [
        subprocess.Popen(
            [
                *(sys.executable, str(ROOT / "app.py"), "worker"),
                *("--queues", "sync" if job == "order_sync" else "nightly", "--threads", str(threads)),
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    try:
        for proc in procs:
            assert proc.stderr is not None
            for line in proc.stderr:
                if "worker running" in line:
                    break
        components = components_for(env)
        enqueue = enqueueing_jobs(components, components.tasks)[job]  # the broker, made untimed
        ready_cpu = sum(process_cpu(proc.pid) for proc in procs)  # start-up is not the job's CPU
        probe = make_engine(url)
        try:
            meter.start()
            started = time.perf_counter()
            enqueue()
            expected = stores if job == "order_sync" else 2 * stores  # listings and inventory per store
            while finished_runs(probe, job) < expected:
                if all(proc.poll() is not None for proc in procs):
                    raise RuntimeError(f"every worker exited before the {job} runs finished")
                # Often enough that the wall time is within a few per cent of a 3 s run; the
                # query reads only the small run table, on a kept connection.
                time.sleep(0.02)
            elapsed = time.perf_counter() - started
            split = meter.stop(workers=sum(process_cpu(proc.pid) for proc in procs) - ready_cpu)
        finally:
            probe.dispose()
        peak = max(peak_memory_mb(proc.pid) for proc in procs)
        return FanOut(elapsed, stored_count(url, job), peak, split)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def ack_latencies(url: str, port: int, requests: int, clients: int, fake: Any) -> list[float]:
    with (
        client_objects_frozen(),
        httpx.Client(timeout=10, limits=httpx.Limits(max_connections=clients)) as client,
    ):
        with ThreadPoolExecutor(max_workers=clients) as pool:
            return list(pool.map(lambda i: signed_command(client, url, fake, i), range(requests)))


def wait_healthy(url: str, proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.post(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def ack_comparison(env: dict[str, str], base: str, requests: int, clients: int) -> None:
    """`serve` with a broker (acks and enqueues) against a bare Bolt app, the same load: `serve`
    on SQLite (one machine) and on PostgreSQL (replicas behind a load balancer)."""
    fake, fake_server = start_fake_slack()
    with tempfile.TemporaryDirectory() as tmp:
        databases = {"SQLite": f"sqlite:///{tmp}/ack.db", "PostgreSQL": fresh_database(base, tmp, "ack")}
        for url in databases.values():
            prepare_database(url, users=20)
        runs = [("bare Bolt", databases["SQLite"])] + [
            (f"serve, {name}", url) for name, url in databases.items()
        ]
        results: dict[str, list[float]] = {}
        for label, url in runs:
            serve_env = {
                **env,
                "DATABASE_URL": url,
                "SLACK_API_URL": fake.url,
                "SLACK_SIGNING_SECRET": SECRET,
            }
            port = free_port()
            args = (
                [str(ROOT / "bench" / "bare_bolt.py"), str(port), SECRET, fake.url]
                if label == "bare Bolt"
                else [str(ROOT / "app.py"), "serve", "--host", "127.0.0.1", "--port", str(port)]
            )
            proc = subprocess.Popen(
                [sys.executable, *args], cwd=ROOT, env=serve_env, stderr=subprocess.DEVNULL
            )
            try:
                events = f"http://127.0.0.1:{port}/slack/events"
                wait_healthy(events, proc)
                ack_latencies(events, port, 20, clients, fake)  # warm up
                results[label] = sorted(ack_latencies(events, port, requests, clients, fake))
            finally:
                proc.terminate()
                proc.wait(timeout=20)
    fake_server.shutdown()
    p99s = {}
    for label, values in results.items():
        p50, p99 = statistics.median(values) * 1000, values[int(len(values) * 0.99) - 1] * 1000
        p99s[label] = p99
        print(
            f"  ack {label:20s} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
            f"({requests} commands, {clients} clients)"
        )
    bare = p99s.pop("bare Bolt")
    ratios = ", ".join(f"{label.removeprefix('serve, ')} {p99 / bare:.2f}x" for label, p99 in p99s.items())
    print(f"  ack p99 ratio serve (with a broker)/bare Bolt: {ratios}")


def import_comparison(base: str, rows: int) -> None:
    """One listings report imported by the project and by the plain baseline into the same table
    (`bench/report_import.py`): `csv` + executemany on SQLite, `csv` + one COPY on PostgreSQL."""
    with tempfile.TemporaryDirectory() as workdir:
        report, plain_report = Path(workdir) / "listings.tsv", Path(workdir) / "listings-plain.tsv"
        report_import.write_report(report, rows, False)
        report_import.write_report(plain_report, rows, False)
        databases = {
            "SQLite, executemany": f"sqlite:///{workdir}/import.db",
            "PostgreSQL, COPY": fresh_database(base, workdir, "import"),
        }
        for label, url in databases.items():
            engine = make_engine(url)
            sessions, store_id = report_import.seeded_store(engine)
            project, plain = report_import.one_round(engine, sessions, store_id, report, plain_report)
            engine.dispose()
            mine, theirs = project[0] / project[1], plain[0] / plain[1]
            print(
                f"  report import ({label}, {rows:,} rows): project {mine:,.0f} rows/s, "
                f"plain {theirs:,.0f} rows/s: {mine / theirs:.2f}x"
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--orders", type=int, default=1000, help="orders per store")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run")
    parser.add_argument("--threads", type=int, default=16, help="threads per worker")
    parser.add_argument(
        "--listings", type=int, default=2000, help="listings per store (report rows; 0 skips)"
    )
    parser.add_argument("--requests", type=int, default=200, help="ack comparison: commands sent (0 skips)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--import-rows", type=int, default=200_000, help="import comparison: report rows (0 skips)"
    )
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    broker = os.environ.get("SELLERDESK_BROKER_URL") or "redis://127.0.0.1:6379/10"
    import redis

    redis.Redis.from_url(broker).flushdb()
    counts = [int(part) for part in args.workers.split(",") if part.strip()]
    parent, child = multiprocessing.Pipe()
    sandboxes = multiprocessing.Process(
        target=serve_stores,
        args=(args.stores, args.orders, args.listings, args.latency_ms / 1000, child),
        daemon=True,
    )
    sandboxes.start()
    store_fields = parent.recv()
    with tempfile.TemporaryDirectory() as workdir:
        url = fresh_database(base, workdir, "scale")
        seed(url, store_fields)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SELLERDESK_"))}
        env.update(
            DATABASE_URL=url,
            SELLERDESK_BROKER_URL=broker,
            SLACK_BOT_TOKEN="xoxb-bench",
            SELLERDESK_DATA_DIR=os.path.join(workdir, "data"),
        )
        total = args.stores * args.orders
        print(
            f"{args.stores} stores x {args.orders} orders, {args.latency_ms:g} ms per platform request, "
            f"PostgreSQL, {os.cpu_count()} cores"
        )
        meter = RunMeter(postgres_server_pid(url), sandboxes.pid or 0, redis_server_pid(broker))
        reset(url)
        alone, alone_cpu = sequential(url, meter)
        print(f"  one store at a time, one process: {alone:6.2f} s  {total / alone:8.0f} orders/s")
        cores = os.cpu_count() or 1
        # 8x means the run ends in alone/8 s, so every process together has at most cores * alone/8
        # seconds of CPU for all the orders: the budget a run's CPU per order is held against.
        budget = cores * alone / 8 / total * 1e6
        print(f"    {alone_cpu.per_order(total)} (8x on {cores} cores needs at most {budget:.0f} us)")
        for workers in counts:
            reset(url)
            run = fan_out(url, env, meter, workers, args.threads, args.stores)
            print(
                f"  {workers} worker(s) x {args.threads} threads: {run.wall:6.2f} s  "
                f"{run.count / run.wall:8.0f} orders/s  "
                f"{alone / run.wall:5.1f}x sequential  peak RSS per worker {run.peak_mb:.0f} MB"
                + ("" if run.count == total else f"  (stored {run.count} of {total})")
            )
            print(f"    {run.cpu.per_order(run.count)}")
        for workers in counts if args.listings else []:
            with make_engine(url).begin() as conn:
                conn.execute(text("TRUNCATE reportrow, platformreport CASCADE"))
            run = fan_out(url, env, meter, workers, args.threads, args.stores, job="report_import")
            print(
                f"  report import, {workers} worker(s): {run.wall:6.2f} s  "
                f"{run.count / run.wall:8.0f} rows/s  "
                f"({run.count} rows, 2 reports per store)  peak RSS per worker {run.peak_mb:.0f} MB"
            )
            print(f"    {run.cpu.per_item(run.count, 'row', 'importing')}")
    parent.send("done")
    sandboxes.join(timeout=10)

    # Side by side, same run: the page writer against a plain Core upsert (CPU per order).
    with tempfile.TemporaryDirectory() as workdir:
        orders = upsert.make_orders(5000, "Unshipped")
        figures = {}
        for label, writer in (("page writer", upsert.writer_pass), ("plain Core upsert", upsert.core_pass)):
            engine, store_id = upsert.seeded(upsert.fresh_database(base, workdir, label.split()[0]))
            figures[label] = writer(engine, store_id, orders) / len(orders) * 1e6
            engine.dispose()
        writer, core = figures["page writer"], figures["plain Core upsert"]
        print(
            f"  order upsert CPU: page writer {writer:.1f} us/order, "
            f"plain Core upsert {core:.1f} us/order: {writer / core:.2f}x"
        )
    if args.import_rows:
        import_comparison(base, args.import_rows)
    if args.requests:
        ack_comparison(env, base, args.requests, args.clients)
    return 0


if __name__ == "__main__":
    sys.exit(main())
