"""The embedded demo: a seller account whose data reaches every flow's interesting verdicts.

`seed_demo` writes the demo into the database: account `demo` (console user `demo`, the owner)
with stores "Amazon US", "Shopee MY" and "Amazon DE" (whose authorization has expired), and a
second account `neighbour` whose failed publishes make Shopee look unstable. Every SKU, order and
picture named in `DEMO_SCENARIOS` is set up for one verdict. `start_embedded_platforms` starts the
sandbox marketplaces and the demo image host holding the platform side of the same story, and
points the demo stores at them (their ports change on every start).

The demo's times are relative ("approved 2 hours ago"): when an existing demo is seeded again,
its times move forward by the time that passed, so the verdicts hold on any day.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import DateTime, delete, update
from sqlmodel import Session, col, select

from erp.accounts import add_store, create_account, get_account_by_name, link_slack_user, remove_store
from erp.jobs.report_import import as_utc, import_report_stream
from erp.models import (
    Account,
    AuditLog,
    AuthStatus,
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
    PriceChangeStatus,
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


def _session_factory(source: Any) -> SessionFactory:
    """A session factory, or the composition root's parts (whose `session` makes sessions)."""
    if hasattr(source, "session") and callable(source.session):
        return source.session
    if callable(source):
        return source
    raise TypeError("the demo needs a session factory")


DEMO_ACCOUNT = "demo"
NEIGHBOUR_ACCOUNT = "neighbour"
CONSOLE_TEAM = "console"  # the console speaks as Slack identity (team "console", user NAME)
CONSOLE_USER = "demo"
AMAZON_US = "Amazon US"
SHOPEE_MY = "Shopee MY"
AMAZON_DE = "Amazon DE"
NEIGHBOUR_STORE = "Shopee SG"
CDN_PLACEHOLDER = "{cdn}"  # the demo image host's base URL in stored picture links and scenarios
# How old the imported reports are: older than the newest price approval (5 h) for the
# "report behind" verdicts, newer than the oldest (2 days) for "still wrong".
REPORT_AGE = timedelta(hours=10)
STALE_REPORT_AGE = timedelta(days=5)
ORDER_WATERMARK_AGE = timedelta(hours=6)


class DemoScenario(NamedTuple):
    """What a seller types to reach one verdict of one flow in the demo."""

    flow: str
    verdict: str
    question: str  # English; picture links carry the `{cdn}` placeholder

    @property
    def text(self) -> str:
        return self.question


class ScenarioTable(list[DemoScenario]):
    """The scenarios in order; also readable as a mapping (flow, verdict) -> scenario."""

    def items(self) -> list[tuple[tuple[str, str], DemoScenario]]:
        """((flow, verdict), scenario) pairs, in order (a verdict reached two ways appears twice)."""
        return [((scenario.flow, scenario.verdict), scenario) for scenario in self]

    def for_verdict(self, flow: str, verdict: str) -> list[DemoScenario]:
        return [scenario for scenario in self if (scenario.flow, scenario.verdict) == (flow, verdict)]


