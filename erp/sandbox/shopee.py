"""A sandbox Shopee Open Platform v2 shop over real HTTP.

It checks what Shopee checks: the partner id, a timestamp no older than five minutes, the HMAC
signature, the access token and shop id, required parameters, page sizes and the 15-day limit of
order time ranges. Answers have Shopee's shape: `{"error": "", "message": "", "response": {...},
"request_id": ...}`, with `error` set on failure. Refresh tokens rotate: each refresh issues a new
one and the old one stops working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from erp.sandbox.base import SandboxMarketplace
from erp.sandbox.httpserver import BadRequest, SandboxRequest, SandboxResponse, SandboxServer
from erp.sandbox.records import SandboxListing, SandboxOrder

WINDOW_LIMIT = 15 * 24 * 3600
TIMESTAMP_TOLERANCE = 300
MAX_PAGE = 100
MAX_BATCH = 50
AUTH_PATH = "/api/v2/auth/access_token/get"
TEMPORARY_MESSAGE = "System error, please try again later."


def _request_id() -> str:
    return uuid.uuid4().hex


def _fail(error: str, message: str, status: int = 200) -> BadRequest:
    return BadRequest(
        SandboxResponse.json(
            {"error": error, "message": message, "request_id": _request_id()},
            status=status,
        )
    )


def _ok(response: dict[str, Any], **extra: Any) -> SandboxResponse:
    return SandboxResponse.json(
        {"error": "", "message": "", "response": response, "request_id": _request_id(), **extra}
    )


def _int_arg(request: SandboxRequest, name: str, *, required: bool = True, default: int = 0) -> int:
    value = request.arg(name)
    if value is None or value == "":
        if required:
            raise _fail("error_param", f"{name} is required.", 400)
        return default
    try:
        return int(value)
    except ValueError:
        raise _fail("error_param", f"{name} must be an integer.", 400) from None


def shopee_error_body(status: int) -> object:
    """Shopee's error shape for an injected 429 or 5xx."""
    error = "error_rate_limit" if status == 429 else "error_server"  # the names Shopee documents
    return {"error": error, "message": "Please try again later.", "request_id": _request_id()}


@dataclass
class ShopeeSandboxData:
    """One shop of one partner app, with its tokens and data."""

    partner_id: int = 2001887
    partner_key: str = field(default_factory=lambda: "shpk" + secrets.token_hex(24))
    shop_id: int = 600012345
    region: str = "MY"
    currency: str = "MYR"
    refresh_token: str = field(default_factory=lambda: secrets.token_hex(16))
    access_token: str = field(default_factory=lambda: secrets.token_hex(16))
    token_lifetime: int = 14400
    orders: dict[str, SandboxOrder] = field(default_factory=dict)
    listings: dict[str, SandboxListing] = field(default_factory=dict)  # by SKU


def _search_offset(position: int) -> str:
    """search_item's next_offset: an opaque string, as Shopee's own sample shows ("xsszxjcdeahx")."""
    return base64.urlsafe_b64encode(json.dumps({"o": position}).encode()).decode().rstrip("=")


