"""Entity extraction: order ids, URLs, SKUs and store names found in a seller's words.

Sellers paste these into free text in any order and in any script ("订单号114-1234567-7654321搜不到",
"<https://img.example.com/a.jpg|this picture>", "sku ab1234blk"). Extraction finds them so the
bot does not ask for a detail the seller already gave, and so the matcher can replace them with
placeholders before classifying (a SKU's letters must not sway the choice of flow).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

# Only the start of a pasted wall of text is searched: entities are in what a seller types, and
# a bound keeps a 100 KB paste as fast as a question.
MAX_SCAN_CHARS = 20_000

# ASCII-only boundaries: Python's \b treats Chinese characters as word characters, so
# "订单号114-1234567-7654321" would have no boundary before the digits.
_B = r"(?<![0-9A-Za-z])"
_E = r"(?![0-9A-Za-z])"

_SLACK_LINK = re.compile(r"<((?:https?://|www\.)[^|>\s]+)(?:\|[^>]*)?>", re.IGNORECASE)
# A bare URL ends at whitespace, quotes, angle brackets and at Chinese text written right after it.
_BARE_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'`\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]+",
    re.IGNORECASE,
)
_URL_TRAILING = ".,;:!?]}'\"*_~"

_AMAZON_ORDER = re.compile(_B + r"\d{3}-\d{7}-\d{7}" + r"(?![0-9A-Za-z-])")
# Shopee order sn: yymmdd then eight upper-case letters or digits, e.g. 2611260ABCDEF1. Sellers
# retype it in lower case too; it is reported upper-case, as Shopee writes it.
_SHOPEE_ORDER = re.compile(_B + r"\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[0-9A-Za-z]{8}" + _E)
_LONG_ORDER = re.compile(r"(?<![0-9A-Za-z-])\d{10,30}(?![0-9A-Za-z-])")

# A run of letters, digits, dashes and underscores, starting and ending with a letter or digit.
_TOKEN = re.compile(r"(?<![0-9A-Za-z_-])[0-9A-Za-z](?:[0-9A-Za-z_-]*[0-9A-Za-z])?(?![0-9A-Za-z_])")
# Mixed letters and digits that are measurements, times or ordinals rather than SKUs.
_NOT_SKU = re.compile(
    r"^\d+(?:st|nd|rd|th|am|pm|h|hr|hrs|d|days?|min|mins|s|sec|x|k|kb|mb|gb|px|cm|mm|kg|g|ml|pcs)$"
    r"|^(?:utf-?8|mp[34]|h26[45]|x86|x64|ipv[46]|covid-19|b2b|b2c|p2p|4k|1080p|720p)$",
    re.IGNORECASE,
)
_SKU_SEPARATORS = re.compile(r"[\s_\-./]+")
_STORE_TOKEN = re.compile(r"[a-z0-9]+|[^\x00-\x7f\s]", re.IGNORECASE)

_NEAR_SKU_CUTOFF = 0.86
# Near matching compares a token with every known SKU; a question names a few SKUs, so only the
# first ones are compared and a pasted spreadsheet stays fast.
_MAX_NEAR_LOOKUPS = 20


@dataclass(frozen=True)
class Entities:
    skus: list[str] = field(default_factory=list)
    order_ids: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)  # names of the seller's own stores


@dataclass(frozen=True)
class EntitySpan:
    """Where an entity sits in the text, what kind it is and its value (the known name if matched)."""

    start: int
    end: int
    kind: str  # sku | order_id | url | store
    value: str


def normalize_sku(sku: str) -> str:
    """A SKU's comparison key: upper case, no separators, the letter O read as zero.

    Sellers retype SKUs with other separators or case ("ab_1234 blk", "AB-I234-BLK" aside), and
    O and 0 are confused in most fonts, so both spellings map to one key.
    """
    return _SKU_SEPARATORS.sub("", sku.strip().upper()).replace("O", "0")


def looks_like_sku(token: str) -> bool:
    """True when a token has the shape of a seller SKU rather than a word, number or order id."""
    if not 3 <= len(token) <= 48 or _NOT_SKU.match(token):
        return False
    has_digit = any(char.isdigit() for char in token)
    has_letter = any(char.isalpha() for char in token)
    has_separator = "-" in token or "_" in token
    if has_digit and has_letter:
        return True
    # Letters only: an upper-case code with separators ("TEE_BLACK_L"), not a hyphenated word.
    return has_letter and has_separator and token.upper() == token and len(token) >= 5


def extract_entities(
    text: str,
    *,
    known_skus: Collection[str] = (),
    known_stores: Collection[str] = (),
) -> Entities:
    """Find the order ids, URLs, SKUs and store names in a seller's message.

    Args:
        text: the seller's words, in any script; Slack's `<url|label>` links are unwrapped.
        known_skus: the seller's own SKUs; a token equal to one (ignoring case and separators,
            reading O as 0) or close to one is reported as that known SKU.
        known_stores: the seller's store names; matched ignoring case and spacing.

    Returns:
        The entities in the order they appear, each listed once.
    """
    spans = find_entity_spans(text, known_skus=known_skus, known_stores=known_stores)
    by_kind: dict[str, list[str]] = {"sku": [], "order_id": [], "url": [], "store": []}
    for span in spans:
        values = by_kind[span.kind]
        if span.value not in values:
            values.append(span.value)
    return Entities(
        skus=by_kind["sku"], order_ids=by_kind["order_id"], urls=by_kind["url"], stores=by_kind["store"]
    )


def mask_entities(text: str, placeholders: dict[str, str]) -> str:
    """The text with each entity replaced by its kind's placeholder (e.g. {"sku": " zzsku "}).

    Only the scanned prefix is masked; the rest of a very long text is returned unchanged.
    """
    spans = find_entity_spans(text)
    if not spans:
        return text
    parts: list[str] = []
    position = 0
    for span in spans:
        parts.append(text[position : span.start])
        parts.append(placeholders.get(span.kind, " "))
        position = span.end
    parts.append(text[position:])
    return "".join(parts)


def find_entity_spans(
    text: str,
    *,
    known_skus: Collection[str] = (),
    known_stores: Collection[str] = (),
) -> list[EntitySpan]:
    """Every entity in the text with its position, sorted by position, never overlapping.

    Precedence where matches overlap: URLs, then order ids, then store names, then SKUs.
    """
    text = text[:MAX_SCAN_CHARS]
    spans: list[EntitySpan] = []
    # One flag per character: a linear-time overlap check however many entities a paste holds.
    taken = bytearray(len(text))

    def claim(start: int, end: int, kind: str, value: str) -> None:
        if any(taken[start:end]):
            return
        taken[start:end] = b"\x01" * (end - start)
        spans.append(EntitySpan(start, end, kind, value))

    for start, end, url in _urls(text):
        claim(start, end, "url", url)
    for pattern in (_AMAZON_ORDER, _SHOPEE_ORDER, _LONG_ORDER):
        for match in pattern.finditer(text):
            claim(match.start(), match.end(), "order_id", match.group().upper())
    for start, end, store in _stores(text, known_stores):
        claim(start, end, "store", store)
    for start, end, sku in _skus(text, known_skus):
        claim(start, end, "sku", sku)
    spans.sort(key=lambda span: span.start)
    return spans


def _urls(text: str) -> Iterable[tuple[int, int, str]]:
    seen: list[tuple[int, int]] = []
    for match in _SLACK_LINK.finditer(text):
        seen.append((match.start(), match.end()))
        yield match.start(), match.end(), _clean_url(match.group(1))
    for match in _BARE_URL.finditer(text):
        if any(start <= match.start() < end for start, end in seen):
            continue
        url = _clean_url(match.group())
        if url:
            yield match.start(), match.start() + len(url), url


def _clean_url(url: str) -> str:
    while True:
        stripped = url.rstrip(_URL_TRAILING)
        # A closing parenthesis belongs to the URL only when the URL opened one (wiki-style links).
        if stripped.endswith(")") and stripped.count("(") < stripped.count(")"):
            stripped = stripped[:-1]
        if stripped == url:
            break
        url = stripped
    if url.lower().startswith("www."):
        url = "https://" + url
    return url


def _skus(text: str, known_skus: Collection[str]) -> Iterable[tuple[int, int, str]]:
    known = _KnownSkus(known_skus)
    tokens = list(_TOKEN.finditer(text))
    consumed_until = -1
    for index, match in enumerate(tokens):
        if match.start() < consumed_until:
            continue
        token = match.group()
        if known:
            # "AB 1234 BLK": a known SKU typed with spaces spans several tokens.
            joined = _join_tokens(text, tokens, index, known)
            if joined is not None:
                end, sku = joined
                consumed_until = end
                yield match.start(), end, sku
                continue
            found = known.exact(token)
            if found is None and looks_like_sku(token):
                found = known.near(token)
            if found is not None:
                yield match.start(), match.end(), found
                continue
        if looks_like_sku(token):
            yield match.start(), match.end(), token


def _join_tokens(
    text: str, tokens: list[re.Match[str]], index: int, known: _KnownSkus
) -> tuple[int, str] | None:
    key = normalize_sku(tokens[index].group())
    for following in tokens[index + 1 : index + 3]:
        gap = text[tokens[index].end() : following.start()]
        if gap.strip(" -_/.") or len(gap) > 2:
            return None
        key += normalize_sku(following.group())
        found = known.by_key.get(key)
        if found is not None:
            return following.end(), found
        index += 1
    return None


class _KnownSkus:
    """The seller's SKUs indexed by comparison key, for exact and near look-ups."""

    def __init__(self, skus: Collection[str]) -> None:
        self.by_key: dict[str, str] = {}
        for sku in skus:
            if sku and sku.strip():
                self.by_key.setdefault(normalize_sku(sku), sku)
        self._keys = list(self.by_key)
        self._near_lookups = 0

    def __bool__(self) -> bool:
        return bool(self.by_key)

    def exact(self, token: str) -> str | None:
        return self.by_key.get(normalize_sku(token))

    def near(self, token: str) -> str | None:
        if self._near_lookups >= _MAX_NEAR_LOOKUPS:
            return None
        self._near_lookups += 1
        close = difflib.get_close_matches(normalize_sku(token), self._keys, n=1, cutoff=_NEAR_SKU_CUTOFF)
        return self.by_key[close[0]] if close else None


