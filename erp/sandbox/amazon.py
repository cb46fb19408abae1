"""A sandbox Amazon: Login with Amazon and the SP-API operations SellerDesk uses, over real HTTP.

It checks what Amazon checks (the access token, required parameters, paging limits, the seller id
and marketplace) and answers with SP-API's documented shapes: `{"payload": ...}` for Orders v0,
plain objects for Reports 2021-06-30 and Listings 2021-08-01, `{"errors": [{"code", "message"}]}`
on failure. Report documents are TSV in Amazon's own format, quirks included: DD/MM/YYYY dates with
MET/MEST for European marketplaces, empty quantities for FBA rows, HTML entities in titles,
Inactive rows, gzip when asked.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import gzip
import hashlib
import html.entities
import itertools
import json
import secrets
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import unquote

from erp.platforms.reportformat import INVENTORY_COLUMNS, LISTINGS_COLUMNS, tsv_header, tsv_line
from erp.sandbox.base import SandboxMarketplace
from erp.sandbox.httpserver import BadRequest, SandboxRequest, SandboxResponse, SandboxServer
from erp.sandbox.records import SandboxListing, SandboxOrder

EU_MARKETPLACES = {
    "A1PA6795UKMFR9": "DE",
    "A13V1IB3VIYZZH": "FR",
    "APJ6JRA9NG5V4": "IT",
    "A1RKKUPIHCS9HS": "ES",
    "A1805IZSGTT6HS": "NL",
}
MARKETPLACES = {"US": "ATVPDKIKX0DEK", "CA": "A2EUQ1WTGCTBG2", "UK": "A1F83G8C2ARO7P"} | {
    region: mid for mid, region in EU_MARKETPLACES.items()
}
REPORT_TYPES = {"GET_MERCHANT_LISTINGS_ALL_DATA", "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA"}
MAX_ORDERS_PAGE = 100
# Default usage plans (requests per second) as the models publish them, announced on every answer
# in `x-amzn-RateLimit-Limit` as Amazon does.
USAGE_PLANS = {
    "getOrders": 0.0167,
    "getOrder": 0.5,
    "getOrderItems": 0.5,
    "createReport": 0.0167,
    "getReport": 2.0,
    "getReportDocument": 0.0167,
    "getListingsItem": 5.0,
    "patchListingsItem": 5.0,
}
# What each operation needs granted to the application (report types: their own role).
OPERATION_ROLES = {
    "getOrders": "Inventory and Order Tracking",
    "getOrder": "Inventory and Order Tracking",
    "getOrderItems": "Inventory and Order Tracking",
    "getListingsItem": "Product Listing",
    "patchListingsItem": "Product Listing",
}
REPORT_ROLES = {
    "GET_MERCHANT_LISTINGS_ALL_DATA": "Product Listing",
    "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA": "Amazon Fulfillment",
}
# getListingsItem's includedData values (the model's enum).
LISTING_DATA = {
    "summaries",
    "attributes",
    "issues",
    "offers",
    "fulfillmentAvailability",
    "procurement",
    "relationships",
    "productTypes",
}
# Filters a NextToken is bound to: a later page must send them again, unchanged.
ORDER_FILTERS = (
    "CreatedAfter",
    "CreatedBefore",
    "LastUpdatedAfter",
    "LastUpdatedBefore",
    "MaxResultsPerPage",
)
ACCESS_DENIED = "Access to requested resource is denied."
INVALID_TOKEN = "The access token you provided is revoked, malformed or invalid."


def _error(status: int, code: str, message: str) -> BadRequest:
    return BadRequest(SandboxResponse.json({"errors": [{"code": code, "message": message}]}, status=status))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _error(400, "InvalidInput", f"{name} is not a valid ISO 8601 date: {value}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _last_sunday(year: int, month: int) -> datetime:
    day = datetime(year, month + 1, 1, tzinfo=UTC) - timedelta(days=1)  # March and October only
    return day - timedelta(days=(day.weekday() + 1) % 7)


def report_date(moment: datetime, marketplace_id: str) -> str:
    """A date as Amazon's reports write it: DD/MM/YYYY with MET/MEST in Europe, else with PST/PDT."""
    moment = moment.astimezone(UTC)
    if marketplace_id in EU_MARKETPLACES:
        start = _last_sunday(moment.year, 3).replace(hour=1)
        end = _last_sunday(moment.year, 10).replace(hour=1)
        summer = start <= moment < end
        local = moment + timedelta(hours=2 if summer else 1)
        return local.strftime("%d/%m/%Y %H:%M:%S ") + ("MEST" if summer else "MET")
    march = datetime(moment.year, 3, 1, 10, tzinfo=UTC)
    dst_start = march + timedelta(days=(6 - march.weekday()) % 7 + 7)
    november = datetime(moment.year, 11, 1, 9, tzinfo=UTC)
    dst_end = november + timedelta(days=(6 - november.weekday()) % 7)
    summer = dst_start <= moment < dst_end
    local = moment - timedelta(hours=7 if summer else 8)
    return local.strftime("%Y-%m-%d %H:%M:%S ") + ("PDT" if summer else "PST")


