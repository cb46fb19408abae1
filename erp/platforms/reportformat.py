"""The column names of Amazon's listings and inventory reports, shared by every report source.

Shopee has no report API; its connector builds documents with these same headers so that one
importer reads every platform's reports by column name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# GET_MERCHANT_LISTINGS_ALL_DATA ("All Listings Report"), in Amazon's order.
LISTINGS_COLUMNS: tuple[str, ...] = (
    "item-name",
    "item-description",
    "listing-id",
    "seller-sku",
    "price",
    "quantity",
    "open-date",
    "image-url",
    "item-is-marketplace",
    "product-id-type",
    "zshop-shipping-fee",
    "item-note",
    "item-condition",
    "zshop-category1",
    "zshop-browse-path",
    "zshop-storefront-feature",
    "asin1",
    "asin2",
    "asin3",
    "will-ship-internationally",
    "expedited-shipping",
    "zshop-boldface",
    "product-id",
    "bid-for-featured-placement",
    "add-delete",
    "pending-quantity",
    "fulfillment-channel",
    "merchant-shipping-group",
    "status",
)

# GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA ("Manage FBA Inventory").
INVENTORY_COLUMNS: tuple[str, ...] = (
    "sku",
    "fnsku",
    "asin",
    "product-name",
    "condition",
    "your-price",
    "mfn-listing-exists",
    "mfn-fulfillable-quantity",
    "afn-listing-exists",
    "afn-warehouse-quantity",
    "afn-fulfillable-quantity",
    "afn-unsellable-quantity",
    "afn-reserved-quantity",
    "afn-total-quantity",
    "per-unit-volume",
    "afn-inbound-working-quantity",
    "afn-inbound-shipped-quantity",
    "afn-inbound-receiving-quantity",
    "afn-researching-quantity",
    "afn-reserved-future-supply",
    "afn-future-supply-buyable",
)


def _cell(value: object) -> str:
    # A tab or line break inside a value would shift every later column of the row.
    if value is None:
        return ""
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def tsv_line(columns: Iterable[str], row: Mapping[str, object]) -> str:
    """One TSV line (with its newline) of `row`'s values in `columns` order; missing values empty."""
    return "\t".join(_cell(row.get(name, "")) for name in columns) + "\n"


def tsv_header(columns: Iterable[str]) -> str:
    return "\t".join(columns) + "\n"
