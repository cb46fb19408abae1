"""Report import into a real database: files, failures that keep earlier reports, the command line,
and fresh reports requested from the Amazon sandbox over real HTTP."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import app
from erp.accounts import add_store, create_account
from erp.jobs.report_import import (
    ReportImportError,
    ReportRefresher,
    as_utc,
    import_report_file,
    import_report_stream,
    latest_report,
    report_row_for_sku,
)
from erp.models import AuditLog, AuthStatus, PlatformReport, ReportRow, Store
from erp.platforms.http import RetryPolicy
from erp.platforms.registry import ConnectorRegistry
from erp.sandbox.amazon import AmazonSandbox, AmazonSandboxData
from erp.sandbox.records import SandboxListing
from erp.sandbox.shopee import ShopeeSandbox
from tests.test_report_parse import LISTINGS, inventory_bytes, listings_bytes

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def sessions(engine: Engine) -> Callable[[], Session]:
    return lambda: Session(engine, expire_on_commit=False)


@pytest.fixture
def store(session: Session) -> Store:
    account = create_account(session, name="acme")
    return add_store(session, account_id=account.id or 0, name="Amazon DE", platform="amazon", region="DE")


def rows_of(session: Session, report_id: int) -> dict[str, ReportRow]:
    rows = session.exec(select(ReportRow).where(ReportRow.report_id == report_id)).all()
    return {row.sku: row for row in rows}


def test_stream_import_stores_rows_and_metadata(sessions: Callable[[], Session], store: Store) -> None:
    generated = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    result = import_report_stream(
        sessions, store.id or 0, "listings", [listings_bytes()], source="platform", generated_at=generated
    )

    assert result.rows == len(LISTINGS)
    with sessions() as session:
        report = session.get(PlatformReport, result.report_id)
        assert report is not None
        assert (report.status, report.row_count, report.source, report.error) == ("done", 5, "platform", "")
        assert as_utc(report.generated_at) == generated
        assert report.imported_at is not None
        rows = rows_of(session, result.report_id)
        assert rows["0J-3QVQ-PCR5"].price == "145"
        assert rows["IO-197I-AHQC"].title.endswith("f\u00fcr Gesang-Aufnahmen")
        assert rows["77-DM2C-P4XL"].quantity is None
        assert rows["77-DM2C-P4XL"].status == "Inactive"
        assert as_utc(rows["0J-3QVQ-PCR5"].opened_at) == datetime(2020, 5, 2, 3, 18, tzinfo=UTC)


def test_failed_import_is_marked_and_leaves_earlier_report_untouched(
    sessions: Callable[[], Session], store: Store, tmp_path: Path
) -> None:
    good = tmp_path / "listings.tsv.gz"
    good.write_bytes(gzip.compress(listings_bytes()))
    first = import_report_file(sessions, store.id or 0, "listings", good)
    packed = gzip.compress(listings_bytes() * 50)
    truncated = tmp_path / "truncated.tsv.gz"
    truncated.write_bytes(packed[: len(packed) // 2])

    with pytest.raises(ReportImportError, match="ends early") as failure:
        import_report_file(sessions, store.id or 0, "listings", truncated)

    with sessions() as session:
        failed = session.get(PlatformReport, failure.value.report_id)
        assert failed is not None
        assert failed.status == "failed"
        assert "truncated" in failed.error
        assert rows_of(session, failed.id or 0) == {}  # nothing half-imported
        latest = latest_report(session, store.id or 0, "listings")
        assert latest is not None and latest.id == first.report_id
        assert len(rows_of(session, first.report_id)) == len(LISTINGS)


def test_latest_report_and_row_for_sku(sessions: Callable[[], Session], store: Store) -> None:
    older = import_report_stream(
        sessions,
        store.id or 0,
        "listings",
        [listings_bytes()],
        source="platform",
        generated_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    newer = import_report_stream(
        sessions,
        store.id or 0,
        "listings",
        [listings_bytes()],
        source="platform",
        generated_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    inventory = import_report_stream(sessions, store.id or 0, "inventory", [inventory_bytes()], source="file")

    with sessions() as session:
        latest = latest_report(session, store.id or 0, "listings")
        assert latest is not None and latest.id == newer.report_id != older.report_id
        row = report_row_for_sku(session, newer.report_id, "FJ-SGKW-RW17")
        assert row is not None and row.quantity == 0
        assert report_row_for_sku(session, newer.report_id, "NOT-THERE") is None
        latest_inventory = latest_report(session, store.id or 0, "inventory")
        assert latest_inventory is not None and latest_inventory.id == inventory.report_id
        assert latest_report(session, (store.id or 0) + 1, "listings") is None


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, APP, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_report_import_command(database_url: str, store: Store, tmp_path: Path, engine: Engine) -> None:
    report = tmp_path / "All+Listings+Report.txt"
    report.write_bytes(listings_bytes("cp1252"))

    done = run_cli(
        database_url, "report", "import", str(report), "--store", "Amazon DE", "--kind", "listings", "--json"
    )

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rows"] == len(LISTINGS)
    assert (summary["store"], summary["kind"], summary["encoding"]) == ("Amazon DE", "listings", "cp1252")

    broken = tmp_path / "broken.gz"
    packed = gzip.compress(listings_bytes() * 50)
    broken.write_bytes(packed[: len(packed) // 3])
    failed = run_cli(
        database_url, "report", "import", str(broken), "--store", "Amazon DE", "--kind", "listings"
    )

    assert failed.returncode == 2
    assert failed.stdout == ""
    assert len(failed.stderr.strip().splitlines()) == 1
    assert "truncated" in failed.stderr and "Traceback" not in failed.stderr
    with Session(engine) as session:
        latest = latest_report(session, store.id or 0, "listings")
        assert latest is not None and latest.id == summary["report_id"]
        assert len(rows_of(session, latest.id or 0)) == len(LISTINGS)
        audit = session.exec(select(AuditLog).where(AuditLog.action == "import_report")).all()
        assert [entry.result for entry in audit] == ["ok", "failed"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--store", "Nowhere", "--kind", "listings"], "no store named 'Nowhere'"),
        (
            ["--store", "Amazon DE", "--kind", "inventory"],
            "it looks like a listings report: use --kind listings",
        ),
    ],
)
def test_report_import_command_bad_input(
    database_url: str,
    store: Store,
    tmp_path: Path,
    args: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = tmp_path / "listings.tsv"
    report.write_bytes(listings_bytes())
    monkeypatch.setenv("DATABASE_URL", database_url)

    status = app.main(["report", "import", str(report), *args])  # the command, in this process

    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


# -- fresh reports from the Amazon sandbox -------------------------------------------------------


@pytest.fixture
def amazon() -> Iterator[AmazonSandbox]:
    sandbox = AmazonSandbox(AmazonSandboxData(report_polls_to_done=2))
    now = datetime.now(UTC)
    sandbox.add_listings(
        SandboxListing("MUG-1", "B0MUG00001", "Becher f\u00fcr Kaffee", "12.50", quantity=4, opened_at=now),
        SandboxListing(
            "MUG-2", "B0MUG00002", "Teebecher", "9.99", quantity=None, active=False, opened_at=now
        ),
    )
    with sandbox:
        yield sandbox


@pytest.fixture
def connectors() -> Iterator[ConnectorRegistry]:
    # Quick retries: a test of a dead platform should not wait out production backoffs.
    registry = ConnectorRegistry(retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_total_wait=0.1))
    yield registry
    registry.close()


def sandbox_store(session: Session, sandbox: AmazonSandbox, name: str = "Amazon US") -> Store:
    account = create_account(session, name=f"seller-{name}")
    fields = sandbox.store_fields()
    return add_store(
        session,
        account_id=account.id or 0,
        name=name,
        platform=fields["platform"],
        endpoint=fields["endpoint"],
        auth_endpoint=fields["auth_endpoint"],
        region=fields["region"],
        marketplace_id=fields["marketplace_id"],
        credentials=fields["credentials"],
        options=fields["options"],
    )


def refresher(sessions: Callable[[], Session], connectors: ConnectorRegistry) -> ReportRefresher:
    return ReportRefresher(sessions, connectors.connector_for, first_poll=0.01, max_poll=0.05)


def test_refresh_done_imports_the_fresh_report(
    sessions: Callable[[], Session], session: Session, amazon: AmazonSandbox, connectors: ConnectorRegistry
) -> None:
    store = sandbox_store(session, amazon)

    report_id = refresher(sessions, connectors).refresh(store.id or 0, "listings", actor="test:me")

    assert report_id is not None
    with sessions() as check:
        report = check.get(PlatformReport, report_id)
        assert report is not None
        assert (report.status, report.row_count, report.source) == ("done", 2, "platform")
        assert report.platform_report_id.isdigit()
        assert report.generated_at is not None
        rows = rows_of(check, report_id)
        assert rows["MUG-1"].title == "Becher f\u00fcr Kaffee"
        assert rows["MUG-2"].status == "Inactive"
        entry = check.exec(select(AuditLog).where(AuditLog.action == "request_report")).one()
        assert (entry.actor, entry.result, entry.store_id) == ("test:me", "ok", store.id)


def test_refresh_inventory(
    sessions: Callable[[], Session], session: Session, amazon: AmazonSandbox, connectors: ConnectorRegistry
) -> None:
    store = sandbox_store(session, amazon)

    report_id = refresher(sessions, connectors).refresh(store.id or 0, "inventory")

    with sessions() as check:
        assert set(rows_of(check, report_id or 0)) == {"MUG-1", "MUG-2"}


def test_refresh_stuck_report_stays_in_progress(
    sessions: Callable[[], Session], session: Session, amazon: AmazonSandbox, connectors: ConnectorRegistry
) -> None:
    store = sandbox_store(session, amazon)
    amazon.stick_reports()

    report_id = refresher(sessions, connectors).refresh(store.id or 0, "listings", wait_seconds=0.2)

    with sessions() as check:
        report = check.get(PlatformReport, report_id)
        assert report is not None
        assert (report.status, report.row_count, report.error) == ("in_progress", 0, "")
        assert amazon.server.count("/reports/2021-06-30/reports/") >= 2  # it kept polling
        entry = check.exec(select(AuditLog).where(AuditLog.action == "request_report")).one()
        assert entry.result == "pending"


def test_refresh_fatal_report_fails_with_reason(
    sessions: Callable[[], Session], session: Session, amazon: AmazonSandbox, connectors: ConnectorRegistry
) -> None:
    store = sandbox_store(session, amazon)
    earlier = import_report_stream(sessions, store.id or 0, "listings", [listings_bytes()], source="file")
    amazon.fail_next_report("FATAL")

    report_id = refresher(sessions, connectors).refresh(store.id or 0, "listings")

    with sessions() as check:
        report = check.get(PlatformReport, report_id)
        assert report is not None
        assert report.status == "failed"
        assert "could not generate the report" in report.error
        latest = latest_report(check, store.id or 0, "listings")
        assert latest is not None and latest.id == earlier.report_id


def test_refresh_truncated_download_fails_and_keeps_earlier(
    sessions: Callable[[], Session], session: Session, amazon: AmazonSandbox, connectors: ConnectorRegistry
) -> None:
    store = sandbox_store(session, amazon)
    earlier = refresher(sessions, connectors).refresh(store.id or 0, "listings")
    amazon.truncate_next_document()

    report_id = refresher(sessions, connectors).refresh(store.id or 0, "listings")

    with sessions() as check:
        report = check.get(PlatformReport, report_id)
        assert report is not None and report.status == "failed" and report.error
        assert rows_of(check, report_id or 0) == {}
        latest = latest_report(check, store.id or 0, "listings")
        assert latest is not None and latest.id == earlier


def test_refresh_with_expired_authorization(
    sessions: Callable[[], Session], session: Session, amazon: AmazonSandbox, connectors: ConnectorRegistry
) -> None:
    store = sandbox_store(session, amazon)
    amazon.reject_refresh_token()

    report_id = refresher(sessions, connectors).refresh(store.id or 0, "listings")

    with sessions() as check:
        report = check.get(PlatformReport, report_id)
        assert report is not None and report.status == "failed"
        assert report.error and "secret" not in report.error.lower()
        stored = check.get(Store, store.id)
        assert stored is not None and stored.auth_status == AuthStatus.EXPIRED


def test_refresh_unknown_store_or_kind(
    sessions: Callable[[], Session], session: Session, connectors: ConnectorRegistry
) -> None:
    account = create_account(session, name="shop")
    shopee = add_store(session, account_id=account.id or 0, name="Shopee MY", platform="shopee")

    assert refresher(sessions, connectors).refresh(9999, "listings") is None
    assert refresher(sessions, connectors).refresh(shopee.id or 0, "inventory") is None


def test_import_all_keeps_going_when_one_store_fails(
    sessions: Callable[[], Session], session: Session, amazon: AmazonSandbox, connectors: ConnectorRegistry
) -> None:
    good = sandbox_store(session, amazon, "Amazon US")
    broken = sandbox_store(session, amazon, "Amazon Broken")
    broken.endpoint = "http://127.0.0.1:9"  # nothing listens there
    session.add(broken)
    session.commit()

    outcomes = {o.store: o for o in refresher(sessions, connectors).import_all(wait_seconds=5)}

    assert outcomes["Amazon US"].error == ""
    assert len(outcomes["Amazon US"].report_ids) == 2  # listings and inventory
    assert outcomes["Amazon Broken"].error
    with sessions() as check:
        stored_good = check.get(Store, good.id)
        stored_broken = check.get(Store, broken.id)
        assert stored_good is not None and stored_broken is not None
        assert stored_good.last_report_import_at is not None
        assert stored_good.last_report_import_error == ""
        assert stored_broken.last_report_import_error
        assert stored_broken.last_report_import_at is None
        fresh = latest_report(check, good.id or 0, "inventory")
        assert fresh is not None and as_utc(fresh.generated_at) is not None
        assert as_utc(fresh.generated_at) > datetime.now(UTC) - timedelta(minutes=5)  # type: ignore[operator]


def test_import_all_does_not_wait_on_a_stuck_platform(
    sessions: Callable[[], Session], session: Session, amazon: AmazonSandbox, connectors: ConnectorRegistry
) -> None:
    with AmazonSandbox() as stuck_platform:
        stuck_platform.stick_reports()
        good = sandbox_store(session, amazon, "Amazon US")
        stuck = sandbox_store(session, stuck_platform, "Amazon Slow")

        outcomes = {o.store: o for o in refresher(sessions, connectors).import_all(wait_seconds=0.5)}

    assert outcomes["Amazon US"].error == outcomes["Amazon Slow"].error == ""
    with sessions() as check:
        statuses = {(r.store_id, r.kind): r.status for r in check.exec(select(PlatformReport)).all()}
        assert statuses == {
            (good.id, "listings"): "done",
            (good.id, "inventory"): "done",
            (stuck.id, "listings"): "in_progress",
            (stuck.id, "inventory"): "in_progress",
        }
        stored_stuck = check.get(Store, stuck.id)
        assert stored_stuck is not None and stored_stuck.last_report_import_at is None


def test_refresh_shopee_listings(
    sessions: Callable[[], Session], session: Session, connectors: ConnectorRegistry
) -> None:
    with ShopeeSandbox() as shopee:
        shopee.add_listings(
            SandboxListing("BATIK-1", "880001", "Batik cushion cover", "35.00", currency="MYR", quantity=3),
            SandboxListing("SONGKET-1", "880002", "Songket runner", "89.00", currency="MYR", quantity=0),
        )
        account = create_account(session, name="kl-seller")
        fields = shopee.store_fields()
        store = add_store(
            session,
            account_id=account.id or 0,
            name="Shopee MY",
            platform="shopee",
            endpoint=fields["endpoint"],
            marketplace_id=fields["marketplace_id"],
            credentials=fields["credentials"],
            options=fields["options"],
        )

        report_id = refresher(sessions, connectors).refresh(store.id or 0, "listings")

    with sessions() as check:
        report = check.get(PlatformReport, report_id)
        assert report is not None and report.status == "done", report
        rows = rows_of(check, report_id or 0)
        assert set(rows) == {"BATIK-1", "SONGKET-1"}
        assert Decimal(rows["BATIK-1"].price) == Decimal("35.00")  # Shopee sends prices as numbers


def test_only_the_newest_reports_keep_their_rows(sessions: Callable[[], Session], store: Store) -> None:
    ids = [
        import_report_stream(
            sessions,
            store.id or 0,
            "listings",
            [listings_bytes()],
            source="platform",
            generated_at=datetime(2026, 11, day, 2, 0, tzinfo=UTC),
        ).report_id
        for day in (20, 21, 22, 23, 24)
    ]
    inventory = import_report_stream(sessions, store.id or 0, "inventory", [inventory_bytes()], source="file")

    with sessions() as session:
        kept = {report_id: len(rows_of(session, report_id)) for report_id in ids}
        assert kept == {ids[0]: 0, ids[1]: 0, ids[2]: 5, ids[3]: 5, ids[4]: 5}
        oldest = session.get(PlatformReport, ids[0])
        assert oldest is not None and oldest.row_count == 5  # the record of it stays
        assert len(rows_of(session, inventory.report_id)) == 2  # other kinds are counted apart


def test_backslashes_carriage_returns_and_empty_cells_are_stored_as_written(
    sessions: Callable[[], Session], store: Store
) -> None:
    # PostgreSQL's bulk path writes COPY text, where a backslash or a carriage return would be an
    # escape or a row end and an empty quantity or date must become NULL, not text.
    header = "item-name\tseller-sku\tprice\tquantity\topen-date\tasin1\tstatus\tfulfillment-channel\n"
    lines = [
        "Kabel 2\\3 m \\N mit\rStecker\tSKU\\A1\t9.99\t\t\tB0\\X\tActive\tDEFAULT\n",
        "Plain\tSKU-B\t1.00\t7\t02/05/2020 05:18:00 MEST\tB0B\tInactive\tAMAZON_EU\n",
    ]
    result = import_report_stream(
        sessions, store.id or 0, "listings", [(header + "".join(lines)).encode()], source="file"
    )

    assert result.rows == 2
    with sessions() as session:
        rows = rows_of(session, result.report_id)
    odd, plain = rows["SKU\\A1"], rows["SKU-B"]
    assert (odd.title, odd.asin, odd.quantity, odd.opened_at) == (
        "Kabel 2\\3 m \\N mit\rStecker",
        "B0\\X",
        None,
        None,
    )
    assert (plain.quantity, plain.status, plain.fulfillment_channel) == (7, "Inactive", "AMAZON_EU")
    assert as_utc(plain.opened_at) == datetime(2020, 5, 2, 3, 18, tzinfo=UTC)
