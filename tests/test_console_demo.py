"""`python app.py console` on the embedded demo: one scripted conversation per flow, piped on stdin,
in a real process that seeds the demo into an empty database and starts its sandbox platforms."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.reading import in_order

APP = Path(__file__).resolve().parent.parent / "app.py"
WAIT = 90.0  # seconds a step may take before the test gives up (not a timing assertion)
CDN = re.compile(r"http://127\.0\.0\.1:\d+(?=/img/)")


def _env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "SELLERDESK_")) and key != "DATABASE_URL"
    }
    env.update(
        {"DATABASE_URL": database_url, "SELLERDESK_DATA_DIR": str(data_dir), "PYTHONIOENCODING": "utf-8"}
    )
    return env


class ConsoleProcess:
    """The console in its own process; lines go in through a pipe, output is collected as it comes."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(APP), "console"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(database_url, data_dir),
            cwd=APP.parent,
        )
        self._output = bytearray()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert isinstance(stream, io.BufferedReader)
        for chunk in iter(lambda: stream.read1(65536), b""):
            with self._changed:
                self._output += chunk
                self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return self._output.decode("utf-8", errors="replace")

    def send(self, *lines: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(line + "\n" for line in lines).encode())
        self.process.stdin.flush()

    def wait_for(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """Wait until the output matches `pattern` (the process answers line by line)."""
        deadline = time.monotonic() + WAIT
        with self._changed:
            while True:
                found = pattern.search(self._output.decode("utf-8", errors="replace"))
                if found is not None:
                    return found
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise AssertionError(
                        f"no {pattern.pattern!r} in:\n{self._output.decode(errors='replace')}"
                    )
                self._changed.wait(timeout=1)

    def finish(self, *lines: str) -> str:
        """Send the last lines, close stdin (end of input) and return everything the console said."""
        self.send(*lines)
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=WAIT) == 0, self.stderr
        self._reader.join(timeout=WAIT)
        return self.output

    @property
    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace") if self.process.poll() is not None else ""

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()


@pytest.fixture
def console(database_url: str, tmp_path: Path) -> Iterator[ConsoleProcess]:
    running = ConsoleProcess(database_url, tmp_path / "data")
    yield running
    running.close()


def _in_order(output: str, expected: Sequence[str]) -> None:
    in_order(output, expected)


def test_orders_not_synced_conversation(console: ConsoleProcess) -> None:
    out = console.finish(
        "Order 112-0000001-0000001 did not sync",
        "more",  # the details: every check and the sync table
        "Order 112-0000002-0000002 is not in my orders, it did not synchronize",
        "订单 112-0000003-0000003 没有同步",
        "Orders from Amazon DE did not sync",
        "1",  # sync again: still expired
        "orders of Amazon US are not syncing",
        "112-9999999-9999999",  # the bare order number answers the pending question
        "Shopee order 2611260ABCDEF1 did not sync",
    )
    _in_order(
        out,
        [
            'Order 112-0000001-0000001 is synced now: it is in Amazon US under "Pending".',
            "'more' for the details",
            "What I checked:",
            "Amazon DE  amazon    failed",
            'Order 112-0000002-0000002 was synced; it is in Amazon US under "Shipped"',
            'Search the order number under "All orders"',
            "订单 112-0000003-0000003 在平台（Amazon US）上存在",
            "人工客服会查明同步为何跳过了它",
            "→ 在 Slack 中，这会带着以上检查结果为人工客服建立工单。",
            "The sync failed for Amazon DE: the store's authorization has expired.",
            "Amazon DE: re-authorize it under Platform authorization",
            "[1] Sync again",
            "The sync failed for Amazon DE",
            "new orders: 0. If a specific order is still missing, send me its order number.",
            "Order 112-9999999-9999999 is not in the software and none of your stores' platforms know it",
            "Check the order number",
            "Order 2611260ABCDEF1 is in the software: Shopee MY",
        ],
    )


def test_image_not_displaying_conversation(console: ConsoleProcess) -> None:
    console.send("my product picture does not display", "DEMO-PUB-LOST")
    cdn = console.wait_for(CDN).group(0)
    out = console.finish(
        "more",
        f"The picture {cdn}/img/ok.jpg does not display",
        f"The picture {cdn}/img/split.jpg displays split",
        f"The picture {cdn}/img/page.html does not display",
        f"图片 {cdn}/img/missing.jpg 显示不了",
    )
    _in_order(
        out,
        [
            "Which picture? Send me its link",
            "DEMO-PUB-LOST · Amazon US",
            "2 pictures cannot be opened from here",
            "Pictures:",
            f"✗ {cdn}/img/missing.jpg — cannot be opened, HTTP 404",
            "The picture loads fine from here, so the problem is on your side of the network.",
            f"✓ {cdn}/img/ok.jpg: loads fine: JPEG 320x240 RGB",
            'The picture is damaged or cut off: that is the "split" display.',
            "Upload the original picture again",
            "The link does not point to a picture",
            "text/html",
            "这张图片从这里无法打开",
            "请重新添加图片",
        ],
    )


