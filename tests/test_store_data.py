"""Deleting a store's data: counted, exported first, hidden, undoable for 7 days, purged after."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from erp.models import (
    Account,
    AuditLog,
    ImageGrabResult,
    ImageGrabRun,
    Order,
    PlatformReport,
    PriceChange,
    Product,
    ReportRow,
    Store,
    StoreDeletion,
    UploadRecord,
)
from erp.store_data import (
    StoreDataError,
    count_store_data,
    delete_store_data,
    purge_expired,
    undo_deletion,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _fill_store(session: Session, account: Account, name: str, *, orders: int) -> Store:
    store = Store(
        account_id=account.id or 0,
        name=name,
        platform="shopee",
        credentials={"partner_key": "top-secret-key"},
    )
    session.add(store)
    session.flush()
    sid = store.id or 0
    for n in range(orders):
        session.add(Order(store_id=sid, platform_order_id=f"{name}-{n}", status="shipped"))
    product = Product(account_id=account.id or 0, store_id=sid, sku=f"{name}-SKU-1")
    session.add(product)
    session.add(Product(account_id=account.id or 0, store_id=sid, sku=f"{name}-SKU-2"))
    session.add(UploadRecord(store_id=sid, sku=f"{name}-SKU-1", status="uploaded"))
    report = PlatformReport(store_id=sid, kind="listings", status="done", row_count=3)
    session.add(report)
    session.flush()
    for n in range(3):
        session.add(ReportRow(report_id=report.id or 0, sku=f"{name}-SKU-{n}"))
    session.add(PriceChange(store_id=sid, sku=f"{name}-SKU-1", old_price="1.00", new_price="2.00"))
    run = ImageGrabRun()
    session.add(run)
    session.flush()
    session.add(ImageGrabResult(run_id=run.id or 0, product_id=product.id or 0, rule="a", outcome="grabbed"))
    session.commit()
    return store


@pytest.fixture
def sessions(engine: Engine) -> Callable[[], Session]:
    return lambda: Session(engine, expire_on_commit=False)


@pytest.fixture
def stores(session: Session) -> tuple[Store, Store]:
    account = Account(name="acme")
    session.add(account)
    session.commit()
    return _fill_store(session, account, "Shopee MY", orders=4), _fill_store(
        session, account, "Shopee SG", orders=2
    )


def test_counts_only_the_stores_own_rows(session: Session, stores: tuple[Store, Store]) -> None:
    counts = count_store_data(session, stores[0].id or 0)
    assert counts.as_dict() == {
        "orders": 4,
        "products": 2,
        "upload_records": 1,
        "reports": 1,
        "report_rows": 3,
        "price_changes": 1,
    }
    assert counts.total == 12


def test_delete_exports_first_hides_the_store_and_audits(
    sessions: Callable[[], Session], stores: tuple[Store, Store], tmp_path: Path
) -> None:
    target = stores[0]
    deletion = delete_store_data(
        sessions, target.id or 0, actor="console:demo", export_dir=str(tmp_path), now=NOW
    )

    assert deletion.counts["orders"] == 4
    assert deletion.undo_until.replace(tzinfo=UTC) == NOW + timedelta(days=7)
    with zipfile.ZipFile(deletion.export_path) as archive:
        names = set(archive.namelist())
        assert {"store.json", "orders.jsonl", "report_rows.jsonl", "manifest.json"} <= names
        orders = [json.loads(line) for line in archive.read("orders.jsonl").splitlines()]
        assert sorted(o["platform_order_id"] for o in orders) == [f"Shopee MY-{n}" for n in range(4)]
        # The export is a file people pass around: the store's credentials stay in the database.
        assert b"top-secret-key" not in archive.read("store.json")
        assert json.loads(archive.read("manifest.json"))["counts"]["report_rows"] == 3

    with sessions() as session:
        store = session.get(Store, target.id)
        assert store is not None and store.deleted_at is not None
        # Hidden, not removed: the rows stay until the undo window passes.
        assert count_store_data(session, target.id or 0).orders == 4
        audit = session.exec(select(AuditLog).where(AuditLog.action == "delete_store_data")).one()
        assert (audit.actor, audit.result, audit.store_id) == ("console:demo", "ok", target.id)


def test_deleting_twice_is_refused(
    sessions: Callable[[], Session], stores: tuple[Store, Store], tmp_path: Path
) -> None:
    delete_store_data(sessions, stores[0].id or 0, actor="a", export_dir=str(tmp_path), now=NOW)
    with pytest.raises(StoreDataError) as error:
        delete_store_data(sessions, stores[0].id or 0, actor="a", export_dir=str(tmp_path), now=NOW)
    assert error.value.reason == "already_deleted"
    with pytest.raises(StoreDataError) as missing:
        delete_store_data(sessions, 999_999, actor="a", export_dir=str(tmp_path), now=NOW)
    assert missing.value.reason == "not_found"


def test_undo_within_the_window_restores_everything(
    sessions: Callable[[], Session], stores: tuple[Store, Store], tmp_path: Path
) -> None:
    sid = stores[0].id or 0
    delete_store_data(sessions, sid, actor="a", export_dir=str(tmp_path), now=NOW)
    restored = undo_deletion(sessions, sid, actor="console:demo", now=NOW + timedelta(days=6))
    assert restored.restored_at is not None
    with sessions() as session:
        store = session.get(Store, sid)
        assert store is not None and store.deleted_at is None
        assert count_store_data(session, sid).total == 12
        # A restored deletion is never purged later.
        assert purge_expired(session, NOW + timedelta(days=30)) == 0
        assert count_store_data(session, sid).total == 12
    with pytest.raises(StoreDataError) as again:
        undo_deletion(sessions, sid, actor="a", now=NOW + timedelta(days=6))
    assert again.value.reason == "nothing_to_undo"


def test_undo_after_the_window_is_refused(
    sessions: Callable[[], Session], stores: tuple[Store, Store], tmp_path: Path
) -> None:
    sid = stores[0].id or 0
    delete_store_data(sessions, sid, actor="a", export_dir=str(tmp_path), now=NOW)
    with pytest.raises(StoreDataError) as error:
        undo_deletion(sessions, sid, actor="a", now=NOW + timedelta(days=7, seconds=1))
    assert error.value.reason == "undo_expired"


def test_purge_removes_only_expired_deletions_data(
    sessions: Callable[[], Session], stores: tuple[Store, Store], tmp_path: Path
) -> None:
    first, second = (s.id or 0 for s in stores)
    delete_store_data(sessions, first, actor="a", export_dir=str(tmp_path), now=NOW)
    delete_store_data(sessions, second, actor="a", export_dir=str(tmp_path), now=NOW + timedelta(days=3))

    with sessions() as session:
        assert purge_expired(session, NOW + timedelta(days=6)) == 0
        assert purge_expired(session, NOW + timedelta(days=7, hours=1)) == 1
        assert count_store_data(session, first).total == 0
        assert len(session.exec(select(ImageGrabResult)).all()) == 1  # the other store's
        assert count_store_data(session, second).total == 10  # still inside its undo window
        store = session.get(Store, first)
        assert store is not None and store.credentials == {}
        deletion = session.exec(select(StoreDeletion).where(col(StoreDeletion.store_id) == first)).one()
        assert deletion.purged_at is not None
        # Running again finds nothing new: the scheduler may call it every hour.
        assert purge_expired(session, NOW + timedelta(days=7, hours=2)) == 0
    with pytest.raises(StoreDataError):
        undo_deletion(sessions, first, actor="a", now=NOW + timedelta(days=7, hours=3))
