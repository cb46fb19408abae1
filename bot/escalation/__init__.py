"""Escalation to customer service: cases, their evidence, delivery and relays."""

from __future__ import annotations

from bot.escalation.records import Answer, AnswerBook
from bot.escalation.service import ChatSurface, EscalationRequest, EscalationService, case_key, is_note

__all__ = [
    "Answer",
    "AnswerBook",
    "ChatSurface",
    "EscalationRequest",
    "EscalationService",
    "case_key",
    "is_note",
]
