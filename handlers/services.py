"""What a handler may use: the seller's data and the live operations, behind small interfaces.

The composition root (`app.py`) builds one `Services`; tests build one over a real database and
the sandbox platforms. Handlers never reach Slack, the environment or globals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from erp.models import Store
from erp.platforms.base import MarketplaceConnector
from erp.progress import StoreSyncProgress, SyncProgressCallback
from handlers.image_check import ImageCheckResult


class OrderSyncer(Protocol):
    def sync_account(
        self,
        account_id: int,
        *,
        store_ids: Sequence[int] | None = None,
        trigger: str = "manual",
        actor: str = "",
        progress: SyncProgressCallback | None = None,
    ) -> list[StoreSyncProgress]:
        """Sync the account's stores now (all, or `store_ids`); one final progress per store."""
        ...


class ReportRefresher(Protocol):
    def refresh(self, store_id: int, kind: str, *, actor: str = "", wait_seconds: float = 20.0) -> int | None:
        """Request a fresh report and import it if it is ready within `wait_seconds`.

        Returns the new `PlatformReport.id` (its status says whether it completed).
        """
        ...


class ScheduleInfo(Protocol):
    def next_run(self, job: str, after: datetime | None = None) -> datetime | None:
        """Next run of a scheduled job: `report_import`, `image_grab`, `order_sync`, `purge_deleted`."""
        ...


class ImageChecking(Protocol):
    def check_many(self, urls: Sequence[str]) -> list[ImageCheckResult]: ...

    def convert_to_rgb(self, url: str) -> tuple[ImageCheckResult, bytes | None]:
        """Fetch and convert to an sRGB JPEG; bytes are None when the image cannot be converted."""
        ...


@dataclass
class Services:
    sessions: Callable[[], Session]
    connector_for: Callable[[Store], MarketplaceConnector]
    orders: OrderSyncer
    reports: ReportRefresher
    images: ImageChecking
    schedule: ScheduleInfo
    clock: Callable[[], datetime]
    export_dir: str = "sellerdesk-data/exports"