def test_publish_image_error_conversation(console: ConsoleProcess, tmp_path: Path) -> None:
    out = console.finish(
        "Publishing DEMO-PUB-CMYK says the picture is wrong",
        "1",  # convert to RGB
        "刊登 DEMO-PUB-LOST 失败，提示图片错误",
        "Publishing DEMO-PUB-FLAKY reports a wrong picture",
        "Publishing DEMO-PUB-OK reported a picture error",
    )
    _in_order(
        out,
        [
            "1 picture is not RGB (CMYK); the platform cannot parse it.",
            "[1] Convert to RGB: cmyk.jpg",
            "Here is the picture as an RGB JPEG (cmyk-rgb.jpg, was CMYK)",
            "Saved: ",
            "该商品的 2 张图片中有 1 张已丢失或无法打开",
            "商品编辑页面删除",
            "Shopee's interface looks unstable right now",
            "(12 failed publishes from 2 sellers in the last hour)",
            "resubmit it later",
            "The picture opens and is RGB, and the platform is not failing for many sellers",
        ],
    )
    converted = tmp_path / "data" / "console-files" / "cmyk-rgb.jpg"
    assert converted.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG


def test_delete_store_data_conversation(console: ConsoleProcess, tmp_path: Path) -> None:
    console.send(
        "How do I delete the data of store Shopee MY?",
        "1",
        "not the name",  # anything but the store's name cancels
        "1",
        "Shopee MY",  # typed name confirms
        "1",  # undo
        "怎么删除店铺数据",
        "2",
        # Bad input: each line still gets a friendly answer, and the chat goes on.
        "",
        "\U0001f600\U0001f600\U0001f64f",
        "x" * 40_000,
        "7",
    )
    assert console.process.stdin is not None
    console.process.stdin.write(bytes(range(1, 256)).replace(b"\n", b"").replace(b"\r", b"") + b"\n")
    out = console.finish("quit", "How do I delete the data of store Amazon US?")  # after quit: never read
    _in_order(
        out,
        [
            "Deleting the data of Shopee MY removes",
            "the store and its data on the platform are untouched",
            "your user name -> Platform authorization -> the Shopee icon -> the store -> More -> Delete",
            "[1] Delete the data of Shopee MY",
            "Type the store's name (Shopee MY) to confirm",
            "Cancelled: nothing was deleted.",
            "Type the store's name (Shopee MY) to confirm",
            "The data of Shopee MY is deleted from the software. You can undo this until",
            "[1] Undo: restore Shopee MY",
            "Shopee MY is back with all its data",
            "删除店铺数据",  # the flow's title (explained first, in Chinese)
            "告诉我是哪个店铺",  # the live check offered after the explanation
            "[2] Amazon US (amazon)",
            "删除 Amazon US 的数据只会从本软件中移除",
            # The empty line and the emoji: answered in the language the seller last wrote in.
            "我没有看到您的问题。请用您自己的话提问",  # Chinese sentences: no space between them
            "我没有看到您的问题",
            # "xxx…" is no English sentence: the conversation stays Chinese, and says what it does.
            "抱歉，这个问题我在这里帮不上忙",
            "[1] 联系人工客服",
            # "7" when that answer had one option.
            "请回复编号 1。",
        ],
    )
    assert "Traceback" not in out and "you>" not in out  # piped: no prompt noise
    assert "Deleting the data of Amazon US" not in out  # the line after quit was not answered
    assert len(list((tmp_path / "data" / "exports").glob("store-*.zip"))) == 1


def test_a_terminal_gets_a_welcome_naming_the_demo_stores(database_url: str, tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the console on a terminal
        os.execve(
            sys.executable, [sys.executable, str(APP), "console"], _env(database_url, tmp_path / "data")
        )
    seen = b""
    try:
        deadline = time.monotonic() + WAIT
        while b"you> " not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
        os.write(fd, b"quit\n")
        deadline = time.monotonic() + WAIT
        while "再见".encode() not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = seen.decode("utf-8", errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0
    _in_order(
        text,
        [
            "SellerDesk console",
            "Amazon DE (amazon, authorization expired), Amazon US (amazon), Shopee MY (shopee)",
            "Order 112-0000001-0000001 did not sync",
            "输入 quit 退出",
            "you> ",
            "Bye! 再见！",
        ],
    )
