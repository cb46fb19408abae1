"""Our own record of each delete confirmation, so a modal's answer cannot name another store.

A modal's `private_metadata` travels through the client and comes back in the submission; a
changed copy must not decide what is deleted. When the owner opens the modal, what it is for
(the store, its name, where to answer) is stored here under a random token, and the modal
carries only the token. The submission is matched against the stored record: same person, not
too old, not used before, and the typed name compared with the stored store's name.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col

from erp.models import DeleteConfirmation, table_of

VALID_FOR = timedelta(minutes=30)  # a modal left open longer is opened again
KEEP_FOR = timedelta(days=1)  # records older than this are removed when a new modal opens


@dataclass(frozen=True)
class Confirmation:
    token: str
    account_id: int
    store_id: int
    store_name: str
    channel: str
    thread_ts: str
    language: str


def open_confirmation(
    session: Session,
    *,
    actor: str,
    account_id: int,
    store_id: int,
    store_name: str,
    channel: str,
    thread_ts: str,
    language: str,
    now: datetime,
) -> str:
    """Record what a delete modal is opened for; returns the token the modal carries."""
    table = table_of(DeleteConfirmation)
    session.execute(delete(table).where(table.c.opened_at < now - KEEP_FOR))
    token = secrets.token_urlsafe(24)
    session.add(
        DeleteConfirmation(
            token=token,
            actor=actor[:120],
            account_id=account_id,
            store_id=store_id,
            store_name=store_name[:200],
            channel=channel[:40],
            thread_ts=thread_ts[:40],
            language=language[:5],
            opened_at=now,
        )
    )
    session.commit()
    return token


def find_confirmation(session: Session, token: str, *, actor: str, now: datetime) -> Confirmation | None:
    """The open, unused record of `token` for `actor`; None when there is none (changed, old, used)."""
    if not token or len(token) > 64:
        return None
    row = session.get(DeleteConfirmation, token)
    if row is None or row.actor != actor or row.used_at is not None:
        return None
    if _aware(row.opened_at) + VALID_FOR < now:
        return None
    return Confirmation(
        token=row.token,
        account_id=row.account_id,
        store_id=row.store_id,
        store_name=row.store_name,
        channel=row.channel,
        thread_ts=row.thread_ts,
        language=row.language,
    )


def use_confirmation(sessions: Callable[[], Session], token: str, *, now: datetime) -> bool:
    """Mark the record used; True only for the one caller that did (a second submission does nothing)."""
    with sessions() as session:
        table = table_of(DeleteConfirmation)
        result = session.execute(
            update(table)
            .where(table.c.token == token, col(DeleteConfirmation.used_at).is_(None))
            .values(used_at=now)
        )
        session.commit()
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
