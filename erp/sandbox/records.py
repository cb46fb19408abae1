"""The sandbox platforms' own data: orders and listings, in the platforms' terms.

Both sandboxes share these records; each speaks about them in its own protocol (an Amazon listing's
`item_id` is its ASIN, a Shopee listing's is the numeric item id; Shopee listings that share an
item id are the models of one item).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class OrderLine:
    sku: str
    quantity: int = 1
    price: str = "10.00"  # unit price
    item_id: str = ""  # ASIN / Shopee item id
    title: str = ""


@dataclass
class SandboxOrder:
    order_id: str
    status: str  # the platform's word: Unshipped, Shipped, READY_TO_SHIP, COMPLETED ...
    created_at: datetime
    updated_at: datetime
    fulfilled_by_platform: bool = False  # Amazon AFN (FBA) / fulfilled by Shopee
    lines: list[OrderLine] = field(default_factory=list)
    currency: str = "USD"
    # The order list leaves it out while getOrder / get_order_detail still finds it (a platform
    # index lagging behind, the reason an order "did not sync").
    hidden_from_list: bool = False

    @property
    def total(self) -> Decimal:
        return sum((Decimal(line.price) * line.quantity for line in self.lines), Decimal("0"))


@dataclass
class SandboxListing:
    sku: str
    item_id: str  # ASIN (Amazon) or item id (Shopee)
    title: str
    price: str  # decimal text
    currency: str = "USD"
    quantity: int | None = 0  # None: unknown (Amazon leaves it empty for FBA listings)
    active: bool = True
    opened_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    image_urls: list[str] = field(default_factory=list)
    fulfilled_by_platform: bool = False
    description: str = ""
    model_id: int | None = None  # Shopee: set when the listing is one model of a multi-model item
    deleted: bool = False  # Shopee SELLER_DELETE: gone from the item list
    # Amazon: the listing's whole `purchasable_offer` attribute (None: only `price`, for all buyers).
    purchasable_offer: list[dict[str, Any]] | None = None
    # Shopee: the promotion price buyers pay now (None: no promotion; `price` is original_price).
    promotion_price: str | None = None
