"""Writing the demo into the database, and keeping an existing demo's times current."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, delete, or_, update
from sqlmodel import Session, col, select

from erp.accounts import add_store, create_account, get_account_by_name, link_slack_user, remove_store
from erp.demo.holdings import (
    _PRICE_CHANGES,
    DE_LISTINGS,
    DEMO_FAILURES,
    MY_LISTINGS,
    NEIGHBOUR_FAILURES,
    ORDER_SHIPPED,
    US_LISTINGS,
    DemoListing,
)
from erp.demo.scenarios import (
    AMAZON_DE,
    AMAZON_US,
    CDN_PLACEHOLDER,
    CONSOLE_TEAM,
    CONSOLE_USER,
    DEMO_ACCOUNT,
    NEIGHBOUR_ACCOUNT,
    NEIGHBOUR_STORE,
    ORDER_WATERMARK_AGE,
    REPORT_AGE,
    SHOPEE_MY,
    STALE_REPORT_AGE,
)
from erp.jobs.report_import import as_utc, import_report_stream
from erp.models import (
    Account,
    AuditLog,
    AuthStatus,
    ConversationState,
    Escalation,
    Feedback,
    FollowUp,
    ImageGrabResult,
    ImageGrabRun,
    LinkCode,
    Order,
    OrderStatus,
    PlatformReport,
    PriceChange,
    Product,
    ProductState,
    PublishAttempt,
    SalesStatus,
    SlackIdentity,
    Store,
    StoreDeletion,
    SyncRun,
    UploadRecord,
    UploadStatus,
    utcnow,
)

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]


def session_factory_of(source: Any) -> SessionFactory:
    """A session factory, or the composition root's parts (whose `session` makes sessions)."""
    if hasattr(source, "session") and callable(source.session):
        return source.session
    if callable(source):
        return source
    raise TypeError("the demo needs a session factory")


@dataclass(frozen=True)
class DemoInfo:
    """What `seed_demo` left in the database."""

    account_id: int
    neighbour_account_id: int
    stores: dict[str, int]  # store name -> id, the demo account's
    created: bool  # False: the demo was already there (its times were moved to now)
    console_team: str = CONSOLE_TEAM
    console_user: str = CONSOLE_USER


def seed_demo(
    session_factory: SessionFactory, *, reset: bool = False, now: datetime | None = None
) -> DemoInfo:
    """Create the demo in the database, or bring an existing one up to date.

    Args:
        session_factory: makes a database session (the composition root's parts also do).
        reset: wipe the demo accounts' data and build it again (other accounts are untouched).
        now: the moment the demo's relative times count from (now by default).

    Returns:
        The demo account, its stores, and whether it was built now.
    """
    now = now or utcnow()
    session_factory = session_factory_of(session_factory)
    with session_factory() as session:
        existing = get_account_by_name(session, DEMO_ACCOUNT)
        if existing is not None and not reset:
            move_times_forward(session, existing, now)
            return _info(session, created=False)
        _wipe(session)
        _build_accounts(session, now)
    _build_reports(session_factory, now)
    with session_factory() as session:
        return _info(session, created=True)


def _info(session: Session, *, created: bool) -> DemoInfo:
    demo = get_account_by_name(session, DEMO_ACCOUNT)
    neighbour = get_account_by_name(session, NEIGHBOUR_ACCOUNT)
    assert demo is not None and demo.id is not None
    stores = session.exec(select(Store).where(Store.account_id == demo.id)).all()
    return DemoInfo(
        account_id=demo.id,
        neighbour_account_id=neighbour.id if neighbour is not None and neighbour.id is not None else 0,
        stores={store.name: store.id or 0 for store in stores},
        created=created,
    )


def demo_accounts(session: Session) -> list[Account]:
    names = (DEMO_ACCOUNT, NEIGHBOUR_ACCOUNT)
    return list(session.exec(select(Account).where(col(Account.name).in_(names))).all())


def _wipe(session: Session) -> None:
    """Remove the demo accounts and everything of theirs; other accounts are not touched."""
    _forget_conversations(session)
    for account in demo_accounts(session):
        account_id = account.id
        for store in session.exec(select(Store).where(Store.account_id == account_id)).all():
            remove_store(session, store=store)
        owned: list[Any] = [PublishAttempt, Escalation, FollowUp, SlackIdentity, LinkCode]
        for model in owned:
            table = model.__table__
            session.execute(delete(table).where(table.c.account_id == account_id))
        referring: list[Any] = [AuditLog, Feedback]
        for model in referring:
            table = model.__table__
            session.execute(update(table).where(table.c.account_id == account_id).values(account_id=None))
        session.execute(delete(Account.__table__).where(Account.__table__.c.id == account_id))  # type: ignore[attr-defined]
        session.commit()
    session.expire_all()


