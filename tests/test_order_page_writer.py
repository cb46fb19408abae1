"""The order page writer stores values exactly as the ORM does, so both read and compare alike.

The writer skips SQLAlchemy's per-row type processing (bench/upsert.py): it writes datetimes
and JSON in the database's own forms. If those forms drifted from what the ORM writes, orders
would read back wrong, compare as changed on every sync, or sort wrongly in SQL on SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from erp.models import Account, Order
from erp.platforms.base import PlatformOrder
from tests.test_order_sync import NOW, MemoryMarketplace, add_store, build_sync, orders_of

SHANGHAI = timezone(timedelta(hours=8))


def _order(order_id: str, at: datetime, skus: list[str], status: str = "Unshipped") -> PlatformOrder:
    return PlatformOrder(
        order_id=order_id,
        platform_status=status,
        fulfilled_by_platform=False,
        purchased_at=at,
        updated_at=at + timedelta(minutes=5),
        total_amount="12.50",
        currency="CNY",
        skus=skus,
    )


def test_orders_read_back_as_written_and_a_row_the_orm_wrote_compares_unchanged(
    engine: Engine, session: Session
) -> None:
    account = Account(name="writer")
    session.add(account)
    session.commit()
    store = add_store(session, account, "Amazon DE")
    local = datetime(2026, 11, 25, 9, 30, 15, 250000, tzinfo=SHANGHAI)  # 01:30:15.25 UTC
    # One order stored by the ORM (as other parts of the ERP write orders) ...
    orm_order = _order("ORM-1", local - timedelta(hours=1), ["SKU-A", "中文"])
    session.add(
        Order(
            store_id=store.id or 0,
            platform_order_id="ORM-1",
            status="pending_processing",
            platform_status="Unshipped",
            fulfillment_channel="MFN",
            purchased_at=orm_order.purchased_at,
            platform_updated_at=orm_order.updated_at,
            total_amount="12.50",
            currency="CNY",
            skus=["SKU-A", "中文"],
            synced_at=NOW - timedelta(days=1),
        )
    )
    session.commit()
    # ... and the platform returns it unchanged beside a new one with a non-UTC offset.
    market = MemoryMarketplace("amazon", [orm_order, _order("NEW-1", local, ["SKU-B"])])
    market.orders = {o.order_id: o for o in market.orders.values()}
    result = build_sync(engine, {"Amazon DE": market}).sync_store(store.id or 0)

    assert (result.inserted, result.updated) == (1, 0)  # the ORM's row compared as unchanged
    session.expire_all()
    stored = {o.platform_order_id: o for o in orders_of(session, store)}
    new = stored["NEW-1"]
    assert new.purchased_at == local and new.purchased_at.utcoffset() == timedelta(0)
    assert new.platform_updated_at == local + timedelta(minutes=5)
    assert new.skus == ["SKU-B"] and new.synced_at == NOW
    assert stored["ORM-1"].synced_at == NOW - timedelta(days=1)  # untouched
    # SQL comparisons see both rows' datetimes in one order (text order on SQLite).
    later = session.exec(
        select(Order.platform_order_id).where(col(Order.purchased_at) > local - timedelta(minutes=30))
    ).all()
    assert later == ["NEW-1"]

    # A change on the platform is written over the ORM's row.
    shipped = _order("ORM-1", local - timedelta(hours=1), ["SKU-A"], status="Shipped")
    market.orders["ORM-1"] = PlatformOrder(**{**shipped.__dict__, "updated_at": local + timedelta(hours=1)})
    again = build_sync(engine, {"Amazon DE": market}).sync_store(store.id or 0)
    assert (again.inserted, again.updated) == (0, 1)
    session.expire_all()
    changed = session.exec(select(Order).where(Order.platform_order_id == "ORM-1")).one()
    assert (changed.status, changed.skus) == ("shipped", ["SKU-A"])
    assert changed.purchased_at == datetime(2026, 11, 25, 0, 30, 15, 250000, tzinfo=UTC)
