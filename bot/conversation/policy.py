"""The dialogue policy: what one seller turn is, decided in one place.

In the spirit of Rasa's policies: the conversation's memory (`Memory`), the turn and its reading
(the matcher's flow and certainty, the conversation act, the entities) go in, one `Decision`
comes out, and the engine only carries it out. `decide` is pure: no database, no clock, no
matcher calls, so it is tested as a table of cases (tests/test_policy.py).

The order of the rules is the policy:
1. A click (a choice button, a slash command's value) is what it says.
2. Nothing to read: say what the bot can do, in the conversation's language.
3. Conversation acts: a person (at once), cancel, help/thanks/greeting (the open question stays
   open), "still not working" (re-check or offer a person, with the last diagnosis).
4. A valid answer to the open question fills it; a new question that carries one switches flow
   and keeps it. Only a real value counts: a SKU of the seller's (or shaped like a SKU and not an
   ordinary word), one of their stores, an order number, a link, a choice (number or words).
5. Follow-ups to the last diagnosis: "what about DEMO-X?", "and the other store?", "why?".
6. Matching: sure -> general how/when questions are explained from knowledge first (with the live
   check offered), specific ones run the flow; unsure -> choices (+ a person); nothing ->
   re-ask a short unrecognised answer, or refuse honestly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.conversation.state import (
    LastCheck,
    Memory,
    Pending,
    is_empty,
    merge_entities,
    replace_entities,
    with_detail,
)
from bot.conversation.types import Turn
from bot.conversation.words import has_words
from handlers.diagnosis import Language
from handlers.sku_leads import with_leads
from knowledge.acts import ActReading
from knowledge.entities import Entities, looks_like_sku

# The choice that hands the question to a person ("something else: talk to a person").
PERSON = "talk_to_person"
# "Still not working" this long after a diagnosis: the seller may have acted on it, so check
# again; sooner than that the same check would say the same, so offer a person instead.
RECHECK_AFTER_SECONDS = 120.0
# An unrecognised reply this short to an open question is a wrong answer, not a new question.
MAX_SHORT_REPLY_WORDS = 4
MAX_CLARIFY_FLOWS = 3

DecisionKind = Literal[
    "empty",  # nothing readable: say what the bot can do
    "act",  # greeting / thanks / help / not_resolved without context: a short reply, pending kept
    "escalate",  # a person, now: the seller's words and the last diagnosis go along
    "cancel",  # drop the open question (and the last check)
    "offer_person",  # "still not working" right after a diagnosis: offer a person with it attached
    "recheck",  # "still not working" a while after: run the last check again
    "fill",  # the answer to the open question: continue its flow
    "choose",  # a choice picked (click, number or words): run that flow with the question's details
    "run",  # start or switch to a flow (details already given travel along)
    "explain",  # a general question: the flow's knowledge first, then the live check offered
    "ask",  # the reply is not a valid answer: ask the open question again
    "ask_store",  # "and the other store?" with several others: which one
    "clarify",  # the matcher is unsure: offer the likely flows and a person
    "out_of_scope",  # clearly not something the bot does: say what it does
]


@dataclass(frozen=True)
class MatchView:
    """What the policy needs of the matcher's result (`knowledge.matcher.MatchResult`)."""

    flow: str | None
    certainty: Literal["sure", "unsure", "none"]
    candidates: tuple[str, ...] = ()  # flows worth offering, most likely first
    scores: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, match: Any, known_flows: Sequence[str]) -> MatchView:
        """Read any matcher's result: `MatchResult`, or an older shape without `certainty`."""
        flow = getattr(match, "flow", None)
        flow = flow if flow in known_flows else None
        scores: dict[str, float] = {}
        if flow:
            scores[flow] = float(getattr(match, "confidence", 0.0) or 0.0)
        for alternative in getattr(match, "alternatives", None) or []:
            name, score = _alternative(alternative)
            if name in known_flows and name not in scores:
                scores[name] = score
        certainty = getattr(match, "certainty", None)
        if certainty not in ("sure", "unsure", "none"):
            close = bool(getattr(match, "close", False))
            certainty = ("unsure" if close else "sure") if flow else "none"
        candidates = tuple(name for name in scores if name in known_flows)[:MAX_CLARIFY_FLOWS]
        if certainty == "sure" and flow is None:
            certainty = "none"
        sureness: Literal["sure", "unsure", "none"] = (
            "sure" if certainty == "sure" else "unsure" if certainty == "unsure" else "none"
        )
        return cls(flow=flow, certainty=sureness, candidates=candidates, scores=scores)


