"""Command cases: escalations and their state, including any not yet in the support channel.

cases list [--all] [--undelivered] [--json]
cases retry    deliver the cases Slack refused before (after fixing the channel, or from cron)

A case Slack refused (the bot not in the channel, the channel gone, an upload error) is kept and
shown here as NOT DELIVERED with Slack's reason, so nobody's request is lost while it is fixed.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from bot.cli.common import EXIT_OK, EXIT_PROBLEM, fail
from erp.models import Account, Escalation, EscalationState

DEFAULT_LIMIT = 50


def add_parser(subparsers: Any) -> list[str]:
    cases = subparsers.add_parser("cases", help="escalations and their state, including undelivered ones")
    actions = cases.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list cases (open and taken ones unless --all)")
    listing.add_argument("--all", action="store_true", help="resolved cases too")
    listing.add_argument("--undelivered", action="store_true", help="only cases not (fully) in the channel")
    listing.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help=f"at most this many (default {DEFAULT_LIMIT})"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    actions.add_parser("retry", help="deliver the cases Slack refused before; exit 1 while some are left")
    return ["cases"]


def delivery(case: Escalation) -> str:
    """How far the case got: delivered, or what is still missing and Slack's reason."""
    if not case.cs_thread_ts:
        return f"NOT DELIVERED ({case.delivery_error or 'not tried yet'})"
    if case.evidence_png is not None and case.evidence_delivered_at is None:
        return f"evidence not attached ({case.delivery_error or 'not tried yet'})"
    return "delivered"


def run(args: argparse.Namespace, components: Any) -> int:
    if args.action == "retry":
        return retry(components)
    return list_cases(args, components)


def retry(components: Any) -> int:
    """Deliver undelivered cases with each workspace's bot token; 1 while some are still refused."""
    from bot.escalation import EscalationService
    from bot.render.relabel import relabel_blocks
    from bot.slack.app_factory import default_evidence_renderer, flow_titles, web_client
    from bot.slack.poster import SlackPoster

    settings = components.settings
    if not settings.escalation_channel:
        return fail("SELLERDESK_ESCALATION_CHANNEL is not set: there is no channel to deliver cases to")
    if not (settings.slack_bot_token or settings.oauth_enabled):
        return fail("set SLACK_BOT_TOKEN (or install with OAuth) to deliver cases to Slack")
    service = EscalationService(
        components.session,
        channel=settings.escalation_channel,
        clock=lambda: datetime.now(UTC),
        evidence=default_evidence_renderer(),
        titles=flow_titles(components),
        extra_blocks=relabel_blocks,
    )
    installations = None
    if settings.oauth_enabled:
        from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

        installations = SQLAlchemyInstallationStore(
            client_id=settings.slack_client_id, engine=components.engine
        )
    delivered: list[int] = []
    for team in sorted({case.team_id for case in service.undelivered()}):
        token = settings.slack_bot_token
        if installations is not None:
            bot = installations.find_bot(enterprise_id=None, team_id=team or None)
            token = bot.bot_token if bot else ""
        if token:
            delivered += service.retry_undelivered(SlackPoster(web_client(settings, token)), team_id=team)
    left = service.undelivered()
    print(f"delivered {len(delivered)} cases; {len(left)} still undelivered")  # noqa: T201
    return EXIT_PROBLEM if left else EXIT_OK


def list_cases(args: argparse.Namespace, components: Any) -> int:
    with components.session() as session:
        query = select(Escalation, Account.name).join(Account, col(Account.id) == Escalation.account_id)
        if not args.all:
            query = query.where(col(Escalation.state).in_([EscalationState.OPEN, EscalationState.TAKEN]))
        rows = list(session.exec(query.order_by(col(Escalation.id).desc()).limit(max(1, args.limit))))
    shown = [
        (case, account) for case, account in rows if not args.undelivered or delivery(case) != "delivered"
    ]
    for case, account in shown:
        if args.json:
            print(  # noqa: T201
                json.dumps(
                    {
                        "id": case.id,
                        "state": case.state,
                        "account": account,
                        "flow": case.flow or None,
                        "verdict": case.verdict or None,
                        "seller": case.seller_user_id,
                        "delivered": delivery(case) == "delivered",
                        "delivery": delivery(case),
                        "opened": case.created_at.isoformat(),
                        "summary": case.summary,
                        "question": case.question,
                    },
                    ensure_ascii=False,
                )
            )
            continue
        what = (case.summary or case.question or "").replace("\n", " ")[:80]
        print(  # noqa: T201
            f"#{case.id}  {case.state:<8}  {account:<16}  {case.flow or 'seller request':<22}  "
            f"{delivery(case)}  {case.created_at:%Y-%m-%d %H:%M}  {what}"
        )
    if not shown and not args.json:
        print("no cases" + (" waiting for delivery" if args.undelivered else ""))  # noqa: T201
    return EXIT_OK
