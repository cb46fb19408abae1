"""Buttons and selects: answers to the bot's questions, proposed actions, feedback, escalations."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.conversation import Speaker, Turn
from bot.slack.poster import SlackPoster
from bot.slack.relabel import learn_from_not_helpful
from bot.slack.turns import Place, TurnRunner, guess_language, not_linked_text, services_of, speaker_of
from bot.slack.views import open_delete_modal
from erp.models import Feedback, Role
from handlers.diagnosis import Language
from handlers.text import say

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.action(re.compile(r"^sd_choice:"))(ack=acknowledge, lazy=[answer_choice])
    app.action(re.compile(r"^sd_select:"))(ack=acknowledge, lazy=[answer_choice])
    app.action(re.compile(r"^sd_clarify:"))(ack=acknowledge, lazy=[answer_clarify])
    app.action(re.compile(r"^sd_action:"))(ack=acknowledge_action, lazy=[run_action])
    app.action(re.compile(r"^sd_feedback:"))(ack=acknowledge, lazy=[store_feedback])
    app.action("sd_talk")(ack=acknowledge, lazy=[talk_to_person])
    app.action(re.compile(r"^sd_esc_(take|resolve)$"))(ack=acknowledge, lazy=[change_escalation])


def acknowledge(ack: Ack) -> None:
    ack()


def place_of(body: dict[str, Any], context: BoltContext) -> Place:
    """The conversation a clicked message belongs to (its thread, when it is in one)."""
    container = body.get("container") or {}
    channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id", ""))
    message = body.get("message") or {}
    thread = message.get("thread_ts") or container.get("thread_ts")
    return Place(context.team_id or "", channel, context.user_id or "", thread)


def decode(value: str) -> dict[str, Any]:
    """A button value written by `bot/render/blocks.py`; {} for anything else."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _runner(body: dict[str, Any], context: BoltContext, client: WebClient) -> TurnRunner | None:
    """A runner for this click, or None after telling an unlinked user how to link."""
    place = place_of(body, context)
    if not place.channel:  # a button in App Home: the answer goes to the DM with the bot
        place = Place(place.team_id, SlackPoster(client).open_dm(place.user_id), place.user_id)
    runner = TurnRunner(services_of(context), client, place, speaker_of(context))
    if runner.speaker.account_id is None:
        runner.poster.ephemeral(runner.place.channel, runner.place.user_id, not_linked_text("en"))
        return None
    return runner


