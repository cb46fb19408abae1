"""The HTTP edge against hostile requests: malformed signatures and bodies, bad bytes, replays.

Every request goes to the real `serve` WSGI app (waitress on 127.0.0.1) over the test's database,
with the fake Slack Web API behind it; requests are signed exactly as Slack signs them.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from typing import Any

import httpx
import pytest
from sqlmodel import select

from erp.models import AuditLog, Escalation, ProcessedEvent
from tests.fake_slack import ESCALATION_CHANNEL, SIGNING_SECRET, RunningBot, sign


def _texts(args: dict[str, Any]) -> str:
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return args.get("text", "") + "\n" + json.dumps(blocks, ensure_ascii=False)


def _post(bot: RunningBot, body: bytes, content_type: str, timestamp: str, signature: str) -> httpx.Response:
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }
    return httpx.post(bot.send.url, content=body, headers=headers, timeout=10)


def _command_body(
    bot: RunningBot, command: str, text: str, *, user: str = "U1", channel: str = "C1"
) -> bytes:
    form = {
        "team_id": "T1",
        "channel_id": channel,
        "user_id": user,
        "command": command,
        "text": text,
        "api_app_id": "A1",
        "response_url": bot.fake.response_url(),
        "trigger_id": f"trigger-{time.monotonic_ns()}",
    }
    return urllib.parse.urlencode(form).encode()


def _after_start(bot: RunningBot) -> list[str]:
    """Web API calls other than the start's token check: what a handler would have made."""
    return [c.method for c in bot.fake.calls if c.method != "auth.test"]


def _edge_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.slack.server"]


