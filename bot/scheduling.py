"""The scheduler behind `python app.py scheduler`: the nightly and periodic jobs, run by one leader.

Several scheduler processes may run against one database (a restart overlapping the old
process, two hosts for availability). Only the leader runs jobs: on PostgreSQL the leader holds
a session advisory lock on a dedicated connection, so the lock goes away with the process; on
an SQLite file an exclusive file lock next to the database does the same. A standby tries to
take the lead each time a job fires, so it takes over within one job interval of the leader
dying. Jobs are injected callables: this module knows when and by whom, not what.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, Protocol

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, func, select

from erp.jobs.schedule import JobSchedule
from erp.models import AuthStatus, FollowUp, PlatformReport, ReportStatus, Store, SyncRun

if TYPE_CHECKING:
    from bot.tasks.runner import TaskRunner
    from handlers.services import Services

logger = logging.getLogger(__name__)
ACTOR = "scheduler"

LEADER_LOCK_KEY = 0x5E11_E2DE_5C4E
"""PostgreSQL advisory lock id of the scheduler leader (one bigint, fixed for every process)."""

REPORT_WAIT = timedelta(days=2)
"""How long a "tell me when the report lands" follow-up waits before answering with what is there."""

GIVE_UP_AFTER = timedelta(days=7)
"""A follow-up that still cannot be re-checked or posted after this long is closed."""

# Nightly jobs missed by a short outage still run when the scheduler comes back; frequent ones
# simply wait for their next turn.
_MISFIRE_GRACE = {"report_import": 3 * 3600, "image_grab": 3 * 3600}
_DEFAULT_MISFIRE_GRACE = 60


class LeaderLock(Protocol):
    """Leadership among scheduler processes sharing a database."""

    def acquire(self) -> bool:
        """Take or confirm the lead without waiting; True when this process leads."""
        ...

    def release(self) -> None:
        """Give up the lead (on shutdown)."""
        ...


class PostgresLeaderLock:
    """A session advisory lock held on a dedicated connection for as long as this process leads.

    Args:
        engine: a PostgreSQL engine.
        key: the advisory lock id.
    """

    def __init__(self, engine: Engine, key: int = LEADER_LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._connection: Connection | None = None
        self._guard = threading.Lock()  # jobs fire on several threads at once

    def acquire(self) -> bool:
        with self._guard:
            if self._connection is not None:
                try:
                    self._connection.execute(text("SELECT 1"))
                    return True
                except Exception:  # the connection died, and the lock with it
                    logger.warning("scheduler lost its database connection: leadership is open again")
                    self._drop()
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                taken = bool(
                    connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}).scalar()
                )
            except Exception:
                connection.close()
                raise
            if not taken:
                connection.close()
                return False
            self._connection = connection
            logger.info("this scheduler leads")
            return True

    def release(self) -> None:
        with self._guard:
            if self._connection is None:
                return
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            except Exception:  # closing the connection releases it anyway
                logger.debug("advisory unlock failed", exc_info=True)
            self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                logger.debug("closing the leader connection failed", exc_info=True)
            self._connection = None


class FileLeaderLock:
    """An exclusive lock on a file: the leader for schedulers sharing one SQLite database file.

    Args:
        path: the lock file (created when missing).
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._file: IO[str] | None = None
        self._guard = threading.Lock()

    def acquire(self) -> bool:
        import fcntl

        with self._guard:
            if self._file is not None:
                return True
            handle = open(self._path, "a+")  # noqa: SIM115  (held open while leading)
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._file = handle
            return True

    def release(self) -> None:
        import fcntl

        with self._guard:
            if self._file is None:
                return
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class SoleLeader:
    """For a database no other process can share (in-memory SQLite): always the leader."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


def leader_lock_for(engine: Engine) -> LeaderLock:
    """The right leader lock for the engine's database."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return PostgresLeaderLock(engine)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" and os.name == "posix":
        return FileLeaderLock(os.path.abspath(database) + ".scheduler.lock")
    return SoleLeader()


