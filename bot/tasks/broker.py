"""The broker adapter: Dramatiq on Redis.

Why Dramatiq (measured on the 2-core machine, loaded): enqueue 0.44 ms, enqueue-to-start p50
4.3 ms and p99 10.5 ms with four worker threads; RQ enqueues in 0.55 ms but a worker runs one
job at a time (2.8 ms a job without forking, far more with its default fork per job), and a job
whose worker was killed lands in a failed registry instead of being retried. Celery needs more
moving parts and by default redelivers a lost task on Redis only after an hour. Dramatiq acks a
message only when the task finished, and moves the unacked messages of a worker whose heartbeat
stopped back to their queue, which is the at-least-once delivery the tasks are written for.

The web process only enqueues (`BrokerTasks`); `run_worker` consumes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from bot.tasks.catalog import TASKS
from bot.tasks.runner import ONCE_FIELD, TaskHandler, marker_key

log = logging.getLogger(__name__)

NAMESPACE = "sellerdesk"
# Queue maintenance (requeueing a dead worker's messages) runs on this share of broker calls,
# out of a million: an idle worker polls each queue up to ten times a second, so a dead worker's
# tasks move on within a few seconds of its heartbeat running out.
MAINTENANCE_CHANCE = 100_000
MIN_BACKOFF_MS = 2_000  # a task that raised is retried after 2 s, then 4 s, ...
POLL_BOUND_MS = 100  # the longest an idle or full consumer sleeps before it looks for tasks again


def make_broker(url: str, *, heartbeat_seconds: int = 30) -> Any:
    """A Dramatiq Redis broker for `url` (redis://host:port/db)."""
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(
        url=url,
        namespace=NAMESPACE,
        heartbeat_timeout=heartbeat_seconds * 1000,
        maintenance_chance=MAINTENANCE_CHANCE,
    )


def declare_tasks(broker: Any, handlers: Mapping[str, TaskHandler]) -> None:
    """Register every task this process can run as an actor of `broker`."""
    from dramatiq import Actor

    markers = broker.client
    for name, handler in handlers.items():
        spec = TASKS[name]
        Actor(
            _clearing_marker(name, handler, markers),
            broker=broker,
            actor_name=name,
            queue_name=spec.queue,
            priority=0,
            options={
                "max_retries": spec.max_retries,
                "min_backoff": MIN_BACKOFF_MS,
                "time_limit": spec.time_limit_seconds * 1000,
            },
        )


def _clearing_marker(name: str, handler: TaskHandler, markers: Any) -> Any:
    def run(payload: dict[str, Any]) -> None:
        once = payload.pop(ONCE_FIELD, None)
        if once:
            # Started: the next schedule firing may queue another (it will wait on the store lock).
            markers.delete(marker_key(str(once)))
        log.info("task %s starting", name)
        handler(payload)

    run.__name__ = name
    return run


class WorkerProcess:
    """Consumes `queues` with `threads` threads until `stop()`.

    Args:
        broker: the broker, with the tasks declared.
        queues: which queues this worker takes tasks from.
        threads: how many tasks run at once in this process.
    """

    def __init__(self, broker: Any, queues: Iterable[str], threads: int) -> None:
        from dramatiq import Worker

        self._queues = set(queues)
        # A consumer whose threads are all busy, or whose queue is empty, sleeps with a growing
        # backoff before it looks again; dramatiq's default bound of a second left a thread idle
        # up to a second after each task (and a seller's answer waiting as long). Looking every
        # tenth of a second at most costs Redis a small script call per queue.
        self._worker = Worker(
            broker, queues=self._queues, worker_threads=threads, worker_timeout=POLL_BOUND_MS
        )
        # Prefetch no more than can run: a task waiting in one worker's memory is a task another,
        # idle worker cannot take (the nightly fan-out).
        self._worker.queue_prefetch = threads
        self._stopped = threading.Event()

    def run(self) -> None:
        """Start consuming and block until `stop()` is called (from a signal handler)."""
        self._worker.start()
        log.info("worker consuming %s", ", ".join(sorted(self._queues)))
        self._stopped.wait()
        # Running tasks get a moment to finish; the rest are requeued for other workers.
        self._worker.stop(timeout=10_000)

    def stop(self) -> None:
        self._stopped.set()
