"""Modals: the confirmation before an owner deletes a store's data from Slack.

The modal carries only a token; what it confirms (which store, where to answer) is our own
record of the modal (`bot/slack/confirmations.py`), so a changed submission cannot delete
another store. Every refused submission is audited with who and why.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from sqlmodel import col, select

from bot.render.blocks import render_template
from bot.slack.confirmations import Confirmation, find_confirmation, open_confirmation, use_confirmation
from bot.slack.poster import SlackPoster
from bot.slack.turns import Place, TurnRunner, services_of, speaker_of
from erp.accounts import audit
from erp.models import Role, Store
from erp.store_data import count_store_data
from handlers.delete_store_data import scope_sentence
from handlers.diagnosis import Language
from handlers.text import say

log = logging.getLogger(__name__)

CALLBACK_ID = "sd_delete_store"

_KINDS: dict[str, tuple[str, str]] = {
    "orders": ("orders", "订单"),
    "products": ("products", "商品"),
    "upload_records": ("upload records", "上传记录"),
    "reports": ("platform reports", "平台报告"),
    "report_rows": ("report rows", "报告行"),
    "price_changes": ("price changes", "调价记录"),
}


def register(app: App) -> None:
    app.view(CALLBACK_ID)(ack=check_submission, lazy=[delete_store])


def open_delete_modal(
    body: dict[str, Any], data: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """Open the confirmation modal (owners only), naming what would be deleted."""
    services = services_of(context)
    speaker = speaker_of(context)
    poster = SlackPoster(client)
    container = body.get("container") or {}
    channel = str(container.get("channel_id", ""))
    message = body.get("message") or {}
    language: Language = "zh" if _is_zh(message) else "en"
    if speaker.role != Role.OWNER or speaker.account_id is None:
        poster.ephemeral(
            channel,
            speaker.user_id,
            say(
                language,
                "Only the account owner can delete a store's data.",
                "只有账号所有者可以删除店铺数据。",
            ),
        )
        return
    params = data.get("p") or {}
    with services.sessions() as session:
        store = _own_store(session, speaker.account_id, str(params.get("store_id", "")))
        if store is None or store.id is None:
            poster.ephemeral(
                channel, speaker.user_id, say(language, "I can't find that store.", "找不到该店铺。")
            )
            return
        counts = count_store_data(session, store.id).as_dict()
        token = open_confirmation(
            session,
            actor=speaker.actor,
            account_id=speaker.account_id,
            store_id=store.id,
            store_name=store.name,
            channel=channel,
            thread_ts=str(message.get("thread_ts") or message.get("ts") or ""),
            language=language,
            now=services.clock(),
        )
    lines = "\n".join(
        f"• {say(language, *_KINDS.get(kind, (kind, kind)))}: {number:,}" for kind, number in counts.items()
    )
    # Only the token (and the language of error messages) travels with the modal.
    metadata = json.dumps({"confirm": token, "language": language})
    view = render_template(
        "delete_modal.j2",
        metadata=metadata,
        title=say(language, "Delete store data", "删除店铺数据"),
        submit=say(language, "Delete", "删除"),
        close=say(language, "Cancel", "取消"),
        intro=say(
            language,
            f"This deletes the software's data for *{store.name}*:",
            f"将删除本软件中 *{store.name}* 的数据：",
        ),
        counts=lines,
        scope=scope_sentence(language)
        + say(language, " An export is kept; you can undo for 7 days.", "会保留导出备份，7 天内可撤销。"),
        prompt=say(
            language,
            f"Type the store's name ({store.name}) to confirm",
            f"输入店铺名称（{store.name}）以确认",
        ),
    )
    client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)


def check_submission(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
    """Close the modal only when the typed name matches our record; otherwise say so under the field."""
    metadata = _metadata(view)
    typed = _typed(view)
    language: Language = "zh" if metadata.get("language") == "zh" else "en"
    speaker = speaker_of(context)
    services = services_of(context)
    if speaker.role != Role.OWNER:
        _refused(services, speaker, None, "only the account owner can delete a store's data")
        ack(
            response_action="errors",
            errors={
                "confirm": say(
                    language, "Only the account owner can do this.", "只有账号所有者可以执行此操作。"
                )
            },
        )
        return
    with services.sessions() as session:
        record = find_confirmation(
            session, str(metadata.get("confirm", "")), actor=speaker.actor, now=services.clock()
        )
    if record is None:
        _refused(
            services,
            speaker,
            None,
            "not a confirmation we opened for this user (changed, old or used)",
        )
        ack(
            response_action="errors",
            errors={
                "confirm": say(
                    language,
                    "This confirmation is no longer valid. Nothing was deleted; "
                    "open it again from the message.",
                    "此确认已失效，未删除任何数据；请从消息中重新打开。",
                )
            },
        )
        return
    if typed.strip() != record.store_name:
        _refused(services, speaker, record, f"typed {typed.strip()[:60]!r}, not the store's name")
        ack(
            response_action="errors",
            errors={
                "confirm": say(
                    language,
                    f"That is not the store's name. Type {record.store_name} exactly.",
                    f"店铺名称不对，请准确输入 {record.store_name}。",
                )
            },
        )
        return
    ack()


def delete_store(view: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """After the modal closed: delete the recorded store through the conversation (export, audit there)."""
    speaker = speaker_of(context)
    services = services_of(context)
    typed = _typed(view)
    token = str(_metadata(view).get("confirm", ""))
    with services.sessions() as session:
        record = find_confirmation(session, token, actor=speaker.actor, now=services.clock())
    if speaker.role != Role.OWNER or record is None or typed.strip() != record.store_name:
        return  # refused (and audited) while acknowledging
    if not use_confirmation(services.sessions, record.token, now=services.clock()):
        return  # a second submission of the same modal: it deleted once already
    channel = record.channel or SlackPoster(client).open_dm(speaker.user_id)
    place = Place(context.team_id or "", channel, speaker.user_id, record.thread_ts or None)
    runner = TurnRunner(services, client, place, speaker)
    params = {"store_id": str(record.store_id), "store": record.store_name, "confirm": typed}
    runner.run_action("delete_store_data", params)


def _typed(view: dict[str, Any]) -> str:
    values = (view.get("state") or {}).get("values") or {}
    return str(values.get("confirm", {}).get("store_name", {}).get("value") or "")


def _refused(services: Any, speaker: Any, record: Confirmation | None, why: str) -> None:
    """Audit a refused delete confirmation: who, which store (when known) and why."""
    with services.sessions() as session:
        audit(
            session,
            actor=speaker.actor,
            action="delete_store_data",
            result="refused",
            account_id=speaker.account_id,
            store_id=record.store_id if record is not None else None,
            detail=f"delete confirmation refused: {why}"
            + (f" (store {record.store_name})" if record is not None else ""),
        )


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _own_store(session: Any, account_id: int, store_id: str) -> Store | None:
    if not store_id.isdigit():
        return None
    return session.exec(
        select(Store).where(
            Store.id == int(store_id), Store.account_id == account_id, col(Store.deleted_at).is_(None)
        )
    ).first()


def _is_zh(message: dict[str, Any]) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in str(message.get("text", "")))
