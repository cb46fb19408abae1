"""Benchmark: import a generated 1,000,000-row listings report into SQLite (or DATABASE_URL).

Prints rows per second and the process's peak memory, and side by side in the same run a plain
baseline into the same table: on SQLite the `csv` module reading the file and `sqlite3`'s
executemany in one transaction; on PostgreSQL the same `csv` reading into one psycopg COPY. The
baselines only pick the columns out (the date sliced into ISO text, no cleaning, no checks): the floor the
project's import is measured against, printed as a ratio of rows per second. With --runs N each
is run N times, alternating, and the medians (min-max) are printed.
Targets: >= 0.9x the baseline on SQLite, >= 0.8x on PostgreSQL, < 200 MB peak (the import
streams: memory must not grow with the report).

    .venv/bin/python bench/report_import.py [--rows 1000000] [--gzip] [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from erp.accounts import add_store, create_account  # noqa: E402
from erp.db import create_schema, make_engine  # noqa: E402
from erp.jobs.report_import import import_report_file  # noqa: E402

HEADER = (
    "item-name\titem-description\tlisting-id\tseller-sku\tprice\tquantity\topen-date\timage-url\t"
    "item-is-marketplace\tproduct-id-type\tzshop-shipping-fee\titem-note\titem-condition\t"
    "zshop-category1\tzshop-browse-path\tzshop-storefront-feature\tasin1\tasin2\tasin3\t"
    "will-ship-internationally\texpedited-shipping\tzshop-boldface\tproduct-id\t"
    "bid-for-featured-placement\tadd-delete\tpending-quantity\tfulfillment-channel\t"
    "merchant-shipping-group\tstatus\n"
)


def report_lines(rows: int) -> Iterator[str]:
    """Rows shaped like a real German all-listings report, quirks included.

    Every row has its own open-date (13 s apart, over about five months, across the switch
    from summer to winter time) so no date is parsed twice.
    """
    yield HEADER
    start = datetime(2020, 8, 1, 6, 0, tzinfo=UTC)
    for i in range(rows):
        opened = start + timedelta(seconds=13 * i)
        summer = opened < datetime(2020, 10, 25, 1, 0, tzinfo=UTC)
        local = opened + timedelta(hours=2 if summer else 1)
        date = local.strftime("%d/%m/%Y %H:%M:%S ") + ("MEST" if summer else "MET")
        title = (
            f"Prozessor Nr. {i} f&uuml;r Sockel\xa01155" if i % 50 == 0 else f"Intel Core i{i % 9} Modell {i}"
        )
        quantity = "" if i % 97 == 0 else str(i % 40)
        status = "Inactive" if i % 23 == 0 else "Active"
        yield (
            f"{title}\t\t0502XU{i:06d}\tSKU-{i:08d}\t{10 + i % 500}.99\t{quantity}\t{date}\t\ty\t1\t\t"
            f"Gepr\u00fcft - top Zustand!\t1\t\t\t\tB0{i:08d}\t\t\t\t\t\tB0{i:08d}\t\t\t0\tDEFAULT\t"
            f"Standardvorlage Amazon\t{status}\n"
        )


def write_report(path: Path, rows: int, compress: bool) -> None:
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        buffer: list[str] = []
        for line in report_lines(rows):
            buffer.append(line)
            if len(buffer) >= 10_000:
                handle.write("".join(buffer))
                buffer.clear()
        handle.write("".join(buffer))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_COLUMNS = (
    "seller-sku",
    "asin1",
    "item-name",
    "price",
    "quantity",
    "status",
    "fulfillment-channel",
    "open-date",
)
_INSERT = (
    "INSERT INTO reportrow (report_id, sku, asin, title, price, quantity, status, fulfillment_channel, "
    "opened_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _plain_rows(report: Path, report_id: int) -> Iterator[tuple[object, ...]]:
    """The report's rows as the baselines store them: the columns picked out, the quantity an int."""
    with open(report, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        at = [header.index(name) for name in _COLUMNS]
        sku, asin, title, price, quantity, status, channel, opened = at
        for cells in reader:
            count = cells[quantity]
            yield (
                report_id,
                cells[sku],
                cells[asin],
                cells[title],
                cells[price],
                int(count) if count else None,
                cells[status],
                cells[channel],
                _plain_date(cells[opened]),
            )


_OFFSETS = {"MEST": "+02:00", "MET": "+01:00"}


def _plain_date(text: str) -> str | None:
    """`DD/MM/YYYY HH:MM:SS ZONE` as ISO text with its offset, by slicing: the least a database takes."""
    if not text:
        return None
    return f"{text[6:10]}-{text[3:5]}-{text[0:2]} {text[11:19]}{_OFFSETS[text[20:]]}"


def plain_sqlite(path: str, report: Path, report_id: int) -> int:
    """`csv` + `sqlite3.executemany` into the same table, one transaction."""
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        with connection:
            cursor = connection.executemany(_INSERT, _plain_rows(report, report_id))
        return cursor.rowcount
    finally:
        connection.close()


def plain_copy(engine: Engine, report: Path, report_id: int) -> int:
    """`csv` + one psycopg COPY into the same table, one transaction."""
    columns = "report_id, sku, asin, title, price, quantity, status, fulfillment_channel, opened_at"
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        rows = 0
        with driver.cursor() as cursor, cursor.copy(f"COPY reportrow ({columns}) FROM STDIN") as copy:
            for row in _plain_rows(report, report_id):
                copy.write_row(row)
                rows += 1
        driver.commit()
        return rows
    finally:
        raw.close()


# Each run starts from the same empty table: on PostgreSQL TRUNCATE, so no run works around the
# dead rows of the one before it (a DELETE leaves them to autovacuum, which then competes with it).
_EMPTY = {"sqlite": "DELETE FROM reportrow", "postgresql": "TRUNCATE reportrow"}


def timed(run: Callable[[], int]) -> tuple[int, float, float]:
    """Rows, wall seconds and CPU seconds of one run."""
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    rows = run()
    return rows, time.perf_counter() - started, cpu_seconds() - cpu_before


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} rows/s ({min(values):,.0f}-{max(values):,.0f})"


