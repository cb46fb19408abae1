"""Progress of an order sync, per store: what Slack and the console show while it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StoreSyncProgress:
    """A snapshot of one store's sync; the final one has `done=True` (and `error` when it failed)."""

    store: str
    platform: str
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    done: bool = False
    error: str = ""  # the seller's words: what failed and what to do
    error_kind: str = ""  # authorization_expired | rate_limited | platform_error | bad_response


SyncProgressCallback = Callable[[StoreSyncProgress], None]
