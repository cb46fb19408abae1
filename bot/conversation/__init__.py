"""The conversation: one seller turn in, one reply out, the same for Slack and the console.

`types` is the contract the surfaces share, `engine` the `Conversation` that answers a turn,
`state` what a conversation waits for, `actions` the proposed actions, `replies` the answers that
come from knowledge, `words` reading the seller's text.
"""

from __future__ import annotations

from bot.conversation.engine import Conversation
from bot.conversation.types import Attachment, QuestionMatcher, Reply, ReplyKind, Speaker, Turn
from bot.conversation.words import clean_text

__all__ = [
    "Attachment",
    "Conversation",
    "QuestionMatcher",
    "Reply",
    "ReplyKind",
    "Speaker",
    "Turn",
    "clean_text",
]
