"""Our record of delete-confirmation modals: bound to one person, short-lived, used once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.slack.confirmations import find_confirmation, open_confirmation, use_confirmation
from erp.models import DeleteConfirmation

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _open(session: Session, now: datetime) -> str:
    return open_confirmation(
        session,
        actor="slack:T1:U1",
        account_id=1,
        store_id=7,
        store_name="Amazon US",
        channel="D1",
        thread_ts="1.0",
        language="en",
        now=now,
    )


def test_a_confirmation_is_for_its_owner_for_half_an_hour_and_once(engine: Engine) -> None:
    def sessions() -> Session:
        return Session(engine, expire_on_commit=False)

    with sessions() as session:
        token = _open(session, NOW)
        found = find_confirmation(session, token, actor="slack:T1:U1", now=NOW + timedelta(minutes=5))
        assert found is not None and (found.store_id, found.store_name) == (7, "Amazon US")
        assert find_confirmation(session, token, actor="slack:T1:U2", now=NOW) is None
        assert find_confirmation(session, token, actor="slack:T2:U1", now=NOW) is None
        assert find_confirmation(session, token + "x", actor="slack:T1:U1", now=NOW) is None
        assert find_confirmation(session, token, actor="slack:T1:U1", now=NOW + timedelta(minutes=31)) is None
    assert use_confirmation(sessions, token, now=NOW) is True
    assert use_confirmation(sessions, token, now=NOW) is False  # a second submission deletes nothing
    with sessions() as session:
        assert find_confirmation(session, token, actor="slack:T1:U1", now=NOW) is None
        # Records a day old go when the next modal opens.
        later = _open(session, NOW + timedelta(days=2))
        assert session.get(DeleteConfirmation, token) is None
        assert session.get(DeleteConfirmation, later) is not None