def _forget_conversations(session: Session) -> None:
    """A reset demo starts every conversation of its users afresh: no question left pending.

    Console keys are "console:USER", Slack keys "slack:TEAM:CHANNEL:USER[:thread]".
    """
    ids = [account.id for account in demo_accounts(session)]
    identities = session.exec(select(SlackIdentity).where(col(SlackIdentity.account_id).in_(ids))).all()
    key = col(ConversationState.key)
    conditions = [key == f"console:{CONSOLE_USER}"]
    for identity in identities:
        if identity.team_id == CONSOLE_TEAM:
            conditions.append(key == f"console:{identity.user_id}")
        else:
            conditions.append(key.like(f"slack:{identity.team_id}:%:{identity.user_id}"))
            conditions.append(key.like(f"slack:{identity.team_id}:%:{identity.user_id}:%"))
    session.execute(delete(ConversationState).where(or_(*conditions)))
    session.commit()


def _cdn(name: str) -> str:
    return f"{CDN_PLACEHOLDER}/img/{name}"


def _build_accounts(session: Session, now: datetime) -> None:
    demo = create_account(session, name=DEMO_ACCOUNT, display_name="Demo Home & Kitchen")
    neighbour = create_account(session, name=NEIGHBOUR_ACCOUNT, display_name="Neighbour Trading")
    demo.created_at = now  # the anchor the demo's relative times are moved by
    session.add(demo)
    session.commit()
    link_slack_user(session, team_id=CONSOLE_TEAM, user_id=CONSOLE_USER, account=demo, role="owner")
    assert demo.id is not None and neighbour.id is not None
    # Endpoints and credentials are placeholders until the embedded platforms start.
    us = add_store(
        session,
        account_id=demo.id,
        name=AMAZON_US,
        platform="amazon",
        region="US",
        endpoint="http://127.0.0.1:9",
        marketplace_id="ATVPDKIKX0DEK",
    )
    my = add_store(
        session,
        account_id=demo.id,
        name=SHOPEE_MY,
        platform="shopee",
        region="MY",
        endpoint="http://127.0.0.1:9",
    )
    de = add_store(
        session,
        account_id=demo.id,
        name=AMAZON_DE,
        platform="amazon",
        region="DE",
        endpoint="http://127.0.0.1:9",
        marketplace_id="A1PA6795UKMFR9",
    )
    sg = add_store(
        session,
        account_id=neighbour.id,
        name=NEIGHBOUR_STORE,
        platform="shopee",
        region="SG",
        endpoint="http://127.0.0.1:9",
    )
    de.auth_status = AuthStatus.EXPIRED
    de.auth_error = "The authorization of Amazon DE has expired: authorize the store again."
    de.last_order_sync_error = de.auth_error
    de.last_order_sync_at = now - STALE_REPORT_AGE
    de.last_report_import_at = now - STALE_REPORT_AGE
    de.last_report_import_error = de.auth_error
    for store in (us, my):
        store.order_watermark = now - ORDER_WATERMARK_AGE
        store.last_order_sync_at = now - ORDER_WATERMARK_AGE
        store.last_report_import_at = now - REPORT_AGE
    session.add_all([us, my, de, sg])
    session.commit()
    for store, listings in ((us, US_LISTINGS), (my, MY_LISTINGS), (de, DE_LISTINGS)):
        _add_products(session, demo.id, store, listings, now)
    _add_sku_states(session, demo.id, us, now)
    _add_price_changes(session, us, now)
    _add_orders(session, us, my, de, now)
    _add_image_grab(session, us, now)
    _add_publish_attempts(session, demo.id, neighbour.id, us, my, sg, now)
    session.commit()


def _add_products(
    session: Session, account_id: int, store: Store, listings: tuple[DemoListing, ...], now: datetime
) -> None:
    currency = {"US": "USD", "MY": "MYR", "DE": "EUR"}.get(store.region, "USD")
    for index, listing in enumerate(listings):
        created = now - timedelta(days=40 - index)
        session.add(
            Product(
                account_id=account_id,
                store_id=store.id or 0,
                sku=listing.sku,
                title=listing.title,
                price=listing.price,
                currency=currency,
                image_urls=[_cdn(name) for name in listing.images],
                has_picture=bool(listing.images),
                uploaded=True,
                created_at=created,
            )
        )
        status = UploadStatus.FAILED if listing.sku == "DEMO-UP-FAILED" else UploadStatus.UPLOADED
        error = (
            "Listing rejected: the main image is missing (code 8541)" if status == UploadStatus.FAILED else ""
        )
        session.add(
            UploadRecord(
                store_id=store.id or 0,
                sku=listing.sku,
                status=status,
                error=error,
                created_at=created,
                updated_at=created + timedelta(hours=1),
            )
        )
    session.commit()