class SchedulerRunner:
    """Registers the jobs of a `JobSchedule` and runs each one only while this process leads.

    Args:
        schedule: when each job runs.
        jobs: job name -> what to run; jobs missing here are not scheduled.
        leader: leadership among processes.
        scheduler: the APScheduler scheduler; a `BlockingScheduler` (foreground) by default.
    """

    def __init__(
        self,
        schedule: JobSchedule,
        jobs: Mapping[str, Callable[[], object]],
        leader: LeaderLock,
        *,
        scheduler: BaseScheduler | None = None,
    ) -> None:
        self.schedule = schedule
        self._jobs = dict(jobs)
        self._leader = leader
        self.scheduler = scheduler or BlockingScheduler(timezone=schedule.timezone)
        self._registered = False

    def register(self) -> list[str]:
        """Add every job to the scheduler; returns the names registered."""
        names: list[str] = []
        for name, trigger in self.schedule.triggers().items():
            if name not in self._jobs:
                continue
            self.scheduler.add_job(
                self.run_job,
                trigger,
                args=[name],
                id=name,
                name=name,
                max_instances=1,  # a slow run is never overlapped by the next one
                coalesce=True,
                misfire_grace_time=_MISFIRE_GRACE.get(name, _DEFAULT_MISFIRE_GRACE),
                replace_existing=True,
            )
            names.append(name)
        self._registered = True
        return names

    def run_job(self, name: str) -> bool:
        """Run one job now if this process leads.

        Returns:
            True when it ran (even if it failed: failures are logged, the schedule goes on).
        """
        try:
            leading = self._leader.acquire()
        except Exception:
            logger.exception("scheduler could not check leadership; %s skipped", name)
            return False
        if not leading:
            logger.debug("another scheduler leads; %s skipped here", name)
            return False
        logger.info("job %s starting", name)
        try:
            self._jobs[name]()
        except Exception:
            logger.exception("job %s failed", name)
        else:
            logger.info("job %s finished", name)
        return True

    def start(self) -> None:
        """Start the scheduler (blocks with the default `BlockingScheduler`)."""
        if not self._registered:
            self.register()
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop scheduling, wait for running jobs, and hand the lead over."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self._leader.release()


def run_due_follow_ups(
    sessions: Callable[[], Session],
    now: datetime,
    recheck: Callable[[FollowUp], str],
    poster: Callable[[FollowUp, str], object],
) -> int:
    """Re-check and answer the follow-ups whose moment has come.

    A "report_landed" follow-up is answered once a report for its store was imported after the
    follow-up was made (or, failing that, `REPORT_WAIT` after it was due, with whatever the check
    sees then). Other kinds are answered when due.

    Args:
        sessions: opens a database session.
        now: the current time.
        recheck: runs the check again and returns the answer text.
        poster: delivers the answer into the conversation the follow-up came from.

    Returns:
        How many follow-ups were closed (answered, or given up after `GIVE_UP_AFTER`).
    """
    with sessions() as session:
        due = list(
            session.exec(
                select(FollowUp)
                .where(col(FollowUp.done_at).is_(None), col(FollowUp.due_at) <= now)
                .order_by(col(FollowUp.due_at), col(FollowUp.id))
            )
        )
        ready = [follow_up for follow_up in due if _ready(session, follow_up, now)]
        session.expunge_all()
    answered = 0
    for follow_up in ready:
        result = _answer(follow_up, now, recheck, poster)
        if result is None:
            continue
        with sessions() as session:
            row = session.get(FollowUp, follow_up.id)
            if row is None or row.done_at is not None:
                continue
            row.done_at, row.result = now, result
            session.commit()
        answered += 1
    return answered


