"""The `image_not_displaying` flow's live checks (placeholder until its handler lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.diagnosis import HandlerResult
from handlers.services import Services

if TYPE_CHECKING:
    from handlers.registry import FlowRequest


def handle(request: FlowRequest, services: Services) -> HandlerResult:
    raise NotImplementedError("image_not_displaying")
