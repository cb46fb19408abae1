"""One registry, one interface: flow id -> handler function returning a Diagnosis or a DetailRequest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from erp.progress import SyncProgressCallback
from handlers import (
    delete_store_data,
    image_grab,
    image_not_displaying,
    orders_not_synced,
    price_not_updated,
    product_sku_missing,
    publish_image_error,
    upload_sku_missing,
)
from handlers.diagnosis import HandlerResult, Language
from handlers.services import Services
from knowledge.entities import Entities


@dataclass(frozen=True)
class FlowRequest:
    """What a handler is asked: whose data, in which language, with which details."""

    account_id: int
    actor: str  # for the audit log
    language: Language = "en"
    role: str = "member"  # owner | member | agent
    entities: Entities = field(default_factory=Entities)
    question: str = ""
    progress: SyncProgressCallback | None = None


Handler = Callable[[FlowRequest, Services], HandlerResult]

HANDLERS: dict[str, Handler] = {
    "price_not_updated": price_not_updated.handle,
    "upload_sku_missing": upload_sku_missing.handle,
    "image_grab": image_grab.handle,
    "product_sku_missing": product_sku_missing.handle,
    "orders_not_synced": orders_not_synced.handle,
    "image_not_displaying": image_not_displaying.handle,
    "publish_image_error": publish_image_error.handle,
    "delete_store_data": delete_store_data.handle,
}
