"""Report imports that meet bad values, huge lines, NUL bytes, killed processes and older reports,
on the real database (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import app
from erp.jobs.report_import import (
    ReportImportError,
    fail_abandoned_imports,
    import_report_file,
    import_report_stream,
    latest_report,
)
from erp.jobs.report_parse import MAX_LINE_BYTES, ReportFormatError, ReportParser
from erp.models import AuditLog, PlatformReport, ReportRow, Store
from handlers.sku_lookup import latest_done_report
from tests.test_report_import import APP, rows_of, sessions, store  # noqa: F401
from tests.test_report_parse import LISTINGS, listings_bytes, listings_text

HEADER = "seller-sku\titem-name\tprice\tquantity\n"


def report(*rows: str) -> bytes:
    return (HEADER + "".join(row + "\n" for row in rows)).encode()


# -- bad values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "problem"),
    [
        ("²", "row 3, column quantity: '²' is not a number"),
        ("1" * 30, f"row 3, column quantity: '{'1' * 30}' is too large to be a quantity"),
        ("9999999999", "row 3, column quantity: '9999999999' is too large to be a quantity"),
        ("lots", "row 3, column quantity: 'lots' is not a number"),
        ("nan", "row 3, column quantity: 'nan' is not a number"),
    ],
)
def test_a_bad_quantity_leaves_its_row_out_with_the_reason(
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
    quantity: str,
    problem: str,
) -> None:
    data = report("OK-1\tMug\t9.99\t4", f"BAD-1\tCup\t5.00\t{quantity}", "OK-2\tJar\t3.50\t")

    result = import_report_stream(
        sessions, store.id or 0, "listings", [data], source="file", actor="test:ann"
    )

    assert (result.rows, result.bad_values, result.problems) == (2, 1, (problem,))
    with sessions() as session:
        assert set(rows_of(session, result.report_id)) == {"OK-1", "OK-2"}
        report_row = session.get(PlatformReport, result.report_id)
        assert report_row is not None and (report_row.status, report_row.row_count) == ("done", 2)
        entry = session.exec(select(AuditLog).where(AuditLog.action == "import_report")).one()
        assert (entry.actor, entry.result, entry.store_id, entry.account_id) == (
            "test:ann",
            "ok",
            store.id,
            store.account_id,
        )
        assert problem in entry.detail


def test_a_report_of_many_batches_keeps_every_row_once_and_names_rows_by_their_line(
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
) -> None:
    # About 1.4 MB in 64 KB network chunks, stored in several transactions: a bad value in the
    # first and one deep in the file each keep their own line number.
    body = [f"SKU-{n:06d}\tBecher mit einem langen Namen Nr. {n}\t9.99\t{n % 7}" for n in range(24_000)]
    body[1] = "BAD-FIRST\tCup\t5.00\tlots"
    body[17_123] = "BAD-ROW\tCup\t5.00\t²"
    data = report(*body)
    chunks = [data[i : i + (1 << 16)] for i in range(0, len(data), 1 << 16)]

    result = import_report_stream(sessions, store.id or 0, "listings", chunks, source="file")

    # The header is line 1, so body[n] is line n + 2.
    assert (result.rows, result.bad_values) == (23_998, 2)
    assert result.problems == (
        "row 3, column quantity: 'lots' is not a number",
        "row 17125, column quantity: '²' is not a number",
    )
    with sessions() as session:
        stored = rows_of(session, result.report_id)
        assert len(stored) == 23_998 and not {"BAD-FIRST", "BAD-ROW"} & set(stored)
        assert stored["SKU-023999"].quantity == 23_999 % 7
        count = len(session.exec(select(ReportRow.id).where(ReportRow.report_id == result.report_id)).all())
        assert count == 23_998


def test_a_report_of_nothing_but_bad_values_fails_whole(
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
) -> None:
    with pytest.raises(ReportImportError, match="no row could be read: row 2, column quantity: '²'"):
        import_report_stream(sessions, store.id or 0, "listings", [report("A\tMug\t1\t²")], source="file")

    with sessions() as session:
        failed = session.exec(select(PlatformReport)).one()
        assert failed.status == "failed" and "is not a number" in failed.error
        entry = session.exec(select(AuditLog).where(AuditLog.action == "import_report")).one()
        assert entry.result == "failed" and entry.store_id == store.id


def test_bad_values_from_the_command_line(
    database_url: str,
    store: Store,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "listings.tsv"
    path.write_bytes(report("OK-1\tMug\t9.99\t4", "BAD-1\tCup\t5.00\t²", f"BAD-2\tJar\t1\t{'9' * 30}"))
    monkeypatch.setenv("DATABASE_URL", database_url)

    status = app.main(["report", "import", str(path), "--store", "Amazon DE", "--kind", "listings"])

    out, err = capsys.readouterr()
    assert status == 0, err
    assert "imported 1 rows" in out
    assert "row 3, column quantity: '²' is not a number" in out
    assert f"row 4, column quantity: '{'9' * 30}' is too large to be a quantity" in out
    assert "Traceback" not in out + err


# -- generated time and retention ---------------------------------------------------------------


def test_imported_file_counts_from_its_generated_time(
    database_url: str,
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime.now(UTC)
    nightly = import_report_stream(
        sessions,
        store.id or 0,
        "listings",
        [listings_bytes()],
        source="platform",
        generated_at=now - timedelta(hours=6),
    )
    monkeypatch.setenv("DATABASE_URL", database_url)
    downloaded = tmp_path / "today.tsv"
    downloaded.write_text(listings_text(LISTINGS[:2]))  # downloaded just now: newer than the nightly
    stale = tmp_path / "last-week.tsv"
    stale.write_text(listings_text(LISTINGS[:1]))
    week_ago = float(int((now - timedelta(days=7)).timestamp()))
    os.utime(stale, (week_ago, week_ago))

    def run(path: Path, *extra: str) -> dict[str, object]:
        args = ["report", "import", str(path), "--store", "Amazon DE", "--kind", "listings", "--json", *extra]
        assert app.main(args) == 0
        return dict(json.loads(capsys.readouterr().out))

    fresh = run(downloaded)
    with sessions() as session:
        current = latest_report(session, store.id or 0, "listings")
        assert current is not None and current.id == fresh["report_id"]
        in_use = latest_done_report(session, store.id or 0, "listings")
        assert in_use is not None and in_use.id == fresh["report_id"]  # what the handlers read

    old = run(stale)
    older = run(downloaded, "--generated-at", (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert datetime.fromisoformat(str(old["generated_at"])) == datetime.fromtimestamp(week_ago, UTC)
    with sessions() as session:
        current = latest_report(session, store.id or 0, "listings")
        assert current is not None and current.id == fresh["report_id"]  # older files never take over
        # Four reports, three kept: the one dropped is the oldest by generated time, never the one in use.
        kept = {
            rid: len(rows_of(session, rid))
            for rid in (nightly.report_id, fresh["report_id"], older["report_id"])
        }
        assert kept == {nightly.report_id: len(LISTINGS), fresh["report_id"]: 2, older["report_id"]: 2}
        assert rows_of(session, int(str(old["report_id"]))) == {}


def test_retention_keeps_the_current_report_when_files_have_no_generated_time(
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
) -> None:
    # A platform report generated last night, then three imports that say nothing of their time.
    nightly = import_report_stream(
        sessions,
        store.id or 0,
        "listings",
        [listings_bytes()],
        source="platform",
        generated_at=datetime.now(UTC) - timedelta(hours=8),
    )
    others = [
        import_report_stream(sessions, store.id or 0, "listings", [listings_bytes()], source="file").report_id
        for _ in range(3)
    ]

    with sessions() as session:
        current = latest_report(session, store.id or 0, "listings")
        assert current is not None and current.id == others[-1]
        same = latest_done_report(session, store.id or 0, "listings")
        assert same is not None and same.id == current.id
        assert len(rows_of(session, current.id or 0)) == len(LISTINGS)
        assert rows_of(session, nightly.report_id) == {}  # the oldest one went


@pytest.mark.parametrize(
    ("option", "text"),
    [
        ("--generated-at", "yesterday"),
        ("--generated-at", "2026-13-01"),
        ("--generated-at", "2999-01-01"),
        ("--encoding", "klingon-8"),
    ],
)
def test_bad_generated_at_or_encoding_is_one_line(
    database_url: str,
    store: Store,  # noqa: F811
    tmp_path: Path,
    option: str,
    text: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "listings.tsv"
    path.write_bytes(listings_bytes())
    monkeypatch.setenv("DATABASE_URL", database_url)

    status = app.main(
        ["report", "import", str(path), "--store", "Amazon DE", "--kind", "listings", option, text]
    )

    err = capsys.readouterr().err
    assert status == 2
    assert option in err and len(err.strip().splitlines()) == 1


# -- hostile bytes ------------------------------------------------------------------------------


def test_nul_bytes_are_cleaned_from_values(
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
) -> None:
    data = report("NUL-1\tMu\x00g\t9.\x0099\t4").replace(b"NUL-1", b"NUL-\x001")

    result = import_report_stream(sessions, store.id or 0, "listings", [data], source="file")

    with sessions() as session:
        row = rows_of(session, result.report_id)["NUL-1"]
        assert (row.title, row.price, row.quantity) == ("Mug", "9.99", 4)


def _gzip_of_one_huge_line(size: int) -> bytes:
    """A gzip report whose second line is `size` bytes of one cell, made without holding it."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [packer.compress(HEADER.encode())]
    block = b"x" * (1 << 20)
    parts.extend(packer.compress(block) for _ in range(size >> 20))
    parts.append(packer.flush())
    return b"".join(parts)