def _ready(session: Session, follow_up: FollowUp, now: datetime) -> bool:
    if follow_up.kind != "report_landed" or follow_up.store_id is None:
        return True
    if now - _aware(follow_up.due_at, now) >= REPORT_WAIT:
        return True
    landed = session.exec(
        select(PlatformReport.id)
        .where(
            col(PlatformReport.store_id) == follow_up.store_id,
            col(PlatformReport.status) == ReportStatus.DONE.value,
            col(PlatformReport.imported_at) > follow_up.created_at,
        )
        .limit(1)
    ).first()
    return landed is not None


def _answer(
    follow_up: FollowUp,
    now: datetime,
    recheck: Callable[[FollowUp], str],
    poster: Callable[[FollowUp, str], object],
) -> str | None:
    """The answer posted (to store on the row), or None to try again on the next run."""
    overdue = now - _aware(follow_up.due_at, now) >= GIVE_UP_AFTER
    try:
        answer = recheck(follow_up)
    except Exception:
        logger.exception("follow-up %s: the re-check failed", follow_up.id)
        return "gave up: the re-check kept failing" if overdue else None
    try:
        poster(follow_up, answer)
    except Exception:
        logger.exception("follow-up %s: posting the answer failed", follow_up.id)
        return "gave up: the answer could not be delivered" if overdue else None
    return answer


def _aware(value: datetime, like: datetime) -> datetime:
    """Stored datetimes are UTC but come back naive from SQLite; match the caller's awareness."""
    if value.tzinfo is None and like.tzinfo is not None:
        return value.replace(tzinfo=UTC)
    return value


def flow_recheck(services: Services, flow: str = "price_not_updated") -> Callable[[FollowUp], str]:
    """A `recheck` that runs a flow's handler again for the follow-up's SKU and store.

    The answer is the diagnosis in plain text: its summary and next steps, in the language the
    seller asked in.
    """

    def recheck(follow_up: FollowUp) -> str:
        from handlers.diagnosis import Diagnosis, Language
        from handlers.registry import HANDLERS, FlowRequest
        from knowledge.entities import Entities

        stores: list[str] = []
        if follow_up.store_id is not None:
            with services.sessions() as session:
                store = session.get(Store, follow_up.store_id)
                stores = [store.name] if store is not None else []
        language: Language = "zh" if follow_up.language == "zh" else "en"
        request = FlowRequest(
            account_id=follow_up.account_id,
            actor="scheduler",
            language=language,
            entities=Entities(skus=[follow_up.sku] if follow_up.sku else [], stores=stores),
        )
        result = HANDLERS[flow](request, services)
        if not isinstance(result, Diagnosis):
            return result.prompt
        return "\n".join([result.summary, *(f"• {step}" for step in result.next_steps)])

    return recheck


def build_jobs(components: Any) -> dict[str, Callable[[], object]]:
    """What each scheduled job does, wired from the application's parts."""

    def now() -> datetime:
        return datetime.now(UTC)

    def order_sync() -> object:
        return components.order_sync.sync_all(trigger="schedule", actor=ACTOR)

    def report_import() -> object:
        return components.report_refresher.import_all(actor=ACTOR)

    def image_grab() -> object:
        from erp.jobs.image_grab import ImageGrab

        return ImageGrab(components.session, components.image_checker).run(now())

    def purge_deleted() -> object:
        from erp.store_data import purge_expired

        with components.session() as session:
            return purge_expired(session, now(), actor=ACTOR)

    jobs: dict[str, Callable[[], object]] = {
        "order_sync": order_sync,
        "report_import": report_import,
        "image_grab": image_grab,
        "purge_deleted": purge_deleted,
    }
    poster = _slack_poster(components)
    if poster is None:
        logger.warning("follow-ups are not scheduled: no Slack bot token or OAuth installation to post with")
    else:
        recheck = flow_recheck(components.services)

        def follow_ups() -> object:
            return run_due_follow_ups(components.session, now(), recheck, poster)

        jobs["follow_ups"] = follow_ups
    return jobs


