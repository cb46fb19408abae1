"""Evidence cards compared with committed reference renderings, with a tolerance.

Regenerate the references after an intended change of the card, then look at them:

    SELLERDESK_UPDATE_REFERENCES=1 .venv/bin/pytest tests/test_evidence_image.py
"""

from __future__ import annotations

import io
import logging
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from bot.render.evidence import (
    FontSet,
    default_fonts,
    find_fonts,
    packaged_cjk_font,
    render_evidence_card,
    wrap,
)
from handlers.diagnosis import CheckStatus, Diagnosis, Finding, ImageEvidence, Table

REFERENCES = Path(__file__).parent / "references"
WHEN = datetime(2026, 11, 26, 17, 5, tzinfo=UTC)
UPDATE = os.environ.get("SELLERDESK_UPDATE_REFERENCES") == "1"


def _thumbnail(colour: tuple[int, int, int], size: tuple[int, int] = (160, 120)) -> bytes:
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).ellipse(
        (size[0] // 4, size[1] // 6, size[0] * 3 // 4, size[1] * 5 // 6), fill="white"
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def orders_diagnosis() -> Diagnosis:
    return Diagnosis(
        flow="orders_not_synced",
        verdict="on_platform_not_synced",
        summary="Order 113-4455667-1234567 is on Amazon US but did not reach the ERP after a fresh sync; "
        "a person will look at it.",
        language="en",
        findings=[
            Finding(
                "Sync now for your 3 stores",
                "Amazon US: 1,240 orders checked, 3 new. Shopee MY: done, 312 new.",
                CheckStatus.OK,
            ),
            Finding("Search the order in all statuses", "No order 113-4455667-1234567 in any status",
                    CheckStatus.PROBLEM),
            Finding("Ask Amazon US for the order", "Found on the platform: Shipped, 2026-11-25 09:12 UTC",
                    CheckStatus.UNKNOWN),
        ],
        tables=[
            Table(
                "Sync results per store",
                ["Store", "Platform", "Pages", "Fetched", "New", "Result"],
                [
                    ["Amazon US", "amazon", "13", "1,240", "3", "done"],
                    ["Shopee MY", "shopee", "4", "312", "312", "done"],
                    ["Amazon DE", "amazon", "0", "0", "0",
                     "authorization expired: reauthorize the store under Platform authorization, "
                     "then sync again"],
                ],
            )
        ],
        next_steps=["Customer service checks why the order was skipped.", "You will get an answer here."],
        escalate=True,
        escalate_reason="On the platform but not synced after a fresh sync.",
        store="Amazon US",
        order_id="113-4455667-1234567",
    )  # fmt: skip


def publish_diagnosis() -> Diagnosis:
    return Diagnosis(
        flow="publish_image_error",
        verdict="not_rgb",
        summary="商品 SKU-RED-01 的第 2 张图片是 CMYK 颜色模式，平台无法解析；机器人已经生成了 RGB 版本，"
        "下载后在商品编辑页删除原图并重新上传即可，其余图片都正常，无需改动。",
        language="zh",
        findings=[
            Finding("检查商品的全部 3 张图片", "2 张可以打开，1 张是 CMYK（不是 RGB），1 张无法访问",
                    CheckStatus.PROBLEM),
            Finding("同一平台最近一小时的发布失败", "只有 1 次失败，平台接口正常", CheckStatus.OK),
        ],
        tables=[
            Table(
                "商品的图片",
                ["图片", "结论", "说明"],
                [
                    ["main-front-view-1200x1200.jpg", "正常", "JPEG RGB 1200x1200"],
                    ["side.jpg", "不是 RGB", "CMYK：平台无法解析，请转换为 RGB 后重新上传"],
                ],
            )
        ],
        images=[
            ImageEvidence(
                url="https://img.example.com/products/SKU-RED-01/main-front-view-1200x1200.jpg",
                verdict="ok", http_status=200, content_type="image/jpeg", format="JPEG", mode="RGB",
                width=1200, height=1200, bytes=182331, thumbnail_png=_thumbnail((200, 40, 40)),
            ),
            ImageEvidence(
                url="https://img.example.com/products/SKU-RED-01/side.jpg",
                verdict="not_rgb", http_status=200, content_type="image/jpeg", format="JPEG", mode="CMYK",
                width=1000, height=1000, bytes=250112, detail="colour mode CMYK, not RGB: convert to RGB",
                warnings=["ICC profile 'Test press CMYK', not sRGB: colours may shift unless converted"],
                thumbnail_png=_thumbnail((0, 160, 200), (90, 160)),
            ),
            ImageEvidence(
                url="https://img.example.com/products/SKU-RED-01/detail.jpg",
                verdict="unreachable", http_status=404, detail="HTTP 404 Not Found",
            ),
        ],
        next_steps=[
            "点击“转换为 RGB”，下载转换后的图片。",
            "在商品编辑页删除原图，上传转换后的图片，然后重新发布。",
        ],
        store="Shopee MY",
        sku="SKU-RED-01",
    )  # fmt: skip


def _open(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel (0-255), as Pillow's own tests compare renderings."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def strongly_changed_pixels(a: Image.Image, b: Image.Image, threshold: int = 64) -> int:
    """Pixels whose brightness differs by more than `threshold`: a changed word, not anti-aliasing."""
    histogram = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L").histogram()
    return sum(histogram[threshold + 1 :])


def assert_image_similar(
    actual: Image.Image, name: str, tolerance: float = 1.0, changed_fraction: float = 0.0001
) -> None:
    """Compare with a committed reference, tolerating rasteriser noise but not changed content.

    The mean difference alone (Pillow's own helper) would let one changed word through on a tall
    card, so strongly changed pixels are also limited to a tiny fraction of the card.
    """
    reference_path = REFERENCES / name
    if UPDATE:
        REFERENCES.mkdir(exist_ok=True)
        actual.save(reference_path, optimize=True)
    assert reference_path.exists(), f"no reference {name}: run with SELLERDESK_UPDATE_REFERENCES=1"
    expected = Image.open(reference_path)
    assert actual.size == expected.size, f"{name}: size {actual.size} != reference {expected.size}"
    difference = mean_difference(actual, expected)
    assert difference <= tolerance, f"{name}: mean pixel difference {difference:.2f} > {tolerance}"
    changed = strongly_changed_pixels(actual, expected)
    allowed = int(actual.width * actual.height * changed_fraction)
    assert changed <= allowed, f"{name}: {changed} pixels changed strongly (at most {allowed})"


def test_the_comparison_notices_a_changed_word(fonts: FontSet) -> None:
    original = publish_diagnosis()
    changed = publish_diagnosis()
    changed.verdict = "all_fine"
    kwargs = {"account": "A", "seller": "B", "when": WHEN}
    a = _open(render_evidence_card(original, **kwargs))  # type: ignore[arg-type]
    b = _open(render_evidence_card(changed, **kwargs))  # type: ignore[arg-type]
    assert a.size == b.size
    assert mean_difference(a, b) < 1.0  # the mean alone would call them the same
    assert strongly_changed_pixels(a, b) > a.width * a.height * 0.0001


@pytest.fixture(scope="module")
def fonts() -> FontSet:
    fonts = default_fonts()
    assert fonts.cjk and fonts.source == packaged_cjk_font(), "the project's CJK font is not installed"
    return fonts


def test_english_card_matches_the_reference(fonts: FontSet) -> None:
    png = render_evidence_card(
        orders_diagnosis(),
        account="Red Lantern Trading",
        seller="@mei",
        when=WHEN,
        question="my order 113-4455667-1234567 did not sync",
        title="Orders did not synchronize",
    )
    card = _open(png)
    assert card.format == "PNG" and card.mode == "RGB" and card.width == 1000
    assert_image_similar(card, "evidence_orders_en.png")


def test_chinese_card_with_thumbnails_matches_the_reference(fonts: FontSet) -> None:
    png = render_evidence_card(
        publish_diagnosis(),
        account="红灯笼贸易",
        seller="@mei",
        when=WHEN.astimezone(timezone(timedelta(hours=8), "CST")),
        question="发布商品时提示图片错误，怎么办？",
        title="发布时提示图片错误",
    )
    card = _open(png)
    assert_image_similar(card, "evidence_publish_zh.png")


def test_minimal_card_matches_the_reference(fonts: FontSet) -> None:
    diagnosis = Diagnosis(flow="delete_store_data", verdict="explained", summary="Nothing to check.")
    card = _open(render_evidence_card(diagnosis, account="A", seller="B", when=WHEN))
    assert card.width == 1000 and card.height < 400
    assert_image_similar(card, "evidence_minimal_en.png")


def _glyph(fonts: FontSet, character: str) -> bytes:
    canvas = Image.new("L", (48, 48))
    ImageDraw.Draw(canvas).text((8, 8), character, font=fonts.body, fill=255)
    return canvas.tobytes()


def test_chinese_glyphs_are_real_not_tofu(fonts: FontSet) -> None:
    diagnosis = publish_diagnosis()
    texts = [diagnosis.summary, *(f.check + f.result for f in diagnosis.findings), *diagnosis.next_steps]
    characters = {c for text in texts for c in text if "\u4e00" <= c <= "\u9fff"}
    assert len(characters) > 40
    notdef = _glyph(fonts, "\U000f0000")  # private use: no font has it, so this is the empty box
    assert _glyph(fonts, "国") != notdef
    tofu = [c for c in characters if _glyph(fonts, c) == notdef]
    assert tofu == []


def test_the_cjk_font_changes_the_chinese_rendering(fonts: FontSet) -> None:
    # With Pillow's Latin-only font the same card draws boxes: it must look clearly different.
    kwargs = {"account": "红灯笼贸易", "seller": "@mei", "when": WHEN}
    with_cjk = _open(render_evidence_card(publish_diagnosis(), **kwargs, fonts=fonts))  # type: ignore[arg-type]
    fallback = _open(render_evidence_card(publish_diagnosis(), **kwargs, fonts=FontSet.pillow_default()))  # type: ignore[arg-type]
    height = min(with_cjk.height, fallback.height)
    box = (0, 0, 1000, height)
    assert mean_difference(with_cjk.crop(box), fallback.crop(box)) > 3
    # The summary line under the verdict badge has ink: Chinese was drawn, not left blank.
    summary_band = with_cjk.crop((32, 200, 968, 240)).convert("L")
    assert ImageStat.Stat(summary_band).extrema[0][0] < 100


def test_font_fallbacks_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.render.evidence"):
        fallback = find_fonts(["/nonexistent/font.otf"])
    assert fallback.source == "Pillow default" and not fallback.cjk
    assert "no CJK font found" in caplog.text
    caplog.clear()
    packaged = packaged_cjk_font()
    assert packaged is not None
    with caplog.at_level(logging.WARNING, logger="bot.render.evidence"):
        found = find_fonts(["/nonexistent/font.otf", packaged])
    assert found.cjk and caplog.text == ""


def test_rendering_is_deterministic_and_survives_bad_thumbnails(fonts: FontSet) -> None:
    diagnosis = publish_diagnosis()
    broken = ImageEvidence(url="https://x.example/a.jpg", verdict="damaged", thumbnail_png=b"\x89PNG broken")
    diagnosis.images.append(broken)
    first = render_evidence_card(diagnosis, account="A", seller="B", when=WHEN)
    second = render_evidence_card(diagnosis, account="A", seller="B", when=WHEN)
    assert first == second


def test_big_diagnoses_grow_the_card_instead_of_cutting_it(fonts: FontSet) -> None:
    diagnosis = orders_diagnosis()
    rows = [[f"Store {i}", "amazon", str(i), "10", "1", "done " * 30] for i in range(60)]
    diagnosis.tables.append(
        Table("Many stores", ["Store", "Platform", "Pages", "Fetched", "New", "Result"], rows)
    )
    small = _open(render_evidence_card(orders_diagnosis(), account="A", seller="B", when=WHEN))
    big = _open(render_evidence_card(diagnosis, account="A", seller="B", when=WHEN))
    assert big.height > small.height + 60 * 20


def test_wrap_breaks_chinese_between_characters_and_latin_at_spaces(fonts: FontSet) -> None:
    font = fonts.body
    chinese = "机器人已经生成了 RGB 版本，下载后在商品编辑页删除原图并重新上传即可，其余图片都正常。"
    lines = wrap(chinese, font, 200)
    assert len(lines) > 2
    assert "".join(lines).replace(" ", "") == chinese.replace(" ", "")
    assert all(font.getlength(line) <= 200 + font.getlength("，") for line in lines)
    assert not any(line.startswith(("，", "。")) for line in lines)
    english = wrap("the quick brown fox jumps over the lazy dog " * 3, font, 200)
    assert all(not line.startswith(" ") and not line.endswith(" ") for line in english)
    assert " ".join(english).split() == ("the quick brown fox jumps over the lazy dog " * 3).split()
    url = "https://img.example.com/" + "x" * 200 + ".jpg"
    assert "".join(wrap(url, font, 200)) == url


def test_hostile_sizes_are_cut_visibly_not_crashed(fonts: FontSet) -> None:
    diagnosis = Diagnosis(
        flow="image_not_displaying",
        verdict="unreachable",
        summary="x" * 40_000,
        findings=[Finding("長" * 5000, "word " * 5000, CheckStatus.UNKNOWN)],
        tables=[
            Table("No columns", [], []),
            Table("Ragged", ["a"], [["1", "2", "3"], []]),
            Table("Long", ["n"], [[str(i)] for i in range(1000)]),
        ],
    )
    card = _open(render_evidence_card(diagnosis, account="A", seller="B", when=WHEN))
    assert card.width == 1000
    assert card.height < 12_000  # 1,000 rows and 50,000 characters would be far taller uncut
