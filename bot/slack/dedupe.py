"""Each Slack event is handled once: Slack retries a delivery it thinks failed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from erp.models import ProcessedEvent

# Slack gives up retrying within the hour; a day of ids is plenty and keeps the table small.
KEEP_EVENTS = timedelta(days=1)
PURGE_EVERY = 500  # events between two purges of old ids


class EventDeduper:
    """Records event ids in the database (so several server processes agree) and forgets old ones."""

    def __init__(self, sessions: Callable[[], Session], clock: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.clock = clock
        self._seen = 0
        self._lock = threading.Lock()

    def first_delivery(self, event_id: str) -> bool:
        """True the first time `event_id` arrives; False for a retry (or a second process's copy)."""
        with self.sessions() as session:
            fresh = first_delivery(session, event_id, now=self.clock())
        with self._lock:
            self._seen += 1
            purge = self._seen % PURGE_EVERY == 0
        if purge:
            self.forget_before(self.clock() - KEEP_EVENTS)
        return fresh

    def forget_before(self, moment: datetime) -> int:
        """Delete ids received before `moment`; returns how many."""
        with self.sessions() as session:
            result = session.execute(delete(ProcessedEvent).where(col(ProcessedEvent.received_at) < moment))
            session.commit()
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


def first_delivery(session: Session, event_id: str, *, now: datetime | None = None) -> bool:
    """Record `event_id`; False when it was already recorded (a retry, or a second process)."""
    row = ProcessedEvent(event_id=event_id[:100])
    if now is not None:
        row.received_at = now
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
