"""The platforms' side of the demo: sandbox marketplaces and the image host, started to match."""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from erp.accounts import get_account_by_name
from erp.demo.holdings import (
    DE_LISTINGS,
    MY_LISTINGS,
    ORDER_HIDDEN,
    ORDER_SHIPPED,
    ORDER_SYNCED_LATER,
    SHOPEE_ORDER,
    US_LISTINGS,
    DemoListing,
)
from erp.demo.scenarios import (
    AMAZON_DE,
    AMAZON_US,
    DEMO_ACCOUNT,
    NEIGHBOUR_STORE,
    SHOPEE_MY,
)
from erp.demo.seeding import (
    SessionFactory,
    demo_accounts,
    move_times_forward,
    session_factory_of,
)
from erp.models import (
    Product,
    PublishAttempt,
    Store,
    utcnow,
)

log = logging.getLogger(__name__)


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
_RECORDED_HOST = re.compile(r"^(http://127\.0\.0\.1:\d+)/img/")


def _platform_listing(listing: DemoListing, cdn_url: str, item_id: str, currency: str) -> Any:
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
    now = now or utcnow()
    session_factory = session_factory_of(session_factory)
    with session_factory() as session:
        demo = get_account_by_name(session, DEMO_ACCOUNT)
        if demo is None:
            raise LookupError("there is no demo in this database: run `python app.py demo` first")
        move_times_forward(session, demo, now)
    recorded = recorded_cdn_url(session_factory)
    # Imported only when there is a demo to run: `serve` on real stores starts without them.
    from erp.sandbox.amazon import MARKETPLACES, AmazonSandbox, AmazonSandboxData
    from erp.sandbox.cdn import DemoImageHost
    from erp.sandbox.records import OrderLine, SandboxOrder
    from erp.sandbox.shopee import ShopeeSandbox, ShopeeSandboxData

    started: list[Any] = []
    try:
        cdn = DemoImageHost()
        cdn_url = _start_cdn(cdn, recorded)
        started.append(cdn)

        amazon_us = AmazonSandbox(AmazonSandboxData(marketplace_id=MARKETPLACES["US"]))
        amazon_us.add_listings(
            *(
                _platform_listing(item, cdn_url, f"B0DEMO{index:04d}", "USD")
                for index, item in enumerate(US_LISTINGS)
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
            *(_platform_listing(item, cdn_url, f"B0DEDE{i:04d}", "EUR") for i, item in enumerate(DE_LISTINGS))
        )
        amazon_de.reject_refresh_token()  # the seller's authorization of Amazon DE has expired
        amazon_de.start()
        started.append(amazon_de)

        shopee_my = ShopeeSandbox(ShopeeSandboxData(region="MY", currency="MYR"))
        shopee_my.add_listings(
            *(_platform_listing(item, cdn_url, str(880000 + i), "MYR") for i, item in enumerate(MY_LISTINGS))
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
        accounts = demo_accounts(session)
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
        _rewrite_pictures(session, [store.id for store in stores], cdn_url)
        session.commit()


def _pictured_rows(session: Any, store_ids: list[int | None]) -> list[Any]:
    return [
        *session.exec(select(Product).where(col(Product.store_id).in_(store_ids))).all(),
        *session.exec(select(PublishAttempt).where(col(PublishAttempt.store_id).in_(store_ids))).all(),
    ]


def _rewrite_pictures(session: Any, store_ids: list[int | None], cdn_url: str) -> None:
    """Point the demo's stored picture links at the image host at `cdn_url`."""
    for row in _pictured_rows(session, store_ids):
        urls = [_DEMO_IMAGE_PREFIX.sub(f"{cdn_url}/img/", url) for url in row.image_urls]
        if urls != row.image_urls:
            row.image_urls = urls
            session.add(row)


def _demo_store_ids(session: Any) -> list[int | None]:
    account_ids = [account.id for account in demo_accounts(session)]
    return list(session.exec(select(Store.id).where(col(Store.account_id).in_(account_ids))).all())


def recorded_cdn_url(session_factory: SessionFactory) -> str | None:
    """The demo image host's address as the database's picture links name it (None before any)."""
    with session_factory_of(session_factory)() as session:
        for row in _pictured_rows(session, _demo_store_ids(session)):
            for url in row.image_urls:
                found = _RECORDED_HOST.match(url)
                if found:
                    return found.group(1)
    return None


def reserve_cdn_url(session_factory: SessionFactory) -> str:
    """The demo image host's address, chosen now if the database has none yet.

    The host listens there whenever the demo's platforms run (console, `serve`, `demo serve`, a
    command on the demo database), so the picture links the demo prints are real ones.
    """
    session_factory = session_factory_of(session_factory)
    recorded = recorded_cdn_url(session_factory)
    if recorded:
        return recorded
    with socket.socket() as probe:  # a port free now; the image host takes it when it starts
        probe.bind(("127.0.0.1", 0))
        cdn_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with session_factory() as session:
        _rewrite_pictures(session, _demo_store_ids(session), cdn_url)
        session.commit()
    return cdn_url


def _start_cdn(cdn: Any, recorded: str | None) -> str:
    """Start the image host on its recorded port (the links in the database), else on any."""
    if recorded:
        try:
            return str(cdn.start(port=int(recorded.rsplit(":", 1)[1])))
        except OSError:  # taken by another program: the links are rewritten to the new port
            log.warning("the demo image host's port %s is taken; it moves", recorded.rsplit(":", 1)[1])
    return str(cdn.start())


def demo_platforms_answer(session_factory: SessionFactory, *, timeout: float = 2.0) -> bool:
    """Whether the demo's platforms, where the database says they are, are running now.

    True when another process (`demo serve`, a console, `serve`) runs them: the demo's Amazon US
    store answers with the credentials the database holds. Its order lookup goes through the
    connector, the way every command reaches the platforms.
    """
    import httpx

    from erp.platforms.base import PlatformError
    from erp.platforms.http import RetryPolicy
    from erp.platforms.registry import ConnectorRegistry

    with session_factory_of(session_factory)() as session:
        demo = get_account_by_name(session, DEMO_ACCOUNT)
        store = (
            session.exec(select(Store).where(Store.account_id == demo.id, Store.name == AMAZON_US)).first()
            if demo is not None
            else None
        )
    if store is None or not store.endpoint.startswith("http://127.0.0.1:"):
        return False
    with httpx.Client(timeout=timeout) as client:
        registry = ConnectorRegistry(
            client, retry=RetryPolicy(max_attempts=1, base_delay=0.01, max_total_wait=0.0)
        )
        try:
            registry.connector_for(store).get_order("000-0000000-0000000")
        except PlatformError:
            return False
        finally:
            registry.close()
    return True