def _product(session: Session, store: Store, sku: str) -> Product:
    return session.exec(select(Product).where(Product.store_id == store.id, Product.sku == sku)).one()


def _add_sku_states(session: Session, account_id: int, us: Store, now: datetime) -> None:
    """The SKUs whose state in the product list is the point: deleted, renamed, pictures."""
    store_id = us.id or 0
    session.add(
        Product(
            account_id=account_id,
            store_id=store_id,
            sku="DEMO-UP-DELETED",
            title="Bamboo tray",
            state=ProductState.DELETED,
            state_changed_at=now - timedelta(days=3),
            price="19.00",
            currency="USD",
            image_urls=[_cdn("ok.jpg")],
            has_picture=True,
            uploaded=True,
            created_at=now - timedelta(days=30),
        )
    )
    session.add(
        Product(
            account_id=account_id,
            store_id=store_id,
            sku="DEMO-UP-OLD",
            title="Oak serving board",
            state=ProductState.CHANGED,
            changed_to_sku="DEMO-UP-NEW",
            state_changed_at=now - timedelta(days=1),
            price="29.00",
            currency="USD",
            image_urls=[_cdn("ok.jpg")],
            has_picture=True,
            uploaded=True,
            created_at=now - timedelta(days=30),
        )
    )
    edited = _product(session, us, "DEMO-IMG-EDITED")
    edited.picture_system_modified_at = now - timedelta(days=2)
    stopped = _product(session, us, "DEMO-IMG-STOPPED")
    stopped.sales_status = SalesStatus.STOPPED
    session.add_all([edited, stopped])
    # The upload page is built from the product list; these SKUs never got a record.
    session.execute(
        delete(UploadRecord.__table__).where(  # type: ignore[attr-defined]
            UploadRecord.__table__.c.store_id == store_id,  # type: ignore[attr-defined]
            UploadRecord.__table__.c.sku.in_(["DEMO-UP-NEW", "DEMO-IMG-NOPIC"]),  # type: ignore[attr-defined]
        )
    )
    session.add(
        UploadRecord(
            store_id=store_id,
            sku="DEMO-UP-NEW",
            status=UploadStatus.UPLOADED,
            created_at=now - timedelta(days=1),
            updated_at=now - timedelta(hours=20),
        )
    )
    session.add(
        UploadRecord(
            store_id=store_id,
            sku="DEMO-IMG-NOPIC",
            status=UploadStatus.UPLOADED,
            created_at=now - timedelta(days=2),
            updated_at=now - timedelta(days=2),
        )
    )
    session.commit()


def _add_price_changes(session: Session, us: Store, now: datetime) -> None:
    for sku, old, new, status, saved, submitted, decided, reason in _PRICE_CHANGES:
        session.add(
            PriceChange(
                store_id=us.id or 0,
                sku=sku,
                old_price=old,
                new_price=new,
                currency="USD",
                status=status,
                created_at=now - saved,
                submitted_at=now - submitted if submitted else None,
                decided_at=now - decided if decided else None,
                reject_reason=reason,
                platform_request_id=f"demo-{sku.lower()}" if submitted else "",
            )
        )
        product = _product(session, us, sku)
        product.price = new  # the software shows the price the seller saved
        session.add(product)
    session.commit()


def _order(store: Store, order_id: str, status: str, placed: datetime, skus: list[str]) -> Order:
    return Order(
        store_id=store.id or 0,
        platform_order_id=order_id,
        status=status,
        platform_status={"shipped": "Shipped", "pending_processing": "Unshipped"}.get(status, status),
        fulfillment_channel="MFN",
        purchased_at=placed,
        platform_updated_at=placed + timedelta(hours=4),
        total_amount="21.00",
        currency="USD",
        skus=skus,
        synced_at=placed + timedelta(hours=5),
    )


