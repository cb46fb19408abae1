"""Buttons and selects: answers to the bot's questions, proposed actions, feedback, escalations.

Three rules hold for every button under an answer:
- it belongs to the person the answer answered (or an agent): anyone else is told so privately;
- it is spent once: the first click on (message, action) acts, a double click or a Slack retry
  does nothing more;
- after the click the message shows what was chosen and by whom, instead of live buttons.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.conversation import Speaker, Turn
from bot.escalation import Answer
from bot.render.blocks import SlackMessage
from bot.render.mrkdwn import escape, mention
from bot.slack.poster import SlackPoster
from bot.slack.relabel import learn_from_not_helpful
from bot.slack.turns import Place, TurnRunner, guess_language, not_linked_text, services_of, speaker_of
from bot.slack.views import open_delete_modal
from erp.models import Feedback, Role
from handlers.diagnosis import Language
from handlers.text import say

log = logging.getLogger(__name__)

# Clicks that choose one of several options: the whole row goes once one is chosen.
_CHOOSING = ("sd_choice:", "sd_select:", "sd_clarify:")


def register(app: App) -> None:
    app.action(re.compile(r"^sd_choice:"))(ack=acknowledge, lazy=[answer_choice])
    app.action(re.compile(r"^sd_select:"))(ack=acknowledge, lazy=[answer_choice])
    app.action(re.compile(r"^sd_clarify:"))(ack=acknowledge, lazy=[answer_clarify])
    app.action(re.compile(r"^sd_action:"))(ack=acknowledge_action, lazy=[run_action])
    app.action(re.compile(r"^sd_feedback:"))(ack=acknowledge, lazy=[store_feedback])
    app.action("sd_talk")(ack=acknowledge, lazy=[talk_to_person])
    app.action(re.compile(r"^sd_esc_(take|resolve|reopen)$"))(ack=acknowledge, lazy=[change_escalation])


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


def _message_language(body: dict[str, Any], answer: Answer | None = None) -> Language:
    """The language of the answer that offered the button (the seller's language)."""
    if answer is not None:
        return answer.language
    message = body.get("message") or {}
    return guess_language(
        str(message.get("text", "")) + json.dumps(message.get("blocks", []), ensure_ascii=False)
    )


def _spend_key(action: dict[str, Any]) -> str:
    action_id = str(action.get("action_id", ""))
    if action_id.startswith(_CHOOSING):
        return "choice"
    if action_id.startswith("sd_action:"):
        return "action:" + str(decode(str(action.get("value", ""))).get("k", ""))
    if action_id.startswith("sd_feedback:"):
        return "feedback"
    return action_id


def _clicked_label(action: dict[str, Any]) -> str:
    if action.get("type") == "static_select":
        option = action.get("selected_option") or {}
        return str((option.get("text") or {}).get("text") or option.get("value") or "")
    return str((action.get("text") or {}).get("text") or "")


def spent_blocks(
    blocks: list[dict[str, Any]], action: dict[str, Any], user: str, language: Language
) -> list[dict[str, Any]]:
    """The message's blocks after a click: the clicked control replaced by who chose what.

    A choice removes its whole row; any other button goes alone (the rest of its row stays, so
    "talk to a person" is still there after "this did not help").
    """
    action_id = str(action.get("action_id", ""))
    block_id = action.get("block_id")
    chosen = {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": say(
                    language,
                    f":white_check_mark: *{escape(_clicked_label(action))}*: chosen by {mention(user)}",
                    f":white_check_mark: *{escape(_clicked_label(action))}*：{mention(user)} 已选择",
                ),
            }
        ],
    }
    result: list[dict[str, Any]] = []
    placed = False
    for block in copy.deepcopy(blocks):
        elements = block.get("elements") or []
        holds = block.get("type") == "actions" and any(e.get("action_id") == action_id for e in elements)
        if not holds and block_id and block.get("block_id") == block_id and block.get("type") == "actions":
            holds = True
        if not holds or placed:
            result.append(block)
            continue
        placed = True
        if not action_id.startswith(_CHOOSING):
            rest = [e for e in elements if e.get("action_id") != action_id]
            if rest:
                result.append({**block, "elements": rest})
        result.append(chosen)
    if not placed:
        result.append(chosen)
    return result


