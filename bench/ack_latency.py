"""Ack latency of `serve`: 200 signed slash commands from 20 concurrent clients.

Starts a fake Slack Web API in this process and `python app.py serve` as a child process over a
fresh SQLite database (or DATABASE_URL), sends commands signed exactly as Slack signs them and
prints the acknowledgement latency (median, p99, max, how many over 3 s) and the server's peak
memory. The checks the commands start run after the ack, as in production; the benchmark waits
for their answers too and prints how long the last one took.

    .venv/bin/python bench/ack_latency.py [--requests 200] [--clients 20]

With `--import-rows 1000000` a listings report of that many rows is imported by its own process
(`app.py report import`, as the scheduler or an administrator runs it) into the same database
while the clients keep sending, commands and message events alternating, until the import has
ended: on SQLite the import holds the write lock for long stretches, and no ack may wait for it.

With DATABASE_URL set, it must name an empty database (the benchmark seeds it).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_slack import FakeSlack, _Handler, seed_world, sign  # noqa: E402

SECRET = "bench-signing-secret-0123456789"
COMMANDS = [
    ("/check-sku", "DEMO-UP-FAILED"),
    ("/price-status", "DEMO-UP-OK"),
    ("/sellerdesk", "help"),
    ("/sellerdesk", "why is DEMO-UP-OK missing from the upload page"),
]


@contextmanager
def client_objects_frozen() -> Iterator[None]:
    """While the clients send: this process's objects left out of garbage collection.

    The process holds about 120,000 objects (the benchmark, SQLAlchemy, the fake Slack): a full
    collection of them pauses every client thread for tens of milliseconds, which the requests in
    flight then count as the server's. In a run of 1,000 commands the run that met one had a p99
    40-50 ms higher, whichever app it measured.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def start_fake_slack() -> tuple[FakeSlack, ThreadingHTTPServer]:
    fake = FakeSlack()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("BenchHandler", (_Handler,), {"fake": fake}))
    server.daemon_threads = True
    fake.root = f"http://127.0.0.1:{server.server_address[1]}/"
    fake.url = fake.root + "api/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server


def prepare_database(url: str, users: int) -> None:
    from sqlmodel import Session

    from erp.accounts import link_slack_user
    from erp.db import create_schema, make_engine
    from erp.models import Account

    engine = make_engine(url)
    create_schema(engine)
    with Session(engine, expire_on_commit=False) as session:
        world = seed_world(session)
        account = session.get(Account, world.demo_id)
        for index in range(users):
            link_slack_user(session, team_id="T1", user_id=f"UB{index}", account=account, role="owner")
    engine.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_memory_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def signed_event(client: httpx.Client, url: str, index: int) -> float:
    """A DM message event: its event id is recorded while Slack waits (a write on the ack path)."""
    import json

    body = json.dumps(
        {
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": f"EvBench{index:08d}",
            "event_time": int(time.time()),
            "event": {
                "type": "message",
                "channel": f"DB{index % 20}",
                "user": f"UB{index % 20}",
                "text": "help",
                "ts": f"{int(time.time())}.{index:06d}",
                "channel_type": "im",
            },
            "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
        }
    ).encode()
    return _send(client, url, body, "application/json", index)


def _send(client: httpx.Client, url: str, body: bytes, content_type: str, index: int) -> float:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(SECRET, timestamp, body),
    }
    started = time.perf_counter()
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        return float("inf")  # no ack within the client's 10 s: counted, never hidden
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"request {index}: HTTP {response.status_code}")
    return elapsed