def _stores(text: str, known_stores: Collection[str]) -> Iterable[tuple[int, int, str]]:
    if not known_stores:
        return
    # Tokens with their positions: ASCII words, and each non-ASCII character on its own, so a
    # Chinese store name matches inside Chinese text written without spaces.
    tokens = [(m.start(), m.end(), m.group().lower()) for m in _STORE_TOKEN.finditer(text)]
    # Longer names first, so "Amazon US 2" wins over "Amazon US" where both fit.
    names = sorted({name for name in known_stores if name and name.strip()}, key=len, reverse=True)
    for name in names:
        compact = "".join(piece.lower() for piece in _STORE_TOKEN.findall(name))
        if compact:
            for start, end in _token_runs_equal_to(tokens, compact):
                yield start, end, name


def _token_runs_equal_to(tokens: list[tuple[int, int, str]], compact: str) -> Iterable[tuple[int, int]]:
    """Spans of consecutive tokens whose concatenation is `compact` ("amazon", "us" -> "amazonus")."""
    for index, (start, _, first) in enumerate(tokens):
        if not compact.startswith(first):
            continue
        joined = ""
        for following in range(index, len(tokens)):
            _, end, piece = tokens[following]
            joined += piece
            if len(joined) >= len(compact):
                if joined == compact:
                    yield start, end
                break
