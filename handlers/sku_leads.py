"""What a SKU sent on its own points to: the checks its records make worth offering first.

A seller who pastes only a SKU has not said what is wrong, so the bot asks which check they mean.
The words say nothing, but the SKU's own records do: a publish that failed, a price change in
flight, an upload record with an error, a product without a picture, or no product at all. The
checks those records belong to are offered first, newest trace first; the matcher's guesses fill
the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from erp.models import PriceChange, Product, PublishAttempt, UploadRecord, UploadStatus
from handlers.sku_lookup import visible_stores

# Records older than this say little about what a seller asks today.
RECENT = timedelta(days=30)


def sku_leads(session: Session, account_id: int, sku: str, now: datetime) -> list[str]:
    """The flows a SKU's records point to, most recent trace first; only the account's own stores.

    Args:
        session: a database session.
        account_id: the seller's account (only its visible stores are read).
        sku: the SKU as the seller wrote it (compared without case).
        now: the clock's now, for what counts as recent.
    """
    store_ids = [store.id for store in visible_stores(session, account_id) if store.id is not None]
    if not store_ids or not sku.strip():
        return []
    key = sku.strip().casefold()
    since = now - RECENT
    traces: list[tuple[datetime, str]] = []
    for flow, model, moment, *conditions in (
        (
            "publish_image_error",
            PublishAttempt,
            PublishAttempt.at,
            col(PublishAttempt.ok).is_(False),
            col(PublishAttempt.at) >= since,
        ),
        ("price_not_updated", PriceChange, PriceChange.created_at, col(PriceChange.created_at) >= since),
        (
            "upload_sku_missing",
            UploadRecord,
            UploadRecord.updated_at,
            UploadRecord.status == UploadStatus.FAILED,
        ),
    ):
        newest = session.exec(
            select(func.max(moment)).where(
                col(model.store_id).in_(store_ids), func.lower(model.sku) == key, *conditions
            )
        ).one()
        if newest is not None:
            traces.append((_naive(newest), flow))
    products = list(
        session.exec(
            select(Product).where(col(Product.store_id).in_(store_ids), func.lower(Product.sku) == key)
        )
    )
    if not products:
        traces.append((_naive(now), "product_sku_missing"))
    elif not any(product.has_picture for product in products):
        traces.append((_naive(max(product.created_at for product in products)), "image_grab"))
    ordered = sorted(traces, key=lambda trace: trace[0], reverse=True)
    return list(dict.fromkeys(flow for _, flow in ordered))


def with_leads(leads: Sequence[str], guesses: Sequence[str], limit: int) -> tuple[str, ...]:
    """The leads first, then the matcher's guesses, each once, at most `limit`."""
    return tuple(dict.fromkeys([*leads, *guesses]))[:limit]


def _naive(moment: datetime) -> datetime:
    """Comparable whatever the database gave back (SQLite returns naive UTC)."""
    return moment.replace(tzinfo=None)
