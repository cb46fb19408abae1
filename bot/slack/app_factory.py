"""Builds the Bolt `App` from one `Settings` and the composition root's parts.

Single-workspace mode uses `SLACK_BOT_TOKEN`; with `SLACK_CLIENT_ID` the app installs into many
workspaces and keeps their tokens in the database (slack-sdk's SQLAlchemy stores, on the app's
own engine, SQLite or PostgreSQL). Every listener gets one `SlackServices` and the resolved
`Speaker` through Bolt's context.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, cast

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from sqlalchemy.engine import Engine

from bot.escalation import AnswerBook, EscalationService
from bot.escalation.message import FlowTitles
from bot.render.relabel import relabel_blocks
from bot.settings import Settings
from bot.slack import actions, commands, events, home, messages, relabel, views
from bot.slack.context import SERVICES_KEY, SPEAKER_KEY, SlackServices
from bot.slack.dedupe import EventDeduper, request_key
from bot.slack.edge import clean_strings, serialized
from bot.slack.identity import resolve_speaker
from bot.slack.pacing import AckGate, FairLazyRunner, SellerPools
from bot.slack.progress import ChannelThrottle

log = logging.getLogger(__name__)

BOT_SCOPES = (
    "app_mentions:read",
    "chat:write",
    "commands",
    "im:history",
    "im:read",
    "im:write",
    "files:write",
    "files:read",
    "users:read",
    "channels:history",
    "groups:history",
    "reactions:write",  # "on it" while a check runs, "delivered" on relayed messages
)


LAZY_WORKERS = 8  # quick checks (database reads, one marketplace call)
SLOW_WORKERS = 4  # picture fetches, order syncs, store exports
QUICK_PER_SELLER = 4  # workers one seller (account) may hold at once in each pool
SLOW_PER_SELLER = 2


class SlackConfigError(ValueError):
    """Slack is not configured well enough to start; the message says what to set."""


def retry_handlers() -> list[RetryHandler]:
    """Connection errors, 429 (honouring Retry-After) and 5xx are retried a few times."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
    ]


def web_client(settings: Settings, token: str | None) -> WebClient:
    return WebClient(
        token=token or None, base_url=settings.slack_api_url, timeout=15, retry_handlers=retry_handlers()
    )


def default_evidence_renderer() -> Callable[..., bytes] | None:
    """The evidence card renderer, when this installation has it."""
    try:
        from bot.render.evidence import render_evidence_card
    except ImportError:  # evidence cards are an addition to the text; the case goes out without
        log.warning("evidence cards are not available; escalations carry text only")
        return None
    return render_evidence_card


def flow_titles(components: Any) -> FlowTitles | None:
    """Flow titles from the knowledge (cases and cards show titles, not flow ids)."""

    def title(flow: str, language: Any) -> str:
        try:  # read when a case needs it: building the app does not load the knowledge
            return str(components.knowledge.flow(flow).text(language).title)
        except (AttributeError, KeyError):
            return flow.replace("_", " ").capitalize()

    return title


def check_config(settings: Settings, *, socket_mode: bool = False, worker: bool = False) -> None:
    """Raise `SlackConfigError` naming what to set when Slack cannot be served with `settings`."""
    if socket_mode and not settings.slack_app_token:
        raise SlackConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...)")
    if not socket_mode and not worker and not settings.slack_signing_secret:
        raise SlackConfigError("SLACK_SIGNING_SECRET is not set: Slack requests cannot be verified")
    if not settings.slack_bot_token and not settings.oauth_enabled:
        raise SlackConfigError("set SLACK_BOT_TOKEN, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for installs")