DEMO_SCENARIOS = ScenarioTable(
    [
        DemoScenario(
            "price_not_updated",
            "not_submitted",
            "I changed the price of DEMO-PRICE-DRAFT but it did not update",
        ),
        DemoScenario(
            "price_not_updated", "awaiting_approval", "The new price of DEMO-PRICE-PENDING is not showing"
        ),
        DemoScenario("price_not_updated", "rejected", "Why is the price of DEMO-PRICE-REJECTED not updated?"),
        DemoScenario(
            "price_not_updated",
            "waiting_for_report",
            "I changed the price of DEMO-PRICE-WAIT, it still shows the old one",
        ),
        DemoScenario(
            "price_not_updated",
            "live_report_behind",
            "The price change of DEMO-PRICE-LIVE does not show in the system",
        ),
        DemoScenario(
            "price_not_updated",
            "still_wrong",
            "The price of DEMO-PRICE-STUCK still has not updated after two days",
        ),
        DemoScenario(
            "upload_sku_missing", "present", "DEMO-UP-OK was uploaded but I can't find its upload record"
        ),
        DemoScenario(
            "upload_sku_missing",
            "hidden_by_filter",
            "DEMO-UP-FAILED has no record on the product upload page",
        ),
        DemoScenario(
            "upload_sku_missing", "deleted", "I uploaded DEMO-UP-DELETED but there is no upload record"
        ),
        DemoScenario("upload_sku_missing", "changed", "DEMO-UP-OLD has no record on the upload page"),
        DemoScenario(
            "upload_sku_missing",
            "not_in_product_list",
            "DEMO-UP-MISSING was uploaded but the upload page has no record of it",
        ),
        DemoScenario(
            "image_grab", "eligible_tonight", "When will the pictures of DEMO-IMG-NOPIC be grabbed?"
        ),
        DemoScenario("image_grab", "eligible_tonight", "Will the images of DEMO-IMG-EDITED be captured?"),
        DemoScenario(
            "image_grab", "eligible_tonight", "When are the product images of DEMO-IMG-SELLING captured?"
        ),
        DemoScenario("image_grab", "not_eligible", "Why are the pictures of DEMO-IMG-STOPPED not grabbed?"),
        DemoScenario("image_grab", "grabbed", "Were the images of DEMO-IMG-DONE grabbed?"),
        DemoScenario("image_grab", "last_grab_failed", "When will the images of DEMO-IMG-FAIL be grabbed?"),
        # A fresh report (which any product question may request) brings DEMO-REP-NEW in: ask first.
        DemoScenario(
            "product_sku_missing",
            "in_newer_report",
            "Why is there no record of DEMO-REP-NEW on the product page?",
        ),
        DemoScenario("product_sku_missing", "present", "The product page has no record of DEMO-REP-OK"),
        DemoScenario(
            "product_sku_missing", "omitted_by_platform", "DEMO-REP-OMIT is missing from the product page"
        ),
        DemoScenario("product_sku_missing", "reports_stale", "The product page has no record of DEMO-DE-1"),
        DemoScenario("orders_not_synced", "synced", "Order 112-0000001-0000001 did not sync"),
        DemoScenario(
            "orders_not_synced",
            "other_status",
            "Order 112-0000002-0000002 is not in my orders, it did not synchronize",
        ),
        DemoScenario("orders_not_synced", "on_platform_not_synced", "Order 112-0000003-0000003 did not sync"),
        DemoScenario(
            "orders_not_synced", "not_on_platform", "Order 112-9999999-9999999 from Amazon US did not sync"
        ),
        DemoScenario("orders_not_synced", "sync_failed", "Orders from Amazon DE did not sync"),
        DemoScenario("orders_not_synced", "synced", "Shopee order 2611260ABCDEF1 did not sync"),
        DemoScenario("image_not_displaying", "loads_fine", "The picture {cdn}/img/ok.jpg does not display"),
        DemoScenario(
            "image_not_displaying", "unreachable", "The picture {cdn}/img/missing.jpg does not show"
        ),
        DemoScenario("image_not_displaying", "damaged", "The picture {cdn}/img/split.jpg displays split"),
        DemoScenario(
            "image_not_displaying", "not_an_image", "The picture {cdn}/img/page.html does not display"
        ),
        DemoScenario("publish_image_error", "not_rgb", "Publishing DEMO-PUB-CMYK says the picture is wrong"),
        DemoScenario(
            "publish_image_error", "image_lost", "Publishing DEMO-PUB-LOST fails with a picture error"
        ),
        DemoScenario(
            "publish_image_error", "platform_unstable", "Publishing DEMO-PUB-FLAKY reports a wrong picture"
        ),
        DemoScenario("publish_image_error", "all_fine", "Publishing DEMO-PUB-OK reported a picture error"),
        DemoScenario("delete_store_data", "explained", "How do I delete the data of store Shopee MY?"),
    ]
)

