"""Benchmark: `serve` start-up (to "listening") and resident memory, against a bare Bolt app.

Each variant is started as a child process over the same SQLite database, the way an operator
starts it: the bare Bolt app of bench/bare_bolt.py (the floor), `serve` with a broker (it only
acknowledges and queues) and `serve` without one (the tasks run in-process, so it also holds the
matcher). Timed from the process's start to its "listening" line on stderr; the resident set is
read from /proc right then (VmRSS) and after one signed slash command has been acknowledged.
Medians of --runs runs (min-max), and each variant's ratio to the bare app.

    .venv/bin/python bench/startup.py [--runs 5] [--demo]

By default the database holds one real (non-demo) store's account, as a production workspace
does; --demo seeds the embedded demo instead, whose sandbox marketplaces `serve` then starts too.
Needs Redis (SELLERDESK_BROKER_URL, default redis://127.0.0.1:6379/11) for the broker variant.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from ack_latency import free_port, prepare_database, signed_command, start_fake_slack  # noqa: E402

SECRET = "bench-signing-secret-0123456789"


def rss_mb(pid: int) -> float:
    """The process's current resident set (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prepare_real_workspace(url: str) -> None:
    """An account with one linked Slack user and no demo: what a production database holds."""
    from sqlmodel import Session

    from erp.accounts import link_slack_user
    from erp.db import create_schema, make_engine
    from erp.models import Account

    engine = make_engine(url)
    create_schema(engine)
    with Session(engine, expire_on_commit=False) as session:
        account = Account(name="Bench Seller")
        session.add(account)
        session.commit()
        link_slack_user(session, team_id="T1", user_id="UB0", account=account, role="owner")
    engine.dispose()


def start_once(args: list[str], env: dict[str, str], port: int, fake: Any) -> tuple[float, float, float]:
    """Seconds to "listening", RSS then, and RSS after one acknowledged command."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "listening" in line or "bare bolt on" in line:
                break
        else:
            raise RuntimeError(f"{args[0]} exited before listening ({proc.wait()})")
        seconds = time.perf_counter() - started
        at_listen = rss_mb(proc.pid)
        # Keep reading stderr so a chatty child never blocks on a full pipe.
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        with httpx.Client(timeout=30) as client:
            for _ in range(100):  # the socket is bound; the serving thread may lag a moment
                try:
                    signed_command(client, f"http://127.0.0.1:{port}/slack/events", fake, 0)
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
        after_ack = rss_mb(proc.pid)
        return seconds, at_listen, after_ack
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def spread(values: list[float], unit: str, digits: int) -> str:
    return (
        f"{statistics.median(values):.{digits}f} {unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--demo", action="store_true", help="seed the embedded demo instead of a real workspace"
    )
    options = parser.parse_args()
    broker = os.environ.get("SELLERDESK_BROKER_URL") or "redis://127.0.0.1:6379/11"
    fake, fake_server = start_fake_slack()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/startup.db"
        (prepare_database(url, users=1) if options.demo else prepare_real_workspace(url))
        base = {
            k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SELLERDESK_", "DATABASE_"))
        }
        base.update(
            DATABASE_URL=url,
            SLACK_API_URL=fake.url,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_BOT_TOKEN="xoxb-bench",
            SELLERDESK_DATA_DIR=os.path.join(tmp, "data"),
        )
        variants: list[tuple[str, dict[str, str], bool]] = [
            ("bare Bolt", base, True),
            ("serve + broker", {**base, "SELLERDESK_BROKER_URL": broker}, False),
            ("serve, no broker", base, False),
        ]
        results: dict[str, list[tuple[float, float, float]]] = {label: [] for label, _, _ in variants}
        for _ in range(options.runs):
            for label, env, bare in variants:
                port = free_port()
                args = (
                    [str(ROOT / "bench" / "bare_bolt.py"), str(port), SECRET, fake.url]
                    if bare
                    else [str(ROOT / "app.py"), "serve", "--host", "127.0.0.1", "--port", str(port)]
                )
                results[label].append(start_once(args, env, port, fake))
    fake_server.shutdown()
    load = os.getloadavg()[0]
    workspace = "the embedded demo" if options.demo else "a real workspace (no demo)"
    print(f"start-up to listening, SQLite, {workspace}, {options.runs} runs, load average {load:.1f}")
    bare_seconds = statistics.median(r[0] for r in results["bare Bolt"])
    bare_rss = statistics.median(r[1] for r in results["bare Bolt"])
    for label, runs in results.items():
        seconds, at_listen, after_ack = ([r[i] for r in runs] for i in range(3))
        print(
            f"  {label:17s} {spread(seconds, 's', 2)}  RSS {spread(at_listen, 'MB', 0)}, "
            f"after the first ack {spread(after_ack, 'MB', 0)}  "
            f"ratio to bare Bolt: {statistics.median(seconds) / bare_seconds:.1f}x time, "
            f"{statistics.median(at_listen) / bare_rss:.1f}x memory"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
