"""The fake Slack reads messages back as Slack's conversations.history / conversations.replies do:
newest first in history (thread replies left out), the parent first and then the replies oldest
first in a thread, `oldest` and `latest` exclusive unless `inclusive`, cursors, and message
metadata only when `include_all_metadata` asks for it."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fake_slack import FakeSlack

TAG = {"event_type": "sellerdesk_post", "event_payload": {"task": "k", "seq": 0}}


def test_history_is_newest_first_without_replies_and_shows_metadata_only_when_asked(
    fake_slack: FakeSlack,
) -> None:
    client = WebClient(token="xoxb-test-token", base_url=fake_slack.url)
    first = client.chat_postMessage(channel="C5", text="one", metadata=TAG)["ts"]
    second = client.chat_postMessage(channel="C5", text="two")["ts"]
    client.chat_postMessage(channel="C5", text="a reply", thread_ts=first)
    client.chat_postMessage(channel="C6", text="elsewhere")

    plain = client.conversations_history(channel="C5")
    assert [m["text"] for m in plain["messages"]] == ["two", "one"]
    assert all("metadata" not in m for m in plain["messages"])
    tagged = client.conversations_history(channel="C5", include_all_metadata=True)
    assert tagged["messages"][1]["metadata"] == TAG and "metadata" not in tagged["messages"][0]

    assert [m["text"] for m in client.conversations_history(channel="C5", oldest=first)["messages"]] == [
        "two"
    ]
    inclusive = client.conversations_history(channel="C5", oldest=first, inclusive=True)
    assert [m["text"] for m in inclusive["messages"]] == ["two", "one"]
    assert client.conversations_history(channel="C5", latest=second)["messages"][0]["text"] == "one"

    page = client.conversations_history(channel="C5", limit=1)
    assert [m["text"] for m in page["messages"]] == ["two"] and page["has_more"]
    rest = client.conversations_history(
        channel="C5", limit=1, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["one"] and not rest["has_more"]
    assert rest["response_metadata"]["next_cursor"] == ""


def test_replies_are_the_parent_then_the_replies_oldest_first(fake_slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test-token", base_url=fake_slack.url)
    fake_slack.said("C5", "1700000000.000100", "a seller's question")
    early = client.chat_postMessage(channel="C5", text="early", thread_ts="1700000000.000100")["ts"]
    client.chat_postMessage(channel="C5", text="late", thread_ts="1700000000.000100", metadata=TAG)

    thread = client.conversations_replies(channel="C5", ts="1700000000.000100", include_all_metadata=True)
    assert [m["text"] for m in thread["messages"]] == ["a seller's question", "early", "late"]
    assert thread["messages"][0]["user"] == "U1" and "bot_id" not in thread["messages"][0]
    assert thread["messages"][2]["metadata"] == TAG
    after = client.conversations_replies(channel="C5", ts="1700000000.000100", oldest=early)
    assert [m["text"] for m in after["messages"]] == ["a seller's question", "late"]
    assert "metadata" not in after["messages"][1]
    with pytest.raises(SlackApiError, match="thread_not_found"):
        client.conversations_replies(channel="C5", ts="1.000001")
