"""What both sandbox marketplaces share: a server's lifecycle and their orders and listings."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from erp.sandbox.httpserver import SandboxHost, SandboxServer
from erp.sandbox.records import SandboxListing, SandboxOrder


class SandboxMarketplace:
    """Lifecycle and data helpers of a sandbox; subclasses route requests and set `platform`.

    Subclasses set `self.data` (with `orders`, `listings` and `currency`) and `self.server`
    before using these helpers, and call `super().__init__()` for the lock.
    """

    platform: str
    data: Any
    server: SandboxServer
    # The status an order moves to when it changes on its own (the buyer paid, it shipped ...).
    next_status: ClassVar[Mapping[str, str]] = {}

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._moving: list[str] = []  # orders that change while order pages are served
        self._moves_per_page = 0
        self._moving_once = False
        self._moved = 0
        self.changed_while_listing: set[str] = set()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the server; returns its base URL."""
        return self.server.start(host, port)

    def mount(self, host: SandboxHost) -> str:
        """Serve this sandbox from a shared host, under a path of its own; returns its base URL."""
        return host.mount(self.server)

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

    def touch_order(self, order_id: str, status: str | None = None) -> None:
        """The order changed on the platform now (optionally to a new status)."""
        with self._lock:
            order = self.data.orders[order_id]
            order.updated_at = datetime.now(UTC)
            if status:
                order.status = status

    def change_orders_while_listing(
        self, order_ids: list[str], per_page: int = 3, *, once: bool = False
    ) -> None:
        """After each order-list page served, the next `per_page` of these orders change (cycling,
        or each order only once with `once`).

        Buyers and carriers do not wait for a sync to finish: this is how orders move in the
        platform's listing while a sync pages through it.
        """
        with self._lock:
            self._moving = list(order_ids)
            self._moves_per_page = per_page if order_ids else 0
            self._moved = 0
            self._moving_once = once

    @property
    def orders_changed_while_listing(self) -> int:
        with self._lock:
            return self._moved

    def _order_page_served(self) -> None:
        """Called by the order-list routes after computing a page, before it is sent."""
        with self._lock:
            for _ in range(self._moves_per_page):
                if self._moving_once and self._moved >= len(self._moving):
                    return
                order = self.data.orders.get(self._moving[self._moved % len(self._moving)])
                self._moved += 1
                if order is not None:
                    self.changed_while_listing.add(order.order_id)
                    order.updated_at = datetime.now(UTC)
                    order.status = self.next_status.get(order.status, order.status)

    def hide_order(self, order_id: str, hidden: bool = True) -> None:
        """Leave the order out of the order list while the single-order call still finds it."""
        with self._lock:
            self.data.orders[order_id].hidden_from_list = hidden
