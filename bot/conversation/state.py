"""What a conversation remembers, kept in the database so any process can continue it.

Three things: the seller's language (kept for good, so a bare SKU continues in it), the question
the bot waits for (`Pending`, forgotten after `PENDING_TTL`), and the last check it ran
(`LastCheck`: follow-ups such as "what about DEMO-X?" or "still not working" continue from it).
"""

from __future__ import annotations

import json
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
from handlers.diagnosis import (
    CheckStatus,
    Diagnosis,
    Finding,
    ImageEvidence,
    Language,
    Table,
)
from knowledge.entities import Entities

logger = logging.getLogger(__name__)

MAX_KEY = 200  # ConversationState.key's length
# A question the seller has not answered within this has been left behind: it is dropped, so an
# answer to something else hours later is read as what it is.
PENDING_TTL = timedelta(minutes=30)
# Follow-ups ("what about DEMO-X?") continue the last check for this long.
LAST_TTL = timedelta(hours=2)
ENTITY_KINDS = ("skus", "order_ids", "urls", "stores")
MAX_CHOICES = 25
MAX_TEXT = 500
# The last diagnosis is kept whole (for the person a seller asks for) up to this size as JSON;
# a bigger one keeps its summary and findings only.
MAX_DIAGNOSIS_CHARS = 20_000

EntityMap = dict[str, list[str]]


@dataclass(frozen=True)
class Pending:
    """The question the bot asked and waits an answer to.

    Attributes:
        kind: "detail" (which SKU / store / order / picture?) or "clarify" (which flow?).
        flow: the flow that asked (detail).
        detail: the detail asked for (detail).
        flows: the flows offered (clarify).
        choices: the values offered, in the order shown (flows or the seller's SKUs, stores...).
        labels: what each choice was shown as, so words ("the publishing one") can pick it.
        entities: the details the seller gave already; they travel to whichever flow runs.
        question: the seller's question that led here.
        prompt: what the bot asked, to remind the seller of it.
    """

    kind: str
    language: Language
    flow: str = ""
    detail: str = ""
    flows: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    labels: dict[str, list[str]] = field(default_factory=dict)
    entities: EntityMap = field(default_factory=dict)
    question: str = ""
    prompt: str = ""

    def to_state(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "prompt": self.prompt[:MAX_TEXT],
            "language": self.language,
            "flow": self.flow,
            "detail": self.detail,
            "flows": list(self.flows),
            "choices": list(self.choices[:MAX_CHOICES]),
            "labels": {k: [str(x)[:200] for x in v] for k, v in list(self.labels.items())[:MAX_CHOICES]},
            "entities": {k: list(v) for k, v in self.entities.items()},
            "question": self.question[:MAX_TEXT],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Pending | None:
        kind = state.get("kind")
        if kind not in ("detail", "clarify"):
            return None
        labels = state.get("labels") or {}
        return cls(
            kind=str(kind),
            language=_language(state.get("language")),
            flow=str(state.get("flow") or ""),
            detail=str(state.get("detail") or ""),
            flows=[str(f) for f in state.get("flows") or []],
            choices=[str(c) for c in state.get("choices") or []],
            labels={str(k): [str(x) for x in v] for k, v in labels.items() if isinstance(v, list)}
            if isinstance(labels, Mapping)
            else {},
            entities=_entity_map(state.get("entities")),
            question=str(state.get("question") or ""),
            prompt=str(state.get("prompt") or ""),
        )


@dataclass(frozen=True)
class LastCheck:
    """The last diagnosis the conversation reached: what a follow-up continues from."""

    flow: str
    verdict: str
    summary: str
    entities: EntityMap = field(default_factory=dict)
    question: str = ""
    at: datetime | None = None
    escalated: bool = False
    diagnosis: dict[str, Any] | None = None  # `Diagnosis.to_json()`, see `restore_diagnosis`

    def to_state(self) -> dict[str, object]:
        return {
            "diagnosis": _bounded(self.diagnosis),
            "flow": self.flow,
            "verdict": self.verdict,
            "summary": self.summary[:MAX_TEXT],
            "entities": {k: list(v) for k, v in self.entities.items()},
            "question": self.question[:MAX_TEXT],
            "at": self.at.isoformat() if self.at else "",
            "escalated": self.escalated,
        }

    @classmethod
    def from_state(cls, state: object) -> LastCheck | None:
        if not isinstance(state, Mapping) or not state.get("flow"):
            return None
        at: datetime | None = None
        try:
            at = datetime.fromisoformat(str(state.get("at") or ""))
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
        except ValueError:
            at = None
        return cls(
            flow=str(state["flow"]),
            verdict=str(state.get("verdict") or ""),
            summary=str(state.get("summary") or ""),
            entities=_entity_map(state.get("entities")),
            question=str(state.get("question") or ""),
            at=at,
            escalated=bool(state.get("escalated")),
            diagnosis=state.get("diagnosis") if isinstance(state.get("diagnosis"), Mapping) else None,
        )


def _bounded(diagnosis: dict[str, Any] | None) -> dict[str, Any] | None:
    if diagnosis is None:
        return None
    if len(json.dumps(diagnosis, default=str)) <= MAX_DIAGNOSIS_CHARS:
        return diagnosis
    slim = {**diagnosis, "tables": [], "images": []}
    return slim if len(json.dumps(slim, default=str)) <= MAX_DIAGNOSIS_CHARS else None


def restore_diagnosis(data: Mapping[str, Any] | None) -> Diagnosis | None:
    """The stored diagnosis again (without thumbnails or actions: it travels to a person), or
    None when there is none or it cannot be read."""
    if not data:
        return None
    try:
        return Diagnosis(
            flow=str(data["flow"]),
            verdict=str(data["verdict"]),
            summary=str(data["summary"]),
            language=_language(data.get("language")),
            findings=[
                Finding(str(f["check"]), str(f["result"]), CheckStatus(f["status"]))
                for f in data.get("findings") or []
            ],
            tables=[
                Table(
                    str(t["title"]), [str(c) for c in t["columns"]], [[str(v) for v in r] for r in t["rows"]]
                )
                for t in data.get("tables") or []
            ],
            images=[
                ImageEvidence(**{k: v for k, v in i.items() if k != "thumbnail_png"})
                for i in data.get("images") or []
            ],
            next_steps=[str(step) for step in data.get("next_steps") or []],
            escalate=bool(data.get("escalate")),
            escalate_reason=str(data.get("escalate_reason") or ""),
            store=data.get("store"),
            sku=data.get("sku"),
            order_id=data.get("order_id"),
        )
    except (KeyError, TypeError, ValueError):
        logger.warning("a stored diagnosis could not be read; the person gets its summary only")
        return None


@dataclass(frozen=True)
class Memory:
    """Everything a conversation remembers between turns."""

    language: Language = "en"
    pending: Pending | None = None
    last: LastCheck | None = None

    def to_state(self) -> dict[str, object]:
        state: dict[str, object] = self.pending.to_state() if self.pending else {"kind": "idle"}
        state["language"] = self.language
        if self.last is not None:
            state["last"] = self.last.to_state()
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any], *, age: timedelta) -> Memory:
        """The memory as stored `age` ago: a pending question or last check past its time is gone."""
        return cls(
            language=_language(state.get("language")),
            pending=Pending.from_state(state) if age <= PENDING_TTL else None,
            last=LastCheck.from_state(state.get("last")) if age <= LAST_TTL else None,
        )


