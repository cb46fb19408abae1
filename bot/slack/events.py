"""Events: mentions in channels (answered in a thread) and the events the bot only notes."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.conversation import Turn
from bot.render.mrkdwn import mention
from bot.slack.messages import relay_from_seller
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
from handlers.text import say

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.event("app_mention")(ack=acknowledge, lazy=[handle_mention])
    # With installs (OAuth), Bolt's own listeners registered before these delete the stored
    # installation on uninstall and token revocation (`build_app`); a single-workspace app
    # keeps its token in the environment and only acknowledges them.
    for name in ("tokens_revoked", "app_uninstalled"):
        app.event(name)(acknowledge)


def acknowledge(ack: Ack) -> None:
    ack()


def handle_mention(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """Answer a mention privately (store data is the asker's), or relay it in a case thread."""
    if event.get("bot_id") or not event.get("user"):
        return
    services = services_of(context)
    speaker = speaker_of(context)
    channel = str(event.get("channel", ""))
    if channel == services.settings.escalation_channel:
        return  # agents talk to the seller through the case thread, not to the bot
    raw = str(event.get("text", ""))
    if context.bot_user_id:
        raw = raw.replace(f"<@{context.bot_user_id}>", "")
    text = clean_text(raw)
    user = str(event["user"])
    existing_thread = event.get("thread_ts")
    if existing_thread and relay_from_seller(event, services, client, raw, context.team_id or ""):
        return
    poster = SlackPoster(client)
    language = guess_language(text)
    if speaker.account_id is None:
        poster.ephemeral(channel, user, not_linked_text(language))  # only the asker needs to know
        return
    if not text:
        poster.say(
            channel,
            say(
                language,
                'Hi! Tell me what\'s wrong, for example "price of SKU ABC-1 not updated" or '
                '"order 112-0000001-0000001 did not sync".',
                "你好！请告诉我遇到的问题，例如“SKU ABC-1 的价格没有更新”"
                "或“订单 112-0000001-0000001 没有同步”。",
            ),
            thread_ts=existing_thread or str(event.get("ts", "")),
        )
        return
    # Answers show the seller's stores, orders and prices: they go to the asker's DM, and the
    # channel only hears where the answer went.
    dm = poster.open_dm(user)
    poster.notify(
        channel,
        say(
            language,
            f"{mention(user)} I've sent you the answer in a direct message, since it shows your store data.",
            f"{mention(user)} 回答涉及你的店铺数据，我已通过私信发给你。",
        ),
        thread_ts=existing_thread or str(event.get("ts", "")),
    )
    place = Place(context.team_id or "", dm, user)
    runner = TurnRunner(services, client, place, speaker, event=event)
    runner.run_turn(Turn(key=place.key, speaker=speaker, text=text), question=text)
