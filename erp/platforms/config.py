"""What a connector needs to know about its store, copied out of the database row.

Connectors live longer than a database session and are shared by threads, so they keep a frozen
copy of the store's settings instead of the `Store` row itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from erp.models import Store


def fingerprint(values: Mapping[str, object]) -> str:
    """A stable digest of a mapping (credentials, options) that reveals nothing of its values."""
    encoded = json.dumps(values, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True)
class StoreSettings:
    store_id: int
    name: str
    platform: str
    region: str
    endpoint: str
    auth_endpoint: str
    marketplace_id: str
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    options: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_store(cls, store: Store) -> StoreSettings:
        return cls(
            store_id=store.id or 0,
            name=store.name,
            platform=store.platform,
            region=store.region,
            endpoint=store.endpoint.rstrip("/"),
            # Empty means the platform's own token service (Amazon's LWA), never the API host.
            auth_endpoint=store.auth_endpoint.strip(),
            marketplace_id=store.marketplace_id,
            credentials={str(k): str(v) for k, v in (store.credentials or {}).items()},
            options=dict(store.options or {}),
        )

    def credential(self, name: str) -> str:
        """A credential by name; empty when the store has none."""
        return self.credentials.get(name, "")
