"""The one interface every marketplace connector implements, and the errors it raises.

Connectors are synchronous and thread-safe (one shared `httpx.Client`); concurrency across
stores comes from the jobs running connectors in a bounded thread pool. Every method may raise
a `PlatformError` subclass; jobs and handlers turn those into the seller's words.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class PlatformError(Exception):
    """A marketplace call failed. `str(error)` is safe to show a seller: never a token or secret."""


class AuthorizationExpired(PlatformError):
    """The store's authorization is no longer valid: the seller must re-authorize the store."""


class PermissionDenied(PlatformError):
    """The platform refused for lack of a role or permission (an SP-API 403 with a fresh access
    token, Shopee's "no permission to current api") or refused the application's own credentials.
    The store's authorization is not what failed, so the store is never marked expired for it.
    """


class RateLimited(PlatformError):
    """The platform kept answering 429 after our retries."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PlatformUnavailable(PlatformError):
    """5xx, timeouts or connection errors after our retries."""


class BadResponse(PlatformError):
    """The platform answered something we cannot read (HTML instead of JSON, a truncated file...)."""


class NotFound(PlatformError):
    pass


@dataclass(frozen=True)
class PlatformOrder:
    order_id: str
    platform_status: str  # the platform's own status word (Unshipped, READY_TO_SHIP ...)
    fulfilled_by_platform: bool  # FBA and similar: lands in the ERP as "ignored"
    purchased_at: datetime | None
    updated_at: datetime | None
    total_amount: str = ""
    currency: str = ""
    skus: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OrderPage:
    orders: list[PlatformOrder]
    next_cursor: str | None  # None: this was the last page
    # Every order updated at or before this moment is in this page or an earlier page of the same
    # listing (None: not known yet). The sync moves the store's watermark to it page by page.
    complete_through: datetime | None = None


@dataclass(frozen=True)
class ReportState:
    report_id: str
    status: str  # IN_QUEUE | IN_PROGRESS | DONE | CANCELLED | FATAL
    document_id: str | None = None
    generated_at: datetime | None = None


@dataclass(frozen=True)
class LivePrice:
    sku: str
    amount: str
    currency: str
    status: str = ""  # listing status on the platform (BUYABLE, DISCOVERABLE, NORMAL ...)
    # What buyers pay now when a promotion runs (Shopee's current_price); `amount` stays the price
    # a price change sets, so the two are compared like with like.
    promotion_amount: str = ""


class MarketplaceConnector(Protocol):
    """One store's conversation with its marketplace."""

    platform: str

    def list_orders(self, *, updated_after: datetime, cursor: str | None = None) -> OrderPage:
        """One page of orders updated after `updated_after`; pass `next_cursor` back for the next."""
        ...

    def get_order(self, order_id: str) -> PlatformOrder | None:
        """The order as the platform has it, or None when the platform does not know it."""
        ...

    def request_report(self, kind: str) -> str:
        """Ask for a fresh report (`ReportKind` value); returns the platform's report id."""
        ...

    def report_state(self, report_id: str) -> ReportState: ...

    def download_report(self, document_id: str) -> Iterator[bytes]:
        """The report document, decompressed, streamed in chunks."""
        ...

    def get_live_price(self, sku: str) -> LivePrice | None: ...

    def update_price(self, sku: str, amount: str, currency: str) -> str:
        """Submit a price change; returns the platform's submission id."""
        ...