def operation_name(method: str, parts: list[str]) -> str:
    """The SP-API operation a request is for (`getOrders` ...), or "" for none we serve."""
    if parts[:3] == ["orders", "v0", "orders"] and method == "GET":
        return {3: "getOrders", 4: "getOrder", 5: "getOrderItems"}.get(len(parts), "")
    if parts[:2] == ["reports", "2021-06-30"] and len(parts) >= 3:
        if parts[2] == "reports":
            return "createReport" if method == "POST" and len(parts) == 3 else "getReport"
        if parts[2] == "documents":
            return "getReportDocument"
    if parts[:3] == ["listings", "2021-08-01", "items"] and len(parts) == 5:
        return {"GET": "getListingsItem", "PATCH": "patchListingsItem"}.get(method, "")
    return ""


def default_offer(listing: SandboxListing, marketplace_id: str) -> list[dict[str, Any]]:
    """The `purchasable_offer` of a listing that was never given a richer one."""
    return [
        {
            "marketplace_id": marketplace_id,
            "currency": listing.currency,
            "audience": "ALL",
            "our_price": [{"schedule": [{"value_with_tax": float(listing.price)}]}],
        }
    ]


def html_escape_title(title: str) -> str:
    """Titles as Amazon's reports carry them: `&` and non-ASCII letters as named HTML entities."""
    out = []
    for char in title:
        name = html.entities.codepoint2name.get(ord(char))
        if char == "&" or (name and ord(char) > 127 and char != "\xa0"):
            out.append(f"&{name};")
        else:
            out.append(char)
    return "".join(out)


@dataclass
class _Report:
    report_id: str
    report_type: str
    created: datetime
    polls: int = 0
    status: str = "IN_QUEUE"
    document_id: str | None = None
    finished: datetime | None = None
    stuck: bool = False
    final_status: str = "DONE"
    options: dict[str, str] = field(default_factory=dict)  # createReport's reportOptions


@dataclass
class AmazonSandboxData:
    """One seller account on one marketplace, with its credentials and data."""

    seller_id: str = "A2SANDBOXSELLER1"
    marketplace_id: str = MARKETPLACES["US"]
    client_id: str = "amzn1.application-oa2-client.sandbox"
    client_secret: str = field(default_factory=lambda: "amzn1.oa2-cs.v1." + secrets.token_hex(16))
    refresh_token: str = field(default_factory=lambda: "Atzr|" + secrets.token_urlsafe(24))
    token_lifetime: int = 3600
    orders: dict[str, SandboxOrder] = field(default_factory=dict)
    listings: dict[str, SandboxListing] = field(default_factory=dict)
    report_polls_to_done: int = 1  # getReport calls before a report is DONE
    compress_reports: bool = True
    report_encoding: str = "utf-8"  # EU reports are often cp1252
    report_charset: str = ""  # the download's Content-Type charset label (amazon.co.jp: Shift_JIS)

    @property
    def region(self) -> str:
        return next((r for r, mid in MARKETPLACES.items() if mid == self.marketplace_id), "US")

    @property
    def currency(self) -> str:
        region = self.region
        return {"US": "USD", "CA": "CAD", "UK": "GBP"}.get(region, "EUR")


