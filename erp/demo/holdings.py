"""What the demo holds: its products, price changes and orders, each set up for one verdict."""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

from erp.models import (
    PriceChangeStatus,
)

# --- what the demo holds ---------------------------------------------------------------------


class DemoListing(NamedTuple):
    """A product of a demo store: the ERP's product list row and the platform's listing."""

    sku: str
    title: str
    price: str  # the price in the ERP and in the imported report
    live_price: str = ""  # the platform's price now, when it differs
    in_report: bool = True  # in the imported listings report
    on_platform: bool = True
    images: tuple[str, ...] = ("ok.jpg",)


US_LISTINGS: tuple[DemoListing, ...] = (
    DemoListing("DEMO-PRICE-DRAFT", "Ceramic mug, blue", "19.99"),
    DemoListing("DEMO-PRICE-PENDING", "Ceramic mug, green", "19.99"),
    DemoListing("DEMO-PRICE-REJECTED", "Espresso cups, set of 6", "24.99"),
    DemoListing("DEMO-PRICE-WAIT", "Tea pot, 1 l", "34.99"),
    DemoListing("DEMO-PRICE-LIVE", "Tea pot, 1.5 l", "39.99", live_price="36.99"),
    DemoListing("DEMO-PRICE-STUCK", "Milk jug", "14.99"),
    DemoListing("DEMO-PRICE-DONE", "Tea cups, set of 2", "27.99"),  # last night's report has the new price
    DemoListing("DEMO-UP-OK", "Bamboo cutting board", "22.00"),
    DemoListing("DEMO-UP-FAILED", "Bamboo spoon set", "12.00"),
    DemoListing("DEMO-UP-NEW", "Oak serving board", "29.00"),
    DemoListing("DEMO-IMG-NOPIC", "Linen napkins, set of 4", "18.00", images=()),
    DemoListing("DEMO-IMG-EDITED", "Linen table runner", "26.00"),
    DemoListing("DEMO-IMG-SELLING", "Cotton apron", "21.00"),
    DemoListing("DEMO-IMG-STOPPED", "Oven mitts", "11.00"),
    DemoListing("DEMO-IMG-DONE", "Tea towels, set of 3", "15.00"),
    DemoListing("DEMO-IMG-FAIL", "Bread basket", "17.00", images=("missing.jpg",)),
    DemoListing("DEMO-REP-OK", "Glass storage jar", "9.99"),
    DemoListing("DEMO-REP-OMIT", "Glass storage jar, large", "12.99", in_report=False),
    DemoListing("DEMO-REP-NEW", "Glass storage jar, small", "7.99", in_report=False),
    DemoListing("DEMO-PUB-CMYK", "Enamel mug", "13.50", images=("ok.jpg", "cmyk.jpg")),
    DemoListing("DEMO-PUB-LOST", "Enamel plate", "15.50", images=("ok.jpg", "missing.jpg")),
    DemoListing("DEMO-PUB-OK", "Enamel bowl", "14.50", images=("ok.jpg",)),
)
MY_LISTINGS: tuple[DemoListing, ...] = (
    DemoListing("DEMO-PUB-FLAKY", "Rattan basket", "59.00", images=("ok.jpg",)),
    DemoListing("DEMO-MY-1", "Batik cushion cover", "35.00"),
    DemoListing("DEMO-MY-2", "Songket table runner", "89.00"),
    DemoListing("DEMO-MY-3", "Pandan leaf coaster set", "25.00"),
)
DE_LISTINGS: tuple[DemoListing, ...] = (
    DemoListing("DEMO-DE-1", "Kaffeebecher f\u00fcr zwei", "12.90"),
    DemoListing("DEMO-DE-2", "Teekanne aus Glas", "29.90"),
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
        "DEMO-PRICE-DONE",
        "29.99",
        "27.99",
        PriceChangeStatus.APPROVED,
        timedelta(days=1, hours=2),
        timedelta(days=1, hours=1),
        timedelta(days=1),
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
