"""Benchmark: import a generated 1,000,000-row listings report into SQLite (or DATABASE_URL).

Prints rows per second and the process's peak memory. Targets: >= 150,000 rows/s on SQLite,
< 200 MB peak (the import streams: memory must not grow with the report).

    .venv/bin/python bench/report_import.py [--rows 1000000] [--gzip]
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--gzip", action="store_true", help="import a gzip-compressed report")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir}/bench.db"
        report = Path(workdir) / ("listings.tsv.gz" if args.gzip else "listings.tsv")
        started = time.perf_counter()
        write_report(report, args.rows, args.gzip)
        print(
            f"generated {args.rows:,} rows ({report.stat().st_size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        engine = make_engine(url)
        create_schema(engine)

        def sessions() -> Session:
            return Session(engine, expire_on_commit=False)

        with sessions() as session:
            account = create_account(session, name=f"bench-{os.getpid()}-{time.time_ns()}")
            store = add_store(session, account_id=account.id or 0, name="Amazon DE", platform="amazon")
        baseline = peak_mb()
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        result = import_report_file(sessions, store.id or 0, "listings", report)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds() - cpu_before
        print(
            f"database: {engine.url.get_backend_name()}  cores: {os.cpu_count()}  "
            f"load: {os.getloadavg()[0]:.1f}"
        )
        print(f"imported {result.rows:,} rows in {elapsed:.2f} s: {result.rows / elapsed:,.0f} rows/s")
        # On a shared machine the wall clock includes waiting for a core; CPU time does not.
        print(f"CPU time {cpu:.2f} s: {result.rows / cpu:,.0f} rows per CPU second")
        print(f"peak memory: {peak_mb():.0f} MB (before the import: {baseline:.0f} MB)")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
