"""Events: mentions in channels (answered in a thread) and the events the bot only notes."""

from __future__ import annotations

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


def register(app: App) -> None:
    app.event("app_mention")(ack=acknowledge, lazy=[handle_mention])
    # Events the manifest subscribes to but that need no answer are still acknowledged.
    for name in ("tokens_revoked", "app_uninstalled"):
        app.event(name)(acknowledge)


def acknowledge(ack: Ack) -> None:
    ack()


def handle_mention(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """Answer a mention in a thread under it (or relay it, in an escalation thread)."""
    if event.get("bot_id") or not event.get("user"):
        return
    services = services_of(context)
    speaker = speaker_of(context)
    channel = str(event.get("channel", ""))
    if channel == services.settings.escalation_channel:
        return  # agents talk to the seller through the case thread, not to the bot
    text = clean_text(str(event.get("text", "")))
    existing_thread = event.get("thread_ts")
    if existing_thread:
        escalation = services.escalations.active_for_seller(context.team_id or "", channel, existing_thread)
        if escalation is not None:
            poster = SlackPoster(client)
            services.escalations.relay_to_cs(
                escalation, text or "(sent a file)", poster, seller_files(poster, event)
            )
            return
    place = Place(
        context.team_id or "", channel, str(event["user"]), existing_thread or str(event.get("ts", ""))
    )
    runner = TurnRunner(services, client, place, speaker, event=event)
    language = guess_language(text)
    if speaker.account_id is None:
        runner.say(not_linked_text(language))
        return
    if not text:
        runner.say(
            say(
                language,
                'Hi! Tell me what\'s wrong, for example "price of SKU ABC-1 not updated" or '
                '"order 112-0000001-0000001 did not sync".',
                "你好！请告诉我遇到的问题，例如“SKU ABC-1 的价格没有更新”"
                "或“订单 112-0000001-0000001 没有同步”。",
            )
        )
        return
    runner.run_turn(Turn(key=place.key, speaker=speaker, text=text), question=text)
