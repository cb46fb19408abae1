"""Spent buttons, relay text, progress in the conversation's language, uninstalls, console cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select

from bot.conversation import Speaker
from bot.escalation import EscalationRequest, EscalationService
from bot.render.mrkdwn import relay_text, slack_date
from bot.slack.progress import progress_line
from erp.models import FollowUp
from erp.progress import StoreSyncProgress
from handlers.diagnosis import Diagnosis
from tests.fake_slack import SIGNING_SECRET, FakeSlack, RunningBot, SlackSender, seed_world
from tests.test_slack_oauth import oauth_bot  # noqa: F401  (the fixture)


def _texts(args: dict[str, Any]) -> str:
    return str(args.get("text", "")) + "\n" + json.dumps(args.get("blocks") or [], ensure_ascii=False)


def test_relay_text_keeps_lines_mentions_and_labels_and_defuses_the_rest() -> None:
    raw = "a &amp; b\n<@U2> <!channel> <!subteam^S1|@ops> <#C9|general> <https://x.example/a|see> <https://y.example>"
    assert relay_text(raw) == (
        "a &amp; b\n<@U2> @channel @ops <#C9> see (https://x.example/a) https://y.example"
    )
    assert relay_text("<!date^1700000000^{date}|Nov 14> &lt;b&gt;") == "Nov 14 &lt;b&gt;"
    when = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert (
        slack_date(when)
        == f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|2026-11-26 12:00 UTC>"
    )


def test_a_failed_store_shows_as_failed_in_the_progress_line() -> None:
    failed = StoreSyncProgress(
        store="Amazon DE",
        platform="amazon",
        done=True,
        error="authorization expired",
        error_kind="authorization_expired",
    )
    assert progress_line(failed, "en") == ":x: Amazon DE: failed: authorization expired"
    # The sync's error is written for the logs: a Chinese conversation reads the glossary's words.
    assert progress_line(failed, "zh") == ":x: Amazon DE：失败：店铺授权已过期"


def test_progress_in_a_chinese_conversation_is_chinese_and_shows_failed_stores(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    slack_bot.send.message("订单没有同步", user="U1", channel="D1")

    def final() -> list[str]:
        texts = [_texts(c.args) for c in fake.calls_to("chat.update") + fake.posts("D1")]
        return [t for t in texts if "订单同步完成" in t]

    def both() -> list[str]:
        return [t for t in final() if "Amazon US：失败" in t and "Shopee MY：失败" in t]

    text = fake.wait_for(both, message="both stores shown failed")[-1]
    assert "完成，新增 0" not in text and "done" not in text


def test_tell_me_when_the_report_lands_twice_stores_one_follow_up(slack_bot: RunningBot) -> None:
    fake, world = slack_bot.fake, slack_bot.world
    value = json.dumps({"k": "notify_report", "p": {"store_id": str(world.us_store_id)}, "f": "x", "v": "y"})
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Approved, waiting for the report*"}},
        {
            "type": "actions",
            "block_id": "sd_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "sd_action:0",
                    "value": value,
                    "text": {"type": "plain_text", "text": "Tell me when the report lands"},
                },
                {
                    "type": "button",
                    "action_id": "sd_action:1",
                    "value": "{}",
                    "text": {"type": "plain_text", "text": "Other"},
                },
            ],
        },
    ]
    for _ in range(3):
        slack_bot.send.action(
            "sd_action:0",
            value,
            user="U1",
            channel="D1",
            message_ts="500.000001",
            message_blocks=blocks,
            block_id="sd_actions",
            label="Tell me when the report lands",
        )

    def follow_ups() -> list[FollowUp]:
        with slack_bot.session() as session:
            return list(session.exec(select(FollowUp)))

    fake.wait_for(follow_ups, message="the follow-up")
    fake.wait_for(lambda: fake.posts("D1"), message="the confirmation")
    import time

    time.sleep(1.0)  # time for the repeats to do something, if they were not spent
    assert len(follow_ups()) == 1 and len(fake.posts("D1")) == 1
    (replaced,) = fake.responses()
    spent = json.dumps(replaced["blocks"])
    assert "Tell me when the report lands*: chosen by <@U1>" in spent
    remaining = [e["action_id"] for b in replaced["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert remaining == ["sd_action:1"]  # the other action is still there


def test_uninstall_and_token_revocation_delete_the_stored_installation(
    oauth_bot: tuple[str, Any],  # noqa: F811
    fake_slack: FakeSlack,
) -> None:
    from slack_sdk.oauth.installation_store import Installation
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

    base, components = oauth_bot
    store = SQLAlchemyInstallationStore(client_id="111.222", engine=components.engine)
    for team in ("T7", "T8"):
        store.save(
            Installation(
                app_id="A1",
                team_id=team,
                user_id="UINSTALLER",
                bot_token=f"xoxb-installed-{team}",
                bot_id="BBOT",
                bot_user_id="UBOT",
                bot_scopes=["chat:write"],
                user_token=f"xoxp-{team}",
                user_scopes=["identify"],
            )
        )
    assert store.find_bot(enterprise_id=None, team_id="T7") is not None

    uninstall = SlackSender(base + "/slack/events", SIGNING_SECRET, fake_slack, team_id="T7")
    revoke = SlackSender(base + "/slack/events", SIGNING_SECRET, fake_slack, team_id="T8")
    try:
        assert uninstall.event({"type": "app_uninstalled"}, event_id="EvUNINSTALL").status_code == 200
        tokens = {"type": "tokens_revoked", "tokens": {"oauth": ["UINSTALLER"], "bot": ["UBOT"]}}
        assert revoke.event(tokens, event_id="EvREVOKE").status_code == 200
    finally:
        uninstall.close()
        revoke.close()
    fake_slack.wait_for(
        lambda: (
            store.find_bot(enterprise_id=None, team_id="T7") is None
            and store.find_bot(enterprise_id=None, team_id="T8") is None
        ),
        message="the bots forgotten",
    )
    assert store.find_installation(enterprise_id=None, team_id="T7") is None
    assert store.find_installation(enterprise_id=None, team_id="T8", user_id="UINSTALLER") is None


def test_without_slack_the_case_is_only_stored_and_a_second_request_joins_it(engine: Any) -> None:
    with Session(engine, expire_on_commit=False) as session:
        world = seed_world(session)
    service = EscalationService(
        lambda: Session(engine, expire_on_commit=False), channel="", clock=lambda: datetime.now(UTC)
    )
    speaker = Speaker(actor="console:demo", account_id=world.demo_id)
    diagnosis = Diagnosis(
        flow="price_not_updated", verdict="still_wrong", summary="Still 24.99.", escalate=True
    )
    first = service.open(
        EscalationRequest(speaker=speaker, account_id=world.demo_id, diagnosis=diagnosis, question="price?")
    )
    assert first.id is not None and first.state == "open" and first.verdict == "still_wrong"
    assert first.evidence["summary"] == "Still 24.99."
    assert [e.id for e in service.open_cases(world.demo_id)] == [first.id]
    assert service.open_cases(world.neighbour_id) == []
    again = service.open(EscalationRequest(speaker=speaker, account_id=world.demo_id, question="call me"))
    assert again.id == first.id and again.question == "price?\ncall me"
    other = Speaker(actor="console:other", account_id=world.demo_id)
    assert (
        service.open(EscalationRequest(speaker=other, account_id=world.demo_id, question="hi")).id != first.id
    )


def _services(bot: RunningBot) -> Any:
    """The Slack services over the running bot's database (what `build_app` wires)."""
    from bot.escalation import AnswerBook
    from bot.render.evidence import render_evidence_card
    from bot.slack.app_factory import web_client
    from bot.slack.context import SlackServices
    from bot.slack.dedupe import EventDeduper
    from bot.slack.progress import ChannelThrottle

    components = bot.components
    settings = components.settings
    clock = components.services.clock
    client = web_client(settings, settings.slack_bot_token)
    return SlackServices(
        settings=settings,
        conversation=components.conversation,
        sessions=components.session,
        escalations=EscalationService(
            components.session,
            channel=settings.escalation_channel,
            clock=clock,
            evidence=render_evidence_card,
        ),
        clock=clock,
        client_for_team=lambda team: client,
        events=EventDeduper(components.engine, clock),
        throttle=ChannelThrottle(),
        answers=AnswerBook(components.session, clock),
    ), client


