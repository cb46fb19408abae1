"""Agents teach the matcher: a case is relabelled with the flow the seller really meant.

Two ways, both for customer-service agents:
- the "The seller really meant…" select on the case message (`bot/render/relabel.py`, appended
  to the case message by `bot/escalation.py`);
- `relabel FLOW` written as a message in the case thread (it is not relayed to the seller);
- `/sellerdesk relabel FLOW [CASE]`. Slack does not tell a slash command which thread it was
  typed in, so the case is the number given, or else the case of this channel the agent took
  most recently.

Each stores a pending learned example with the seller's own words (`erp/learned.py`); a person
accepts or rejects it with `python app.py knowledge review`, and accepted ones are trained on.

"This did not help" under an answer also keeps the seller's question as a pending example:
`learn_from_not_helpful` reads it from the answer book (`bot/escalation/records.py`), which
remembers the question each answer replied to.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from sqlmodel import col, select

from bot.conversation import Speaker
from bot.render.relabel import ACTION_ID, LABELS, OUT_OF_SCOPE, label_of
from bot.slack.context import SERVICES_KEY, SPEAKER_KEY, SlackServices
from bot.slack.poster import SlackPoster
from erp.accounts import audit
from erp.learned import add_example
from erp.models import Escalation, Role
from knowledge.language import detect_language

log = logging.getLogger(__name__)

# What an agent may type for "none of the flows".
_NONE_WORDS = {"none", "out_of_scope", "out-of-scope", "oos", "other"}
_CASE = re.compile(r"^#?(\d{1,12})$")


def register(app: App) -> None:
    """The select on case messages, `/sellerdesk relabel`, and "relabel FLOW" written in a case
    thread. Register before `commands` and `messages`: Bolt runs the first listener that matches,
    and those answer every other `/sellerdesk` and relay every other thread message to the seller.
    """
    app.action(ACTION_ID)(ack=_acknowledge, lazy=[relabel_from_select])
    app.command("/sellerdesk", matchers=[is_relabel_command])(relabel_command)
    app.event("message", matchers=[is_relabel_in_case_thread])(ack=_acknowledge, lazy=[relabel_from_thread])


# --- the case message's select -------------------------------------------------------------------


def _acknowledge(ack: Ack) -> None:
    ack()


def relabel_from_select(
    body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient
) -> None:
    services: SlackServices = context[SERVICES_KEY]
    speaker: Speaker = context[SPEAKER_KEY]
    try:
        data = json.loads(str((action.get("selected_option") or {}).get("value", "")))
    except ValueError:
        data = {}
    container = body.get("container") or {}
    channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id", ""))
    case, flow = (
        data.get("e") if isinstance(data, dict) else None,
        data.get("f") if isinstance(data, dict) else None,
    )
    if not isinstance(case, int) or not isinstance(flow, str):
        return
    text = relabel_case(services, speaker, case, flow)
    SlackPoster(client).ephemeral(channel, speaker.user_id, text)


# --- "relabel FLOW" in the case thread ---------------------------------------------------------------

_THREAD_RELABEL = re.compile(r"^\s*(?:/?sellerdesk\s+)?relabel\s+(\S+)\s*$", re.IGNORECASE)


def is_relabel_in_case_thread(event: dict[str, Any], context: BoltContext) -> bool:
    services: SlackServices = context[SERVICES_KEY]
    return (
        bool(event.get("thread_ts"))
        and not event.get("bot_id")
        and str(event.get("channel", "")) == services.settings.escalation_channel
        and _THREAD_RELABEL.match(str(event.get("text", ""))) is not None
    )


def relabel_from_thread(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    services: SlackServices = context[SERVICES_KEY]
    speaker: Speaker = context[SPEAKER_KEY]
    channel = str(event.get("channel", ""))
    found = _THREAD_RELABEL.match(str(event.get("text", "")))
    escalation = services.escalations.by_cs_thread(channel, str(event.get("thread_ts", "")))
    if found is None:
        return
    if escalation is None or escalation.id is None:
        text = "This thread is not a case; use `/sellerdesk relabel FLOW CASE`."
    else:
        text = relabel_case(services, speaker, escalation.id, found.group(1))
    SlackPoster(client).ephemeral(channel, speaker.user_id, text)


# --- /sellerdesk relabel ----------------------------------------------------------------------------


def is_relabel_command(command: dict[str, Any]) -> bool:
    words = str(command.get("text", "")).split()
    return bool(words) and words[0].lower() == "relabel"


def relabel_command(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
    """Quick enough for Slack's 3 seconds: one database write, answered in the acknowledgement."""
    try:
        ack(text=_relabel_from_command(context[SERVICES_KEY], context[SPEAKER_KEY], command))
    except Exception:  # the agent still gets an answer, never Slack's "failed with the error"
        log.exception("relabel command failed")
        ack(text="Something went wrong on my side; the case was not relabelled. Try again in a minute.")