def _add_orders(session: Session, us: Store, my: Store, de: Store, now: datetime) -> None:
    session.add(_order(us, ORDER_SHIPPED, OrderStatus.SHIPPED, now - timedelta(days=3), ["DEMO-REP-OK"]))
    # Rule (c) of the image grab counts orders of the last 30 days.
    for number, days in enumerate((2, 9, 20), start=1):
        session.add(
            _order(
                us,
                f"112-1000000-000000{number}",
                OrderStatus.SHIPPED,
                now - timedelta(days=days),
                ["DEMO-IMG-SELLING"],
            )
        )
    for number, days in enumerate((5, 12), start=1):
        session.add(
            _order(
                us,
                f"112-2000000-000000{number}",
                OrderStatus.SHIPPED,
                now - timedelta(days=days),
                ["DEMO-IMG-STOPPED"],
            )
        )
    for number, sku in enumerate(("DEMO-MY-1", "DEMO-MY-2", "DEMO-MY-3"), start=1):
        order = _order(
            my,
            f"2611{number:02d}0DEMO00{number}",
            OrderStatus.SHIPPED,
            now - timedelta(days=number * 4),
            [sku],
        )
        order.currency, order.platform_status, order.fulfillment_channel = "MYR", "COMPLETED", ""
        session.add(order)
    old = _order(de, "302-5000000-0000001", OrderStatus.SHIPPED, now - timedelta(days=8), ["DEMO-DE-1"])
    old.currency = "EUR"
    session.add(old)
    session.commit()


def _last_night(now: datetime) -> datetime:
    run = now.replace(hour=3, minute=0, second=0, microsecond=0)
    return run if run <= now - timedelta(minutes=30) else run - timedelta(days=1)


def _add_image_grab(session: Session, us: Store, now: datetime) -> None:
    at = _last_night(now)
    run = ImageGrabRun(
        started_at=at, finished_at=at + timedelta(minutes=4), considered=2, grabbed=1, failed=1
    )
    session.add(run)
    session.commit()
    done = _product(session, us, "DEMO-IMG-DONE")
    fail = _product(session, us, "DEMO-IMG-FAIL")
    done.picture_system_modified_at = at - timedelta(days=1)  # rule (b) picked it last night
    fail.picture_system_modified_at = at - timedelta(days=1)
    session.add_all([done, fail])
    session.add(
        ImageGrabResult(
            run_id=run.id or 0,
            product_id=done.id or 0,
            rule="b",
            outcome="grabbed",
            at=at + timedelta(minutes=1),
        )
    )
    session.add(
        ImageGrabResult(
            run_id=run.id or 0,
            product_id=fail.id or 0,
            rule="b",
            outcome="failed",
            detail="the picture could not be downloaded: HTTP 404 (not found)",
            at=at + timedelta(minutes=2),
        )
    )
    session.commit()


def _add_publish_attempts(
    session: Session, demo_id: int, neighbour_id: int, us: Store, my: Store, sg: Store, now: datetime
) -> None:
    def attempt(
        account_id: int, store: Store, sku: str, minutes: int, ok: bool, code: str, message: str
    ) -> None:
        product = session.exec(
            select(Product).where(Product.store_id == store.id, Product.sku == sku)
        ).first()
        session.add(
            PublishAttempt(
                account_id=account_id,
                store_id=store.id or 0,
                platform=store.platform,
                sku=sku,
                at=now - timedelta(minutes=minutes),
                ok=ok,
                error_code=code,
                error_message=message,
                image_urls=list(product.image_urls) if product else [],
            )
        )

    attempt(demo_id, us, "DEMO-PUB-CMYK", 40, False, "8560", "The image could not be processed")
    attempt(demo_id, us, "DEMO-PUB-LOST", 35, False, "8560", "The image could not be processed")
    attempt(demo_id, us, "DEMO-PUB-OK", 30, False, "8560", "The image could not be processed")
    for index in range(DEMO_FAILURES):
        attempt(demo_id, my, "DEMO-PUB-FLAKY", 5 + index * 9, False, "error_image", "Image upload failed")
    for index in range(NEIGHBOUR_FAILURES):
        attempt(
            neighbour_id,
            sg,
            f"NB-{index + 1:03d}",
            3 + index * 7,
            False,
            "error_image",
            "Image upload failed",
        )
    attempt(demo_id, us, "DEMO-UP-OK", 60 * 26, True, "", "")
    session.commit()


# --- reports ---------------------------------------------------------------------------------