Timed = tuple[int, float, float]  # rows, wall seconds, CPU seconds


def seeded_store(engine: Engine) -> tuple[Callable[[], Session], int]:
    """Sessions on `engine` (schema created) and a fresh Amazon store to import into."""
    create_schema(engine)

    def sessions() -> Session:
        return Session(engine, expire_on_commit=False)

    with sessions() as session:
        account = create_account(session, name=f"bench-{os.getpid()}-{time.time_ns()}")
        store = add_store(session, account_id=account.id or 0, name="Amazon DE", platform="amazon")
    return sessions, store.id or 0


def one_round(
    engine: Engine, sessions: Callable[[], Session], store_id: int, report: Path, plain_report: Path
) -> tuple[Timed, Timed]:
    """The project's import of `report`, then the plain baseline of `plain_report` into the same
    empty table (`csv` + executemany on SQLite, `csv` + one COPY on PostgreSQL); the table is left
    empty for the next round."""
    backend = engine.url.get_backend_name()
    project = timed(lambda: import_report_file(sessions, store_id, "listings", report).rows)
    with engine.begin() as connection:  # each run starts from the same empty table
        connection.execute(text(_EMPTY[backend]))
        # The baseline's rows hang off the newest report, as the import's own do.
        report_id = connection.execute(text("SELECT max(id) FROM platformreport")).scalar_one()
    if backend == "sqlite":
        plain = timed(partial(plain_sqlite, engine.url.database or "", plain_report, report_id))
    else:
        plain = timed(partial(plain_copy, engine, plain_report, report_id))
    with engine.begin() as connection:  # the next runs start from the same table size
        connection.execute(text(_EMPTY[backend]))
    return project, plain


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--gzip", action="store_true", help="import a gzip-compressed report")
    parser.add_argument("--runs", type=int, default=1, help="runs of each, alternating (medians printed)")
    parser.add_argument("--no-baseline", action="store_true", help="only the project's import")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir}/bench.db"
        report = Path(workdir) / ("listings.tsv.gz" if args.gzip else "listings.tsv")
        plain_report = Path(workdir) / "listings-plain.tsv"
        started = time.perf_counter()
        write_report(report, args.rows, args.gzip)
        if not args.no_baseline:
            write_report(plain_report, args.rows, False)
        print(
            f"generated {args.rows:,} rows ({report.stat().st_size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        engine = make_engine(url)
        sessions, store_id = seeded_store(engine)
        backend = engine.url.get_backend_name()
        baseline = peak_mb()
        project: list[Timed] = []
        plain: list[Timed] = []
        for run in range(1, args.runs + 1):
            if args.no_baseline:
                project.append(timed(lambda: import_report_file(sessions, store_id, "listings", report).rows))
                continue
            mine_run, plain_run = one_round(engine, sessions, store_id, report, plain_report)
            project.append(mine_run)
            plain.append(plain_run)
            mine, theirs = mine_run[0] / mine_run[1], plain_run[0] / plain_run[1]
            print(
                f"  run {run}: project {mine:,.0f} rows/s, baseline {theirs:,.0f} rows/s: "
                f"{mine / theirs:.2f}x (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        print(f"database: {backend}  cores: {os.cpu_count()}  load: {os.getloadavg()[0]:.1f}")
        for label, runs in (("project import", project), ("plain baseline", plain)):
            if not runs:
                continue
            rows = runs[0][0]
            print(
                f"  {label}: {rows:,} rows, {spread([r[0] / r[1] for r in runs])}; "
                f"CPU {spread([r[0] / r[2] for r in runs])} per CPU second"
            )
        if plain:
            wall = statistics.median(r[0] / r[1] for r in project) / statistics.median(
                r[0] / r[1] for r in plain
            )
            cpu = statistics.median(r[0] / r[2] for r in project) / statistics.median(
                r[0] / r[2] for r in plain
            )
            print(f"  ratio project/baseline: {wall:.2f}x the rows/s, {cpu:.2f}x the rows per CPU second")
        # On a shared machine the wall clock includes waiting for a core; CPU time does not.
        print(f"peak memory: {peak_mb():.0f} MB (before the import: {baseline:.0f} MB)")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