def _alternative(alternative: object) -> tuple[str, float]:
    if isinstance(alternative, str):
        return alternative, 0.0
    if isinstance(alternative, Mapping):
        return str(alternative.get("flow") or ""), float(alternative.get("confidence") or 0.0)
    if isinstance(alternative, tuple | list) and alternative:
        return str(alternative[0]), float(alternative[1]) if len(alternative) > 1 else 0.0
    return str(getattr(alternative, "flow", "") or ""), float(getattr(alternative, "confidence", 0.0) or 0.0)


@dataclass(frozen=True)
class Reading:
    """Everything read from the turn before deciding.

    Attributes:
        text: the seller's words, cleaned.
        act: the conversation act (`knowledge.acts.read_act`).
        match: the matcher's reading of the question.
        entities: SKUs, order numbers, links and store names found (the seller's own).
        language: the language the words are in; None when they say nothing about it (a bare
            SKU, store name, link or number), so the conversation's language continues.
        other_stores: the seller's stores other than the last check's, for "the other store".
        since_last: seconds since the last diagnosis, None without one.
        sku_leads: for a SKU sent on its own, the checks its records point to, most recent first
            (`handlers.sku_leads`): offered before the matcher's guesses.
    """

    text: str
    act: ActReading = field(default_factory=lambda: ActReading(act=None))
    match: MatchView = field(default_factory=lambda: MatchView(flow=None, certainty="none"))
    entities: Entities = field(default_factory=Entities)
    language: Language | None = None
    other_stores: tuple[str, ...] = ()
    since_last: float | None = None
    sku_leads: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """What to do with the turn; the engine carries it out."""

    kind: DecisionKind
    language: Language
    flow: str | None = None
    entities: Entities = field(default_factory=Entities)
    question: str = ""  # the question the flow runs with (the one that started it)
    act: str | None = None  # "act": greeting | thanks | help | not_resolved
    choices: tuple[str, ...] = ()  # "clarify": flows (PERSON last); "ask_store": store names
    said: str = ""  # "escalate": the seller's own words; "ask": the reply not recognised
    why: bool = False  # "explain": the reasons behind the last diagnosis, no new offer


# -- reading the words ------------------------------------------------------------------------------

_GENERAL = re.compile(
    r"^(?:how|when|what|which|where|does|do|is|are|can|could|should|will|would|must)\b"
    r"|\b(?:how\s+(?:long|soon|often|many|much|do|does|can|should|to)|when|need\s+to|have\s+to)\b"
    r"|多久|多长时间|几天|什么时候|何时|怎么|如何|怎样|需要|要不要|是否|能不能|可以.*吗|吗[？?]?$|哪里|什么格式|哪些"
)
# A complaint about something that went wrong is a specific case, even when phrased as a question.
_COMPLAINT = re.compile(
    # ("no longer" is what a seller who wants something gone says, not a complaint.)
    r"\b(?:not|no(?!\s+longer)|never|still|wrong|fail(?:s|ed|ing)?|error|errors|missing|stuck|broken|rejected|"
    r"blank|empty|gone|lost|disappear(?:s|ed)?|"
    r"won'?t|can'?t|cannot|isn'?t|aren'?t|doesn'?t|didn'?t|hasn'?t|haven'?t|wasn'?t|"
    r"didnt|doesnt|isnt|wont|cant|hasnt|havent|wasnt)\b"
    r"|没|不(?!再)|未|失败|错误|报错|还是|一直|丢|卡住|驳回|异常"
)
_WHY = re.compile(r"^(?:why|why\s+not|how\s+come|why\s+is\s+that|为什么|为啥|为何|怎么回事|什么原因|原因)$")
_OTHER_STORE = re.compile(
    r"\b(?:the\s+)?(?:other|another|second|rest\s+of\s+(?:the|my))\s+(?:store|shop)s?\b"
    r"|(?:另一个|另外一个|另外的|其他|其它|别的|另一家|另外一家)(?:的)?(?:店铺|店|商店)"
)
_FOLLOW_UP = re.compile(
    r"^(?:and|also|what\s+about|how\s+about|same\s+for|and\s+for|now|then)\b|^(?:那|还有|换成|再查)|呢$"
)
_ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
}  # fmt: skip
_ORDINAL = re.compile(
    r"^(?:(?:the|number|no|option|choice|#)\s*)?(first|second|third|fourth|1st|2nd|3rd|4th|\d{1,2})"
    r"(?:\s*(?:one|option|choice))?$"
    r"|^(?:选)?第?([一二两三四五\d])(?:个|项|种|条)?(?:吧|的)?$"
)
_CHOICE_FILLERS = re.compile(
    r"\b(?:the|one|that|this|it|is|its|it's|i\s+mean|mean|about|please|pls|yes|problem|issue|thing)\b"
    r"|那个|这个|那种|这种|就是|是|的|吧|个|我说|选|那|这"
)
_WORD = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]+")


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'").split())


