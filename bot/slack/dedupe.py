"""Each Slack delivery is handled once: Slack retries events it thinks failed, and a signed
request can be sent twice (a replay inside the signing window, a proxy that retries).

Events are known by their event id; any other request (slash commands, button clicks, modal
submissions) by its signature, which covers its timestamp and body: the same signature is the
same request. Ids are recorded in the database, so several server processes agree.

This runs while Slack waits for its acknowledgement, so it must never wait on a writer: the
engine given is expected to have a short lock timeout, and a database that is busy (or away)
is answered from this process's own memory of recent ids, never with an error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timedelta

from sqlalchemy import delete, insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from erp.models import ProcessedEvent, table_of, utcnow

log = logging.getLogger(__name__)

# Slack gives up retrying within the hour; a day of ids is plenty and keeps the table small.
KEEP_EVENTS = timedelta(days=1)
PURGE_EVERY = 500  # events between two purges of old ids
REMEMBER = 20_000  # recent ids kept in memory: several minutes of a busy workspace
# After the database refused a write (locked by a long writer), ids go to memory only for this
# long: every ack meanwhile would otherwise wait out the lock timeout first.
BUSY_PAUSE = 1.0
_EVENTS = table_of(ProcessedEvent)
_RECORD = insert(_EVENTS)


def request_key(signature: str) -> str:
    """The id of a signed request that is not an event: its v0 signature (64 hex digits)."""
    return "req:" + signature.strip().removeprefix("v0=")[:90]


class EventDeduper:
    """Records delivery ids in the database, remembers recent ones, and forgets old ones.

    Args:
        engine: the engine of the acknowledgement path (`erp.db.quick_engine`).
        clock: now, in UTC.
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock
        self._seen = 0
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._paused_until = 0.0  # monotonic time until which the database is not asked
        # SQLite takes one writer at a time, and a writer that finds the lock taken sleeps in
        # growing steps (up to 100 ms) before it tries again: in a burst of acks the unlucky ones
        # waited 50-100 ms. Queued on this lock instead, each waits only for the writes before it.
        self._one_writer: threading.Lock | nullcontext[None] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    def first_delivery(self, event_id: str, connection: Connection | None = None) -> bool:
        """True the first time `event_id` arrives; False for a retry (or a second process's copy).

        With `connection` (on this deduper's engine) the id is recorded on it, so an ack that
        reads on that connection too checks out one connection, not two."""
        key = event_id[:100]
        with self._lock:
            self._seen += 1
            purge = self._seen % PURGE_EVERY == 0
            if key in self._recent:
                return False
            self._recent[key] = None
            if len(self._recent) > REMEMBER:
                self._recent.popitem(last=False)
            if time.monotonic() < self._paused_until:
                return True
        try:
            with self._one_writer:
                if time.monotonic() < self._paused_until:  # the write before this one was refused
                    return True
                fresh = record_delivery(connection or self.engine, key, now=self.clock())
        except OperationalError as exc:
            # Locked by a long writer (or unreachable): this process's memory decides, and the
            # delivery is handled once here rather than refused with an error Slack would retry.
            with self._lock:
                self._paused_until = time.monotonic() + BUSY_PAUSE
            log.warning(
                "delivery ids not recorded for %g s (%s); this process's memory decides",
                BUSY_PAUSE,
                _first_line(exc),
            )
            return True
        if purge:
            try:
                self.forget_before(self.clock() - KEEP_EVENTS)
            except OperationalError as exc:
                log.warning("old delivery ids not purged this time (%s)", _first_line(exc))
        return fresh

    def forget_before(self, moment: datetime) -> int:
        """Delete ids received before `moment`; returns how many."""
        with self._one_writer, self.engine.begin() as connection:
            result = connection.execute(delete(_EVENTS).where(_EVENTS.c.received_at < moment))
            return int(result.rowcount or 0)


def record_delivery(target: Engine | Connection, event_id: str, *, now: datetime | None = None) -> bool:
    """Record `event_id`, on a connection of its own or on `target`'s; False when it was already
    recorded (a retry, or a second process)."""
    # A prepared Core insert: this runs while Slack waits, and a Session with the ORM's unit of
    # work cost more than twice as much.
    row = {"event_id": event_id[:100], "received_at": now or utcnow()}
    if isinstance(target, Engine):
        try:
            with target.begin() as connection:
                connection.execute(_RECORD, row)
        except IntegrityError:
            return False
        return True
    try:
        target.execute(_RECORD, row)
        target.commit()  # nothing to send in autocommit, which is how the ack path connects
    except IntegrityError:
        target.rollback()
        return False
    return True


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()
    return text[0] if text else type(exc).__name__
