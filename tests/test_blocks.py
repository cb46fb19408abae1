"""Block Kit rendering: every reply fits Slack's limits and a real (fake) Slack accepts it."""

from __future__ import annotations

import json
import re

from bot.conversation import Reply
from bot.render.blocks import render_details, render_reply, render_text
from bot.settings import Settings
from bot.slack.app_factory import web_client
from bot.slack.poster import SlackPoster
from bot.slack.progress import SlackProgress
from erp.progress import StoreSyncProgress
from handlers.diagnosis import (
    Action,
    ActionKind,
    CheckStatus,
    Choice,
    DetailRequest,
    Diagnosis,
    Finding,
    ImageEvidence,
    Table,
)
from tests.fake_slack import FakeSlack, check_blocks


def _poster(fake: FakeSlack) -> SlackPoster:
    settings = Settings(slack_bot_token="xoxb-test", slack_api_url=fake.url)
    return SlackPoster(web_client(settings, settings.slack_bot_token))


def _huge_diagnosis() -> Diagnosis:
    return Diagnosis(
        flow="orders_not_synced",
        verdict="sync_failed",
        summary="S" * 5000,
        findings=[Finding(f"check {i}", "r" * 4000, CheckStatus.PROBLEM) for i in range(120)],
        tables=[Table("Stores " * 40, ["store", "orders"], [[f"Store {i}", str(i)] for i in range(2000)])],
        images=[ImageEvidence(url="https://cdn.example/" + "p" * 500, verdict="damaged", detail="truncated")]
        * 30,
        next_steps=["step " * 200] * 40,
        actions=[
            Action(ActionKind.SYNC_NOW, "Sync now " + "x" * 100, {"store": "Amazon US"}),
            Action(ActionKind.NOTIFY_REPORT, "Too big", {"blob": "v" * 3000}),
        ],
        escalate=True,
    )


def test_an_oversized_diagnosis_is_short_and_its_details_split_and_slack_accepts_every_part(
    fake_slack: FakeSlack,
) -> None:
    reply = Reply(kind="diagnosis", language="en", text="t" * 50_000, diagnosis=_huge_diagnosis())
    short = render_reply(reply)
    details = render_details(reply)
    # The answer itself: one message, three checks, two steps, then the buttons.
    assert len(short) == 1
    sections = [b["text"]["text"] for b in short[0].blocks if b["type"] == "section"]
    assert sum(text.startswith(":x: *check") for text in sections) == 3
    assert any("in the thread below" in json.dumps(b) for b in short[0].blocks if b["type"] == "context")
    assert short[0].blocks[-1]["block_id"] == "sd_feedback"
    # Everything else goes to the thread, split and cut to Block Kit's limits.
    assert len(details) > 1
    for message in [*short, *details]:
        check_blocks(message.blocks)  # the fake's copy of Slack's rules
        assert len(message.text) <= 3000
    detail_sections = [b["text"]["text"] for m in details for b in m.blocks if b["type"] == "section"]
    assert any(text.endswith("…") for text in detail_sections)
    buttons = [e for b in short[0].blocks if b["type"] == "actions" for e in b["elements"]]
    assert all(len(b["text"]["text"]) <= 75 and len(b["value"]) <= 2000 for b in buttons)
    assert "Too big" not in json.dumps(buttons)  # dropped rather than sent with a cut value

    poster = _poster(fake_slack)
    ts = poster.post_all("D1", short)
    poster.post_all("D1", details, thread_ts=ts[0])
    assert len(fake_slack.calls_to("chat.postMessage")) == len(short) + len(details)
    assert len(fake_slack.messages) == len(short) + len(details)  # every one accepted, none rejected


def test_a_runaway_diagnosis_has_its_details_cut_to_five_messages() -> None:
    diagnosis = Diagnosis(
        flow="orders_not_synced",
        verdict="sync_failed",
        summary="Many stores failed.",
        findings=[Finding(f"Store {i}", "x" * 2900, CheckStatus.PROBLEM) for i in range(400)],
    )
    reply = Reply(kind="diagnosis", language="en", text="x", diagnosis=diagnosis)
    (short,) = render_reply(reply)
    assert short.blocks[-1]["block_id"] == "sd_feedback"
    details = render_details(reply)
    assert len(details) == 5
    blocks = [b for m in details for b in m.blocks]
    assert any(b["type"] == "context" and "more parts not shown" in b["elements"][0]["text"] for b in blocks)


