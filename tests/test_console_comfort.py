"""The console as a person uses it: line editing and history on a terminal, `help`, `more`,
`quit`, a reader that stops early (`console | head`), and a restart that starts afresh."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.test_console import APP, run_console
from tests.test_console_demo import _env

WAIT = 90.0


def _read_until(fd: int, marker: bytes, seen: bytes, count: int = 1) -> bytes:
    deadline = time.monotonic() + WAIT
    while seen.count(marker) < count and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_a_terminal_has_history_the_up_arrow_repeats_the_last_line(database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the console on a terminal
        os.execve(sys.executable, [sys.executable, str(APP), "console"], _env(database_url, data))
    try:
        seen = _read_until(fd, b"you> ", b"")
        os.write(fd, b"thanks\n")
        seen = _read_until(fd, b"you> ", seen, 2)
        os.write(fd, b"\x1b[A\n")  # arrow up, enter: the line before, again
        seen = _read_until(fd, b"you> ", seen, 3)
        os.write(fd, b"quit\n")
        seen = _read_until(fd, "再见".encode(), seen)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = seen.decode("utf-8", errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0
    assert text.count("You're welcome") == 2, text
    assert "[A" not in text  # the arrow was editing, not text sent to the bot
    history = (data / "console-history").read_text(encoding="utf-8").splitlines()
    assert history[-2:] == ["thanks", "quit"]  # kept for the next run (a repeat is kept once)


def test_help_more_and_quit_when_piped(database_url: str, tmp_path: Path) -> None:
    done = run_console(database_url, "help\nmore\n帮助\nquit\nhelp\n".encode(), tmp_path)
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode()
    assert "I can check:" in out and "'more' shows the last answer's details" in out
    assert "more 查看上一条回答的详情" in out  # help in Chinese
    assert out.count("I can check:") == 1  # nothing after quit was answered
    assert "you>" not in out and "Traceback" not in out


def test_a_reader_that_stops_early_ends_the_console_quietly(database_url: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, str(APP), "console"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(database_url, tmp_path / "data"),
        cwd=APP.parent,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    process.stdin.write(b"how do I delete a store's data?\n" * 40)
    process.stdin.close()
    assert process.stdout.readline()  # `| head -1`: one line read, then the reader is gone
    process.stdout.close()
    assert process.wait(timeout=WAIT) == 0
    errors = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors


def test_a_restarted_console_does_not_revive_the_old_question(database_url: str, tmp_path: Path) -> None:
    first = run_console(database_url, b"my price change didnt show\n", tmp_path)
    assert first.returncode == 0 and "Which SKU" in first.stdout.decode("utf-8")
    second = run_console(database_url, b"DEMO-PRICE-WAIT\n", tmp_path)
    out = second.stdout.decode("utf-8")
    assert second.returncode == 0, second.stderr.decode()
    # Not the old price question's answer: the bot asks what to check about the SKU.
    assert "talk to a person" in out and "approved" not in out
