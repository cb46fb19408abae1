"""App Home: the seller's stores (last order sync, last report import, failures) and open cases."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.conversation import Speaker
from bot.escalation import EscalationService
from bot.render.blocks import MAX_VIEW_BLOCKS, action_button, escape, format_time, render_template, truncate
from bot.slack.identity import account_name
from bot.slack.turns import not_linked_text, services_of, speaker_of
from erp.accounts import list_stores
from erp.models import AuthStatus, Role, Store
from handlers.diagnosis import Action, ActionKind, Language

log = logging.getLogger(__name__)

MAX_STORES = 40  # App Home allows 100 blocks; the rest of a very large account is summarised


def register(app: App) -> None:
    app.event("app_home_opened")(ack=acknowledge, lazy=[publish_home])


def acknowledge(ack: Ack) -> None:
    ack()


def publish_home(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    if event.get("tab", "home") != "home":
        return
    services = services_of(context)
    speaker = speaker_of(context)
    with services.sessions() as session:
        stores = list_stores(session, speaker.account_id) if speaker.account_id is not None else []
        name = account_name(session, speaker.account_id)
    view = home_view(speaker, name, stores, services.escalations)
    client.views_publish(user_id=str(event.get("user", speaker.user_id)), view=view)


def store_line(store: Store, language: Language = "en") -> str:
    """One store: platform, authorization, last order sync and last report import, with failures."""
    lines = [f"*{escape(store.name)}* ({escape(store.platform)} {escape(store.region)})".replace(" )", ")")]
    if store.auth_status != AuthStatus.AUTHORIZED:
        lines.append(
            f":warning: authorization {escape(store.auth_status)}: {escape(store.auth_error or '')}".rstrip(
                ": "
            )
        )
    sync = f"Last order sync: {format_time(_aware(store.last_order_sync_at), language)}"
    if store.last_order_sync_error:
        sync += f"  :x: {escape(truncate(store.last_order_sync_error, 300))}"
    report = f"Last report import: {format_time(_aware(store.last_report_import_at), language)}"
    if store.last_report_import_error:
        report += f"  :x: {escape(truncate(store.last_report_import_error, 300))}"
    return "\n".join([*lines, sync, report])


def home_view(
    speaker: Speaker, account: str, stores: list[Store], escalations: EscalationService
) -> dict[str, Any]:
    """The Home tab for `speaker`: their account's stores only (agents also see every open case)."""
    if speaker.account_id is None:
        return render_template(
            "home.j2",
            title="SellerDesk",
            intro=not_linked_text("en"),
            stores=[],
            cases=[],
            cases_title="",
            buttons=[],
            hint="Type `/sellerdesk help` to see what I can do.",
        )
    cases = escalations.open_cases(None if speaker.role == Role.AGENT else speaker.account_id)
    case_lines = [
        f"*#{case.id}* {escape(case.flow or 'request')} {escape(case.verdict)}: "
        f"{escape(truncate(case.summary, 200))} ({escape(case.state)})"
        for case in cases[:10]
    ]
    shown = stores[:MAX_STORES]
    store_lines = [store_line(store) for store in shown]
    if len(stores) > len(shown):
        store_lines.append(f"…and {len(stores) - len(shown)} more stores.")
    buttons = [
        button
        for index, action in enumerate(
            [
                Action(ActionKind.SYNC_NOW, "Sync orders now", {}),
                Action(ActionKind.TALK_TO_PERSON, "Talk to a person", {}),
            ]
        )
        if (button := action_button(action, flow="home", verdict="home", index=index))
    ]
    view = render_template(
        "home.j2",
        title=f"SellerDesk: {account}" if account else "SellerDesk",
        intro="" if stores else "No stores are connected to this account yet.",
        stores=store_lines,
        cases=case_lines,
        cases_title="*Open cases with customer service*",
        buttons=buttons,
        hint="Ask me anything in the Messages tab, or use `/sync-orders`, `/find-order`, `/check-sku`.",
    )
    view["blocks"] = view["blocks"][:MAX_VIEW_BLOCKS]
    return view


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
