"""Messages: DMs to the bot, and the two sides of escalation threads (relayed both ways)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.conversation import Turn
from bot.escalation import is_note
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

DELIVERED = "white_check_mark"  # the reaction that says a relayed message arrived


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
    raw = str(event.get("text", ""))
    text = clean_text(raw)
    user = str(event["user"])
    if channel and channel == services.settings.escalation_channel:
        if thread:
            relay_from_agent(event, services, client)
        return
    if event.get("channel_type") != "im" and context.bot_user_id and f"<@{context.bot_user_id}>" in raw:
        return  # a mention: the app_mention listener answers it
    if thread and relay_from_seller(event, services, client, raw, context.team_id or ""):
        return
    if event.get("channel_type") != "im":
        return
    place = Place(context.team_id or "", channel, user, thread)
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


def relay_from_agent(event: dict[str, Any], services: Any, client: WebClient) -> None:
    """A message in a case thread of the support channel: to the seller, unless it is a note."""
    channel, ts = str(event.get("channel", "")), str(event.get("ts", ""))
    escalation = services.escalations.by_cs_thread(channel, str(event.get("thread_ts", "")))
    if escalation is None:
        return
    poster = SlackPoster(client)
    raw = str(event.get("text", ""))
    if is_note(raw):
        poster.react(channel, ts, "memo")  # kept in the thread: the agent sees it stayed internal
        return
    seller_side = SlackPoster(services.client_for_team(escalation.team_id))
    files = seller_files(poster, event, images_only=False)
    if services.escalations.relay_to_seller(escalation, str(event["user"]), raw, seller_side, files):
        poster.react(channel, ts, DELIVERED)


def relay_from_seller(
    event: dict[str, Any], services: Any, client: WebClient, raw: str, team_id: str
) -> bool:
    """A reply in a thread that belongs to a case: into the case (from its seller only).

    Returns True when the thread is a case's, whether or not the message was relayed.
    """
    channel, ts = str(event.get("channel", "")), str(event.get("ts", ""))
    escalation = services.escalations.by_seller_thread(team_id, channel, str(event.get("thread_ts", "")))
    if escalation is None:
        return False
    if str(event.get("user")) != escalation.seller_user_id:
        return True  # someone else in the seller's thread: not the seller, not relayed
    poster = SlackPoster(client)
    files = seller_files(poster, event)
    if services.escalations.relay_to_cs(escalation, str(event["user"]), raw, poster, files):
        poster.react(channel, ts, DELIVERED)  # the seller sees their message reached support
    return True
