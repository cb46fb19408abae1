"""A store's own data in the software: count it, export it, delete it, undo, and purge for good.

Deleting a store's data is a two-step affair so an owner's mistake can be taken back: the data
is exported to a zip file first, then the store is hidden (`Store.deleted_at`) and stays
restorable for `UNDO_DAYS`. The scheduler's `purge_expired` removes the rows once the undo window
has passed. Only the software's own rows are touched; the store's data on the marketplace is not.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, inspect, select
from sqlmodel import Session, col

from erp.models import (
    AuditLog,
    ImageGrabResult,
    Order,
    PlatformReport,
    PriceChange,
    Product,
    PublishAttempt,
    ReportRow,
    Store,
    StoreDeletion,
    SyncRun,
    UploadRecord,
)

UNDO_DAYS = 7
# Rows exported and deleted per round trip: bounded memory on stores with millions of report rows.
_CHUNK = 5_000


class StoreDataError(Exception):
    """The operation cannot run; `str(error)` is safe to show the seller (English)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # not_found | already_deleted | nothing_to_undo | undo_expired


@dataclass(frozen=True)
class StoreDataCounts:
    """How many of the store's rows the software holds, per kind."""

    orders: int = 0
    products: int = 0
    upload_records: int = 0
    reports: int = 0
    report_rows: int = 0
    price_changes: int = 0

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())

    def as_dict(self) -> dict[str, int]:
        return {
            "orders": self.orders,
            "products": self.products,
            "upload_records": self.upload_records,
            "reports": self.reports,
            "report_rows": self.report_rows,
            "price_changes": self.price_changes,
        }


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for values stored as UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def _report_ids(store_id: int) -> Any:
    return select(col(PlatformReport.id)).where(col(PlatformReport.store_id) == store_id)


def count_store_data(session: Session, store_id: int) -> StoreDataCounts:
    """Count the store's rows the deletion would remove.

    Args:
        session: an open session.
        store_id: the store, whether hidden or not.

    Returns:
        The counts per kind.
    """
    return StoreDataCounts(
        orders=_count(session, Order, Order.store_id == store_id),
        products=_count(session, Product, Product.store_id == store_id),
        upload_records=_count(session, UploadRecord, UploadRecord.store_id == store_id),
        reports=_count(session, PlatformReport, PlatformReport.store_id == store_id),
        report_rows=_count(session, ReportRow, col(ReportRow.report_id).in_(_report_ids(store_id))),
        price_changes=_count(session, PriceChange, PriceChange.store_id == store_id),
    )


def pending_deletion(session: Session, store_id: int) -> StoreDeletion | None:
    """The store's deletion that can still be undone (not restored, not purged), if any."""
    query = (
        select(StoreDeletion)
        .where(
            col(StoreDeletion.store_id) == store_id,
            col(StoreDeletion.restored_at).is_(None),
            col(StoreDeletion.purged_at).is_(None),
        )
        .order_by(col(StoreDeletion.requested_at).desc())
    )
    return session.execute(query).scalars().first()


def delete_store_data(
    sessions: Callable[[], Session],
    store_id: int,
    *,
    actor: str,
    export_dir: str,
    now: datetime | None = None,
) -> StoreDeletion:
    """Export the store's data, then hide the store; undoable for `UNDO_DAYS`.

    The export is written before anything changes, so a failed export leaves the data as it was.

    Args:
        sessions: makes a new session.
        store_id: the store whose data goes.
        actor: who asked, for the audit log.
        export_dir: where the export zip is kept.
        now: the current time (the caller's clock).

    Returns:
        The stored `StoreDeletion` with the counts, the export path and the undo deadline.

    Raises:
        StoreDataError: the store does not exist or is already deleted.
    """
    now = now or datetime.now(UTC)
    with sessions() as session:
        store = session.get(Store, store_id)
        if store is None:
            raise StoreDataError("That store does not exist.", "not_found")
        if store.deleted_at is not None:
            raise StoreDataError(f"The data of {store.name} is already deleted.", "already_deleted")
        counts = count_store_data(session, store_id)
        export_path = export_store_data(session, store, export_dir, now)
        deletion = StoreDeletion(
            store_id=store_id,
            requested_by=actor,
            requested_at=now,
            export_path=export_path,
            counts=counts.as_dict(),
            undo_until=now + timedelta(days=UNDO_DAYS),
        )
        store.deleted_at = now
        session.add(store)
        session.add(deletion)
        session.add(
            AuditLog(
                at=now,
                actor=actor,
                account_id=store.account_id,
                store_id=store_id,
                action="delete_store_data",
                result="ok",
                detail=json.dumps({"counts": counts.as_dict(), "export": export_path}),
            )
        )
        session.commit()
        session.refresh(deletion)
        return deletion


