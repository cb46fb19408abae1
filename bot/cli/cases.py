"""Command cases: escalations and their state, including any not yet in the support channel.

cases list [--all] [--undelivered] [--json]

A case Slack refused (the bot not in the channel, the channel gone, an upload error) is kept and
shown here as NOT DELIVERED with Slack's reason, so nobody's request is lost while it is fixed.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlmodel import col, select

from bot.cli.common import EXIT_OK
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
    return ["cases"]


def delivery(case: Escalation) -> str:
    """How far the case got: delivered, or what is still missing and Slack's reason."""
    if not case.cs_thread_ts:
        return f"NOT DELIVERED ({case.delivery_error or 'not tried yet'})"
    if case.evidence_png is not None and case.evidence_delivered_at is None:
        return f"evidence not attached ({case.delivery_error or 'not tried yet'})"
    return "delivered"


def run(args: argparse.Namespace, components: Any) -> int:
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
