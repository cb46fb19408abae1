"""The scheduler runner: jobs registered from the schedule, one leader among processes, follow-ups."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.scheduling import (
    GIVE_UP_AFTER,
    LEADER_LOCK_KEY,
    REPORT_WAIT,
    FileLeaderLock,
    PostgresLeaderLock,
    SchedulerRunner,
    SoleLeader,
    flow_recheck,
    leader_lock_for,
    run_due_follow_ups,
)
from erp.db import make_engine
from erp.jobs.schedule import JOBS, JobSchedule
from erp.models import Account, FollowUp, PlatformReport, PriceChangeStatus, ReportStatus, Store
from tests.handler_services import add, ago, make_seller, make_services, price_change

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Jobs:
    """Counts the runs of each job; `fail` makes one raise."""

    def __init__(self, fail: str = "") -> None:
        self.runs: Counter[str] = Counter()
        self.fail = fail
        self.ran = threading.Event()

    def mapping(self) -> dict[str, object]:
        return {name: self._job(name) for name in JOBS}

    def _job(self, name: str) -> object:
        def run() -> None:
            self.runs[name] += 1
            self.ran.set()
            if name == self.fail:
                raise RuntimeError("the platform is down")

        return run


def runner(jobs: Jobs, leader: object, scheduler: BackgroundScheduler | None = None) -> SchedulerRunner:
    return SchedulerRunner(JobSchedule(), jobs.mapping(), leader, scheduler=scheduler)  # type: ignore[arg-type]


def test_only_one_of_two_runners_on_one_sqlite_file_leads(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "sellerdesk.db.scheduler.lock")
    first_jobs, second_jobs = Jobs(), Jobs()
    first, second = runner(first_jobs, FileLeaderLock(path)), runner(second_jobs, FileLeaderLock(path))

    assert first.run_job("order_sync") is True
    assert second.run_job("order_sync") is False
    assert first.run_job("image_grab") is True
    assert (first_jobs.runs, second_jobs.runs) == (Counter(order_sync=1, image_grab=1), Counter())

    first.shutdown()  # the leader stops: the standby takes over at its next job
    assert second.run_job("order_sync") is True
    assert first.run_job("order_sync") is False
    second.shutdown()


def test_the_lock_matches_the_database(tmp_path: os.PathLike[str]) -> None:
    file_engine = make_engine(f"sqlite:///{os.path.join(tmp_path, 'x.db')}")
    lock = leader_lock_for(file_engine)
    assert isinstance(lock, FileLeaderLock)
    assert isinstance(leader_lock_for(make_engine("sqlite://")), SoleLeader)
    assert isinstance(
        leader_lock_for(make_engine("postgresql+psycopg://u@127.0.0.1:1/x")), PostgresLeaderLock
    )


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
    reason="the advisory-lock leader needs PostgreSQL (DATABASE_URL)",
)
def test_two_runners_against_postgresql_never_both_lead(database_url: str) -> None:
    engines = [make_engine(database_url), make_engine(database_url)]
    locks = [PostgresLeaderLock(engines[0]), PostgresLeaderLock(engines[1])]
    jobs = [Jobs(), Jobs()]
    runners = [runner(jobs[0], locks[0]), runner(jobs[1], locks[1])]
    try:
        ran = [[r.run_job(name) for r in runners] for name in ("order_sync", "report_import", "follow_ups")]
        assert ran == [[True, False]] * 3
        assert jobs[1].runs == Counter()

        # Leadership lasts while the connection does: the database ends the leader's session,
        # the standby takes over and the old leader notices it no longer leads.
        with engines[1].connect() as admin:
            # pg_terminate_backend only signals; the timeout makes it wait until the leader's
            # backend has gone and its lock is free, or the standby could still find it held.
            # Only the scheduler's key is targeted, so other sessions' advisory locks are spared.
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() "
                    "AND classid = (:key >> 32)::oid AND objid = (:key & 4294967295)::oid "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"key": LEADER_LOCK_KEY},
            )
            admin.commit()
        assert runners[1].run_job("order_sync") is True
        assert runners[0].run_job("order_sync") is False
        assert (jobs[0].runs["order_sync"], jobs[1].runs["order_sync"]) == (1, 1)

        runners[1].shutdown()
        assert runners[0].run_job("image_grab") is True
    finally:
        for lock in locks:
            lock.release()
        for engine in engines:
            engine.dispose()


def test_a_failing_job_is_logged_and_the_schedule_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    jobs = Jobs(fail="report_import")
    run = runner(jobs, SoleLeader())
    assert run.run_job("report_import") is True
    assert run.run_job("order_sync") is True
    assert "job report_import failed" in caplog.text
    assert jobs.runs == Counter(report_import=1, order_sync=1)


def test_jobs_are_registered_with_the_schedules_run_times_and_fire() -> None:
    scheduler = BackgroundScheduler(timezone=UTC)
    jobs = Jobs()
    mapping = jobs.mapping()
    del mapping["image_grab"]  # a job without a callable is not scheduled
    run = SchedulerRunner(JobSchedule(order_sync_minutes=15), mapping, SoleLeader(), scheduler=scheduler)  # type: ignore[arg-type]
    try:
        assert sorted(run.register()) == sorted(set(JOBS) - {"image_grab"})
        scheduler.start(paused=True)
        registered = {job.id: job.next_run_time for job in scheduler.get_jobs()}
        assert set(registered) == set(JOBS) - {"image_grab"}
        for name, next_time in registered.items():
            expected = JobSchedule(order_sync_minutes=15).next_run(
                name, datetime.now(UTC) - timedelta(seconds=5)
            )
            assert expected is not None and abs((next_time - expected).total_seconds()) < 60 * 15

        # Bring one job forward and let the real scheduler fire it.
        scheduler.modify_job("follow_ups", next_run_time=datetime.now(UTC))
        scheduler.resume()
        assert jobs.ran.wait(10)
        assert jobs.runs == Counter(follow_ups=1)
    finally:
        run.shutdown()


@pytest.fixture
def store(session: Session) -> Store:
    account = Account(name="acme")
    session.add(account)
    session.commit()
    store = Store(account_id=account.id or 0, name="Amazon DE", platform="amazon")
    session.add(store)
    session.commit()
    return store


def follow_up(
    session: Session, store: Store, *, created: datetime, due: datetime, kind: str = "report_landed"
) -> FollowUp:
    row = FollowUp(
        kind=kind,
        account_id=store.account_id,
        store_id=store.id,
        sku="SKU-1",
        channel="D123",
        thread_ts="1700000000.000100",
        created_at=created,
        due_at=due,
    )
    session.add(row)
    session.commit()
    return row


def report(session: Session, store_id: int, imported: datetime, status: str = ReportStatus.DONE) -> None:
    session.add(PlatformReport(store_id=store_id, kind="listings", status=status, imported_at=imported))
    session.commit()


class Thread:
    """Collects what would be posted into the seller's thread."""

    def __init__(self, fail: bool = False) -> None:
        self.posts: list[tuple[str, str, str]] = []
        self.fail = fail

    def post(self, row: FollowUp, answer: str) -> None:
        if self.fail:
            raise ConnectionError("slack unreachable")
        self.posts.append((row.channel, row.thread_ts, answer))


