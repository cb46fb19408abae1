"""Escalations end to end over HTTP against the fake Slack: what reaches the support channel and
the seller, from every path, and what happens when Slack refuses."""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any

from PIL import Image
from sqlmodel import select

from erp.models import AuditLog, Escalation
from tests.fake_slack import ESCALATION_CHANNEL, Call, FakeSlack, RunningBot

ESCALATING = "DEMO-UP-FAILED is missing from the product page"  # stale reports: a person is needed
ANSWERED = "why is DEMO-UP-OK missing from the upload page?"  # found: no person needed


def _texts(args: dict[str, Any]) -> str:
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return str(args.get("text", "")) + "\n" + json.dumps(blocks, ensure_ascii=False)


def _elements(args: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in args.get("blocks") or [] if b.get("type") == "actions" for e in b["elements"]]


def _cases(bot: RunningBot) -> list[Escalation]:
    with bot.session() as session:
        return list(session.exec(select(Escalation).order_by(Escalation.id)))  # type: ignore[arg-type]


def _case_messages(fake: FakeSlack) -> list[Call]:
    """The case messages (top level) in the support channel."""
    return [c for c in fake.posts(ESCALATION_CHANNEL) if not c.args.get("thread_ts") and c.ts]


def _answer(bot: RunningBot, question: str, *, user: str = "U1", channel: str = "D1") -> Call:
    """Ask in a DM; the bot's answer (the message with feedback buttons)."""
    fake = bot.fake
    before = len(fake.posts(channel))
    bot.send.message(question, user=user, channel=channel)

    def answered() -> list[Call]:
        return [p for p in fake.posts(channel)[before:] if "sd_feedback" in _texts(p.args)]

    answer: Call = fake.wait_for(answered, message=f"the answer to {question!r}")[0]
    bot.wait_remembered(channel, ts=answer.ts)  # its buttons find it
    return answer


def _click_talk(bot: RunningBot, answer: Call, *, user: str = "U1", channel: str = "D1") -> Any:
    button = next(e for e in _elements(answer.args) if e["action_id"] == "sd_talk")
    block = next(b for b in answer.args["blocks"] if b.get("type") == "actions" and button in b["elements"])
    return bot.send.action(
        "sd_talk",
        button["value"],
        user=user,
        channel=channel,
        message_ts=answer.ts,
        message_blocks=answer.args["blocks"],
        message_text=answer.args["text"],
        block_id=block.get("block_id", "b"),
        label=button["text"]["text"],
    )


def _card(fake: FakeSlack, index: int = 0) -> tuple[Image.Image, dict[str, Any]]:
    name, content, args = fake.wait_for(lambda: fake.uploaded_files(ESCALATION_CHANNEL), message="the card")[
        index
    ]
    assert name.endswith(".png")
    return Image.open(io.BytesIO(content)), args