def is_general_question(text: str, entities: Entities) -> bool:
    """A general how/when/what question ("how long does a price change take to show?",
    "改价后多久生效"): it names no SKU, order, link or store and complains of nothing going
    wrong, so the flow's knowledge answers it before any live check."""
    if not is_empty(entities):
        return False
    folded = _fold(text)
    return bool(_GENERAL.search(folded)) and not _COMPLAINT.search(folded)


def _words_left(text: str, entities: Entities) -> list[str]:
    """The words of the text besides its entities and noise."""
    folded = _fold(text)
    for value in [*entities.urls, *entities.order_ids, *entities.skus, *entities.stores]:
        folded = folded.replace(_fold(value), " ")
    return _WORD.findall(folded)


def bare_details(text: str, entities: Entities) -> bool:
    """Nothing but the details themselves and a word or two ("sku DEMO-1", "it's Shopee MY")."""
    left = _words_left(text, entities)
    return len(left) <= 2 and sum(len(w) for w in left if not w.isascii()) <= 3


def pending_answer(pending: Pending, text: str, entities: Entities) -> Entities | None:
    """The details the reply gives for the open question, or None when it is no answer to it.

    A SKU answers "which SKU?" when it is one of the seller's (extraction knows them) or shaped
    like one and not an ordinary word; a picture link answers it too (the product is found by
    its pictures). A store answers only when it is one of the seller's stores.
    """
    detail = pending.detail
    if detail == "sku":
        if entities.skus or entities.urls:
            return entities
        token = _lone_token(text)
        if token and token.isascii() and looks_like_sku(token):
            return with_detail(entities, "sku", token)
        return None
    if detail == "image_url":
        return entities if entities.urls or entities.skus else None
    if detail == "order_id":
        if entities.order_ids:
            return entities
        token = _lone_token(text)
        if token and token.replace("-", "").isdigit() and len(token.replace("-", "")) >= 6:
            return with_detail(entities, "order_id", token)
        return None
    if detail == "store":
        return entities if entities.stores else None
    return None


def _lone_token(text: str) -> str:
    words = text.strip().strip(".,;:!?。，！？").split()
    if len(words) == 1:
        return words[0].strip("\"'`()[]<>“”‘’")
    if len(words) == 2 and words[0].casefold() in ("sku", "sku:", "order", "订单", "订单号"):
        return words[1].strip("\"'`()[]<>“”‘’")
    return ""