class AmazonSandbox(SandboxMarketplace):
    """A sandbox Amazon SP-API + Login with Amazon on one local server.

    Use as a context manager, or `start()` / `stop()`. Data helpers change what it answers;
    fault helpers make it misbehave the way Amazon sometimes does.
    """

    platform = "amazon"
    next_status: ClassVar[Mapping[str, str]] = {
        "Pending": "Unshipped",
        "Unshipped": "Shipped",
        "PartiallyShipped": "Shipped",
    }

    def __init__(self, data: AmazonSandboxData | None = None) -> None:
        super().__init__()
        self.data = data or AmazonSandboxData()
        self.server = SandboxServer(self._route, name="amazon-sandbox")
        self.faults = self.server.faults
        self._tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        self._refresh_rejected = False
        self._reports: dict[str, _Report] = {}
        self._order_snapshots: OrderedDict[str, list[tuple[tuple[int, str], SandboxOrder]]] = OrderedDict()
        self._documents: dict[str, tuple[bytes, bool]] = {}  # id -> (content, gzipped)
        self._ids = itertools.count(50_000_000_001)
        self._stick_reports = False
        self._next_report_status: list[str] = []
        self._omitted_skus: set[str] = set()
        self._truncate_next = 0
        self._hold_prices = False
        self._pending_prices: dict[str, list[dict[str, Any]]] = {}
        self._price_rejections: dict[str, str] = {}
        self.price_submissions: list[dict[str, Any]] = []
        self.usage_plans: dict[str, float] = dict(USAGE_PLANS)
        self._denied_roles: set[str] = set()
        self._refuse_tokens = False
        # Each order's getOrders JSON as rendered, with what it was rendered from: an order list
        # page is these joined, so paging costs the server no date formatting or encoding.
        self._rendered: dict[str, tuple[tuple[Any, ...], bytes]] = {}

    def store_credentials(self) -> dict[str, str]:
        """The credentials a `Store` row needs to talk to this sandbox."""
        return {
            "client_id": self.data.client_id,
            "client_secret": self.data.client_secret,
            "refresh_token": self.data.refresh_token,
            "seller_id": self.data.seller_id,
        }

    def store_fields(
        self, *, rate_limit_scale: float = 10_000.0, order_items: bool = False
    ) -> dict[str, Any]:
        """Everything a `Store(...)` needs besides account and name, with fast rate limits.

        `order_items` makes the order sync fetch each order's SKUs (one getOrderItems per order).
        """
        options: dict[str, Any] = {"rate_limit_scale": rate_limit_scale}
        if order_items:
            options["order_items"] = True
        return {
            "platform": "amazon",
            "region": self.data.region,
            "endpoint": self.base_url,
            "auth_endpoint": f"{self.base_url}/auth/o2/token",
            "marketplace_id": self.data.marketplace_id,
            "credentials": self.store_credentials(),
            "options": options,
        }

    # -- fault helpers --------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (expired mid-run)."""
        with self._lock:
            self._tokens.clear()

    def reject_refresh_token(self, rejected: bool = True) -> None:
        """The seller's authorization is revoked: the token endpoint answers invalid_grant."""
        with self._lock:
            self._refresh_rejected = rejected
            if rejected:
                self._tokens.clear()

    def deny_role(self, role: str, denied: bool = True) -> None:
        """The application lacks this role for the seller (Amazon Fulfillment, Product Listing ...):
        operations needing it answer 403 while every other call works."""
        with self._lock:
            if denied:
                self._denied_roles.add(role)
            else:
                self._denied_roles.discard(role)

    def refuse_next_tokens(self, refused: bool = True) -> None:
        """getOrders answers 400 to every NextToken (expired, or from a listing Amazon forgot)."""
        with self._lock:
            self._refuse_tokens = refused

    def stick_reports(self, stuck: bool = True) -> None:
        """Reports requested from now on stay IN_PROGRESS forever."""
        with self._lock:
            self._stick_reports = stuck

    def fail_next_report(self, status: str = "FATAL") -> None:
        """The next report requested ends CANCELLED or FATAL instead of DONE."""
        with self._lock:
            self._next_report_status.append(status)

    def omit_sku_from_reports(self, sku: str) -> None:
        """Reports leave this SKU out although the listing exists (a platform-side listing issue)."""
        with self._lock:
            self._omitted_skus.add(sku)

    def truncate_next_document(self, count: int = 1) -> None:
        """The next `count` report documents are cut off in the middle of the gzip stream."""
        with self._lock:
            self._truncate_next += count

    def hold_price_updates(self, hold: bool = True) -> None:
        """Accept price changes without applying them yet (awaiting Amazon's processing)."""
        with self._lock:
            self._hold_prices = hold

    def apply_pending_prices(self) -> None:
        with self._lock:
            for sku, offers in self._pending_prices.items():
                if sku in self.data.listings:
                    self._store_offer(self.data.listings[sku], offers)
            self._pending_prices.clear()

    def reject_price_updates(self, sku: str, reason: str) -> None:
        """patchListingsItem for this SKU answers INVALID with `reason`."""
        with self._lock:
            self._price_rejections[sku] = reason

    # -- routing --------------------------------------------------------------------------

    def _route(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path
        if path == "/auth/o2/token" and request.method == "POST":
            return self._token(request)
        if path.startswith("/_documents/") and request.method == "GET":
            return self._download(path.removeprefix("/_documents/"))
        parts = [unquote(p) for p in path.strip("/").split("/")]
        operation = operation_name(request.method, parts)
        try:
            self._authorize(request, operation)
            response = self._operation(request, parts)
        except BadRequest as exc:
            response = exc.response
        rate = self.usage_plans.get(operation)
        if rate:
            response.headers.setdefault("x-amzn-RateLimit-Limit", f"{rate:g}")
        response.headers.setdefault("x-amzn-RequestId", str(uuid.uuid4()))
        return response

    def _operation(self, request: SandboxRequest, parts: list[str]) -> SandboxResponse:
        path = request.path
        with self._lock:
            if parts[:2] == ["orders", "v0"] and len(parts) >= 3 and parts[2] == "orders":
                if len(parts) == 3 and request.method == "GET":
                    return self._get_orders(request)
                if len(parts) == 4 and request.method == "GET":
                    return self._get_order(parts[3])
                if len(parts) == 5 and parts[4] == "orderItems" and request.method == "GET":
                    return self._get_order_items(parts[3])
            if parts[:2] == ["reports", "2021-06-30"]:
                if parts[2:] == ["reports"] and request.method == "POST":
                    return self._create_report(request)
                if len(parts) == 4 and parts[2] == "reports" and request.method == "GET":
                    return self._get_report(parts[3])
                if len(parts) == 4 and parts[2] == "documents" and request.method == "GET":
                    return self._get_document(parts[3])
            if parts[:3] == ["listings", "2021-08-01", "items"] and len(parts) == 5:
                if request.method == "GET":
                    return self._get_listing(request, parts[3], parts[4])
                if request.method == "PATCH":
                    return self._patch_listing(request, parts[3], parts[4])
        raise _error(404, "NotFound", f"Resource {path} is not found.")

    def _token(self, request: SandboxRequest) -> SandboxResponse:
        form = request.form()
        if form.get("grant_type") != "refresh_token":
            return SandboxResponse.json(
                {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}, status=400
            )
        if (
            form.get("client_id") != self.data.client_id
            or form.get("client_secret") != self.data.client_secret
        ):
            return SandboxResponse.json(
                {"error": "invalid_client", "error_description": "Client authentication failed"}, status=401
            )
        with self._lock:
            if self._refresh_rejected or form.get("refresh_token") != self.data.refresh_token:
                return SandboxResponse.json(
                    {
                        "error": "invalid_grant",
                        "error_description": "The request has an invalid grant parameter : refresh_token",
                    },
                    status=400,
                )
            token = "Atza|" + secrets.token_urlsafe(32)
            self._tokens[token] = time.monotonic() + self.data.token_lifetime
        return SandboxResponse.json(
            {
                "access_token": token,
                "refresh_token": self.data.refresh_token,
                "token_type": "bearer",
                "expires_in": self.data.token_lifetime,
            }
        )

    def _authorize(self, request: SandboxRequest, operation: str) -> None:
        token = request.header("x-amz-access-token")
        with self._lock:
            expiry = self._tokens.get(token)
            denied = OPERATION_ROLES.get(operation, "") in self._denied_roles
            if operation == "createReport":
                body = request.json()
                report_type = body.get("reportType") if isinstance(body, dict) else None
                denied = REPORT_ROLES.get(str(report_type), "") in self._denied_roles
        if not token or expiry is None or time.monotonic() >= expiry:
            raise _error(
                403, "Unauthorized", "The access token you provided is revoked, malformed or invalid."
            )
        if denied:
            raise _error(403, "Unauthorized", ACCESS_DENIED)

    def _check_marketplace(self, values: list[str], name: str = "MarketplaceIds") -> None:
        ids = [mid for value in values for mid in value.split(",") if mid]
        if not ids:
            raise _error(400, "InvalidInput", f"{name} is required.")
        if self.data.marketplace_id not in ids:
            raise _error(
                400, "InvalidInput", f"Invalid {name}: the seller is not registered in {','.join(ids)}."
            )

    # -- orders ---------------------------------------------------------------------------

    def _order_json(self, order: SandboxOrder) -> dict[str, Any]:
        return {
            "AmazonOrderId": order.order_id,
            "PurchaseDate": _iso(order.created_at),
            "LastUpdateDate": _iso(order.updated_at),
            "OrderStatus": order.status,
            "FulfillmentChannel": "AFN" if order.fulfilled_by_platform else "MFN",
            "SalesChannel": "Amazon.com"
            if self.data.region == "US"
            else f"Amazon.{self.data.region.lower()}",
            "OrderTotal": {"CurrencyCode": order.currency, "Amount": f"{order.total:.2f}"},
            "NumberOfItemsShipped": 0,
            "NumberOfItemsUnshipped": sum(line.quantity for line in order.lines),
            "MarketplaceId": self.data.marketplace_id,
            "OrderType": "StandardOrder",
            "IsPrime": order.fulfilled_by_platform,
            "IsBusinessOrder": False,
        }

    def _render_key(self, order: SandboxOrder) -> tuple[Any, ...]:
        """Everything `_order_json` reads: a rendered order is reused only while all of it is the same."""
        return (
            order.created_at,
            order.updated_at,
            order.status,
            order.fulfilled_by_platform,
            order.currency,
            tuple((line.price, line.quantity) for line in order.lines),
            self.data.marketplace_id,
        )

    def _rendered_order(self, order: SandboxOrder) -> bytes:
        """The order's getOrders JSON, rendered once and again only when the order changed."""
        key = self._render_key(order)
        cached = self._rendered.get(order.order_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        body = json.dumps(self._order_json(order)).encode()
        self._rendered[order.order_id] = (key, body)
        return body

    def prerender_orders(self) -> None:
        """Render every order's getOrders JSON now (a benchmark's sandbox, before it is timed)."""
        with self._lock:
            for order in self.data.orders.values():
                self._rendered_order(order)

    def _get_orders(self, request: SandboxRequest) -> SandboxResponse:
        self._check_marketplace(request.args("MarketplaceIds"))
        filters = {name: request.arg(name) or "" for name in ORDER_FILTERS}
        created, updated = filters["CreatedAfter"], filters["LastUpdatedAfter"]
        if bool(created) == bool(updated):
            raise _error(400, "InvalidInput", "Exactly one of CreatedAfter or LastUpdatedAfter is required.")
        field_name = "created" if created else "updated"
        moment = _parse_iso(created or updated, "CreatedAfter" if created else "LastUpdatedAfter")
        now = datetime.now(UTC)
        if moment > now:
            raise _error(400, "InvalidInput", "Date should be in the past.")
        before_name = "CreatedBefore" if created else "LastUpdatedBefore"
        if filters["CreatedBefore" if updated else "LastUpdatedBefore"]:
            raise _error(400, "InvalidInput", "CreatedAfter and LastUpdatedBefore cannot be combined.")
        bound_at = _parse_iso(filters[before_name], before_name) if filters[before_name] else now
        if bound_at > now or bound_at < moment:
            raise _error(
                400, "InvalidInput", f"{before_name} must be after {before_name[:-6]}After and in the past."
            )
        raw_size = filters["MaxResultsPerPage"] or str(MAX_ORDERS_PAGE)
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_ORDERS_PAGE:
            raise _error(400, "InvalidInput", "MaxResultsPerPage must be between 1 and 100.")
        threshold, bound = int(moment.timestamp()), int(bound_at.timestamp())
        after_key, after_id, size = -1, "", int(raw_size)
        signature = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]
        token = request.arg("NextToken")
        state: dict[str, Any] = {}
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
                bound = int(state["b"])
                after_key, after_id = int(state["k"]), str(state["i"])
                issued_for = str(state["q"])
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise _error(400, "InvalidInput", "Invalid NextToken.") from None
            if self._refuse_tokens:
                raise _error(400, "InvalidInput", "Invalid NextToken.")
            if issued_for != signature:
                # NextToken only pages: the filters of the first request must come with it again.
                raise _error(400, "InvalidInput", "The NextToken does not match the request's filters.")

        # Whole seconds, as Amazon's dates carry them; keyset paging stays right while orders change.
        def key(order: SandboxOrder) -> tuple[int, str]:
            moment = order.created_at if field_name == "created" else order.updated_at
            return int(moment.timestamp()), order.order_id

        # The first page sorts a snapshot of the matching orders; later pages of the same listing
        # continue in it (skipping orders that changed since: they are past the bound now).
        snapshot_id = str(state.get("s", "")) if token else ""
        snapshot = self._order_snapshots.get(snapshot_id)
        if snapshot is None:
            snapshot = sorted(
                (k, o)
                for k, o in ((key(o), o) for o in self.data.orders.values() if not o.hidden_from_list)
                if threshold <= k[0] <= bound
            )
            snapshot_id = uuid.uuid4().hex
            self._order_snapshots[snapshot_id] = snapshot
            while len(self._order_snapshots) > 64:
                self._order_snapshots.popitem(last=False)
        start = bisect.bisect_right(snapshot, (after_key, after_id), key=lambda pair: pair[0])
        matching = []
        # Indexed from `start`: islice would step through every earlier order of the listing.
        for index in range(start, len(snapshot)):
            stored_key, order = snapshot[index]
            if not order.hidden_from_list and key(order) == stored_key:
                matching.append((stored_key, order))
                if len(matching) > size:
                    break
        page = [order for _, order in matching[:size]]
        orders = b", ".join([self._rendered_order(o) for o in page])
        bound_iso = _iso(datetime.fromtimestamp(bound, UTC))
        bound_name = "LastUpdatedBefore" if field_name == "updated" else "CreatedBefore"
        rest: dict[str, Any] = {bound_name: bound_iso}
        if len(matching) > size:
            last_key = matching[size - 1][0]
            state = {"q": signature, "b": bound, "k": last_key[0], "i": last_key[1], "s": snapshot_id}
            rest["NextToken"] = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
        self._order_page_served()
        # {"payload": {"Orders": [...], "LastUpdatedBefore": ..., "NextToken": ...}}
        body = b'{"payload": {"Orders": [' + orders + b"], " + json.dumps(rest).encode()[1:] + b"}"
        return SandboxResponse(body=body)

    def _find_order(self, order_id: str) -> SandboxOrder:
        order = self.data.orders.get(order_id)
        if order is None:
            raise _error(404, "NotFound", f"Order {order_id} was not found.")
        return order

    def _get_order(self, order_id: str) -> SandboxResponse:
        return SandboxResponse.json({"payload": self._order_json(self._find_order(order_id))})

    def _get_order_items(self, order_id: str) -> SandboxResponse:
        order = self._find_order(order_id)
        items = [
            {
                "ASIN": line.item_id,
                "SellerSKU": line.sku,
                "OrderItemId": f"{order.order_id.replace('-', '')[-10:]}{n:04d}",
                "Title": line.title,
                "QuantityOrdered": line.quantity,
                "ItemPrice": {
                    "CurrencyCode": order.currency,
                    "Amount": f"{Decimal(line.price) * line.quantity:.2f}",
                },
            }
            for n, line in enumerate(order.lines)
        ]
        return SandboxResponse.json({"payload": {"AmazonOrderId": order.order_id, "OrderItems": items}})

    # -- reports --------------------------------------------------------------------------

    def _create_report(self, request: SandboxRequest) -> SandboxResponse:
        body = request.json()
        if not isinstance(body, dict) or not body.get("reportType"):
            raise _error(400, "InvalidInput", "reportType is required.")
        if body["reportType"] not in REPORT_TYPES:
            raise _error(400, "InvalidInput", f"Report type {body['reportType']} is not supported.")
        marketplaces = body.get("marketplaceIds")
        if not isinstance(marketplaces, list):
            raise _error(400, "InvalidInput", "marketplaceIds is required.")
        self._check_marketplace([str(m) for m in marketplaces], "marketplaceIds")
        report_id = str(next(self._ids))
        options = body.get("reportOptions") or {}
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            raise _error(400, "InvalidInput", "reportOptions must map option names to strings.")
        report = _Report(
            report_id, str(body["reportType"]), datetime.now(UTC), stuck=self._stick_reports, options=options
        )
        if self._next_report_status:
            report.final_status = self._next_report_status.pop(0)
        self._reports[report_id] = report
        return SandboxResponse.json({"reportId": report_id}, status=202)

    def _get_report(self, report_id: str) -> SandboxResponse:
        report = self._reports.get(report_id)
        if report is None:
            raise _error(404, "NotFound", f"Report {report_id} was not found.")
        report.polls += 1
        if report.status in ("IN_QUEUE", "IN_PROGRESS"):
            if report.stuck or report.polls < self.data.report_polls_to_done:
                report.status = "IN_PROGRESS"
            else:
                report.status = report.final_status
                report.finished = datetime.now(UTC)
                if report.status == "DONE":
                    report.document_id = f"amzn1.spdoc.1.4.na.{uuid.uuid4()}"
                    self._documents[report.document_id] = self._build_document(report.report_type)
        data: dict[str, Any] = {
            "reportId": report.report_id,
            "reportType": report.report_type,
            "marketplaceIds": [self.data.marketplace_id],
            "processingStatus": report.status,
            "createdTime": _iso(report.created),
        }
        if report.status != "IN_QUEUE":
            data["processingStartTime"] = _iso(report.created)
        if report.finished:
            data["processingEndTime"] = _iso(report.finished)
        if report.document_id:
            data["reportDocumentId"] = report.document_id
        return SandboxResponse.json(data)

    def _get_document(self, document_id: str) -> SandboxResponse:
        if document_id not in self._documents:
            raise _error(404, "NotFound", f"Report document {document_id} was not found.")
        data: dict[str, Any] = {
            "reportDocumentId": document_id,
            "url": f"{self.base_url}/_documents/{document_id}",
        }
        if self._documents[document_id][1]:
            data["compressionAlgorithm"] = "GZIP"
        return SandboxResponse.json(data)

    def _download(self, document_id: str) -> SandboxResponse:
        with self._lock:
            document = self._documents.get(document_id)
        if document is None:
            return SandboxResponse(
                status=403, body=b"<Error><Code>AccessDenied</Code></Error>", content_type="application/xml"
            )
        charset = self.data.report_charset
        content_type = f"text/plain;charset={charset}" if charset else "application/octet-stream"
        return SandboxResponse(status=200, body=document[0], content_type=content_type)

    def requested_reports(self) -> list[tuple[str, dict[str, str]]]:
        """Every createReport so far: its report type and reportOptions."""
        with self._lock:
            return [(report.report_type, dict(report.options)) for report in self._reports.values()]

    def report_text(self, report_type: str = "GET_MERCHANT_LISTINGS_ALL_DATA") -> str:
        """The report as it would be generated now (TSV text), for tests and the demo."""
        with self._lock:
            listings = [
                item for sku, item in sorted(self.data.listings.items()) if sku not in self._omitted_skus
            ]
        if report_type == "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA":
            return tsv_header(INVENTORY_COLUMNS) + "".join(
                tsv_line(INVENTORY_COLUMNS, self._inventory_row(listing)) for listing in listings
            )
        return tsv_header(LISTINGS_COLUMNS) + "".join(
            tsv_line(LISTINGS_COLUMNS, self._listing_row(listing)) for listing in listings
        )

    def _build_document(self, report_type: str) -> tuple[bytes, bool]:
        content = self.report_text(report_type).encode(self.data.report_encoding, errors="replace")
        if not self.data.compress_reports:
            return content, False
        packed = gzip.compress(content, mtime=0)
        if self._truncate_next:
            self._truncate_next -= 1
            packed = packed[: max(20, len(packed) * 6 // 10)]
        return packed, True

    def _listing_row(self, listing: SandboxListing) -> dict[str, object]:
        return {
            "item-name": html_escape_title(listing.title),
            "item-description": listing.description,
            "listing-id": f"{zlib.crc32(listing.sku.encode()):010d}",
            "seller-sku": listing.sku,
            "price": listing.price,
            "quantity": "" if listing.quantity is None else listing.quantity,
            "open-date": report_date(listing.opened_at, self.data.marketplace_id),
            "image-url": listing.image_urls[0] if listing.image_urls else "",
            "item-is-marketplace": "y",
            "product-id-type": "1",
            "item-condition": "11",
            "asin1": listing.item_id,
            "product-id": listing.item_id,
            "pending-quantity": "0",
            "fulfillment-channel": (
                "AMAZON_EU" if self.data.marketplace_id in EU_MARKETPLACES else "AMAZON_NA"
            )
            if listing.fulfilled_by_platform
            else "DEFAULT",
            "status": "Active" if listing.active else "Inactive",
        }

    def _inventory_row(self, listing: SandboxListing) -> dict[str, object]:
        quantity = listing.quantity or 0
        fba = listing.fulfilled_by_platform
        return {
            "sku": listing.sku,
            "fnsku": ("X00" + listing.item_id[-7:]) if fba else listing.item_id,
            "asin": listing.item_id,
            "product-name": html_escape_title(listing.title),
            "condition": "New",
            "your-price": listing.price,
            "mfn-listing-exists": "No" if fba else "Yes",
            "mfn-fulfillable-quantity": "" if fba else quantity,
            "afn-listing-exists": "Yes" if fba else "No",
            "afn-warehouse-quantity": quantity if fba else 0,
            "afn-fulfillable-quantity": quantity if fba else 0,
            "afn-unsellable-quantity": 0,
            "afn-reserved-quantity": 0,
            "afn-total-quantity": quantity if fba else 0,
        }

    # -- listings -------------------------------------------------------------------------

    def _listing_for(self, request: SandboxRequest, seller_id: str, sku: str) -> SandboxListing:
        if seller_id != self.data.seller_id:
            raise _error(403, "Unauthorized", "Access to requested resource is denied.")
        self._check_marketplace(request.args("marketplaceIds"), "marketplaceIds")
        listing = self.data.listings.get(sku)
        if listing is None:
            raise _error(404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace {self.data.marketplace_id}")
        return listing

    def _get_listing(self, request: SandboxRequest, seller_id: str, sku: str) -> SandboxResponse:
        listing = self._listing_for(request, seller_id, sku)
        included = set((request.arg("includedData") or "summaries").split(","))
        unknown = included - LISTING_DATA
        if unknown:
            raise _error(
                400, "InvalidInput", f"includedData has unknown values: {','.join(sorted(unknown))}."
            )
        data: dict[str, Any] = {"sku": sku}
        if "summaries" in included:
            summary: dict[str, Any] = {
                "marketplaceId": self.data.marketplace_id,
                "asin": listing.item_id,
                "productType": "PRODUCT",
                "conditionType": "new_new",
                "status": ["BUYABLE", "DISCOVERABLE"] if listing.active else ["DISCOVERABLE"],
                "itemName": listing.title,
                "createdDate": _iso(listing.opened_at),
                "lastUpdatedDate": _iso(listing.updated_at),
            }
            if listing.image_urls:
                summary["mainImage"] = {"link": listing.image_urls[0], "height": 500, "width": 500}
            data["summaries"] = [summary]
        if "attributes" in included:
            data["attributes"] = {
                "item_name": [{"value": listing.title, "marketplace_id": self.data.marketplace_id}],
                "purchasable_offer": self._offer_of(listing),
            }
        if "offers" in included:
            data["offers"] = (
                [
                    {
                        "marketplaceId": self.data.marketplace_id,
                        "offerType": "B2C",
                        "price": {"currencyCode": listing.currency, "amount": self._paying(listing)},
                    }
                ]
                if listing.active
                else []
            )
        return SandboxResponse.json(data)

    def _paying(self, listing: SandboxListing) -> str:
        """What a buyer pays now: a running sale's discounted_price, else our_price."""
        now = datetime.now(UTC)
        for offer in listing.purchasable_offer or []:
            if (
                offer.get("marketplace_id") != self.data.marketplace_id
                or offer.get("audience", "ALL") != "ALL"
            ):
                continue
            for discounted in offer.get("discounted_price") or []:
                for entry in discounted.get("schedule") or []:
                    start = _parse_iso(str(entry.get("start_at") or "2000-01-01T00:00:00Z"), "start_at")
                    end = _parse_iso(str(entry.get("end_at") or "2999-01-01T00:00:00Z"), "end_at")
                    if start <= now < end:
                        return f"{Decimal(str(entry['value_with_tax'])):.2f}"
        return listing.price

    def _offer_of(self, listing: SandboxListing) -> list[dict[str, Any]]:
        offers = listing.purchasable_offer or default_offer(listing, self.data.marketplace_id)
        return json.loads(json.dumps(offers))  # a copy: answers never share the stored lists

    def _store_offer(self, listing: SandboxListing, offers: list[dict[str, Any]]) -> None:
        listing.purchasable_offer = offers
        price = consumer_price(offers, self.data.marketplace_id)
        if price is not None:
            listing.price = f"{price:.2f}"
        listing.updated_at = datetime.now(UTC)

    def _patch_listing(self, request: SandboxRequest, seller_id: str, sku: str) -> SandboxResponse:
        listing = self._listing_for(request, seller_id, sku)
        body = request.json()
        if (
            not isinstance(body, dict)
            or not body.get("productType")
            or not isinstance(body.get("patches"), list)
            or not body["patches"]
        ):
            raise _error(400, "InvalidInput", "productType and patches are required.")
        submission = uuid.uuid4().hex
        offers: list[dict[str, Any]] | None = None
        for patch in body["patches"]:
            if not isinstance(patch, dict) or patch.get("path") != "/attributes/purchasable_offer":
                continue
            if patch.get("op") not in ("add", "replace") or not isinstance(patch.get("value"), list):
                raise _error(400, "InvalidInput", "purchasable_offer takes add or replace with a value list.")
            offers = [dict(v) for v in patch["value"] if isinstance(v, dict)]
        price: Decimal | None = None
        issues: list[dict[str, Any]] = []
        if offers is not None:
            try:
                price = consumer_price(offers, self.data.marketplace_id)
            except (KeyError, IndexError, TypeError, InvalidOperation):
                issues.append(
                    {
                        "code": "4000001",
                        "message": "our_price needs schedule.value_with_tax.",
                        "severity": "ERROR",
                        "attributeNames": ["purchasable_offer"],
                        "categories": ["INVALID_PRICE"],
                    }
                )
        reason = self._price_rejections.get(sku)
        if issues:
            pass
        elif offers is None or price is None:
            issues.append(_issue("4000001", "No price in the patch.", "MISSING_PRICE"))
        elif price <= 0:
            issues.append(_issue("90244", "The price must be greater than 0.", "INVALID_PRICE"))
        elif reason:
            issues.append(_issue("8541", reason, "INVALID_PRICE"))
        status = "INVALID" if issues else "ACCEPTED"
        self.price_submissions.append(
            {"sku": sku, "price": str(price), "status": status, "submissionId": submission, "offers": offers}
        )
        if status == "ACCEPTED" and offers is not None:
            if self._hold_prices:
                self._pending_prices[sku] = offers
            else:
                self._store_offer(listing, offers)
        return SandboxResponse.json(
            {"sku": sku, "status": status, "submissionId": submission, "issues": issues}
        )


def _issue(code: str, message: str, category: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "severity": "ERROR",
        "attributeNames": ["purchasable_offer"],
        "categories": [category],
    }


def consumer_price(offers: list[dict[str, Any]], marketplace_id: str) -> Decimal | None:
    """The consumer (`audience` ALL) `our_price` of a marketplace in a `purchasable_offer` value."""
    for offer in offers:
        if offer.get("marketplace_id") == marketplace_id and offer.get("audience", "ALL") == "ALL":
            return Decimal(str(offer["our_price"][0]["schedule"][0]["value_with_tax"]))
    return None