def test_a_chinese_answer_names_no_flow_id_and_its_details_say_image_verdicts_in_chinese() -> None:
    diagnosis = Diagnosis(
        flow="image_not_displaying",
        verdict="unreachable",
        summary="这张图片从这里无法打开。",
        language="zh",
        store="Amazon US",
        sku="DEMO-PUB-LOST",
        findings=[Finding("http://cdn/missing.jpg", "无法打开：HTTP 404", CheckStatus.PROBLEM)],
        images=[
            ImageEvidence(
                url="http://cdn/missing.jpg",
                verdict="unreachable",
                http_status=404,
                detail="HTTP 404 Not Found",
            )
        ],
    )
    reply = Reply(kind="diagnosis", language="zh", text="x", diagnosis=diagnosis)
    (short,) = render_reply(reply)
    seen = [e["text"] for b in short.blocks if b["type"] == "context" for e in b["elements"]]
    seen += [b["text"]["text"] for b in short.blocks if b["type"] == "section"]
    assert "Amazon US · DEMO-PUB-LOST" in seen  # what the seller reads: no flow id
    assert not any("image_not_displaying" in text for text in seen)
    (thread,) = render_details(reply)
    text = json.dumps(thread.blocks, ensure_ascii=False)
    assert "*无法打开*" in text and "链接无法打开" in text and "Not Found" not in text


def test_the_fake_rejects_what_slack_rejects(fake_slack: FakeSlack) -> None:
    from slack_sdk.errors import SlackApiError

    poster = _poster(fake_slack)
    too_many = [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51
    try:
        poster.client.chat_postMessage(channel="D1", text="x", blocks=too_many)
    except SlackApiError as exc:
        assert exc.response["error"] == "invalid_blocks"
    else:
        raise AssertionError("51 blocks were accepted")


def test_many_choices_become_one_select_and_few_become_buttons() -> None:
    many = DetailRequest(
        "upload_sku_missing",
        "sku",
        "Which SKU?",
        choices=[Choice(f"SKU-{i}", f"SKU-{i}") for i in range(150)],
    )
    blocks = render_reply(Reply(kind="ask_detail", language="en", text="Which SKU?", detail_request=many))[
        0
    ].blocks
    select = blocks[-1]["elements"][0]
    assert select["type"] == "static_select" and len(select["options"]) == 100
    assert select["action_id"] == "sd_select:upload_sku_missing:sku"

    few = DetailRequest(
        "orders_not_synced", "store", "Which store?", choices=[Choice("Amazon US", "Amazon US")]
    )
    blocks = render_reply(Reply(kind="ask_detail", language="en", text="Which store?", detail_request=few))[
        0
    ].blocks
    button = blocks[-1]["elements"][0]
    assert button["type"] == "button"
    assert json.loads(button["value"]) == {"f": "orders_not_synced", "d": "store", "v": "Amazon US"}


def test_clarify_offers_both_flows_as_buttons() -> None:
    reply = Reply(
        kind="clarify",
        language="zh",
        text="是哪一种？",
        choices=[
            Choice("upload_sku_missing", "上传页没有记录"),
            Choice("product_sku_missing", "商品页没有记录"),
        ],
    )
    (message,) = render_reply(reply)
    buttons = message.blocks[-1]["elements"]
    assert [json.loads(b["value"])["v"] for b in buttons] == ["upload_sku_missing", "product_sku_missing"]
    assert message.text == "是哪一种？"


def test_replies_are_labelled_in_the_sellers_language_and_escaped() -> None:
    diagnosis = Diagnosis(
        flow="image_not_displaying",
        verdict="not_an_image",
        summary="链接返回的是 <html> 页面 & 不是图片",
        language="zh",
        findings=[Finding("内容类型", "text/html", CheckStatus.PROBLEM)],
        next_steps=["重新添加图片"],
    )
    (message,) = render_reply(Reply(kind="diagnosis", language="zh", text="x", diagnosis=diagnosis))
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "&lt;html&gt;" in text and "&amp;" in text and "<html>" not in text
    assert "我检查了什么" in text and "有帮助" in text and "联系客服" in text


def test_plain_text_is_one_message_within_limits() -> None:
    message = render_text("word " * 5000)
    check_blocks(message.blocks)
    assert len(message.text) <= 3000


def test_progress_edits_one_message_at_most_about_once_a_second(fake_slack: FakeSlack) -> None:
    now = [0.0]
    progress = SlackProgress(_poster(fake_slack), "D1", language="en", monotonic=lambda: now[0])
    for page in range(1, 41):  # 40 snapshots in two seconds
        now[0] = page * 0.05
        progress(StoreSyncProgress(store="Amazon US", platform="amazon", pages=page, fetched=page * 100))
    progress(StoreSyncProgress(store="Shopee MY", platform="shopee", inserted=312, done=True))
    progress.finish()
    posts = fake_slack.calls_to("chat.postMessage")
    updates = fake_slack.calls_to("chat.update")
    assert len(posts) == 1
    assert 1 <= len(updates) <= 3  # throttled: about one per second, plus the final state
    assert {u.args["ts"] for u in updates} == {next(iter(fake_slack.messages.values())).ts}
    assert any(re.search(r"Amazon US: [\d,]+ orders \(page \d+\)…", u.args["text"]) for u in updates)
    final = updates[-1].args["text"]
    # When the check is over, nothing is left looking as if it were still running.
    assert final.startswith("Order sync finished")
    assert "Amazon US: done, 4,000 orders checked" in final and "Shopee MY: done, 312 new" in final
