"""Storing credentials a connector rotated (Shopee issues a new refresh token on every refresh)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from sqlmodel import Session

from erp.models import Store

logger = logging.getLogger(__name__)


def credentials_saver(sessions: Callable[[], Session]) -> Callable[[int, dict[str, str]], None]:
    """A callback for `ConnectorRegistry` that writes a store's new credentials at once.

    The old refresh token stops working as soon as the platform issued a new one, so the new one
    must reach the database before anything else can go wrong.
    """

    def save(store_id: int, credentials: dict[str, str]) -> None:
        with sessions() as session:
            store = session.get(Store, store_id)
            if store is None:
                logger.warning("rotated credentials for store %s, which no longer exists", store_id)
                return
            store.credentials = {**(store.credentials or {}), **credentials}
            session.add(store)
            session.commit()

    return save


def credentials_loader(sessions: Callable[[], Session]) -> Callable[[int], Mapping[str, str] | None]:
    """A callback for `ConnectorRegistry` that reads a store's stored credentials.

    Another process (the scheduler beside `serve`) may have rotated a Shopee refresh token; when
    ours is refused, the connector takes the newer one from the database instead of giving up.
    """

    def load(store_id: int) -> Mapping[str, str] | None:
        with sessions() as session:
            store = session.get(Store, store_id)
            if store is None:
                return None
            return {str(k): str(v) for k, v in (store.credentials or {}).items()}

    return load
