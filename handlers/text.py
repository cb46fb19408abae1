"""Bilingual text: handlers write each sentence in English and Chinese side by side."""

from __future__ import annotations

from handlers.diagnosis import Language


def say(language: Language, en: str, zh: str) -> str:
    """The sentence in the seller's language."""
    return zh if language == "zh" else en


def platform_words(language: Language, text: str) -> str:
    """A message the platform wrote (a rejection reason, an upload error), quoted as it is.

    It cannot be translated faithfully, so a Chinese answer marks it as the platform's own words
    in 「」 instead of passing it off as ours.
    """
    return f"「{text}」" if language == "zh" and text else text
