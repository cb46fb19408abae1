"""Shopee Open Platform v2 connector: orders, products and prices of one shop.

Every shop-level call carries `partner_id`, `timestamp`, `access_token`, `shop_id` and `sign`, where
sign = hex HMAC-SHA256(partner_key, partner_id + path + timestamp + access_token + shop_id).
Access tokens last four hours and are refreshed with the shop's refresh token; Shopee rotates the
refresh token on every refresh, so new tokens are handed to `on_credentials_changed` to be stored
at once (an old refresh token stops working).

Errors come in the body's `error` field, sometimes with a module prefix (`common.error_auth`,
`product.error_param`). Only a refused refresh token means the shop must be authorized again;
"no permission to current api" is a missing permission and "system error, please try again
later" a passing one, and neither touches the shop's authorization.

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
from decimal import Decimal
from typing import Any, NamedTuple

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
from erp.platforms.config import StoreSettings, fingerprint
from erp.platforms.http import PlatformHttp
from erp.platforms.ratelimit import RateLimit, RateLimiter, limits_from_options
from erp.platforms.reportformat import INVENTORY_COLUMNS, LISTINGS_COLUMNS, tsv_header, tsv_line
from erp.platforms.values import decimal_text, positive_decimal

logger = logging.getLogger(__name__)

CredentialsCallback = Callable[[int, dict[str, str]], None]
CredentialsLoader = Callable[[int], Mapping[str, str] | None]

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
# The access token itself was refused: refresh it once.
TOKEN_ERRORS = frozenset({"invalid_acceess_token", "invalid_access_token", "error_token", "invalid_token"})
# The refresh token was refused: only these mean the shop must be authorized again.
REFRESH_REJECTED = frozenset(
    {
        "error_auth",
        "refresh_token_expired",
        "error_shop_refresh_token",
        "error_merchant_refresh_token",
        "invalid_refresh_token",
        "shop_access_expired",
        "merchant_access_expired",
        "supplier_access_expired",
        "shop_no_linked",
        "merchant_no_linked",
        "supplier_no_linked",
        "shop_banned",
    }
)
PERMISSION_ERRORS = frozenset(
    {
        "error_permission",
        "error_api_permission",
        "error_ashop_api_permission",
        "error_api_call_restricted",
        "error_perm_non_admin",
        "api_suspended",
    }
)
TEMPORARY_ERRORS = frozenset(
    {"error_server", "error_inner", "error_network", "error_system_busy", "error_busy", "error_get_shop_fail"}
)
RATE_ERRORS = frozenset({"error_rate_limit", "error_too_many_request", "error_limit"})
# Shopee's own modules, which sometimes prefix an error code (`common.error_auth`).
ERROR_MODULES = frozenset(
    {"common", "product", "order", "logistics", "shop", "auth", "public", "payment", "media", "merchant"}
)
REPORT_ITEM_STATUSES = ("NORMAL", "UNLIST", "BANNED")
ORDER_DETAIL_FIELDS = "buyer_user_id,item_list,total_amount,fulfillment_flag,pay_time"
_ORDER_SN = re.compile(r"[A-Za-z0-9]{1,40}")
_REPORT_ID = re.compile(r"shopee-(listings|inventory)-(\d+)")


def sign(partner_key: str, *parts: object) -> str:
    """Shopee's request signature: hex HMAC-SHA256 of the concatenated parts."""
    base = "".join(str(p) for p in parts)
    return hmac.new(partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()


def error_code(body: Mapping[str, Any]) -> str:
    """The body's error code without Shopee's module prefix (`common.error_auth` -> `error_auth`)."""
    code = str(body.get("error") or "").strip()
    module, dot, rest = code.partition(".")
    return rest if dot and module in ERROR_MODULES else code


def _is_temporary(code: str, message: str) -> bool:
    lowered = message.lower()
    return code in TEMPORARY_ERRORS or "try again later" in lowered or "please try later" in lowered


class Position(NamedTuple):
    """Where an order listing stands: the window asked now, the listing's end and Shopee's cursor."""

    window_from: int
    window_to: int
    platform_cursor: str
    end: int  # the listing's upper bound, fixed when it started
    width: int  # seconds the next window spans
    rewalk: bool = False  # walking a paged window a second time


def encode_cursor(
    window_from: int, window_to: int, platform_cursor: str, end: int = 0, width: int = 0, rewalk: bool = False
) -> str:
    state: dict[str, Any] = {"f": window_from, "t": window_to, "c": platform_cursor, "e": end or window_to}
    state["w"] = width or max(1, window_to - window_from)
    if rewalk:
        state["r"] = 1
    raw = json.dumps(state, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The listing position a connector cursor stands for."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        window_from, window_to = int(data["f"]), int(data["t"])
        end = int(data.get("e") or window_to)
        width = int(data.get("w") or max(1, window_to - window_from))
        cursor_text, rewalk = str(data.get("c", "")), bool(data.get("r"))
        return Position(window_from, window_to, cursor_text, max(end, window_to), width, rewalk)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
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
        load_credentials: CredentialsLoader | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.http = http
        self.limiter = limiter
        self.limits = limits_from_options(SHOPEE_RATE_LIMITS, settings.options)
        self._on_credentials_changed = on_credentials_changed
        self._load_credentials = load_credentials
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

    def _refresh_locked(self, *, adopt_stored: bool = True) -> str:
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
                },
                # Built for each attempt from the newest refresh token: a consumed one is never sent.
                "json": {
                    "refresh_token": self._credentials.get("refresh_token", ""),
                    "partner_id": _as_int(self.partner_id),
                    "shop_id": _as_int(self.shop_id),
                },
            }

        response = self.http.send(
            "POST",
            f"{self.settings.endpoint}{path}",
            operation="access_token",
            before_attempt=self._wait_for("access_token"),
            prepare=signed,
        )
        body = self.http.json(response, "access_token")
        if not isinstance(body, dict):
            raise BadResponse("Shopee's token refresh answered with an unexpected shape.")
        code = error_code(body)
        message = str(body.get("message") or "")[:300]
        if code or response.status_code != 200:
            if code == "error_sign":
                raise AuthorizationExpired(
                    f"Shopee rejected the signature of store '{self.settings.name}': its partner id or "
                    "partner key is wrong."
                )
            if code in RATE_ERRORS:
                raise RateLimited(f"Shopee is limiting token refreshes of store '{self.settings.name}'.")
            if _is_temporary(code, message) or response.status_code >= 500:
                raise PlatformUnavailable(
                    f"Shopee's token service is having trouble ({code or response.status_code}); the "
                    f"authorization of store '{self.settings.name}' is unchanged: try again later."
                )
            if code in REFRESH_REJECTED:
                # Another process of ours may have used this refresh token already (each is valid
                # once): its rotated successor is stored, and it is the one to use.
                if adopt_stored and self._adopt_stored_credentials(refresh_token):
                    return self._refresh_locked(adopt_stored=False)
                raise AuthorizationExpired(
                    f"Shopee no longer accepts the authorization of store '{self.settings.name}' "
                    f"({code}): authorize the shop again under Platform authorization."
                )
            raise PlatformError(
                f"Shopee refused the token refresh of store '{self.settings.name}' "
                f"({code or response.status_code}): {message}".rstrip(": ")
            )
        access = body.get("access_token")
        new_refresh = body.get("refresh_token")
        if not isinstance(access, str) or not access or not isinstance(new_refresh, str) or not new_refresh:
            raise BadResponse("Shopee's token refresh answered without tokens.")
        expire_in = body.get("expire_in", 14400)
        lifetime = int(expire_in) if isinstance(expire_in, int | float) else 14400
        # The old refresh token is dead from now on: the new one is kept before anything else.
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

    def _adopt_stored_credentials(self, used_refresh_token: str) -> bool:
        """Take the stored tokens when they are newer than the refresh token just refused."""
        if self._load_credentials is None:
            return False
        try:
            stored = self._load_credentials(self.settings.store_id)
        except Exception:
            logger.exception("could not read the stored Shopee tokens of store %s", self.settings.store_id)
            return False
        if not stored or not stored.get("refresh_token") or stored["refresh_token"] == used_refresh_token:
            return False
        self._credentials.update({str(k): str(v) for k, v in stored.items()})
        self._rotated.add(fingerprint(self._credentials))
        return True

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
            code = error_code(body)
            message = str(body.get("message") or "")[:300]
            lowered = message.lower()
            if code in TOKEN_ERRORS or (code == "error_auth" and "access_token" in lowered.replace(" ", "_")):
                if attempt == 1:
                    token = self._refresh_after_rejection(token)
                    continue
                raise AuthorizationExpired(
                    f"Shopee no longer accepts the access of store '{self.settings.name}' ({code}): "
                    "authorize the shop again under Platform authorization."
                )
            if code == "error_sign":
                raise AuthorizationExpired(
                    f"Shopee rejected the signature of store '{self.settings.name}': its partner id or "
                    "partner key is wrong."
                )
            if code in PERMISSION_ERRORS or (code == "error_auth" and "permission" in lowered):
                raise PermissionDenied(
                    f"Shopee refused {operation} for store '{self.settings.name}' ({message or code}): "
                    "SellerDesk's app lacks this API's permission for the shop. The shop's authorization "
                    "is unchanged; the permission must be granted to the app first."
                )
            if code in RATE_ERRORS:
                raise RateLimited(f"Shopee is limiting requests ({operation}): {message or code}.")
            if _is_temporary(code, message):
                raise PlatformUnavailable(
                    f"Shopee had a temporary problem with {operation} ({message or code}); try again later."
                )
            if code:
                if "not_found" in code or "not found" in lowered:
                    raise NotFound(f"Shopee: {message or code}")
                raise PlatformError(f"Shopee rejected {operation} ({code}): {message}".rstrip(": "))
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
        """One page of orders updated after `updated_after`, window by window up to the listing's end.

        get_order_list pages by offset, so paging a window while its orders change skips some (an
        order that moves out shifts the rest down). A window is therefore asked as one answer:
        one that holds more than a page is halved until it fits, so every page is a consistent
        snapshot, and each page vouches for its window (`complete_through`). A window that cannot
        shrink (one second with more than a page of orders) is paged, then walked again. The end
        of the listing is fixed when it starts; orders that change meanwhile land after it, for
        the next sync. The cursor encodes the position, so a stopped sync resumes where it was.
        """
        if cursor:
            window_from, window_to, platform_cursor, end, width, rewalk = decode_cursor(cursor)
        else:
            rewalk = False
            moment = updated_after if updated_after.tzinfo else updated_after.replace(tzinfo=UTC)
            end = int(self._clock())
            window_from, width, platform_cursor = int(moment.timestamp()), WINDOW_SECONDS, ""
            window_to = min(window_from + width, end)
        while True:
            if window_from > window_to:
                return OrderPage(orders=[], next_cursor=None, complete_through=_moment(end))
            payload = self._order_list_page(window_from, window_to, platform_cursor)
            order_list = payload.get("order_list") or []
            order_sns = [str(o["order_sn"]) for o in order_list if isinstance(o, dict) and o.get("order_sn")]
            more = bool(payload.get("more"))
            if more and not platform_cursor and window_to > window_from:
                window_to = window_from + (window_to - window_from) // 2
                width = max(1, window_to - window_from)
                continue
            next_cursor: str | None
            complete: datetime | None = None
            if more:
                # Over a page of orders within one second: paged as Shopee pages (offsets), then
                # walked a second time, below.
                raw_next = str(payload.get("next_cursor") or "")
                if not raw_next or raw_next == platform_cursor:
                    raise BadResponse("Shopee's order list does not advance; try again later.")
                next_cursor = encode_cursor(window_from, window_to, raw_next, end, width, rewalk)
            elif platform_cursor and not rewalk:
                # The window was paged: walk it once more from its start, so an order the offsets
                # skipped while others moved out of it is still found (the rest come again).
                next_cursor = encode_cursor(window_from, window_to, "", end, width, rewalk=True)
            elif window_to < end:
                complete = _moment(window_to)
                if len(order_sns) < ORDER_PAGE_SIZE // 2:
                    width = min(width * 2, WINDOW_SECONDS)  # light windows: ask wider ones
                following = window_to + 1
                next_cursor = encode_cursor(following, min(following + width, end), "", end, width)
            else:
                complete, next_cursor = _moment(end), None
            if order_sns or next_cursor is None or complete is None:
                return OrderPage(
                    orders=self._order_details(order_sns), next_cursor=next_cursor, complete_through=complete
                )
            window_from, window_to, platform_cursor, end, width, rewalk = decode_cursor(next_cursor)

    def _order_list_page(self, window_from: int, window_to: int, platform_cursor: str) -> dict[str, Any]:
        params: list[tuple[str, Any]] = [
            ("time_range_field", "update_time"),
            ("time_from", window_from),
            ("time_to", window_to),
            ("page_size", ORDER_PAGE_SIZE),
        ]
        if platform_cursor:
            params.append(("cursor", platform_cursor))
        body = self._call("GET", "/api/v2/order/get_order_list", "get_order_list", params=params)
        return self._response(body, "get_order_list")

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
        candidates: list[int] = []
        offset = ""  # opaque: whatever Shopee sent as next_offset goes back as it is
        asked: set[str] = set()
        while True:
            params: list[tuple[str, Any]] = [("item_sku", sku), ("page_size", ITEM_PAGE_SIZE)]
            if offset:
                params.append(("offset", offset))
            body = self._call("GET", "/api/v2/product/search_item", "search_item", params=params)
            payload = self._response(body, "search_item")
            candidates.extend(int(i) for i in payload.get("item_id_list") or [])
            asked.add(offset)
            # next_offset is an opaque string: paging goes on while it is not empty.
            offset = str(payload.get("next_offset") or "")
            if not offset or payload.get("has_next_page") is False:
                break
            if offset in asked:
                raise BadResponse("Shopee's item search does not advance; try again later.")
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
        return LivePrice(
            sku=sku,
            amount=offer["price"],
            currency=offer["currency"],
            status=offer["status"],
            promotion_amount=offer["promotion_price"],
        )

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


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _first_price(price_info: object) -> tuple[str, str, str]:
    """(original price, currency, promotion price) of a price_info list.

    update_price sets `original_price`, so that is the price compared with ours; `current_price`
    is what buyers pay now and differs during a promotion. The `inflated_price_of_*` fields are
    the same prices with tax where the region shows prices with tax: not what update_price sets.
    """
    if isinstance(price_info, list) and price_info and isinstance(price_info[0], dict):
        info = price_info[0]
        original = decimal_text(info.get("original_price", info.get("current_price")))
        current = decimal_text(info.get("current_price"))
        promotion = current if current and original and Decimal(current) != Decimal(original) else ""
        return original, str(info.get("currency", "")), promotion
    return "", "", ""


def _stock(stock_info: object) -> int | None:
    if isinstance(stock_info, dict):
        summary = stock_info.get("summary_info")
        if isinstance(summary, dict) and isinstance(summary.get("total_available_stock"), int):
            return int(summary["total_available_stock"])
    return None


def _offer(item: Mapping[str, Any], model: Mapping[str, Any] | None) -> dict[str, Any]:
    source = model if model is not None else item
    price, currency, promotion = _first_price(source.get("price_info"))
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
        "promotion_price": promotion,
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
