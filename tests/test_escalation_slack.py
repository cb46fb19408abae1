"""Escalation threads: opened from a button or /escalate, evidence uploaded, relayed both ways."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from PIL import Image
from sqlmodel import Session, select

from bot.conversation import Speaker
from bot.escalation import EscalationRequest, EscalationService
from bot.slack.app_factory import web_client
from bot.slack.poster import SlackPoster
from erp.models import AuditLog, Escalation
from handlers.diagnosis import CheckStatus, Diagnosis, Finding, Table
from tests.fake_slack import ESCALATION_CHANNEL, FakeSlack, RunningBot

DIAGNOSED = {
    "type": "section",
    "text": {"type": "mrkdwn", "text": "*The platform's report still shows the old price 24.99.*"},
}


def _texts(args: dict[str, Any]) -> str:
    return args.get("text", "") + "\n" + json.dumps(args.get("blocks") or [], ensure_ascii=False)


def _png(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, "PNG")
    return buffer.getvalue()


def _escalations(bot: RunningBot) -> list[Escalation]:
    with bot.session() as session:
        return list(session.exec(select(Escalation)))


def _talk_to_person(bot: RunningBot) -> tuple[str, str]:
    """The seller presses "Talk to a person" under an answer in their DM; returns (cs_ts, seller_ts)."""
    fake = bot.fake
    payload_value = json.dumps({"f": "price_not_updated", "v": "still_wrong"})
    response = bot.send.action("sd_talk", payload_value, user="U1", channel="D1", message_ts="300.000001")
    assert response.status_code == 200
    parent = fake.wait_for(lambda: fake.posts(ESCALATION_CHANNEL), message="the case in the support channel")[
        0
    ]
    fake.wait_for(lambda: fake.posts("D1"), message="the seller told")
    escalation = fake.wait_for(lambda: [e for e in _escalations(bot) if e.cs_thread_ts])[0]
    return parent.args and escalation.cs_thread_ts, escalation.seller_thread_ts


def test_talk_to_a_person_opens_a_case_thread_and_tells_the_seller(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    cs_ts, seller_ts = _talk_to_person(slack_bot)
    parent = fake.posts(ESCALATION_CHANNEL)[0]
    text = _texts(parent.args)
    assert "<@U1>" in text and "demo" in text and "price_not_updated" in text
    assert any(
        e["action_id"] == "sd_esc_take"
        for b in parent.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )
    notice = fake.posts("D1")[0]
    assert "customer service" in notice.args["text"]
    assert seller_ts == "300.000001"  # the thread of the answer the seller clicked under
    (escalation,) = _escalations(slack_bot)
    assert escalation.state == "open" and escalation.account_id == slack_bot.world.demo_id
    # The seller's Slack name is looked up for the people reading the case.
    assert [c.args["user"] for c in fake.calls_to("users.info")] == ["U1"]
    with slack_bot.session() as session:
        assert session.exec(select(AuditLog).where(AuditLog.action == "escalate")).first() is not None


def test_replies_are_relayed_both_ways_and_state_changes_reach_the_seller(slack_bot: RunningBot) -> None:
    fake, send = slack_bot.fake, slack_bot.send
    cs_ts, seller_ts = _talk_to_person(slack_bot)
    before = len(fake.posts("D1"))

    send.message(
        "Hi, I am checking the report now", user="UAGENT", channel=ESCALATION_CHANNEL, thread_ts=cs_ts
    )
    fake.wait_for(lambda: len(fake.posts("D1")) > before, message="the agent's reply relayed to the seller")
    relayed = fake.posts("D1")[-1]
    assert relayed.args["thread_ts"] == seller_ts
    assert "I am checking the report now" in relayed.args["text"]

    shot = fake.serve_file("seller-shot.png", _png("blue"))
    files = [{"id": "F9", "name": "seller-shot.png", "mimetype": "image/png", "url_private": shot}]
    send.message("still shows 24.99 here", user="U1", channel="D1", thread_ts=seller_ts, files=files)
    fake.wait_for(lambda: len(fake.posts(ESCALATION_CHANNEL)) >= 2, message="the seller's reply in the case")
    back = fake.posts(ESCALATION_CHANNEL)[-1]
    assert back.args["thread_ts"] == cs_ts and "still shows 24.99 here" in back.args["text"]
    fake.wait_for(lambda: fake.uploaded_files(ESCALATION_CHANNEL), message="the seller's picture in the case")
    name, content, args = fake.uploaded_files(ESCALATION_CHANNEL)[0]
    assert name == "seller-shot.png" and content == _png("blue") and args["thread_ts"] == cs_ts

    escalation_id = _escalations(slack_bot)[0].id
    value = json.dumps({"e": escalation_id})
    send.action("sd_esc_take", value, user="U2", channel=ESCALATION_CHANNEL, message_ts=cs_ts)
    refusal = fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"))[0]
    assert "agents" in refusal.args["text"]
    assert _escalations(slack_bot)[0].state == "open"

    seller_posts = len(fake.posts("D1"))
    send.action("sd_esc_take", value, user="UAGENT", channel=ESCALATION_CHANNEL, message_ts=cs_ts)
    fake.wait_for(lambda: _escalations(slack_bot)[0].state == "taken", message="the case taken")
    update = fake.wait_for(lambda: fake.calls_to("chat.update"))[0]
    assert update.args["ts"] == cs_ts and "Taken by <@UAGENT>" in _texts(update.args)
    fake.wait_for(lambda: len(fake.posts("D1")) > seller_posts, message="the seller told it was taken")
    assert "now looking" in fake.posts("D1")[-1].args["text"]

    send.action("sd_esc_resolve", value, user="UAGENT", channel=ESCALATION_CHANNEL, message_ts=cs_ts)
    fake.wait_for(lambda: _escalations(slack_bot)[0].state == "resolved", message="the case resolved")
    fake.wait_for(
        lambda: "resolved" in fake.posts("D1")[-1].args["text"], message="the seller told it was resolved"
    )


def test_slash_escalate_carries_the_sellers_words(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    ack = slack_bot.send.command(
        "/escalate", "my Amazon DE orders stopped syncing yesterday", user="U1", channel="C1"
    )
    assert ack.status_code == 200
    parent = fake.wait_for(lambda: fake.posts(ESCALATION_CHANNEL))[0]
    assert "my Amazon DE orders stopped syncing yesterday" in _texts(parent.args)
    notice = fake.wait_for(lambda: fake.posts("DU1"))[0]
    assert "case #" in notice.args["text"]


def test_an_unlinked_user_cannot_escalate_into_the_support_channel(slack_bot: RunningBot) -> None:
    ack = slack_bot.send.command("/escalate", "help me", user="USTRANGER", channel="C1")
    assert "/sellerdesk link" in ack.text
    assert not slack_bot.fake.posts(ESCALATION_CHANNEL)


def _diagnosis() -> Diagnosis:
    return Diagnosis(
        flow="price_not_updated",
        verdict="still_wrong",
        summary="The price of DEMO-PRICE-STUCK is still wrong after a report newer than the approval.",
        findings=[
            Finding("Price change", "approved 2 days ago: 24.99 -> 19.99", CheckStatus.OK),
            Finding("Latest report", "generated after the approval, still shows 24.99", CheckStatus.PROBLEM),
        ],
        tables=[Table("Trail", ["step", "when"], [["approved", "2 days ago"], ["report", "1 day ago"]])],
        escalate=True,
        escalate_reason="The platform approved the change but still shows the old price.",
        store="Amazon US",
        sku="DEMO-PRICE-STUCK",
    )


def test_the_evidence_card_is_uploaded_into_the_case_thread(fake_slack: FakeSlack, engine: Any) -> None:
    from bot.render.evidence import render_evidence_card
    from bot.settings import Settings
    from tests.fake_slack import seed_world

    with Session(engine, expire_on_commit=False) as session:
        world = seed_world(session)
    settings = Settings(slack_bot_token="xoxb-test", slack_api_url=fake_slack.url)
    poster = SlackPoster(web_client(settings, settings.slack_bot_token))
    service = EscalationService(
        lambda: Session(engine, expire_on_commit=False),
        channel=ESCALATION_CHANNEL,
        clock=lambda: datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        evidence=render_evidence_card,
    )
    speaker = Speaker(actor="slack:T1:U1", account_id=world.demo_id, role="owner", team_id="T1", user_id="U1")
    request = EscalationRequest(
        speaker=speaker,
        account_id=world.demo_id,
        question="why is the price of DEMO-PRICE-STUCK still 24.99?",
        diagnosis=_diagnosis(),
        seller_channel="D1",
    )
    escalation = service.open(request, poster)
    parent = fake_slack.posts(ESCALATION_CHANNEL)[0]
    text = _texts(parent.args)
    for expected in ("Amazon US", "still_wrong", "Latest report", "still 24.99?", "demo"):
        assert expected in text
    (name, content, args) = fake_slack.uploaded_files(ESCALATION_CHANNEL)[0]
    assert args["thread_ts"] == escalation.cs_thread_ts
    card = Image.open(io.BytesIO(content))
    assert card.format == "PNG" and card.width >= 400
    assert escalation.store_id == world.us_store_id


def test_without_slack_the_case_is_only_stored(engine: Any) -> None:
    from tests.fake_slack import seed_world

    with Session(engine, expire_on_commit=False) as session:
        world = seed_world(session)
    service = EscalationService(
        lambda: Session(engine, expire_on_commit=False), channel="", clock=lambda: datetime.now(UTC)
    )
    speaker = Speaker(actor="console:demo", account_id=world.demo_id)
    escalation = service.open(
        EscalationRequest(speaker=speaker, account_id=world.demo_id, diagnosis=_diagnosis())
    )
    assert escalation.id is not None and escalation.state == "open" and escalation.verdict == "still_wrong"
    assert [e.id for e in service.open_cases(world.demo_id)] == [escalation.id]
    assert service.open_cases(world.neighbour_id) == []
    # The same finding again is the same case; the seller's own words always open a new one.
    again = service.open(EscalationRequest(speaker=speaker, account_id=world.demo_id, diagnosis=_diagnosis()))
    assert again.id == escalation.id
    words = service.open(EscalationRequest(speaker=speaker, account_id=world.demo_id, question="call me"))
    assert words.id != escalation.id
