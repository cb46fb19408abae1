"""Reading the seller's words: clean them, and tell a question from noise."""

from __future__ import annotations

import re
import unicodedata

# The matcher reads the start of a message; a 40,000-character paste is still answered quickly.
MAX_MATCH_CHARS = 4_000

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd]")


def clean_text(text: str) -> str:
    """The seller's words without control characters or binary noise, normalized (NFKC)."""
    text = unicodedata.normalize("NFKC", text)
    return " ".join(_CONTROL.sub(" ", text).split())


def has_words(text: str) -> bool:
    # Emoji, punctuation and symbols alone say nothing the bot can act on.
    return any(unicodedata.category(char)[0] in ("L", "N") for char in text)