def pick_choice(pending: Pending, text: str, match: MatchView) -> str | None:
    """The offered choice the seller's words pick: "2", "the second one", "第二个", "the publishing
    one", a choice's own label, or (clarify) the offered flow the matcher clearly prefers."""
    choices = pending.choices or pending.flows
    if not choices:
        return None
    folded = _fold(text).strip(" .,;:!?。，！？")
    ordinal = _ORDINAL.match(folded)
    if ordinal:
        token = ordinal.group(1) or ordinal.group(2) or ""
        number = int(token) if token.isdigit() else _ORDINALS.get(token, 0)
        return choices[number - 1] if 1 <= number <= len(choices) else None
    if folded in ("last", "the last one", "最后一个"):
        return choices[-1]
    for choice in choices:
        if folded == _fold(choice) or any(folded == _fold(label) for label in pending.labels.get(choice, [])):
            return choice
    # Words from a choice's label ("the publishing one" -> "Publishing reports a wrong picture").
    words = [w for w in _WORD.findall(_CHOICE_FILLERS.sub(" ", folded)) if len(w) >= 2]
    if words and len(words) <= 3:
        hits = [
            choice
            for choice in choices
            if all(
                any(_contains(_fold(label), word) for label in [choice, *pending.labels.get(choice, [])])
                for word in words
            )
        ]
        if len(hits) == 1:
            return hits[0]
    if pending.kind == "clarify" and len(words) <= 3:
        offered = [(match.scores.get(flow, 0.0), flow) for flow in choices if flow != PERSON]
        offered.sort(reverse=True)
        if offered and offered[0][0] >= 0.2 and (len(offered) == 1 or offered[0][0] >= 2 * offered[1][0]):
            return offered[0][1]
    return None


def _contains(label: str, word: str) -> bool:
    if not word.isascii():
        return word in label
    # "publish" picks "Publishing ...", "pic" does not pick "topic".
    return any(part.startswith(word[: max(4, len(word) - 3)]) for part in _WORD.findall(label))


# -- the policy ---------------------------------------------------------------------------------------