def test_a_reply_asking_for_a_person_carries_the_conversations_diagnosis(slack_bot: RunningBot) -> None:
    """The conversation's "talk to a person" act: a Reply with escalate=True and no diagnosis."""
    from bot.conversation import Reply
    from bot.slack.turns import Place, TurnRunner
    from erp.models import Escalation

    fake = slack_bot.fake
    slack_bot.send.message("why is DEMO-UP-OK missing from the upload page?", user="U1", channel="D1")
    fake.wait_for(
        lambda: [p for p in fake.posts("D1") if "sd_feedback" in _texts(p.args)], message="the answer"
    )
    slack_bot.wait_remembered("D1", with_diagnosis=True)  # the case reads the diagnosis from it
    services, client = _services(slack_bot)
    speaker = Speaker(
        actor="slack:T1:U1", account_id=slack_bot.world.demo_id, role="owner", team_id="T1", user_id="U1"
    )
    runner = TurnRunner(services, client, Place("T1", "D1", "U1"), speaker)
    reply = Reply(kind="message", language="en", text="I'm bringing in a person.", escalate=True)
    runner.deliver(reply, question="can I talk to a human please")

    case_post = fake.wait_for(
        lambda: [p for p in fake.posts("CSUPPORT") if not p.args.get("thread_ts")], message="the case"
    )[0]
    text = _texts(case_post.args)
    assert "> why is DEMO-UP-OK missing from the upload page?" in text
    assert "> can I talk to a human please" in text
    assert "What I checked" in text and "I'm bringing in a person" not in text
    with slack_bot.session() as session:
        (case,) = session.exec(select(Escalation))
    assert case.flow == "upload_sku_missing"
    assert fake.uploaded_files("CSUPPORT")


