"""Event ids remembered once and forgotten after a day; progress edits paced per channel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.settings import Settings
from bot.slack.app_factory import web_client
from bot.slack.dedupe import PURGE_EVERY, EventDeduper
from bot.slack.poster import SlackPoster
from bot.slack.progress import ChannelThrottle, SlackProgress
from erp.models import ProcessedEvent
from erp.progress import StoreSyncProgress
from tests.fake_slack import FakeSlack


def test_an_event_id_is_handled_once_and_old_ids_are_forgotten(engine: Engine) -> None:
    now = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    deduper = EventDeduper(engine, lambda: now[0])
    assert deduper.first_delivery("Ev1") is True
    assert deduper.first_delivery("Ev1") is False  # Slack's retry
    now[0] += timedelta(days=2)
    # Every PURGE_EVERY events the ids older than a day go; the retry window is long past for them.
    for index in range(PURGE_EVERY - 2):
        deduper.first_delivery(f"Fresh{index}")
    with Session(engine) as session:
        ids = set(session.exec(select(ProcessedEvent.event_id)))
    assert "Ev1" not in ids and len(ids) == PURGE_EVERY - 2


def test_a_second_process_finds_the_delivery_recorded_and_its_connection_still_reads(engine: Engine) -> None:
    from bot.slack.identity import resolve_speaker

    # As the ack path connects: autocommit, one connection for the delivery id and the look-up.
    ack_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    first_process = EventDeduper(ack_engine, lambda: datetime.now(UTC))
    second_process = EventDeduper(ack_engine, lambda: datetime.now(UTC))  # its own memory
    with ack_engine.connect() as connection:
        assert first_process.first_delivery("EvShared", connection) is True
    with ack_engine.connect() as connection:
        assert second_process.first_delivery("EvShared", connection) is False  # the database knew
        # The refused insert left the connection usable for the speaker's look-up.
        speaker = resolve_speaker(connection, "T1", "UNOBODY")
    assert speaker.account_id is None and speaker.actor == "slack:T1:UNOBODY"
    with Session(engine) as session:
        assert list(session.exec(select(ProcessedEvent.event_id))) == ["EvShared"]


def test_two_progress_messages_in_one_channel_share_its_pace(fake_slack: FakeSlack) -> None:
    settings = Settings(slack_bot_token="xoxb-test", slack_api_url=fake_slack.url)
    poster = SlackPoster(web_client(settings, settings.slack_bot_token))
    now = [0.0]
    throttle = ChannelThrottle(1.0, lambda: now[0])
    first = SlackProgress(poster, "C1", monotonic=lambda: now[0], throttle=throttle)
    second = SlackProgress(poster, "C1", monotonic=lambda: now[0], throttle=throttle)
    elsewhere = SlackProgress(poster, "C2", monotonic=lambda: now[0], throttle=throttle)
    for step in range(1, 21):  # two seconds of snapshots from three checks
        now[0] = step * 0.1
        for progress, store in ((first, "Amazon US"), (second, "Shopee MY"), (elsewhere, "Amazon DE")):
            progress(StoreSyncProgress(store=store, platform="amazon", pages=step, fetched=step * 10))
    in_c1 = [c for c in fake_slack.calls if c.args.get("channel") == "C1"]
    in_c2 = [c for c in fake_slack.calls if c.args.get("channel") == "C2"]
    assert len(in_c1) <= 3  # about one a second for the channel, not one a second for each check
    assert 1 <= len(in_c2) <= 3
    for progress in (first, second, elsewhere):
        progress.finish()  # the final state always goes out
    assert {m.text.split(":", 1)[0] for m in fake_slack.messages.values()} == {"Order sync finished"}


def test_slow_work_starts_after_the_acks_in_flight() -> None:
    import threading

    from bot.slack.pacing import AckFirstExecutor, AckGate

    gate = AckGate()
    order: list[str] = []
    started = threading.Event()
    with AckFirstExecutor(gate, max_workers=2) as executor:
        gate.enter()  # a request is being acknowledged
        future = executor.submit(lambda: (started.set(), order.append("check")))
        assert not started.wait(0.2)  # the check holds back
        order.append("ack")
        gate.leave()
        future.result(timeout=5)
    assert order == ["ack", "check"]


def test_the_bot_token_only_goes_to_slacks_own_hosts(fake_slack: FakeSlack) -> None:
    settings = Settings(slack_bot_token="xoxb-test", slack_api_url=fake_slack.url)
    poster = SlackPoster(web_client(settings, settings.slack_bot_token))
    url = fake_slack.serve_file("shot.png", b"picture")
    assert poster.download(url) == b"picture"  # the configured Web API host
    elsewhere = url.replace("127.0.0.1", "localhost")
    assert poster.download(elsewhere) is None
    assert poster.download("https://files.example.com/steal") is None
    assert len(fake_slack.calls_to("file")) == 1  # only the allowed fetch reached a server


def test_each_seller_gets_a_share_of_the_slow_pool_and_keeps_its_order() -> None:
    import threading

    from bot.slack.pacing import AckGate, SellerPools, is_slow

    release = threading.Event()
    started: list[str] = []
    done = threading.Semaphore(0)
    lock = threading.Lock()

    def task(name: str, block: bool) -> Any:
        def run() -> None:
            with lock:
                started.append(name)
            if block:
                release.wait(5)
            done.release()

        return run

    pools = SellerPools(AckGate(), max_workers=2, slow_workers=2, quick_per_seller=2, slow_per_seller=1)
    try:
        for index in range(3):
            pools.submit_for("account:1", True, task(f"a{index}", block=True))
        pools.submit_for("account:2", True, task("b0", block=False))
        assert done.acquire(timeout=5)  # b0 ran although account 1 had three slow tasks first
        assert started == ["a0", "b0"]
        assert pools.waiting("account:1", slow=True) == 2
        release.set()
        for _ in range(3):
            assert done.acquire(timeout=5)
        assert started == ["a0", "b0", "a1", "a2"]
    finally:
        release.set()
        pools.shutdown(wait=True)
    assert is_slow({"command": "/check-image", "text": "https://x/a.jpg"})
    assert not is_slow({"command": "/check-sku", "text": "ABC-1"})
    assert is_slow({"type": "event_callback", "event": {"type": "message", "text": "see https://x/a.jpg"}})


def test_a_locked_sqlite_never_makes_event_dedupe_wait_or_fail(engine: Engine, database_url: str) -> None:
    import sqlite3
    import time

    import pytest

    from erp.db import quick_engine

    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's row locks never make this insert wait")
    quick = quick_engine(engine)
    deduper = EventDeduper(quick, lambda: datetime.now(UTC))
    # Another process's long write transaction (a report import) holds the write lock.
    writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        first = deduper.first_delivery("EvLocked")
        retry = deduper.first_delivery("EvLocked")
        other = deduper.first_delivery("EvOther")
        elapsed = time.monotonic() - started
        # A burst arriving meanwhile: the writes queue one at a time, so each waiting its own lock
        # timeout would add up to the better part of a second; the first refusal answers them all.
        deduper._paused_until = 0.0
        with ThreadPoolExecutor(8) as pool:
            started = time.monotonic()
            burst = list(pool.map(deduper.first_delivery, [f"EvBurst{index}" for index in range(8)]))
            burst_elapsed = time.monotonic() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert (first, retry, other) == (True, False, True)  # handled once, from memory
    assert elapsed < 0.5, elapsed
    assert burst == [True] * 8
    assert burst_elapsed < 0.5, burst_elapsed
    quick.dispose()