def start_import(url: str, rows: int, workdir: str) -> subprocess.Popen[str]:
    """Write a listings report of `rows` rows and start importing it into Amazon US."""
    from bench.report_import import write_report

    report = Path(workdir) / "listings.tsv"
    write_report(report, rows, compress=False)
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "report",
            "import",
            str(report),
            "--store",
            "Amazon US",
            "--kind",
            "listings",
        ],
        env={**os.environ, "DATABASE_URL": url},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def signed_command(client: httpx.Client, url: str, fake: FakeSlack, index: int) -> float:
    command, text = COMMANDS[index % len(COMMANDS)]
    form = {
        "team_id": "T1",
        "channel_id": f"C{index % 5}",
        "user_id": f"UB{index % 20}",
        "command": command,
        "text": text,
        "response_url": fake.response_url(),
        "trigger_id": f"bench-{index}",
    }
    body = urllib.parse.urlencode(form).encode()
    return _send(client, url, body, "application/x-www-form-urlencoded", index)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--import-rows", type=int, default=0, help="import a report of this many rows meanwhile (0: none)"
    )
    args = parser.parse_args()

    fake, fake_server = start_fake_slack()
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        prepare_database(url, users=20)
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.url,
            "SELLERDESK_DATA_DIR": f"{tmp}/data",
        }
        started = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.perf_counter() - started > 60:
                    print("serve did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            startup = time.perf_counter() - started
            importer = start_import(url, args.import_rows, tmp) if args.import_rows else None
            sent = time.perf_counter()
            with client_objects_frozen():
                latencies, kinds = send_all(args, base + "/slack/events", fake, importer)
            acked = time.perf_counter() - sent
            imported = ""
            if importer is not None:
                out, err = importer.communicate(timeout=600)
                imported = (
                    out.strip() or err.strip().splitlines()[-1]
                ) + f" (in {time.perf_counter() - sent:.1f} s)"
            answers_expected = sum(
                1
                if kind == "event"
                else 0
                if COMMANDS[i % len(COMMANDS)][1] == "help"
                else (2 if COMMANDS[i % len(COMMANDS)][0] == "/check-sku" else 1)
                for i, kind in kinds
            )
            deadline = time.perf_counter() + 120
            while (
                len(fake.calls_to("chat.postMessage")) < answers_expected and time.perf_counter() < deadline
            ):
                time.sleep(0.05)
            answered = time.perf_counter() - sent
            memory = peak_memory_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)
            fake_server.shutdown()

    latencies.sort()
    ms = [value * 1000 for value in latencies]
    p99 = ms[min(len(ms) - 1, int(round(0.99 * len(ms))) - 1)]
    database = url.split(":", 1)[0]
    print(f"machine: {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}, database {database}")
    print(f"serve start-up (matcher trained, healthz ok): {startup:.1f} s")
    events = sum(1 for _, kind in kinds if kind == "event")
    print(
        f"{len(kinds) - events} signed slash commands and {events} message events "
        f"from {args.clients} concurrent clients in {acked:.2f} s"
    )
    if imported:
        print(f"meanwhile, report import: {imported}")
    print(f"ack latency: median {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")
    print(f"acks over 3 s: {sum(1 for value in latencies if value > 3.0)}")
    posted = len(fake.calls_to("chat.postMessage"))
    # An answer may come as several messages (details in its thread), so the count is a floor.
    print(
        f"messages posted after the acks: {posted} (waited for at least {answers_expected}), "
        f"the last at {answered:.1f} s"
    )
    print(f"server peak memory (VmHWM): {memory:.0f} MB")
    return 0


def send_all(
    args: argparse.Namespace, url: str, fake: FakeSlack, importer: subprocess.Popen[str] | None
) -> tuple[list[float], list[tuple[int, str]]]:
    """Send `args.requests` requests (and, while an import runs, keep sending until it ends)."""
    latencies: list[float] = []
    kinds: list[tuple[int, str]] = []
    lock = threading.Lock()
    counter = iter(range(10**9))

    def client_loop(client: httpx.Client) -> None:
        while True:
            with lock:
                index = next(counter)
            running = importer is not None and importer.poll() is None
            if index >= args.requests and not running:
                return
            # During an import, message events (whose ids are written while Slack waits) alternate
            # with the commands.
            kind = "event" if importer is not None and index % 2 else "command"
            if kind == "event":
                elapsed = signed_event(client, url, index)
            else:
                elapsed = signed_command(client, url, fake, index)
            with lock:
                latencies.append(elapsed)
                kinds.append((index, kind))

    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=args.clients)) as client:
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            for future in [pool.submit(client_loop, client) for _ in range(args.clients)]:
                future.result()
    return latencies, kinds


if __name__ == "__main__":
    sys.exit(main())
