"""Each Slack event is handled once: Slack retries a delivery it thinks failed."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from erp.models import ProcessedEvent


def first_delivery(session: Session, event_id: str) -> bool:
    """Record `event_id`; False when it was already recorded (a retry, or a second process)."""
    session.add(ProcessedEvent(event_id=event_id[:100]))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
