"""What a conversation turn and its reply are: the contract every surface shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from handlers.diagnosis import Action, Choice, DetailRequest, Diagnosis, Language

ReplyKind = Literal[
    "diagnosis",  # a handler reached a verdict
    "ask_detail",  # a detail is missing: detail_request lists the choices
    "clarify",  # two flows are close: choices are flow ids
    "explain",  # the flow's explanation and steps (no live check applies)
    "out_of_scope",  # honest "can't help with that here" + offer of a person
    "not_linked",  # the Slack user is not linked to a seller account
    "message",  # plain text (help, link confirmation, errors in the seller's words)
]


@dataclass(frozen=True)
class Speaker:
    """Who is asking, as the identity layer resolved them."""

    actor: str  # for the audit log: "slack:T1:U1", "console:demo"
    account_id: int | None  # None: not linked
    role: str = "member"  # owner | member | agent
    team_id: str = ""
    user_id: str = ""


@dataclass(frozen=True)
class Turn:
    key: str  # conversation key: "slack:T1:D123:U1[:thread]" or "console:demo"
    speaker: Speaker
    text: str = ""
    # Set when the seller clicked instead of typing:
    flow: str | None = None  # a clarify button or a slash command chose the flow
    detail: str | None = None  # which detail `value` answers (sku, order_id, image_url, store)
    value: str | None = None
    language: Language | None = None  # forced language; otherwise detected from `text`


@dataclass(frozen=True)
class Attachment:
    """A file the bot hands back (the converted RGB image) or attaches as evidence."""

    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"
    title: str = ""


@dataclass
class Reply:
    kind: ReplyKind
    language: Language
    text: str  # plain-text version: notifications, fallbacks, console
    flow: str | None = None
    diagnosis: Diagnosis | None = None
    detail_request: DetailRequest | None = None
    choices: list[Choice] = field(default_factory=list)
    title: str = ""  # explain: the flow's title
    steps: list[str] = field(default_factory=list)  # explain: the flow's steps
    files: list[Attachment] = field(default_factory=list)
    # The surface should open an escalation (the seller asked for a person, or the flow escalates).
    escalate: bool = False
    escalate_reason: str = ""
    # Actions offered outside a diagnosis (e.g. "talk to a person" on an out-of-scope answer).
    actions: list[Action] = field(default_factory=list)


class QuestionMatcher(Protocol):
    """What the conversation needs of `knowledge.matcher.Matcher`."""

    def match(self, text: str) -> Any: ...