def _search_position(offset: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(offset + "=" * (-len(offset) % 4)))
        return int(data["o"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _fail("error_param", "offset is invalid.", 400) from None


class ShopeeSandbox(SandboxMarketplace):
    """A sandbox Shopee shop. Use as a context manager, or `start()` / `stop()`."""

    platform = "shopee"
    next_status: ClassVar[Mapping[str, str]] = {
        "UNPAID": "READY_TO_SHIP",
        "READY_TO_SHIP": "PROCESSED",
        "PROCESSED": "SHIPPED",
        "SHIPPED": "COMPLETED",
    }

    def __init__(self, data: ShopeeSandboxData | None = None) -> None:
        super().__init__()
        self.data = data or ShopeeSandboxData()
        self.server = SandboxServer(self._route, name="shopee-sandbox", error_body=shopee_error_body)
        self.faults = self.server.faults
        self._tokens: dict[str, float] = {self.data.access_token: time.time() + self.data.token_lifetime}
        self._refresh_rejected = False
        self._model_ids: dict[str, int] = {}
        self.price_updates: list[dict[str, Any]] = []
        self.refreshes = 0
        self._refresh_failures: list[tuple[str, str, int]] = []
        self._denied_paths: set[str] = set()
        self.prefix_errors = (
            False  # answer `common.error_auth`, `product.error_param` ... as Shopee sometimes does
        )

    def store_credentials(self) -> dict[str, str]:
        """The credentials a `Store` row needs to talk to this shop."""
        return {
            "partner_id": str(self.data.partner_id),
            "partner_key": self.data.partner_key,
            "shop_id": str(self.data.shop_id),
            "access_token": self.data.access_token,
            "refresh_token": self.data.refresh_token,
        }

    def store_fields(self, *, rate_limit_scale: float = 100.0) -> dict[str, Any]:
        """Everything a `Store(...)` needs besides account and name, with fast rate limits."""
        return {
            "platform": "shopee",
            "region": self.data.region,
            "endpoint": self.base_url,
            "auth_endpoint": "",
            "marketplace_id": str(self.data.shop_id),
            "credentials": self.store_credentials(),
            "options": {"rate_limit_scale": rate_limit_scale},
        }

    # -- fault helpers --------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (expired mid-run)."""
        with self._lock:
            self._tokens.clear()

    def reject_refresh_token(self, rejected: bool = True) -> None:
        """The shop's authorization is cancelled: refreshing fails, access tokens stop working."""
        with self._lock:
            self._refresh_rejected = rejected
            if rejected:
                self._tokens.clear()

    def fail_next_refresh(
        self, count: int = 1, error: str = "error_server", message: str = TEMPORARY_MESSAGE, status: int = 500
    ) -> None:
        """The next `count` token refreshes fail with `error` (HTTP `status`) and consume nothing."""
        with self._lock:
            self._refresh_failures.extend([(error, message, status)] * count)

    def clear_refresh_failures(self) -> None:
        with self._lock:
            self._refresh_failures.clear()

    def deny_api(self, path: str, denied: bool = True) -> None:
        """The app lacks the permission for this API (`/api/v2/product/update_price` ...)."""
        with self._lock:
            if denied:
                self._denied_paths.add(path)
            else:
                self._denied_paths.discard(path)

    def start_promotion(self, sku: str, price: str | None) -> None:
        """Buyers pay `price` (current_price) while the item's original_price stays; None ends it."""
        with self._lock:
            self.data.listings[sku].promotion_price = price

    # -- checks ---------------------------------------------------------------------------

    def _expected_sign(self, *parts: object) -> str:
        base = "".join(str(p) for p in parts)
        return hmac.new(self.data.partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()

    def _check_common(self, request: SandboxRequest, *, shop_level: bool) -> None:
        partner_id = request.arg("partner_id")
        if partner_id != str(self.data.partner_id):
            raise _fail("error_param", "partner_id is invalid.", 403)
        timestamp = _int_arg(request, "timestamp")
        if abs(time.time() - timestamp) > TIMESTAMP_TOLERANCE:
            raise _fail("error_param", "Invalid timestamp: it must be within 5 minutes of now.", 403)
        given = request.arg("sign") or ""
        if shop_level:
            token = request.arg("access_token") or ""
            shop_id = request.arg("shop_id") or ""
            expected = self._expected_sign(partner_id, request.path, timestamp, token, shop_id)
        else:
            expected = self._expected_sign(partner_id, request.path, timestamp)
        if not hmac.compare_digest(given, expected):
            raise _fail("error_sign", "Wrong sign.", 403)
        if shop_level:
            if request.arg("shop_id") != str(self.data.shop_id):
                raise _fail("error_param", "shop_id is invalid.", 403)
            with self._lock:
                expiry = self._tokens.get(request.arg("access_token") or "")
            if expiry is None or time.time() >= expiry:
                raise _fail("invalid_acceess_token", "Invalid access_token.", 403)

    # -- routing --------------------------------------------------------------------------

    def _route(self, request: SandboxRequest) -> SandboxResponse:
        routes = {
            ("POST", AUTH_PATH): self._refresh,
            ("GET", "/api/v2/order/get_order_list"): self._order_list,
            ("GET", "/api/v2/order/get_order_detail"): self._order_detail,
            ("GET", "/api/v2/product/get_item_list"): self._item_list,
            ("GET", "/api/v2/product/get_item_base_info"): self._item_base_info,
            ("GET", "/api/v2/product/get_model_list"): self._model_list,
            ("GET", "/api/v2/product/search_item"): self._search_item,
            ("POST", "/api/v2/product/update_price"): self._update_price,
        }
        handler = routes.get((request.method, request.path))
        if handler is None:
            raise _fail("error_not_found", f"{request.method} {request.path} is not an API.", 404)
        try:
            try:
                self._check_common(request, shop_level=request.path != AUTH_PATH)
            except BadRequest as exc:
                raise self._prefixed(exc, "common") from None
            with self._lock:
                if request.path in self._denied_paths:
                    raise _fail("error_auth", "No permission to current api.", 403)
                return handler(request)
        except BadRequest as exc:
            raise self._prefixed(exc, request.path.split("/")[3]) from None

    def _prefixed(self, exc: BadRequest, module: str) -> BadRequest:
        """The error with its module prefix when the sandbox is set to send them."""
        if not self.prefix_errors:
            return exc
        body = json.loads(exc.response.body)
        if isinstance(body, dict) and body.get("error") and "." not in str(body["error"]):
            body["error"] = f"{module}.{body['error']}"
            exc.response.body = json.dumps(body).encode()
        return exc

    def _refresh(self, request: SandboxRequest) -> SandboxResponse:
        body = request.json()
        if not isinstance(body, dict) or not body.get("refresh_token") or not body.get("shop_id"):
            raise _fail("error_param", "refresh_token, partner_id and shop_id are required.", 400)
        if str(body.get("partner_id")) != str(self.data.partner_id) or str(body["shop_id"]) != str(
            self.data.shop_id
        ):
            raise _fail("error_param", "partner_id or shop_id is invalid.", 403)
        if self._refresh_failures:
            error, message, status = self._refresh_failures.pop(0)
            raise _fail(error, message, status)
        if self._refresh_rejected or body["refresh_token"] != self.data.refresh_token:
            raise _fail("error_auth", "Invalid refresh_token.", 403)
        self.data.refresh_token = secrets.token_hex(16)
        self.data.access_token = secrets.token_hex(16)
        self._tokens[self.data.access_token] = time.time() + self.data.token_lifetime
        self.refreshes += 1
        return SandboxResponse.json(
            {
                "error": "",
                "message": "",
                "request_id": _request_id(),
                "access_token": self.data.access_token,
                "refresh_token": self.data.refresh_token,
                "expire_in": self.data.token_lifetime,
                "partner_id": self.data.partner_id,
                "shop_id": self.data.shop_id,
            }
        )

    # -- orders ---------------------------------------------------------------------------

    def _order_list(self, request: SandboxRequest) -> SandboxResponse:
        field_name = request.arg("time_range_field")
        if field_name not in ("create_time", "update_time"):
            raise _fail("error_param", "time_range_field must be create_time or update_time.", 400)
        time_from, time_to = _int_arg(request, "time_from"), _int_arg(request, "time_to")
        if time_from > time_to:
            raise _fail("error_param", "time_from must be earlier than time_to.", 400)
        if time_to - time_from > WINDOW_LIMIT:
            raise _fail("error_param", "The time range cannot exceed 15 days.", 400)
        page_size = _int_arg(request, "page_size")
        if not 1 <= page_size <= MAX_PAGE:
            raise _fail("error_param", "page_size must be between 1 and 100.", 400)
        cursor = request.arg("cursor") or ""
        if cursor and not cursor.isdigit():
            raise _fail("error_param", "cursor is invalid.", 400)
        offset = int(cursor or 0)
        status = request.arg("order_status")

        def moment(order: SandboxOrder) -> int:
            return int((order.created_at if field_name == "create_time" else order.updated_at).timestamp())

        matching = sorted(
            (
                o
                for o in self.data.orders.values()
                if not o.hidden_from_list
                and time_from <= moment(o) <= time_to
                and (not status or o.status == status)
            ),
            key=lambda o: (moment(o), o.order_id),
        )
        page = matching[offset : offset + page_size]
        more = offset + page_size < len(matching)
        with_status = "order_status" in (request.arg("response_optional_fields") or "").split(",")
        listed = [
            {"order_sn": o.order_id, **({"order_status": o.status} if with_status else {})} for o in page
        ]
        self._order_page_served()
        return _ok(
            {"more": more, "next_cursor": str(offset + page_size) if more else "", "order_list": listed}
        )

    def _order_detail(self, request: SandboxRequest) -> SandboxResponse:
        raw = request.arg("order_sn_list") or ""
        order_sns = [sn for sn in raw.split(",") if sn]
        if not order_sns:
            raise _fail("error_param", "order_sn_list is required.", 400)
        if len(order_sns) > MAX_BATCH:
            raise _fail("error_param", "order_sn_list can hold at most 50 orders.", 400)
        optional = set((request.arg("response_optional_fields") or "").split(","))
        found = [self.data.orders[sn] for sn in order_sns if sn in self.data.orders]
        if not found:
            raise _fail("error_not_found", "The orders were not found.", 200)
        return _ok({"order_list": [self._order_json(o, optional) for o in found]})

    def _order_json(self, order: SandboxOrder, optional: set[str]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "order_sn": order.order_id,
            "region": self.data.region,
            "currency": order.currency,
            "cod": False,
            "order_status": order.status,
            "create_time": int(order.created_at.timestamp()),
            "update_time": int(order.updated_at.timestamp()),
            "days_to_ship": 3,
        }
        if "total_amount" in optional:
            data["total_amount"] = float(order.total)
        if "fulfillment_flag" in optional:
            data["fulfillment_flag"] = (
                "fulfilled_by_shopee" if order.fulfilled_by_platform else "fulfilled_by_local_seller"
            )
        if "pay_time" in optional:
            data["pay_time"] = int(order.created_at.timestamp())
        if "item_list" in optional:
            data["item_list"] = [
                {
                    "item_id": int(line.item_id) if line.item_id.isdigit() else 0,
                    "item_name": line.title,
                    "item_sku": line.sku,
                    "model_id": 0,
                    "model_sku": "",
                    "model_quantity_purchased": line.quantity,
                    "model_original_price": float(line.price),
                    "model_discounted_price": float(line.price),
                }
                for line in order.lines
            ]
        return data

    # -- products -------------------------------------------------------------------------

    def _items(self) -> dict[int, list[SandboxListing]]:
        """Listings grouped into Shopee items (several listings of one item are its models)."""
        items: dict[int, list[SandboxListing]] = {}
        for listing in self.data.listings.values():
            if listing.item_id.isdigit():
                items.setdefault(int(listing.item_id), []).append(listing)
        return items

    @staticmethod
    def _status(listings: list[SandboxListing]) -> str:
        if all(listing.deleted for listing in listings):
            return "SELLER_DELETE"
        return "NORMAL" if any(listing.active for listing in listings) else "UNLIST"

    def _model_id(self, listing: SandboxListing) -> int:
        if listing.model_id is not None:
            return listing.model_id
        return self._model_ids.setdefault(listing.sku, 9_000_000_000 + len(self._model_ids) + 1)

    def _item_list(self, request: SandboxRequest) -> SandboxResponse:
        offset, page_size = _int_arg(request, "offset"), _int_arg(request, "page_size")
        if not 1 <= page_size <= MAX_PAGE or offset < 0:
            raise _fail("error_param", "page_size must be between 1 and 100 and offset not negative.", 400)
        statuses = set(request.args("item_status"))
        if not statuses:
            raise _fail("error_param", "item_status is required.", 400)
        items = sorted(
            (item_id, listings)
            for item_id, listings in self._items().items()
            if self._status(listings) in statuses
        )
        page = items[offset : offset + page_size]
        has_next = offset + page_size < len(items)
        return _ok(
            {
                "item": [
                    {
                        "item_id": item_id,
                        "item_status": self._status(listings),
                        "update_time": int(max(listing.updated_at for listing in listings).timestamp()),
                    }
                    for item_id, listings in page
                ],
                "total_count": len(items),
                "has_next_page": has_next,
                "next_offset": offset + page_size if has_next else 0,
            }
        )

    def _price_info(self, listing: SandboxListing) -> list[dict[str, Any]]:
        # update_price sets original_price; during a promotion buyers pay current_price. Prices
        # here are shown without tax, so the inflated (with tax) prices equal them.
        original = float(listing.price)
        current = float(listing.promotion_price) if listing.promotion_price else original
        return [
            {
                "currency": listing.currency,
                "original_price": original,
                "current_price": current,
                "inflated_price_of_original_price": original,
                "inflated_price_of_current_price": current,
            }
        ]

    @staticmethod
    def _promotion_id(listing: SandboxListing) -> int:
        return (
            0 if listing.promotion_price is None else 700_000_000 + zlib.crc32(listing.sku.encode()) % 10**6
        )

    def _stock(self, listing: SandboxListing) -> dict[str, Any]:
        quantity = listing.quantity or 0
        return {
            "summary_info": {"total_reserved_stock": 0, "total_available_stock": quantity},
            "seller_stock": [{"location_id": f"{self.data.region}Z", "stock": quantity}],
        }

    def _item_base_info(self, request: SandboxRequest) -> SandboxResponse:
        raw = request.arg("item_id_list") or ""
        try:
            ids = [int(i) for i in raw.split(",") if i]
        except ValueError:
            raise _fail("error_param", "item_id_list must hold item ids.", 400) from None
        if not ids or len(ids) > MAX_BATCH:
            raise _fail("error_param", "item_id_list must hold 1 to 50 item ids.", 400)
        items = self._items()
        out = []
        for item_id in ids:
            listings = items.get(item_id)
            if not listings:
                continue
            first = listings[0]
            has_model = len(listings) > 1 or first.model_id is not None
            images = [url for listing in listings for url in listing.image_urls]
            data: dict[str, Any] = {
                "item_id": item_id,
                "category_id": 100001,
                "item_name": first.title,
                "description": first.description,
                "item_sku": "" if has_model else first.sku,
                "create_time": int(min(listing.opened_at for listing in listings).timestamp()),
                "update_time": int(max(listing.updated_at for listing in listings).timestamp()),
                "image": {
                    "image_url_list": images,
                    "image_id_list": [uuid.uuid5(uuid.NAMESPACE_URL, u).hex for u in images],
                },
                "item_status": self._status(listings),
                "has_model": has_model,
                "condition": "NEW",
            }
            if not has_model:
                data["price_info"] = self._price_info(first)
                data["stock_info_v2"] = self._stock(first)
            out.append(data)
        return _ok({"item_list": out})

    def _model_list(self, request: SandboxRequest) -> SandboxResponse:
        item_id = _int_arg(request, "item_id")
        listings = self._items().get(item_id)
        if not listings:
            raise _fail("error_item_not_found", f"Item {item_id} was not found.", 200)
        return _ok(
            {
                "tier_variation": [
                    {"name": "Variant", "option_list": [{"option": listing.sku} for listing in listings]}
                ],
                "model": [
                    {
                        "model_id": self._model_id(listing),
                        "model_sku": listing.sku,
                        "tier_index": [n],
                        "promotion_id": self._promotion_id(listing),
                        "has_promotion": listing.promotion_price is not None,
                        "price_info": self._price_info(listing),
                        "stock_info_v2": self._stock(listing),
                    }
                    for n, listing in enumerate(listings)
                ],
            },
            warning="",  # get_model_list documents warning as always present
        )

    def _search_item(self, request: SandboxRequest) -> SandboxResponse:
        page_size = _int_arg(request, "page_size")
        if not 1 <= page_size <= MAX_PAGE:
            raise _fail("error_param", "page_size must be between 1 and 100.", 400)
        raw_offset = request.arg("offset") or ""
        offset = _search_position(raw_offset) if raw_offset else 0
        needle = request.arg("item_sku") or ""
        name = (request.arg("item_name") or "").lower()
        ids = sorted(
            item_id
            for item_id, listings in self._items().items()
            if self._status(listings) != "SELLER_DELETE"
            and any(needle in listing.sku and name in listing.title.lower() for listing in listings)
        )
        page = ids[offset : offset + page_size]
        has_next = offset + page_size < len(ids)
        return _ok(
            {
                "item_id_list": page,
                "total_count": len(ids),
                "next_offset": _search_offset(offset + page_size) if has_next else "",
            }
        )

    def _update_price(self, request: SandboxRequest) -> SandboxResponse:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("item_id"), int):
            raise _fail("error_param", "item_id is required.", 400)
        prices = body.get("price_list")
        if not isinstance(prices, list) or not prices:
            raise _fail("error_param", "price_list is required.", 400)
        listings = self._items().get(body["item_id"])
        if not listings:
            raise _fail("error_item_not_found", f"Item {body['item_id']} was not found.", 200)
        success, failures = [], []
        for entry in prices:
            model_id = entry.get("model_id", 0) if isinstance(entry, dict) else 0
            try:
                price = Decimal(str(entry["original_price"]))
            except (KeyError, TypeError, InvalidOperation):
                raise _fail("error_param", "original_price is required.", 400) from None
            targets = [item for item in listings if not model_id or self._model_id(item) == model_id]
            if not targets:
                failures.append({"model_id": model_id, "failed_reason": "The model was not found."})
            elif price <= 0:
                failures.append({"model_id": model_id, "failed_reason": "Price must be greater than 0."})
            else:
                for listing in targets[:1]:
                    listing.price = f"{price:.2f}"
                success.append({"model_id": model_id, "original_price": float(price)})
            self.price_updates.append({"item_id": body["item_id"], "model_id": model_id, "price": str(price)})
        return _ok({"success_list": success, "failure_list": failures})
