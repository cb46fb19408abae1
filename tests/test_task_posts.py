"""Every answer is posted once, even when the worker dies between Slack taking a message and the
journal recording it (issue 13).

The crash is real: the task runs in a worker process of its own (`tests/answer_task.py`), and
the fake Slack kills that process (SIGKILL) after it has stored the chosen message and before it
answers the HTTP request. The task is then delivered again, here, as the broker would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import BoltRequest
from slack_sdk import WebClient

from bot.slack.app_factory import build_app
from bot.tasks.catalog import SLACK_ANSWER
from bot.tasks.jobs import task_handlers
from bot.tasks.journal import POST_EVENT_TYPE, JournaledClient, PostJournal
from tests.fake_slack import SIGNING_SECRET, TEAM_ID, FakeSlack, Message, RunningBot, sign
from tests.test_tasks import RecordingTasks, _signed_command

ROOT = Path(__file__).resolve().parent.parent


def _signed_mention(text: str, *, channel: str, ts: str, user: str = "U1") -> BoltRequest:
    body = json.dumps(
        {
            "token": "legacy",
            "team_id": TEAM_ID,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "channel": channel,
                "user": user,
                "text": text,
                "ts": ts,
                "team": TEAM_ID,
            },
            "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT", "is_bot": True}],
        }
    )
    timestamp = str(int(time.time()))
    return BoltRequest(
        body=body,
        headers={
            "content-type": ["application/json"],
            "x-slack-request-timestamp": [timestamp],
            "x-slack-signature": [sign(SIGNING_SECRET, timestamp, body.encode())],
        },
    )


def _queued(bot: RunningBot, request: BoltRequest) -> dict[str, Any]:
    """The answer task the web process queues for `request` (as `serve` with a broker would)."""
    tasks = RecordingTasks()
    bot.components.__dict__["tasks"] = tasks
    try:
        response = build_app(bot.components.settings, bot.components).dispatch(request)
    finally:
        del bot.components.__dict__["tasks"]
    assert response.status == 200
    assert [name for name, _ in tasks.queued] == [SLACK_ANSWER]
    return tasks.queued[0][1]


def _posts_of(fake: FakeSlack, key: str) -> list[Message]:
    """The messages in Slack that task `key` posted, by their metadata, oldest first."""
    with fake._lock:
        found = [
            m
            for m in fake.messages.values()
            if m.metadata
            and m.metadata.get("event_type") == POST_EVENT_TYPE
            and m.metadata["event_payload"]["task"] == key
        ]
    return sorted(found, key=lambda m: m.ts)


def _kill_worker_at(fake: FakeSlack, bot: RunningBot, payload: dict[str, Any], seq: int) -> None:
    """Run `payload` in a worker process killed right after Slack stored its post `seq`."""
    settings = bot.components.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SELLERDESK_"))}
    env.update(
        DATABASE_URL=settings.database_url,
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.url,
        SELLERDESK_DATA_DIR=settings.data_dir,
        SELLERDESK_FETCH_ALLOW="127.0.0.1",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.answer_task"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def die_after_slack_took_it(message: Message) -> None:
        payload_seen = (message.metadata or {}).get("event_payload") or {}
        if payload_seen.get("task") == payload["key"] and payload_seen.get("seq") == seq:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)

    fake.after_post = die_after_slack_took_it
    try:
        _, stderr = worker.communicate(json.dumps(payload), timeout=120)
    finally:
        fake.after_post = None
    assert worker.returncode == -signal.SIGKILL, stderr[-2000:]


def _gist(text: str) -> str:
    """A post's words up to its first colon: stores sync in parallel, so what follows varies in order."""
    return text.split(":", 1)[0]


def _reference_answer(bot: RunningBot, payload: dict[str, Any]) -> list[str]:
    """What an uninterrupted run of the same turn posts (another task key), in order."""
    reference = f"reference-{payload['key']}"
    task_handlers(bot.components)[SLACK_ANSWER]({**payload, "key": reference})
    posts = [_gist(m.text) for m in _posts_of(bot.fake, reference)]
    assert len(posts) >= 2, posts  # a progress message and the answer at least
    return posts