# The same questions in Chinese, by the English question: the `demo` command lists both.
DEMO_QUESTIONS_ZH: dict[str, str] = {
    "I changed the price of DEMO-PRICE-DRAFT but it did not update": (
        "我修改了 DEMO-PRICE-DRAFT 的价格，但是没有更新"
    ),
    "The new price of DEMO-PRICE-PENDING is not showing": "DEMO-PRICE-PENDING 的新价格没有显示",
    "Why is the price of DEMO-PRICE-REJECTED not updated?": "为什么 DEMO-PRICE-REJECTED 的价格没有更新？",
    "I changed the price of DEMO-PRICE-WAIT, it still shows the old one": (
        "我改了 DEMO-PRICE-WAIT 的价格，还是显示旧价格"
    ),
    "The price change of DEMO-PRICE-LIVE does not show in the system": (
        "DEMO-PRICE-LIVE 改价后系统里没有显示新价格"
    ),
    "The price of DEMO-PRICE-STUCK still has not updated after two days": (
        "DEMO-PRICE-STUCK 的价格两天了还没有更新"
    ),
    "DEMO-UP-OK was uploaded but I can't find its upload record": "DEMO-UP-OK 已经上传了，但是找不到上传记录",
    "DEMO-UP-FAILED has no record on the product upload page": "DEMO-UP-FAILED 在产品上传页面没有记录",
    "I uploaded DEMO-UP-DELETED but there is no upload record": "我上传了 DEMO-UP-DELETED，但是没有上传记录",
    "DEMO-UP-OLD has no record on the upload page": "DEMO-UP-OLD 在上传页面没有记录",
    "DEMO-UP-MISSING was uploaded but the upload page has no record of it": (
        "DEMO-UP-MISSING 上传了，但上传页面没有它的记录"
    ),
    "When will the pictures of DEMO-IMG-NOPIC be grabbed?": "DEMO-IMG-NOPIC 的图片什么时候抓取？",
    "Will the images of DEMO-IMG-EDITED be captured?": "DEMO-IMG-EDITED 的图片会被抓取吗？",
    "When are the product images of DEMO-IMG-SELLING captured?": "DEMO-IMG-SELLING 的产品图片什么时候抓取？",
    "Why are the pictures of DEMO-IMG-STOPPED not grabbed?": "为什么 DEMO-IMG-STOPPED 的图片没有被抓取？",
    "Were the images of DEMO-IMG-DONE grabbed?": "DEMO-IMG-DONE 的图片抓取了吗？",
    "When will the images of DEMO-IMG-FAIL be grabbed?": "DEMO-IMG-FAIL 的图片什么时候抓取？",
    "The product page has no record of DEMO-REP-OK": "产品页面没有 DEMO-REP-OK 的记录",
    "DEMO-REP-OMIT is missing from the product page": "产品页面上缺少 DEMO-REP-OMIT",
    "Why is there no record of DEMO-REP-NEW on the product page?": "为什么产品页面没有 DEMO-REP-NEW 的记录？",
    "The product page has no record of DEMO-DE-1": "产品页面没有 DEMO-DE-1 的记录",
    "Order 112-0000001-0000001 did not sync": "订单 112-0000001-0000001 没有同步",
    "Order 112-0000002-0000002 is not in my orders, it did not synchronize": (
        "订单 112-0000002-0000002 不在我的订单里，没有同步过来"
    ),
    "Order 112-0000003-0000003 did not sync": "订单 112-0000003-0000003 没有同步",
    "Order 112-9999999-9999999 from Amazon US did not sync": "Amazon US 的订单 112-9999999-9999999 没有同步",
    "Orders from Amazon DE did not sync": "Amazon DE 的订单没有同步",
    "Shopee order 2611260ABCDEF1 did not sync": "Shopee 订单 2611260ABCDEF1 没有同步",
    "The picture {cdn}/img/ok.jpg does not display": "图片 {cdn}/img/ok.jpg 显示不出来",
    "The picture {cdn}/img/missing.jpg does not show": "图片 {cdn}/img/missing.jpg 显示不了",
    "The picture {cdn}/img/split.jpg displays split": "图片 {cdn}/img/split.jpg 显示裂开了",
    "The picture {cdn}/img/page.html does not display": "图片 {cdn}/img/page.html 显示不出来",
    "Publishing DEMO-PUB-CMYK says the picture is wrong": "刊登 DEMO-PUB-CMYK 时提示图片错误",
    "Publishing DEMO-PUB-LOST fails with a picture error": "刊登 DEMO-PUB-LOST 失败，提示图片错误",
    "Publishing DEMO-PUB-FLAKY reports a wrong picture": "刊登 DEMO-PUB-FLAKY 提示图片有误",
    "Publishing DEMO-PUB-OK reported a picture error": "刊登 DEMO-PUB-OK 时报了图片错误",
    "How do I delete the data of store Shopee MY?": "怎么删除店铺 Shopee MY 的数据？",
}