def _language(value: object) -> Language:
    return "zh" if value == "zh" else "en"


def _entity_map(raw: object) -> EntityMap:
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(k): [str(v) for v in values]
        for k, values in raw.items()
        if isinstance(values, list) and k in ENTITY_KINDS
    }


def entities_dict(entities: Entities) -> EntityMap:
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


def replace_entities(old: Mapping[str, list[str]], new: Entities) -> Entities:
    """The remembered details with what the seller named again put in their place: "what about
    DEMO-X?" checks DEMO-X in the same store; "and Shopee MY?" the same SKU in Shopee MY. A new
    product (a SKU or a picture link) replaces the old product's SKU, pictures and order."""
    kept = {kind: list(values) for kind, values in old.items()}
    named = entities_dict(new)
    if new.skus or new.urls or new.order_ids:
        for kind in ("skus", "urls", "order_ids"):
            kept[kind] = named[kind]
    if new.stores:
        kept["stores"] = named["stores"]
    return merge_entities(Entities(), kept)


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
    """Loads and saves each conversation's `Memory`, keyed by the conversation key."""

    def __init__(
        self,
        sessions: Callable[[], AbstractContextManager[Session]],
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def load(self, key: str) -> Memory:
        with self._sessions() as session:
            row = session.get(ConversationState, key[:MAX_KEY])
            if row is None:
                return Memory()
            updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
            return Memory.from_state(row.state, age=self._clock() - updated)

    def remembered_language(self, key: str) -> Language:
        try:
            return self.load(key).language
        except Exception:  # the language is a nicety; never fail an action over it
            logger.exception("conversation %s: could not read its state", key)
            return "en"

    def save(self, key: str, memory: Memory) -> None:
        self._write(key, memory.to_state())

    def forget(self, key: str) -> None:
        """A new session: nothing pending, no last check; only the seller's language stays."""
        self.save(key, Memory(language=self.remembered_language(key)))

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
