"""CPU time of the processes in a benchmark run, read from /proc: the syncing workers, the sandbox
platforms, the local PostgreSQL server and the local Redis (the task broker).

The sync's target is a speed-up over one store at a time, and the one-at-a-time run is itself
CPU plus waiting, so the speed-up on a few cores is bounded by how much CPU every process spends per
order: this is what lets a run say where that CPU went.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from erp.db import make_engine

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int, *, with_reaped_children: bool = True) -> float:
    """Seconds of user + system CPU the process has used (and its children it has waited for)."""
    try:
        # The command name (field 2) may hold spaces; the fields after it are fixed.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + ((cutime + cstime) if with_reaped_children else 0)) / _TICK


def postgres_server_pid(url: str) -> int | None:
    """The postmaster of the server at `url` when it runs on this machine and /proc shows it."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            # Read while the backend still runs: it exits with its connection.
            status = Path(f"/proc/{backend}/status").read_text()
    except OSError:
        return None
    finally:
        engine.dispose()
    parent = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
    return int(parent)


def redis_server_pid(url: str) -> int | None:
    """The Redis server at `url` when it runs on this machine and /proc shows it."""
    import redis

    try:
        pid = int(redis.Redis.from_url(url).info("server")["process_id"])
        name = Path(f"/proc/{pid}/comm").read_text()
    except (OSError, KeyError, ValueError, redis.RedisError):
        return None
    return pid if name.startswith("redis") else None


def server_cpu(postmaster: int) -> float:
    """The server's CPU: the postmaster, its exited backends and the ones still running."""
    total = process_cpu(postmaster)
    for child in Path("/proc").iterdir():
        if not child.name.isdigit():
            continue
        try:
            status = (child / "status").read_text()
        except OSError:
            continue
        if f"\nPPid:\t{postmaster}\n" in status:
            total += process_cpu(int(child.name), with_reaped_children=False)
    return total


@dataclass(frozen=True)
class CpuSplit:
    """CPU seconds one run spent, by process: the working process(es), the database server (0 when
    it is not on this machine), the sandbox platforms and the broker (0 when not on this machine)."""

    workers: float
    server: float
    sandbox: float
    broker: float = 0.0

    def per_order(self, orders: int) -> str:
        return self.per_item(orders, "order", "syncing")

    def per_item(self, items: int, item: str, worker: str) -> str:
        """CPU per `item` (an order, a report row) of the `worker` side, the database, the sandbox
        and the broker."""
        us = [value / max(items, 1) * 1e6 for value in (self.workers, self.server, self.sandbox, self.broker)]
        return (
            f"CPU per {item}: {worker} {us[0]:.0f} us, database {us[1]:.0f} us, sandbox {us[2]:.0f} us, "
            f"broker {us[3]:.0f} us, total {sum(us):.0f} us"
        )


class RunMeter:
    """The server's, the sandbox's and the broker's CPU over one run; the working side is given at
    the end, since worker processes are read before they stop and this process by
    `time.process_time`."""

    def __init__(self, postmaster: int | None, sandbox: int, broker: int | None = None) -> None:
        self._postmaster, self._sandbox, self._broker = postmaster, sandbox, broker
        self._server_start = self._sandbox_start = self._broker_start = 0.0

    def start(self) -> None:
        self._server_start = server_cpu(self._postmaster) if self._postmaster else 0.0
        self._sandbox_start = process_cpu(self._sandbox)
        self._broker_start = process_cpu(self._broker) if self._broker else 0.0

    def stop(self, workers: float) -> CpuSplit:
        server = server_cpu(self._postmaster) - self._server_start if self._postmaster else 0.0
        broker = process_cpu(self._broker) - self._broker_start if self._broker else 0.0
        return CpuSplit(workers, server, process_cpu(self._sandbox) - self._sandbox_start, broker)