def question_zh(scenario: DemoScenario) -> str:
    """The Chinese question of a scenario."""
    return DEMO_QUESTIONS_ZH.get(scenario.question, scenario.question)


def scenario_text(text: str, cdn_url: str) -> str:
    """A scenario's question with the demo image host's address filled in."""
    return text.replace(CDN_PLACEHOLDER, cdn_url.rstrip("/"))


# --- what the demo holds ---------------------------------------------------------------------


class _Listing(NamedTuple):
    """A product of a demo store: the ERP's product list row and the platform's listing."""

    sku: str
    title: str
    price: str  # the price in the ERP and in the imported report
    live_price: str = ""  # the platform's price now, when it differs
    in_report: bool = True  # in the imported listings report
    on_platform: bool = True
    images: tuple[str, ...] = ("ok.jpg",)


_US_LISTINGS: tuple[_Listing, ...] = (
    _Listing("DEMO-PRICE-DRAFT", "Ceramic mug, blue", "19.99"),
    _Listing("DEMO-PRICE-PENDING", "Ceramic mug, green", "19.99"),
    _Listing("DEMO-PRICE-REJECTED", "Espresso cups, set of 6", "24.99"),
    _Listing("DEMO-PRICE-WAIT", "Tea pot, 1 l", "34.99"),
    _Listing("DEMO-PRICE-LIVE", "Tea pot, 1.5 l", "39.99", live_price="36.99"),
    _Listing("DEMO-PRICE-STUCK", "Milk jug", "14.99"),
    _Listing("DEMO-UP-OK", "Bamboo cutting board", "22.00"),
    _Listing("DEMO-UP-FAILED", "Bamboo spoon set", "12.00"),
    _Listing("DEMO-UP-NEW", "Oak serving board", "29.00"),
    _Listing("DEMO-IMG-NOPIC", "Linen napkins, set of 4", "18.00", images=()),
    _Listing("DEMO-IMG-EDITED", "Linen table runner", "26.00"),
    _Listing("DEMO-IMG-SELLING", "Cotton apron", "21.00"),
    _Listing("DEMO-IMG-STOPPED", "Oven mitts", "11.00"),
    _Listing("DEMO-IMG-DONE", "Tea towels, set of 3", "15.00"),
    _Listing("DEMO-IMG-FAIL", "Bread basket", "17.00", images=("missing.jpg",)),
    _Listing("DEMO-REP-OK", "Glass storage jar", "9.99"),
    _Listing("DEMO-REP-OMIT", "Glass storage jar, large", "12.99", in_report=False),
    _Listing("DEMO-REP-NEW", "Glass storage jar, small", "7.99", in_report=False),
    _Listing("DEMO-PUB-CMYK", "Enamel mug", "13.50", images=("ok.jpg", "cmyk.jpg")),
    _Listing("DEMO-PUB-LOST", "Enamel plate", "15.50", images=("ok.jpg", "missing.jpg")),
    _Listing("DEMO-PUB-OK", "Enamel bowl", "14.50", images=("ok.jpg",)),
)
_MY_LISTINGS: tuple[_Listing, ...] = (
    _Listing("DEMO-PUB-FLAKY", "Rattan basket", "59.00", images=("ok.jpg",)),
    _Listing("DEMO-MY-1", "Batik cushion cover", "35.00"),
    _Listing("DEMO-MY-2", "Songket table runner", "89.00"),
    _Listing("DEMO-MY-3", "Pandan leaf coaster set", "25.00"),
)
_DE_LISTINGS: tuple[_Listing, ...] = (
    _Listing("DEMO-DE-1", "Kaffeebecher f\u00fcr zwei", "12.90"),
    _Listing("DEMO-DE-2", "Teekanne aus Glas", "29.90"),
)
# (sku, old price, new price, status, saved, submitted, decided ago; reject reason)
_PRICE_CHANGES: tuple[tuple[str, str, str, str, timedelta, timedelta | None, timedelta | None, str], ...] = (
    ("DEMO-PRICE-DRAFT", "19.99", "17.99", PriceChangeStatus.DRAFT, timedelta(hours=1), None, None, ""),
    (
        "DEMO-PRICE-PENDING",
        "19.99",
        "18.49",
        PriceChangeStatus.SUBMITTED,
        timedelta(hours=3, minutes=5),
        timedelta(hours=3),
        None,
        "",
    ),
    (
        "DEMO-PRICE-REJECTED",
        "24.99",
        "249.99",
        PriceChangeStatus.REJECTED,
        timedelta(days=1, hours=2),
        timedelta(days=1, hours=1),
        timedelta(days=1),
        "Price exceeds the maximum allowed for this category",
    ),
    (
        "DEMO-PRICE-WAIT",
        "34.99",
        "31.99",
        PriceChangeStatus.APPROVED,
        timedelta(hours=4),
        timedelta(hours=3),
        timedelta(hours=2),
        "",
    ),
    (
        "DEMO-PRICE-LIVE",
        "39.99",
        "36.99",
        PriceChangeStatus.APPROVED,
        timedelta(hours=7),
        timedelta(hours=6),
        timedelta(hours=5),
        "",
    ),
    (
        "DEMO-PRICE-STUCK",
        "14.99",
        "12.99",
        PriceChangeStatus.APPROVED,
        timedelta(days=2, hours=2),
        timedelta(days=2, hours=1),
        timedelta(days=2),
        "",
    ),
)
ORDER_SYNCED_LATER = "112-0000001-0000001"  # on Amazon, not yet in the ERP: a sync brings it
ORDER_SHIPPED = "112-0000002-0000002"  # in the ERP as shipped
ORDER_HIDDEN = "112-0000003-0000003"  # on Amazon, left out of its order list: the sync cannot bring it
ORDER_NOWHERE = "112-9999999-9999999"
SHOPEE_ORDER = "2611260ABCDEF1"  # on Shopee, not yet in the ERP
NEIGHBOUR_FAILURES = 7  # with the demo's 5 on Shopee: 12 failed publishes in the last hour
DEMO_FAILURES = 5


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
    session_factory = _session_factory(session_factory)
    with session_factory() as session:
        existing = get_account_by_name(session, DEMO_ACCOUNT)
        if existing is not None and not reset:
            _move_times_forward(session, existing, now)
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


