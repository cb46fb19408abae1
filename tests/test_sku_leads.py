"""A SKU sent on its own: the checks its own records point to, newest first, and no one else's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from erp.db import create_schema
from erp.models import Account, PriceChange, Product, PublishAttempt, Store, UploadRecord, UploadStatus
from handlers.sku_leads import sku_leads, with_leads

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _store(session: Session, name: str) -> tuple[int, int]:
    account = Account(name=name)
    session.add(account)
    session.commit()
    store = Store(account_id=account.id or 0, name=f"{name} US", platform="amazon")
    session.add(store)
    session.commit()
    return account.id or 0, store.id or 0


def _product(session: Session, account_id: int, store_id: int, sku: str, *, picture: bool) -> None:
    session.add(
        Product(account_id=account_id, store_id=store_id, sku=sku, has_picture=picture, created_at=NOW)
    )


def test_a_skus_records_order_the_checks_newest_first(engine: Engine, session: Session) -> None:
    create_schema(engine)
    seller, store = _store(session, "Seller")
    _product(session, seller, store, "MUG-1", picture=True)
    session.add(
        PublishAttempt(
            account_id=seller,
            store_id=store,
            platform="amazon",
            sku="MUG-1",
            ok=False,
            error_code="8560",
            at=NOW - timedelta(hours=2),
        )
    )
    session.add(
        PriceChange(
            store_id=store, sku="mug-1", old_price="10", new_price="9", created_at=NOW - timedelta(hours=1)
        )
    )
    session.add(
        UploadRecord(
            store_id=store, sku="MUG-1", status=UploadStatus.FAILED, updated_at=NOW - timedelta(days=3)
        )
    )
    session.commit()
    assert sku_leads(session, seller, "mug-1", NOW) == [
        "price_not_updated",
        "publish_image_error",
        "upload_sku_missing",
    ]


def test_old_or_successful_records_lead_nowhere_and_a_product_without_a_picture_leads_to_the_grab(
    engine: Engine, session: Session
) -> None:
    create_schema(engine)
    seller, store = _store(session, "Seller")
    _product(session, seller, store, "LAMP-2", picture=False)
    session.add(
        PublishAttempt(account_id=seller, store_id=store, platform="amazon", sku="LAMP-2", ok=True, at=NOW)
    )
    session.add(
        PriceChange(
            store_id=store, sku="LAMP-2", old_price="5", new_price="4", created_at=NOW - timedelta(days=90)
        )
    )
    session.add(UploadRecord(store_id=store, sku="LAMP-2", status=UploadStatus.UPLOADED))
    session.commit()
    assert sku_leads(session, seller, "LAMP-2", NOW) == ["image_grab"]
    assert sku_leads(session, seller, "NOT-A-PRODUCT", NOW) == ["product_sku_missing"]


def test_a_neighbours_records_of_the_same_sku_lead_nowhere(engine: Engine, session: Session) -> None:
    create_schema(engine)
    seller, store = _store(session, "Seller")
    neighbour, their_store = _store(session, "Neighbour")
    _product(session, seller, store, "CUP-3", picture=True)
    _product(session, neighbour, their_store, "CUP-3", picture=True)
    session.add(
        PublishAttempt(
            account_id=neighbour, store_id=their_store, platform="amazon", sku="CUP-3", ok=False, at=NOW
        )
    )
    session.add(PriceChange(store_id=their_store, sku="CUP-3", old_price="3", new_price="2", created_at=NOW))
    session.commit()
    assert sku_leads(session, seller, "CUP-3", NOW) == []
    assert sku_leads(session, neighbour, "CUP-3", NOW) == ["publish_image_error", "price_not_updated"]


def test_leads_come_before_the_matchers_guesses_each_once() -> None:
    assert with_leads(["image_grab"], ["product_sku_missing", "image_grab", "price_not_updated"], 3) == (
        "image_grab",
        "product_sku_missing",
        "price_not_updated",
    )
    assert with_leads([], ["upload_sku_missing"], 3) == ("upload_sku_missing",)
