"""Conversation acts in both languages: recognized alone, never mistaken inside a question."""

from __future__ import annotations

import pytest

from knowledge.acts import detect_act, read_act


@pytest.mark.parametrize(
    ("text", "act"),
    [
        ("hi", "greeting"),
        ("你好", "greeting"),
        ("thanks!", "thanks"),
        ("好的，谢谢！", "thanks"),
        ("bye", "thanks"),
        ("i need a human please", "human"),
        ("转人工", "human"),
        ("人工客服", "human"),
        ("找客服", "human"),
        ("help", "help"),
        ("帮助", "help"),
        ("cancel", "cancel"),
        ("算了", "cancel"),
        ("start over", "cancel"),
        ("重新开始", "cancel"),
        ("still not working", "not_resolved"),
        ("didn't help", "not_resolved"),
        ("还是不行", "not_resolved"),
        ("没用", "not_resolved"),
    ],
)
def test_acts_alone_are_recognized(text: str, act: str) -> None:
    assert detect_act(text) == act


@pytest.mark.parametrize(
    "text",
    [
        "DEMO-PRICE-WAIT",
        "价格没更新",
        "图片显示不出来",
        "my price change didnt show",
        "thanks, but the price still shows 10",
        "help me my orders are missing",
        "hidden picture in the listing",
        "",
        "\x00\x01",
    ],
)
def test_questions_are_not_acts(text: str) -> None:
    assert detect_act(text) is None


def test_a_person_asked_for_with_a_question_keeps_the_question() -> None:
    reading = read_act("I want to talk to a person about DEMO-1")
    assert reading.act == "human"
    assert not reading.pure
    assert "demo 1" in reading.rest


def test_a_greeting_before_a_question_leaves_the_question() -> None:
    reading = read_act("hi, my orders didn't sync")
    assert reading.act is None
    assert "orders" in reading.rest
