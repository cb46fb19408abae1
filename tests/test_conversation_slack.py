"""The conversation in a Slack DM (serve, the fake Slack Web API): acts stay acts, a person comes
at once, and general questions are answered from knowledge, as in the console."""

from __future__ import annotations

import json

from tests.fake_slack import ESCALATION_CHANNEL, Call, RunningBot


def _read(post: object) -> str:
    args = post.args  # type: ignore[attr-defined]
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return args.get("text", "") + "\n" + json.dumps(blocks, ensure_ascii=False)


def _answer(bot: RunningBot, text: str, channel: str, count: int) -> str:
    """Send a DM and wait for the `count`-th answer in it (a diagnosis's details go in its thread,
    so answers are counted among the top-level posts); return what the seller reads."""
    bot.send.message(text, user="U1", channel=channel)

    def answers() -> list[Call]:
        return bot.fake.posts(channel, top_level=True)

    posts = bot.fake.wait_for(lambda: len(answers()) >= count and answers())
    return _read(posts[count - 1])


def test_thanks_and_a_person_in_a_chinese_dm(slack_bot: RunningBot) -> None:
    asked = _answer(slack_bot, "怎么删除店铺数据", "D7", 1)
    assert "删除店铺数据" in asked
    thanked = _answer(slack_bot, "谢谢", "D7", 2)
    assert "不客气" in thanked and "没有名为" not in thanked
    person = _answer(slack_bot, "转人工", "D7", 3)
    assert "人工客服" in person and "没有名为" not in person
    case = slack_bot.fake.wait_for(lambda: slack_bot.fake.posts(ESCALATION_CHANNEL), message="the case")
    assert "转人工" in _read(case[0])  # the seller's own words go to customer service


def test_a_general_question_in_a_dm_is_answered_then_the_check_offered(slack_bot: RunningBot) -> None:
    read = _answer(slack_bot, "how long does a price change take to show?", "D8", 1)
    assert "1-2 days" in read and "Tell me the SKU" in read
    zh = _answer(slack_bot, "改价后多久生效", "D9", 1)
    assert "1-2 天" in zh


def test_a_person_asked_for_after_a_diagnosis_gets_its_evidence(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    diagnosed = _answer(slack_bot, "why is DEMO-UP-FAILED not on the upload page?", "D10", 1)
    assert "DEMO-UP-FAILED" in diagnosed
    person = _answer(slack_bot, "I want to talk to a person", "D10", 2)
    assert "person" in person and "DEMO-UP-FAILED" in person  # told what is passed on
    case = fake.wait_for(lambda: fake.posts(ESCALATION_CHANNEL), message="the case")[0]
    assert "DEMO-UP-FAILED" in _read(case) and "talk to a person" in _read(case)
    # The evidence card of the last diagnosis goes into the case's thread.
    files = fake.wait_for(lambda: fake.uploaded_files(ESCALATION_CHANNEL), message="the evidence card")
    assert files[0][1].startswith(b"\x89PNG")
