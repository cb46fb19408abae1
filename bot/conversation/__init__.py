"""The conversation: one seller turn in, one reply out, the same for Slack and the console.

`types` is the contract the surfaces share, `policy` decides what a turn is (a pure function,
tested as a table), `engine` the `Conversation` that reads a turn and carries the decision out,
`state` what a conversation remembers (its language, the open question, the last check),
`actions` the proposed actions, `replies` the answers that come from knowledge, `words` reading
the seller's text.
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