def answer_choice(
    body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """A missing detail chosen from the buttons or the select."""
    runner = _runner(body, context, client)
    if runner is None:
        return
    if action.get("type") == "static_select":
        _, flow, detail = str(action.get("action_id", "")).split(":", 2)
        value = str((action.get("selected_option") or {}).get("value", ""))
    else:
        data = decode(str(action.get("value", "")))
        flow, detail, value = str(data.get("f", "")), str(data.get("d", "")), str(data.get("v", ""))
    if not flow or not value:
        return
    turn = Turn(
        key=runner.place.key, speaker=runner.speaker, flow=flow, detail=detail, value=value, text=value
    )
    runner.run_turn(turn, question=value)


def answer_clarify(
    body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """The seller picked one of two close flows."""
    runner = _runner(body, context, client)
    if runner is None:
        return
    flow = str(decode(str(action.get("value", ""))).get("v", ""))
    if flow:
        runner.run_turn(Turn(key=runner.place.key, speaker=runner.speaker, flow=flow))


def acknowledge_action(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """Deleting a store's data needs its confirmation modal now: a trigger id lives 3 seconds."""
    ack()
    data = decode(str(action.get("value", "")))
    if data.get("k") == "delete_store_data":
        open_delete_modal(body, data, context, client)


def run_action(body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """A proposed action: sync now, convert to RGB, notify me, undo, request a report."""
    data = decode(str(action.get("value", "")))
    kind = str(data.get("k", ""))
    if not kind or kind == "delete_store_data":
        return  # the modal's submission carries the deletion out
    runner = _runner(body, context, client)
    if runner is None:
        return
    if kind == "talk_to_person":
        _escalate_from_message(runner, body, data)
        return
    params = {str(k): str(v) for k, v in (data.get("p") or {}).items()}
    place = runner.place
    # Where a promised follow-up posts back: the thread of the message that offered it.
    message_ts = str((body.get("message") or {}).get("ts", ""))
    params.update(team_id=place.team_id, channel=place.channel, thread_ts=place.thread_ts or message_ts)
    # The answer goes into the thread of the offering message, and so does a promised follow-up:
    # the conversation key names that thread.
    runner.place = Place(place.team_id, place.channel, place.user_id, place.thread_ts or message_ts or None)
    runner.run_action(kind, params, language=_language_of_message(body))
    runner.place = place


def _language_of_message(body: dict[str, Any]) -> Language:
    """The language of the answer that offered the button (the seller's language)."""
    message = body.get("message") or {}
    return guess_language(
        str(message.get("text", "")) + json.dumps(message.get("blocks", []), ensure_ascii=False)
    )


def store_feedback(
    body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """ "This helped" / "this did not help", kept with the flow and verdict."""
    data = decode(str(action.get("value", "")))
    services = services_of(context)
    speaker = speaker_of(context)
    helpful = bool(data.get("h"))
    with services.sessions() as session:
        session.add(
            Feedback(
                account_id=speaker.account_id,
                team_id=speaker.team_id,
                user_id=speaker.user_id,
                flow=str(data.get("f", ""))[:40],
                verdict=str(data.get("v", ""))[:60],
                helpful=helpful,
            )
        )
        session.commit()
    if not helpful:  # the seller's question becomes a pending learned example for review
        learn_from_not_helpful(services, body, speaker, str(data.get("f", "")))
    place = place_of(body, context)
    language = guess_language(str((body.get("message") or {}).get("text", "")))
    thanks = (
        say(language, "Thanks, glad it helped!", "谢谢，很高兴能帮上忙！")
        if helpful
        else say(
            language,
            'Thanks for telling me. Press "Talk to a person" if you want customer service to pick it up.',
            "谢谢反馈。如需要，可以点击“联系客服”，客服会跟进。",
        )
    )
    SlackPoster(client).ephemeral(place.channel, place.user_id, thanks)


def talk_to_person(
    body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    runner = _runner(body, context, client)
    if runner is not None:
        _escalate_from_message(runner, body, decode(str(action.get("value", ""))))


def _escalate_from_message(runner: TurnRunner, body: dict[str, Any], data: dict[str, Any]) -> None:
    """Escalate with what the clicked answer said (its texts), since that is what the seller saw."""
    message = body.get("message") or {}
    found = [
        str(block["text"]["text"])
        for block in message.get("blocks", [])
        if block.get("type") == "section" and isinstance(block.get("text"), dict)
    ]
    if not found and message.get("text"):
        found = [str(message["text"])]
    flow, verdict = str(data.get("f", "")), str(data.get("v", ""))
    reason = "The seller asked to talk to a person" + (f" after {flow} / {verdict}." if flow else ".")
    thread = runner.place.thread_ts or str(message.get("ts", "")) or ""
    runner.escalate(question="", found=found[:20], reason=reason, thread_ts=thread, attachments=[])


def change_escalation(
    body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """Take or resolve a case: customer-service agents only."""
    services = services_of(context)
    speaker: Speaker = speaker_of(context)
    place = place_of(body, context)
    poster = SlackPoster(client)
    if speaker.role != Role.AGENT:
        poster.ephemeral(
            place.channel, place.user_id, "Only customer-service agents can take or resolve cases."
        )
        return
    escalation_id = decode(str(action.get("value", ""))).get("e")
    if not isinstance(escalation_id, int):
        return
    if str(action.get("action_id")) == "sd_esc_take":
        changed = services.escalations.take(escalation_id, speaker, poster)
    else:
        changed = services.escalations.resolve(escalation_id, speaker, poster)
    if changed is None:
        poster.ephemeral(
            place.channel, place.user_id, f"Case #{escalation_id} is already resolved or unknown."
        )