def build_app(
    settings: Settings,
    components: Any,
    *,
    token_verification: bool = True,
    socket_mode: bool = False,
    worker: bool = False,
) -> App:
    """The Bolt app with every surface registered.

    Args:
        settings: the one validated settings object.
        components: the composition root (`app.Components`): `engine`, `session()`,
            `conversation` and `services` are used.
        token_verification: call `auth.test` at start (single-workspace mode).
        socket_mode: requests arrive over Socket Mode (no signing secret needed).
        worker: the app of a task worker: it runs the lazy halves of requests the web process
            verified and queued (`bot/tasks/slack.py`), and journals its posts.

    Raises:
        SlackConfigError: neither a bot token nor OAuth credentials.
    """
    check_config(settings, socket_mode=socket_mode, worker=worker)
    verify = not socket_mode and not worker  # a worker's requests come verified, from the broker
    tasks = getattr(components, "tasks", None)
    queued = not worker and tasks is not None and tasks.distributed
    sessions = components.session
    gate = AckGate()
    # The composition root's own clock when it has one: building `services` (connectors, the image
    # checker, the jobs) only for its clock would put them all on the start-up path.
    own_clock = getattr(components, "clock", None)
    clock = cast(
        Callable[[], datetime], own_clock or getattr(components.services, "clock", lambda: datetime.now(UTC))
    )
    escalations = EscalationService(
        sessions,
        channel=settings.escalation_channel,
        clock=clock,
        evidence=default_evidence_renderer(),
        titles=flow_titles(components),
        extra_blocks=relabel_blocks,  # agents set the flow the seller really meant
    )
    if settings.oauth_enabled:
        # Imported only for installs: these stores pull in SQLAlchemy's asyncio support.
        from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
        from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

        installation_store = SQLAlchemyInstallationStore(
            client_id=settings.slack_client_id, engine=components.engine
        )
        installation_store.create_tables()
        state_store = SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=components.engine)
        state_store.create_tables()
        app = App(
            signing_secret=settings.slack_signing_secret or None,
            request_verification_enabled=verify,
            client=web_client(settings, None),
            process_before_response=True,
            listener_executor=_executor(gate),
            oauth_settings=OAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret,
                scopes=list(BOT_SCOPES),
                installation_store=installation_store,
                state_store=state_store,
                install_path="/slack/install",
                redirect_uri_path="/slack/oauth_redirect",
            ),
        )

        def client_for_team(team_id: str) -> WebClient:
            bot = installation_store.find_bot(enterprise_id=None, team_id=team_id or None)
            return web_client(settings, bot.bot_token if bot else None)

    else:
        client = web_client(settings, settings.slack_bot_token)
        app = App(
            signing_secret=settings.slack_signing_secret or None,
            request_verification_enabled=verify,
            client=client,
            process_before_response=True,
            listener_executor=_executor(gate),
            token_verification_enabled=token_verification,
        )

        def client_for_team(team_id: str) -> WebClient:
            return client

    pools = app.listener_runner.listener_executor
    if isinstance(pools, SellerPools):
        # Bolt hands lazy listeners to its executor without saying whose they are; this runner
        # (same interface) names the seller and the kind of work, so the pools can be fair.
        app.listener_runner.lazy_listener_runner = FairLazyRunner(app.logger, pools, _seller_of)
    from erp.db import quick_engine

    # Writes made while Slack waits (delivery ids, link codes) never queue behind a long writer.
    quick = quick_engine(components.engine)
    quick_sessions = _sessions_on(quick)
    ack_engine = _one_statement(quick)
    services = SlackServices(
        settings=settings,
        # With a broker this process only acknowledges: the conversation (and the matcher it
        # trains) is never used here, so it is not built (start-up, memory).
        conversation=cast(Any, _Deferred(lambda: components.conversation))
        if queued
        else components.conversation,
        sessions=sessions,
        escalations=escalations,
        clock=clock,
        client_for_team=client_for_team,
        events=EventDeduper(ack_engine, clock),
        throttle=ChannelThrottle(),
        answers=AnswerBook(sessions, clock),
        quick_sessions=quick_sessions,
    )
    app.middleware(_clean_text)
    if worker:
        from bot.tasks.journal import PostJournal
        from bot.tasks.slack import journal_middleware

        journal = PostJournal(components.engine)
        journal.forget_old()
        app.middleware(journal_middleware(journal))
    elif queued:
        from bot.tasks.slack import use_queue

        use_queue(app, cast(Any, tasks))  # the slow halves go to the workers
    app.middleware(_attach(services, ack_engine))
    if settings.oauth_enabled:
        # Uninstall and token revocation delete the workspace's stored installation and bot.
        app.enable_token_revocation_listeners()
    # relabel first: it takes `/sellerdesk relabel` and "relabel FLOW" in a case thread; Bolt runs
    # the first listener that matches, so commands and messages get everything else.
    for surface in (relabel, events, messages, commands, actions, views, home):
        surface.register(app)
    return app


