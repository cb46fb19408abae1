"""One connector per store, built on first use and shared by every thread.

The registry owns what connectors share: the one `httpx.Client`, the rate-limit buckets (per store
and operation, so two connectors of the same store never double its allowance) and the retry
policy. A store whose endpoint, options or credentials changed (the seller authorized it again)
gets a fresh connector; credentials a connector rotated itself (Shopee refresh tokens) keep it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from erp.models import Platform, Store
from erp.platforms.amazon import AmazonConnector
from erp.platforms.base import MarketplaceConnector, PlatformError
from erp.platforms.config import StoreSettings, fingerprint
from erp.platforms.http import PlatformHttp, RetryPolicy, make_http_client
from erp.platforms.ratelimit import RateLimiter
from erp.platforms.shopee import ShopeeConnector

CredentialsCallback = Callable[[int, dict[str, str]], None]
CredentialsLoader = Callable[[int], Mapping[str, str] | None]


@dataclass
class _Entry:
    key: tuple[str, str, str, str]  # endpoint, auth endpoint, marketplace id, options fingerprint
    credentials: set[str]  # fingerprints of credentials this connector accepts as its own
    connector: MarketplaceConnector


class ConnectorRegistry:
    """Builds and caches the connector of each store (thread-safe)."""

    def __init__(
        self,
        http: httpx.Client | None = None,
        on_credentials_changed: CredentialsCallback | None = None,
        *,
        load_credentials: CredentialsLoader | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._own_client = http is None
        self.client = http or make_http_client()
        self.on_credentials_changed = on_credentials_changed
        self.load_credentials = load_credentials
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter()
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry] = {}
        self._http = {
            Platform.AMAZON.value: PlatformHttp(self.client, "Amazon", retry=self.retry),
            Platform.SHOPEE.value: PlatformHttp(self.client, "Shopee", retry=self.retry),
        }

    def connector_for(self, store: Store) -> MarketplaceConnector:
        """The connector of `store`, reused while its endpoint, options and credentials stay the same.

        Raises:
            PlatformError: the store's platform has no connector, or the store has no endpoint.
        """
        settings = StoreSettings.from_store(store)
        if store.id is None:
            raise PlatformError(f"Store '{store.name}' is not saved yet.")
        key = (
            settings.endpoint,
            settings.auth_endpoint,
            settings.marketplace_id,
            fingerprint(settings.options),
        )
        credentials = fingerprint(settings.credentials)
        with self._lock:
            entry = self._entries.get(store.id)
            if entry is not None and entry.key == key:
                owns = getattr(entry.connector, "owns_credentials", None)
                if credentials in entry.credentials or (owns is not None and owns(credentials)):
                    return entry.connector
            connector = self._build(settings)
            self._entries[store.id] = _Entry(key=key, credentials={credentials}, connector=connector)
            return connector

    def _build(self, settings: StoreSettings) -> MarketplaceConnector:
        if not settings.endpoint.startswith(("http://", "https://")):
            raise PlatformError(f"Store '{settings.name}' has no platform address (endpoint) configured.")
        if settings.platform == Platform.AMAZON:
            return AmazonConnector(settings, self._http[Platform.AMAZON.value], self.limiter)
        if settings.platform == Platform.SHOPEE:
            return ShopeeConnector(
                settings,
                self._http[Platform.SHOPEE.value],
                self.limiter,
                on_credentials_changed=self.on_credentials_changed,
                load_credentials=self.load_credentials,
            )
        raise PlatformError(f"SellerDesk cannot talk to the '{settings.platform}' platform yet.")

    def forget(self, store_id: int) -> None:
        """Drop a store's connector (its data was deleted, or it was removed)."""
        with self._lock:
            self._entries.pop(store_id, None)

    def close(self) -> None:
        """Close the HTTP client when the registry created it."""
        if self._own_client:
            self.client.close()
