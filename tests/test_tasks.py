"""The task layer without a broker process: the web side enqueues, a worker side answers once.

The multi-process run (two servers, two workers, PostgreSQL, Redis, a worker killed mid-sync) is
`test_scale_out.py`; these tests pin each part on the test's own database and the fake Slack.
"""

from __future__ import annotations

import socket
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import pytest
from slack_bolt import BoltRequest
from sqlalchemy.engine import Engine

from bot.scheduling import enqueueing_jobs
from bot.slack.app_factory import build_app
from bot.tasks.catalog import ORDER_SYNC_STORE, REPORT_IMPORT_STORE, SLACK_ANSWER, parse_queues
from bot.tasks.jobs import task_handlers
from bot.tasks.runner import InProcessTasks
from erp.models import AuthStatus, Store
from tests.fake_slack import SIGNING_SECRET, RunningBot, sign


class RecordingTasks:
    """A broker stand-in for the web side: keeps what was queued instead of sending it."""

    distributed = True

    def __init__(self) -> None:
        self.queued: list[tuple[str, dict[str, Any]]] = []

    def submit(self, name: str, payload: dict[str, Any], *, once: str | None = None) -> bool:
        self.queued.append((name, payload))
        return True


class HeldExecutor(Executor):
    """Runs nothing until `run_all()`: what is queued can be looked at first."""

    def __init__(self) -> None:
        self.held: list[Callable[[], Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.held.append(lambda: fn(*args, **kwargs))
        return Future()

    def run_all(self) -> None:
        held, self.held = self.held, []
        for call in held:
            call()


def _signed_command(command: str, text: str, user: str) -> BoltRequest:
    body = urllib.parse.urlencode(
        {
            "team_id": "T1",
            "channel_id": "C1",
            "user_id": user,
            "command": command,
            "text": text,
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": f"trigger-{time.monotonic_ns()}",
        }
    )
    timestamp = str(int(time.time()))
    return BoltRequest(
        body=body,
        headers={
            "content-type": ["application/x-www-form-urlencoded"],
            "x-slack-request-timestamp": [timestamp],
            "x-slack-signature": [sign(SIGNING_SECRET, timestamp, body.encode())],
        },
    )


def test_serve_with_a_broker_acks_and_queues_and_a_retried_answer_task_posts_once(
    slack_bot: RunningBot,
) -> None:
    components, fake = slack_bot.components, slack_bot.fake
    tasks = RecordingTasks()
    components.__dict__["tasks"] = tasks
    web = build_app(components.settings, components)

    response = web.dispatch(_signed_command("/check-sku", "DEMO-UP-FAILED", "U1"))

    assert response.status == 200 and "Checking SKU DEMO-UP-FAILED" in response.body
    assert [name for name, _ in tasks.queued] == [SLACK_ANSWER]  # queued, not run here
    payload = tasks.queued[0][1]
    assert payload["function"] == "run_command" and payload["team_id"] == "T1"
    assert payload["body"]["text"] == "DEMO-UP-FAILED" and payload["body"]["user_id"] == "U1"
    time.sleep(0.3)
    assert fake.posts("DU1") == []  # nothing answered in the web process

    answer = task_handlers(components)[SLACK_ANSWER]
    answer(dict(payload))
    first = [p.args.get("text") for p in fake.posts("DU1")]
    assert first and any("DEMO-UP-FAILED" in (text or "") for text in first)

    # The broker delivers the task again (its worker died before the ack): nothing new is posted.
    answer(dict(payload))
    assert [p.args.get("text") for p in fake.posts("DU1")] == first

    # A new task (another idempotency key) for the same words is a new answer.
    answer({**payload, "key": "another-key"})
    assert len(fake.posts("DU1")) == 2 * len(first)


def test_the_scheduler_with_tasks_queues_one_sync_per_authorized_store_and_never_twice_while_waiting(
    slack_bot: RunningBot,
) -> None:
    components, world = slack_bot.components, slack_bot.world
    with components.session() as session:
        expired = session.get(Store, world.shopee_store_id)
        assert expired is not None
        expired.auth_status = AuthStatus.EXPIRED.value
        session.add(expired)
        session.commit()
    ran: list[tuple[str, dict[str, Any]]] = []
    executor = HeldExecutor()
    handlers = {
        name: (lambda payload, name=name: ran.append((name, payload)))
        for name in (ORDER_SYNC_STORE, REPORT_IMPORT_STORE)
    }
    jobs = enqueueing_jobs(components, InProcessTasks(handlers, executor))

    assert jobs["order_sync"]() == 2  # Amazon US and the neighbour's store; not the expired Shopee MY
    assert jobs["order_sync"]() == 0  # the last firing's tasks have not started: not queued again
    assert jobs["report_import"]() == 2
    executor.run_all()
    assert sorted((name, p["store_id"]) for name, p in ran) == sorted(
        [
            (ORDER_SYNC_STORE, world.us_store_id),
            (ORDER_SYNC_STORE, world.neighbour_store_id),
            (REPORT_IMPORT_STORE, world.us_store_id),
            (REPORT_IMPORT_STORE, world.neighbour_store_id),
        ]
    )
    assert jobs["order_sync"]() == 2  # started, so the next firing queues them again
    # The neighbour's store was never synced: its first sync, the biggest, is queued first.
    assert [p["store_id"] for name, p in ran if name == ORDER_SYNC_STORE] == [
        world.neighbour_store_id,
        world.us_store_id,
    ]


def test_a_nights_order_syncs_start_with_the_stores_never_synced_then_the_biggest(engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlmodel import Session

    from bot.scheduling import largest_syncs_first
    from erp.accounts import add_store, create_account
    from erp.models import SyncRun

    now = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    with Session(engine, expire_on_commit=False) as session:
        account = create_account(session, name="acme")
        stores = {
            name: add_store(session, account_id=account.id or 0, name=name, platform="amazon").id or 0
            for name in ("small", "big", "new", "quiet", "was big")
        }
        for name, store_id in stores.items():
            if name != "new":
                synced = session.get(Store, store_id)
                assert synced is not None
                synced.last_order_sync_at = now - timedelta(days=1)
                session.add(synced)
        # (store, orders one sync fetched, days ago): only the last week tells the next night's size.
        for name, fetched, days in (
            ("small", 40, 1),
            ("big", 300, 2),
            ("big", 50, 1),
            ("was big", 5000, 9),
            ("was big", 20, 1),
        ):
            session.add(
                SyncRun(
                    store_id=stores[name],
                    status="done",
                    fetched=fetched,
                    started_at=now - timedelta(days=days),
                )
            )
        session.commit()
        order = largest_syncs_first(session, sorted(stores.values()), now - timedelta(days=7))
    names = {store_id: name for name, store_id in stores.items()}
    assert [names[store_id] for store_id in order] == ["new", "big", "small", "was big", "quiet"]


def test_worker_queues_are_checked_by_name() -> None:
    assert parse_queues("") == ("answers", "sync", "nightly", "images")
    assert parse_queues("answers, sync,answers") == ("answers", "sync")
    with pytest.raises(ValueError, match="unknown queue 'fast'.*answers, sync, nightly, images"):
        parse_queues("answers,fast")


def _redis_up() -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", 6379)) == 0


@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1")
def test_broker_tasks_go_to_their_queue_and_a_waiting_store_is_not_queued_twice() -> None:
    import os

    import redis

    from bot.tasks.broker import make_broker
    from bot.tasks.runner import BrokerTasks

    url = f"redis://127.0.0.1:6379/{11 + os.getpid() % 4}"
    broker = make_broker(url)
    broker.client.flushdb()
    try:
        tasks = BrokerTasks(broker, broker.client)
        assert tasks.submit(ORDER_SYNC_STORE, {"store_id": 7}, once="order_sync:7")
        assert not tasks.submit(ORDER_SYNC_STORE, {"store_id": 7}, once="order_sync:7")
        assert tasks.submit(SLACK_ANSWER, {"key": "k"})
        client = redis.Redis.from_url(url)
        assert client.llen("sellerdesk:sync") == 1 and client.llen("sellerdesk:answers") == 1
    finally:
        broker.client.flushdb()
        broker.close()


def test_worker_without_a_broker_or_with_an_unknown_queue_says_so_in_one_line(
    database_url: str, tmp_path: Any
) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SELLERDESK_"))}
    env.update(DATABASE_URL=database_url, SELLERDESK_DATA_DIR=str(tmp_path / "data"))

    def worker(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "app.py", "worker", *args],
            cwd=root,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )

    alone = worker()
    assert alone.returncode == 2
    assert alone.stderr.strip().splitlines() == [
        "sellerdesk: SELLERDESK_BROKER_URL is not set: without a broker, background tasks run inside "
        "serve, socket and scheduler, and no worker is needed"
    ]
    unknown = worker("--queues", "answers,fast", SELLERDESK_BROKER_URL="redis://127.0.0.1:6379/15")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "sellerdesk: --queues: unknown queue 'fast': the queues are answers, sync, nightly, images"
    ]
    not_redis = worker(SELLERDESK_BROKER_URL="amqp://127.0.0.1")
    assert not_redis.returncode == 2 and "must be a Redis URL" in not_redis.stderr
    assert "Traceback" not in alone.stderr + unknown.stderr + not_redis.stderr