def recheck(row: FollowUp) -> str:
    return f"{row.sku}: the new price is live"


@pytest.fixture
def sessions(engine: Engine) -> Iterator[object]:
    yield lambda: Session(engine, expire_on_commit=False)


def test_report_landed_follow_up_waits_for_a_newer_report(
    session: Session, sessions: object, store: Store
) -> None:
    created = NOW - timedelta(hours=10)
    row = follow_up(session, store, created=created, due=created)
    other = Store(account_id=store.account_id, name="Amazon UK", platform="amazon")
    session.add(other)
    session.commit()
    report(session, store.id or 0, created - timedelta(hours=1))  # older than the promise
    report(session, other.id or 0, NOW - timedelta(hours=1))  # another store's
    report(session, store.id or 0, NOW - timedelta(hours=1), status=ReportStatus.FAILED)
    thread = Thread()

    assert run_due_follow_ups(sessions, NOW, recheck, thread.post) == 0  # type: ignore[arg-type]
    assert thread.posts == []

    report(session, store.id or 0, NOW - timedelta(minutes=30))
    assert run_due_follow_ups(sessions, NOW, recheck, thread.post) == 1  # type: ignore[arg-type]
    assert thread.posts == [("D123", "1700000000.000100", "SKU-1: the new price is live")]
    session.refresh(row)
    assert row.done_at is not None and row.result == "SKU-1: the new price is live"

    assert run_due_follow_ups(sessions, NOW + timedelta(minutes=5), recheck, thread.post) == 0  # type: ignore[arg-type]
    assert len(thread.posts) == 1


def test_follow_ups_not_yet_due_wait_and_a_late_report_gets_an_answer_anyway(
    session: Session, sessions: object, store: Store
) -> None:
    follow_up(session, store, created=NOW, due=NOW + timedelta(hours=1), kind="recheck")
    late = follow_up(session, store, created=NOW - REPORT_WAIT - timedelta(days=1), due=NOW - REPORT_WAIT)
    thread = Thread()

    assert run_due_follow_ups(sessions, NOW, recheck, thread.post) == 1  # type: ignore[arg-type]
    session.refresh(late)
    assert late.done_at is not None
    assert run_due_follow_ups(sessions, NOW + timedelta(hours=1), recheck, thread.post) == 1  # type: ignore[arg-type]
    assert len(thread.posts) == 2


def test_an_undeliverable_answer_is_retried_then_given_up(
    session: Session, sessions: object, store: Store
) -> None:
    row = follow_up(session, store, created=NOW, due=NOW, kind="recheck")
    broken = Thread(fail=True)

    assert run_due_follow_ups(sessions, NOW, recheck, broken.post) == 0  # type: ignore[arg-type]
    session.refresh(row)
    assert row.done_at is None

    later = NOW + GIVE_UP_AFTER
    assert run_due_follow_ups(sessions, later, recheck, broken.post) == 1  # type: ignore[arg-type]
    session.refresh(row)
    assert row.done_at is not None and row.result.startswith("gave up")


def test_the_price_recheck_answers_with_the_flows_diagnosis(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        price_change(seller.us, "SKU-1", "19.99", "17.99", PriceChangeStatus.DRAFT, created_at=ago(hours=1)),
    )
    recheck = flow_recheck(make_services(engine))

    english = recheck(
        FollowUp(
            kind="report_landed",
            account_id=seller.account.id or 0,
            store_id=seller.us.id,
            sku="SKU-1",
            due_at=NOW,
        )
    )
    chinese = recheck(
        FollowUp(
            kind="report_landed",
            account_id=seller.account.id or 0,
            store_id=seller.us.id,
            sku="SKU-1",
            language="zh",
            due_at=NOW,
        )
    )

    summary, *steps = english.splitlines()
    assert "17.99 USD" in summary and "never submitted" in summary
    assert steps and all(step.startswith("• ") for step in steps)
    assert any("submit it" in step for step in steps)
    assert chinese != english and "17.99" in chinese
