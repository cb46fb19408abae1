"""Amazon Selling Partner API connector: orders, reports and listings of one store.

Authentication is Login with Amazon: the store's refresh token is exchanged for an access token
(valid one hour, cached until shortly before it expires) which goes into `x-amz-access-token`.
An access token Amazon stops accepting mid-run is refreshed once; a refresh token Amazon rejects
(`invalid_grant`) means the seller must authorize the store again. A 403 with a fresh access token
is a missing role (the application lacks Amazon Fulfillment, say): it names the role and leaves the
store's authorization alone.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from erp.platforms.base import (
    AuthorizationExpired,
    BadResponse,
    LivePrice,
    NotFound,
    OrderPage,
    PermissionDenied,
    PlatformError,
    PlatformOrder,
    PlatformUnavailable,
    RateLimited,
    ReportState,
)
from erp.platforms.config import StoreSettings
from erp.platforms.http import PlatformHttp
from erp.platforms.ratelimit import RateLimit, RateLimiter, limits_from_options
from erp.platforms.values import decimal_text, positive_decimal

logger = logging.getLogger(__name__)

# Published default usage plans (requests per second, burst) of the operations we call.
AMAZON_RATE_LIMITS: Mapping[str, RateLimit] = {
    "getOrders": RateLimit(0.0167, 20),
    "getOrder": RateLimit(0.5, 30),
    "getOrderItems": RateLimit(0.5, 30),
    "createReport": RateLimit(0.0167, 15),
    "getReport": RateLimit(2.0, 15),
    "getReportDocument": RateLimit(0.0167, 15),
    "getListingsItem": RateLimit(5.0, 10),
    "patchListingsItem": RateLimit(5.0, 5),
}

# The SP-API role each operation needs: what a 403 with a valid access token is missing.
ROLES: Mapping[str, str] = {
    "getOrders": "Inventory and Order Tracking",
    "getOrder": "Inventory and Order Tracking",
    "getOrderItems": "Inventory and Order Tracking",
    "createReport": "Product Listing",
    "getReport": "Product Listing",
    "getReportDocument": "Product Listing",
    "getListingsItem": "Product Listing",
    "patchListingsItem": "Product Listing (and Pricing)",
}
REPORT_ROLES: Mapping[str, str] = {"inventory": "Amazon Fulfillment"}
LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
LWA_TOKEN_PATH = "/auth/o2/token"
# Amazon accepts LastUpdatedBefore only at least two minutes before its own current time.
LISTING_DELAY = timedelta(minutes=2)

REPORT_TYPES: Mapping[str, str] = {
    "listings": "GET_MERCHANT_LISTINGS_ALL_DATA",
    "inventory": "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA",
}

ORDERS_PAGE_SIZE = 100  # getOrders' MaxResultsPerPage maximum
TOKEN_EARLY_REFRESH = 60.0  # seconds before expiry when a cached access token is replaced
_ORDER_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: object) -> datetime | None:
    if not value:
        return None
    if not isinstance(value, str):
        raise BadResponse("Amazon sent a date we cannot read.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadResponse(f"Amazon sent a date we cannot read ({value[:40]!r}).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _first_error(body: object) -> tuple[str, str]:
    """The (code, message) of an SP-API error body `{"errors": [{"code", "message"}]}`."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("code", "")), str(errors[0].get("message", ""))[:300]
    return "", ""


def token_url(auth_endpoint: str) -> str:
    """The Login with Amazon token URL of a store: its auth endpoint as given, Amazon's by default.

    The store's auth endpoint is the token URL itself; a bare host (no path, as older sandbox
    stores were saved) gets the token path added.
    """
    endpoint = auth_endpoint.strip()
    if not endpoint:
        return LWA_TOKEN_URL
    if urlsplit(endpoint).path in ("", "/"):
        return endpoint.rstrip("/") + LWA_TOKEN_PATH
    return endpoint


