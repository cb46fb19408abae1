"""The plain-text renderer: what a console user reads for each kind of reply."""

from __future__ import annotations

from bot.conversation import Attachment, Reply
from bot.render.text import display_width, render_reply, render_table, reply_options
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


def _diagnosis() -> Diagnosis:
    return Diagnosis(
        flow="publish_image_error",
        verdict="not_rgb",
        summary="1 picture(s) are not RGB (CMYK); the platform cannot parse them.",
        findings=[
            Finding("http://cdn/ok.jpg", "loads fine", CheckStatus.OK),
            Finding("http://cdn/cmyk.jpg", "CMYK", CheckStatus.PROBLEM),
            Finding("Recent publishes", "could not tell", CheckStatus.UNKNOWN),
        ],
        tables=[Table("Sync", ["Store", "Result"], [["Amazon US", "done"], ["虾皮 MY", "失败"]])],
        images=[
            ImageEvidence(
                url="http://cdn/ok.jpg", verdict="ok", format="JPEG", mode="RGB", width=320, height=240
            ),
            ImageEvidence(url="http://cdn/missing.jpg", verdict="unreachable", http_status=404),
        ],
        next_steps=["Replace the picture and publish again."],
        actions=[Action(ActionKind.CONVERT_RGB, "Convert to RGB: cmyk.jpg", {"url": "http://cdn/cmyk.jpg"})],
        escalate=True,
        escalate_reason="the platform keeps refusing it",
    )


def test_a_diagnosis_shows_every_part_in_order() -> None:
    reply = Reply(kind="diagnosis", language="en", text="x", diagnosis=_diagnosis())
    text = render_reply(reply)
    lines = text.splitlines()
    assert lines[0].startswith("1 picture(s) are not RGB")
    assert "  ✓ http://cdn/ok.jpg: loads fine" in lines
    assert "  ✗ http://cdn/cmyk.jpg: CMYK" in lines
    assert "  ? Recent publishes: could not tell" in lines
    assert "  ✓ http://cdn/ok.jpg — ok, JPEG RGB, 320x240" in lines
    assert "  ✗ http://cdn/missing.jpg — unreachable, HTTP 404" in lines
    assert "  - Replace the picture and publish again." in lines
    assert "  [1] Convert to RGB: cmyk.jpg" in lines
    assert "→ Handing this to a person: the platform keeps refusing it" in text
    assert (
        text.index("What I checked")
        < text.index("Sync:")
        < text.index("Pictures:")
        < text.index("What to do")
    )


def test_tables_align_with_chinese_text() -> None:
    lines = render_table(Table("店铺", ["店铺", "结果"], [["Amazon US", "完成"], ["虾皮 MY", "失败"]]))
    rows = [lines[1], lines[3], lines[4]]  # header and data rows (line 2 is the rule)
    # The second column starts at the same terminal column on every line.
    starts = {
        display_width(line[: line.index(cell)])
        for line, cell in zip(rows, ["结果", "完成", "失败"], strict=True)
    }
    assert len(starts) == 1


def test_ask_detail_and_clarify_number_their_choices() -> None:
    request = DetailRequest(
        flow="upload_sku_missing",
        detail="sku",
        prompt="Which SKU?",
        choices=[Choice("DEMO-UP-OK", "DEMO-UP-OK · Amazon US"), Choice("DEMO-UP-NEW", "DEMO-UP-NEW")],
    )
    ask = Reply(
        kind="ask_detail", language="en", text="Which SKU?", detail_request=request, choices=request.choices
    )
    assert render_reply(ask).splitlines()[:4] == [
        "Which SKU?",
        "",
        "  [1] DEMO-UP-OK · Amazon US",
        "  [2] DEMO-UP-NEW",
    ]
    clarify = Reply(
        kind="clarify",
        language="zh",
        text="请问是哪一种？",
        choices=[
            Choice("upload_sku_missing", "上传页面没有记录"),
            Choice("product_sku_missing", "商品页面没有记录"),
        ],
    )
    text = render_reply(clarify)
    assert "  [2] 商品页面没有记录" in text and "回复编号" in text
    assert [o.choice for o in reply_options(clarify)] == ["upload_sku_missing", "product_sku_missing"]


def test_explain_lists_numbered_steps_and_options_after_choices() -> None:
    reply = Reply(
        kind="explain",
        language="en",
        text="Images are grabbed nightly.",
        title="When product images are captured",
        steps=["Rule a", "Rule b"],
        detail_request=DetailRequest(flow="image_grab", detail="sku", prompt="Which SKU should I check?"),
        choices=[Choice("DEMO-IMG-NOPIC", "DEMO-IMG-NOPIC")],
        actions=[Action(ActionKind.TALK_TO_PERSON, "Talk to a person")],
    )
    lines = render_reply(reply).splitlines()
    assert lines[:2] == ["When product images are captured", "Images are grabbed nightly."]
    assert "  1. Rule a" in lines and "  2. Rule b" in lines
    assert "Which SKU should I check?" in lines
    assert "  [1] DEMO-IMG-NOPIC" in lines and "  [2] Talk to a person" in lines
    options = reply_options(reply)
    assert options[1].action is not None and options[1].action.kind == ActionKind.TALK_TO_PERSON


def test_a_message_with_a_file_and_an_escalation() -> None:
    reply = Reply(
        kind="message",
        language="en",
        text="Here is the picture as an RGB JPEG.",
        files=[Attachment("cmyk-rgb.jpg", b"\xff" * 2048, "image/jpeg")],
        escalate=True,
    )
    text = render_reply(reply)
    assert "Attached: cmyk-rgb.jpg (2 KB)" in text
    assert "A person will take it from here" in text
