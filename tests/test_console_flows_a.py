"""`python app.py console` on the embedded demo for the four SKU flows: one scripted conversation
per flow piped on stdin to a real process, which seeds the demo into an empty database and starts
its sandbox platforms. Each test asserts what the seller reads, in order."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.reading import in_order

APP = Path(__file__).resolve().parent.parent / "app.py"
# A safety net for a hung process, not a timing assertion.
PROCESS_LIMIT = 180.0


def _console(database_url: str, data_dir: Path, *lines: str) -> str:
    """Everything the console says to `lines` piped on stdin; the process must exit cleanly."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "SELLERDESK_")) and key != "DATABASE_URL"
    }
    env.update(
        {"DATABASE_URL": database_url, "SELLERDESK_DATA_DIR": str(data_dir), "PYTHONIOENCODING": "utf-8"}
    )
    done = subprocess.run(
        [sys.executable, str(APP), "console"],
        input="".join(line + "\n" for line in lines).encode(),
        capture_output=True,
        env=env,
        cwd=APP.parent,
        timeout=PROCESS_LIMIT,
        check=False,
    )
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0, stderr
    assert "Traceback" not in stderr
    return done.stdout.decode("utf-8", errors="replace")


def _in_order(output: str, expected: Sequence[str]) -> None:
    in_order(output, expected)


def test_price_not_updated_conversation(database_url: str, tmp_path: Path) -> None:
    out = _console(
        database_url,
        tmp_path / "data",
        "my price change does not show",
        "DEMO-PRICE-DRAFT",
        "The new price of DEMO-PRICE-PENDING is not showing",
        "为什么 DEMO-PRICE-REJECTED 的价格没有更新？",
        "I changed the price of DEMO-PRICE-WAIT, it still shows the old one",
        "1",  # tell me when the report lands
        "The price change of DEMO-PRICE-LIVE does not show in the system",
        "The price of DEMO-PRICE-STUCK still has not updated after two days",
    )
    _in_order(
        out,
        [
            # The SKU is asked for, with the seller's own recent price changes.
            "Which SKU's price did you change?",
            "DEMO-PRICE-DRAFT · Amazon US · 17.99 USD",
            "DEMO-PRICE-STUCK · Amazon US · 12.99 USD",
            "The new price 17.99 USD for DEMO-PRICE-DRAFT was saved in the software but never submitted",
            "Open the price change of DEMO-PRICE-DRAFT in the software and submit it",
            "The price change for DEMO-PRICE-PENDING was submitted",
            "(3 h ago) and is waiting for Amazon US's approval",
            "驳回了 DEMO-PRICE-REJECTED 的改价：「Price exceeds the maximum allowed for this category」",
            "按平台给出的原因调整价格后重新提交改价",
            "Amazon US approved 31.99 USD for DEMO-PRICE-WAIT 2 h ago but still sells at 34.99 USD",
            "approved prices can take 1-2 days to show",
            "✗ Live price on the platform: 34.99 USD: not the new price 31.99 yet",
            "[1] Tell me when the report lands",
            # The console has no thread to post into later, so it says when to ask again.
            "The next report import is at",
            "ask me again after that",
            "DEMO-PRICE-LIVE already sells at 36.99 USD on Amazon US",
            "✗ Latest listings report: generated",
            "Amazon US approved 12.99 USD for DEMO-PRICE-STUCK 2 days ago, but the listings report",
            "still shows 14.99 USD: customer service will check it with the platform.",
            "→ In Slack this opens a case for customer service",
        ],
    )