def decide(memory: Memory, turn: Turn, reading: Reading) -> Decision:
    """Decide what this turn is.

    Args:
        memory: what the conversation remembers (language, open question, last check).
        turn: the seller's words or click.
        reading: what was read from the words (act, match, entities, language).

    Returns:
        The one decision the engine carries out.
    """
    language: Language = turn.language or reading.language or memory.language
    pending = memory.pending
    carried = pending.entities if pending else {}

    def decision(kind: DecisionKind, **values: Any) -> Decision:
        return Decision(kind=kind, language=language, **values)

    # 1. Clicks.
    if turn.flow:
        if turn.flow == PERSON:
            return decision("escalate", said=pending.question if pending else reading.text)
        entities = merge_entities(reading.entities, carried)
        if turn.detail and turn.value:
            entities = with_detail(entities, turn.detail, turn.value)
        question = (pending.question if pending else "") or reading.text
        return decision("choose", flow=turn.flow, entities=entities, question=question)
    if turn.detail and turn.value is not None and pending is not None and pending.kind == "detail":
        entities = with_detail(merge_entities(Entities(), carried), turn.detail, turn.value)
        return decision("fill", flow=pending.flow, entities=entities, question=pending.question)

    # 2. Nothing to read.
    text = reading.text
    if not text or not has_words(text):
        return decision("empty")

    # 3. Conversation acts.
    act = reading.act
    if act.act == "human":
        return decision("escalate", said=text)
    if act.pure and act.act == "cancel":
        return decision("cancel")
    if act.pure and act.act in ("greeting", "thanks", "help"):
        return decision("act", act=act.act)
    if act.pure and act.act == "not_resolved":
        if pending is not None:
            return _ask_again(decision, pending, "")
        last = memory.last
        if last is None:
            return decision("act", act="not_resolved")
        if last.escalated or (reading.since_last is not None and reading.since_last < RECHECK_AFTER_SECONDS):
            return decision("offer_person", flow=last.flow, said=text)
        return decision(
            "recheck",
            flow=last.flow,
            entities=merge_entities(Entities(), last.entities),
            question=last.question,
        )

    match = reading.match
    # 4. The open question.
    if pending is not None and pending.kind == "detail":
        answer = pending_answer(pending, text, reading.entities)
        if answer is not None:
            switched = match.certainty == "sure" and match.flow not in (None, pending.flow)
            if switched and not bare_details(text, reading.entities):
                return decision(
                    "run", flow=match.flow, entities=merge_entities(answer, carried), question=text
                )
            return decision(
                "fill", flow=pending.flow, entities=merge_entities(answer, carried), question=pending.question
            )
    if pending is not None:
        chosen = pick_choice(pending, text, match)
        if chosen == PERSON:
            return decision("escalate", said=pending.question)
        if chosen is not None and pending.kind == "clarify":
            entities = merge_entities(reading.entities, carried)
            return decision("choose", flow=chosen, entities=entities, question=pending.question)
        if chosen is not None:
            entities = with_detail(merge_entities(reading.entities, carried), pending.detail, chosen)
            return decision("fill", flow=pending.flow, entities=entities, question=pending.question)

    # 5. Follow-ups to the last diagnosis.
    if pending is None and memory.last is not None:
        followed = _follow_up(decision, memory.last, text, reading)
        if followed is not None:
            return followed

    # 6. Matching. A bare SKU or link out of the blue names no problem: ask which check it is for.
    offered = with_leads(reading.sku_leads, match.candidates, MAX_CLARIFY_FLOWS)
    if (
        pending is None
        and bare_details(reading.text, reading.entities)
        and offered
        and not is_empty(reading.entities)
    ):
        return decision("clarify", choices=(*offered, PERSON), entities=reading.entities, question=text)
    if match.certainty == "sure" and match.flow:
        entities = merge_entities(reading.entities, carried)
        if is_general_question(text, entities):
            return decision("explain", flow=match.flow, question=text)
        return decision("run", flow=match.flow, entities=entities, question=text)
    if match.certainty == "unsure" and match.candidates:
        entities = merge_entities(reading.entities, carried)
        return decision("clarify", choices=(*match.candidates, PERSON), entities=entities, question=text)
    if pending is not None and len(text.split()) <= MAX_SHORT_REPLY_WORDS and len(text) <= 40:
        if pending.kind == "detail":
            return _ask_again(decision, pending, text)
        return decision(
            "clarify",
            choices=(*pending.flows, PERSON) if PERSON not in pending.flows else tuple(pending.flows),
            entities=merge_entities(Entities(), carried),
            question=pending.question,
        )
    if not is_empty(reading.entities) and offered:
        # A bare SKU or link with nothing to continue: ask what to check about it.
        return decision("clarify", choices=(*offered, PERSON), entities=reading.entities, question=text)
    return decision("out_of_scope")


def _ask_again(decision: Any, pending: Pending, said: str) -> Decision:
    result: Decision = decision(
        "ask",
        flow=pending.flow,
        entities=merge_entities(Entities(), pending.entities),
        question=pending.question,
        said=said,
    )
    return result


def _follow_up(decision: Any, last: LastCheck, text: str, reading: Reading) -> Decision | None:
    """A turn that continues the last diagnosis, or None when it is a question of its own."""
    folded = _fold(text).strip(" .,;:!?。，！？")
    match = reading.match
    if _WHY.match(folded):
        result: Decision = decision("explain", flow=last.flow, why=True, question=last.question)
        return result
    if _OTHER_STORE.search(folded) and not reading.entities.stores:
        others = reading.other_stores
        kept = {kind: values for kind, values in last.entities.items() if kind != "stores"}
        if len(others) == 1:
            entities = replace_entities(kept, Entities(stores=[others[0]]))
            result = decision("run", flow=last.flow, entities=entities, question=last.question)
            return result
        if others:
            result = decision(
                "ask_store",
                flow=last.flow,
                choices=others,
                entities=merge_entities(Entities(), kept),
                question=last.question,
            )
            return result
        return None
    if is_empty(reading.entities):
        return None
    if (
        match.certainty == "sure"
        and not _FOLLOW_UP.search(folded)
        and not bare_details(text, reading.entities)
    ):
        return None  # a whole question of its own: it runs with its own details
    entities = replace_entities(last.entities, reading.entities)
    result = decision("run", flow=last.flow, entities=entities, question=last.question)
    return result
