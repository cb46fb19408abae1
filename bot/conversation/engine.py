"""The conversation engine: one seller turn in, one reply out, the same for Slack and the console.

A turn is read (the act, the match, the entities, its language), the dialogue policy
(`bot/conversation/policy.py`) decides what it is, and the engine carries the decision out: runs
the flow's handler, explains from knowledge, asks, or hands over to a person. What the
conversation remembers (`Memory`: its language, the open question, the last check) is kept by
`ConversationStore`, so whichever process receives the next turn continues it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlmodel import col, select

from bot.conversation.actions import ActionRunner
from bot.conversation.policy import PERSON, Decision, MatchView, Reading, bare_details, decide
from bot.conversation.replies import Replies
from bot.conversation.state import (
    ConversationStore,
    LastCheck,
    Memory,
    Pending,
    entities_dict,
    is_empty,
    merge_entities,
    restore_diagnosis,
)
from bot.conversation.types import QuestionMatcher, Reply, Speaker, Turn
from bot.conversation.words import MAX_MATCH_CHARS, clean_text
from erp.models import Product
from erp.progress import SyncProgressCallback
from handlers.diagnosis import Action, ActionKind, Choice, DetailRequest, Diagnosis, Language
from handlers.registry import HANDLERS, FlowRequest, Handler
from handlers.services import Services
from handlers.sku_leads import sku_leads
from handlers.sku_lookup import visible_stores
from handlers.text import say
from knowledge.acts import read_act, says_thanks
from knowledge.entities import Entities, EntitySpan, extract_entities, find_entity_spans
from knowledge.language import detect_language

logger = logging.getLogger(__name__)

# Known SKUs given to entity extraction; a huge catalogue is cut to its newest products.
MAX_KNOWN_SKUS = 5_000
# Flows whose live check needs no detail and does real work (a sync of every store): a general
# question about them is explained with the check offered, never run unasked.
CHECKS_WITHOUT_DETAILS = frozenset({"orders_not_synced"})
# Fewer Latin words than this (and no Chinese) keep the conversation's language.
SHORT_LATIN_WORDS = 3
_LATIN_WORD = re.compile(r"[A-Za-z]+")
# Words that pick "something else: talk to a person" among offered choices.
_PERSON_LABELS = [
    "something else: talk to a person",
    "something else",
    "none of these",
    "none",
    "other",
    "a person",
    "都不是：联系人工客服",
    "都不是",
    "其他",
    "别的",
]


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

    def forget(self, key: str) -> None:
        """Start the conversation afresh (a new console session): nothing pending, no last check."""
        self.store.forget(key)

    def _respond(
        self, turn: Turn, text: str, language: Language, progress: SyncProgressCallback | None
    ) -> Reply:
        speaker = turn.speaker
        account_id = int(speaker.account_id or 0)
        memory = self.store.load(turn.key)
        if turn.detail and turn.value is not None and not turn.flow and memory.pending is None:
            text = clean_text(turn.value)  # a choice clicked after its question expired: read it as words
        reading = self._read(account_id, text, memory)
        decision = decide(memory, turn, reading)
        return self._carry_out(decision, turn, memory, progress)

    def _read(self, account_id: int, text: str, memory: Memory) -> Reading:
        """Everything the policy needs to know about the words, read once."""
        if not text:
            return Reading(text="")
        skus, stores = self._known(account_id)
        entities = extract_entities(text[:MAX_MATCH_CHARS], known_skus=skus, known_stores=stores)
        spans = find_entity_spans(text[:MAX_MATCH_CHARS], known_skus=skus, known_stores=stores)
        masked = _without_entities(text[:MAX_MATCH_CHARS], spans)
        # A bare SKU, store name, link or number says nothing about the language, nor does a word
        # or two that asks nothing ("ok", "xyz", "thanks") in a Chinese conversation: it continues
        # in its language until the seller writes a sentence, or a question, in the other.
        match = MatchView.of(self.matcher.match(text[:MAX_MATCH_CHARS]), list(self.handlers))
        latin = len(_LATIN_WORD.findall(masked))
        wordy = (
            any(_is_han(char) for char in masked)
            or latin >= SHORT_LATIN_WORDS
            or (latin >= 2 and match.certainty != "none")
        )
        last = memory.last
        last_stores = set(last.entities.get("stores", [])) if last else set()
        since = (self.services.clock() - last.at).total_seconds() if last and last.at else None
        leads: tuple[str, ...] = ()
        if memory.pending is None and len(entities.skus) == 1 and bare_details(text, entities):
            with self.services.sessions() as session:
                found = sku_leads(session, account_id, entities.skus[0], self.services.clock())
            leads = tuple(flow for flow in found if flow in self.handlers)
        return Reading(
            text=text,
            act=read_act(text),
            match=match,
            entities=entities,
            language=detect_language(masked) if wordy else None,
            other_stores=tuple(name for name in stores if name not in last_stores) if last_stores else (),
            since_last=since,
            sku_leads=leads,
        )

    def _carry_out(
        self, decision: Decision, turn: Turn, memory: Memory, progress: SyncProgressCallback | None
    ) -> Reply:
        """Do what the policy decided; the memory is saved with the conversation's language."""
        language = decision.language
        key, speaker = turn.key, turn.speaker
        kind = decision.kind
        pending, last = memory.pending, memory.last
        summary = last.summary if last else ""
        if kind in ("run", "fill", "choose", "recheck", "ask", "explain", "ask_store") and (
            decision.flow not in self.handlers
        ):
            self.store.save(key, Memory(language, pending, last))
            return self.replies.message(language, "I don't know that check.", "我不认识这个检查。")
        flow = str(decision.flow or "")
        if kind == "empty":
            return self.replies.help(language, empty=True)
        if kind == "act":
            self.store.save(key, Memory(language, pending, last))
            if decision.act == "thanks":
                # Thanks closes what the seller came for: offer the open check in one line rather
                # than repeating the whole question as if they had not answered.
                return self.replies.act(
                    "thanks" if says_thanks(turn.text or "") else "acknowledged",
                    language,
                    offer=self._offer(pending, language),
                )
            return self.replies.act(str(decision.act), language, self._waiting(pending, language))
        if kind == "cancel":
            self.store.save(key, Memory(language))
            return self.replies.cancelled(
                language, had_pending=pending is not None, had_last=last is not None
            )
        if kind == "escalate":
            escalated = replace(last, escalated=True) if last else None
            self.store.save(key, Memory(language, None, escalated))
            written_in = str((last.diagnosis or {}).get("language") or language) if last else language
            reply = self.replies.escalated(
                language,
                last.flow if last else None,
                summary,
                decision.said,
                summary_language="zh" if written_in == "zh" else "en",
            )
            # The person gets the whole last diagnosis (its evidence card), not just its summary.
            reply.diagnosis = restore_diagnosis(last.diagnosis) if last else None
            return reply
        if kind == "offer_person":
            self.store.save(key, Memory(language, None, last))
            return self.replies.offer_person(language, flow, summary)
        if kind == "out_of_scope":
            self.store.save(key, Memory(language, None, last))
            return self.replies.out_of_scope(language)
        if kind == "clarify":
            flows = [f for f in decision.choices if f in self.handlers or f == PERSON]
            self.store.save(
                key,
                Memory(
                    language,
                    Pending(
                        kind="clarify",
                        language=language,
                        flows=flows,
                        choices=flows,
                        labels=self._flow_labels(flows),
                        entities=entities_dict(decision.entities),
                        question=decision.question,
                    ),
                    last,
                ),
            )
            return self.replies.clarify(language, flows)
        if kind == "explain":
            return self._explain(decision, key, speaker, memory)
        if kind == "ask_store":
            request = self.replies.ask_store(flow, language, decision.choices)
            return self._ask(request, key, decision.entities, decision.question, last)
        if kind == "ask" and pending is not None and pending.kind == "detail" and pending.prompt:
            return self._ask_again(pending, decision, key, last)
        return self._run(flow, key, speaker, decision.entities, decision.question, language, progress)

    def _ask_again(self, pending: Pending, decision: Decision, key: str, last: LastCheck | None) -> Reply:
        """The open question once more, as it was asked (no live check runs again for it), after
        a line saying what was not taken as its answer."""
        language = decision.language
        prompt = pending.prompt
        if decision.said:
            prompt = self.replies.not_recognised(pending.detail, decision.said, language) + "\n" + prompt
        request = DetailRequest(
            flow=pending.flow,
            detail=pending.detail,  # type: ignore[arg-type]
            prompt=prompt,
            language=language,
            choices=[Choice(value, (pending.labels.get(value) or [value])[0]) for value in pending.choices],
        )
        reply = self._ask(request, key, merge_entities(Entities(), pending.entities), pending.question, last)
        self.store.save(key, Memory(language, replace(pending, language=language), last))  # as asked
        return reply

    def _waiting(self, pending: Pending | None, language: Language) -> str:
        if pending is None:
            return ""
        if pending.kind == "clarify":
            return say(language, "which of the checks I listed you mean", "您指的是我列出的哪一种问题")
        return pending.prompt or self.replies.offer_prompt(pending.detail, language)

    def _offer(self, pending: Pending | None, language: Language) -> str:
        if pending is None:
            return ""
        if pending.kind == "clarify":
            return say(
                language,
                "If you want me to check one of them, pick it above.",
                "如果需要我检查其中一项，从上面选一项就行。",
            )
        return self.replies.offer_prompt(pending.detail, language)

    def _flow_labels(self, flows: list[str]) -> dict[str, list[str]]:
        return {
            flow: [
                self.replies.flow_title(flow, "en"),
                self.replies.flow_title(flow, "zh"),
                flow.replace("_", " "),
            ]
            for flow in flows
            if flow != PERSON
        } | (
            {PERSON: [*_PERSON_LABELS, "talk to a person", "person", "人工", "客服"]}
            if PERSON in flows
            else {}
        )

    def _explain(self, decision: Decision, key: str, speaker: Speaker, memory: Memory) -> Reply:
        """A general question: the flow's knowledge, then the live check offered (its question
        left open, so a bare SKU or store next continues it)."""
        language, flow = decision.language, str(decision.flow)
        if decision.why:
            self.store.save(key, Memory(language, None, memory.last))
            return self.replies.explain(flow, language, why=True)
        request: DetailRequest
        actions: list[Action] = []
        if flow in CHECKS_WITHOUT_DETAILS or not self.replies.required_details(flow):
            request = self.replies.offer(flow, language)
            if flow == "orders_not_synced":
                actions.append(
                    Action(ActionKind.SYNC_NOW, say(language, "Sync my stores now", "立即同步我的店铺"))
                )
        else:
            result = self._handle(flow, speaker, Entities(), decision.question, language, None)
            if not isinstance(result, DetailRequest):
                self.store.save(key, Memory(language, None, memory.last))
                return self._diagnosis_reply(result, key, Entities(), decision.question, language)
            request = replace(result, prompt=self.replies.offer_prompt(result.detail, language))
        self._remember_question(key, request, Entities(), decision.question, memory.last)
        return self.replies.explain(flow, language, request, actions=actions)

    def _ask(
        self, request: DetailRequest, key: str, entities: Entities, question: str, last: LastCheck | None
    ) -> Reply:
        self._remember_question(key, request, entities, question, last)
        return Reply(
            kind="ask_detail",
            language=request.language,
            text=request.prompt,
            flow=request.flow,
            detail_request=request,
            choices=list(request.choices),
        )

    def _remember_question(
        self, key: str, request: DetailRequest, entities: Entities, question: str, last: LastCheck | None
    ) -> None:
        language = request.language
        pending = Pending(
            kind="detail",
            language=language,
            flow=request.flow,
            detail=request.detail,
            choices=[choice.value for choice in request.choices],
            labels={choice.value: [choice.label] for choice in request.choices},
            entities=entities_dict(entities),
            question=question,
            prompt=request.prompt,
        )
        self.store.save(key, Memory(language, pending, last))

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
        if (
            is_empty(entities)
            and flow not in CHECKS_WITHOUT_DETAILS
            and not self.replies.required_details(flow)
        ):
            # Every detail is optional and none was given: nothing to check, the knowledge answers.
            self.store.save(key, Memory(language, None, self.store.load(key).last))
            return self.replies.explain(flow, language)
        result = self._handle(flow, speaker, entities, question, language, progress)
        if isinstance(result, DetailRequest):
            return self._ask(result, key, entities, question, self.store.load(key).last)
        return self._diagnosis_reply(result, key, entities, question, language)

    def _handle(
        self,
        flow: str,
        speaker: Speaker,
        entities: Entities,
        question: str,
        language: Language,
        progress: SyncProgressCallback | None,
    ) -> Diagnosis | DetailRequest:
        request = FlowRequest(
            account_id=int(speaker.account_id or 0),
            actor=speaker.actor,
            language=language,
            role=speaker.role,
            entities=entities,
            question=question[:MAX_MATCH_CHARS],
            progress=progress,
        )
        return self.handlers[flow](request, self.services)

    def _diagnosis_reply(
        self, result: Diagnosis, key: str, entities: Entities, question: str, language: Language
    ) -> Reply:
        # What was checked is remembered, so "what about DEMO-X?" or "the other store?" continue it.
        checked = merge_entities(
            Entities(
                skus=[result.sku] if result.sku else [],
                order_ids=[result.order_id] if result.order_id else [],
                stores=[result.store] if result.store else [],
            ),
            entities_dict(entities),
        )
        last = LastCheck(
            flow=result.flow,
            verdict=result.verdict,
            summary=result.summary,
            entities=entities_dict(checked),
            question=question,
            at=self.services.clock(),
            escalated=result.escalate,
            diagnosis=result.to_json(),
        )
        self.store.save(key, Memory(language, None, last))
        return Reply(
            kind="diagnosis",
            language=language,
            text=result.summary,
            flow=result.flow,
            diagnosis=result,
            escalate=result.escalate,
            escalate_reason=result.escalate_reason,
        )

    def _extract(self, account_id: int, text: str) -> Entities:
        if not text:
            return Entities()
        skus, stores = self._known(account_id)
        return extract_entities(text[:MAX_MATCH_CHARS], known_skus=skus, known_stores=stores)

    def _known(self, account_id: int) -> tuple[list[str], list[str]]:
        """The seller's SKUs (newest first) and store names: what extraction recognises."""
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
        return skus, [store.name for store in stores]


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def _without_entities(text: str, spans: list[EntitySpan]) -> str:
    """The words around the entities: what tells the seller's language."""
    parts, position = [], 0
    for span in spans:
        parts.append(text[position : span.start])
        position = span.end
    parts.append(text[position:])
    return " ".join(parts)
