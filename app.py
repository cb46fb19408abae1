"""SellerDesk's command line and composition root: parse the command, build the parts, start them.

Wiring only. Each command group lives in `bot/cli/<group>.py` with `add_parser(subparsers)` and
`run(args, components) -> int`. Parts are built lazily, so `classify` never opens a database
and `check-image` never trains the matcher.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bot.settings import Settings, SettingsError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from bot.conversation import Conversation
    from bot.tasks.runner import TaskRunner
    from erp.jobs.order_sync import OrderSync
    from erp.jobs.report_import import ReportRefresher
    from erp.jobs.schedule import JobSchedule
    from erp.platforms.registry import ConnectorRegistry
    from handlers.image_check import ImageChecker
    from handlers.services import Services
    from knowledge.loader import KnowledgeBase
    from knowledge.model_cache import LiveMatcher

COMMAND_GROUPS = (
    "console",
    "classify",
    "check_image",
    "demo",
    "orders",
    "reports",
    "admin",
    "scheduler",
    "slack",
    "cases",
    "worker",
    "knowledge",
)

# The group that defines each command: `main` imports only the command's own group, so `classify`
# or `serve` never pays for the imports of the others (SQLModel, the sandboxes, the scheduler).
# tests/test_startup_imports.py checks this agrees with what the groups define.
COMMAND_GROUP = {
    "console": "console",
    "classify": "classify",
    "check-image": "check_image",
    "demo": "demo",
    "sync-orders": "orders",
    "report": "reports",
    "store": "admin",
    "account": "admin",
    "user": "admin",
    "scheduler": "scheduler",
    "serve": "slack",
    "socket": "slack",
    "cases": "cases",
    "worker": "worker",
    "knowledge": "knowledge",
}


class Components:
    """The application's parts, each built on first use from one `Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def engine(self) -> Engine:
        from erp.db import create_schema, make_engine

        engine = make_engine(self.settings.database_url)
        create_schema(engine)
        _fail_abandoned_imports(engine)
        return engine

    def clock(self) -> datetime:
        """Now, in UTC: the one clock of every part built here."""
        return datetime.now(UTC)

    def session(self) -> Session:
        from sqlmodel import Session

        return Session(self.engine, expire_on_commit=False)

    @cached_property
    def knowledge(self) -> KnowledgeBase:
        from knowledge.loader import load_knowledge

        return load_knowledge()

    @cached_property
    def matcher(self) -> LiveMatcher:
        from erp.learned import accepted_examples_if_any
        from knowledge.model_cache import LiveMatcher

        # Read from the disk cache when nothing changed: start-up neither trains nor imports
        # scikit-learn. Accepted learned examples are trained on, also once the bot is running.
        url = self.settings.database_url
        return LiveMatcher(self.knowledge, lambda: accepted_examples_if_any(url))

    @cached_property
    def connectors(self) -> ConnectorRegistry:
        from erp.platforms.credentials import credentials_loader, credentials_saver
        from erp.platforms.registry import ConnectorRegistry

        # Shopee rotates refresh tokens on every refresh: the new ones are stored at once.
        return ConnectorRegistry(
            on_credentials_changed=credentials_saver(self.session),
            load_credentials=credentials_loader(self.session),
        )

    @cached_property
    def schedule(self) -> JobSchedule:
        from erp.jobs.schedule import JobSchedule

        return JobSchedule(order_sync_minutes=self.settings.order_sync_minutes)

    @cached_property
    def image_checker(self) -> ImageChecker:
        from handlers.image_check import FetchPolicy, ImageChecker

        settings = self.settings
        return ImageChecker(
            FetchPolicy(allow=settings.fetch_allow, total_timeout=settings.fetch_total_seconds)
        )

    @cached_property
    def order_sync(self) -> OrderSync:
        # Marketplace calls spend their time waiting on the network and on per-store rate limits,
        # so 16 stores at once pays off even on two cores (bench/sync.py).
        from erp.jobs.locks import store_locks_for
        from erp.jobs.order_sync import OrderSync

        # The store lock holds across processes: workers on other machines sync stores too.
        locks = store_locks_for(self.engine)
        return OrderSync(self.session, self.connectors.connector_for, max_workers=16, store_lock=locks)

    @cached_property
    def report_refresher(self) -> ReportRefresher:
        from erp.jobs.report_import import ReportRefresher

        return ReportRefresher(self.session, self.connectors.connector_for)

    @cached_property
    def services(self) -> Services:
        from handlers.services import Services

        return Services(
            sessions=self.session,
            connector_for=self.connectors.connector_for,
            orders=self.order_sync,
            reports=self.report_refresher,
            images=self.image_checker,
            schedule=self.schedule,
            clock=self.clock,
            export_dir=os.path.join(self.settings.data_dir, "exports"),
        )

    @cached_property
    def broker(self) -> Any:
        """The task broker (Dramatiq on Redis) when SELLERDESK_BROKER_URL is set."""
        from bot.tasks.broker import make_broker

        return make_broker(self.settings.broker_url, heartbeat_seconds=self.settings.worker_heartbeat_seconds)

    @cached_property
    def tasks(self) -> TaskRunner:
        """Where background tasks run: the broker's workers, or threads of this process."""
        if self.settings.broker_url:
            from bot.tasks.runner import BrokerTasks

            return BrokerTasks(self.broker, self.broker.client)
        from concurrent.futures import ThreadPoolExecutor

        from bot.tasks.jobs import task_handlers
        from bot.tasks.runner import InProcessTasks

        pool = ThreadPoolExecutor(8, thread_name_prefix="sellerdesk-task")
        return InProcessTasks(task_handlers(self), pool)

    @cached_property
    def conversation(self) -> Conversation:
        from bot.conversation import Conversation

        return Conversation(services=self.services, knowledge=self.knowledge, matcher=self.matcher)