def _encode_state(state: Mapping[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_state(cursor: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        state = None
    if not isinstance(state, dict) or not isinstance(state.get("f"), dict):
        raise PlatformError("The saved sync position is not valid any more; run a full sync.")
    return state


def _require_dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadResponse(f"Amazon's answer to {what} has an unexpected shape.")
    return value


class AmazonConnector:
    """One Amazon store's conversation with the Selling Partner API (thread-safe)."""

    platform = "amazon"

    def __init__(
        self,
        settings: StoreSettings,
        http: PlatformHttp,
        limiter: RateLimiter,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.http = http
        self.limiter = limiter
        self.limits = limits_from_options(AMAZON_RATE_LIMITS, settings.options)
        self._limits_lock = threading.Lock()
        self._monotonic = monotonic
        self._clock = clock
        self._token_lock = threading.Lock()
        self._access_token = ""
        self._token_expires = 0.0
        self.token_refreshes = 0  # how many LWA exchanges this connector made (for diagnostics)

    # -- authentication -------------------------------------------------------------------

    def _access(self) -> str:
        with self._token_lock:
            if self._access_token and self._monotonic() < self._token_expires:
                return self._access_token
            return self._exchange_refresh_token()

    def _forget_token(self, token: str) -> None:
        with self._token_lock:
            if self._access_token == token:
                self._access_token = ""

    def _exchange_refresh_token(self) -> str:
        refresh_token = self.settings.credential("refresh_token")
        client_id = self.settings.credential("client_id")
        if not refresh_token or not client_id:
            raise AuthorizationExpired(
                f"Store '{self.settings.name}' has no Amazon authorization yet: authorize it under "
                "Platform authorization."
            )
        response = self.http.send(
            "POST",
            token_url(self.settings.auth_endpoint),
            operation="token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": client_id,
                "client_secret": self.settings.credential("client_secret"),
            },
        )
        body = self.http.json(response, "token")
        if response.status_code != 200:
            code = str(body.get("error", "")) if isinstance(body, dict) else ""
            if code == "invalid_grant":
                # Only the refresh token itself being refused means the seller must authorize again.
                raise AuthorizationExpired(
                    f"Amazon no longer accepts the authorization of store '{self.settings.name}' "
                    f"({code}): authorize the store again under Platform authorization."
                )
            if code in ("invalid_client", "unauthorized_client"):
                raise PermissionDenied(
                    f"Amazon's login service does not accept SellerDesk's application credentials for "
                    f"store '{self.settings.name}' ({code}): the client id or secret is wrong or was "
                    "rotated. The store's authorization is unchanged; an administrator must fix the "
                    "application credentials."
                )
            raise PlatformError(
                f"Amazon's login service answered HTTP {response.status_code}"
                f"{f' ({code})' if code else ''}; try again later."
            )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise BadResponse("Amazon's login service answered without an access token.")
        expires_in = body.get("expires_in", 3600)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self._access_token = token
        self._token_expires = self._monotonic() + max(0.0, lifetime - TOKEN_EARLY_REFRESH)
        self.token_refreshes += 1
        return token

    # -- requests -------------------------------------------------------------------------

    def _limit(self, operation: str) -> RateLimit:
        with self._limits_lock:
            return self.limits.get(operation, RateLimit(1.0, 5))

    def _wait_for(self, operation: str) -> Callable[[], float]:
        return lambda: self.limiter.acquire(self.settings.store_id, operation, self._limit(operation))

    def _refill(self, operation: str) -> Callable[[], float]:
        return lambda: 1.0 / self._limit(operation).rate

    def _observe(self, operation: str) -> Callable[[httpx.Response], None]:
        """Follow the usage plan Amazon announces in `x-amzn-RateLimit-Limit` (requests per second)."""

        def read(response: httpx.Response) -> None:
            raw = response.headers.get("x-amzn-RateLimit-Limit")
            try:
                rate = float(raw) if raw else 0.0
            except ValueError:
                return
            overrides = self.settings.options.get("rate_limits")
            if not 0 < rate < 1e6 or (isinstance(overrides, Mapping) and operation in overrides):
                return  # a limit the store's options set explicitly stays
            scale = self.settings.options.get("rate_limit_scale")
            if isinstance(scale, int | float) and not isinstance(scale, bool) and scale > 0:
                rate *= float(scale)  # sandbox stores run the published plans faster, announced ones too
            with self._limits_lock:
                current = self.limits.get(operation, RateLimit(1.0, 5))
                if abs(current.rate - rate) > 1e-9:
                    self.limits[operation] = RateLimit(rate, current.burst)

        return read

    def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: object = None,
        missing_ok: bool = False,
        role: str = "",
    ) -> dict[str, Any] | None:
        """One SP-API call; refreshes the access token once when Amazon rejects it.

        Raises:
            PermissionDenied: a 401/403 even with a fresh access token: the application lacks the
                operation's role (`role`, or the operation's usual one).
        """
        response: httpx.Response | None = None
        for attempt in (1, 2):
            token = self._access()
            kwargs: dict[str, Any] = {"headers": {"x-amz-access-token": token}}
            if json_body is not None:
                kwargs["json"] = json_body
            response = self.http.send(
                method,
                f"{self.settings.endpoint}{path}",
                operation=operation,
                before_attempt=self._wait_for(operation),
                params=params,
                refill=self._refill(operation),
                observe=self._observe(operation),
                **kwargs,
            )
            if response.status_code in (401, 403) and attempt == 1:
                self._forget_token(token)
                continue
            break
        assert response is not None
        status = response.status_code
        if status == 404 and missing_ok:
            return None
        body = self.http.json(response, operation)
        if 200 <= status < 300:
            return _require_dict(body, operation)
        code, message = _first_error(body)
        if status in (401, 403):
            # The access token was just refreshed, so this is no expired authorization: the
            # application lacks the role the operation needs (or the seller's account lacks the
            # feature). Re-authorizing would not help; marking the store expired would stop its syncs.
            needed = role or ROLES.get(operation, "")
            raise PermissionDenied(
                f"Amazon refused {operation} for store '{self.settings.name}' ({message or code or status}): "
                + (
                    f"SellerDesk's application lacks the '{needed}' role for this seller"
                    if needed
                    else "SellerDesk's application lacks a role this operation needs"
                )
                + ". The store's authorization is unchanged; the role must be granted to the application "
                "(and the seller must authorize it) before this works."
            )
        if status == 404:
            raise NotFound(f"Amazon does not know this {operation.removeprefix('get')}: {message or code}.")
        raise PlatformError(f"Amazon rejected {operation} (HTTP {status} {code}): {message}".rstrip(": "))

    # -- orders ---------------------------------------------------------------------------

    def _order(self, raw: object) -> PlatformOrder:
        data = _require_dict(raw, "getOrders")
        order_id = data.get("AmazonOrderId")
        if not isinstance(order_id, str) or not order_id:
            raise BadResponse("Amazon sent an order without an order id.")
        total = data.get("OrderTotal") if isinstance(data.get("OrderTotal"), dict) else {}
        assert isinstance(total, dict)
        return PlatformOrder(
            order_id=order_id,
            platform_status=str(data.get("OrderStatus", "")),
            fulfilled_by_platform=data.get("FulfillmentChannel") == "AFN",
            purchased_at=_parse_time(data.get("PurchaseDate")),
            updated_at=_parse_time(data.get("LastUpdateDate")),
            total_amount=str(total.get("Amount", "")),
            currency=str(total.get("CurrencyCode", "")),
        )

    def _order_skus(self, order_id: str) -> list[str]:
        skus: list[str] = []
        token: str | None = None
        while True:
            params = {"NextToken": token} if token else None
            body = self._call(
                "GET",
                f"/orders/v0/orders/{quote(order_id, safe='')}/orderItems",
                "getOrderItems",
                params=params,
            )
            payload = _require_dict((body or {}).get("payload"), "getOrderItems")
            items = payload.get("OrderItems") or []
            skus.extend(str(i["SellerSKU"]) for i in items if isinstance(i, dict) and i.get("SellerSKU"))
            next_token = payload.get("NextToken")
            if not next_token:
                return skus
            token = str(next_token)

    def list_orders(self, *, updated_after: datetime, cursor: str | None = None) -> OrderPage:
        """One page of orders updated after `updated_after` (getOrders with NextToken paging).

        The cursor carries the listing's original filters, sent again with every NextToken (the
        model: NextToken "doesn't affect any filters that you include"), so a page survives a
        restart of the process. A NextToken Amazon refuses halves the window instead of starting
        it over, so a listing that cannot be paged still advances a page at a time. The last page
        of a window says through when the listing is complete (Amazon's own `LastUpdatedBefore`).
        """
        if cursor:
            state = _decode_state(cursor)
        else:
            # Amazon refuses a LastUpdatedAfter in the future.
            after = min(updated_after, self._clock() - LISTING_DELAY)
            state = {
                "f": {
                    "MarketplaceIds": self.settings.marketplace_id,
                    "LastUpdatedAfter": _iso(after),
                    "MaxResultsPerPage": ORDERS_PAGE_SIZE,
                }
            }
        filters: dict[str, Any] = dict(state["f"])
        token = str(state.get("t") or "")
        params = {**filters, "NextToken": token} if token else filters
        try:
            body = self._call("GET", "/orders/v0/orders", "getOrders", params=params) or {}
        except PlatformError as exc:
            halved = self._halved(state, exc) if token else None
            if halved is None:
                raise
            logger.info("store %s: getOrders refused a NextToken; halving the window", self.settings.store_id)
            return self.list_orders(updated_after=updated_after, cursor=_encode_state(halved))
        payload = _require_dict(body.get("payload"), "getOrders")
        raw_orders = payload.get("Orders")
        if not isinstance(raw_orders, list):
            raise BadResponse("Amazon's order list has no orders field.")
        orders = [self._order(raw) for raw in raw_orders]
        if self.settings.options.get("order_items"):
            orders = [_with_skus(order, self._order_skus(order.order_id)) for order in orders]
        # The listing's upper bound: the one asked for, else the one Amazon applied.
        bound = str(
            filters.get("LastUpdatedBefore") or payload.get("LastUpdatedBefore") or state.get("b") or ""
        )
        end = str(state.get("e") or bound)
        next_token = payload.get("NextToken")
        if next_token:
            following = {**state, "t": str(next_token), "b": bound, "e": end}
            return OrderPage(orders=orders, next_cursor=_encode_state(following))
        complete = _parse_time(bound) if bound else None
        final = _parse_time(end) if end else None
        if filters.get("LastUpdatedBefore") and complete and final and complete < final:
            # A halved window is done: the rest of the original one follows.
            rest = {**filters, "LastUpdatedAfter": bound, "LastUpdatedBefore": end}
            return OrderPage(
                orders=orders, next_cursor=_encode_state({"f": rest, "e": end}), complete_through=complete
            )
        return OrderPage(orders=orders, next_cursor=None, complete_through=complete)

    def _halved(self, state: Mapping[str, Any], error: PlatformError) -> dict[str, Any] | None:
        """The first half of a window whose NextToken Amazon refused, or None when it cannot shrink."""
        if isinstance(error, AuthorizationExpired | PermissionDenied | RateLimited | PlatformUnavailable):
            return None
        filters = dict(state["f"])
        start = _parse_time(filters.get("LastUpdatedAfter"))
        stop = _parse_time(filters.get("LastUpdatedBefore") or state.get("b") or state.get("e"))
        if start is None or stop is None or (stop - start) < timedelta(seconds=2):
            return None
        middle = start + (stop - start) / 2
        end = str(state.get("e") or _iso(stop))
        return {"f": {**filters, "LastUpdatedBefore": _iso(middle)}, "e": end}

    def get_order(self, order_id: str) -> PlatformOrder | None:
        """The order with its SKUs (getOrder + getOrderItems), or None when Amazon does not know it."""
        order_id = order_id.strip()
        if not _ORDER_ID.fullmatch(order_id):
            return None
        body = self._call("GET", f"/orders/v0/orders/{quote(order_id, safe='')}", "getOrder", missing_ok=True)
        if body is None:
            return None
        order = self._order(body.get("payload"))
        return _with_skus(order, self._order_skus(order.order_id))

    # -- reports --------------------------------------------------------------------------

    def request_report(self, kind: str) -> str:
        """createReport for the listings or inventory report; returns Amazon's report id."""
        report_type = REPORT_TYPES.get(kind)
        if report_type is None:
            raise PlatformError(f"Amazon has no '{kind}' report; use one of {', '.join(REPORT_TYPES)}.")
        body = self._call(
            "POST",
            "/reports/2021-06-30/reports",
            "createReport",
            json_body=_report_specification(report_type, self.settings.marketplace_id),
            role=REPORT_ROLES.get(kind, ""),
        )
        report_id = (body or {}).get("reportId")
        if not report_id:
            raise BadResponse("Amazon accepted the report request but sent no report id.")
        return str(report_id)

    def report_state(self, report_id: str) -> ReportState:
        body = (
            self._call("GET", f"/reports/2021-06-30/reports/{quote(report_id, safe='')}", "getReport") or {}
        )
        status = str(body.get("processingStatus", ""))
        if status not in ("IN_QUEUE", "IN_PROGRESS", "DONE", "CANCELLED", "FATAL"):
            raise BadResponse(f"Amazon sent an unknown report status ({status[:30]!r}).")
        document_id = body.get("reportDocumentId")
        return ReportState(
            report_id=str(body.get("reportId", report_id)),
            status=status,
            document_id=str(document_id) if document_id else None,
            generated_at=_parse_time(body.get("processingEndTime")),
        )

    def download_report(self, document_id: str) -> Iterator[bytes]:
        """The report document, gunzipped when Amazon compressed it, streamed in chunks.

        The returned stream's `content_type` is the download's Content-Type once the first chunk
        has arrived: its charset says how the text is encoded (amazon.co.jp documents are
        Shift_JIS, EU ones often Cp1252), which the report parser reads.
        """
        body = (
            self._call(
                "GET", f"/reports/2021-06-30/documents/{quote(document_id, safe='')}", "getReportDocument"
            )
            or {}
        )
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise BadResponse("Amazon sent a report document without a download address.")
        compression = body.get("compressionAlgorithm")
        if compression and compression != "GZIP":
            raise BadResponse(
                f"Amazon compressed the report with {str(compression)[:20]}, which we cannot read."
            )
        document = _ReportDocument()
        chunks = self.http.stream(url, operation="getReportDocument", on_response=document.arrived)
        document.chunks = _gunzip(chunks) if compression == "GZIP" else chunks
        return document

    # -- listings -------------------------------------------------------------------------

    def _listing_path(self, sku: str) -> str:
        seller_id = self.settings.credential("seller_id")
        if not seller_id:
            raise AuthorizationExpired(
                f"Store '{self.settings.name}' has no Amazon seller id: authorize it again under Platform "
                "authorization."
            )
        return f"/listings/2021-08-01/items/{quote(seller_id, safe='')}/{quote(sku, safe='')}"

    def get_live_price(self, sku: str) -> LivePrice | None:
        """The listing's price on Amazon (getListingsItem), None for an unknown SKU.

        `amount` is the consumer `our_price` of `purchasable_offer`, the price `update_price` sets;
        the offer buyers see can be a sale price (`discounted_price`), which then comes as
        `promotion_amount`. A listing without a buyable offer has no amount.
        """
        if not sku.strip():
            return None
        body = self._call(
            "GET",
            self._listing_path(sku),
            "getListingsItem",
            params={
                "marketplaceIds": self.settings.marketplace_id,
                "includedData": "summaries,attributes,offers",
            },
            missing_ok=True,
        )
        if body is None:
            return None
        status = ""
        for summary in body.get("summaries") or []:
            if isinstance(summary, dict) and summary.get("marketplaceId") == self.settings.marketplace_id:
                raw_status = summary.get("status") or []
                status = (
                    ",".join(str(s) for s in raw_status) if isinstance(raw_status, list) else str(raw_status)
                )
        for offer in body.get("offers") or []:
            if not isinstance(offer, dict) or offer.get("marketplaceId") != self.settings.marketplace_id:
                continue
            if offer.get("offerType", "B2C") != "B2C":
                continue
            price = offer.get("price") if isinstance(offer.get("price"), dict) else {}
            assert isinstance(price, dict)
            paying = decimal_text(price.get("amount"))
            ours = _our_price(_attribute_list(body, "purchasable_offer"), self.settings.marketplace_id)
            differs = bool(ours and paying) and Decimal(ours) != Decimal(paying)
            return LivePrice(
                sku=sku,
                amount=ours if differs or not paying else paying,  # Amazon's formatting when equal
                currency=str(price.get("currencyCode", "")),
                status=status,
                promotion_amount=paying if differs else "",
            )
        return LivePrice(sku=sku, amount="", currency="", status=status)

    def update_price(self, sku: str, amount: str, currency: str) -> str:
        """Change the listing's price; returns the submission id.

        `purchasable_offer` is the whole offer (every marketplace, audience and currency, sale
        prices, minimum and maximum prices, B2B entries), and a patch replaces it whole. So, as
        Amazon's own pricing sample does, the attribute is read first and sent back complete with
        only `our_price` of this marketplace's consumer offer changed.
        """
        value = positive_decimal(amount)
        current = self._call(
            "GET",
            self._listing_path(sku),
            "getListingsItem",
            params={"marketplaceIds": self.settings.marketplace_id, "includedData": "summaries,attributes"},
            missing_ok=True,
        )
        if current is None:
            raise NotFound(f"Amazon has no listing with SKU {sku} in this marketplace.")
        offers = _with_our_price(
            _attribute_list(current, "purchasable_offer"),
            self.settings.marketplace_id,
            currency,
            float(value),
        )
        body = self._call(
            "PATCH",
            self._listing_path(sku),
            "patchListingsItem",
            params={"marketplaceIds": self.settings.marketplace_id},
            json_body={
                "productType": self._product_type(current),
                "patches": [{"op": "replace", "path": "/attributes/purchasable_offer", "value": offers}],
            },
            missing_ok=True,
        )
        if body is None:
            raise NotFound(f"Amazon has no listing with SKU {sku} in this marketplace.")
        if body.get("status") != "ACCEPTED":
            issues = [i for i in body.get("issues") or [] if isinstance(i, dict)]
            reason = "; ".join(str(i.get("message", "")) for i in issues)[:300] or "no reason given"
            raise PlatformError(f"Amazon rejected the price change for {sku}: {reason}")
        return str(body.get("submissionId", ""))

    def _product_type(self, listing: Mapping[str, Any]) -> str:
        """The listing's product type in this marketplace (a patch must name the right one)."""
        for summary in listing.get("summaries") or []:
            if isinstance(summary, dict) and summary.get("marketplaceId") == self.settings.marketplace_id:
                if summary.get("productType"):
                    return str(summary["productType"])
        return "PRODUCT"


def _attribute_list(listing: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    attributes = listing.get("attributes")
    values = attributes.get(name) if isinstance(attributes, dict) else None
    return [dict(v) for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _our_price(offers: list[dict[str, Any]], marketplace_id: str) -> str:
    """The consumer `our_price` of a marketplace in a `purchasable_offer` value ("" when none)."""
    for offer in offers:
        if offer.get("marketplace_id") == marketplace_id and offer.get("audience", "ALL") == "ALL":
            for price in offer.get("our_price") or []:
                for entry in (price.get("schedule") or []) if isinstance(price, dict) else []:
                    if isinstance(entry, dict) and entry.get("value_with_tax") is not None:
                        return decimal_text(entry["value_with_tax"])
    return ""


def _with_our_price(
    offers: list[dict[str, Any]], marketplace_id: str, currency: str, value: float
) -> list[dict[str, Any]]:
    """The offer entries with this marketplace's consumer `our_price` set to `value`, nothing else touched.

    The consumer offer is the entry of the marketplace whose audience is ALL (or unset); B2B and
    other marketplaces' entries, sale prices and min/max prices stay as they are. Without such an
    entry (a listing that never had an offer here) one is added.
    """
    updated = [dict(offer) for offer in offers]
    for offer in updated:
        if offer.get("marketplace_id") != marketplace_id or offer.get("audience", "ALL") != "ALL":
            continue
        if currency and offer.get("currency") not in (None, "", currency):
            continue
        prices = [dict(p) for p in offer.get("our_price") or [] if isinstance(p, dict)] or [{}]
        schedule = [dict(s) for s in prices[0].get("schedule") or [] if isinstance(s, dict)] or [{}]
        schedule[0]["value_with_tax"] = value
        prices[0]["schedule"] = schedule
        offer["our_price"] = prices
        return updated
    entry: dict[str, Any] = {
        "marketplace_id": marketplace_id,
        "audience": "ALL",
        "our_price": [{"schedule": [{"value_with_tax": value}]}],
    }
    if currency:
        entry["currency"] = currency
    return [*updated, entry]


def _with_skus(order: PlatformOrder, skus: list[str]) -> PlatformOrder:
    return PlatformOrder(
        order_id=order.order_id,
        platform_status=order.platform_status,
        fulfilled_by_platform=order.fulfilled_by_platform,
        purchased_at=order.purchased_at,
        updated_at=order.updated_at,
        total_amount=order.total_amount,
        currency=order.currency,
        skus=skus,
    )


def _report_specification(report_type: str, marketplace_id: str) -> dict[str, Any]:
    """createReport's body. The listings report's headers come in the account's or marketplace's
    language unless the request names a locale (`preferredReportDocumentLocale`, documented for
    the inventory reports): English ones are what every parser knows first."""
    body: dict[str, Any] = {"reportType": report_type, "marketplaceIds": [marketplace_id]}
    if report_type == REPORT_TYPES["listings"]:
        body["reportOptions"] = {"preferredReportDocumentLocale": "en_US"}
    return body


class _ReportDocument(Iterator[bytes]):
    """A report document's chunks, with the Content-Type its download came with."""

    def __init__(self) -> None:
        self.chunks: Iterator[bytes] = iter(())
        self.content_type: str | None = None

    def arrived(self, response: httpx.Response) -> None:
        self.content_type = response.headers.get("Content-Type")

    def __next__(self) -> bytes:
        return next(self.chunks)

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


def _gunzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Decompress a gzip stream chunk by chunk; a document that ends early is a `BadResponse`."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        for chunk in chunks:
            try:
                data = decompressor.decompress(chunk)
            except zlib.error:
                raise BadResponse(
                    "The report document is damaged (not valid gzip); request a new report."
                ) from None
            if data:
                yield data
        tail = decompressor.flush()
        if tail:
            yield tail
        if not decompressor.eof:
            raise BadResponse(
                "The report document is truncated (the gzip file ends early); request a new report."
            )
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