def undo_deletion(
    sessions: Callable[[], Session],
    store_id: int,
    *,
    actor: str,
    now: datetime | None = None,
) -> StoreDeletion:
    """Bring a deleted store back while its undo window is open.

    Args:
        sessions: makes a new session.
        store_id: the hidden store.
        actor: who asked, for the audit log.
        now: the current time.

    Returns:
        The deletion, now with `restored_at` set.

    Raises:
        StoreDataError: nothing to undo, or the undo window has passed.
    """
    now = now or datetime.now(UTC)
    with sessions() as session:
        store = session.get(Store, store_id)
        deletion = pending_deletion(session, store_id) if store is not None else None
        if store is None or deletion is None or store.deleted_at is None:
            raise StoreDataError("There is no deletion of this store to undo.", "nothing_to_undo")
        if _aware(deletion.undo_until) <= now:
            raise StoreDataError(
                f"The undo window of this deletion closed on {deletion.undo_until:%Y-%m-%d %H:%M} UTC.",
                "undo_expired",
            )
        store.deleted_at = None
        deletion.restored_at = now
        session.add(store)
        session.add(deletion)
        session.add(
            AuditLog(
                at=now,
                actor=actor,
                account_id=store.account_id,
                store_id=store_id,
                action="undo_delete_store_data",
                result="ok",
                detail=json.dumps({"deletion_id": deletion.id}),
            )
        )
        session.commit()
        session.refresh(deletion)
        return deletion


def purge_expired(session: Session, now: datetime, *, actor: str = "scheduler") -> int:
    """Remove for good the data of every deletion whose undo window has passed.

    Args:
        session: an open session; committed here.
        now: the current time.
        actor: for the audit log.

    Returns:
        How many deletions were purged.
    """
    due = (
        session.execute(
            select(StoreDeletion).where(
                col(StoreDeletion.undo_until) <= now,
                col(StoreDeletion.restored_at).is_(None),
                col(StoreDeletion.purged_at).is_(None),
            )
        )
        .scalars()
        .all()
    )
    purged = 0
    for deletion in due:
        store = session.get(Store, deletion.store_id)
        if store is None or store.deleted_at is None:
            continue  # restored by other means: nothing to purge
        _delete_rows(session, deletion.store_id)
        # The credentials go with the data: a purged store can never call its marketplace again.
        store.credentials = {}
        deletion.purged_at = now
        session.add(store)
        session.add(deletion)
        session.add(
            AuditLog(
                at=now,
                actor=actor,
                account_id=store.account_id,
                store_id=store.id,
                action="purge_store_data",
                result="ok",
                detail=json.dumps({"deletion_id": deletion.id, "counts": deletion.counts}),
            )
        )
        session.commit()
        purged += 1
    return purged


def _delete_rows(session: Session, store_id: int) -> None:
    # Children first: foreign keys are enforced on both databases.
    report_ids = _report_ids(store_id)
    product_ids = select(col(Product.id)).where(col(Product.store_id) == store_id)
    session.execute(delete(ReportRow).where(col(ReportRow.report_id).in_(report_ids)))
    session.execute(delete(ImageGrabResult).where(col(ImageGrabResult.product_id).in_(product_ids)))
    for model in (PlatformReport, Product, Order, UploadRecord, PriceChange, PublishAttempt, SyncRun):
        session.execute(delete(model).where(col(model.store_id) == store_id))


# What the export holds, in order: file name in the zip -> a Core query over the table (plain rows
# stream several times faster than ORM objects, and the export can hold millions of report rows).
def _export_queries(store_id: int) -> Iterator[tuple[str, Any]]:
    for name, model in (
        ("orders.jsonl", Order),
        ("products.jsonl", Product),
        ("upload_records.jsonl", UploadRecord),
        ("reports.jsonl", PlatformReport),
    ):
        table: Any = inspect(model).local_table
        yield name, select(table).where(table.c.store_id == store_id).order_by(table.c.id)
    rows: Any = inspect(ReportRow).local_table
    yield (
        "report_rows.jsonl",
        select(rows).where(rows.c.report_id.in_(_report_ids(store_id))).order_by(rows.c.id),
    )
    changes: Any = inspect(PriceChange).local_table
    yield "price_changes.jsonl", select(changes).where(changes.c.store_id == store_id).order_by(changes.c.id)


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot export {type(value).__name__}")


def _row_dict(row: Any, *, secret_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    data = {column.name: getattr(row, column.name) for column in row.__table__.columns}
    for name in secret_fields:
        data.pop(name, None)
    return data


def export_store_data(session: Session, store: Store, export_dir: str, now: datetime) -> str:
    """Write the store's data to a zip of JSON-lines files (one per kind) plus a manifest.

    Args:
        session: an open session.
        store: the store to export.
        export_dir: the directory for the file (created when missing).
        now: names the file.

    Returns:
        The path of the zip file.
    """
    os.makedirs(export_dir, exist_ok=True)
    path = os.path.join(export_dir, f"store-{store.id}-{now:%Y%m%dT%H%M%S}.zip")
    counts: dict[str, int] = {}
    partial = path + ".partial"
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # Credentials never leave the database: the export is a file people pass around.
        store_line = json.dumps(_row_dict(store, secret_fields=("credentials",)), default=_json_default)
        archive.writestr("store.json", store_line + "\n")
        for name, query in _export_queries(int(store.id or 0)):
            written = 0
            with archive.open(name, "w") as out:
                result = session.execute(query.execution_options(yield_per=_CHUNK))
                for chunk in result.partitions():
                    lines = [json.dumps(dict(row._mapping), default=_json_default) for row in chunk]
                    out.write(("\n".join(lines) + "\n").encode())
                    written += len(lines)
            counts[name.removesuffix(".jsonl")] = written
        manifest = {
            "store_id": store.id,
            "store": store.name,
            "exported_at": now.isoformat(),
            "counts": counts,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    os.replace(partial, path)
    return path
