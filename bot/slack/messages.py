"""Messages: DMs to the bot, and the two sides of escalation threads (relayed both ways)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.conversation import Turn
from bot.slack.poster import SlackPoster
from bot.slack.turns import (
    Place,
    TurnRunner,
    clean_text,
    guess_language,
    not_linked_text,
    seller_files,
    services_of,
    speaker_of,
)
from handlers.text import say

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.event("message")(ack=acknowledge, lazy=[handle_message])


def acknowledge(ack: Ack) -> None:
    ack()


def handle_message(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """Route one message event: relay it, answer it (DMs), or leave it (other channel talk)."""
    if event.get("subtype") not in (None, "file_share") or event.get("bot_id") or not event.get("user"):
        return
    services = services_of(context)
    speaker = speaker_of(context)
    channel = str(event.get("channel", ""))
    thread = event.get("thread_ts")
    text = clean_text(str(event.get("text", "")))
    if channel and channel == services.settings.escalation_channel:
        if thread:
            escalation = services.escalations.by_cs_thread(channel, thread)
            if escalation is not None and text:
                seller_side = SlackPoster(services.client_for_team(escalation.team_id))
                services.escalations.relay_to_seller(escalation, str(event["user"]), text, seller_side)
        return
    if (
        event.get("channel_type") != "im"
        and context.bot_user_id
        and f"<@{context.bot_user_id}>" in str(event.get("text", ""))
    ):
        return  # a mention: the app_mention listener answers it
    if thread:
        escalation = services.escalations.active_for_seller(context.team_id or "", channel, thread)
        if escalation is not None:
            poster = SlackPoster(client)
            files = seller_files(poster, event)
            services.escalations.relay_to_cs(escalation, text or "(sent a file)", poster, files)
            return
    if event.get("channel_type") != "im":
        return
    place = Place(context.team_id or "", channel, str(event["user"]), thread)
    runner = TurnRunner(services, client, place, speaker, event=event)
    language = guess_language(text)
    if speaker.account_id is None:
        runner.say(not_linked_text(language))
        return
    if not text:
        runner.say(
            say(
                language,
                'I got your file. Tell me in a few words what is wrong (for example "this picture '
                "shows split\" or paste the image link) and I'll check it.",
                "收到你的文件。请简单说明问题（例如“这张图片显示裂开”或粘贴图片链接），我来检查。",
            )
        )
        return
    turn = Turn(key=place.key, speaker=speaker, text=text)
    runner.run_turn(turn, question=text)