def _demo_accounts(session: Session) -> list[Account]:
    names = (DEMO_ACCOUNT, NEIGHBOUR_ACCOUNT)
    return list(session.exec(select(Account).where(col(Account.name).in_(names))).all())


def _wipe(session: Session) -> None:
    """Remove the demo accounts and everything of theirs; other accounts are not touched."""
    for account in _demo_accounts(session):
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
    for store, listings in ((us, _US_LISTINGS), (my, _MY_LISTINGS), (de, _DE_LISTINGS)):
        _add_products(session, demo.id, store, listings, now)
    _add_sku_states(session, demo.id, us, now)
    _add_price_changes(session, us, now)
    _add_orders(session, us, my, de, now)
    _add_image_grab(session, us, now)
    _add_publish_attempts(session, demo.id, neighbour.id, us, my, sg, now)
    session.commit()


def _add_products(
    session: Session, account_id: int, store: Store, listings: tuple[_Listing, ...], now: datetime
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


def _listings_tsv(listings: list[_Listing], opened: datetime) -> Iterator[bytes]:
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


def _inventory_tsv(listings: list[_Listing]) -> Iterator[bytes]:
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
        (mine[AMAZON_US], _US_LISTINGS, now - REPORT_AGE, True),
        (mine[SHOPEE_MY], _MY_LISTINGS, now - REPORT_AGE, False),
        (mine[AMAZON_DE], _DE_LISTINGS, now - STALE_REPORT_AGE, True),
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


def _move_times_forward(session: Session, demo: Account, now: datetime) -> None:
    """Shift every time of the demo accounts' data by the time passed since it was last set."""
    anchor = as_utc(demo.created_at)
    if anchor is None or now - anchor < timedelta(minutes=1):
        return
    delta = now - anchor
    accounts = _demo_accounts(session)
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


# --- the platforms' side ------------------------------------------------------------------------


@dataclass
class EmbeddedPlatforms:
    """The running sandbox marketplaces and image host of the demo."""

    amazon_us: Any
    amazon_de: Any
    shopee_my: Any
    shopee_neighbour: Any
    cdn: Any
    cdn_url: str
    allow_hosts: tuple[str, ...]
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """Stop every server (safe to call twice)."""
        if self._stopped:
            return
        self._stopped = True
        for server in (self.amazon_us, self.amazon_de, self.shopee_my, self.shopee_neighbour, self.cdn):
            try:
                server.stop()
            except Exception:  # one server failing to stop must not keep the others running
                log.exception("stopping a demo server failed")

    def __enter__(self) -> EmbeddedPlatforms:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


_DEMO_IMAGE_PREFIX = re.compile(r"^(?:\{cdn\}|http://127\.0\.0\.1:\d+)/img/")


def _platform_listing(listing: _Listing, cdn_url: str, item_id: str, currency: str) -> Any:
    from erp.sandbox.records import SandboxListing

    return SandboxListing(
        sku=listing.sku,
        item_id=item_id,
        title=listing.title,
        price=listing.live_price or listing.price,
        currency=currency,
        quantity=7,
        image_urls=[f"{cdn_url}/img/{name}" for name in listing.images],
    )


def start_embedded_platforms(
    session_factory: SessionFactory, *, now: datetime | None = None
) -> EmbeddedPlatforms:
    """Start the demo's sandbox marketplaces and image host, and point the demo stores at them.

    The platforms hold what the database's story needs: orders not yet synced (one hidden from
    the order list), listings with their live prices (one already at its new price), a SKU the
    listings report omits, and Amazon DE rejecting the store's refresh token.

    Args:
        session_factory: makes a database session (the composition root's parts also do).
        now: the moment the demo's relative times count from (now by default).

    Returns:
        The running servers; call `stop()` when done.

    Raises:
        LookupError: the database holds no demo (`seed_demo` makes one).
    """
    from erp.sandbox.amazon import MARKETPLACES, AmazonSandbox, AmazonSandboxData
    from erp.sandbox.cdn import DemoImageHost
    from erp.sandbox.records import OrderLine, SandboxOrder
    from erp.sandbox.shopee import ShopeeSandbox, ShopeeSandboxData

    now = now or utcnow()
    session_factory = _session_factory(session_factory)
    with session_factory() as session:
        demo = get_account_by_name(session, DEMO_ACCOUNT)
        if demo is None:
            raise LookupError("there is no demo in this database: run `python app.py demo` first")
        _move_times_forward(session, demo, now)
    started: list[Any] = []
    try:
        cdn = DemoImageHost()
        cdn_url = cdn.start()
        started.append(cdn)

        amazon_us = AmazonSandbox(AmazonSandboxData(marketplace_id=MARKETPLACES["US"]))
        amazon_us.add_listings(
            *(
                _platform_listing(item, cdn_url, f"B0DEMO{index:04d}", "USD")
                for index, item in enumerate(_US_LISTINGS)
                if item.on_platform
            )
        )
        amazon_us.omit_sku_from_reports("DEMO-REP-OMIT")
        amazon_us.add_orders(
            SandboxOrder(
                ORDER_SYNCED_LATER,
                "Unshipped",
                now - timedelta(hours=2),
                now - timedelta(hours=1),
                lines=[OrderLine("DEMO-UP-OK", 1, "22.00", "B0DEMO0006", "Bamboo cutting board")],
            ),
            SandboxOrder(
                ORDER_SHIPPED,
                "Shipped",
                now - timedelta(days=3),
                now - timedelta(days=2, hours=20),
                lines=[OrderLine("DEMO-REP-OK", 2, "9.99", "B0DEMO0015", "Glass storage jar")],
            ),
            SandboxOrder(
                ORDER_HIDDEN,
                "Unshipped",
                now - timedelta(hours=3),
                now - timedelta(hours=3),
                lines=[OrderLine("DEMO-PUB-OK", 1, "14.50", "B0DEMO0020", "Enamel bowl")],
            ),
        )
        amazon_us.hide_order(ORDER_HIDDEN)
        amazon_us.start()
        started.append(amazon_us)

        amazon_de = AmazonSandbox(
            AmazonSandboxData(marketplace_id=MARKETPLACES["DE"], report_encoding="cp1252")
        )
        amazon_de.add_listings(
            *(
                _platform_listing(item, cdn_url, f"B0DEDE{i:04d}", "EUR")
                for i, item in enumerate(_DE_LISTINGS)
            )
        )
        amazon_de.reject_refresh_token()  # the seller's authorization of Amazon DE has expired
        amazon_de.start()
        started.append(amazon_de)

        shopee_my = ShopeeSandbox(ShopeeSandboxData(region="MY", currency="MYR"))
        shopee_my.add_listings(
            *(_platform_listing(item, cdn_url, str(880000 + i), "MYR") for i, item in enumerate(_MY_LISTINGS))
        )
        shopee_my.add_orders(
            SandboxOrder(
                SHOPEE_ORDER,
                "READY_TO_SHIP",
                now - timedelta(hours=3),
                now - timedelta(hours=2),
                lines=[OrderLine("DEMO-MY-1", 1, "35.00", "880001", "Batik cushion cover")],
                currency="MYR",
            )
        )
        shopee_my.start()
        started.append(shopee_my)

        neighbour = ShopeeSandbox(ShopeeSandboxData(shop_id=600054321, region="SG", currency="SGD"))
        neighbour.start()
        started.append(neighbour)
    except Exception:
        for server in reversed(started):
            server.stop()
        raise

    platforms = EmbeddedPlatforms(
        amazon_us=amazon_us,
        amazon_de=amazon_de,
        shopee_my=shopee_my,
        shopee_neighbour=neighbour,
        cdn=cdn,
        cdn_url=cdn_url,
        allow_hosts=(cdn_url.removeprefix("http://"),),
    )
    try:
        _point_stores_at(
            session_factory,
            {AMAZON_US: amazon_us, AMAZON_DE: amazon_de, SHOPEE_MY: shopee_my, NEIGHBOUR_STORE: neighbour},
            cdn_url,
        )
    except Exception:
        platforms.stop()
        raise
    return platforms


def _point_stores_at(session_factory: SessionFactory, servers: dict[str, Any], cdn_url: str) -> None:
    """Give the demo stores the running servers' addresses and credentials, and the pictures the
    running image host's address."""
    with session_factory() as session:
        accounts = _demo_accounts(session)
        account_ids = [account.id for account in accounts]
        stores = session.exec(select(Store).where(col(Store.account_id).in_(account_ids))).all()
        for store in stores:
            server = servers.get(store.name)
            if server is None:
                continue
            fields = server.store_fields()
            store.endpoint = fields["endpoint"]
            store.auth_endpoint = fields["auth_endpoint"]
            store.marketplace_id = fields["marketplace_id"]
            store.credentials = fields["credentials"]
            store.options = fields["options"]
            session.add(store)
        store_ids = [store.id for store in stores]
        pictured: list[Any] = [
            *session.exec(select(Product).where(col(Product.store_id).in_(store_ids))).all(),
            *session.exec(select(PublishAttempt).where(col(PublishAttempt.store_id).in_(store_ids))).all(),
        ]
        for row in pictured:
            urls = [_DEMO_IMAGE_PREFIX.sub(f"{cdn_url}/img/", url) for url in row.image_urls]
            if urls != row.image_urls:
                row.image_urls = urls
                session.add(row)
        session.commit()
