"""Slash commands: acknowledged at once with what will happen, answered in the seller's DM.

Answers go to the DM with the bot rather than the channel the command was typed in: a store's
orders and prices are the seller's business, not the channel's. Agents may name an account
first (`/sync-orders neighbour Shopee MY`) to act for it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from sqlalchemy.exc import OperationalError

from bot.conversation import Speaker, Turn
from bot.slack.identity import act_for_account
from bot.slack.poster import SlackPoster
from bot.slack.turns import (
    Place,
    TurnRunner,
    clean_text,
    guess_language,
    not_linked_text,
    services_of,
    speaker_of,
)
from erp.accounts import redeem_link_code
from handlers.diagnosis import Language
from handlers.text import say

log = logging.getLogger(__name__)

COMMANDS = (
    "/sync-orders",
    "/check-sku",
    "/check-image",
    "/find-order",
    "/price-status",
    "/escalate",
    "/sellerdesk",
)

# Which flow and detail a command's argument feeds (`/check-sku` asks two flows: see `_turns`).
_FLOW_COMMANDS: dict[str, tuple[str, str]] = {
    "/check-image": ("image_not_displaying", "image_url"),
    "/find-order": ("orders_not_synced", "order_id"),
    "/price-status": ("price_not_updated", "sku"),
    "/check-sku": ("upload_sku_missing", "sku"),
}
# `/check-sku` runs both SKU views: the upload page (built from the product list) and the product
# page (built from the platform's reports). A seller asking "where is my SKU" means either.
CHECK_SKU_FLOWS = ("upload_sku_missing", "product_sku_missing")

_USAGE: dict[str, tuple[str, str]] = {
    "/check-sku": ("Tell me the SKU: `/check-sku ABC-123`", "请告诉我 SKU：`/check-sku ABC-123`"),
    "/check-image": (
        "Paste the image link: `/check-image https://…/picture.jpg`",
        "请粘贴图片链接：`/check-image https://…/picture.jpg`",
    ),
    "/find-order": (
        "Tell me the order number: `/find-order 112-0000001-0000001`",
        "请告诉我订单号：`/find-order 112-0000001-0000001`",
    ),
    "/price-status": ("Tell me the SKU: `/price-status ABC-123`", "请告诉我 SKU：`/price-status ABC-123`"),
}


def help_text(language: Language) -> str:
    return say(
        language,
        "*What I can do*\n"
        "• Ask me in your own words in a DM, or mention me in a channel.\n"
        "• `/sync-orders [store]`: sync orders now, with progress per store\n"
        "• `/find-order ORDER_ID`: find an order in every status, sync it if it is missing\n"
        "• `/check-sku SKU`: why a SKU is missing from the upload page or the product page\n"
        "• `/price-status SKU`: where a price change is stuck\n"
        "• `/check-image URL`: whether a picture loads, is damaged or is not RGB\n"
        "• `/escalate [what is wrong]`: hand it to a person in customer service\n"
        "• `/sellerdesk link CODE`: link your Slack user to your seller account",
        "*我能做什么*\n"
        "• 在私信里直接描述问题，或在频道里 @我。\n"
        "• `/sync-orders [店铺]`：立即同步订单，按店铺显示进度\n"
        "• `/find-order 订单号`：在所有状态中查找订单，缺失时同步\n"
        "• `/check-sku SKU`：SKU 为何不在上传页或商品页\n"
        "• `/price-status SKU`：调价卡在哪一步\n"
        "• `/check-image 链接`：图片能否打开、是否损坏、是否为 RGB\n"
        "• `/escalate [问题]`：转给客服\n"
        "• `/sellerdesk link 绑定码`：把 Slack 用户绑定到卖家账号",
    )


@dataclass(frozen=True)
class CommandPlan:
    """What a command does: the words shown at once, and whether slow work follows."""

    ack_text: str
    work: bool
    speaker: Speaker
    argument: str  # the text after an agent's account name, cleaned


def register(app: App) -> None:
    for name in COMMANDS:
        app.command(name)(ack=acknowledge, lazy=[run_command])
    # Any other command routed to this app gets a friendly pointer instead of Slack's error.
    app.command(re.compile(r"^/.*"))(acknowledge_unknown)


def acknowledge_unknown(ack: Ack, command: dict[str, Any]) -> None:
    name = str(command.get("command", ""))
    ack(text=f"I don't know the command `{name[:40]}`. Try `/sellerdesk help` to see what I can do.")


def acknowledge(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
    """Answer within Slack's 3 seconds: what will happen, or why nothing can."""
    try:
        plan = plan_command(command, context)
    except Exception:  # the seller still gets an answer, never Slack's "failed with the error"
        log.exception("planning %s failed", command.get("command"))
        ack(text="Something went wrong on my side. Try again in a minute.")
        return
    ack(text=plan.ack_text)


