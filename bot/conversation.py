"""The conversation: one seller turn in, one reply out, the same for Slack and the console.

A turn carries the seller's words or a choice they clicked; the conversation matches the question,
asks for a missing detail or a clarification, runs the flow's handler and returns a `Reply` that
`bot/render/` lays out. What the conversation waits for is kept in `ConversationState`, keyed by
`Turn.key`, so a bare answer ("DEMO-UP-OK", a store name, a link, a clicked choice) continues the
flow that asked for it, whichever process receives it.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from erp.models import AuditLog, ConversationState, FollowUp, PlatformReport, Product, ReportStatus
from erp.progress import SyncProgressCallback
from handlers.delete_store_data import perform_delete, perform_undo
from handlers.diagnosis import (
    Action,
    ActionKind,
    Choice,
    DetailRequest,
    Diagnosis,
    Language,
)
from handlers.registry import HANDLERS, FlowRequest, Handler
from handlers.services import Services
from handlers.sku_lookup import format_time, visible_stores
from handlers.text import say
from knowledge.entities import Entities, extract_entities
from knowledge.language import detect_language

logger = logging.getLogger(__name__)

ReplyKind = Literal[
    "diagnosis",  # a handler reached a verdict
    "ask_detail",  # a detail is missing: detail_request lists the choices
    "clarify",  # two flows are close: choices are flow ids
    "explain",  # the flow's explanation and steps (no live check applies)
    "out_of_scope",  # honest "can't help with that here" + offer of a person
    "not_linked",  # the Slack user is not linked to a seller account
    "message",  # plain text (help, link confirmation, errors in the seller's words)
]

# The matcher reads the start of a message; a 40,000-character paste is still answered quickly.
MAX_MATCH_CHARS = 4_000
MAX_KEY = 200  # ConversationState.key's length
# A pending question older than this is forgotten: the seller has moved on.
PENDING_TTL = timedelta(hours=2)
# Known SKUs given to entity extraction; a huge catalogue is cut to its newest products.
MAX_KNOWN_SKUS = 5_000
# A bare answer to "which SKU / store / order?" is short; a long message is a new question.
MAX_BARE_ANSWER_WORDS = 4
# Flows whose explanation already answers the general question ("when are images captured?",
# "how do I delete a store's data?"): with no detail given, explain first, then offer the check.
EXPLAIN_FIRST = frozenset({"image_grab", "delete_store_data"})
# Flows with a live check that needs no detail at all (the order sync runs for every store).
CHECKS_WITHOUT_DETAILS = frozenset({"orders_not_synced"})

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd]")
_HELP_WORDS = {"help", "?", "帮助", "菜单", "menu", "hi", "hello", "你好", "您好"}


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


@dataclass
class _Pending:
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
    def from_state(cls, state: Mapping[str, Any]) -> _Pending | None:
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


def _entities_dict(entities: Entities) -> dict[str, list[str]]:
    return {
        "skus": list(entities.skus),
        "order_ids": list(entities.order_ids),
        "urls": list(entities.urls),
        "stores": list(entities.stores),
    }


def _merge(first: Entities, second: Mapping[str, list[str]]) -> Entities:
    """`first`'s values come first (the newest answer wins), then the remembered ones."""

    def both(new: list[str], old: list[str]) -> list[str]:
        return list(dict.fromkeys([*new, *old]))

    return Entities(
        skus=both(first.skus, second.get("skus", [])),
        order_ids=both(first.order_ids, second.get("order_ids", [])),
        urls=both(first.urls, second.get("urls", [])),
        stores=both(first.stores, second.get("stores", [])),
    )


def _with_detail(entities: Entities, detail: str, value: str) -> Entities:
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


def clean_text(text: str) -> str:
    """The seller's words without control characters or binary noise, normalized (NFKC)."""
    text = unicodedata.normalize("NFKC", text)
    return " ".join(_CONTROL.sub(" ", text).split())


