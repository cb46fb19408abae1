"""`python app.py scheduler` as a user runs it: two processes on one database, one leads, Ctrl-C stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start_scheduler(database_url: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env["DATABASE_URL"] = database_url
    # A scheduler started from a terminal hears Ctrl-C. A test run started in the background
    # ignores SIGINT, and a child inherits an ignored signal (a handler is reset at exec), so the
    # scheduler is started with a handler here, as a terminal's child would be.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "scheduler"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def read_until_running(process: subprocess.Popen[str]) -> list[str]:
    assert process.stderr is not None
    lines: list[str] = []
    for line in process.stderr:
        lines.append(line.rstrip("\n"))
        if line.startswith("scheduler running"):
            break
    return lines


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_two_schedulers_on_one_database_one_leads_and_ctrl_c_stops_them(database_url: str) -> None:
    first = start_scheduler(database_url)
    try:
        first_lines = read_until_running(first)
        second = start_scheduler(database_url)
        try:
            second_lines = read_until_running(second)
        finally:
            second.send_signal(signal.SIGINT)
            _, second_rest = second.communicate(timeout=30)
    finally:
        first.send_signal(signal.SIGINT)
        _, first_rest = first.communicate(timeout=30)

    assert "scheduler running (this scheduler leads); Ctrl-C stops it" in first_lines
    assert any("another scheduler leads" in line for line in second_lines)
    assert any(line.startswith("order_sync: next run ") for line in first_lines)
    assert any(line.startswith("report_import: next run ") and "02:00" in line for line in first_lines)
    assert any("follow-ups are not scheduled" in line for line in first_lines)  # no Slack token here
    assert (first.returncode, second.returncode) == (0, 0)
    assert "scheduler stopped" in first_rest and "Traceback" not in first_rest + second_rest
