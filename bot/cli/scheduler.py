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
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import EXIT_OK, fail
from bot.scheduling import SchedulerRunner, flow_recheck, leader_lock_for, run_due_follow_ups
from erp.models import FollowUp

logger = logging.getLogger(__name__)
ACTOR = "scheduler"


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
    runner = SchedulerRunner(components.schedule, build_jobs(components), leader)

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
        print(f"scheduler running ({role}); Ctrl-C stops it", file=sys.stderr, flush=True)  # noqa: T201
        runner.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        runner.shutdown()
    print("scheduler stopped", file=sys.stderr)  # noqa: T201
    return EXIT_OK


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
