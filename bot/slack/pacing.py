"""Acks before slow work: slow checks wait while Slack requests are being acknowledged.

In one Python process the acks and the slow checks share the interpreter. During a burst (a
channel of sellers typing at once) each ack would otherwise wait its turn behind every running
check; here a check about to start waits (briefly, bounded) until no request is mid-ack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

MAX_YIELD_SECONDS = 2.0  # a check never waits longer than this for acks to finish


class AckGate:
    """Counts requests being acknowledged; slow work can wait until there are none."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._idle = threading.Condition()

    def enter(self) -> None:
        with self._idle:
            self._in_flight += 1

    def leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight <= 0:
                self._in_flight = 0
                self._idle.notify_all()

    def wait_idle(self, timeout: float = MAX_YIELD_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._idle.wait(remaining)


class AckFirstExecutor(ThreadPoolExecutor):
    """Bolt's executor for lazy listeners: each task first lets in-flight acks finish."""

    def __init__(self, gate: AckGate, max_workers: int, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self.gate = gate

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def after_acks() -> Any:
            self.gate.wait_idle()
            return fn(*args, **kwargs)

        return super().submit(after_acks)


def ack_gate_of(app: Any) -> AckGate | None:
    """The gate of an app built by `build_app` (its lazy listeners' executor holds it)."""
    executor = getattr(getattr(app, "listener_runner", None), "listener_executor", None)
    return executor.gate if isinstance(executor, AckFirstExecutor) else None
