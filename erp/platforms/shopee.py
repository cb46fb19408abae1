"""Shopee Open Platform v2 connector: orders, products and prices of one shop.

Every shop-level call carries `partner_id`, `timestamp`, `access_token`, `shop_id` and `sign`, where
sign = hex HMAC-SHA256(partner_key, partner_id + path + timestamp + access_token + shop_id).
Access tokens last four hours and are refreshed with the shop's refresh token; Shopee rotates the
refresh token on every refresh, so new tokens are handed to `on_credentials_changed` to be stored
at once (an old refresh token stops working).

Shopee has no report API: `request_report` returns an id that is immediately DONE, and
`download_report` walks the shop's items and streams a TSV with the column names of Amazon's
reports, so one importer reads both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from erp.platforms.base import (
    AuthorizationExpired,
    BadResponse,
    LivePrice,
    NotFound,
    OrderPage,
    PlatformError,
    PlatformOrder,
    ReportState,
)
from erp.platforms.config import StoreSettings, fingerprint
from erp.platforms.http import PlatformHttp
from erp.platforms.ratelimit import RateLimit, RateLimiter, limits_from_options
from erp.platforms.reportformat import INVENTORY_COLUMNS, LISTINGS_COLUMNS, tsv_header, tsv_line
from erp.platforms.values import decimal_text, positive_decimal

logger = logging.getLogger(__name__)

CredentialsCallback = Callable[[int, dict[str, str]], None]

# Shopee publishes no per-call limits for shop APIs; these stay well inside its partner quota.
SHOPEE_RATE_LIMITS: Mapping[str, RateLimit] = {
    name: RateLimit(10.0, 20)
    for name in (
        "get_order_list",
        "get_order_detail",
        "get_item_list",
        "get_item_base_info",
        "get_model_list",
        "search_item",
        "update_price",
        "access_token",
    )
}

WINDOW_SECONDS = 15 * 24 * 3600  # get_order_list accepts update-time windows of at most 15 days
ORDER_PAGE_SIZE = 100
DETAIL_BATCH = 50  # get_order_detail and get_item_base_info take at most 50 ids
ITEM_PAGE_SIZE = 100
TOKEN_EARLY_REFRESH = 60
AUTH_ERRORS = frozenset({"error_auth", "invalid_acceess_token", "invalid_access_token", "error_token"})
REPORT_ITEM_STATUSES = ("NORMAL", "UNLIST", "BANNED")
ORDER_DETAIL_FIELDS = "buyer_user_id,item_list,total_amount,fulfillment_flag,pay_time"
_ORDER_SN = re.compile(r"[A-Za-z0-9]{1,40}")
_REPORT_ID = re.compile(r"shopee-(listings|inventory)-(\d+)")


def sign(partner_key: str, *parts: object) -> str:
    """Shopee's request signature: hex HMAC-SHA256 of the concatenated parts."""
    base = "".join(str(p) for p in parts)
    return hmac.new(partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()


def encode_cursor(window_from: int, window_to: int, platform_cursor: str) -> str:
    raw = json.dumps({"f": window_from, "t": window_to, "c": platform_cursor}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int, str]:
    """The (window start, window end, Shopee cursor) a connector cursor stands for."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return int(data["f"]), int(data["t"]), str(data.get("c", ""))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise PlatformError("The saved sync position is not valid any more; run a full sync.") from None


class ShopeeConnector:
    """One Shopee shop's conversation with the Open Platform (thread-safe)."""

    platform = "shopee"

    def __init__(
        self,
        settings: StoreSettings,
        http: PlatformHttp,
        limiter: RateLimiter,
        *,
        on_credentials_changed: CredentialsCallback | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.http = http
        self.limiter = limiter
        self.limits = limits_from_options(SHOPEE_RATE_LIMITS, settings.options)
        self._on_credentials_changed = on_credentials_changed
        self._clock = clock
        self._lock = threading.Lock()
        self._credentials: dict[str, str] = dict(settings.credentials)
        self.token_refreshes = 0
        # Fingerprints of credentials this connector produced itself (rotated tokens).
        self._rotated: set[str] = set()

    # -- credentials ----------------------------------------------------------------------

    @property
    def partner_id(self) -> str:
        return self._credentials.get("partner_id", "")

    @property
    def shop_id(self) -> str:
        return self._credentials.get("shop_id") or self.settings.marketplace_id

    def credentials(self) -> dict[str, str]:
        """The current credentials, including tokens rotated since the connector was built."""
        with self._lock:
            return dict(self._credentials)

    def owns_credentials(self, credentials_fingerprint: str) -> bool:
        """Whether these stored credentials are ones this connector rotated to itself."""
        with self._lock:
            return credentials_fingerprint in self._rotated

    def _partner_key(self) -> str:
        key = self._credentials.get("partner_key", "")
        if not key or not self.partner_id or not self.shop_id:
            raise AuthorizationExpired(
                f"Store '{self.settings.name}' is missing its Shopee partner id, partner key or shop id: "
                "authorize it again under Platform authorization."
            )
        return key

    def _access_token(self) -> str:
        with self._lock:
            token = self._credentials.get("access_token", "")
            expires = self._credentials.get("access_token_expires_at", "")
            expired = bool(expires.isdigit() and self._clock() >= int(expires) - TOKEN_EARLY_REFRESH)
            if token and not expired:
                return token
            return self._refresh_locked()

    def _refresh_after_rejection(self, rejected_token: str) -> str:
        with self._lock:
            current = self._credentials.get("access_token", "")
            if current and current != rejected_token:
                return current  # another thread refreshed already; its refresh token rotated
            return self._refresh_locked()

    def _refresh_locked(self) -> str:
        refresh_token = self._credentials.get("refresh_token", "")
        if not refresh_token:
            raise AuthorizationExpired(
                f"Store '{self.settings.name}' has no Shopee authorization: authorize it under Platform "
                "authorization."
            )
        partner_key = self._partner_key()
        path = "/api/v2/auth/access_token/get"

        def signed() -> dict[str, Any]:
            timestamp = int(self._clock())
            return {
                "params": {
                    "partner_id": self.partner_id,
                    "timestamp": timestamp,
                    "sign": sign(partner_key, self.partner_id, path, timestamp),
                }
            }

        response = self.http.send(
            "POST",
            f"{self.settings.endpoint}{path}",
            operation="access_token",
            before_attempt=self._wait_for("access_token"),
            prepare=signed,
            json={
                "refresh_token": refresh_token,
                "partner_id": _as_int(self.partner_id),
                "shop_id": _as_int(self.shop_id),
            },
        )
        body = self.http.json(response, "access_token")
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        if error or response.status_code != 200 or not isinstance(body, dict):
            if error == "error_sign":
                raise AuthorizationExpired(
                    f"Shopee rejected the signature of store '{self.settings.name}': its partner id or "
                    "partner key is wrong."
                )
            raise AuthorizationExpired(
                f"Shopee no longer accepts the authorization of store '{self.settings.name}' "
                f"({error or response.status_code}): authorize the shop again under Platform authorization."
            )
        access = body.get("access_token")
        new_refresh = body.get("refresh_token")
        if not isinstance(access, str) or not access or not isinstance(new_refresh, str) or not new_refresh:
            raise BadResponse("Shopee's token refresh answered without tokens.")
        expire_in = body.get("expire_in", 14400)
        lifetime = int(expire_in) if isinstance(expire_in, int | float) else 14400
        self._credentials.update(
            access_token=access,
            refresh_token=new_refresh,
            access_token_expires_at=str(int(self._clock()) + lifetime),
        )
        self.token_refreshes += 1
        self._rotated.add(fingerprint(self._credentials))
        if self._on_credentials_changed is not None:
            try:
                self._on_credentials_changed(self.settings.store_id, dict(self._credentials))
            except Exception:  # the tokens still work in memory; storing them is retried next refresh
                logger.exception(
                    "could not store the rotated Shopee tokens of store %s", self.settings.store_id
                )
        return access

    # -- requests -------------------------------------------------------------------------

    def _wait_for(self, operation: str) -> Callable[[], float]:
        limit = self.limits.get(operation, RateLimit(10.0, 20))
        return lambda: self.limiter.acquire(self.settings.store_id, operation, limit)

    def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: list[tuple[str, Any]] | None = None,
        json_body: object = None,
    ) -> dict[str, Any]:
        """One signed shop-level call; returns the whole body after checking its `error` field."""
        partner_key = self._partner_key()
        token = self._access_token()
        for attempt in (1, 2):
            current_token = token

            def signed(access: str = current_token) -> dict[str, Any]:
                timestamp = int(self._clock())
                common = [
                    ("partner_id", self.partner_id),
                    ("timestamp", timestamp),
                    ("access_token", access),
                    ("shop_id", self.shop_id),
                    ("sign", sign(partner_key, self.partner_id, path, timestamp, access, self.shop_id)),
                ]
                return {"params": common + list(params or [])}

            kwargs: dict[str, Any] = {}
            if json_body is not None:
                kwargs["json"] = json_body
            response = self.http.send(
                method,
                f"{self.settings.endpoint}{path}",
                operation=operation,
                before_attempt=self._wait_for(operation),
                prepare=signed,
                **kwargs,
            )
            body = self.http.json(response, operation)
            if not isinstance(body, dict):
                raise BadResponse(f"Shopee's answer to {operation} has an unexpected shape.")
            error = str(body.get("error") or "")
            if error in AUTH_ERRORS and attempt == 1:
                token = self._refresh_after_rejection(token)
                continue
            if error in AUTH_ERRORS:
                raise AuthorizationExpired(
                    f"Shopee no longer accepts the access of store '{self.settings.name}' ({error}): "
                    "authorize the shop again under Platform authorization."
                )
            if error == "error_sign":
                raise AuthorizationExpired(
                    f"Shopee rejected the signature of store '{self.settings.name}': its partner id or "
                    "partner key is wrong."
                )
            if error:
                message = str(body.get("message") or "")[:300]
                if "not_found" in error or "not found" in message.lower():
                    raise NotFound(f"Shopee: {message or error}")
                raise PlatformError(f"Shopee rejected {operation} ({error}): {message}".rstrip(": "))
            if response.status_code != 200:
                raise PlatformError(f"Shopee answered {operation} with HTTP {response.status_code}.")
            return body
        raise AssertionError("unreachable")

    @staticmethod
    def _response(body: Mapping[str, Any], operation: str) -> dict[str, Any]:
        payload = body.get("response")
        if not isinstance(payload, dict):
            raise BadResponse(f"Shopee's answer to {operation} has no response field.")
        return payload

    # -- orders ---------------------------------------------------------------------------

    def list_orders(self, *, updated_after: datetime, cursor: str | None = None) -> OrderPage:
        """One page of orders updated after `updated_after`, walking 15-day windows up to now.

        The cursor encodes the current window and Shopee's own cursor, so a sync that stopped can
        resume exactly where it was. Windows without orders are skipped within one call.
        """
        now = int(self._clock())
        if cursor:
            window_from, window_to, platform_cursor = decode_cursor(cursor)
        else:
            window_from = (
                int(updated_after.timestamp())
                if updated_after.tzinfo
                else int(updated_after.replace(tzinfo=UTC).timestamp())
            )
            window_to, platform_cursor = min(window_from + WINDOW_SECONDS, now), ""
        while True:
            if window_from >= window_to:
                return OrderPage(orders=[], next_cursor=None)
            body = self._call(
                "GET",
                "/api/v2/order/get_order_list",
                "get_order_list",
                params=[
                    ("time_range_field", "update_time"),
                    ("time_from", window_from),
                    ("time_to", window_to),
                    ("page_size", ORDER_PAGE_SIZE),
                    ("cursor", platform_cursor),
                ],
            )
            payload = self._response(body, "get_order_list")
            order_list = payload.get("order_list") or []
            order_sns = [str(o["order_sn"]) for o in order_list if isinstance(o, dict) and o.get("order_sn")]
            next_cursor: str | None
            if payload.get("more"):
                next_cursor = encode_cursor(window_from, window_to, str(payload.get("next_cursor") or ""))
            elif window_to < now:
                next_cursor = encode_cursor(window_to, min(window_to + WINDOW_SECONDS, now), "")
            else:
                next_cursor = None
            if order_sns or next_cursor is None:
                return OrderPage(orders=self._order_details(order_sns), next_cursor=next_cursor)
            window_from, window_to, platform_cursor = decode_cursor(next_cursor)

    def _order_details(self, order_sns: list[str]) -> list[PlatformOrder]:
        found: dict[str, PlatformOrder] = {}
        for start in range(0, len(order_sns), DETAIL_BATCH):
            batch = order_sns[start : start + DETAIL_BATCH]
            body = self._call(
                "GET",
                "/api/v2/order/get_order_detail",
                "get_order_detail",
                params=[
                    ("order_sn_list", ",".join(batch)),
                    ("response_optional_fields", ORDER_DETAIL_FIELDS),
                ],
            )
            for raw in self._response(body, "get_order_detail").get("order_list") or []:
                order = _order(raw)
                found[order.order_id] = order
        return [found[sn] for sn in order_sns if sn in found]

    def get_order(self, order_id: str) -> PlatformOrder | None:
        order_id = order_id.strip()
        if not _ORDER_SN.fullmatch(order_id):
            return None
        try:
            orders = self._order_details([order_id])
        except NotFound:
            return None
        return orders[0] if orders else None

    # -- products -------------------------------------------------------------------------

    def _item_ids(self) -> Iterator[int]:
        offset = 0
        while True:
            params: list[tuple[str, Any]] = [("offset", offset), ("page_size", ITEM_PAGE_SIZE)]
            params += [("item_status", status) for status in REPORT_ITEM_STATUSES]
            body = self._call("GET", "/api/v2/product/get_item_list", "get_item_list", params=params)
            payload = self._response(body, "get_item_list")
            for item in payload.get("item") or []:
                if isinstance(item, dict) and item.get("item_id") is not None:
                    yield int(item["item_id"])
            if not payload.get("has_next_page"):
                return
            next_offset = int(payload.get("next_offset") or 0)
            if next_offset <= offset:
                raise BadResponse("Shopee's item list does not advance; try again later.")
            offset = next_offset

    def _base_info(self, item_ids: list[int]) -> list[dict[str, Any]]:
        body = self._call(
            "GET",
            "/api/v2/product/get_item_base_info",
            "get_item_base_info",
            params=[("item_id_list", ",".join(str(i) for i in item_ids))],
        )
        items = self._response(body, "get_item_base_info").get("item_list") or []
        return [item for item in items if isinstance(item, dict)]

    def _models(self, item_id: int) -> list[dict[str, Any]]:
        body = self._call(
            "GET", "/api/v2/product/get_model_list", "get_model_list", params=[("item_id", item_id)]
        )
        models = self._response(body, "get_model_list").get("model") or []
        return [model for model in models if isinstance(model, dict)]

    def _offers(self, items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """One flat record per sellable SKU: the item itself, or each of its models."""
        for item in items:
            if item.get("has_model"):
                for model in self._models(int(item["item_id"])):
                    yield _offer(item, model)
            else:
                yield _offer(item, None)

    # -- reports --------------------------------------------------------------------------

    def request_report(self, kind: str) -> str:
        if kind not in ("listings", "inventory"):
            raise PlatformError(f"Shopee has no '{kind}' report; use listings or inventory.")
        return f"shopee-{kind}-{int(self._clock())}"

    def report_state(self, report_id: str) -> ReportState:
        match = _REPORT_ID.fullmatch(report_id)
        if match is None:
            raise NotFound(f"Shopee has no report {report_id[:60]}.")
        # Built from the live item list when downloaded: ready at once, generated now.
        return ReportState(
            report_id=report_id,
            status="DONE",
            document_id=report_id,
            generated_at=datetime.fromtimestamp(self._clock(), UTC),
        )

    def download_report(self, document_id: str) -> Iterator[bytes]:
        """A listings or inventory TSV built from the item list, streamed batch by batch."""
        match = _REPORT_ID.fullmatch(document_id)
        if match is None:
            raise NotFound(f"Shopee has no report document {document_id[:60]}.")
        kind = match.group(1)
        return self._report_lines(kind)

    def _report_lines(self, kind: str) -> Iterator[bytes]:
        columns = LISTINGS_COLUMNS if kind == "listings" else INVENTORY_COLUMNS
        yield tsv_header(columns).encode()
        batch: list[int] = []
        for item_id in self._item_ids():
            batch.append(item_id)
            if len(batch) == DETAIL_BATCH:
                yield self._report_chunk(kind, columns, batch)
                batch = []
        if batch:
            yield self._report_chunk(kind, columns, batch)

    def _report_chunk(self, kind: str, columns: tuple[str, ...], item_ids: list[int]) -> bytes:
        lines = []
        for offer in self._offers(self._base_info(item_ids)):
            row = _listing_row(offer) if kind == "listings" else _inventory_row(offer)
            lines.append(tsv_line(columns, row))
        return "".join(lines).encode()

    # -- prices ---------------------------------------------------------------------------

    def _find_offer(self, sku: str) -> dict[str, Any] | None:
        sku = sku.strip()
        if not sku:
            return None
        offset = 0
        candidates: list[int] = []
        while True:
            body = self._call(
                "GET",
                "/api/v2/product/search_item",
                "search_item",
                params=[("item_sku", sku), ("offset", offset), ("page_size", ITEM_PAGE_SIZE)],
            )
            payload = self._response(body, "search_item")
            candidates.extend(int(i) for i in payload.get("item_id_list") or [])
            # search_item documents next_offset as a string; other list calls send a number.
            raw_next = str(payload.get("next_offset") or "")
            total = payload.get("total_count")
            more = payload.get("has_next_page", isinstance(total, int) and len(candidates) < total)
            if not more or not raw_next.isdigit() or int(raw_next) <= offset:
                break
            offset = int(raw_next)
        for start in range(0, len(candidates), DETAIL_BATCH):
            for offer in self._offers(self._base_info(candidates[start : start + DETAIL_BATCH])):
                if offer["sku"] == sku:
                    return offer
        return None

    def get_live_price(self, sku: str) -> LivePrice | None:
        """The SKU's current price on Shopee (the item's, or its model's), None when unknown."""
        offer = self._find_offer(sku)
        if offer is None:
            return None
        return LivePrice(sku=sku, amount=offer["price"], currency=offer["currency"], status=offer["status"])

    def update_price(self, sku: str, amount: str, currency: str) -> str:
        """product/update_price for the SKU's item or model; returns Shopee's request id."""
        value = positive_decimal(amount)
        offer = self._find_offer(sku)
        if offer is None:
            raise NotFound(f"Shopee has no item or model with SKU {sku} in this shop.")
        if currency and offer["currency"] and currency != offer["currency"]:
            raise PlatformError(f"This shop's prices are in {offer['currency']}, not {currency}.")
        price: dict[str, Any] = {"original_price": float(value)}
        if offer["model_id"] is not None:
            price["model_id"] = offer["model_id"]
        body = self._call(
            "POST",
            "/api/v2/product/update_price",
            "update_price",
            json_body={"item_id": offer["item_id"], "price_list": [price]},
        )
        payload = self._response(body, "update_price")
        failures = [f for f in payload.get("failure_list") or [] if isinstance(f, dict)]
        if failures:
            reason = str(failures[0].get("failed_reason", "no reason given"))[:300]
            raise PlatformError(f"Shopee rejected the price change for {sku}: {reason}")
        return str(body.get("request_id", ""))


def _as_int(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _timestamp(value: object) -> datetime | None:
    if value in (None, "", 0):
        return None
    if not isinstance(value, int | float):
        raise BadResponse("Shopee sent a time we cannot read.")
    return datetime.fromtimestamp(value, UTC)


def _order(raw: object) -> PlatformOrder:
    if not isinstance(raw, dict) or not raw.get("order_sn"):
        raise BadResponse("Shopee sent an order without an order number.")
    skus: list[str] = []
    for line in raw.get("item_list") or []:
        if isinstance(line, dict):
            sku = line.get("model_sku") or line.get("item_sku")
            if sku and sku not in skus:
                skus.append(str(sku))
    total = raw.get("total_amount")
    return PlatformOrder(
        order_id=str(raw["order_sn"]),
        platform_status=str(raw.get("order_status", "")),
        fulfilled_by_platform=raw.get("fulfillment_flag") == "fulfilled_by_shopee",
        purchased_at=_timestamp(raw.get("create_time")),
        updated_at=_timestamp(raw.get("update_time")),
        total_amount=decimal_text(total) if total is not None else "",
        currency=str(raw.get("currency", "")),
        skus=skus,
    )


def _first_price(price_info: object) -> tuple[str, str]:
    if isinstance(price_info, list) and price_info and isinstance(price_info[0], dict):
        info = price_info[0]
        return decimal_text(info.get("current_price")), str(info.get("currency", ""))
    return "", ""


def _stock(stock_info: object) -> int | None:
    if isinstance(stock_info, dict):
        summary = stock_info.get("summary_info")
        if isinstance(summary, dict) and isinstance(summary.get("total_available_stock"), int):
            return int(summary["total_available_stock"])
    return None


def _offer(item: Mapping[str, Any], model: Mapping[str, Any] | None) -> dict[str, Any]:
    source = model if model is not None else item
    price, currency = _first_price(source.get("price_info"))
    images = item.get("image") if isinstance(item.get("image"), dict) else {}
    assert isinstance(images, dict)
    urls = images.get("image_url_list") or []
    return {
        "item_id": int(item["item_id"]),
        "model_id": int(model["model_id"])
        if model is not None and model.get("model_id") is not None
        else None,
        "sku": str((model or {}).get("model_sku") or item.get("item_sku") or ""),
        "title": str(item.get("item_name", "")),
        "price": price,
        "currency": currency,
        "quantity": _stock(source.get("stock_info_v2")),
        "status": str(item.get("item_status", "")),
        "created": _timestamp(item.get("create_time")),
        "image_url": str(urls[0]) if isinstance(urls, list) and urls else "",
    }


def _listing_row(offer: Mapping[str, Any]) -> dict[str, object]:
    created = offer["created"]
    return {
        "item-name": offer["title"],
        "listing-id": f"{offer['item_id']}-{offer['model_id']}"
        if offer["model_id"]
        else str(offer["item_id"]),
        "seller-sku": offer["sku"],
        "price": offer["price"],
        "quantity": "" if offer["quantity"] is None else offer["quantity"],
        "open-date": created.strftime("%Y-%m-%d %H:%M:%S UTC") if created else "",
        "image-url": offer["image_url"],
        "asin1": offer["item_id"],
        "fulfillment-channel": "DEFAULT",
        "status": "Active" if offer["status"] == "NORMAL" else "Inactive",
    }


def _inventory_row(offer: Mapping[str, Any]) -> dict[str, object]:
    quantity = offer["quantity"] or 0
    return {
        "sku": offer["sku"],
        "asin": offer["item_id"],
        "product-name": offer["title"],
        "condition": "New",
        "your-price": offer["price"],
        "mfn-listing-exists": "Yes",
        "mfn-fulfillable-quantity": quantity,
        "afn-listing-exists": "No",
        "afn-warehouse-quantity": 0,
        "afn-fulfillable-quantity": 0,
        "afn-total-quantity": 0,
    }
