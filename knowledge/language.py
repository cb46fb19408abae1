"""Which language a seller writes in: Chinese as soon as a meaningful share of the text is Chinese."""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "zh"]

# Sellers mix scripts ("price没更新"): a few Han characters among Latin words still mean the
# seller reads Chinese, while one stray symbol in an English sentence does not.
_ZH_SHARE = 0.15
_ZH_MIN_CHARS = 2


def is_cjk(char: str) -> bool:
    """True for Han ideographs, CJK punctuation and full-width forms."""
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF  # unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0x20000 <= code <= 0x2FA1F  # extensions B-F and compatibility supplement
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x3000 <= code <= 0x303F  # CJK punctuation
        or 0xFF00 <= code <= 0xFFEF  # full-width forms (，？！)
    )


def _is_han(char: str) -> bool:
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2FA1F


def detect_language(text: str) -> Language:
    """The seller's language: "zh" when Chinese characters make up a meaningful share, else "en".

    Counts letters only (digits, SKUs and punctuation say nothing about language); Latin words
    count by word so one English word does not outweigh several Chinese characters.

    Args:
        text: the seller's words, any length, any script.

    Returns:
        "zh" or "en".
    """
    han = 0
    latin_words = 0
    in_word = False
    for char in text:
        if _is_han(char):
            han += 1
            in_word = False
        elif char.isascii() and char.isalpha():
            if not in_word:
                latin_words += 1
            in_word = True
        else:
            in_word = False
    if han == 0:
        return "en"
    if han >= _ZH_MIN_CHARS or latin_words == 0:
        return "zh" if han / (han + latin_words) >= _ZH_SHARE else "en"
    return "en"