def _fail_abandoned_imports(engine: Engine) -> None:
    """A report import a killed process left `in_progress` is marked failed at the next start."""
    from sqlmodel import Session

    from erp.jobs.report_import import fail_abandoned_imports

    fail_abandoned_imports(lambda: Session(engine, expire_on_commit=False))


def build_parser(groups: Sequence[str] = COMMAND_GROUPS) -> tuple[argparse.ArgumentParser, dict[str, Any]]:
    """The command line of `groups` (every group by default: `--help` lists them all)."""
    parser = argparse.ArgumentParser(
        prog="sellerdesk",
        description="SellerDesk: the support bot that runs the checks itself. "
        "With no command: Socket Mode if SLACK_APP_TOKEN is set, HTTP mode if SLACK_SIGNING_SECRET "
        "is set, else the console on the embedded demo.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers: dict[str, Any] = {}
    for group in groups:
        module = importlib.import_module(f"bot.cli.{group}")
        for name in module.add_parser(subparsers):
            handlers[name] = module
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args: argparse.Namespace | None = None
    if arguments:
        group = COMMAND_GROUP.get(arguments[0])
        parser, handlers = build_parser((group,) if group else COMMAND_GROUPS)
        args = parser.parse_args(arguments)
    logging.basicConfig(
        level=os.environ.get("SELLERDESK_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"sellerdesk: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    components = Components(settings)
    command = args.command if args is not None and args.command else _default_command(settings)
    if args is None or args.command is None:
        parser, handlers = build_parser((COMMAND_GROUP[command],))
        args = parser.parse_args([command])
    try:
        return int(handlers[command].run(args, components))
    except KeyboardInterrupt:
        print("sellerdesk: stopped", file=sys.stderr)  # noqa: T201
        return 130
    except Exception as exc:
        # Commands handle their own bad input; an unusable DATABASE_URL reaches here, from any of them.
        if not _is_database_error(exc):
            raise
        print(f"sellerdesk: {_database_problem(settings.database_url, exc)}", file=sys.stderr)  # noqa: T201
        return 2


def _is_database_error(exc: Exception) -> bool:
    """An unusable DATABASE_URL or an unreachable database, without importing SQLAlchemy first:
    a command that never opened the database cannot have raised one."""
    if "sqlalchemy.exc" not in sys.modules:
        return False
    from sqlalchemy.exc import ArgumentError, OperationalError

    return isinstance(exc, ArgumentError | OperationalError)


def _database_problem(url: str, exc: Exception) -> str:
    """One line naming the database (password hidden) and what went wrong, for any command."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "DATABASE_URL is not a database URL (for example sqlite:///sellerdesk.db or postgresql://user@host/db)"
    if isinstance(exc, ArgumentError):
        return f"DATABASE_URL {shown} cannot be used: {str(exc).splitlines()[0]}"
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()
    return f"cannot open the database {shown}: {reason[0] if reason else type(exc).__name__}"


def _default_command(settings: Settings) -> str:
    if settings.slack_app_token:
        return "socket"
    if settings.slack_signing_secret:
        return "serve"
    return "console"


if __name__ == "__main__":
    sys.exit(main())
