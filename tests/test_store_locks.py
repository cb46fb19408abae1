"""A store's sync lock holds across processes and dies with the process that held it.

Run on the test's database: an SQLite file (a `flock` beside it) or PostgreSQL (an advisory lock).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from erp.jobs.locks import FileStoreLocks, PostgresStoreLocks, store_locks_for

ROOT = Path(__file__).resolve().parent.parent

HOLDER = """
import sys, time
from erp.db import make_engine
from erp.jobs.locks import store_locks_for
with store_locks_for(make_engine(sys.argv[1]))(int(sys.argv[2])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_store_locked_by_another_process_waits_until_that_process_dies(
    engine: Engine, database_url: str
) -> None:
    locks = store_locks_for(engine)
    assert isinstance(locks, PostgresStoreLocks | FileStoreLocks)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url, "7"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        taken = threading.Event()

        def take() -> None:
            with locks(7):
                taken.set()

        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        with locks(8):  # another store is free meanwhile
            pass
        time.sleep(1.0)
        assert not taken.is_set()  # store 7 waits for the other process
        holder.kill()  # killed mid-sync: no unlock runs, the lock goes with the process
        holder.wait()
        waiter.join(timeout=20)
        assert taken.is_set()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_on_postgresql_the_locked_work_runs_on_the_lock_s_own_connection(engine: Engine) -> None:
    # One server connection per syncing store, not two: the lock hands out sessions on its own.
    if engine.dialect.name != "postgresql":
        pytest.skip("an SQLite file lock has no connection; the sync uses the application's sessions")
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from erp.jobs.locks import LOCK_WAIT_SECONDS, ORDER_SYNC_LOCK_CLASS

    holder_query = text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = :cls AND objid = :store"
    )
    keys = {"cls": ORDER_SYNC_LOCK_CLASS, "store": 9}
    locks = store_locks_for(engine)
    with locks(9) as sessions:
        assert sessions is not None
        with sessions() as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            # Waiting for another process's sync of the store is bounded.
            timeout = "SELECT extract(epoch FROM current_setting('lock_timeout')::interval)"
            assert session.execute(text(timeout)).scalar() == LOCK_WAIT_SECONDS
            # Its commits (a page, the run's progress and the watermark together) skip the WAL flush.
            assert session.execute(text("SHOW synchronous_commit")).scalar() == "off"
            session.commit()
        with pytest.raises(DBAPIError), sessions() as failing:
            failing.execute(text("SELECT 1 / 0"))  # a failed transaction of the locked work...
        with sessions() as session:  # ...leaves the connection usable and the lock held
            assert session.execute(text("SELECT pg_backend_pid()")).scalar() == pid
        with engine.connect() as other:
            assert other.execute(holder_query, keys).scalar() == pid
    with engine.connect() as other:
        assert other.execute(holder_query, keys).scalar() is None  # released at the end
    # The connection stays open for the next store's sync (no new server process per store).
    with locks(10) as again:
        assert again is not None
        with again() as session:
            assert session.execute(text("SELECT pg_backend_pid()")).scalar() == pid
