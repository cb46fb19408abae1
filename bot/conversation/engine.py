"""The conversation engine: one seller turn in, one reply out, the same for Slack and the console.

A turn carries the seller's words or a choice they clicked; the engine matches the question,
asks for a missing detail or a clarification, runs the flow's handler and returns a `Reply` that
`bot/render/` lays out. What the conversation waits for is kept by `ConversationStore`, so a
bare answer ("DEMO-UP-OK", a store name, a link, a clicked choice) continues the flow that asked
for it, whichever process receives it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import col, select

from bot.conversation.actions import ActionRunner
from bot.conversation.replies import Replies
from bot.conversation.state import (
    ConversationStore,
    Pending,
    entities_dict,
    is_empty,
    merge_entities,
    with_detail,
)
from bot.conversation.types import QuestionMatcher, Reply, Speaker, Turn
from bot.conversation.words import HELP_WORDS, MAX_MATCH_CHARS, clean_text, has_words
from erp.models import Product
from erp.progress import SyncProgressCallback
from handlers.diagnosis import DetailRequest, Language
from handlers.registry import HANDLERS, FlowRequest, Handler
from handlers.services import Services
from handlers.sku_lookup import visible_stores
from knowledge.entities import Entities, extract_entities
from knowledge.language import detect_language

logger = logging.getLogger(__name__)

# Known SKUs given to entity extraction; a huge catalogue is cut to its newest products.
MAX_KNOWN_SKUS = 5_000
# A bare answer to "which SKU / store / order?" is short; a long message is a new question.
MAX_BARE_ANSWER_WORDS = 4
# Flows whose explanation already answers the general question ("when are images captured?",
# "how do I delete a store's data?"): with no detail given, explain first, then offer the check.
EXPLAIN_FIRST = frozenset({"image_grab", "delete_store_data"})
# Flows with a live check that needs no detail at all (the order sync runs for every store).
CHECKS_WITHOUT_DETAILS = frozenset({"orders_not_synced"})


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
        self.store = ConversationStore(services.sessions, services.clock)
        self.replies = Replies(knowledge, list(self.handlers))
        self.actions = ActionRunner(services, self.store, self.replies, self._run)

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
                return self.replies.not_linked(language)
            return self._respond(turn, text, language, progress)
        except Exception:
            logger.exception("conversation %s: turn failed", turn.key)
            return self.replies.failure(language)

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
                return self.replies.not_linked(lang)
            if flow not in self.handlers:
                return self.replies.message(lang, "I don't know that check.", "我不认识这个检查。")
            if isinstance(text_or_entities, Entities):
                entities = text_or_entities
            else:
                entities = self._extract(speaker.account_id, text)
            return self._run(flow, key, speaker, entities, text, lang, progress)
        except Exception:
            logger.exception("conversation %s: flow %s failed", key, flow)
            return self.replies.failure(lang)

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
        lang: Language = language or self.store.remembered_language(key)
        try:
            if speaker.account_id is None:
                return self.replies.not_linked(lang)
            return self.actions.run(action_kind, dict(params), speaker, key, lang, progress)
        except Exception:
            logger.exception("conversation %s: action %s failed", key, action_kind)
            return self.replies.failure(lang)

    # -- turns --------------------------------------------------------------------------------

    def _respond(
        self, turn: Turn, text: str, language: Language, progress: SyncProgressCallback | None
    ) -> Reply:
        speaker = turn.speaker
        account_id = int(speaker.account_id or 0)
        pending = self.store.load(turn.key)
        if pending is not None and not text and turn.language is None:
            language = pending.language

        # A click: a clarify button, or a choice offered with a detail question.
        if turn.flow and turn.flow in self.handlers:
            remembered = pending.entities if pending else {}
            entities = merge_entities(self._extract(account_id, text), remembered)
            if turn.detail and turn.value:
                entities = with_detail(entities, turn.detail, turn.value)
            question = text or (pending.question if pending else "")
            return self._run(turn.flow, turn.key, speaker, entities, question, language, progress)
        if turn.detail and turn.value is not None:
            if pending is not None and pending.kind == "detail":
                entities = with_detail(merge_entities(Entities(), pending.entities), turn.detail, turn.value)
                return self._run(
                    pending.flow, turn.key, speaker, entities, pending.question, language, progress
                )
            text = clean_text(turn.value)

        if not text or not has_words(text):
            # Nothing to tell the language by: answer in the one the seller last wrote in.
            if turn.language is None:
                language = pending.language if pending else self.store.remembered_language(turn.key)
            return self.replies.help(language, empty=True)
        if text.casefold() in HELP_WORDS:
            return self.replies.help(language, empty=False)

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
            self.store.clear(turn.key, language)
            return self.replies.out_of_scope(language)
        if getattr(match, "close", False) and alternatives:
            flows = [flow, alternatives[0]]
            self.store.save(
                turn.key,
                Pending(
                    kind="clarify",
                    language=language,
                    flows=flows,
                    entities=entities_dict(entities),
                    question=text,
                ),
            )
            return self.replies.clarify(language, flows)
        return self._run(flow, turn.key, speaker, entities, text, language, progress)

    def _continue(
        self,
        pending: Pending,
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
            merged = merge_entities(entities, pending.entities)
            return self._run(chosen, turn.key, turn.speaker, merged, pending.question, language, progress)

        if self._surely_another_flow(pending.flow, text):
            return None  # the seller's words outweigh the detail they carry: a new question
        answer = self._answer_for(pending.detail, text, entities)
        if answer is None:
            return None
        merged = merge_entities(answer, pending.entities)
        return self._run(pending.flow, turn.key, turn.speaker, merged, pending.question, language, progress)

    def _surely_another_flow(self, flow: str, text: str) -> bool:
        """A sentence the matcher surely reads as another flow ("publish fails, pic DEMO-X" while
        "which picture?" waits) is that flow's question, even though it names a SKU."""
        # One Latin word is a SKU or a name; a Chinese sentence has no spaces, so it counts by its
        # characters ("图片显示不出来" is a question, not a SKU).
        if len(text.split()) < 2 and not any("\u4e00" <= char <= "\u9fff" for char in text):
            return False
        match = self.matcher.match(text[:MAX_MATCH_CHARS])
        other = getattr(match, "flow", None)
        return other not in (None, flow) and getattr(match, "certainty", "") == "sure"

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
            return with_detail(entities, detail, words[0].strip(".,;:!?。，"))
        if detail in ("store", "image_url"):
            return with_detail(entities, detail, text)
        return None

    def _chosen_flow(self, flows: Sequence[str], text: str) -> str | None:
        answer = text.strip().casefold()
        if answer.isdigit() and 1 <= int(answer) <= len(flows):
            return flows[int(answer) - 1]
        for flow in flows:
            if answer == flow.casefold():
                return flow
            for language in ("en", "zh"):
                if answer == self.replies.flow_title(flow, language).casefold():
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
        if (
            is_empty(entities)
            and flow not in CHECKS_WITHOUT_DETAILS
            and not self.replies.required_details(flow)
        ):
            # Every detail is optional and none was given: nothing to check, the knowledge answers.
            self.store.clear(key, language)
            return self.replies.explain(flow, language)
        result = self.handlers[flow](request, self.services)
        if isinstance(result, DetailRequest):
            self.store.save(
                key,
                Pending(
                    kind="detail",
                    language=language,
                    flow=flow,
                    detail=result.detail,
                    entities=entities_dict(entities),
                    question=question,
                ),
            )
            if flow in EXPLAIN_FIRST and is_empty(entities):
                return self.replies.explain(flow, language, result)
            return Reply(
                kind="ask_detail",
                language=language,
                text=result.prompt,
                flow=flow,
                detail_request=result,
                choices=list(result.choices),
            )
        self.store.clear(key, language)
        return Reply(
            kind="diagnosis",
            language=language,
            text=result.summary,
            flow=flow,
            diagnosis=result,
            escalate=result.escalate,
            escalate_reason=result.escalate_reason,
        )

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