def _relabel_from_command(services: SlackServices, speaker: Speaker, command: dict[str, Any]) -> str:
    if speaker.role != Role.AGENT:
        return "Only customer-service agents can relabel cases."
    words = str(command.get("text", "")).split()[1:]
    cases = [int(found.group(1)) for word in words if (found := _CASE.match(word))]
    flows = [word for word in words if not _CASE.match(word)]
    if len(flows) != 1 or len(cases) > 1:
        return usage()
    case = cases[0] if cases else _case_here(services, speaker, command)
    if case is None:
        return (
            "Which case? Add its number: `/sellerdesk relabel FLOW CASE` "
            "(Slack does not tell me which thread a command was typed in)."
        )
    return relabel_case(services, speaker, case, flows[0])


def _case_here(services: SlackServices, speaker: Speaker, command: dict[str, Any]) -> int | None:
    channel = str(command.get("channel_id", ""))
    thread = str(command.get("thread_ts", ""))
    if thread:  # should Slack ever send it
        found = services.escalations.by_cs_thread(channel, thread)
        return found.id if found else None
    with services.sessions() as session:
        taken = session.exec(
            select(Escalation.id)
            .where(col(Escalation.cs_channel) == channel, col(Escalation.taken_by) == speaker.user_id)
            .order_by(col(Escalation.updated_at).desc(), col(Escalation.id).desc())
        ).first()
    return int(taken) if taken is not None else None


def usage() -> str:
    return "Use `/sellerdesk relabel FLOW [CASE]`, FLOW one of: " + ", ".join(f"`{f}`" for f in LABELS) + "."


def relabel_case(services: SlackServices, speaker: Speaker, case: int, flow: str) -> str:
    """Store the seller's words of case `case` as a pending example of `flow`; what to tell the agent."""
    if speaker.role != Role.AGENT:
        return "Only customer-service agents can relabel cases."
    flow = OUT_OF_SCOPE if flow.lower() in _NONE_WORDS else flow.lower()
    if flow not in LABELS:
        return f"`{flow[:40]}` is not a flow. " + usage()
    with services.sessions() as session:
        escalation = session.get(Escalation, case)
        if escalation is None:
            return f"Case #{case} is unknown."
        words = escalation.question.strip()
        if not words or (words.startswith("(") and words.endswith(")")):
            return f"Case #{case} has no words of the seller's to learn from; nothing was saved."
        example = add_example(
            session,
            text=words,
            flow=flow,
            source="relabel",
            language=detect_language(words),
            escalation_id=case,
            created_by=speaker.actor,
        )
        audit(
            session,
            actor=speaker.actor,
            action="relabel",
            result="ok" if example else "unchanged",
            account_id=escalation.account_id,
            store_id=escalation.store_id,
            detail=f"escalation {case}: {flow}",
        )
    if example is None:
        return f"Case #{case}: the seller's words are already labelled *{label_of(flow)}*."
    return (
        f"Case #{case}: the seller meant *{label_of(flow)}*. Saved as example #{example.id} for review "
        "(`python app.py knowledge review`); I learn it once a person accepts it."
    )


# --- "this did not help" -------------------------------------------------------------------------------


def learn_from_not_helpful(
    services: SlackServices, body: dict[str, Any], speaker: Speaker, flow: str
) -> None:
    """Keep the question under a "this did not help" click as a pending example for review."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id", ""))
    ts = str(container.get("message_ts") or message.get("ts") or "")
    if not channel or not ts:
        return
    answers = services.answers
    team = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")
    answered = answers.for_message(team, channel, ts) if answers is not None else None
    if answered is None or not answered.question.strip():
        return
    label = answered.diagnosis.flow if answered.diagnosis is not None else flow
    if label not in LABELS:
        return
    with services.sessions() as session:
        add_example(
            session,
            text=" ".join(answered.question.split()),
            flow=label,
            source="not_helpful",
            language=detect_language(answered.question),
            created_by=speaker.actor,
        )
