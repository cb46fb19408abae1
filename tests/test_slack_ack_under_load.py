"""Acks never wait on a writer: signed commands and events keep their 3 seconds during a big import.

The report import runs as its own process (`app.py report import`, as the scheduler or an admin
runs it) over the same database as the real `serve` app, while several clients send commands and
messages signed as Slack signs them. On SQLite the import holds the database's write lock for
long stretches; the acknowledgements must neither wait for it nor turn it into a 500.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlmodel import select

from erp.models import PlatformReport
from tests.fake_slack import RunningBot
from tests.test_report_parse import LISTINGS, LISTINGS_COLUMNS, listings_row

ROOT = Path(__file__).resolve().parent.parent
ROWS = 400_000


def _write_report(path: Path, rows: int) -> None:
    """A listings report of `rows` rows shaped like Amazon's (one real row, SKUs numbered)."""
    template = "\t".join(listings_row(*LISTINGS[0])).replace(LISTINGS[0][1], "{sku}")
    with path.open("w", encoding="utf-8") as handle:
        handle.write("\t".join(LISTINGS_COLUMNS) + "\n")
        batch: list[str] = []
        for index in range(rows):
            batch.append(template.replace("{sku}", f"LOAD-{index:07d}"))
            if len(batch) == 10_000:
                handle.write("\n".join(batch) + "\n")
                batch.clear()
        handle.write("\n".join(batch) + "\n" if batch else "")


def test_every_ack_is_quick_and_no_500_while_a_large_import_runs(
    slack_bot: RunningBot, tmp_path: Path
) -> None:
    report = tmp_path / "listings.tsv"
    _write_report(report, ROWS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SELLERDESK_"))}
    env["DATABASE_URL"] = slack_bot.components.settings.database_url
    importer = subprocess.Popen(
        [
            sys.executable,
            "app.py",
            "report",
            "import",
            str(report),
            "--store",
            "Amazon US",
            "--kind",
            "listings",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acks: list[tuple[float, int]] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        sent = 0
        while importer.poll() is None or sent < 3:
            started = time.perf_counter()
            try:
                if sent % 2:
                    response = slack_bot.send.message("help", user="U1", channel=f"D{number}")
                else:
                    response = slack_bot.send.command(
                        "/check-sku", "DEMO-UP-FAILED", user="U2", channel=f"C{number}"
                    )
                status = response.status_code
            except httpx.HTTPError:  # no answer within the client's 10 s: Slack gave up long before
                status = 0
            with lock:
                acks.append((time.perf_counter() - started, status))
            sent += 1
            time.sleep(0.05)

    clients = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in clients:
        thread.start()
    out, err = importer.communicate(timeout=600)
    for thread in clients:
        thread.join(timeout=60)
    assert importer.returncode == 0, err
    assert f"imported {ROWS} rows" in out
    statuses = {status for _, status in acks}
    slowest = max(elapsed for elapsed, _ in acks)
    assert len(acks) >= 30, len(acks)  # the requests really overlapped the import
    assert statuses == {200}, statuses
    assert slowest < 3.0, f"slowest ack {slowest:.2f} s of {len(acks)}"
    with slack_bot.session() as session:
        stored = session.exec(
            select(PlatformReport).where(PlatformReport.store_id == slack_bot.world.us_store_id)
        )
        assert [r.row_count for r in stored if r.source == "file"] == [ROWS]


def test_linking_while_a_writer_holds_sqlite_answers_at_once_and_keeps_the_code(
    slack_bot: RunningBot,
) -> None:
    import sqlite3

    import pytest

    from erp.accounts import create_link_code
    from erp.models import Account, SlackIdentity

    url = slack_bot.components.settings.database_url
    if not url.startswith("sqlite"):
        pytest.skip("PostgreSQL writers do not lock the link tables")
    with slack_bot.session() as session:
        code = create_link_code(session, account=session.get(Account, slack_bot.world.demo_id), role="member")
    writer = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process's long write, as an import holds it
    try:
        started = time.perf_counter()
        busy = slack_bot.send.command("/sellerdesk", f"link {code}", user="UNEW")
        elapsed = time.perf_counter() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert busy.status_code == 200 and elapsed < 2.0, elapsed
    assert "try `/sellerdesk link` again" in busy.text
    linked = slack_bot.send.command("/sellerdesk", f"link {code}", user="UNEW")
    assert "Linked" in linked.text  # the code was not used up by the attempt that had to give up
    with slack_bot.session() as session:
        assert session.exec(select(SlackIdentity).where(SlackIdentity.user_id == "UNEW")).one()
