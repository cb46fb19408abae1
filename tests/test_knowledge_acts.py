"""Conversation acts in both languages: recognized alone, never mistaken inside a question."""

from __future__ import annotations

import pytest

from knowledge.acts import ACTS, detect_act, read_act, says_thanks

ALONE: dict[str, list[str]] = {
    "greeting": ["hi", "Hello!", "hey there", "good morning", "你好", "您好", "在吗？", "哈喽", "有人吗"],
    "thanks": [
        "thanks!",
        "Thank you so much",
        "thx",
        "great, thanks",
        "ok got it",
        "bye",
        "see you",
        "that's all, thanks",
        "谢谢",
        "好的，谢谢！",
        "多谢",
        "感谢",
        "再见",
        "拜拜",
        "明白了",
    ],
    "human": [
        "i need a human please",
        "talk to a person",
        "can I speak to a real person?",
        "agent",
        "customer service",
        "connect me to support",
        "get me a human",
        "human please",
        "转人工",
        "人工客服",
        "找客服",
        "我要人工",
        "人工",
        "客服在吗",
        "联系客服",
    ],
    "help": [
        "help",
        "Help me",
        "what can you do?",
        "how does this work",
        "menu",
        "帮助",
        "你能做什么",
        "怎么用",
        "帮帮我",
    ],
    "cancel": [
        "cancel",
        "never mind",
        "forget it",
        "start over",
        "stop",
        "nvm",
        "算了",
        "算了吧",
        "取消",
        "重新开始",
        "重来",
        "不用了",
        "没事了",
    ],
    "not_resolved": [
        "still not working",
        "it's still not working",
        "didn't help",
        "that didn't work",
        "still the same",
        "same problem",
        "nothing changed",
        "not fixed",
        "doesn't work",
        "还是不行",
        "没用",
        "还是没变",
        "问题还在",
        "没解决",
        "不管用",
        "还是一样",
    ],
}


@pytest.mark.parametrize(
    ("text", "act"), [(text, act) for act, texts in ALONE.items() for text in texts], ids=lambda v: str(v)
)
def test_acts_alone_are_recognized(text: str, act: str) -> None:
    reading = read_act(text)
    assert reading.act == act
    assert reading.pure


def test_every_act_is_covered_in_both_languages() -> None:
    for act in ACTS:
        texts = ALONE[act]
        assert any(text.isascii() for text in texts), act
        assert any(not text.isascii() for text in texts), act


QUESTIONS = [
    "DEMO-PRICE-WAIT",
    "AB-1234-BLK",
    "Amazon US",
    "1",
    "价格没更新",
    "图片显示不出来",
    "my price change didnt show",
    "thanks, but the price still shows 10",
    "help me my orders are missing",
    "hidden picture in the listing",
    "how do I cancel an order for a buyer",
    "cancel my subscription",
    "the image upload is still not working for AB-1234-BLK",
    "orders still not syncing from shopee",
    "客服说要等报告 但是已经两天了",
    "the agent told me to wait for the report, price still old",
    "customer service said my orders would sync",
    "取消订单怎么操作",
    "改价后还是不行 价格没变 AB-1234-BLK",
    "图片上传还是不行 报错",
    "hi team, why is my price not updated",
    "help with shipping labels",
    "how to stop the order sync for one store",
    "",
    "\x00\x01",
    "😀😀😀",
]


@pytest.mark.parametrize("text", QUESTIONS)
def test_questions_are_not_acts(text: str) -> None:
    assert detect_act(text) is None


def test_a_person_asked_for_with_a_question_keeps_the_question() -> None:
    reading = read_act("I want to talk to a person about DEMO-1")
    assert reading.act == "human"
    assert not reading.pure
    assert "demo 1" in reading.rest


def test_a_person_asked_for_in_chinese_keeps_the_question() -> None:
    reading = read_act("转人工 订单 112-0000001-0000001 没同步")
    assert reading.act == "human"
    assert not reading.pure
    assert "订单" in reading.rest and "没同步" in reading.rest


def test_a_greeting_before_a_question_leaves_the_question() -> None:
    reading = read_act("hi, my orders didn't sync")
    assert reading.act is None
    assert "orders" in reading.rest


def test_still_not_working_beats_thanks_in_one_turn() -> None:
    assert detect_act("thanks, still not working") == "not_resolved"
    assert detect_act("谢谢 但是还是不行") == "not_resolved"


@pytest.mark.parametrize(
    ("reply", "act"),
    [("算了", "cancel"), ("cancel", "cancel"), ("人工", "human"), ("AB-1234-BLK", None), ("Shopee MY", None)],
)
def test_answers_to_a_pending_detail(reply: str, act: str | None) -> None:
    # While the bot waits for a SKU or a store, these replies are what the seller may type.
    assert detect_act(reply) == act


@pytest.mark.parametrize(
    "text", ["x" * 100_000, "谢谢" * 50_000, bytes(range(256)).decode("latin-1"), "\ud800 hi", "ＨＥＬＬＯ"]
)
def test_odd_input_never_raises(text: str) -> None:
    reading = read_act(text)
    assert reading.act in (None, *ACTS)
    assert not (len(text) > 200 and reading.pure)


@pytest.mark.parametrize(
    ("text", "thanks"),
    [
        ("thanks", True),
        ("ok thanks!", True),
        ("Thank you so much", True),
        ("that worked", True),
        ("谢谢", True),
        ("好的，谢谢", True),
        ("辛苦了", True),
        ("解决了", True),
        ("ok", False),
        ("got it", False),
        ("noted", False),
        ("好的", False),
        ("收到", False),
        ("明白了", False),
        ("typing", False),  # "ty" only as a word
    ],
)
def test_thanks_is_told_from_an_acknowledgement(text: str, thanks: bool) -> None:
    assert says_thanks(text) is thanks
    if text != "typing":
        assert read_act(text).act == "thanks"  # both are the same act; only the reply's words differ