def test_upload_sku_missing_conversation(database_url: str, tmp_path: Path) -> None:
    out = _console(
        database_url,
        tmp_path / "data",
        "DEMO-UP-OK was uploaded but I can't find its upload record",
        "more",
        "DEMO-UP-FAILED 在产品上传页面没有记录",
        "I uploaded DEMO-UP-DELETED but there is no upload record",
        "DEMO-UP-OLD has no record on the upload page",
        "DEMO-UP-MISSING was uploaded but the upload page has no record of it",
    )
    _in_order(
        out,
        [
            'DEMO-UP-OK has an upload record in Amazon US with status "Uploaded"',
            "upload record  Amazon US  Uploaded",
            "DEMO-UP-FAILED 在 Amazon US 有上传记录，但状态是“上传失败”",
            "在上传状态筛选里选择“上传失败”即可看到",
            "DEMO-UP-DELETED was deleted from the product list of Amazon US",
            "(3 days ago)",
            "Restore the product or add it to the product list again",
            "The SKU DEMO-UP-OLD in Amazon US was changed to DEMO-UP-NEW",
            "✓ Upload records of DEMO-UP-NEW: Uploaded",
            "Search the upload page for DEMO-UP-NEW.",
            "DEMO-UP-MISSING is not in the product list of your stores",
            "add it to the product list first",
        ],
    )


def test_image_grab_conversation(database_url: str, tmp_path: Path) -> None:
    out = _console(
        database_url,
        tmp_path / "data",
        "When will the pictures of DEMO-IMG-NOPIC be grabbed?",
        "Will the images of DEMO-IMG-EDITED be captured?",
        "When are the product images of DEMO-IMG-SELLING captured?",
        "为什么 DEMO-IMG-STOPPED 的图片没有被抓取？",
        "Were the images of DEMO-IMG-DONE grabbed?",
        "When will the images of DEMO-IMG-FAIL be grabbed?",
        "more",
    )
    _in_order(
        out,
        [
            "DEMO-IMG-NOPIC will be grabbed in the next image grab at",
            "03:00 UTC",
            "rule (a) holds, uploaded and created, no picture yet",
            "DEMO-IMG-EDITED will be grabbed in the next image grab at",
            "rule (b) holds, modified through the picture publishing system",
            "(2 days ago)",
            "DEMO-IMG-SELLING will be grabbed in the next image grab at",
            "rule (c) holds, 3 orders in the last 30 days, sales status 'normal'",
            "DEMO-IMG-STOPPED 不会被夜间抓图选中",
            "最近 30 天有 2 个订单，但销售状态为“停售”",
            "可以把销售状态改为“正常”",
            "DEMO-IMG-DONE was grabbed",
            "its pictures are in the software",
            "The last image grab of DEMO-IMG-FAIL failed",
            "Delete the broken image on the product edit page and add it again",
            "/img/missing.jpg — cannot be opened, HTTP 404",
        ],
    )


def test_product_sku_missing_conversation(database_url: str, tmp_path: Path) -> None:
    out = _console(
        database_url,
        tmp_path / "data",
        # A fresh report (which any product question may request) brings DEMO-REP-NEW in: ask first.
        "Why is there no record of DEMO-REP-NEW on the product page?",
        "more",
        "The product page has no record of DEMO-REP-OK",
        "the product page has no record of my sku",
        "DEMO-REP-OMIT",
        "商品页面没有 DEMO-DE-1 的记录",
    )
    _in_order(
        out,
        [
            "DEMO-REP-NEW was missing from the report the product page showed",
            "the fresh listings report Amazon generated just now has it and is imported, so the product "
            "page shows it now.",
            "listings (imported just now)",
            "DEMO-REP-OK is in the latest listings report of Amazon US",
            "Which SKU is missing from the product page?",
            "DEMO-REP-OMIT · Amazon US",
            "Amazon's listings report for Amazon US does not include DEMO-REP-OMIT",
            "A fresh report requested just now omits it too.",
            "download the product (listings) report and the inventory report",
            "[1] Request a fresh report",
            "Amazon DE 最新的商品报告是5天前的，现在也无法获取新报告（店铺授权已过期）",
            "已转交人工客服处理",
            "请在“平台授权”中重新授权 Amazon DE",
            "→ 在 Slack 中，这会带着以上检查结果为人工客服建立工单。",
        ],
    )
