"""The glossary: one term per concept in both languages, and the words it gives the surfaces."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.slack.home import store_line
from bot.slack.progress import progress_line
from erp.models import Store
from erp.progress import StoreSyncProgress
from knowledge.glossary import GlossaryError, load_glossary, parse_glossary, term, word
from knowledge.loader import FLOW_IDS, load_knowledge

ROOT = Path(__file__).resolve().parent.parent
_LATIN = re.compile(r"[A-Za-z]{2,}")


def test_every_entry_has_both_languages_and_the_chinese_is_chinese() -> None:
    glossary = load_glossary()
    assert {"term", "listing_status", "sales_status", "upload_status", "image_verdict"} <= set(
        glossary.entries
    )
    for kind, entries in glossary.entries.items():
        for key, (en, zh) in entries.items():
            assert bool(en) == bool(zh), f"{kind}.{key}"
            leftover = [w for w in _LATIN.findall(zh) if w not in {"RGB", "SKU"}]
            assert not leftover, f"{kind}.{key}: {zh}"


def test_a_stored_value_becomes_the_sellers_word_and_an_unknown_one_is_shown_as_it_is() -> None:
    assert word("listing_status", "Active", "zh") == "在售"
    assert word("sales_status", "stopped", "zh") == "停售"
    assert word("upload_status", "failed", "en") == "Failed"
    assert word("platform_order_status", "READY_TO_SHIP", "zh") == "待发货"
    assert word("listing_status", "Brand-new status", "zh") == "Brand-new status"


def test_one_name_for_the_picture_system_everywhere() -> None:
    # 图片发布系统 is the FAQ's name: the glossary holds it, and no answer calls it anything else.
    # (Sellers' own example questions may say 图片刊登系统: the matcher must understand them.)
    assert term("picture_system", "zh") == "图片发布系统"
    code = [*ROOT.glob("handlers/*.py"), *ROOT.glob("bot/**/*.py")]
    assert not [path.name for path in code if "图片刊登系统" in path.read_text(encoding="utf-8")]
    kb = load_knowledge()
    for flow_id in FLOW_IDS:
        written = kb.flow(flow_id).text("zh")
        what_we_say = " ".join([written.title, written.explanation, *written.facts, *written.steps])
        assert "图片刊登系统" not in what_we_say, flow_id


def test_a_malformed_entry_is_named() -> None:
    with pytest.raises(GlossaryError, match="sales_status.normal needs exactly en and zh"):
        parse_glossary({"sales_status": {"normal": {"en": "normal"}}})


def test_a_failed_sync_and_an_expired_store_read_in_chinese_on_progress_and_home() -> None:
    failed = StoreSyncProgress(
        store="Amazon DE",
        platform="amazon",
        done=True,
        error="Amazon no longer accepts the authorization of store 'Amazon DE' (invalid_grant)",
        error_kind="authorization_expired",
    )
    assert progress_line(failed, "zh") == ":x: Amazon DE：失败：店铺授权已过期"
    store = Store(
        account_id=1,
        name="Amazon DE",
        platform="amazon",
        region="DE",
        auth_status="expired",
        last_order_sync_error="Amazon no longer accepts the authorization of store 'Amazon DE'",
    )
    line = store_line(store, "zh")
    assert "授权已过期：请在“平台授权”中重新授权该店铺" in line
    assert "上次订单同步：从未  :x: 店铺授权已过期" in line
    emoji = re.sub(r":[a-z_]+:", " ", line)  # Slack draws :warning: and :x: as pictures
    assert not [w for w in _LATIN.findall(emoji) if w not in {"Amazon", "DE", "amazon"}]
