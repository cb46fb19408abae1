"""Every demo scenario, asked in English and in Chinese at the console, read as a seller reads it.

The console session runs in this process on the embedded demo (seeded into an empty database,
its sandbox platforms and picture host started), through the same conversation code Slack uses.
Each answer must be short (12 lines of 80 columns, no sentence twice) and a Chinese answer must
hold no English words besides the allowed kinds: SKUs, store and platform names, ids, URLs,
units and the picture formats the seller's tools name (RGB, CMYK, JPEG). The platform's own
words (a rejection reason) are quoted in 「」 as the platform wrote them.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app import Components
from bot.cli import console
from bot.render.blocks import render_details as render_slack_details
from bot.render.blocks import render_reply as render_slack
from bot.render.brief import display_width
from bot.settings import Settings
from erp.demo import DEMO_SCENARIOS, question_zh, scenario_text
from tests.reading import flat

MAX_LINES = 12
WIDTH = 80
# Words a Chinese answer may hold: units, formats and the names the seller's screens use.
ALLOWED = {
    "amazon",
    "shopee",
    "us",
    "my",
    "de",
    "sg",
    "usd",
    "myr",
    "eur",
    "utc",
    "sku",
    "rgb",
    "cmyk",
    "jpeg",
    "jpg",
    "png",
    "http",
    "kb",
    "mb",
    "px",
    "slack",
}
_URL = re.compile(r"https?://\S+")
_QUOTED = re.compile(r"「[^」]*」")  # the platform's own words
_CODE = re.compile(r"\b[A-Z0-9]+(?:-[A-Z0-9]+)+\b|\b(?=[A-Z]*\d)[A-Z0-9]{6,}\b")  # SKUs and ids
_FILE = re.compile(r"\b[\w.-]+\.(?:jpe?g|png|html|zip)\b|\b[a-z]+/[a-z0-9.+-]+\b")  # names, MIME types
_WORD = re.compile(r"[A-Za-z]{2,}")
_SENTENCE = re.compile(r"(?:[^。！？!?\n.]|\.(?!\s|$))+")  # a "." inside 36.99 or a URL ends none
_ITEM = re.compile(r"\n\s*(?=[✓✗?!→\[(（])")


def english_words(text: str) -> list[str]:
    """The English words of `text` that are none of the allowed kinds."""
    for pattern in (_URL, _QUOTED, _CODE, _FILE):
        text = pattern.sub(" ", text)
    return [word for word in _WORD.findall(text) if word.casefold() not in ALLOWED]


def repeated_sentences(text: str) -> list[str]:
    seen: set[str] = set()
    repeated = []
    # Each check, step and option starts a sentence; a wrapped line continues one.
    text = flat(_ITEM.sub("\n。", _URL.sub(" ", text)))
    for raw in _SENTENCE.findall(text):
        sentence = " ".join(raw.split()).strip(" ，,;；:：→-()（）[]")
        if display_width(sentence) < 16:
            continue  # "[1] 重新同步" and other labels may well come back
        if sentence in seen:
            repeated.append(sentence)
        seen.add(sentence)
    return repeated


@pytest.fixture
def demo(database_url: str, tmp_path: Path) -> Iterator[tuple[Components, Any, str]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "SELLERDESK_"))}
    env.update({"DATABASE_URL": database_url, "SELLERDESK_DATA_DIR": str(tmp_path / "data")})
    components = Components(Settings.from_env(env))
    with console._demo_platforms(components) as info:
        cdn = next(
            (found.group(0) for example in info["examples"] for found in [_URL.search(example)] if found),
            "",
        )
        speaker = console._resolve_speaker(components, "demo", None)
        yield components, speaker, re.sub(r"/img/.*$", "", cdn)
    components.engine.dispose()


def _slack_texts(reply: Any) -> str:
    """What a seller reads of the reply in Slack: the answer's and its thread's texts (button
    values and emoji codes are not read)."""
    texts = []
    for message in [*render_slack(reply), *render_slack_details(reply)]:
        for block in message.blocks:
            if block["type"] in ("section", "header"):
                texts.append(block["text"]["text"])
            elif block["type"] == "context":
                texts += [element.get("text", "") for element in block["elements"]]
            elif block["type"] == "actions":
                texts += [e["text"]["text"] for e in block["elements"] if "text" in e]
    text = "\n".join(texts).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r":[a-z_]+:", " ", text)


def _ask(components: Components, speaker: Any, user: str, *lines: str) -> list[str]:
    """What the console prints for each line, as a seller piping questions would read it."""
    return _converse(components, speaker, user, *lines)[0]


def _converse(components: Components, speaker: Any, user: str, *lines: str) -> tuple[list[str], Any]:
    """The console's blocks for each line, and the last reply (to render for Slack too)."""
    out = io.StringIO()
    session = console.ConsoleSession(
        components, replace(speaker, user_id=user), io.StringIO(), out, interactive=False
    )
    blocks = []
    for line in lines:
        out.seek(0)
        out.truncate()
        session.answer(line)
        blocks.append(out.getvalue().rstrip("\n"))
    return blocks, session.last


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_scenario_gets_a_short_answer_in_the_sellers_language(
    demo: tuple[Components, Any, str], language: str
) -> None:
    components, speaker, cdn = demo
    problems: list[str] = []
    for index, scenario in enumerate(DEMO_SCENARIOS):
        question = scenario_text(question_zh(scenario) if language == "zh" else scenario.question, cdn)
        (answer, details), reply = _converse(
            components, speaker, f"demo-{language}-{index}", question, "更多"
        )
        lines = answer.splitlines()
        where = f"{scenario.flow}/{scenario.verdict} [{language}] {question!r}"
        if len(lines) > MAX_LINES:
            problems.append(f"{where}: {len(lines)} lines\n{answer}")
        problems += [
            f"{where}: {display_width(line)} columns: {line}"
            for line in lines + details.splitlines()
            if display_width(line) > WIDTH
        ]
        if repeated := repeated_sentences(answer):
            problems.append(f"{where}: said twice: {repeated}")
        if language == "zh":
            for text, part in ((answer, "answer"), (details, "details"), (_slack_texts(reply), "Slack")):
                if words := english_words(text):
                    problems.append(f"{where}: English in the {part}: {words}\n{text}")
    assert not problems, "\n\n".join(problems)


