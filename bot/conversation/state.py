"""What a conversation waits for, kept in the database so any process can continue it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from erp.models import ConversationState
from handlers.diagnosis import Language
from handlers.registry import HANDLERS
from knowledge.entities import Entities

logger = logging.getLogger(__name__)

MAX_KEY = 200  # ConversationState.key's length
# A pending question older than this is forgotten: the seller has moved on.
PENDING_TTL = timedelta(hours=2)


@dataclass
class Pending:
    """What the conversation waits for, as stored in `ConversationState.state`."""

    kind: str  # detail | clarify
    language: Language
    flow: str = ""
    detail: str = ""
    flows: list[str] = field(default_factory=list)
    entities: dict[str, list[str]] = field(default_factory=dict)
    question: str = ""

    def to_state(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "language": self.language,
            "flow": self.flow,
            "detail": self.detail,
            "flows": list(self.flows),
            "entities": {k: list(v) for k, v in self.entities.items()},
            "question": self.question[:500],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Pending | None:
        kind = state.get("kind")
        if kind not in ("detail", "clarify"):
            return None
        raw_entities = state.get("entities") or {}
        entities = {
            k: [str(v) for v in values]
            for k, values in raw_entities.items()
            if isinstance(values, list) and k in ("skus", "order_ids", "urls", "stores")
        }
        return cls(
            kind=str(kind),
            language="zh" if state.get("language") == "zh" else "en",
            flow=str(state.get("flow") or ""),
            detail=str(state.get("detail") or ""),
            flows=[str(f) for f in state.get("flows") or [] if str(f) in HANDLERS],
            entities=entities,
            question=str(state.get("question") or ""),
        )


def entities_dict(entities: Entities) -> dict[str, list[str]]:
    return {
        "skus": list(entities.skus),
        "order_ids": list(entities.order_ids),
        "urls": list(entities.urls),
        "stores": list(entities.stores),
    }


def merge_entities(first: Entities, second: Mapping[str, list[str]]) -> Entities:
    """`first`'s values come first (the newest answer wins), then the remembered ones."""

    def both(new: list[str], old: list[str]) -> list[str]:
        return list(dict.fromkeys([*new, *old]))

    return Entities(
        skus=both(first.skus, second.get("skus", [])),
        order_ids=both(first.order_ids, second.get("order_ids", [])),
        urls=both(first.urls, second.get("urls", [])),
        stores=both(first.stores, second.get("stores", [])),
    )


def with_detail(entities: Entities, detail: str, value: str) -> Entities:
    """`entities` with `value` as the first value of the detail it answers."""
    value = value.strip()
    if not value:
        return entities
    if detail == "sku":
        return replace(entities, skus=[value, *[s for s in entities.skus if s != value]])
    if detail == "order_id":
        return replace(entities, order_ids=[value, *[o for o in entities.order_ids if o != value]])
    if detail == "image_url":
        return replace(entities, urls=[value, *[u for u in entities.urls if u != value]])
    if detail == "store":
        return replace(entities, stores=[value, *[s for s in entities.stores if s != value]])
    return entities


def is_empty(entities: Entities) -> bool:
    return not (entities.skus or entities.order_ids or entities.urls or entities.stores)


class ConversationStore:
    """Loads and saves each conversation's `Pending` state, keyed by the conversation key."""

    def __init__(
        self,
        sessions: Callable[[], AbstractContextManager[Session]],
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def load(self, key: str) -> Pending | None:
        with self._sessions() as session:
            row = session.get(ConversationState, key[:MAX_KEY])
            if row is None:
                return None
            updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
            if self._clock() - updated > PENDING_TTL:
                return None
            return Pending.from_state(row.state)

    def remembered_language(self, key: str) -> Language:
        try:
            with self._sessions() as session:
                row = session.get(ConversationState, key[:MAX_KEY])
                remembered = row.state.get("language") if row is not None else None
        except Exception:  # the language is a nicety; never fail an action over it
            logger.exception("conversation %s: could not read its state", key)
            return "en"
        return "zh" if remembered == "zh" else "en"

    def save(self, key: str, pending: Pending) -> None:
        self._write(key, pending.to_state())

    def clear(self, key: str, language: Language) -> None:
        """Nothing is pending any more; only the seller's language is remembered."""
        self._write(key, {"kind": "idle", "language": language})

    def _write(self, key: str, state: dict[str, object]) -> None:
        # Two turns of one conversation can land at once (a retry, a double click): update the
        # row if it is there, else insert it, and if the other turn inserted it first, update.
        key = key[:MAX_KEY]
        now = self._clock()
        for _attempt in range(2):
            with self._sessions() as session:
                statement = (
                    update(ConversationState)
                    .where(col(ConversationState.key) == key)
                    .values(state=state, updated_at=now)
                )
                if session.execute(statement).rowcount:  # type: ignore[attr-defined]
                    session.commit()
                    return
                session.add(ConversationState(key=key, state=state, updated_at=now))
                try:
                    session.commit()
                    return
                except IntegrityError:
                    session.rollback()
        logger.warning("conversation %s: its state could not be saved", key)
