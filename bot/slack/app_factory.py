"""Builds the Bolt `App` from one `Settings` and the composition root's parts.

Single-workspace mode uses `SLACK_BOT_TOKEN`; with `SLACK_CLIENT_ID` the app installs into many
workspaces and keeps their tokens in the database (slack-sdk's SQLAlchemy stores, on the app's
own engine, SQLite or PostgreSQL). Every listener gets one `SlackServices` and the resolved
`Speaker` through Bolt's context.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler

from bot.escalation import EscalationService
from bot.settings import Settings
from bot.slack import actions, commands, events, home, messages, relabel, views
from bot.slack.context import SERVICES_KEY, SPEAKER_KEY, SlackServices
from bot.slack.dedupe import EventDeduper
from bot.slack.identity import resolve_speaker
from bot.slack.pacing import AckFirstExecutor, AckGate
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
)


LAZY_WORKERS = 8


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


def check_config(settings: Settings, *, socket_mode: bool = False) -> None:
    """Raise `SlackConfigError` naming what to set when Slack cannot be served with `settings`."""
    if socket_mode and not settings.slack_app_token:
        raise SlackConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...)")
    if not socket_mode and not settings.slack_signing_secret:
        raise SlackConfigError("SLACK_SIGNING_SECRET is not set: Slack requests cannot be verified")
    if not settings.slack_bot_token and not settings.oauth_enabled:
        raise SlackConfigError("set SLACK_BOT_TOKEN, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for installs")


def build_app(
    settings: Settings, components: Any, *, token_verification: bool = True, socket_mode: bool = False
) -> App:
    """The Bolt app with every surface registered.

    Args:
        settings: the one validated settings object.
        components: the composition root (`app.Components`): `engine`, `session()`,
            `conversation` and `services` are used.
        token_verification: call `auth.test` at start (single-workspace mode).
        socket_mode: requests arrive over Socket Mode (no signing secret needed).

    Raises:
        SlackConfigError: neither a bot token nor OAuth credentials.
    """
    check_config(settings, socket_mode=socket_mode)
    sessions = components.session
    gate = AckGate()
    clock = getattr(components.services, "clock", lambda: datetime.now(UTC))
    escalations = EscalationService(
        sessions, channel=settings.escalation_channel, clock=clock, evidence=default_evidence_renderer()
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
            request_verification_enabled=not socket_mode,
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
            request_verification_enabled=not socket_mode,
            client=client,
            process_before_response=True,
            listener_executor=_executor(gate),
            token_verification_enabled=token_verification,
        )

        def client_for_team(team_id: str) -> WebClient:
            return client

    services = SlackServices(
        settings=settings,
        conversation=components.conversation,
        sessions=sessions,
        escalations=escalations,
        clock=clock,
        client_for_team=client_for_team,
        events=EventDeduper(sessions, clock),
        throttle=ChannelThrottle(),
    )
    app.middleware(_attach(services))
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
    return AckFirstExecutor(gate, max_workers=LAZY_WORKERS, thread_name_prefix="sellerdesk-lazy")


def _attach(services: SlackServices) -> Callable[..., Any]:
    """Middleware: drop retried events, resolve the speaker, hand listeners the services."""

    def attach_services(
        context: BoltContext,
        body: dict[str, Any],
        next: Callable[[], BoltResponse],  # noqa: A002
    ) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not services.events.first_delivery(str(event_id)):
            log.info("event %s already handled; acknowledging the retry", event_id)
            return BoltResponse(status=200, body="")
        with services.sessions() as session:
            speaker = resolve_speaker(session, context.team_id or "", context.user_id or "")
        context[SERVICES_KEY] = services
        context[SPEAKER_KEY] = speaker
        return next()

    return attach_services