def plan_command(command: dict[str, Any], context: BoltContext) -> CommandPlan:
    """Decide a command's immediate answer; `/sellerdesk link` is done here (it is quick)."""
    services = services_of(context)
    speaker = speaker_of(context)
    name = str(command.get("command", ""))
    raw = clean_text(str(command.get("text", "")))
    language = guess_language(raw)
    words = raw.split(maxsplit=1)
    if name == "/sellerdesk" and (not words or words[0].lower() == "help"):
        return CommandPlan(help_text(language), False, speaker, "")
    if name == "/sellerdesk" and words[0].lower() == "link":
        if len(words) < 2:
            return CommandPlan(
                say(
                    language,
                    "Add the code: `/sellerdesk link CODE`",
                    "请附上绑定码：`/sellerdesk link 绑定码`",
                ),
                False,
                speaker,
                "",
            )
        return CommandPlan(_link(services, speaker, words[1], language), False, speaker, "")
    if speaker.account_id is None:
        return CommandPlan(not_linked_text(language), False, speaker, "")
    with services.sessions() as session:
        acting, argument = act_for_account(session, speaker, raw)
    argument = argument.strip()
    if name in _USAGE and not argument:
        en, zh = _USAGE[name]
        return CommandPlan(say(language, en, zh), False, acting, "")
    dm_note = (
        ""
        if str(command.get("channel_id", "")).startswith("D")
        else say(language, " I'll answer in our direct messages.", "我会在私信中回复你。")
    )
    started = {
        "/sync-orders": say(
            language,
            f"Syncing orders for {argument or 'all your stores'} now…",
            f"正在为{argument or '你的所有店铺'}同步订单…",
        ),
        "/check-sku": say(language, f"Checking SKU {argument}…", f"正在检查 SKU {argument}…"),
        "/check-image": say(language, "Checking the image…", "正在检查图片…"),
        "/find-order": say(language, f"Looking for order {argument}…", f"正在查找订单 {argument}…"),
        "/price-status": say(language, f"Checking the price of {argument}…", f"正在检查 {argument} 的价格…"),
        "/escalate": say(language, "Asking a person to help…", "正在联系客服…"),
        "/sellerdesk": say(language, "Let me check…", "我来查一下…"),
    }[name]
    return CommandPlan(started + dm_note, True, acting, argument)


def _link(services: Any, speaker: Speaker, code: str, language: Language) -> str:
    sessions = services.quick_sessions or services.sessions
    try:
        with sessions() as session:
            result = redeem_link_code(session, code=code, team_id=speaker.team_id, user_id=speaker.user_id)
    except OperationalError:  # a long writer holds the database: Slack would not wait for it
        log.warning("linking %s waited on a busy database; asked to try again", speaker.actor)
        return say(
            language,
            "I'm busy with a large import right now and could not link you. The code is still "
            "valid: try `/sellerdesk link` again in a minute.",
            "我正在处理大量数据导入，暂时无法绑定。绑定码仍然有效：请一分钟后再输入 `/sellerdesk link`。",
        )
    if not result.ok:
        return result.reason
    return say(
        language,
        f"Linked: you are now a {result.role} of {result.account_name}. Ask me anything about its stores.",
        f"绑定成功：你现在是 {result.account_name} 的 {result.role}。可以问我该账号店铺的任何问题。",
    )


def run_command(command: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """The slow part, after the ack: answer in the seller's DM with the bot."""
    plan = plan_command_again(command, context)
    if not plan.work:
        return
    services = services_of(context)
    name = str(command.get("command", ""))
    user = str(command.get("user_id", ""))
    channel = SlackPoster(client).open_dm(user)
    place = Place(context.team_id or "", channel, user)
    runner = TurnRunner(services, client, place, plan.speaker)
    argument = plan.argument
    if name == "/sync-orders":
        params = {"store": argument} if argument else {}
        runner.run_action("sync_now", params, question=argument)
    elif name == "/escalate":
        # The seller's words as typed (none: the conversation's last question); the evidence is
        # the conversation's diagnosis, or the check these words point to, run now.
        # The words as typed (escaped wherever shown), unless an agent named an account first.
        typed = str(command.get("text", "")).strip()
        runner.escalate(
            question=typed[:4000] if plan.speaker == speaker_of(context) else argument,
            reason="The seller asked for a person with /escalate.",
            thread_ts="",
            attachments=[],
        )
    elif name == "/check-sku":
        for flow in CHECK_SKU_FLOWS:
            runner.run_turn(_turn(place, plan.speaker, flow, "sku", argument), question=argument)
    elif name in _FLOW_COMMANDS:
        flow, detail = _FLOW_COMMANDS[name]
        runner.run_turn(_turn(place, plan.speaker, flow, detail, argument), question=argument)
    else:  # /sellerdesk <question>
        runner.run_turn(Turn(key=place.key, speaker=plan.speaker, text=argument), question=argument)


def plan_command_again(command: dict[str, Any], context: BoltContext) -> CommandPlan:
    """The plan, decided again in the lazy run (the link was done in the ack: do not redo it)."""
    words = str(command.get("text", "")).split()
    if command.get("command") == "/sellerdesk" and words and words[0].lower() in ("link", "help"):
        return CommandPlan("", False, speaker_of(context), "")
    return plan_command(command, context)


def _turn(place: Place, speaker: Speaker, flow: str, detail: str, value: str) -> Turn:
    return Turn(key=place.key, speaker=speaker, text=value, flow=flow, detail=detail, value=value)
