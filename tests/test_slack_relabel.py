"""Agents relabel cases in Slack (the select on the case message, `/sellerdesk relabel`), and
"this did not help" keeps the seller's question: each becomes a pending learned example."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from erp.models import Escalation, LearnedExample
from knowledge.loader import load_knowledge
from tests.fake_slack import ESCALATION_CHANNEL, RunningBot

WORDS = "the tally of my shop shows nothing from the weekend"


def _examples(bot: RunningBot) -> list[LearnedExample]:
    with bot.session() as session:
        return list(session.exec(select(LearnedExample).order_by(LearnedExample.id)))


def _open_case(bot: RunningBot) -> tuple[Escalation, dict[str, Any]]:
    """The seller asks for a person with their words; returns the case and its select element."""
    fake = bot.fake
    assert bot.send.command("/escalate", WORDS, user="U1", channel="D1").status_code == 200
    parent = fake.wait_for(lambda: fake.posts(ESCALATION_CHANNEL), message="the case message")[0]
    # The case's thread is known once the case message is posted and its ts stored.
    escalation = fake.wait_for(lambda: [e for e in _cases(bot) if e.cs_thread_ts], message="the case")[0]
    selects = [
        element
        for block in parent.args["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == "sd_relabel"
    ]
    assert len(selects) == 1, "the case message offers one relabel select"
    return escalation, selects[0]


def _ephemerals(bot: RunningBot, user: str) -> list[str]:
    return [
        c.args.get("text", "") for c in bot.fake.calls_to("chat.postEphemeral") if c.args.get("user") == user
    ]


def test_an_agent_picks_the_flow_on_the_case_message(slack_bot: RunningBot) -> None:
    escalation, select_menu = _open_case(slack_bot)
    options = {json.loads(option["value"])["f"]: option for option in select_menu["options"]}
    assert set(options) >= {"orders_not_synced", "price_not_updated", "out_of_scope"}
    title = load_knowledge().flow("orders_not_synced").text("en").title
    assert options["orders_not_synced"]["text"]["text"] == title
    value = options["orders_not_synced"]["value"]

    response = slack_bot.send.action(
        "sd_relabel",
        value,
        user="UAGENT",
        channel=ESCALATION_CHANNEL,
        message_ts=escalation.cs_thread_ts,
        selected=True,
    )
    assert response.status_code == 200
    [example] = slack_bot.fake.wait_for(lambda: _examples(slack_bot), message="the pending example")
    assert (example.text, example.flow, example.source, example.status) == (
        WORDS,
        "orders_not_synced",
        "relabel",
        "pending",
    )
    assert example.escalation_id == escalation.id
    assert example.created_by.endswith(":UAGENT")
    [told] = slack_bot.fake.wait_for(lambda: _ephemerals(slack_bot, "UAGENT"), message="the agent is told")
    assert f"Case #{escalation.id}" in told and "knowledge review" in told


def test_a_seller_cannot_relabel(slack_bot: RunningBot) -> None:
    escalation, select_menu = _open_case(slack_bot)
    value = select_menu["options"][0]["value"]
    slack_bot.send.action("sd_relabel", value, user="U2", channel=ESCALATION_CHANNEL, selected=True)
    [refusal] = slack_bot.fake.wait_for(lambda: _ephemerals(slack_bot, "U2"), message="the refusal")
    assert "Only customer-service agents" in refusal
    assert _examples(slack_bot) == []


def test_slash_relabel_with_and_without_the_case_number(slack_bot: RunningBot) -> None:
    escalation, _ = _open_case(slack_bot)
    send = slack_bot.send

    unknown_case = send.command(
        "/sellerdesk", "relabel image_grab", user="UAGENT", channel=ESCALATION_CHANNEL
    )
    assert "Which case?" in unknown_case.text
    not_a_flow = send.command(
        "/sellerdesk", f"relabel pictures #{escalation.id}", user="UAGENT", channel=ESCALATION_CHANNEL
    )
    assert "is not a flow" in not_a_flow.text and "`image_grab`" in not_a_flow.text
    assert _examples(slack_bot) == []

    done = send.command(
        "/sellerdesk", f"relabel orders_not_synced {escalation.id}", user="UAGENT", channel=ESCALATION_CHANNEL
    )
    assert f"Case #{escalation.id}" in done.text
    [example] = _examples(slack_bot)
    assert (example.text, example.flow, example.escalation_id) == (WORDS, "orders_not_synced", escalation.id)

    # Once the agent has taken the case, the number may be left out; the latest label wins.
    slack_bot.send.action(
        "sd_esc_take", json.dumps({"e": escalation.id}), user="UAGENT", channel=ESCALATION_CHANNEL
    )
    slack_bot.fake.wait_for(
        lambda: [e for e in _cases(slack_bot) if e.taken_by == "UAGENT"], message="the case is taken"
    )
    again = send.command("/sellerdesk", "relabel none", user="UAGENT", channel=ESCALATION_CHANNEL)
    assert f"Case #{escalation.id}" in again.text
    [example] = _examples(slack_bot)
    assert example.flow == "out_of_scope"

    seller = send.command("/sellerdesk", f"relabel image_grab {escalation.id}", user="U1", channel="D1")
    assert "Only customer-service agents" in seller.text


def _cases(bot: RunningBot) -> list[Escalation]:
    with bot.session() as session:
        return list(session.exec(select(Escalation)))


def test_did_not_help_keeps_the_sellers_question(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    question = "why is DEMO-UP-FAILED not on the upload page?"
    slack_bot.send.message(question, user="U1", channel="D1")
    answer = fake.wait_for(lambda: fake.posts("D1", top_level=True), message="the answer")[-1]
    feedback = [
        element
        for block in answer.args["blocks"]
        if block.get("block_id") == "sd_feedback"
        for element in block["elements"]
        if element["action_id"] == "sd_feedback:no"
    ]
    assert feedback, "the answer has a 'did not help' button"
    slack_bot.wait_remembered("D1", ts=answer.ts)  # the seller's question is read from it
    slack_bot.send.action(
        "sd_feedback:no", feedback[0]["value"], user="U1", channel="D1", message_ts=answer.ts
    )
    [example] = fake.wait_for(lambda: _examples(slack_bot), message="the pending example")
    assert (example.text, example.flow, example.source, example.status) == (
        question,
        "upload_sku_missing",
        "not_helpful",
        "pending",
    )
    # Feedback on an answer is given once: a second click on it changes nothing.
    slack_bot.send.action(
        "sd_feedback:yes", feedback[0]["value"], user="U1", channel="D1", message_ts=answer.ts
    )
    # "This helped" on another answer stores nothing to learn.
    slack_bot.send.action(
        "sd_feedback:yes", feedback[0]["value"], user="U1", channel="D1", message_ts="300.000001"
    )
    fake.wait_for(lambda: len(fake.calls_to("chat.postEphemeral")) >= 2, message="both thank-yous")
    assert len(_examples(slack_bot)) == 1


def test_relabel_written_in_the_case_thread_is_not_relayed_to_the_seller(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    escalation, _ = _open_case(slack_bot)
    thread = escalation.cs_thread_ts
    slack_bot.send.message(
        "relabel orders_not_synced", user="UAGENT", channel=ESCALATION_CHANNEL, thread_ts=thread
    )
    [example] = fake.wait_for(lambda: _examples(slack_bot), message="the pending example")
    assert (example.text, example.flow, example.escalation_id) == (WORDS, "orders_not_synced", escalation.id)
    [told] = fake.wait_for(lambda: _ephemerals(slack_bot, "UAGENT"), message="the agent is told")
    assert f"Case #{escalation.id}" in told
    # An ordinary reply in the same thread still reaches the seller; the relabel never did.
    slack_bot.send.message("Looking into it now", user="UAGENT", channel=ESCALATION_CHANNEL, thread_ts=thread)
    fake.wait_for(
        lambda: [
            p
            for p in fake.posts(escalation.seller_channel)
            if "Looking into it now" in json.dumps(p.args, ensure_ascii=False)
        ],
        message="the ordinary reply relayed",
    )
    assert not [
        p
        for p in fake.posts(escalation.seller_channel)
        if "relabel" in json.dumps(p.args, ensure_ascii=False)
    ]
