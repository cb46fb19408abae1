"""The plain-text renderer: what a console user reads for each kind of reply."""

from __future__ import annotations

from bot.conversation import Attachment, Reply
from bot.render.brief import wrap
from bot.render.text import display_width, render_details, render_reply, render_table, reply_options
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
from tests.reading import flat


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


def test_a_diagnosis_is_short_and_the_rest_is_in_the_details() -> None:
    reply = Reply(kind="diagnosis", language="en", text="x", diagnosis=_diagnosis())
    lines = render_reply(reply).splitlines()
    assert lines[0].startswith("1 picture(s) are not RGB")
    # The checks that matter: the problem first in rank, all shown in the order they ran.
    assert lines[1:4] == [
        "  ✓ http://cdn/ok.jpg: loads fine",
        "  ✗ http://cdn/cmyk.jpg: CMYK",
        "  ? Recent publishes: could not tell",
    ]
    assert "→ Replace the picture and publish again." in lines
    assert any(line.startswith("→ In Slack this opens a case for customer service") for line in lines)
    assert "  [1] Convert to RGB: cmyk.jpg" in lines
    assert "'more' for the details" in lines[-1]
    assert not any("Sync:" in line or "—" in line for line in lines)  # tables and pictures wait
    details = render_details(reply)
    assert details.index("What I checked") < details.index("Sync:") < details.index("Pictures:")
    assert details.index("Pictures:") < details.index("What to do")
    assert "  ✓ http://cdn/ok.jpg — loads fine, JPEG RGB, 320x240" in details
    assert "  ✗ http://cdn/missing.jpg — cannot be opened, HTTP 404" in details
    assert "Handed to a person because: the platform keeps refusing it" in details


def test_a_long_answer_keeps_to_twelve_lines_of_eighty_columns() -> None:
    long = "The platform reports an error for this listing that needs attention " * 3
    diagnosis = Diagnosis(
        flow="price_not_updated",
        verdict="waiting_for_report",
        summary=long,
        language="en",
        findings=[Finding(f"Check {n}", long, CheckStatus.PROBLEM) for n in range(6)],
        tables=[Table("Wide", ["a", "b", "c"], [["x" * 70, "y" * 70, "z" * 70]])],
        next_steps=[long, long],
        actions=[Action(ActionKind.TALK_TO_PERSON, "Talk to a person")],
    )
    reply = Reply(kind="diagnosis", language="en", text="x", diagnosis=diagnosis)
    lines = render_reply(reply).splitlines()
    assert len(lines) <= 12 and max(display_width(line) for line in lines) <= 80
    assert lines[-2:] == [
        "  [1] Talk to a person",
        "(answer with a number, or in your own words; 'more' for the details)",
    ]
    details = render_details(reply).splitlines()
    assert max(display_width(line) for line in details) <= 80
    assert sum("Check" in line for line in details) == 6


def test_a_wide_chinese_table_wraps_its_cells_to_eighty_columns() -> None:
    table = Table("记录", ["位置", "说明"], [["上传记录", "平台说明" * 30]])
    lines = render_table(table)
    assert max(display_width(line) for line in lines) <= 80
    assert len(lines) > 4  # the long cell wrapped onto more lines instead of overflowing


def test_chinese_wraps_between_characters_and_a_number_keeps_its_unit() -> None:
    text = (
        "整个过程请预留 1-2 天。账号所有者也可以在 Slack 里操作，例如“订单 112-0000001-0000001 没有同步”。"
        "保留 7 天。"
    )
    for width in range(40, 81):  # the console's 80 columns, less any indent
        lines = wrap(text, width, first="  - ", rest="    ")
        assert max(display_width(line) for line in lines) <= width
        assert flat("\n".join(line.strip() for line in lines)).removeprefix("- ") == text  # nothing lost
        for line in lines:
            body = line.strip()
            assert not body.startswith(("。", "，", "”", "天")), (width, lines)  # no orphaned closer or unit
            assert not body.endswith(("“", " 1-2", " 7")), (width, lines)  # nor a dangling opener or number


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


def test_a_long_explanation_keeps_its_steps_one_more_away() -> None:
    reply = Reply(
        kind="explain",
        language="zh",
        text="删除店铺数据只会删除软件里该店铺的订单、产品等数据，平台上的店铺数据不受影响。" * 3,
        title="如何删除店铺数据",
        steps=[f"第 {n} 步" for n in range(1, 6)],
        detail_request=DetailRequest(flow="delete_store_data", detail="store", prompt="请问是哪个店铺？"),
        choices=[Choice(name, name) for name in ("Amazon DE", "Amazon US", "Shopee MY")],
    )
    lines = render_reply(reply).splitlines()
    assert len(lines) <= 12 and "步骤：" not in lines
    assert "请问是哪个店铺？" in lines and lines[-1] == "（回复编号，或直接输入；输入“更多”查看详情）"
    assert render_details(reply).splitlines() == ["步骤：", *(f"  {n}. 第 {n} 步" for n in range(1, 6))]


def test_a_long_list_of_choices_fits_the_answer_and_says_how_many_more() -> None:
    choices = [
        Choice(f"DEMO-PRICE-{n}", f"DEMO-PRICE-{n} · Amazon US · {n}9.99 USD · saved today")
        for n in range(10)
    ]
    request = DetailRequest(
        flow="price_not_updated", detail="sku", prompt="Which SKU's price did you change?"
    )
    reply = Reply(
        kind="ask_detail", language="en", text=request.prompt, detail_request=request, choices=choices
    )
    lines = render_reply(reply).splitlines()
    assert len(lines) <= 12
    assert lines[2].startswith("  [1] DEMO-PRICE-0") and any(line.startswith("  … and ") for line in lines)
    assert len(reply_options(reply)) == 10  # the hidden ones still answer by their number