@pytest.mark.parametrize(
    "timestamp",
    ["not-a-number", "1764612345.5", "", "9" * 40, "-300", "1e9"],
    ids=["text", "float", "empty", "huge", "negative", "exponent"],
)
def test_a_malformed_timestamp_is_401_with_one_warning_and_no_traceback(
    slack_bot: RunningBot, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    body = _command_body(slack_bot, "/escalate", "open a case")
    caplog.set_level(logging.INFO)
    response = _post(
        slack_bot, body, "application/x-www-form-urlencoded", timestamp, sign(SIGNING_SECRET, timestamp, body)
    )
    assert response.status_code == 401
    records = _edge_records(caplog)
    assert [r.levelno for r in records] == [logging.WARNING]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback anywhere
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not _after_start(slack_bot)  # nothing reached a handler


@pytest.mark.parametrize(
    ("body", "content_type", "why"),
    [
        (b"payload=%7B%22type%22%3A%22bl\xff\xfe", "application/x-www-form-urlencoded", "UTF-8"),
        (b'{"type": "event_callback", "event": {', "application/json", "not JSON"),
        (b'["a", "list"]', "application/json", "not an object"),
        (b"payload=not-json", "application/x-www-form-urlencoded", "not JSON"),
        (
            urllib.parse.urlencode(
                {"payload": json.dumps({"type": "block_actions", "user": {"id": "U1"}, "actions": []})}
            ).encode(),
            "application/x-www-form-urlencoded",
            "without any action",
        ),
    ],
    ids=["invalid-utf8", "bad-json", "json-list", "payload-not-json", "no-actions"],
)
def test_a_signed_but_malformed_body_is_400_with_one_warning(
    slack_bot: RunningBot, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str, why: str
) -> None:
    caplog.set_level(logging.INFO)
    timestamp = str(int(time.time()))
    response = _post(slack_bot, body, content_type, timestamp, sign(SIGNING_SECRET, timestamp, body))
    assert response.status_code == 400
    assert why in response.text
    assert [r.levelno for r in _edge_records(caplog)] == [logging.WARNING]
    assert not [r for r in caplog.records if r.exc_info is not None or r.levelno >= logging.ERROR]
    assert not _after_start(slack_bot)


def test_unsigned_and_forged_requests_never_reach_a_handler(
    slack_bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # Even a body that would crash a parser gets no further than the signature check.
    hostile = b'{"type": "event_callback", "event_id": "EvX", "event": {"type": "message", "text": "\xff'
    timestamp = str(int(time.time()))
    bare = httpx.post(slack_bot.send.url, content=hostile, headers={"Content-Type": "application/json"})
    forged = _post(slack_bot, hostile, "application/json", timestamp, "v0=" + "0" * 64)
    wrong_shape = _post(slack_bot, hostile, "application/json", timestamp, "sha1=abc")
    assert [r.status_code for r in (bare, forged, wrong_shape)] == [401, 401, 401]
    assert len(_edge_records(caplog)) == 3
    assert not _after_start(slack_bot)
    with slack_bot.session() as session:
        assert session.exec(select(ProcessedEvent)).all() == []


def test_an_escalation_with_a_nul_opens_the_case(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    ack = slack_bot.send.command("/escalate", "help\x00me with my orders", user="U1", channel="C1")
    assert ack.status_code == 200 and "Asking a person" in ack.text
    case = fake.wait_for(lambda: fake.posts(ESCALATION_CHANNEL), message="the case in customer service")[0]
    assert "help" in _texts(case.args) and "\x00" not in _texts(case.args)
    fake.wait_for(lambda: fake.posts("DU1"), message="the seller is told")
    with slack_bot.session() as session:
        stored = session.exec(select(Escalation)).one()
        assert stored.question.startswith("help") and "me with my orders" in stored.question
        assert "\x00" not in stored.question
        assert session.exec(select(AuditLog).where(AuditLog.action == "escalate")).first() is not None


def test_check_sku_with_a_nul_answers_with_the_diagnosis(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    ack = slack_bot.send.command("/check-sku", "DEMO-UP-FAILED\x00", user="U1", channel="C1")
    assert ack.status_code == 200 and "\x00" not in ack.text
    answers = fake.wait_for(
        lambda: [p for p in fake.posts("DU1") if "sd_feedback" in _texts(p.args)], message="the SKU answer"
    )
    text = _texts(answers[0].args)
    assert "DEMO-UP-FAILED" in text and "went wrong" not in text


def test_a_file_name_with_a_nul_is_stored_clean(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    url = fake.serve_file("shot.png", b"\x89PNG fake")
    files = [{"id": "F1", "name": "sh\x00ot\ud800.png", "mimetype": "image/png", "url_private": url}]
    response = slack_bot.send.message("", user="U1", channel="D1", files=files)
    assert response.status_code == 200
    post = fake.wait_for(lambda: fake.posts("D1"))[0]
    assert "got your file" in _texts(post.args)


def test_a_replayed_escalation_opens_one_case(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    body = _command_body(slack_bot, "/escalate", "my Amazon DE orders stopped syncing")
    timestamp = str(int(time.time()))
    signature = sign(SIGNING_SECRET, timestamp, body)
    first = _post(slack_bot, body, "application/x-www-form-urlencoded", timestamp, signature)
    again = _post(slack_bot, body, "application/x-www-form-urlencoded", timestamp, signature)
    assert (first.status_code, again.status_code) == (200, 200)
    assert "Asking a person" in first.text
    fake.wait_for(lambda: fake.posts(ESCALATION_CHANNEL), message="the case")
    # A later, different command is answered: by then a second case from the replay would show.
    slack_bot.send.command("/check-sku", "DEMO-UP-OK", user="U1", channel="C1")
    fake.wait_for(lambda: [p for p in fake.posts("DU1") if "DEMO-UP-OK" in _texts(p.args)])
    time.sleep(0.3)
    cases = [
        p
        for p in fake.posts(ESCALATION_CHANNEL)
        if not p.args.get("thread_ts") and "stopped syncing" in _texts(p.args)
    ]
    assert len(cases) == 1
    with slack_bot.session() as session:
        stored = session.exec(select(Escalation)).all()
        assert len([e for e in stored if "stopped syncing" in e.question]) == 1


def test_a_replayed_sync_runs_once(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    body = _command_body(slack_bot, "/sync-orders", "", channel="DU1")
    timestamp = str(int(time.time()))
    signature = sign(SIGNING_SECRET, timestamp, body)
    for _ in range(3):
        assert (
            _post(slack_bot, body, "application/x-www-form-urlencoded", timestamp, signature).status_code
            == 200
        )
    fake.wait_for(lambda: [p for p in fake.posts("DU1") if "sd_feedback" in _texts(p.args)], timeout=30)
    time.sleep(0.5)
    assert len([p for p in fake.posts("DU1") if "sd_feedback" in _texts(p.args)]) == 1


def test_the_url_verification_challenge_is_answered_when_signed(slack_bot: RunningBot) -> None:
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"}).encode()
    timestamp = str(int(time.time()))
    signed = _post(slack_bot, body, "application/json", timestamp, sign(SIGNING_SECRET, timestamp, body))
    assert signed.status_code == 200 and "c-123" in signed.text
    unsigned = httpx.post(slack_bot.send.url, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and "c-123" not in unsigned.text