def _spend(
    body: dict[str, Any], action: dict[str, Any], poster: SlackPoster, user: str, language: Language
) -> None:
    """Show on the clicked message what was chosen and by whom (its buttons are spent)."""
    message = body.get("message") or {}
    blocks = message.get("blocks") or []
    if not blocks or not body.get("response_url"):
        return
    text = str(message.get("text") or " ")
    poster.replace_original(
        str(body["response_url"]),
        SlackMessage(text=text, blocks=spent_blocks(blocks, action, user, language)),
    )


def _click(
    body: dict[str, Any],
    action: dict[str, Any],
    context: BoltContext,
    client: WebClient,
    *,
    spend: bool = True,
) -> tuple[TurnRunner, Answer | None] | None:
    """The runner for a click on an answer, or None when the click must not act.

    It does not act when the answer belongs to someone else (they are told privately), when the
    user is not linked (told how to link), or when this (message, action) was acted on already.
    """
    services = services_of(context)
    speaker = speaker_of(context)
    place = place_of(body, context)
    poster = SlackPoster(client)
    message_ts = str(
        (body.get("message") or {}).get("ts", "") or (body.get("container") or {}).get("message_ts", "")
    )
    answer = (
        services.answers.for_message(place.team_id, place.channel, message_ts)
        if services.answers is not None and place.channel and message_ts
        else None
    )
    language = _message_language(body, answer)
    if answer is not None and answer.user_id and answer.user_id != speaker.user_id:
        if speaker.role != Role.AGENT:
            poster.ephemeral(
                place.channel,
                speaker.user_id,
                say(
                    language,
                    "This answer belongs to someone else, so its buttons are theirs. Ask me yourself and "
                    "I'll check your own account.",
                    "这条回答属于其他人，按钮只能由对方使用。请直接问我，我会检查你自己的账号。",
                ),
            )
            return None
        if answer.account_id is not None:  # an agent acts for the account the answer is about
            speaker = Speaker(
                actor=speaker.actor,
                account_id=answer.account_id,
                role=Role.AGENT,
                team_id=speaker.team_id,
                user_id=speaker.user_id,
            )
    if not place.channel:  # a button in App Home: the answer goes to the DM with the bot
        place = Place(place.team_id, poster.open_dm(place.user_id), place.user_id)
    runner = TurnRunner(services, client, place, speaker)
    if speaker.account_id is None:
        runner.poster.ephemeral(runner.place.channel, runner.place.user_id, not_linked_text(language))
        return None
    # A button in a message is spent once; one in App Home (no message) once per click, so
    # Slack's retry of the same click does nothing more.
    where = (
        f"{place.channel}:{message_ts}"
        if message_ts
        else f"home:{speaker.user_id}:{action.get('action_ts', '')}"
    )
    if (message_ts or action.get("action_ts")) and services.answers is not None:
        key = f"{place.team_id}:{where}:{_spend_key(action)}"
        if not services.answers.spend(key, speaker.user_id):
            log.info("%s on %s already acted on; ignoring the repeat", _spend_key(action), message_ts)
            return None
    if spend:
        _spend(body, action, poster, speaker.user_id, language)
    return runner, answer