def _has_words(text: str) -> bool:
    # Emoji, punctuation and symbols alone say nothing the bot can act on.
    return any(unicodedata.category(char)[0] in ("L", "N") for char in text)


def _is_empty(entities: Entities) -> bool:
    return not (entities.skus or entities.order_ids or entities.urls or entities.stores)


class Conversation:
    """The conversation engine: matching, pending details, handlers, actions.

    Args:
        services: the bot's data and live operations.
        knowledge: the flows as data (titles, explanations, steps).
        matcher: maps a question to a flow (`match(text)` returning flow, confidence,
            alternatives and whether the top two are close).
        handlers: flow id -> handler; the registry's by default.
    """

    def __init__(
        self,
        *,
        services: Services,
        knowledge: Any,
        matcher: QuestionMatcher,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self.services = services
        self.knowledge = knowledge
        self.matcher = matcher
        self.handlers: Mapping[str, Handler] = handlers if handlers is not None else HANDLERS

    # -- the three entry points -------------------------------------------------------------

    def respond(self, turn: Turn, progress: SyncProgressCallback | None = None) -> Reply:
        """Answer one turn; never raises: anything unexpected becomes a friendly message.

        Args:
            turn: the seller's words or click.
            progress: receives per-store sync progress while an order sync runs.

        Returns:
            The reply for the surface to render.
        """
        language: Language = turn.language or "en"
        try:
            text = clean_text(turn.text or "")
            language = turn.language or (detect_language(text[:MAX_MATCH_CHARS]) if text else language)
            if turn.speaker.account_id is None:
                return self._not_linked(language)
            return self._respond(turn, text, language, progress)
        except Exception:
            logger.exception("conversation %s: turn failed", turn.key)
            return self._failure(language)

    def run_flow(
        self,
        flow: str,
        speaker: Speaker,
        text_or_entities: str | Entities,
        *,
        key: str,
        language: Language | None = None,
        progress: SyncProgressCallback | None = None,
    ) -> Reply:
        """Run a flow chosen by the surface (a slash command), skipping the matcher.

        Args:
            flow: the flow id.
            speaker: who asks.
            text_or_entities: the command's text (entities are extracted) or entities.
            key: the conversation key (a missing detail is remembered under it).
            language: forced language; detected from the text otherwise.
            progress: sync progress callback.
        """
        lang: Language = language or "en"
        try:
            text = clean_text(text_or_entities) if isinstance(text_or_entities, str) else ""
            lang = language or (detect_language(text) if text else "en")
            if speaker.account_id is None:
                return self._not_linked(lang)
            if flow not in self.handlers:
                return self._message(lang, "I don't know that check.", "我不认识这个检查。")
            if isinstance(text_or_entities, Entities):
                entities = text_or_entities
            else:
                entities = self._extract(speaker.account_id, text)
            return self._run(flow, key, speaker, entities, text, lang, progress)
        except Exception:
            logger.exception("conversation %s: flow %s failed", key, flow)
            return self._failure(lang)

    def run_action(
        self,
        action_kind: str,
        params: Mapping[str, str],
        speaker: Speaker,
        *,
        key: str,
        language: Language | None = None,
        progress: SyncProgressCallback | None = None,
    ) -> Reply:
        """Run a proposed action the seller chose (a button, or a numbered option in the console).

        Deleting a store's data is for the account owner; the surface asks for confirmation
        before calling this. Never raises.
        """
        lang: Language = language or self._remembered_language(key)
        try:
            if speaker.account_id is None:
                return self._not_linked(lang)
            return self._action(action_kind, dict(params), speaker, key, lang, progress)
        except Exception:
            logger.exception("conversation %s: action %s failed", key, action_kind)
            return self._failure(lang)

    # -- turns --------------------------------------------------------------------------------

    def _respond(
        self, turn: Turn, text: str, language: Language, progress: SyncProgressCallback | None
    ) -> Reply:
        speaker = turn.speaker
        account_id = int(speaker.account_id or 0)
        pending = self._load(turn.key)
        if pending is not None and not text and turn.language is None:
            language = pending.language

        # A click: a clarify button, or a choice offered with a detail question.
        if turn.flow and turn.flow in self.handlers:
            remembered = pending.entities if pending else {}
            entities = _merge(self._extract(account_id, text), remembered)
            if turn.detail and turn.value:
                entities = _with_detail(entities, turn.detail, turn.value)
            question = text or (pending.question if pending else "")
            return self._run(turn.flow, turn.key, speaker, entities, question, language, progress)
        if turn.detail and turn.value is not None:
            if pending is not None and pending.kind == "detail":
                entities = _with_detail(_merge(Entities(), pending.entities), turn.detail, turn.value)
                return self._run(
                    pending.flow, turn.key, speaker, entities, pending.question, language, progress
                )
            text = clean_text(turn.value)

        if not text or not _has_words(text):
            # Nothing to tell the language by: answer in the one the seller last wrote in.
            if turn.language is None:
                language = pending.language if pending else self._remembered_language(turn.key)
            return self._help(language, empty=True)
        if text.casefold() in _HELP_WORDS:
            return self._help(language, empty=False)

        entities = self._extract(account_id, text)
        if pending is not None:
            continued = self._continue(pending, turn, text, entities, language, progress)
            if continued is not None:
                return continued

        match = self.matcher.match(text[:MAX_MATCH_CHARS])
        flow = getattr(match, "flow", None)
        alternatives = [_alternative_flow(a) for a in getattr(match, "alternatives", []) or []]
        alternatives = [a for a in alternatives if a and a != flow and a in self.handlers]
        if flow is None or flow not in self.handlers:
            self._clear(turn.key, language)
            return self._out_of_scope(language)
        if getattr(match, "close", False) and alternatives:
            flows = [flow, alternatives[0]]
            self._save(
                turn.key,
                _Pending(
                    kind="clarify",
                    language=language,
                    flows=flows,
                    entities=_entities_dict(entities),
                    question=text,
                ),
            )
            return self._clarify(language, flows)
        return self._run(flow, turn.key, speaker, entities, text, language, progress)

    def _continue(
        self,
        pending: _Pending,
        turn: Turn,
        text: str,
        entities: Entities,
        language: Language,
        progress: SyncProgressCallback | None,
    ) -> Reply | None:
        """Continue the flow waiting for this answer, or None when the text is a new question."""
        if pending.kind == "clarify":
            chosen = self._chosen_flow(pending.flows, text)
            if chosen is None:
                return None
            merged = _merge(entities, pending.entities)
            return self._run(chosen, turn.key, turn.speaker, merged, pending.question, language, progress)

        answer = self._answer_for(pending.detail, text, entities)
        if answer is None:
            return None
        merged = _merge(answer, pending.entities)
        return self._run(pending.flow, turn.key, turn.speaker, merged, pending.question, language, progress)

    def _answer_for(self, detail: str, text: str, entities: Entities) -> Entities | None:
        """The entities a reply gives for the awaited detail, or None when it does not answer it."""
        has = {
            "sku": bool(entities.skus) or bool(entities.urls),  # picture links answer "which product"
            "order_id": bool(entities.order_ids),
            "image_url": bool(entities.urls) or bool(entities.skus),
            "store": bool(entities.stores),
        }
        if has.get(detail, False):
            return entities
        words = text.split()
        if len(words) > MAX_BARE_ANSWER_WORDS or len(text) > 120:
            return None
        if len(words) > 1 and getattr(self.matcher.match(text), "flow", None) is not None:
            return None  # a short new question ("price not updated"), not a store's name
        # A short reply that names no entity is still the seller's answer: "demo_up_ok", a store
        # name with a typo, a number. The handler says clearly when it does not recognise it.
        if detail in ("sku", "order_id") and len(words) == 1:
            return _with_detail(entities, detail, words[0].strip(".,;:!?。，"))
        if detail in ("store", "image_url"):
            return _with_detail(entities, detail, text)
        return None

    def _chosen_flow(self, flows: Sequence[str], text: str) -> str | None:
        answer = text.strip().casefold()
        if answer.isdigit() and 1 <= int(answer) <= len(flows):
            return flows[int(answer) - 1]
        for flow in flows:
            if answer == flow.casefold():
                return flow
            for language in ("en", "zh"):
                if answer == self._flow_title(flow, language).casefold():
                    return flow
        return None

    # -- running a flow -------------------------------------------------------------------------

    def _run(
        self,
        flow: str,
        key: str,
        speaker: Speaker,
        entities: Entities,
        question: str,
        language: Language,
        progress: SyncProgressCallback | None,
    ) -> Reply:
        request = FlowRequest(
            account_id=int(speaker.account_id or 0),
            actor=speaker.actor,
            language=language,
            role=speaker.role,
            entities=entities,
            question=question[:MAX_MATCH_CHARS],
            progress=progress,
        )
        if _is_empty(entities) and flow not in CHECKS_WITHOUT_DETAILS and not self._required_details(flow):
            # Every detail is optional and none was given: nothing to check, the knowledge answers.
            self._clear(key, language)
            return self._explain(flow, language)
        result = self.handlers[flow](request, self.services)
        if isinstance(result, DetailRequest):
            self._save(
                key,
                _Pending(
                    kind="detail",
                    language=language,
                    flow=flow,
                    detail=result.detail,
                    entities=_entities_dict(entities),
                    question=question,
                ),
            )
            if flow in EXPLAIN_FIRST and _is_empty(entities):
                return self._explain(flow, language, result)
            return Reply(
                kind="ask_detail",
                language=language,
                text=result.prompt,
                flow=flow,
                detail_request=result,
                choices=list(result.choices),
            )
        self._clear(key, language)
        return Reply(
            kind="diagnosis",
            language=language,
            text=result.summary,
            flow=flow,
            diagnosis=result,
            escalate=result.escalate,
            escalate_reason=result.escalate_reason,
        )

    # -- actions --------------------------------------------------------------------------------

    def _action(
        self,
        kind: str,
        params: dict[str, str],
        speaker: Speaker,
        key: str,
        language: Language,
        progress: SyncProgressCallback | None,
    ) -> Reply:
        account_id = int(speaker.account_id or 0)
        if kind == ActionKind.SYNC_NOW:
            entities = Entities(
                stores=[params["store"]] if params.get("store") else [],
                order_ids=[params["order_id"]] if params.get("order_id") else [],
            )
            return self._run("orders_not_synced", key, speaker, entities, "", language, progress)
        if kind == ActionKind.CONVERT_RGB:
            return self._convert(params.get("url", ""), speaker, language)
        if kind == ActionKind.REQUEST_REPORT:
            return self._request_report(params, speaker, language)
        if kind == ActionKind.NOTIFY_REPORT:
            return self._notify_report(params, speaker, key, language)
        if kind in (ActionKind.DELETE_STORE_DATA, ActionKind.UNDO_DELETE):
            store_id = _int(params.get("store_id"))
            if store_id is None:
                return self._message(
                    language, "Which store? I did not get its id.", "请问是哪个店铺？没有收到店铺编号。"
                )
            perform = perform_delete if kind == ActionKind.DELETE_STORE_DATA else perform_undo
            diagnosis = perform(
                self.services,
                account_id=account_id,
                role=speaker.role,
                actor=speaker.actor,
                store_id=store_id,
                language=language,
            )
            if diagnosis.verdict == "explained":  # refused: keep a trace of who tried
                self._audit(speaker, str(kind), "refused", diagnosis.summary, store_id=store_id)
            self._clear(key, language)
            return Reply(
                kind="diagnosis",
                language=language,
                text=diagnosis.summary,
                flow="delete_store_data",
                diagnosis=diagnosis,
            )
        if kind == ActionKind.TALK_TO_PERSON:
            reason = params.get("reason", "")
            return Reply(
                kind="message",
                language=language,
                text=say(
                    language,
                    "I'm bringing in a person from customer service; they will reply here.",
                    "正在为您转接人工客服，客服会在这里回复您。",
                ),
                flow=params.get("flow") or None,
                escalate=True,
                escalate_reason=reason
                or say(language, "The seller asked for a person.", "卖家要求人工客服。"),
            )
        return self._message(language, "I can't do that from here.", "这个操作无法在这里完成。")

    def _convert(self, url: str, speaker: Speaker, language: Language) -> Reply:
        if not url.strip():
            return self._message(
                language, "Which picture? I did not get its link.", "请问是哪张图片？没有收到链接。"
            )
        result, jpeg = self.services.images.convert_to_rgb(url.strip())
        if jpeg is None:
            self._audit(speaker, "convert_image", "failed", f"{result.verdict}: {result.detail}"[:500])
            return self._message(
                language,
                f"I could not convert that picture: {result.detail or result.verdict}.",
                f"无法转换这张图片：{result.detail or result.verdict}。",
            )
        self._audit(speaker, "convert_image", "ok", f"{result.mode} -> RGB, {len(jpeg)} bytes")
        stem = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0][:60] or "picture"
        filename = f"{stem}-rgb.jpg"
        return Reply(
            kind="message",
            language=language,
            text=say(
                language,
                f"Here is the picture as an RGB JPEG ({filename}, was {result.mode or 'not RGB'}). "
                "Replace the picture on the product edit page with it and publish again.",
                f"这是转换为 RGB 的 JPEG 图片（{filename}，原为 {result.mode or '非 RGB'}）。"
                "请在商品编辑页面用它替换原图后重新发布。",
            ),
            flow="publish_image_error",
            files=[Attachment(filename=filename, content=jpeg, mime_type="image/jpeg", title=filename)],
        )

    def _request_report(self, params: dict[str, str], speaker: Speaker, language: Language) -> Reply:
        store_id = _int(params.get("store_id"))
        kind = params.get("kind") or "listings"
        with self.services.sessions() as session:
            stores = {s.id: s for s in visible_stores(session, int(speaker.account_id or 0))}
        store = stores.get(store_id) if store_id is not None else None
        if store is None:
            return self._message(
                language, "I can't find that store in your account.", "您的账号里找不到这个店铺。"
            )
        report_id = self.services.reports.refresh(store.id or 0, kind, actor=speaker.actor)
        status = ""
        if report_id is not None:
            with self.services.sessions() as session:
                report = session.get(PlatformReport, report_id)
                status = report.status if report else ""
        if status == ReportStatus.DONE:
            return self._message(
                language,
                f"A fresh {kind} report for {store.name} is imported; ask me again to see the new data.",
                f"{store.name} 的最新{kind}报告已导入，可以再问我一次查看新数据。",
            )
        return self._message(
            language,
            f"I asked the platform for a fresh {kind} report for {store.name}; it is not ready yet "
            "(platforms can take a while). It will be imported as soon as it is.",
            f"已向平台申请 {store.name} 的最新{kind}报告，目前尚未生成（平台可能需要一些时间），"
            "生成后会自动导入。",
        )

    def _notify_report(self, params: dict[str, str], speaker: Speaker, key: str, language: Language) -> Reply:
        store_id = _int(params.get("store_id"))
        now = self.services.clock()
        due = self.services.schedule.next_run("report_import", now) or now + timedelta(days=1)
        place = _slack_place(key)
        if place is None:
            # Only Slack can be written to later; elsewhere the seller asks again themselves.
            return self._message(
                language,
                f"The next report import is at {format_time(due)}; ask me again after that and I'll "
                "check what it shows.",
                f"下一次报告导入在 {format_time(due)}，之后再问我一次，我会检查报告的结果。",
            )
        team_id, channel, thread_ts = place
        with self.services.sessions() as session:
            stores = {s.id: s for s in visible_stores(session, int(speaker.account_id or 0))}
            store = stores.get(store_id) if store_id is not None else None
            session.add(
                FollowUp(
                    kind="report_landed",
                    account_id=int(speaker.account_id or 0),
                    store_id=store.id if store else None,
                    sku=params.get("sku", "")[:120],
                    language=language,
                    team_id=team_id[:40],
                    channel=channel[:40],
                    thread_ts=thread_ts[:40],
                    due_at=due,
                )
            )
            session.commit()
        return self._message(
            language,
            f"I'll check again after the next report import ({format_time(due)}) and tell you what it shows.",
            f"我会在下一次报告导入（{format_time(due)}）后再检查一次，并告诉您结果。",
        )

    # -- replies ----------------------------------------------------------------------------------

    def _required_details(self, flow: str) -> list[str]:
        try:
            return list(self.knowledge.flow(flow).required_details)
        except (AttributeError, KeyError):
            return ["unknown"]  # no knowledge of the flow: let its handler decide

    def _flow_title(self, flow: str, language: Language) -> str:
        try:
            return str(self.knowledge.flow(flow).text(language).title)
        except (AttributeError, KeyError):
            return flow.replace("_", " ")

    def _explain(self, flow: str, language: Language, detail_request: DetailRequest | None = None) -> Reply:
        text = self.knowledge.flow(flow).text(language)
        return Reply(
            kind="explain",
            language=language,
            text=str(text.explanation),
            flow=flow,
            title=str(text.title),
            steps=list(text.steps),
            detail_request=detail_request,
            choices=list(detail_request.choices) if detail_request else [],
        )

    def _clarify(self, language: Language, flows: Sequence[str]) -> Reply:
        choices = [Choice(value=flow, label=self._flow_title(flow, language)) for flow in flows]
        return Reply(
            kind="clarify",
            language=language,
            text=say(
                language,
                "I want to be sure I check the right thing. Which one is it?",
                "为了检查正确的问题，请确认是哪一种？",
            ),
            choices=choices,
        )

    def _out_of_scope(self, language: Language) -> Reply:
        return Reply(
            kind="out_of_scope",
            language=language,
            text=say(
                language,
                "Sorry, I can't help with that here: I check order syncs, prices, uploads, product "
                "reports, pictures and store data. A person from customer service can help with the rest.",
                "抱歉，这个问题我在这里帮不上忙：我可以检查订单同步、价格、上传、商品报告、图片和店铺数据。"
                "其他问题可以由人工客服为您解答。",
            ),
            actions=[Action(ActionKind.TALK_TO_PERSON, say(language, "Talk to a person", "联系人工客服"))],
        )

    def _help(self, language: Language, *, empty: bool) -> Reply:
        opening = (
            say(language, "I didn't catch a question there.", "我没有看到您的问题。")
            if empty
            else say(language, "Hi! I'm SellerDesk.", "您好！我是 SellerDesk。")
        )
        topics = [self._flow_title(flow, language) for flow in self.handlers]
        return Reply(
            kind="message",
            language=language,
            text=opening
            + " "
            + say(
                language,
                'Ask me in your own words, for example "order 112-0000001-0000001 did not sync". '
                "I can check:",
                "请用您自己的话提问，例如“订单 112-0000001-0000001 没有同步”。我可以检查：",
            ),
            steps=topics,
        )

    def _not_linked(self, language: Language) -> Reply:
        return Reply(
            kind="not_linked",
            language=language,
            text=say(
                language,
                "Your Slack account is not linked to a seller account yet. Ask your account owner for a "
                "link code and send `/sellerdesk link CODE`.",
                "您的 Slack 账号尚未关联卖家账号。请向账号所有者索取关联码，"
                "然后发送 `/sellerdesk link CODE`。",
            ),
        )

    def _message(self, language: Language, en: str, zh: str) -> Reply:
        return Reply(kind="message", language=language, text=say(language, en, zh))

    def _failure(self, language: Language) -> Reply:
        return Reply(
            kind="message",
            language=language,
            text=say(
                language,
                "Something went wrong on my side while checking that; nothing was changed. "
                "Please try again, or ask for a person.",
                "检查时我这边出了点问题，没有做任何更改。请重试，或联系人工客服。",
            ),
            actions=[Action(ActionKind.TALK_TO_PERSON, say(language, "Talk to a person", "联系人工客服"))],
        )

    # -- state, entities, audit ---------------------------------------------------------------------

    def _extract(self, account_id: int, text: str) -> Entities:
        if not text:
            return Entities()
        with self.services.sessions() as session:
            stores = visible_stores(session, account_id)
            ids = [store.id for store in stores if store.id is not None]
            skus: list[str] = []
            if ids:
                statement = (
                    select(Product.sku)
                    .where(col(Product.store_id).in_(ids))
                    .order_by(col(Product.id).desc())
                    .limit(MAX_KNOWN_SKUS)
                )
                skus = list(dict.fromkeys(session.exec(statement)))
        return extract_entities(
            text[:MAX_MATCH_CHARS], known_skus=skus, known_stores=[store.name for store in stores]
        )

    def _load(self, key: str) -> _Pending | None:
        with self.services.sessions() as session:
            row = session.get(ConversationState, key[:MAX_KEY])
            if row is None:
                return None
            updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
            if self.services.clock() - updated > PENDING_TTL:
                return None
            return _Pending.from_state(row.state)

    def _remembered_language(self, key: str) -> Language:
        try:
            with self.services.sessions() as session:
                row = session.get(ConversationState, key[:MAX_KEY])
                remembered = row.state.get("language") if row is not None else None
        except Exception:  # the language is a nicety; never fail an action over it
            logger.exception("conversation %s: could not read its state", key)
            return "en"
        return "zh" if remembered == "zh" else "en"

    def _save(self, key: str, pending: _Pending) -> None:
        self._write_state(key, pending.to_state())

    def _clear(self, key: str, language: Language) -> None:
        """Nothing is pending any more; only the seller's language is remembered."""
        self._write_state(key, {"kind": "idle", "language": language})

    def _write_state(self, key: str, state: dict[str, object]) -> None:
        # Two turns of one conversation can land at once (a retry, a double click): update the
        # row if it is there, else insert it, and if the other turn inserted it first, update.
        key = key[:MAX_KEY]
        now = self.services.clock()
        for _attempt in range(2):
            with self.services.sessions() as session:
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

    def _audit(
        self, speaker: Speaker, action: str, result: str, detail: str, *, store_id: int | None = None
    ) -> None:
        with self.services.sessions() as session:
            session.add(
                AuditLog(
                    at=self.services.clock(),
                    actor=speaker.actor,
                    account_id=speaker.account_id,
                    store_id=store_id,
                    action=action,
                    result=result,
                    detail=detail,
                )
            )
            session.commit()


def _alternative_flow(alternative: object) -> str | None:
    """An alternative's flow id, whether the matcher gives objects, pairs or mappings."""
    if isinstance(alternative, str):
        return alternative
    if isinstance(alternative, Mapping):
        value = alternative.get("flow")
        return str(value) if value else None
    flow = getattr(alternative, "flow", None)
    if flow:
        return str(flow)
    if isinstance(alternative, tuple | list) and alternative:
        return str(alternative[0])
    return None


def _slack_place(key: str) -> tuple[str, str, str] | None:
    """(team, channel, thread) of a Slack conversation key "slack:T1:C1:U1[:thread]"; None otherwise."""
    parts = key.split(":")
    if len(parts) < 4 or parts[0] != "slack" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2], parts[4] if len(parts) > 4 else ""


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