# Why `process_before_response=True` in HTTP mode: Bolt then runs each ack function in the request
# thread and answers at once, while lazy listeners (the slow checks) go to the executor. With
# False, Bolt runs the ack function itself on that same executor, so acks would queue behind
# slow checks once every worker is busy, and Slack's 3 seconds would run out.


def _executor(gate: AckGate) -> ThreadPoolExecutor:
    # Lazy listeners run checks that wait on marketplaces for seconds; Bolt's default of five
    # workers would queue the sixth seller behind them.
    return SellerPools(
        gate,
        max_workers=LAZY_WORKERS,
        slow_workers=SLOW_WORKERS,
        quick_per_seller=QUICK_PER_SELLER,
        slow_per_seller=SLOW_PER_SELLER,
        thread_name_prefix="sellerdesk-lazy",
    )


def _seller_of(request: BoltRequest) -> str:
    """Whose work a request starts: the linked account, else the Slack user."""
    context = request.context
    speaker = context.get(SPEAKER_KEY)
    account = getattr(speaker, "account_id", None)
    if account is not None:
        return f"account:{account}"
    return f"slack:{context.team_id or ''}:{context.user_id or ''}"


def _sessions_on(engine: Engine) -> Callable[[], Any]:
    """Sessions on `engine` (the quick one: `/sellerdesk link` redeems its code while Slack waits)."""
    from sqlmodel import Session

    return lambda: Session(engine, expire_on_commit=False)


def _clean_text(req: BoltRequest, next: Callable[[], BoltResponse]) -> BoltResponse | None:  # noqa: A002
    """Middleware: strip characters no database can store (NUL...) from everything Slack sent.

    Bolt's lazy listeners parse the raw body again, so a changed body is written back there too.
    """
    if clean_strings(req.body) and req.mode == "http" and req.raw_body:
        req.raw_body = serialized(req.body, req.raw_body)
    return next()


def _delivery_id(body: dict[str, Any], request: BoltRequest) -> str:
    """The id that makes a delivery unique: the event id, or a signed request's signature."""
    if body.get("type") == "event_callback":
        return str(body.get("event_id") or "")
    if body.get("type") == "url_verification":
        return ""
    signature = (request.headers.get("x-slack-signature") or [""])[0]
    return request_key(signature) if signature else ""  # Socket Mode requests are not signed


class _Deferred:
    """Stands in for a part and builds it on first use."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._built: Any = None
        self._guard = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._guard:
            if self._built is None:
                self._built = self._build()
        return getattr(self._built, name)


def _one_statement(engine: Engine) -> Engine:
    """`engine` for the acknowledgement path's single statements (record a delivery id, look the
    Slack user up): in autocommit, so PostgreSQL gets the statement alone, not wrapped in BEGIN
    and COMMIT or ROLLBACK, two round trips more each time Slack waits (9% of an ack's CPU)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _attach(services: SlackServices, ack_engine: Engine) -> Callable[..., Any]:
    """Middleware: drop repeated deliveries, resolve the speaker, hand listeners the services.

    Both statements run on one connection of `ack_engine` (`_one_statement`): a second checkout,
    with its ping on PostgreSQL, cost another tenth of an ack.
    """

    def attach_services(
        context: BoltContext,
        body: dict[str, Any],
        req: BoltRequest,
        next: Callable[[], BoltResponse],  # noqa: A002
    ) -> BoltResponse | None:
        delivery = _delivery_id(body, req)
        with ack_engine.connect() as connection:
            # A worker running the queued half of a request: its first delivery was this one.
            if delivery and not req.lazy_only and not services.events.first_delivery(delivery, connection):
                # A retried event, or the same signed command or click sent twice: it did its one
                # thing the first time.
                log.info("delivery %s already handled; acknowledging the repeat", delivery[:40])
                return BoltResponse(status=200, body="")
            speaker = resolve_speaker(connection, context.team_id or "", context.user_id or "")
        context[SERVICES_KEY] = services
        context[SPEAKER_KEY] = speaker
        return next()

    return attach_services