def answer_choice(
    body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """A missing detail chosen from the buttons or the select."""
    clicked = _click(body, action, context, client)
    if clicked is None:
        return
    runner, answer = clicked
    if action.get("type") == "static_select":
        _, flow, detail = str(action.get("action_id", "")).split(":", 2)
        value = str((action.get("selected_option") or {}).get("value", ""))
    else:
        data = decode(str(action.get("value", "")))
        flow, detail, value = str(data.get("f", "")), str(data.get("d", "")), str(data.get("v", ""))
    if not flow or not value:
        return
    key = answer.conversation_key if answer is not None else runner.place.key
    turn = Turn(key=key, speaker=runner.speaker, flow=flow, detail=detail, value=value, text=value)
    runner.run_turn(turn, question=value)


def answer_clarify(
    body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """The seller picked one of two close flows."""
    clicked = _click(body, action, context, client)
    if clicked is None:
        return
    runner, answer = clicked
    flow = str(decode(str(action.get("value", ""))).get("v", ""))
    key = answer.conversation_key if answer is not None else runner.place.key
    if flow:
        runner.run_turn(
            Turn(key=key, speaker=runner.speaker, flow=flow), question=answer.question if answer else ""
        )


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
        return  # the modal's submission carries the deletion out (the seller may still cancel)
    clicked = _click(body, action, context, client)
    if clicked is None:
        return
    runner, answer = clicked
    if kind == "talk_to_person":
        _escalate_from_message(runner, body, answer)
        return
    params = {str(k): str(v) for k, v in (data.get("p") or {}).items()}
    place = runner.place
    # Where a promised follow-up posts back: the thread of the message that offered it.
    message_ts = str((body.get("message") or {}).get("ts", ""))
    params.update(team_id=place.team_id, channel=place.channel, thread_ts=place.thread_ts or message_ts)
    runner.place = Place(place.team_id, place.channel, place.user_id, place.thread_ts or message_ts or None)
    runner.run_action(
        kind,
        params,
        key=answer.conversation_key if answer is not None else None,
        language=_message_language(body, answer),
    )
    runner.place = place


def store_feedback(
    body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """ "This helped" / "this did not help", kept with the flow and verdict."""
    clicked = _click(body, action, context, client)
    if clicked is None:
        return
    runner, answer = clicked
    data = decode(str(action.get("value", "")))
    services = services_of(context)
    speaker = runner.speaker
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
    language = _message_language(body, answer)
    thanks = (
        say(language, "Thanks, glad it helped!", "谢谢，很高兴能帮上忙！")
        if helpful
        else say(
            language,
            'Thanks for telling me. Press "Talk to a person" if you want customer service to pick it up.',
            "谢谢反馈。如需要，可以点击“联系客服”，客服会跟进。",
        )
    )
    runner.poster.ephemeral(runner.place.channel, speaker.user_id, thanks)


def talk_to_person(
    body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    clicked = _click(body, action, context, client)
    if clicked is not None:
        runner, answer = clicked
        _escalate_from_message(runner, body, answer)


def _escalate_from_message(runner: TurnRunner, body: dict[str, Any], answer: Answer | None) -> None:
    """A person for the conversation the clicked answer belongs to, with what it found."""
    from bot.slack.escalate import open_case

    message = body.get("message") or {}
    thread = runner.place.thread_ts or str(message.get("ts", "")) or ""
    open_case(
        runner,
        question="",
        reason="The seller asked to talk to a person.",
        thread_ts=thread,
        attachments=[],
        answer=answer,
        language=_message_language(body, answer),
    )


def change_escalation(
    body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    """Take, resolve or reopen a case: customer-service agents only."""
    services = services_of(context)
    speaker: Speaker = speaker_of(context)
    place = place_of(body, context)
    poster = SlackPoster(client)
    if speaker.role != Role.AGENT:
        poster.ephemeral(
            place.channel, place.user_id, "Only customer-service agents can take, resolve or reopen cases."
        )
        return
    escalation_id = decode(str(action.get("value", ""))).get("e")
    if not isinstance(escalation_id, int):
        return
    action_id = str(action.get("action_id"))
    if action_id == "sd_esc_take":
        changed = services.escalations.take(escalation_id, speaker, poster)
    elif action_id == "sd_esc_reopen":
        changed = services.escalations.reopen(escalation_id, speaker, poster)
    else:
        changed = services.escalations.resolve(escalation_id, speaker, poster)
    if changed is None:
        case = services.escalations.get(escalation_id)
        state = f"already {case.state}" if case is not None else "unknown"
        poster.ephemeral(place.channel, place.user_id, f"Case #{escalation_id} is {state}; nothing changed.")