def test_app_home_follows_the_conversations_language(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    slack_bot.send.message("DEMO-UP-OK 在上传页面找不到", user="U1", channel="D1")
    fake.wait_for(lambda: fake.posts("D1"), message="the answer")
    slack_bot.send.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    view = fake.wait_for(lambda: fake.calls_to("views.publish"))[0].args["view"]
    text = json.dumps(view, ensure_ascii=False)
    assert "上次订单同步" in text and "立即同步订单" in text and "Last order sync" not in text
    assert "<!date^" in text  # each reader sees their own local time


def test_a_stored_diagnosis_keeps_its_thumbnails() -> None:
    from bot.escalation.evidence import diagnosis_from_state, diagnosis_state
    from handlers.diagnosis import CheckStatus, Finding, ImageEvidence, Table

    original = Diagnosis(
        flow="publish_image_error",
        verdict="not_rgb",
        summary="CMYK.",
        language="zh",
        findings=[Finding("颜色模式", "CMYK", CheckStatus.PROBLEM)],
        tables=[Table("图片", ["url", "mode"], [["https://x.example/a.jpg", "CMYK"]])],
        images=[
            ImageEvidence(
                url="https://x.example/a.jpg", verdict="not_rgb", mode="CMYK", thumbnail_png=b"\x89PNG1"
            )
        ],
        store="Shopee MY",
        sku="DEMO-PUB-CMYK",
    )
    state = diagnosis_state(original)
    assert json.loads(json.dumps(state)) == state  # stored as JSON
    assert diagnosis_from_state(state) == original


def test_other_features_can_add_blocks_to_the_case_message(engine: Any) -> None:
    """The hook a relabel select (or anything else) uses: blocks just above the state buttons."""
    from bot.escalation.message import case_message
    from erp.models import Escalation

    case = Escalation(id=12, account_id=1, seller_user_id="U1", question="hi", created_at=datetime.now(UTC))
    extra = {
        "type": "actions",
        "block_id": "sd_relabel",
        "elements": [
            {
                "type": "button",
                "action_id": "x",
                "value": "1",
                "text": {"type": "plain_text", "text": "Relabel"},
            }
        ],
    }
    message = case_message(case, account_name="demo", store_name="", extra_blocks=lambda escalation: [extra])
    ids = [block.get("block_id") for block in message.blocks]
    assert ids.index("sd_relabel") == ids.index("sd_escalation") - 1


def test_old_answers_and_spent_buttons_are_forgotten(engine: Any) -> None:
    from datetime import timedelta

    from bot.escalation import AnswerBook
    from erp.models import AnswerRecord, SpentAction

    now = [datetime(2026, 11, 1, tzinfo=UTC)]
    book = AnswerBook(lambda: Session(engine, expire_on_commit=False), lambda: now[0])
    common = {
        "team_id": "T1",
        "channel": "D1",
        "user_id": "U1",
        "account_id": None,
        "language": "en",
        "question": "q",
        "diagnosis": None,
    }
    book.record(timestamps=["1.1"], conversation_key="k", **common)  # type: ignore[arg-type]
    assert book.spend("T1:D1:1.1:talk", "U1") and not book.spend("T1:D1:1.1:talk", "U1")
    now[0] += timedelta(days=40)
    book.record(timestamps=["2.2"], conversation_key="k", **common)  # type: ignore[arg-type]
    assert book.forget_before(now[0] - timedelta(days=30)) == 2
    with Session(engine) as session:
        assert [row.ts for row in session.exec(select(AnswerRecord))] == ["2.2"]
        assert list(session.exec(select(SpentAction))) == []
    assert book.latest("k") is not None and book.for_message("T1", "D1", "1.1") is None