@pytest.mark.parametrize("where", ["dm", "thread"])
@pytest.mark.parametrize("killed_at", ["first post", "last post"])
def test_a_worker_killed_after_slack_took_a_post_but_before_the_journal_did_makes_the_retry_post_it_once(
    slack_bot: RunningBot, where: str, killed_at: str
) -> None:
    fake = slack_bot.fake
    if where == "dm":
        request = _signed_command("/sync-orders", "", "U1")  # progress, edits, the answer, details
        channel = "DU1"
    else:
        channel, ts = "C1", f"{int(time.time())}.000100"
        fake.said(channel, ts, "<@UBOT> when are product images captured for DEMO-UP-OK?")
        request = _signed_mention(
            "<@UBOT> when are product images captured for DEMO-UP-OK?", channel=channel, ts=ts
        )
    payload = _queued(slack_bot, request)
    expected = _reference_answer(slack_bot, payload)
    seq = 0 if killed_at == "first post" else len(expected) - 1

    _kill_worker_at(fake, slack_bot, payload, seq)

    journal = PostJournal(slack_bot.components.engine)
    assert journal.intent(payload["key"], seq) is not None  # the post was intended ...
    assert journal.get(payload["key"], seq) is None  # ... reached Slack, and was never journaled
    assert len(_posts_of(fake, payload["key"])) == seq + 1
    lookups = ("conversations.history", "conversations.replies")
    lookups_before = [len(fake.calls_to(method)) for method in lookups]

    task_handlers(slack_bot.components)[SLACK_ANSWER](dict(payload))  # the broker delivers it again

    posts = _posts_of(fake, payload["key"])
    assert [_gist(m.text) for m in posts] == expected  # every post once: none lost, none twice
    assert [(m.metadata or {})["event_payload"]["seq"] for m in posts] == list(range(len(expected)))
    assert posts[0].channel == channel and bool(posts[0].thread_ts) == (where == "thread")  # where asked
    killed = posts[seq]
    # Found in Slack with one look-up: in its thread, or in the channel for a top-level post.
    looked = [
        len(fake.calls_to(method)) - before for method, before in zip(lookups, lookups_before, strict=True)
    ]
    assert looked == ([0, 1] if killed.thread_ts else [1, 0])
    found = journal.get(payload["key"], seq)
    assert found is not None and found["ts"] == posts[seq].ts  # progress edits reach that message
    # A third delivery finds everything journaled: it neither posts nor looks anything up.
    calls_before = [len(fake.calls_to(method)) for method in ("chat.postMessage", *lookups)]
    task_handlers(slack_bot.components)[SLACK_ANSWER](dict(payload))
    assert [len(fake.calls_to(method)) for method in ("chat.postMessage", *lookups)] == calls_before


def _client(fake: FakeSlack, journal: PostJournal, key: str) -> JournaledClient:
    """The client one delivery of task `key` posts with (a new one per delivery, as on a worker)."""
    return JournaledClient(WebClient(token="xoxb-test-token", base_url=fake.url), journal, key)


def test_the_normal_path_posts_once_tagged_with_its_task_and_looks_nothing_up(
    fake_slack: FakeSlack, engine: Any
) -> None:
    journal = PostJournal(engine)
    first = _client(fake_slack, journal, "k-normal").chat_postMessage(channel="C9", text="the answer")
    again = _client(fake_slack, journal, "k-normal").chat_postMessage(channel="C9", text="the answer")

    assert [c.args["text"] for c in fake_slack.posts("C9")] == ["the answer"]
    assert again["ts"] == first["ts"]
    assert fake_slack.posts("C9")[0].args["metadata"] == {
        "event_type": POST_EVENT_TYPE,
        "event_payload": {"task": "k-normal", "seq": 0},
    }
    assert fake_slack.calls_to("conversations.history") == []


def test_an_intent_whose_post_never_reached_slack_is_posted_on_retry(
    fake_slack: FakeSlack, engine: Any
) -> None:
    journal = PostJournal(engine)
    # A worker wrote its intent and died before the request left: Slack has nothing.
    journal.intend("k-lost", 0, "chat.postMessage", channel="C9", thread_ts="")
    fake_slack.said("C9", "1.000001", "an old message from someone else")

    _client(fake_slack, journal, "k-lost").chat_postMessage(channel="C9", text="the answer")

    assert [c.args["text"] for c in fake_slack.posts("C9")] == ["the answer"]
    assert len(fake_slack.calls_to("conversations.history")) == 1
    assert journal.get("k-lost", 0) is not None


def test_a_post_that_cannot_be_looked_up_is_posted_rather_than_lost(
    fake_slack: FakeSlack, engine: Any
) -> None:
    journal = PostJournal(engine)
    _client(fake_slack, journal, "k-scope").chat_postMessage(channel="C9", text="the answer")
    # As if the journal row were lost with the worker: only the intent and the message remain.
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM task_post")
    fake_slack.fail("conversations.history", "missing_scope")

    _client(fake_slack, journal, "k-scope").chat_postMessage(channel="C9", text="the answer")

    # Twice is the documented fallback when the bot cannot read the conversation back.
    assert [c.args["text"] for c in fake_slack.posts("C9")] == ["the answer", "the answer"]


def test_ephemeral_posts_are_journaled_but_cannot_be_looked_up(fake_slack: FakeSlack, engine: Any) -> None:
    """Slack keeps no readable copy of an ephemeral message, so no intent or metadata helps: a
    retry after the journal row returns it, but a worker killed between the post and the journal
    makes the retry post it again (the window `bot/tasks/journal.py` documents)."""
    journal = PostJournal(engine)
    _client(fake_slack, journal, "k-eph").chat_postEphemeral(channel="C9", user="U1", text="only you")
    _client(fake_slack, journal, "k-eph").chat_postEphemeral(channel="C9", user="U1", text="only you")

    calls = fake_slack.calls_to("chat.postEphemeral")
    assert len(calls) == 1 and "metadata" not in calls[0].args
    assert journal.intent("k-eph", 0) is None and journal.get("k-eph", 0) is not None


def test_chat_update_is_not_journaled_and_repeats_harmlessly(fake_slack: FakeSlack, engine: Any) -> None:
    journal = PostJournal(engine)
    client = _client(fake_slack, journal, "k-edit")
    ts = client.chat_postMessage(channel="C9", text="working")["ts"]
    for _ in range(2):
        _client(fake_slack, journal, "k-edit").chat_update(channel="C9", ts=ts, text="done")

    assert fake_slack.messages[("C9", ts)].text == "done" and journal.count("k-edit") == 1
