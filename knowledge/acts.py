"""Conversation acts: what a turn does besides asking a question ("thanks", "转人工", "cancel").

Acts are recognized before flow matching so they never become a SKU, a store name or a question
about prices. A turn is an act only when the act is all it says (fillers such as "please", "ok",
"吧" aside): "thanks, but the price still shows 10" is a question, not thanks. Asking for a person
is the exception: "I want to talk to a person about DEMO-1" asks for a person whatever else it
says, so the remaining words travel with the request.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Act = Literal["greeting", "thanks", "human", "help", "cancel", "not_resolved"]
ACTS: tuple[Act, ...] = ("greeting", "thanks", "human", "help", "cancel", "not_resolved")

# The "thanks" act in two parts: thanks (or saying it worked), and plain acknowledgements ("ok",
# "got it", "收到", goodbyes). Both are the same act; after an acknowledgement "you're welcome"
# would read as if the seller had thanked (`says_thanks`).
_GRATITUDE_PHRASES: tuple[str, ...] = (
    r"thank\s*(?:you|u|s)(?:\s+(?:very|so)\s+much)?(?:\s+(?:a\s+lot|for\s+(?:the|your)\s+help))?",
    r"thanks?\s+a\s+(?:lot|bunch|million)",
    r"many\s+thanks",
    r"thx|thnx|tks|ty|tysm",
    r"(?:much\s+)?appreciated?(?:\s+it)?",
    r"(?:that|this)\s+(?:helped|helps|worked|works)",
    r"(?:it\s+)?(?:works|worked)\s+now",
    r"cheers",
    r"perfect|great|awesome",
    r"谢谢(?:你|您)?(?:了)?|谢啦",
    r"多谢",
    r"感谢(?:你|您)?",
    r"谢了",
    r"辛苦了",
    r"可以了|解决了|没问题了",
)
_ACKNOWLEDGEMENT_PHRASES: tuple[str, ...] = (
    r"good\s*bye|bye(?:\s+bye)?|see\s+(?:you|ya)|have\s+a\s+(?:nice|good|great)\s+(?:day|one)",
    r"thats\s+all|that\s+is\s+all",
    r"cool|got\s+it|understood|noted|all\s+good",
    r"再见|拜拜|回见",
    r"明白了|知道了|懂了|好了",
    r"^(?:ok|okay|k|好的|好|嗯|行|收到|ok了)$",
)

# Longest phrases first within each act, so "thank you very much" is taken whole. Every phrase
# counts only when the act is all the turn says, except `_HUMAN_REQUESTS` below.
_PHRASES: dict[Act, tuple[str, ...]] = {
    "human": (
        # Bare nouns: "人工客服", "agent", "customer service" alone ask for a person; inside a
        # sentence ("客服说要等报告", "the agent told me...") they are part of a question.
        r"(?:a\s+|an\s+)?(?:real\s+|live\s+)?(?:human|person|agent|operator|representative)(?:\s+(?:agent|support|help))?",
        r"(?:customer\s+(?:service|support)|support\s+(?:team|agent|staff)|live\s+(?:chat|support))",
        r"人工客服|人工服务|真人客服|在线客服|人工|客服|真人",
    ),
    "not_resolved": (
        r"(?:it\s+|this\s+|that\s+)?(?:is\s+|s\s+)?still\s+(?:not|isnt|doesnt|didnt|wont|cant)\s*(?:working|work|fixed|"
        r"showing|show|updated|there|right|resolved|solved|ok|synced|syncing|loading)?",
        r"still\s+(?:broken|wrong|the\s+same|same|failing|missing|happening|an?\s+issue|a\s+problem|no\s+luck)",
        r"(?:it\s+|this\s+|that\s+)?(?:did\s*nt|did\s+not|does\s*nt|does\s+not)\s+(?:help|work|fix\s+it|solve\s+it|change\s+anything)",
        r"(?:not|no)\s+(?:helpful|fixed|resolved|solved|working|luck)",
        r"(?:that|this|it)\s+(?:was|is)\s*(?:nt|not)\s+(?:helpful|it|the\s+problem|right)",
        r"(?:same|the\s+same)\s+(?:problem|issue|thing|error)(?:\s+again)?",
        r"nothing\s+(?:changed|happened|works)",
        r"(?:it\s+)?(?:doesnt|does\s+not|didnt)\s+work",
        r"not\s+working",
        r"useless",
        r"还是不行|还是不可以|还是有问题",
        r"还是没(?:有)?(?:用|变|好|解决|更新|同步|显示|反应)",
        r"还是(?:一样|老样子|那样)",
        r"(?:依旧|依然|仍然)(?:不行|没用|没变|一样|有问题)",
        r"问题(?:还在|没解决|依旧)",
        r"没(?:有)?(?:变化|反应)",
        r"没(?:有)?用",
        r"不管用|不起作用|没效果",
        r"没(?:有)?解决",
        r"没(?:有)?帮(?:助|上忙)",
        r"还没好",
        r"不行",
    ),
    "cancel": (
        r"never\s*mind|nvm",
        r"forget\s+(?:it|about\s+it|that)",
        r"start\s+(?:over|again|from\s+scratch)",
        r"(?:cancel|stop|reset|restart|abort|quit|exit)(?:\s+(?:it|this|that))?",
        r"no\s+(?:need|longer\s+needed)",
        r"算了(?:吧)?",
        r"取消",
        r"重新开始",
        r"重来",
        r"不用了|不需要了|没事了",
        r"退出",
    ),
    "help": (
        r"what\s+can\s+you\s+(?:do|help\s+(?:me\s+)?with)",
        r"what\s+do\s+you\s+do",
        r"how\s+(?:do\s+i\s+|can\s+i\s+|to\s+)?use\s+(?:you|this\s+bot|the\s+bot|this|sellerdesk)",
        r"how\s+does\s+(?:this|it|sellerdesk)\s+work",
        r"help(?:\s+me)?",
        r"menu|commands|options",
        r"帮助|帮帮我|求助",
        r"菜单",
        r"你能(?:做|干|帮我(?:做)?)(?:什么|啥)",
        r"你(?:会|可以)(?:做)?(?:什么|啥)",
        r"怎么用(?:你)?|如何使用",
        r"使用说明",
    ),
    "thanks": (*_GRATITUDE_PHRASES, *_ACKNOWLEDGEMENT_PHRASES),
    "greeting": (
        r"good\s+(?:morning|afternoon|evening)",
        r"hello|hiya|hi|hey|howdy|greetings|yo",
        r"你好|您好|哈喽|嗨|早上好|下午好|晚上好|在吗|在不在|有人吗",
    ),
}

# Asking for a person counts whatever else the turn says: the other words travel with the request.
_HUMAN_REQUESTS: tuple[str, ...] = (
    r"(?:talk|speak|chat)\s+(?:to|with)\s+(?:a\s+|an\s+|some\s*one\s*|your\s+|the\s+)?(?:real\s+|live\s+)?"
    r"(?:human|person|people|agent|someone|somebody|support|staff|customer\s+service|operator|representative|rep)s?",
    r"(?:connect|transfer|put)\s+me\s+(?:to|with|through\s+to)\s+(?:a\s+|an\s+|the\s+)?(?:real\s+)?"
    r"(?:human|person|agent|support|customer\s+service|operator)",
    r"(?:i\s+)?(?:need|want|would\s+like)\s+(?:a\s+|an\s+|to\s+(?:talk|speak)\s+to\s+a\s+)?(?:real\s+|live\s+)?"
    r"(?:human|person|agent|representative|operator)",
    r"(?:get|give)\s+me\s+(?:a\s+)?(?:real\s+)?(?:human|person|agent)",
    r"(?:is\s+there|can\s+i\s+get)\s+(?:a\s+)?(?:real\s+)?(?:human|person)",
    r"(?:real|live)\s+(?:human|person|agent)",
    r"human\s+(?:please|pls|plz)",
    r"(?:customer\s+service|support\s+agent|human|agent|operator)\s*(?:please|pls|plz)",
    r"escalate(?:\s+(?:this|it|please|to\s+(?:a\s+)?(?:human|person|support)))*",
    r"转人工(?:客服)?|转客服",
    r"(?:我)?要(?:找)?(?:人工|真人|客服)",
    r"找(?:个)?(?:人工|客服|真人)",
    r"联系(?:一下)?(?:人工|客服)",
    r"呼叫客服|叫(?:个)?客服",
)

# Words that carry no request of their own around an act ("ok thanks", "好的，谢谢", "hi there").
_FILLERS = (
    r"please|pls|plz|ok(?:ay)?|k|oh|ah|um+|uh+|well|so|now|just|again|then|there|bot|sellerdesk|team|guys|all|"
    r"sir|madam|yes|yeah|yep|no|nope|sure|fine|very|much|really|the|a|an|i|me|my|you|it|its|this|that|thats|"
    r"and|but|to|for|with|want|need|can|could|would|like|some|one|now|"
    r"请|麻烦|好的|好|嗯+|哦+|噢|啊|呀|吧|呢|吗|了|的|一下|谢|那|就|你|我|您|下|但是|可是|不过|但"
)

_ACT_PATTERNS: dict[Act, re.Pattern[str]] = {
    act: re.compile("|".join(f"(?:{phrase})" for phrase in phrases)) for act, phrases in _PHRASES.items()
}
_GRATITUDE = re.compile("|".join(f"(?:{phrase})" for phrase in _GRATITUDE_PHRASES))
_HUMAN_REQUEST = re.compile("|".join(f"(?:{phrase})" for phrase in _HUMAN_REQUESTS))
_FILLER = re.compile(rf"(?<![a-z])(?:{_FILLERS})(?![a-z])")
# Everything that is not a letter or a digit separates words (punctuation, emoji, symbols).
_NOISE = re.compile(r"[^\w\u4e00-\u9fff]+")
# The act words must be whole words in Latin script ("hi" is not the start of "hidden").
_WORD_EDGE = re.compile(r"[a-z0-9]")

# Decision order when a turn holds more than one act ("thanks, still not working" is not thanks).
_PRIORITY: tuple[Act, ...] = ("human", "not_resolved", "cancel", "help", "thanks", "greeting")

# A long message is a question or a paste, never only an act.
_MAX_ACT_CHARS = 120


@dataclass(frozen=True)
class ActReading:
    """What the turn does as a conversation act.

    Attributes:
        act: the act, or None when the turn is a question (or nothing recognizable).
        rest: the seller's words with the act's own phrases and fillers removed: the question
            that travels with a request for a person, or the question after a greeting.
        pure: the act is all the turn says.
    """

    act: Act | None
    rest: str = ""
    pure: bool = False


def normalize(text: str) -> str:
    """Lower case, NFKC, curly quotes straightened, noise folded into single spaces."""
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'").replace("`", "'")
    return " ".join(_NOISE.sub(" ", text.replace("'", "")).split())


def _find(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    """Spans of the pattern that are whole words in Latin script ("hi" is not in "hidden")."""
    spans: list[tuple[int, int]] = []
    position = 0
    while (found := pattern.search(text, position)) is not None:
        start, end = found.span()
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        latin_edges = start < end and (_WORD_EDGE.match(text[start]) or _WORD_EDGE.match(text[end - 1]))
        if start == end or (latin_edges and (_WORD_EDGE.match(before) or _WORD_EDGE.match(after))):
            # Not a whole word here: look again one character on, where a shorter phrase may be.
            position = start + 1
            continue
        spans.append((start, end))
        position = end
    return spans


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    kept, position = [], 0
    for start, end in sorted(spans):
        if start >= position:
            kept.append(text[position:start])
            position = end
    kept.append(text[position:])
    return " ".join(" ".join(kept).split())


def _meaningful(rest: str) -> str:
    return " ".join(_FILLER.sub(" ", rest).split())


def read_act(text: str) -> ActReading:
    """Read the conversation act of a seller's turn, in English or Chinese.

    Args:
        text: the seller's words, as typed (any length or script).

    Returns:
        The act (None for a question), the words left once the act is removed, and whether the
        act is all the turn says.
    """
    if not isinstance(text, str) or not text.strip():
        return ActReading(act=None)
    normalized = normalize(text[: _MAX_ACT_CHARS * 4])
    if not normalized:
        return ActReading(act=None)
    requests = _find(_HUMAN_REQUEST, normalized)
    found: dict[Act, list[tuple[int, int]]] = {}
    for act in _PRIORITY:
        spans = _find(_ACT_PATTERNS[act], normalized)
        if spans:
            found[act] = spans
    if not found and not requests:
        return ActReading(act=None, rest=text.strip())
    all_spans = requests + [span for spans in found.values() for span in spans]
    rest = _meaningful(_without(normalized, all_spans))
    pure = not rest and len(text) <= _MAX_ACT_CHARS
    if requests:
        return ActReading(act="human", rest=rest, pure=pure)
    if not pure:
        # A greeting in front of a question: the question is the turn.
        return ActReading(act=None, rest=rest if "greeting" in found else text.strip())
    for act in _PRIORITY:
        if act in found:
            return ActReading(act=act, rest="", pure=True)
    return ActReading(act=None, rest=text.strip())


def says_thanks(text: str) -> bool:
    """Whether the turn thanks or says it worked (rather than only acknowledging, as "ok" or
    "收到" do)."""
    return isinstance(text, str) and bool(_find(_GRATITUDE, normalize(text[: _MAX_ACT_CHARS * 4])))


def detect_act(text: str) -> Act | None:
    """The act of a turn, or None when it is a question: see `read_act`."""
    return read_act(text).act
