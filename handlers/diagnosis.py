"""What a flow handler returns: plain data that every surface (Slack, console, JSON, evidence
image) renders in one place in `bot/render/`.

A handler either reaches a `Diagnosis` or, when a detail is missing, returns a `DetailRequest`
listing choices from the seller's own data. Text in these objects is already in the seller's
language (`language` is "en" or "zh"); renderers only lay it out.
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

Language = Literal["en", "zh"]
Detail = Literal["sku", "order_id", "image_url", "store"]


class CheckStatus(StrEnum):
    OK = "ok"
    PROBLEM = "problem"
    UNKNOWN = "unknown"


class ActionKind(StrEnum):
    """Proposed actions; each surface turns them into buttons or console hints."""

    SYNC_NOW = "sync_now"
    CONVERT_RGB = "convert_rgb"
    NOTIFY_REPORT = "notify_report"  # tell the seller when the next report lands
    REQUEST_REPORT = "request_report"
    DELETE_STORE_DATA = "delete_store_data"
    UNDO_DELETE = "undo_delete"
    TALK_TO_PERSON = "talk_to_person"


@dataclass(frozen=True)
class Finding:
    """One check the bot ran: what it looked at and what it found."""

    check: str
    result: str
    status: CheckStatus


@dataclass(frozen=True)
class Table:
    """Tabular evidence (sync results per store, a SKU's trail through the data, report ages)."""

    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class ImageEvidence:
    """The image check's result for one URL, with a small PNG thumbnail when it could be decoded."""

    url: str
    verdict: str
    http_status: int | None = None
    content_type: str = ""
    format: str = ""
    mode: str = ""
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    detail: str = ""
    warnings: list[str] = field(default_factory=list)
    # builtins.bytes: the `bytes` field above shadows the type inside this class body.
    thumbnail_png: builtins.bytes | None = None


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    label: str
    # Small string values only: Slack button values are capped at 2,000 characters.
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass
class Diagnosis:
    flow: str
    verdict: str
    summary: str
    language: Language = "en"
    findings: list[Finding] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[ImageEvidence] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    escalate: bool = False
    escalate_reason: str = ""
    store: str | None = None  # store name the diagnosis is about, when there is one
    sku: str | None = None
    order_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict (thumbnails dropped): for `--json` output, logs and stored escalations."""
        data = asdict(self)
        for image in data["images"]:
            image.pop("thumbnail_png", None)
        return data


@dataclass
class DetailRequest:
    """The handler needs one more detail before it can check anything."""

    flow: str
    detail: Detail
    prompt: str
    language: Language = "en"
    choices: list[Choice] = field(default_factory=list)


HandlerResult = Diagnosis | DetailRequest
