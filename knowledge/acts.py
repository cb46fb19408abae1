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

# Longest phrases first within each act, so "thank you very much" is taken whole.
_PHRASES: dict[Act, tuple[str, ...]] = {
    "human": (
        r"(?:talk|speak|chat)\s+(?:to|with)\s+(?:a\s+|an\s+|some\s*one\s*|your\s+)?(?:real\s+|live\s+)?"
        r"(?:human|person|people|agent|someone|somebody|support|staff|customer\s+service|operator|representative|rep)s?",
        r"(?:connect|transfer|put)\s+me\s+(?:to|with|through\s+to)\s+(?:a\s+|an\s+|the\s+)?"
        r"(?:human|person|agent|support|customer\s+service|operator)",
        r"(?:i\s+)?(?:need|want|would\s+like)\s+(?:a\s+|an\s+|to\s+talk\s+to\s+a\s+)?(?:real\s+|live\s+)?"
        r"(?:human|person|agent|representative|operator)",
        r"(?:real|live)\s+(?:human|person|agent)",
        r"human\s+(?:agent|support|please|pls|help)",
        r"(?:customer\s+service|support\s+agent|human|agent|operator)\s*(?:please|pls|plz)",
        r"escalate(?:\s+(?:this|it|please|to\s+(?:a\s+)?(?:human|person|support)))*",
        r"转人工(?:客服)?",
        r"人工客服",
        r"人工服务",
        r"找(?:个)?(?:人工|客服|真人)",
        r"联系(?:人工|客服)",
        r"要(?:人工|真人|客服)",
        r"真人客服",
        r"呼叫客服",
        r"^(?:human|agent|person|operator|人工|客服)$",
    ),
    "not_resolved": (
        r"(?:it\s+|this\s+|that\s+)?(?:is\s+|'s\s+)?still\s+(?:not|isn'?t|doesn'?t|didn'?t|won'?t)\s*(?:working|work|fixed|"
        r"showing|show|updated|there|right|resolved|solved|ok)?",
        r"still\s+(?:broken|wrong|the\s+same|same|failing|missing|happening|an?\s+issue|a\s+problem)",
        r"(?:it\s+|this\s+|that\s+)?(?:did\s*n[o']?t|does\s*n[o']?t|didnt|doesnt)\s+(?:help|work|fix\s+it|solve\s+it)",
        r"(?:not|no)\s+(?:helpful|fixed|resolved|solved|working)",
        r"(?:that|this|it)\s+(?:was|is)\s*n'?t\s+(?:helpful|it|the\s+problem|right)",
        r"same\s+(?:problem|issue|thing)(?:\s+again)?",
        r"useless",
        r"还是不行",
        r"还是没(?:有)?(?:用|变|好|解决|更新|同步|显示)",
        r"还是(?:一样|老样子)",
        r"(?:依旧|依然|仍然)(?:不行|没用|没变|一样)",
        r"没(?:有)?用",
        r"不管用",
        r"没(?:有)?解决",
        r"没(?:有)?帮(?:助|上忙)",
        r"不行",
    ),
    "cancel": (
        r"never\s*mind",
        r"forget\s+(?:it|about\s+it)",
        r"start\s+(?:over|again)",
        r"(?:cancel|stop|reset|restart|abort|quit\s+this)(?:\s+(?:it|this|that))?",
        r"no\s+(?:need|longer\s+needed)",
        r"算了(?:吧)?",
        r"取消",
        r"重新开始",
        r"重来",
        r"不用了",
        r"不需要了",
    ),
    "help": (
        r"what\s+can\s+you\s+(?:do|help\s+(?:me\s+)?with)",
        r"how\s+(?:do\s+i\s+)?use\s+(?:you|this\s+bot|the\s+bot)",
        r"help(?:\s+me)?",
        r"menu",
        r"commands",
        r"帮助",
        r"菜单",
        r"你能(?:做|干)什么",
        r"你会什么",
        r"怎么用(?:你)?",
        r"使用说明",
    ),
    "thanks": (
        r"thank\s*(?:you|u|s)(?:\s+(?:very|so)\s+much)?(?:\s+(?:a\s+lot|for\s+(?:the|your)\s+help))?",
        r"thanks?\s+a\s+lot",
        r"many\s+thanks",
        r"thx|thnx|tks|ty|tysm",
        r"(?:much\s+)?appreciated?(?:\s+it)?",
        r"(?:that|this)\s+(?:helped|helps|worked|works)",
        r"(?:it\s+)?(?:works|worked)\s+now",
        r"good\s*bye|bye(?:\s+bye)?|see\s+you|cheers|have\s+a\s+(?:nice|good)\s+day",
        r"perfect|great|awesome|cool|got\s+it|understood|noted|all\s+good",
        r"谢谢(?:你|您)?(?:了)?",
        r"多谢",
        r"感谢(?:你|您)?",
        r"谢了",
        r"辛苦了",
        r"再见|拜拜",
        r"明白了|知道了|懂了|好了|可以了|解决了",
        r"^(?:ok|okay|k|好的|好|嗯|行|收到)$",
    ),
    "greeting": (
        r"good\s+(?:morning|afternoon|evening)",
        r"hello|hiya|hi|hey|howdy|greetings|yo",
        r"你好|您好|哈喽|嗨|早上好|下午好|晚上好|在吗|在不在",
    ),
}

# Words that carry no request of their own around an act ("ok thanks", "好的，谢谢", "hi there").
_FILLERS = (
    r"please|pls|plz|ok(?:ay)?|k|oh|ah|um+|uh+|well|so|now|just|again|then|there|bot|sellerdesk|team|guys|all|"
    r"sir|madam|yes|yeah|yep|no|nope|sure|fine|very|much|really|the|a|an|i|me|my|you|it|this|that|and|but|"
    r"请|麻烦|好的|好|嗯+|哦+|噢|啊|呀|吧|呢|吗|了|的|一下|谢|那|就|你|我|您|下"
)

_ACT_PATTERNS: dict[Act, re.Pattern[str]] = {
    act: re.compile("|".join(f"(?:{phrase})" for phrase in phrases)) for act, phrases in _PHRASES.items()
}
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


def _find(act: Act, text: str) -> list[tuple[int, int]]:
    spans = []
    for found in _ACT_PATTERNS[act].finditer(text):
        start, end = found.span()
        if start == end:
            continue
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        latin_edges = _WORD_EDGE.match(text[start]) or _WORD_EDGE.match(text[end - 1])
        if latin_edges and (_WORD_EDGE.match(before) or _WORD_EDGE.match(after)):
            continue
        spans.append((start, end))
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
    found: dict[Act, list[tuple[int, int]]] = {}
    for act in _PRIORITY:
        spans = _find(act, normalized)
        if spans:
            found[act] = spans
    if not found:
        return ActReading(act=None, rest=text.strip())
    all_spans = [span for spans in found.values() for span in spans]
    rest = _meaningful(_without(normalized, all_spans))
    pure = not rest and len(text) <= _MAX_ACT_CHARS
    if "human" in found:
        return ActReading(act="human", rest=rest, pure=pure)
    if not pure:
        # A greeting in front of a question: the question is the turn.
        return ActReading(act=None, rest=rest if "greeting" in found else text.strip())
    for act in _PRIORITY:
        if act in found:
            return ActReading(act=act, rest="", pure=True)
    return ActReading(act=None, rest=text.strip())


def detect_act(text: str) -> Act | None:
    """The act of a turn, or None when it is a question: see `read_act`."""
    return read_act(text).act
