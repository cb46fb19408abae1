"""Bilingual text: handlers write each sentence in English and Chinese side by side."""

from __future__ import annotations

from handlers.diagnosis import Language


def say(language: Language, en: str, zh: str) -> str:
    """The sentence in the seller's language."""
    return zh if language == "zh" else en
