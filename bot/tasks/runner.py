"""Where background tasks run: in this process (the embedded default) or on a broker's workers.

Callers only name a task and give its payload (plain JSON data); the `TaskRunner` decides where
it runs. The broker implementation is Dramatiq on Redis (see `bot/tasks/broker.py` for why).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any, Protocol

from bot.tasks.catalog import TASKS

log = logging.getLogger(__name__)

TaskHandler = Callable[[dict[str, Any]], object]
"""Runs one task from its payload."""

ONCE_FIELD = "_once"
"""Payload field naming the "already waiting" marker a task clears when it starts."""

ONCE_TTL_SECONDS = 6 * 3600
"""A marker outlives no task: a task lost without a trace does not block its job for longer."""


class TaskRunner(Protocol):
    """Hands named tasks to whatever runs them."""

    @property
    def distributed(self) -> bool:
        """True when tasks run on workers (other processes, other machines)."""
        ...

    def submit(self, name: str, payload: dict[str, Any], *, once: str | None = None) -> bool:
        """Queue task `name` with `payload`.

        Args:
            name: a task of `bot.tasks.catalog.TASKS`.
            payload: JSON-serializable data; everything the task needs.
            once: a marker ("order_sync:42"): while a task with this marker waits, another is
                not queued (a schedule firing again before the last run started).

        Returns:
            False when it was not queued because of `once`.
        """
        ...


class InProcessTasks:
    """Runs tasks on an executor of this process: the embedded default, no broker needed.

    Args:
        handlers: task name -> what runs it.
        executor: where (a thread pool).
    """

    distributed = False

    def __init__(self, handlers: Mapping[str, TaskHandler], executor: Executor) -> None:
        self._handlers = dict(handlers)
        self._executor = executor
        self._waiting: set[str] = set()
        self._guard = threading.Lock()

    def submit(self, name: str, payload: dict[str, Any], *, once: str | None = None) -> bool:
        handler = self._handlers[name]
        if once is not None:
            with self._guard:
                if once in self._waiting:
                    return False
                self._waiting.add(once)

        def run() -> object:
            if once is not None:
                with self._guard:
                    self._waiting.discard(once)
            try:
                return handler(payload)
            except Exception:
                log.exception("task %s failed", name)
                return None

        self._executor.submit(run)
        return True


class BrokerTasks:
    """Sends tasks to the broker; any worker consuming the task's queue runs it.

    Args:
        broker: a Dramatiq broker (`bot.tasks.broker.make_broker`).
        markers: the Redis client that holds the `once` markers (the broker's own).
    """

    distributed = True

    def __init__(self, broker: Any, markers: Any) -> None:
        self._broker = broker
        self._markers = markers

    def submit(self, name: str, payload: dict[str, Any], *, once: str | None = None) -> bool:
        from dramatiq import Message

        spec = TASKS[name]
        if once is not None:
            if not self._markers.set(marker_key(once), "1", nx=True, ex=ONCE_TTL_SECONDS):
                log.info("task %s for %s is already waiting; not queued again", name, once)
                return False
            payload = {**payload, ONCE_FIELD: once}
        self._broker.enqueue(
            Message(queue_name=spec.queue, actor_name=name, args=(payload,), kwargs={}, options={})
        )
        return True


def marker_key(once: str) -> str:
    return f"sellerdesk:waiting:{once}"