def test_an_overlong_line_is_refused_with_its_row_in_bounded_memory() -> None:
    packed = _gzip_of_one_huge_line(300 << 20)  # about 300 KB packed, 300 MB inflated
    parser = ReportParser("listings")

    tracemalloc.start()
    try:
        with pytest.raises(ReportFormatError, match="row 2 is longer than 1 MB"):
            list(parser.rows(packed[i : i + (1 << 16)] for i in range(0, len(packed), 1 << 16)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MAX_LINE_BYTES


def test_an_overlong_line_fails_the_import_and_keeps_nothing(
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
) -> None:
    rows = [f"SKU-{n}\tMug\t1\t1" for n in range(30_000)]
    data = report(*rows) + b"y" * (MAX_LINE_BYTES + 10) + b"\n"

    with pytest.raises(ReportImportError, match="row 30002 is longer than 1 MB"):
        import_report_stream(
            sessions,
            store.id or 0,
            "listings",
            [data[i : i + 65536] for i in range(0, len(data), 65536)],
            source="file",
        )

    with sessions() as session:
        failed = session.exec(select(PlatformReport)).one()
        assert failed.status == "failed"
        assert session.exec(select(ReportRow)).first() is None  # the batches committed before are gone


# -- batches and killed imports ------------------------------------------------------------------


def test_a_half_import_is_never_read_as_current(
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
) -> None:
    first = import_report_stream(sessions, store.id or 0, "listings", [listings_bytes()], source="file")
    seen: list[int | None] = []

    def chunks() -> Iterator[bytes]:
        yield HEADER.encode()
        for part in range(3):
            yield "".join(f"NEW-{part}-{n}\tMug\t1\t1\n" for n in range(10_000)).encode()
            with sessions() as session:  # another reader, while the import runs
                current = latest_report(session, store.id or 0, "listings")
                seen.append(current.id if current else None)

    second = import_report_stream(sessions, store.id or 0, "listings", chunks(), source="file")

    assert seen == [first.report_id] * 3
    with sessions() as session:
        current = latest_report(session, store.id or 0, "listings")
        assert current is not None and current.id == second.report_id
        assert current.row_count == 30_000


def _import_forever(database_url: str, store_id: int) -> subprocess.Popen[str]:
    script = f"""
import sys, time
from sqlmodel import Session
from erp.db import make_engine
from erp.jobs.report_import import import_report_stream
engine = make_engine({database_url!r})
def chunks():
    yield b"seller-sku\\tquantity\\n"
    n = 0
    while True:
        yield "".join(f"SKU-{{n + i}}\\t1\\n" for i in range(5000)).encode()
        n += 5000
        if n == 20000:
            print("importing", flush=True)
        time.sleep(0.01)
sessions = lambda: Session(engine, expire_on_commit=False)
import_report_stream(sessions, {store_id}, "listings", chunks(), source="file")
"""
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(Path(APP).parent),
        env={**os.environ, "DATABASE_URL": database_url},
    )


def test_an_import_killed_with_its_process_is_failed_at_the_next_start(
    database_url: str,
    engine: Engine,
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
) -> None:
    first = import_report_stream(sessions, store.id or 0, "listings", [listings_bytes()], source="file")
    running = _import_forever(database_url, store.id or 0)
    try:
        assert running.stdout is not None and running.stdout.readline().strip() == "importing"
        # While it runs, a start elsewhere leaves it alone.
        assert fail_abandoned_imports(sessions) == []
        running.send_signal(signal.SIGKILL)
        running.wait(timeout=10)
    finally:
        if running.poll() is None:
            running.kill()
    with sessions() as session:
        stuck = session.exec(select(PlatformReport).where(PlatformReport.id != first.report_id)).one()
        assert stuck.status == "in_progress"

    app.Components(app.Settings.from_env({"DATABASE_URL": database_url})).engine  # noqa: B018  (a start)

    with sessions() as session:
        stuck = session.exec(select(PlatformReport).where(PlatformReport.id != first.report_id)).one()
        assert stuck.status == "failed" and "stopped before it finished" in stuck.error
        assert rows_of(session, stuck.id or 0) == {}
        current = latest_report(session, store.id or 0, "listings")
        assert current is not None and current.id == first.report_id
        entry = session.exec(
            select(AuditLog).where(AuditLog.action == "import_report", AuditLog.result == "failed")
        ).one()
        assert entry.store_id == store.id


def test_an_interrupted_import_is_marked_failed_not_left_in_progress(
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
) -> None:
    def chunks() -> Iterator[bytes]:
        yield report("A\tMug\t1\t1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_report_stream(sessions, store.id or 0, "listings", chunks(), source="file")

    with sessions() as session:
        assert session.exec(select(PlatformReport)).one().status == "failed"


def test_unopenable_file_is_a_clear_error(
    tmp_path: Path,
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
) -> None:
    with pytest.raises(ReportImportError, match="cannot open the file"):
        import_report_file(sessions, store.id or 0, "listings", tmp_path / "missing.tsv")


def test_other_writers_are_not_locked_out_for_the_whole_import_on_sqlite(
    database_url: str,
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL writers never wait on an import's rows (MVCC, no database lock)")
    import sqlite3

    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0.25)
    waits: list[float] = []

    def chunks() -> Iterator[bytes]:
        yield HEADER.encode()
        for part in range(4):
            yield "".join(f"SKU-{part}-{n}\tMug\t1\t1\n" for n in range(12_000)).encode()
            # A Slack acknowledgement's write (a dedupe row, an audit row) while the import runs.
            started = time.perf_counter()
            other.execute(
                "INSERT INTO auditlog (at, actor, action, result, detail) "
                "VALUES ('2026-12-01 00:00:00', 'slack', 'ack', 'ok', '')"
            )
            other.commit()
            waits.append(time.perf_counter() - started)

    result = import_report_stream(sessions, store.id or 0, "listings", chunks(), source="file")
    other.close()

    assert result.rows == 48_000
    assert len(waits) == 4 and max(waits) < 0.25


def test_other_writers_get_in_while_a_file_imports_on_sqlite(
    database_url: str,
    sessions: Callable[[], Session],  # noqa: F811
    store: Store,  # noqa: F811
    tmp_path: Path,
) -> None:
    # A file never makes the import wait, so only the import's own pauses between its
    # transactions let other writers in: a writer that wants the lock must not wait for long.
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL writers never wait on an import's rows (MVCC, no database lock)")
    import sqlite3
    import threading

    path = tmp_path / "listings.tsv"
    path.write_bytes(report(*(f"SKU-{n:07d}\tBecher Nr. {n}\t9.99\t{n % 9}" for n in range(150_000))))
    importing, done = threading.Event(), threading.Event()
    waits: list[float] = []
    refused: list[str] = []

    def other_writer() -> None:
        other = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=1.0)
        importing.wait()
        while not done.is_set():
            started = time.perf_counter()
            try:
                other.execute(
                    "INSERT INTO auditlog (at, actor, action, result, detail) "
                    "VALUES ('2026-12-01 00:00:00', 'slack', 'ack', 'ok', '')"
                )
                other.commit()
                waits.append(time.perf_counter() - started)
            except sqlite3.OperationalError as exc:
                refused.append(str(exc))
            time.sleep(0.01)
        other.close()

    writer = threading.Thread(target=other_writer)
    writer.start()
    importing.set()
    try:
        result = import_report_file(sessions, store.id or 0, "listings", path)
    finally:
        done.set()
        writer.join()

    assert result.rows == 150_000
    assert refused == [] and len(waits) >= 10, (refused[:3], len(waits))