def test_the_language_check_itself_tells_english_from_allowed_names() -> None:
    assert english_words("订单 112-0000001-0000001 在 Amazon US 的“待处理”中。") == []
    assert english_words("DEMO-PRICE-LIVE 前台已是 36.99 USD（2026-12-01 18:47 UTC）") == []
    assert english_words("平台原因：「Price exceeds the maximum」 http://127.0.0.1:80/img/cmyk.jpg") == []
    assert english_words("状态 Active，结果 failed") == ["Active", "failed"]
    assert repeated_sentences("价格还没有同步到软件。价格还没有同步到软件。") == ["价格还没有同步到软件"]


def test_a_publishing_question_while_a_picture_is_asked_for_goes_to_the_publish_flow(
    demo: tuple[Components, Any, str],
) -> None:
    # The pending "which picture?" must not swallow a sentence that is surely another flow's,
    # even though it names a SKU whose pictures would answer it.
    components, speaker, _ = demo
    asked, answer = map(
        flat,
        _ask(
            components,
            speaker,
            "demo-route",
            "my product picture does not display",
            "publsh fail pic DEMO-PUB-CMYK",
        ),
    )
    assert "Which picture?" in asked
    assert answer.startswith("1 picture is not RGB (CMYK); the platform cannot parse it.")
    assert "your side of the network" not in answer


def test_a_cmyk_picture_that_does_not_display_is_not_blamed_on_the_network(
    demo: tuple[Components, Any, str],
) -> None:
    components, speaker, cdn = demo
    english, chinese = (
        flat(_ask(components, speaker, f"demo-cmyk-{n}", question)[0])
        for n, question in enumerate(
            [f"The picture {cdn}/img/cmyk.jpg does not display", f"图片 {cdn}/img/cmyk.jpg 显示不出来"]
        )
    )
    assert english.startswith("The picture loads from here but is CMYK, not RGB")
    assert "[1] Convert to RGB: cmyk.jpg" in english and "your side of the network" not in english
    assert chinese.startswith("这张图片从这里可以加载，但颜色模式是 CMYK，不是 RGB")
    assert "[1] 转换为 RGB：cmyk.jpg" in chinese


def test_after_a_fresh_report_the_price_and_product_answers_stay_right(
    demo: tuple[Components, Any, str],
) -> None:
    # A product-page question imports a fresh report: the answers after it must agree with it.
    components, speaker, _ = demo
    new, again, wait, live = map(
        flat,
        _ask(
            components,
            speaker,
            "demo-fresh",
            "Why is there no record of DEMO-REP-NEW on the product page?",
            "The product page has no record of DEMO-REP-NEW",
            "I changed the price of DEMO-PRICE-WAIT, it still shows the old one",
            "The price change of DEMO-PRICE-LIVE does not show in the system",
        ),
    )
    assert "so the product page shows it now" in new and "next import" not in new
    assert again.startswith("DEMO-REP-NEW is in the latest listings report of Amazon US")
    # Approved 2 hours ago: the FAQ's 1-2 days, not a case for a person.
    assert "approved prices can take 1-2 days to show" in wait
    assert "customer service" not in wait and "person" not in wait.split("[1]")[0]
    assert live.startswith("DEMO-PRICE-LIVE is updated: the listings report generated")
    assert "instead of" not in live


def test_an_order_not_found_names_the_stores_searched(demo: tuple[Components, Any, str]) -> None:
    components, speaker, _ = demo
    (answer,) = map(flat, _ask(components, speaker, "demo-order", "order 113-4567890-1234567 did not sync"))
    assert answer.startswith(
        "Order 113-4567890-1234567 is not found in Amazon US, Shopee MY (searched just now); Amazon DE"
    )
    assert "could not be searched because the store's authorization has expired" in answer
    assert "should come in" not in answer


def test_a_chinese_question_while_a_sku_is_asked_for_is_not_taken_for_a_sku(
    demo: tuple[Components, Any, str],
) -> None:
    components, speaker, _ = demo
    asked, answer = _ask(components, speaker, "demo-route-zh", "价格没更新", "图片显示不出来")
    assert "请问您修改的是哪个 SKU 的价格？" in flat(asked) and "1-2 天" in asked
    assert flat(answer).startswith("请问是哪张图片？")
    assert "没有找到 SKU 图片显示不出来" not in answer