def _report_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _listings_tsv(listings: list[DemoListing], opened: datetime) -> Iterator[bytes]:
    columns = (
        "item-name",
        "seller-sku",
        "price",
        "quantity",
        "open-date",
        "asin1",
        "fulfillment-channel",
        "status",
    )
    yield ("\t".join(columns) + "\n").encode()
    for index, listing in enumerate(listings):
        row = (
            listing.title.replace("\u00fc", "&uuml;"),
            listing.sku,
            listing.price,
            str(5 + index),
            _report_date(opened),
            f"B0DEMO{index:04d}",
            "DEFAULT",
            "Active",
        )
        yield ("\t".join(row) + "\n").encode()


def _inventory_tsv(listings: list[DemoListing]) -> Iterator[bytes]:
    columns = ("sku", "fnsku", "asin", "product-name", "condition", "your-price", "afn-fulfillable-quantity")
    yield ("\t".join(columns) + "\n").encode()
    for index, listing in enumerate(listings):
        row = (
            listing.sku,
            f"X00DEMO{index:04d}",
            f"B0DEMO{index:04d}",
            listing.title,
            "New",
            listing.price,
            str(index % 4),
        )
        yield ("\t".join(row) + "\n").encode()


def _build_reports(session_factory: SessionFactory, now: datetime) -> None:
    """The imported reports, through the real import: Amazon US and Shopee MY's from last night,
    Amazon DE's five days old (its refreshes fail since its authorization expired)."""
    with session_factory() as session:
        stores = {s.name: s for s in session.exec(select(Store)).all()}
        demo = get_account_by_name(session, DEMO_ACCOUNT)
        assert demo is not None
        mine = {name: store for name, store in stores.items() if store.account_id == demo.id}
    plans = (
        (mine[AMAZON_US], US_LISTINGS, now - REPORT_AGE, True),
        (mine[SHOPEE_MY], MY_LISTINGS, now - REPORT_AGE, False),
        (mine[AMAZON_DE], DE_LISTINGS, now - STALE_REPORT_AGE, True),
    )
    for store, listings, generated, has_inventory in plans:
        reported = [item for item in listings if item.in_report]
        opened = generated - timedelta(days=60)
        import_report_stream(
            session_factory,
            store.id or 0,
            "listings",
            _listings_tsv(reported, opened),
            source="platform",
            platform_report_id="demo-listings",
            generated_at=generated,
            audited=False,  # the demo's history, not an action anyone took
        )
        if has_inventory:
            import_report_stream(
                session_factory,
                store.id or 0,
                "inventory",
                _inventory_tsv(reported),
                source="platform",
                platform_report_id="demo-inventory",
                generated_at=generated,
                audited=False,
            )
    with session_factory() as session:
        for report in session.exec(select(PlatformReport)).all():
            if report.store_id in {s.id for s in mine.values()}:
                generated_at = as_utc(report.generated_at) or now
                report.requested_at = generated_at - timedelta(minutes=20)
                report.imported_at = generated_at + timedelta(minutes=5)
                session.add(report)
        session.commit()


# --- keeping an existing demo current ---------------------------------------------------------

_STORE_OWNED: tuple[type[Any], ...] = (
    Order,
    Product,
    UploadRecord,
    PlatformReport,
    PriceChange,
    PublishAttempt,
    SyncRun,
    StoreDeletion,
)


def _datetime_columns(model: type[Any]) -> list[str]:
    names = []
    for column in model.__table__.columns:
        # Plain DateTime, or a type decorating it (the models' UTC-aware datetimes).
        kind = getattr(column.type, "impl", column.type)
        if isinstance(kind, DateTime) or isinstance(column.type, DateTime):
            names.append(column.name)
    return names


def move_times_forward(session: Session, demo: Account, now: datetime) -> None:
    """Shift every time of the demo accounts' data by the time passed since it was last set."""
    anchor = as_utc(demo.created_at)
    if anchor is None or now - anchor < timedelta(minutes=1):
        return
    delta = now - anchor
    accounts = demo_accounts(session)
    account_ids = [account.id for account in accounts]
    stores = session.exec(select(Store).where(col(Store.account_id).in_(account_ids))).all()
    store_ids = [store.id for store in stores]
    rows: list[Any] = [*accounts, *stores]
    for model in _STORE_OWNED:
        rows.extend(session.exec(select(model).where(col(model.store_id).in_(store_ids))).all())
    product_ids = [row.id for row in rows if isinstance(row, Product)]
    rows.extend(
        session.exec(select(ImageGrabResult).where(col(ImageGrabResult.product_id).in_(product_ids))).all()
    )
    for row in rows:
        for name in _datetime_columns(type(row)):
            value = as_utc(getattr(row, name))
            if value is not None:
                setattr(row, name, value + delta)
        session.add(row)
    session.commit()
    log.info("demo times moved forward by %s", delta)