def test_a_diagnosis_that_escalates_carries_words_checks_and_card(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    _answer(slack_bot, ESCALATING)
    parent = fake.wait_for(lambda: _case_messages(fake), message="the case")[0]
    text = _texts(parent.args)
    assert "<@U1>" in parent.args["text"]  # a real mention in the fallback text, not escaped
    assert "Amazon US" in text and "What I checked" in text
    assert "> DEMO-UP-FAILED is missing from the product page" in text  # the seller's own words
    assert "product_sku_missing" not in json.dumps(parent.args["blocks"][0])  # the title, not the id
    assert "<!date^" in text  # opened at: each agent reads it in their own time zone
    card, args = _card(fake)
    assert card.format == "PNG" and card.width == 1000
    assert args["thread_ts"] == parent.ts
    (started,) = [u for u in fake.uploads_started() if u["filename"].startswith("case-")]
    assert started.get("alt_txt", "").startswith("Evidence card for case #1")
    (case,) = _cases(slack_bot)
    assert case.flow == "product_sku_missing" and case.evidence["findings"]
    with slack_bot.session() as session:
        assert session.exec(select(AuditLog).where(AuditLog.action == "escalate")).first() is not None


def test_talk_to_a_person_carries_that_answers_diagnosis_and_spends_the_button(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    answer = _answer(slack_bot, ANSWERED)
    assert _click_talk(slack_bot, answer).status_code == 200
    parent = fake.wait_for(lambda: _case_messages(fake), message="the case")[0]
    text = _texts(parent.args)
    assert "> why is DEMO-UP-OK missing from the upload page?" in text  # words, not the bot's text
    assert "What I checked" in text and "DEMO-UP-OK" in text
    assert text.count("Image rejected") == 0  # nothing of another SKU's answer is pasted in
    assert "&amp;gt;" not in text and "&amp;lt;" not in text  # nothing escaped twice
    _card(fake)
    # The clicked message now says who chose what; its person button is gone.
    replaced = fake.wait_for(lambda: fake.responses(), message="the spent button")[0]
    assert replaced["replace_original"] is True
    assert "chosen by <@U1>" in json.dumps(replaced["blocks"])
    assert not [e for e in _elements(replaced) if e["action_id"] == "sd_talk"]
    # A double click (or Slack's retry) does nothing more: one case, one notice.
    _click_talk(slack_bot, answer)
    _click_talk(slack_bot, answer)
    notices = fake.wait_for(lambda: [p for p in fake.posts("D1") if "case #1" in p.args["text"]])
    time.sleep(1.0)  # time for a second case to appear, if the clicks were not spent
    assert len(_cases(slack_bot)) == 1 and len(_case_messages(fake)) == 1
    assert len([p for p in fake.posts("D1") if "case #1" in p.args["text"]]) == len(notices) == 1
    assert len(fake.responses()) == 1


def test_someone_else_cannot_use_an_answers_buttons(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    answer = _answer(slack_bot, ESCALATING.replace("product page", "upload page").replace("FAILED", "OK"))
    for stranger in ("UN", "U2"):  # another account's owner, and a colleague of the same account
        _click_talk(slack_bot, answer, user=stranger)
    refusals = fake.wait_for(
        lambda: len(fake.calls_to("chat.postEphemeral")) >= 2 and fake.calls_to("chat.postEphemeral")
    )
    assert {c.args["user"] for c in refusals} == {"UN", "U2"}
    assert all("belongs to someone else" in c.args["text"] for c in refusals)
    assert not _cases(slack_bot) and not fake.posts(ESCALATION_CHANNEL) and not fake.responses()
    # An agent may act on it: for the account the answer is about.
    _click_talk(slack_bot, answer, user="UAGENT")
    fake.wait_for(lambda: _cases(slack_bot), message="the agent's case")
    assert _cases(slack_bot)[0].account_id == slack_bot.world.demo_id


def test_slash_escalate_runs_the_check_its_words_point_to(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    slack_bot.send.command(
        "/escalate", "DEMO-UP-FAILED has no record on the upload page", user="U1", channel="C1"
    )
    parent = fake.wait_for(lambda: _case_messages(fake), message="the case")[0]
    text = _texts(parent.args)
    assert "> DEMO-UP-FAILED has no record on the upload page" in text
    assert "What I checked" in text and "DEMO-UP-FAILED" in text
    _card(fake)
    (case,) = _cases(slack_bot)
    assert case.flow == "upload_sku_missing" and case.seller_channel == "DU1"
    notice = fake.wait_for(lambda: fake.posts("DU1"))[0]
    assert "case #1" in notice.args["text"]


def test_words_that_point_to_no_check_get_an_account_snapshot(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    slack_bot.send.command("/escalate", "please call me back tomorrow", user="U1", channel="C1")
    parent = fake.wait_for(lambda: _case_messages(fake), message="the case")[0]
    text = _texts(parent.args)
    assert "> please call me back tomorrow" in text
    assert "Amazon US" in text and "Shopee MY" in text and "authorization expired" in text
    assert "Neighbour Secret Shop" not in text  # only the seller's own account
    card, _ = _card(fake)
    assert card.height > 300
    (case,) = _cases(slack_bot)
    assert case.evidence["flow"] == "account_snapshot"


def test_the_app_home_button_opens_a_case_in_the_dm(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    value = json.dumps({"k": "talk_to_person", "p": {}, "f": "home", "v": "home"})
    slack_bot.send.action("sd_action:1", value, user="U1", channel="")
    parent = fake.wait_for(lambda: _case_messages(fake), message="the case")[0]
    assert "Amazon US" in _texts(parent.args)  # the snapshot: there is no conversation yet
    notice = fake.wait_for(lambda: fake.posts("DU1"))[0]
    assert "case #1" in notice.args["text"]


def test_a_second_request_joins_the_open_case_and_its_replies_reach_it(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    first = _answer(slack_bot, ANSWERED)
    _click_talk(slack_bot, first)
    fake.wait_for(lambda: _case_messages(fake), message="the case")
    second = _answer(slack_bot, ESCALATING)  # escalates by itself: it joins case #1
    joined = fake.wait_for(lambda: [p for p in fake.posts("D1") if "added this to case #1" in p.args["text"]])
    assert joined[0].args["thread_ts"] == second.ts
    assert len(_cases(slack_bot)) == 1 and len(_case_messages(fake)) == 1
    case = _cases(slack_bot)[0]
    assert "DEMO-UP-FAILED" in case.question and "DEMO-UP-OK" in case.question
    slack_bot.send.message("any news?", user="U1", channel="D1", thread_ts=second.ts)
    relayed = fake.wait_for(
        lambda: [p for p in fake.posts(ESCALATION_CHANNEL) if "any news?" in p.args["text"]],
        message="the relay",
    )
    assert relayed[0].args["thread_ts"] == case.cs_thread_ts


def test_typed_markup_is_escaped_and_our_mentions_are_mentions(slack_bot: RunningBot) -> None:
    fake, send = slack_bot.fake, slack_bot.send
    send.command(
        "/escalate", "<!channel> see <http://evil.example|click> & <@UAGENT>", user="U1", channel="C1"
    )
    parent = fake.wait_for(lambda: _case_messages(fake), message="the case")[0]
    for where in (parent.args["text"], json.dumps(parent.args["blocks"])):
        assert "<!channel>" not in where and "<http://evil.example" not in where
    assert "&lt;!channel&gt;" in json.dumps(parent.args["blocks"])
    (case,) = fake.wait_for(
        lambda: [c for c in _cases(slack_bot) if c.seller_thread_ts], message="the thread"
    )
    seller_thread = case.seller_thread_ts

    # Relays keep line breaks, real mentions and link labels, and never notify a whole channel.
    raw = "line one\nline two <@U2> <!here> <http://evil.example|click> 1 &lt; 2"
    send.message(raw, user="U1", channel="DU1", thread_ts=seller_thread)
    relay = fake.wait_for(
        lambda: [p for p in fake.posts(ESCALATION_CHANNEL) if "line two" in p.args["text"]]
    )[0]
    for where in (relay.args["text"], json.dumps(relay.args["blocks"])):
        assert "<!here>" not in where and "|click>" not in where
    assert relay.args["text"].startswith("<@U1> wrote:")
    assert "> line one\n> line two <@U2> @here click (http://evil.example) 1 &lt; 2" in relay.args["text"]
    # The seller sees their message reached support.
    fake.wait_for(
        lambda: [r for r in fake.reactions("DU1") if r[2] == "white_check_mark"], message="the receipt"
    )
    # Someone else writing in that thread is not the seller: nothing of theirs is relayed.
    send.message("I am not the seller", user="U2", channel="DU1", thread_ts=seller_thread)
    send.message("a later line", user="U1", channel="DU1", thread_ts=seller_thread)
    fake.wait_for(lambda: [p for p in fake.posts(ESCALATION_CHANNEL) if "a later line" in p.args["text"]])
    assert not [p for p in fake.posts(ESCALATION_CHANNEL) if "not the seller" in p.args["text"]]

    # The state notice names the agent as a real mention.
    send.action("sd_esc_take", json.dumps({"e": case.id}), user="UAGENT", channel=ESCALATION_CHANNEL)
    taken = fake.wait_for(lambda: [p for p in fake.posts("DU1") if "now looking" in p.args["text"]])[0]
    assert taken.args["text"].startswith("<@UAGENT> from customer service")
    assert "&lt;@UAGENT&gt;" not in json.dumps(taken.args["blocks"])


def test_agents_take_note_relay_resolve_and_a_reply_reopens_the_same_case(slack_bot: RunningBot) -> None:
    fake, send = slack_bot.fake, slack_bot.send
    _answer(slack_bot, ESCALATING)
    parent = fake.wait_for(lambda: _case_messages(fake), message="the case")[0]
    case = _cases(slack_bot)[0]
    value = json.dumps({"e": case.id})

    # Only agents change a case.
    send.action("sd_esc_take", value, user="U2", channel=ESCALATION_CHANNEL, message_ts=parent.ts)
    refusal = fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"))[0]
    assert "agents" in refusal.args["text"] and _cases(slack_bot)[0].state == "open"

    send.action("sd_esc_take", value, user="UAGENT", channel=ESCALATION_CHANNEL, message_ts=parent.ts)
    update = fake.wait_for(lambda: fake.calls_to("chat.update"), message="the case re-rendered")[0]
    assert update.args["ts"] == parent.ts and "Taken by <@UAGENT>" in _texts(update.args)
    assert "What I checked" in _texts(update.args)  # the checks survive the state change

    # An internal note stays in the thread; a reply (lines, mention, a file) reaches the seller.
    seller_before = len(fake.posts("D1"))
    send.message(
        "note: seller's reports are 3 days old",
        user="UAGENT",
        channel=ESCALATION_CHANNEL,
        thread_ts=parent.ts,
    )
    fake.wait_for(
        lambda: [r for r in fake.reactions(ESCALATION_CHANNEL) if r[2] == "memo"], message="the note kept"
    )
    shot = fake.serve_file("agent-shot.png", b"\x89PNG fake")
    files = [{"id": "F7", "name": "agent-shot.png", "mimetype": "image/png", "url_private": shot}]
    send.message(
        "Hi <@U1>,\nplease re-run the report",
        user="UAGENT",
        channel=ESCALATION_CHANNEL,
        thread_ts=parent.ts,
        files=files,
    )
    relayed = fake.wait_for(
        lambda: [p for p in fake.posts("D1")[seller_before:] if "re-run" in p.args["text"]]
    )
    assert "Hi <@U1>,\nplease re-run the report" in relayed[0].args["text"]
    assert not [p for p in fake.posts("D1") if "3 days old" in _texts(p.args)]
    fake.wait_for(lambda: fake.uploaded_files("D1"), message="the agent's file in the seller's thread")
    assert all(started.get("alt_txt") for started in fake.uploads_started())  # every upload is described
    fake.wait_for(lambda: [r for r in fake.reactions(ESCALATION_CHANNEL) if r[2] == "white_check_mark"])

    send.action("sd_esc_resolve", value, user="UAGENT", channel=ESCALATION_CHANNEL, message_ts=parent.ts)
    fake.wait_for(lambda: _cases(slack_bot)[0].state == "resolved", message="resolved")
    resolved = fake.wait_for(
        lambda: [u for u in fake.calls_to("chat.update") if "Resolved by" in _texts(u.args)],
        message="re-rendered",
    )[0]
    assert "sd_esc_reopen" in _texts(resolved.args) and "What I checked" in _texts(resolved.args)

    # The seller answers after Resolve: the same case opens again, with the reply in its thread.
    send.message("still missing", user="U1", channel="D1", thread_ts=case.seller_thread_ts)
    fake.wait_for(lambda: _cases(slack_bot)[0].state == "open", message="reopened")
    fake.wait_for(lambda: [p for p in fake.posts(ESCALATION_CHANNEL) if "still missing" in p.args["text"]])
    assert len(_cases(slack_bot)) == 1
    assert any("Reopened" in p.args["text"] for p in fake.posts(ESCALATION_CHANNEL))


def test_a_support_channel_that_refuses_keeps_the_case_and_delivers_it_later(
    slack_bot: RunningBot, database_url: str, capsys: Any, monkeypatch: Any
) -> None:
    fake = slack_bot.fake
    fake.fail("chat.postMessage", "not_in_channel", times=1)  # the case message is the first post
    slack_bot.send.command("/escalate", "please call me back tomorrow", user="U1", channel="C1")
    notice = fake.wait_for(lambda: fake.posts("DU1"), message="the seller told")[0]
    assert "couldn't reach the customer-service channel" in notice.args["text"]
    assert "case #1 is saved" in notice.args["text"]
    (case,) = fake.wait_for(lambda: [c for c in _cases(slack_bot) if c.delivery_error])
    assert case.delivery_error == "not_in_channel" and not case.cs_thread_ts

    from app import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["cases", "list"]) == 0
    listed = capsys.readouterr().out
    assert re.search(r"#1 .*open.*NOT DELIVERED.*not_in_channel", listed), listed

    # The next escalation delivers it first, and its seller hears it arrived.
    slack_bot.send.command("/escalate", "my orders are late", user="U2", channel="C1")
    fake.wait_for(lambda: len(_case_messages(fake)) == 2, message="both cases delivered")
    assert "Case #1" in _case_messages(fake)[0].args["text"]
    fake.wait_for(lambda: [p for p in fake.posts("DU1") if "now has case #1" in p.args["text"]])
    assert main(["cases", "list", "--undelivered"]) == 0
    assert "#1" not in capsys.readouterr().out


def test_an_evidence_upload_failure_is_said_and_retried(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    fake.fail("files.getUploadURLExternal", "internal_error", times=1)
    slack_bot.send.command("/escalate", "please call me back tomorrow", user="U1", channel="C1")
    warning = fake.wait_for(
        lambda: [p for p in fake.posts(ESCALATION_CHANNEL) if "could not be attached" in p.args["text"]]
    )[0]
    assert warning.args["thread_ts"] == _case_messages(fake)[0].ts
    assert _cases(slack_bot)[0].delivery_error.startswith("evidence upload failed")
    slack_bot.send.command("/escalate", "my orders are late", user="U2", channel="C1")
    fake.wait_for(lambda: _cases(slack_bot)[0].evidence_delivered_at is not None, message="the card retried")
    assert [f for f in fake.uploaded_files(ESCALATION_CHANNEL) if f[0] == "case-1-evidence.png"]


def test_a_slow_answer_shows_the_bot_is_on_it(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    fake.delay("chat.postMessage", 1.3)
    slack_bot.send.message(ANSWERED, user="U1", channel="D1")
    fake.wait_for(lambda: fake.posts("D1"), timeout=20)
    added = fake.wait_for(lambda: fake.reactions("D1"), message="the working reaction")
    assert added[0][2] == "hourglass_flowing_sand"
    fake.wait_for(
        lambda: fake.reactions("D1", "reactions.remove") == added[:1], message="removed with the answer"
    )


def test_the_not_linked_notice_in_a_channel_is_ephemeral(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    slack_bot.send.mention("why is my price not updated", user="USTRANGER", channel="C7")
    notice = fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"))[0]
    assert notice.args["user"] == "USTRANGER" and "/sellerdesk link" in notice.args["text"]
    assert not fake.posts("C7")


def test_an_unlinked_user_cannot_escalate_into_the_support_channel(slack_bot: RunningBot) -> None:
    ack = slack_bot.send.command("/escalate", "help me", user="USTRANGER", channel="C1")
    assert "/sellerdesk link" in ack.text
    assert not slack_bot.fake.posts(ESCALATION_CHANNEL)


def test_cases_retry_delivers_what_slack_refused(
    slack_bot: RunningBot, database_url: str, capsys: Any, monkeypatch: Any
) -> None:
    fake = slack_bot.fake
    fake.fail("chat.postMessage", "channel_not_found", times=1)
    slack_bot.send.command("/escalate", "please call me back tomorrow", user="U1", channel="C1")
    fake.wait_for(lambda: [c for c in _cases(slack_bot) if c.delivery_error == "channel_not_found"])

    from app import main

    for name, value in {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_API_URL": fake.url,
        "SELLERDESK_ESCALATION_CHANNEL": ESCALATION_CHANNEL,
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["cases", "retry"]) == 0
    assert "delivered 1 cases; 0 still undelivered" in capsys.readouterr().out
    (case,) = _cases(slack_bot)
    assert case.cs_thread_ts and case.delivery_error == ""
    assert "Case #1" in _case_messages(fake)[0].args["text"]


def test_talk_to_a_person_before_the_answer_is_recorded_still_carries_the_diagnosis(
    slack_bot: RunningBot,
) -> None:
    # The answer's record is written once Slack gives its ts; a click can arrive first.
    from erp.models import AnswerRecord

    fake = slack_bot.fake
    answer = _answer(slack_bot, ANSWERED)
    with slack_bot.session() as session:
        for row in session.exec(select(AnswerRecord)):
            session.delete(row)
        session.commit()
    _click_talk(slack_bot, answer)
    fake.wait_for(lambda: _case_messages(fake), message="the case")
    [case] = _cases(slack_bot)
    assert "DEMO-UP-OK" in case.question
    assert case.flow == "upload_sku_missing" and case.verdict
