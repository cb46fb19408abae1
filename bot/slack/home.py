"""App Home: the seller's stores (last order sync, last report import, failures) and open cases."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.conversation import Speaker
from bot.escalation import EscalationService
from bot.render.blocks import MAX_VIEW_BLOCKS, action_button, render_template, truncate
from bot.render.mrkdwn import escape, slack_date
from bot.slack.identity import account_name
from bot.slack.poster import SlackPoster
from bot.slack.turns import not_linked_text, services_of, speaker_of
from erp.accounts import list_stores
from erp.models import AuthStatus, Escalation, Role, Store
from handlers.diagnosis import Action, ActionKind, Language
from handlers.text import say
from knowledge.glossary import term, word

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
    user = str(event.get("user", speaker.user_id))
    language = home_language(services, context.team_id or "", str(event.get("channel", "")), user)
    with services.sessions() as session:
        stores = list_stores(session, speaker.account_id) if speaker.account_id is not None else []
        name = account_name(session, speaker.account_id)
    if speaker.role == Role.AGENT:
        # An agent looking at the queue is a good moment to deliver what Slack refused before.
        try:
            services.escalations.retry_undelivered(SlackPoster(client), team_id=context.team_id or "")
        except Exception:
            log.exception("retrying undelivered cases failed")
    view = home_view(speaker, name, stores, services.escalations, language=language)
    client.views_publish(user_id=user, view=view)


def home_language(services: Any, team_id: str, channel: str, user: str) -> Language:
    """The language of the user's conversation with the bot (their DM), English by default."""
    if not channel:
        return "en"
    key = f"slack:{team_id}:{channel}:{user}"
    answers = getattr(services, "answers", None)
    latest = answers.latest(key) if answers is not None else None
    if latest is not None:
        return latest.language
    store = getattr(services.conversation, "store", None)
    try:
        return "zh" if store is not None and store.remembered_language(key) == "zh" else "en"
    except Exception:
        return "en"


def store_line(store: Store, language: Language = "en") -> str:
    """One store: platform, authorization, last order sync and last report import, with failures.

    A failure is said in the seller's words; in Chinese the stored English error is replaced by
    what to do (the glossary's words), since it was written for the logs.
    """
    lines = [f"*{escape(store.name)}* ({escape(store.platform)} {escape(store.region)})".replace(" )", ")")]
    if store.auth_status != AuthStatus.AUTHORIZED:
        authorization = term("platform_authorization", language)
        state = word("auth_status", store.auth_status, language)
        lines.append(
            say(
                language,
                f":warning: authorization {state}: re-authorize the store under {authorization}",
                f":warning: 授权{state}：请在“{authorization}”中重新授权该店铺",
            )
        )
    never = say(language, "never", "从未")
    sync = say(language, "Last order sync: ", "上次订单同步：") + slack_date(
        _aware(store.last_order_sync_at), never=never
    )
    if store.last_order_sync_error:
        sync += "  :x: " + _failure(store.last_order_sync_error, language)
    report = say(language, "Last report import: ", "上次报告导入：") + slack_date(
        _aware(store.last_report_import_at), never=never
    )
    if store.last_report_import_error:
        report += "  :x: " + _failure(store.last_report_import_error, language)
    return "\n".join([*lines, sync, report])


def _case_line(case: Escalation, language: Language, *, agent: bool) -> str:
    state = _case_state(case.state, language)
    what = escape(truncate(case.summary or case.question or say(language, "request", "请求"), 200))
    line = f"*#{case.id}* {what} ({state})"
    if not case.cs_thread_ts:
        line += say(
            language,
            "  :warning: not delivered to the support channel yet",
            "  :warning: 尚未送达客服频道",
        )
        if agent and case.delivery_error:
            line += f" ({escape(case.delivery_error)})"
    return line


def _failure(error: str, language: Language) -> str:
    if language == "en":
        return escape(truncate(error, 300))
    if "authoriz" in error.lower():
        return word("platform_error", "authorization_expired", language)
    return word("sync_outcome", "failed", language)


def home_view(
    speaker: Speaker,
    account: str,
    stores: list[Store],
    escalations: EscalationService,
    *,
    language: Language = "en",
) -> dict[str, Any]:
    """The Home tab for `speaker`: their account's stores only (agents also see every open case)."""
    hint = say(
        language, "Type `/sellerdesk help` to see what I can do.", "输入 `/sellerdesk help` 查看我能做什么。"
    )
    if speaker.account_id is None:
        return render_template(
            "home.j2",
            title="SellerDesk",
            intro=not_linked_text(language),
            stores=[],
            cases=[],
            cases_title="",
            buttons=[],
            hint=hint,
        )
    agent = speaker.role == Role.AGENT
    cases = escalations.open_cases(None if agent else speaker.account_id)
    case_lines = [_case_line(case, language, agent=agent) for case in cases[:10]]
    shown = stores[:MAX_STORES]
    store_lines = [store_line(store, language) for store in shown]
    if len(stores) > len(shown):
        store_lines.append(
            say(
                language,
                f"…and {len(stores) - len(shown)} more stores.",
                f"……还有 {len(stores) - len(shown)} 个店铺。",
            )
        )
    buttons = [
        button
        for index, action in enumerate(
            [
                Action(ActionKind.SYNC_NOW, say(language, "Sync orders now", "立即同步订单"), {}),
                Action(ActionKind.TALK_TO_PERSON, say(language, "Talk to a person", "联系人工客服"), {}),
            ]
        )
        if (button := action_button(action, flow="home", verdict="home", index=index))
    ]
    view = render_template(
        "home.j2",
        title=f"SellerDesk: {account}" if account else "SellerDesk",
        intro=""
        if stores
        else say(language, "No stores are connected to this account yet.", "这个账号还没有连接店铺。"),
        stores=store_lines,
        cases=case_lines,
        cases_title=say(language, "*Open cases with customer service*", "*人工客服处理中的工单*"),
        buttons=buttons,
        hint=say(
            language,
            "Ask me anything in the Messages tab, or use `/sync-orders`, `/find-order`, `/check-sku`.",
            "在“消息”标签页里直接问我，或使用 `/sync-orders`、`/find-order`、`/check-sku`。",
        ),
    )
    view["blocks"] = view["blocks"][:MAX_VIEW_BLOCKS]
    return view


def _case_state(state: str, language: Language) -> str:
    names = {
        "open": ("open", "待处理"),
        "taken": ("being handled", "处理中"),
        "resolved": ("resolved", "已解决"),
    }
    return say(language, *names[state]) if state in names else escape(state)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
