"""What both sandbox marketplaces share: a server's lifecycle and their orders and listings."""

from __future__ import annotations

import threading
from typing import Any, Self

from erp.sandbox.httpserver import SandboxServer
from erp.sandbox.records import SandboxListing, SandboxOrder


class SandboxMarketplace:
    """Lifecycle and data helpers of a sandbox; subclasses route requests and set `platform`.

    Subclasses set `self.data` (with `orders`, `listings` and `currency`) and `self.server`
    before using these helpers, and call `super().__init__()` for the lock.
    """

    platform: str
    data: Any
    server: SandboxServer

    def __init__(self) -> None:
        self._lock = threading.RLock()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the server; returns its base URL."""
        return self.server.start(host, port)

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    # -- data helpers ---------------------------------------------------------------------

    def add_orders(self, *orders: SandboxOrder) -> None:
        with self._lock:
            for order in orders:
                self.data.orders[order.order_id] = order

    def add_listings(self, *listings: SandboxListing) -> None:
        with self._lock:
            for listing in listings:
                self.data.listings[listing.sku] = listing

    def seed(self, *, orders: int = 0, listings: int = 0, seed: int = 0, days: int = 30) -> None:
        """Add generated listings and orders over them (the same `seed` gives the same data)."""
        from erp.sandbox.generate import generate_listings, generate_orders

        catalogue = generate_listings(
            max(listings, 1), seed=seed, platform=self.platform, currency=self.data.currency
        )
        if listings:
            self.add_listings(*catalogue)
        if orders:
            self.add_orders(
                *generate_orders(
                    orders,
                    seed=seed,
                    platform=self.platform,
                    listings=catalogue,
                    currency=self.data.currency,
                    days=days,
                )
            )

    def remove_listing(self, sku: str) -> None:
        with self._lock:
            self.data.listings.pop(sku, None)

    def hide_order(self, order_id: str, hidden: bool = True) -> None:
        """Leave the order out of the order list while the single-order call still finds it."""
        with self._lock:
            self.data.orders[order_id].hidden_from_list = hidden
