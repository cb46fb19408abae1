"""SellerDesk in HTTP mode against the fake Slack: signatures, acks, retries, bad input."""

from __future__ import annotations

import json
import time

import httpx

from erp.models import ProcessedEvent
from tests.fake_slack import ESCALATION_CHANNEL, RunningBot


def _texts(call_args: dict) -> str:
    """Everything a seller would read in one posted message."""
    blocks = call_args.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return call_args.get("text", "") + "\n" + json.dumps(blocks, ensure_ascii=False)


def test_health_reports_the_database(slack_bot: RunningBot) -> None:
    response = httpx.get(slack_bot.base_url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "database": True}


def test_forged_and_stale_signatures_are_refused(slack_bot: RunningBot) -> None:
    send = slack_bot.send
    forged = send.command("/sellerdesk", "help", secret="not-the-signing-secret")
    stale = send.command("/sellerdesk", "help", timestamp=str(int(time.time()) - 600))
    assert forged.status_code == 401
    assert stale.status_code == 401
    # A request with no signature at all is refused too, and nothing reached Slack.
    bare = httpx.post(
        send.url,
        content=b"command=/sellerdesk",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bare.status_code == 401
    assert not slack_bot.fake.posts()


def test_a_dm_question_is_answered_with_the_diagnosis(slack_bot: RunningBot) -> None:
    response = slack_bot.send.message(
        "why is DEMO-UP-FAILED not on the upload page?", user="U1", channel="D1"
    )
    assert response.status_code == 200
    post = slack_bot.fake.wait_for(lambda: slack_bot.fake.posts("D1"), message="the answer in the DM")[0]
    text = _texts(post.args)
    assert "DEMO-UP-FAILED" in text
    assert "failed" in text.lower()
    blocks = post.args["blocks"]
    assert any(b["type"] == "actions" and b.get("block_id") == "sd_feedback" for b in blocks)


def test_a_chinese_answer_is_short_and_its_details_are_in_its_thread(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    slack_bot.send.message("DEMO-UP-FAILED 在产品上传页面没有记录", user="U1", channel="D1")
    answer, details = fake.wait_for(
        lambda: fake.posts("D1")[:2] if len(fake.posts("D1")) >= 2 else None,
        message="the answer and its details",
    )
    short = _texts(answer.args)
    assert "上传失败" in short and "全部检查、表格和图片见下方消息串" in short
    assert "```" not in short  # the record table waits in the thread
    assert not answer.args.get("thread_ts") and details.args["thread_ts"] == answer.ts
    thread = _texts(details.args)
    assert "详情" in thread and "产品列表" in thread and "上传记录" in thread


def test_a_retried_event_gets_200_and_no_second_reply(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    first = slack_bot.send.message("why is DEMO-UP-OK missing from the upload page", event_id="EvRETRY1")
    assert first.status_code == 200
    fake.wait_for(lambda: fake.posts("D1"), message="the first answer")
    retry = slack_bot.send.message(
        "why is DEMO-UP-OK missing from the upload page", event_id="EvRETRY1", retry_num=1
    )
    assert retry.status_code == 200
    # A later, different message is answered: by then a second answer to the retry would show.
    slack_bot.send.message("help", channel="D1", event_id="EvAFTER")
    fake.wait_for(
        lambda: len(fake.posts("D1", top_level=True)) >= 2, message="the answer to the later message"
    )
    time.sleep(0.3)
    answers = [_texts(c.args) for c in fake.posts("D1", top_level=True)]
    assert sum("DEMO-UP-OK" in a for a in answers) == 1
    with slack_bot.session() as session:
        assert session.get(ProcessedEvent, "EvRETRY1") is not None


def test_unlinked_user_is_told_how_to_link_and_sees_no_data(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    slack_bot.send.message("why is DEMO-UP-FAILED not on the upload page?", user="USTRANGER", channel="D9")
    post = fake.wait_for(lambda: fake.posts("D9"))[0]
    text = _texts(post.args)
    assert "/sellerdesk link" in text
    assert "DEMO-UP-FAILED" not in text and "Amazon US" not in text


def test_a_user_of_another_workspace_is_unlinked(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    # U1 is the demo owner in T1; the same id in T2 is someone else.
    slack_bot.send.message(
        "why is DEMO-UP-FAILED not on the upload page?", user="U1", channel="D7", team_id="T2"
    )
    post = fake.wait_for(lambda: fake.posts("D7"))[0]
    text = _texts(post.args)
    assert "/sellerdesk link" in text
    assert "Amazon US" not in text


def test_another_accounts_data_is_never_shown(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    slack_bot.send.message("why is NB-SECRET-1 not on the upload page?", user="U1", channel="D1")
    post = fake.wait_for(lambda: fake.posts("D1"))[0]
    text = _texts(post.args)
    assert "Neighbour Secret Shop" not in text
    assert "NB-SECRET-1" in text  # the seller's own words echo back; the neighbour's records do not
    assert "failed" not in text.lower().replace("failed upload", "")


def test_unknown_command_and_empty_text_get_friendly_answers(slack_bot: RunningBot) -> None:
    unknown = slack_bot.send.command("/teleport", "now")
    assert unknown.status_code == 200
    assert "/sellerdesk help" in unknown.text
    empty = slack_bot.send.command("/check-sku", "   ", user="U1")
    assert empty.status_code == 200
    assert "/check-sku ABC-123" in empty.text


def test_a_message_with_only_a_file_gets_a_friendly_answer(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    url = fake.serve_file("shot.png", b"\x89PNG fake")
    files = [{"id": "F1", "name": "shot.png", "mimetype": "image/png", "url_private": url}]
    slack_bot.send.message("", user="U1", channel="D1", files=files)
    post = fake.wait_for(lambda: fake.posts("D1"))[0]
    assert "got your file" in _texts(post.args)


def test_a_40000_character_message_is_answered(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    response = slack_bot.send.message("my order did not sync " + "x" * 40_000, user="U1", channel="D1")
    assert response.status_code == 200
    posts = fake.wait_for(lambda: fake.posts("D1"))
    assert all(len(p.args.get("text", "")) <= 3000 for p in posts)
    assert not [c for c in fake.calls if c.method == "chat.postMessage" and "Traceback" in _texts(c.args)]


def test_a_slow_check_is_acknowledged_in_under_three_seconds(slack_bot: RunningBot) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from bot.slack.app_factory import LAZY_WORKERS, QUICK_PER_SELLER

    fake = slack_bot.fake
    fake.delay("conversations.open", 3.2)  # everything after the ack is slow
    # More slow commands at once than there are workers for Slack's checks: one seller may hold
    # only QUICK_PER_SELLER of them, so two sellers fill them all and one command more waits.
    assert LAZY_WORKERS <= 2 * QUICK_PER_SELLER
    asks = [("U1", "DEMO-UP-FAILED")] * (LAZY_WORKERS + 1 - QUICK_PER_SELLER)
    asks += [("UN", "NB-SECRET-1")] * QUICK_PER_SELLER

    def timed(index: int) -> tuple[float, str, str]:
        user, sku = asks[index]
        started = time.perf_counter()
        response = slack_bot.send.command("/check-sku", sku, user=user, channel=f"C{index}")
        assert response.status_code == 200
        return time.perf_counter() - started, response.text, sku

    with ThreadPoolExecutor(max_workers=len(asks)) as pool:
        results = list(pool.map(timed, range(len(asks))))
    assert max(elapsed for elapsed, _, _ in results) < 3.0
    assert all(f"Checking SKU {sku}" in text for _, text, sku in results)

    def answers(channel: str) -> list[str]:
        return [_texts(p.args) for p in fake.posts(channel) if "sd_feedback" in _texts(p.args)]

    for channel, sku in (("DU1", "DEMO-UP-FAILED"), ("DUN", "NB-SECRET-1")):
        asked = sum(1 for _, asked_sku in asks if asked_sku == sku)
        fake.wait_for(
            lambda channel=channel, asked=asked: len(answers(channel)) >= 2 * asked,
            timeout=30,
            message=f"every {sku} answer",
        )
        assert all(sku in text for text in answers(channel))
    # The same finding escalated by each run reaches customer service once.
    fake.wait_for(lambda: len(fake.posts(ESCALATION_CHANNEL)) >= 1, message="the case")
    cases = [c for c in fake.posts(ESCALATION_CHANNEL) if not c.args.get("thread_ts")]
    assert len([c for c in cases if "DEMO-UP-FAILED" in _texts(c.args)]) == 1


def test_a_429_from_slack_is_retried(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    fake.rate_limit("chat.postMessage", times=1, retry_after=0)
    slack_bot.send.message("why is DEMO-UP-OK missing from the upload page", user="U1", channel="D1")
    fake.wait_for(lambda: fake.messages and any(m.channel == "D1" for m in fake.messages.values()))
    assert len(fake.calls_to("chat.postMessage")) >= 2  # the 429, then the retry that landed


def test_mentions_are_answered_privately_with_a_note_in_the_thread(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    slack_bot.send.mention("why is DEMO-UP-FAILED not on the upload page?", user="U1", channel="C5")
    post = fake.wait_for(lambda: fake.posts("C5"))[0]
    assert post.args.get("thread_ts")
    assert "direct message" in post.args["text"] and "<@U1>" in post.args["text"]
    # The store data goes to the asker alone.
    answer = fake.wait_for(lambda: [p for p in fake.posts("DU1") if "DEMO-UP-FAILED" in _texts(p.args)])[0]
    assert "sd_feedback" in _texts(answer.args)
    assert not [p for p in fake.posts("C5") if "DEMO-UP-FAILED" in _texts(p.args)]
