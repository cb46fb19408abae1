"""Per-store locks that hold across processes and machines: one sync of a store at a time.

With background work on many workers, two syncs of one store (a scheduled one and a seller's
"sync now", or a task redelivered after its worker died) can run in different processes. Each
would resume the same interrupted run and write the same pages; harmless for the orders (upserts)
but the run bookkeeping would tangle. So a store's sync holds a lock:

- PostgreSQL: a session advisory lock on a connection of its own (from a pool apart from the
  application's, kept open between syncs). A worker killed mid-sync loses its connection, and
  the server drops the lock with it, so the retry on another worker proceeds. The locked work
  writes through that same connection (the lock hands out sessions bound to it), so a syncing
  store costs the server one connection, not two: sixty-four stores syncing across four
  workers fit in PostgreSQL's default hundred connections.
- an SQLite file: an exclusive `flock` on a file beside the database (the same machine only, as
  SQLite itself); the kernel drops it when the process dies.
- in-memory SQLite (tests, one process): a thread lock.

A second sync of a locked store waits for the first, then runs incrementally (cheap), so its
caller still gets a fresh answer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

Sessions = Callable[[], Session]
StoreLock = Callable[[int], AbstractContextManager[Sessions | None]]
"""Takes the lock of one store (by id) for the length of a `with` block; the block gets the
sessions to do the locked work with when the lock has a connection of its own, else None."""

ORDER_SYNC_LOCK_CLASS = 0x0D5C
"""The first key of PostgreSQL's two-key advisory locks for order syncs (the store id is the second)."""

LOCK_WAIT_SECONDS = 15 * 60
"""Longest wait for another process's sync of the same store; a sync longer than this is stuck."""


class ThreadStoreLocks:
    """One lock per store within this process."""

    def __init__(self) -> None:
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextmanager
    def __call__(self, store_id: int) -> Iterator[Sessions | None]:
        with self._guard:
            lock = self._locks.setdefault(store_id, threading.Lock())
        with lock:
            yield None


class PostgresStoreLocks:
    """A session advisory lock per store, on a connection of its own for as long as the sync runs;
    the sync's own transactions run on that connection too (an advisory lock taken at session
    level outlives them)."""

    def __init__(self, engine: Engine, lock_class: int = ORDER_SYNC_LOCK_CLASS, *, kept: int = 16) -> None:
        # A pool of their own, apart from the application's: a lock is held for a whole sync,
        # and sixteen stores syncing at once must not starve the answers' sessions. Connections
        # stay open between syncs (`kept` of them): a new server process for every store, with
        # its catalog caches cold for the sync's writes, weighed on a night of 2,000 small stores.
        # The wait for another process's sync is bounded once per connection, not per lock.
        # The sync's commits do not wait for the WAL flush: a page, its run's progress and the
        # store's watermark commit together, so a server crash can only lose the last fraction
        # of a second of pages whole, watermark included, and the next sync fetches them again
        # from the platform. Waiting for the flush at every page made a 50 x 2,000 sync 4% slower.
        self._engine = create_engine(
            engine.url,
            pool_size=kept,
            max_overflow=64,
            pool_pre_ping=True,
            pool_timeout=LOCK_WAIT_SECONDS,
            connect_args={"options": f"-c lock_timeout={LOCK_WAIT_SECONDS}s -c synchronous_commit=off"},
        )
        self._class = lock_class

    @contextmanager
    def __call__(self, store_id: int) -> Iterator[Sessions | None]:
        keys = {"cls": self._class, "store": store_id}
        with self._engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:cls, :store)"), keys)
            connection.commit()
            released = False
            try:
                yield lambda: Session(bind=connection, expire_on_commit=False)
            finally:
                try:
                    connection.rollback()  # whatever the locked work left open
                    connection.execute(text("SELECT pg_advisory_unlock(:cls, :store)"), keys)
                    connection.commit()
                    released = True
                finally:
                    if not released:  # never back into the pool still holding the lock
                        connection.invalidate()


class FileStoreLocks:
    """An exclusive `flock` per store on files beside an SQLite database; threads share one lock too."""

    def __init__(self, directory: str, stem: str) -> None:
        self._directory = directory
        self._stem = stem
        self._threads = ThreadStoreLocks()  # flock is per open file: threads of one process queue here

    @contextmanager
    def __call__(self, store_id: int) -> Iterator[Sessions | None]:
        import fcntl

        with self._threads(store_id):
            path = os.path.join(self._directory, f"{self._stem}.store-{store_id}.lock")
            with open(path, "a+") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    yield None
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def store_locks_for(engine: Engine) -> StoreLock:
    """The per-store lock that fits the engine's database."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return PostgresStoreLocks(engine)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" and os.name == "posix":
        path = os.path.abspath(database)
        return FileStoreLocks(os.path.dirname(path), os.path.basename(path))
    return ThreadStoreLocks()
