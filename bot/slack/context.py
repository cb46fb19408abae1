"""The one typed services object every Slack listener receives through Bolt's `context`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot.settings import Settings

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.conversation import Conversation
    from bot.escalation import AnswerBook, EscalationService
    from bot.slack.dedupe import EventDeduper
    from bot.slack.progress import ChannelThrottle

SERVICES_KEY = "sellerdesk"
SPEAKER_KEY = "speaker"


@dataclass
class SlackServices:
    """What the Slack surface needs, built once by `build_app` from the composition root."""

    settings: Settings
    conversation: Conversation
    sessions: Callable[[], Session]
    escalations: EscalationService
    clock: Callable[[], datetime]
    # A Web API client for a workspace (the bot token of its installation); used outside requests
    # (relays into another conversation, the scheduler's follow-ups).
    client_for_team: Callable[[str], WebClient]
    events: EventDeduper  # drops Slack's retries of an event already handled
    throttle: ChannelThrottle  # progress edits per channel, about one a second
    answers: AnswerBook | None = None  # whose each answer is and what it found (buttons, cases)
    # Sessions for the few writes made while Slack waits for the ack: on SQLite they give up
    # after a fraction of a second instead of queueing behind a long writer.
    quick_sessions: Callable[[], Session] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> SlackServices:
        # Bolt deep-copies `context` for lazy listeners; these services are shared wiring
        # (engine, clients, matcher) and must stay one instance.
        return self