def _slack_poster(components: Any) -> Callable[[FollowUp, str], object] | None:
    """Posts a follow-up's answer into its Slack thread, with the workspace's bot token."""
    settings = components.settings
    if not (settings.slack_bot_token or settings.oauth_enabled):
        return None
    from bot.slack.app_factory import web_client
    from bot.slack.poster import follow_up_poster

    if settings.oauth_enabled:
        from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

        installations = SQLAlchemyInstallationStore(
            client_id=settings.slack_client_id, engine=components.engine
        )

        def client_for_team(team_id: str) -> Any:
            bot = installations.find_bot(enterprise_id=None, team_id=team_id or None)
            return web_client(settings, bot.bot_token if bot else None)

    else:
        client = web_client(settings, settings.slack_bot_token)

        def client_for_team(team_id: str) -> Any:
            return client

    return follow_up_poster(client_for_team)


# How far back a store's order syncs tell how big its next one will be.
SIZE_LOOKBACK = timedelta(days=7)


def largest_syncs_first(session: Session, store_ids: list[int], since: datetime) -> list[int]:
    """The order in which a night's order syncs should start: stores never synced first (their
    first sync fetches their whole window), then by the most orders one sync of theirs fetched
    since `since`. Workers take tasks in queue order, so a big store queued last would keep the
    night going long after the others ended; started first, it runs alongside them."""
    # Every store's figures, not only these ids': thousands of ids in one IN list would pass
    # SQLite's limit on parameters.
    never = set(session.exec(select(Store.id).where(col(Store.last_order_sync_at).is_(None))))
    biggest = dict(
        session.exec(
            select(SyncRun.store_id, func.max(SyncRun.fetched))
            .where(col(SyncRun.started_at) >= since)
            .group_by(col(SyncRun.store_id))
        ).all()
    )
    return sorted(store_ids, key=lambda store_id: (store_id not in never, -(biggest.get(store_id) or 0)))


def enqueueing_jobs(components: Any, tasks: TaskRunner) -> dict[str, Callable[[], object]]:
    """The scheduled jobs for a scheduler with a broker: each only enqueues, the workers run them.

    Order syncs and report imports become one task per store, so the nightly work fans out
    across every worker; a store whose task from the last firing has not started yet is not
    queued twice. The grab, the purge and the follow-ups are one task each.
    """
    from bot.tasks import catalog

    def per_store(job: str, task: str) -> Callable[[], object]:
        def enqueue() -> object:
            with components.session() as session:
                live = col(Store.deleted_at).is_(None)
                authorized = col(Store.auth_status) == AuthStatus.AUTHORIZED.value
                found = session.exec(select(Store.id).where(live, authorized).order_by(col(Store.id)))
                stores = [store_id for store_id in found if store_id is not None]
                if job == "order_sync":
                    stores = largest_syncs_first(session, stores, datetime.now(UTC) - SIZE_LOOKBACK)
            queued = sum(
                tasks.submit(task, {"store_id": store_id}, once=f"{job}:{store_id}") for store_id in stores
            )
            logger.info("%s: %d of %d stores queued", job, queued, len(stores))
            return queued

        return enqueue

    def single(job: str, task: str) -> Callable[[], object]:
        return lambda: tasks.submit(task, {}, once=job)

    jobs: dict[str, Callable[[], object]] = {
        "order_sync": per_store("order_sync", catalog.ORDER_SYNC_STORE),
        "report_import": per_store("report_import", catalog.REPORT_IMPORT_STORE),
        "image_grab": single("image_grab", catalog.IMAGE_GRAB),
        "purge_deleted": single("purge_deleted", catalog.PURGE_DELETED),
    }
    if _slack_poster(components) is not None:
        jobs["follow_ups"] = single("follow_ups", catalog.FOLLOW_UPS)
    return jobs
