"""`python app.py classify`: one JSON object per input line, as DESIGN.md section 3 says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
KEYS = ["question", "flow", "confidence", "alternatives", "entities", "act"]
ENTITY_KEYS = ["skus", "order_ids", "urls", "stores"]


def classify(stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    # No Slack, no database: classify must work on a bare machine with only the knowledge files.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env["PYTHONIOENCODING"] = "ascii"  # the output must be UTF-8 whatever the locale says
    return subprocess.run(
        [sys.executable, "app.py", "classify", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def records(completed: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in completed.stdout.decode("utf-8").splitlines()]


def test_one_object_per_line_with_the_contract_keys() -> None:
    questions = [
        "price not updated for AB-1234-BLK",
        "订单号114-1234567-7654321搜不到",
        "图片打不开 <https://img.example.com/p/HX-220-RED.jpg|主图>",
        "how do I reset my password",
    ]
    completed = classify("\n".join(questions).encode("utf-8") + b"\n")
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == b""
    out = records(completed)
    assert [record["question"] for record in out] == questions
    for record in out:
        assert list(record) == KEYS
        assert list(record["entities"]) == ENTITY_KEYS
        assert 0.0 <= record["confidence"] <= 1.0
        for alternative in record["alternatives"]:
            assert list(alternative) == ["flow", "confidence"]
    assert [record["flow"] for record in out] == [
        "price_not_updated",
        "orders_not_synced",
        "image_not_displaying",
        None,
    ]
    assert out[0]["entities"]["skus"] == ["AB-1234-BLK"]
    assert out[1]["entities"]["order_ids"] == ["114-1234567-7654321"]
    assert out[2]["entities"]["urls"] == ["https://img.example.com/p/HX-220-RED.jpg"]
    # Chinese is written as itself, not as \\u escapes.
    assert "订单号".encode() in completed.stdout


def test_known_skus_and_stores_from_the_command_line() -> None:
    completed = classify(
        b"amazon us store: price of hx-22o-red not updated\n",
        "--known-sku",
        "HX-220-RED",
        "--known-store",
        "Amazon US",
        "--known-store",
        "Shopee MY",
    )
    assert completed.returncode == 0, completed.stderr
    [record] = records(completed)
    assert record["entities"]["skus"] == ["HX-220-RED"]
    assert record["entities"]["stores"] == ["Amazon US"]


def test_bad_lines_each_get_an_answer() -> None:
    lines = [
        b"",
        b"\xff\xfe\x00\x01\x02\x03 not utf-8 \x80\x81",
        "😀😀😀".encode(),
        ("改了价格怎么没变 " * 10_000).encode(),  # ~100 KB on one line
        "price没更新 sku AB-1234-BLK 请check".encode(),
        b"\r",
    ]
    completed = classify(b"\n".join(lines) + b"\n")
    assert completed.returncode == 0, completed.stderr
    assert b"Traceback" not in completed.stderr
    out = records(completed)
    assert len(out) == len(lines)
    assert out[0] == {
        "question": "",
        "flow": None,
        "confidence": 0.0,
        "alternatives": [],
        "entities": {"skus": [], "order_ids": [], "urls": [], "stores": []},
        "act": None,
    }
    assert out[1]["flow"] is None
    assert "\ufffd" in out[1]["question"]
    assert out[2]["flow"] is None
    assert out[3]["flow"] == "price_not_updated"
    assert len(out[3]["question"]) == len(lines[3].decode())
    assert out[4]["flow"] == "price_not_updated"
    assert out[5]["question"] == ""


def test_answers_are_flushed_line_by_line() -> None:
    process = subprocess.Popen(
        [sys.executable, "app.py", "classify"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        # The second question is only written after the first answer arrived: a reader waiting
        # for each answer in turn would hang here if output were buffered.
        process.stdin.write("订单没同步\n".encode())
        process.stdin.flush()
        first = json.loads(process.stdout.readline())
        assert first["flow"] == "orders_not_synced"
        process.stdin.write(b"how to delete store data\n")
        process.stdin.flush()
        second = json.loads(process.stdout.readline())
        assert second["flow"] == "delete_store_data"
        process.stdin.close()
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        assert process.stderr is not None
        process.stderr.close()


def test_conversation_acts_in_both_languages() -> None:
    lines = {
        "i need a human please": "human",
        "转人工": "human",
        "人工客服": "human",
        "thanks": "thanks",
        "谢谢": "thanks",
        "hello": "greeting",
        "help": "help",
        "帮助": "help",
        "算了": "cancel",
        "start over": "cancel",
        "still not working": "not_resolved",
        "还是不行": "not_resolved",
        "my price change did not show for AB-1234-BLK": None,
    }
    completed = classify("\n".join(lines).encode("utf-8") + b"\n")
    assert completed.returncode == 0, completed.stderr
    out = records(completed)
    assert [record["act"] for record in out] == list(lines.values())
    for record in out[:-1]:
        assert record["flow"] is None and record["alternatives"] == []
    assert out[-1]["flow"] == "price_not_updated"


def test_a_person_asked_for_with_the_problem_keeps_the_flow() -> None:
    completed = classify("转人工 订单 112-0000001-0000001 没有同步\n".encode())
    [record] = records(completed)
    assert record["act"] == "human"
    assert record["flow"] == "orders_not_synced"
    assert record["entities"]["order_ids"] == ["112-0000001-0000001"]


def test_odd_input_gets_an_answer_with_an_act_field_never_a_traceback() -> None:
    import random

    noise = bytes(random.Random(8).randrange(256) for _ in range(100_000)).replace(b"\n", b" ")
    lines = [
        b"",
        noise,  # 100 KB of random bytes on one line
        b"\x00" * 500,
        "🙏🙏🙏".encode(),
        "谢谢🙏".encode(),
        "\x1b[31mERROR\x1b[0m 订单 sync failed ошибка 同步失败".encode(),
        "مرحبا، الطلبات لم تتم مزامنتها".encode(),
        ("图片" + "😀" * 30_000).encode(),
        b"\xed\xa0\x80 lone surrogate bytes",
    ]
    completed = classify(b"\n".join(lines) + b"\n")
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == b""
    out = records(completed)
    assert len(out) == len(lines)
    for record in out:
        assert list(record) == KEYS
        assert 0.0 <= record["confidence"] <= 1.0
        assert record["act"] in (None, "greeting", "thanks", "human", "help", "cancel", "not_resolved")
    assert out[1]["flow"] is None and out[1]["act"] is None
    assert out[2]["flow"] is None
    assert out[3]["flow"] is None and out[3]["act"] is None
    assert out[4]["act"] == "thanks"
    assert out[5]["flow"] == "orders_not_synced"
