"""Two `serve` processes and two workers on one PostgreSQL and one Redis, as in production.

Seller commands go to both servers (signed as Slack signs them); the servers acknowledge and
queue the work; one worker is killed (SIGKILL) in the middle of an order sync. The other worker
takes the task over: every answer is posted once and every order is stored once.

Skipped when PostgreSQL or Redis is not running on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_slack import FakeSlack, SlackSender

ROOT = Path(__file__).resolve().parent.parent
SECRET = "scale-test-signing-secret-0123"
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
STORES = 3
ORDERS = 500  # per store: 5 pages of 100
PAGE_DELAY = 0.6  # seconds per platform request: a store takes about 3 s, the account about 9 s


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


pytestmark = pytest.mark.skipif(
    not (_listening(5432) and _listening(6379)), reason="needs PostgreSQL and Redis on 127.0.0.1"
)


@pytest.fixture
def pg_url() -> Iterator[str]:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from erp.db import create_schema, make_engine

    name = f"sellerdesk_scale_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_BASE).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_BASE).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def broker_url() -> Iterator[str]:
    import redis

    # A database of its own on the shared Redis, emptied before and after.
    url = f"redis://127.0.0.1:6379/{11 + os.getpid() % 4}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


class Proc:
    """A child process whose stderr is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "app.py", *args], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def wait_for_line(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}:\n" + "".join(self.lines[-40:]))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _seed(url: str, sandboxes: list[Any]) -> int:
    from sqlmodel import Session

    from erp.accounts import link_slack_user
    from erp.db import make_engine
    from erp.models import Account, Store

    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        account = Account(name="scale", display_name="Scale")
        session.add(account)
        session.commit()
        for number, sandbox in enumerate(sandboxes):
            session.add(Store(account_id=account.id or 0, name=f"Amazon {number}", **sandbox.store_fields()))
        session.commit()
        for user in ("U1", "U2"):
            link_slack_user(session, team_id="T1", user_id=user, account=account, role="owner")
    engine.dispose()
    return account.id or 0


def _texts(args: dict[str, Any]) -> str:
    return args.get("text", "") + "\n" + json.dumps(args.get("blocks") or [], ensure_ascii=False)


def _orders(url: str) -> tuple[int, int]:
    from sqlalchemy import text

    from erp.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        total, distinct = conn.execute(
            text('SELECT count(*), count(DISTINCT (store_id, platform_order_id)) FROM "order"')
        ).one()
    engine.dispose()
    return int(total), int(distinct)


def test_two_servers_two_workers_and_a_worker_killed_mid_sync(
    pg_url: str, broker_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    from erp.sandbox.amazon import AmazonSandbox
    from erp.sandbox.generate import amazon_data

    sandboxes = [AmazonSandbox(amazon_data(seed=seed, orders=ORDERS, days=20)) for seed in range(STORES)]
    for sandbox in sandboxes:
        sandbox.start()
        sandbox.faults.slow(PAGE_DELAY)
    _seed(pg_url, sandboxes)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SELLERDESK_"))}
    env.update(
        DATABASE_URL=pg_url,
        SLACK_API_URL=fake_slack.url,
        SLACK_BOT_TOKEN="xoxb-scale",
        SLACK_SIGNING_SECRET=SECRET,
        SELLERDESK_BROKER_URL=broker_url,
        SELLERDESK_WORKER_HEARTBEAT_SECONDS="3",
        SELLERDESK_DATA_DIR=str(tmp_path / "data"),
        SELLERDESK_LOG_LEVEL="INFO",
    )
    procs: list[Proc] = []
    try:
        workers = [Proc(["worker", "--threads", "4"], env) for _ in range(2)]
        servers = [Proc(["serve", "--host", "127.0.0.1", "--port", "0"], env) for _ in range(2)]
        procs = [*workers, *servers]
        ports = [s.wait_for_line(r"http://127\.0\.0\.1:(\d+)/slack/events").group(1) for s in servers]
        for worker in workers:
            worker.wait_for_line("worker running")
        senders = [SlackSender(f"http://127.0.0.1:{port}/slack/events", SECRET, fake_slack) for port in ports]

        # Server 1: sync every store (slow: about 9 s). Server 2: find an order (also syncs,
        # after the first sync, since one store syncs once at a time across processes).
        ack = senders[0].command("/sync-orders", "", user="U1", channel="DU1")
        assert ack.status_code == 200 and "Syncing orders" in ack.text
        order_id = next(iter(sandboxes[2].data.orders))
        ack = senders[1].command("/find-order", order_id, user="U2", channel="DU2")
        assert ack.status_code == 200 and order_id in ack.text

        # Kill the worker that took the sync, once it has stored some orders but not all.
        victim = None
        deadline = time.monotonic() + 40
        while victim is None and time.monotonic() < deadline:
            stored, _ = _orders(pg_url)
            running = [w for w in workers if any("task slack_answer starting" in line for line in w.lines)]
            if 0 < stored < STORES * ORDERS and running:
                victim = running[0]
            time.sleep(0.1)
        assert victim is not None, "the sync did not start on a worker"
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        killed_at = _orders(pg_url)[0]
        assert killed_at < STORES * ORDERS  # killed in the middle

        def edited() -> set[str]:
            return {c.args["ts"] for c in fake_slack.calls_to("chat.update")}

        def answers(channel: str) -> list[Any]:
            # A progress message is edited as the work goes on; an answer is posted once, as is.
            return [p for p in fake_slack.posts(channel) if p.ts not in edited()]

        fake_slack.wait_for(lambda: answers("DU1") and answers("DU2"), timeout=50, message="both answers")
        time.sleep(1.5)  # a second answer, were one coming, would arrive now
        for channel in ("DU1", "DU2"):
            posts = fake_slack.posts(channel, top_level=True)
            assert len(posts) == 2, [_texts(p.args)[:200] for p in posts]  # one progress, one answer
            assert len([p for p in answers(channel) if not p.args.get("thread_ts")]) == 1
            # An answer's details go to its thread, also once, however often the task ran.
            replies = [
                (p.args["thread_ts"], _texts(p.args))
                for p in fake_slack.posts(channel)
                if p.args.get("thread_ts")
            ]
            assert len(replies) == len(set(replies)), replies
            assert {thread for thread, _ in replies} <= {p.ts for p in posts}
        # The sync's progress message, posted before the kill, was edited by the retry to its end.
        progress = next(p for p in fake_slack.posts("DU1") if p.ts in edited())
        last_edit = [c for c in fake_slack.calls_to("chat.update") if c.args["ts"] == progress.ts][-1]
        assert "Order sync finished" in last_edit.args["text"], last_edit.args["text"]
        assert all(f"Amazon {n}" in _texts(answers("DU1")[0].args) for n in range(STORES))
        assert order_id in _texts(answers("DU2")[0].args)

        total, distinct = _orders(pg_url)
        assert total == distinct == STORES * ORDERS
    finally:
        for proc in procs:
            proc.stop()
            print(f"--- {proc.process.args[2:4]}\n" + "".join(proc.lines[-60:]))  # shown when the test fails
        for sandbox in sandboxes:
            sandbox.stop()
