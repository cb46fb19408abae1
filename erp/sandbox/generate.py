"""Seedable sandbox data: realistic orders and listings for tests, the demo and benchmarks.

The same seed (and `now`) always gives the same data, so a failing test or a benchmark figure can
be reproduced. Titles carry what real catalogues carry (umlauts, `&`, non-breaking spaces); some
listings are inactive or fulfilled by the platform with no quantity; some orders are FBA.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta

from erp.sandbox.amazon import MARKETPLACES, AmazonSandboxData
from erp.sandbox.records import OrderLine, SandboxListing, SandboxOrder
from erp.sandbox.shopee import ShopeeSandboxData

_ADJECTIVES = [
    "Premium",
    "Classic",
    "Compact",
    "Kabelloser",
    "Robuste",
    "Smart",
    "Eco",
    "Pro",
    "Mini",
    "Ultra",
]
_NOUNS = ["Kopfhörer", "Wasserflasche", "Phone Case", "Yoga Mat", "LED Lamp", "Rucksack", "Keyboard", "Mug"]
_SUFFIXES = ["für Kinder", "Black & White", "Größe\xa0M", "2er Pack", "500\xa0ml", "USB-C", "", "", ""]
AMAZON_STATUSES = ["Unshipped"] * 5 + ["Shipped"] * 4 + ["Pending", "PartiallyShipped", "Canceled"]
SHOPEE_STATUSES = ["READY_TO_SHIP"] * 4 + [
    "PROCESSED",
    "SHIPPED",
    "SHIPPED",
    "COMPLETED",
    "COMPLETED",
    "UNPAID",
]


def _title(rng: random.Random) -> str:
    return " ".join(p for p in (rng.choice(_ADJECTIVES), rng.choice(_NOUNS), rng.choice(_SUFFIXES)) if p)


def _asin(rng: random.Random) -> str:
    return "B0" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))


def generate_listings(
    count: int,
    *,
    seed: int = 0,
    platform: str = "amazon",
    currency: str = "USD",
    now: datetime | None = None,
    image_base: str = "https://images.sellerdesk.example",
    sku_prefix: str = "SKU",
) -> list[SandboxListing]:
    """`count` listings, SKUs `{sku_prefix}-00001`...; about 10 % inactive, 15 % fulfilled by the platform."""
    rng = random.Random(f"listings:{seed}:{platform}")
    now = now or datetime.now(UTC)
    listings = []
    for n in range(1, count + 1):
        sku = f"{sku_prefix}-{n:05d}"
        fba = platform == "amazon" and rng.random() < 0.15
        opened = now - timedelta(days=rng.randint(1, 900), seconds=rng.randint(0, 86399))
        listings.append(
            SandboxListing(
                sku=sku,
                item_id=_asin(rng) if platform == "amazon" else str(1_000_000_000 + seed * 1_000_000 + n),
                title=_title(rng),
                price=f"{rng.randint(299, 19999) / 100:.2f}",
                currency=currency,
                quantity=None if fba else rng.randint(0, 250),
                active=rng.random() >= 0.1,
                opened_at=opened,
                updated_at=opened + timedelta(days=rng.randint(0, 30)),
                image_urls=[f"{image_base}/{sku.lower()}-{i}.jpg" for i in range(1, rng.randint(1, 3) + 1)],
                fulfilled_by_platform=fba,
            )
        )
    return listings


def _order_id(rng: random.Random, platform: str, created: datetime) -> str:
    if platform == "amazon":
        return f"{rng.randint(100, 999)}-{rng.randint(0, 9999999):07d}-{rng.randint(0, 9999999):07d}"
    return created.strftime("%y%m%d") + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))


def generate_orders(
    count: int,
    *,
    seed: int = 0,
    platform: str = "amazon",
    listings: list[SandboxListing] | None = None,
    currency: str = "USD",
    now: datetime | None = None,
    days: int = 30,
) -> list[SandboxOrder]:
    """`count` orders created over the last `days` days, updated since; 15 % fulfilled by the platform."""
    rng = random.Random(f"orders:{seed}:{platform}")
    now = now or datetime.now(UTC)
    catalogue = listings or generate_listings(50, seed=seed, platform=platform, currency=currency, now=now)
    orders: dict[str, SandboxOrder] = {}
    while len(orders) < count:
        created = now - timedelta(seconds=rng.randint(600, days * 86400))
        updated = min(created + timedelta(seconds=rng.randint(0, 3 * 86400)), now - timedelta(minutes=5))
        order_id = _order_id(rng, platform, created)
        if order_id in orders:
            continue
        picked = rng.sample(catalogue, k=min(len(catalogue), rng.choice([1, 1, 1, 2, 3])))
        orders[order_id] = SandboxOrder(
            order_id=order_id,
            status=rng.choice(AMAZON_STATUSES if platform == "amazon" else SHOPEE_STATUSES),
            created_at=created,
            updated_at=max(updated, created),
            fulfilled_by_platform=rng.random() < 0.15,
            lines=[
                OrderLine(
                    sku=p.sku, quantity=rng.randint(1, 3), price=p.price, item_id=p.item_id, title=p.title
                )
                for p in picked
            ],
            currency=currency,
        )
    return list(orders.values())


def amazon_data(
    *,
    seed: int = 0,
    orders: int = 0,
    listings: int = 0,
    region: str = "US",
    now: datetime | None = None,
    days: int = 30,
) -> AmazonSandboxData:
    """A seller on Amazon `region` (US, UK, DE, FR ...) with generated listings and orders."""
    data = AmazonSandboxData(marketplace_id=MARKETPLACES[region], seller_id=f"A2SANDBOX{seed:06d}")
    catalogue = generate_listings(
        max(listings, 1 if orders else 0), seed=seed, currency=data.currency, now=now
    )
    if listings:
        data.listings = {listing.sku: listing for listing in catalogue}
    if orders:
        data.orders = {
            order.order_id: order
            for order in generate_orders(
                orders, seed=seed, listings=catalogue, currency=data.currency, now=now, days=days
            )
        }
    return data


def shopee_data(
    *,
    seed: int = 0,
    orders: int = 0,
    listings: int = 0,
    now: datetime | None = None,
    days: int = 30,
) -> ShopeeSandboxData:
    """A Shopee Malaysia shop with generated items and orders."""
    data = ShopeeSandboxData(shop_id=600_000_000 + seed)
    catalogue = generate_listings(
        max(listings, 1 if orders else 0), seed=seed, platform="shopee", currency=data.currency, now=now
    )
    if listings:
        data.listings = {listing.sku: listing for listing in catalogue}
    if orders:
        data.orders = {
            order.order_id: order
            for order in generate_orders(
                orders,
                seed=seed,
                platform="shopee",
                listings=catalogue,
                currency=data.currency,
                now=now,
                days=days,
            )
        }
    return data
