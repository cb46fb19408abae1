"""Command scheduler: run the scheduled jobs in the foreground until Ctrl-C.

Nightly report import (02:00) and image grab (03:00), order sync every
SELLERDESK_ORDER_SYNC_MINUTES (30), purge of deleted store data whose undo window has passed
(hourly) and the bot's promised follow-ups (every 5 minutes). Several schedulers may run against
one database: only the leader runs jobs.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import EXIT_OK, fail
from bot.scheduling import SchedulerRunner, build_jobs, enqueueing_jobs, leader_lock_for

logger = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> list[str]:
    subparsers.add_parser(
        "scheduler",
        help="run the scheduled jobs in the foreground (Ctrl-C stops)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return ["scheduler"]


def run(args: argparse.Namespace, components: Any) -> int:
    try:
        engine = components.engine
    except SQLAlchemyError as exc:
        return fail(f"the database cannot be opened ({type(exc).__name__}); check DATABASE_URL")
    from bot.cli.demo import demo_platforms_for_run

    # On the demo database the stores live on the demo's sandbox platforms: up while it runs.
    with demo_platforms_for_run(components):
        return _run(components, engine)


def _run(components: Any, engine: Any) -> int:
    leader = leader_lock_for(engine)
    tasks = components.tasks
    # With a broker the scheduler only enqueues (one task per store and job) and the workers
    # run them; without one it runs the jobs itself, as the embedded default always has.
    jobs = enqueueing_jobs(components, tasks) if tasks.distributed else build_jobs(components)
    runner = SchedulerRunner(components.schedule, jobs, leader)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        for name in runner.register():
            next_run = components.schedule.next_run(name)
            print(f"{name}: next run {next_run:%Y-%m-%d %H:%M %Z}", file=sys.stderr)  # noqa: T201
        try:
            leading = leader.acquire()
        except SQLAlchemyError as exc:
            return fail(f"the database cannot be reached ({type(exc).__name__}); check DATABASE_URL")
        role = (
            "this scheduler leads" if leading else "another scheduler leads; this one stands by to take over"
        )
        if tasks.distributed:
            role += "; jobs go to the workers"
        print(f"scheduler running ({role}); Ctrl-C stops it", file=sys.stderr, flush=True)  # noqa: T201
        runner.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        runner.shutdown()
    print("scheduler stopped", file=sys.stderr)  # noqa: T201
    return EXIT_OK
