"""Acks before slow work, and slow work apart from quick work.

In one Python process the acks and the slow checks share the interpreter. During a burst (a
channel of sellers typing at once) each ack would otherwise wait its turn behind every running
check; here a check about to start waits (briefly, bounded) until no request is mid-ack.

Work that can take long (fetching pictures from sellers' hosts, syncing orders, exporting a
store) runs in a bounded pool of its own, and every seller gets only a few workers of each pool:
eight slow picture links from one seller leave the other sellers' answers where they were.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.lazy_listener.internals import build_runnable_function
from slack_bolt.lazy_listener.runner import LazyListenerRunner
from slack_bolt.request import BoltRequest

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


# -- slow work apart from quick work, and each seller's share of it ------------------------------

SLOW_COMMANDS = frozenset({"/check-image", "/sync-orders", "/find-order"})
SLOW_ACTIONS = ("convert_rgb", "sync_now", "delete_store_data", "undo_delete", "request_report")


def is_slow(body: dict[str, Any]) -> bool:
    """Whether a request starts slow work: fetching pictures, syncing orders, exporting a store.

    Decided from what Slack sent, before any check runs: a command known to be slow, a message
    carrying a link or a file (image checks), a button of a slow action, a modal submission.
    """
    command = body.get("command")
    if isinstance(command, str):
        return command in SLOW_COMMANDS or "http" in str(body.get("text", ""))
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event") or {}
        return "http" in str(event.get("text", "")) or bool(event.get("files"))
    if kind == "view_submission":
        return True
    if kind == "block_actions":
        values = " ".join(str(a.get("value", "")) for a in body.get("actions") or [] if isinstance(a, dict))
        return any(name in values for name in SLOW_ACTIONS) or "http" in values
    return False


@dataclass
class _Lane:
    """One seller's work of one kind: how much runs, and what waits its turn."""

    running: int = 0
    waiting: deque[Callable[[], Any]] = field(default_factory=deque)


class SellerPools(AckFirstExecutor):
    """Bolt's executor for lazy listeners: quick work here, slow work in a pool of its own, and
    each seller (an account, or an unlinked Slack user) limited to a few workers of each, so
    one seller's slow links or many commands never delay another seller's answer.

    Work beyond a seller's limit waits in that seller's own queue (in order), not in the pool's.
    """

    def __init__(
        self,
        gate: AckGate,
        max_workers: int,
        *,
        slow_workers: int,
        quick_per_seller: int,
        slow_per_seller: int,
        thread_name_prefix: str = "",
    ) -> None:
        super().__init__(gate, max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self.slow = AckFirstExecutor(
            gate, max_workers=slow_workers, thread_name_prefix=thread_name_prefix + "-slow"
        )
        self._limits = {False: quick_per_seller, True: slow_per_seller}
        self._lanes: dict[tuple[bool, str], _Lane] = {}
        self._lanes_lock = threading.Lock()
        self._closed = False

    def submit_for(self, seller: str, slow: bool, fn: Callable[[], Any]) -> None:
        """Run `fn` for `seller` in the quick or the slow pool, once the seller has room."""
        key = (slow, seller)
        with self._lanes_lock:
            if self._closed:
                return
            lane = self._lanes.setdefault(key, _Lane())
            if lane.running >= self._limits[slow]:
                lane.waiting.append(fn)
                return
            lane.running += 1
        self._start(key, fn)

    def waiting(self, seller: str, *, slow: bool) -> int:
        """How many of `seller`'s tasks of that kind wait for the seller's turn."""
        with self._lanes_lock:
            lane = self._lanes.get((slow, seller))
            return len(lane.waiting) if lane else 0

    def _start(self, key: tuple[bool, str], fn: Callable[[], Any]) -> None:
        def run() -> None:
            try:
                fn()
            finally:
                self._finished(key)

        try:
            if key[0]:
                self.slow.submit(run)
            else:
                AckFirstExecutor.submit(self, run)
        except RuntimeError:  # shutting down: nothing more starts
            self._finished(key)

    def _finished(self, key: tuple[bool, str]) -> None:
        with self._lanes_lock:
            lane = self._lanes.get(key)
            if lane is None:
                return
            if lane.waiting and not self._closed:
                following = lane.waiting.popleft()
            else:
                lane.running -= 1
                if lane.running <= 0 and not lane.waiting:
                    del self._lanes[key]
                return
        self._start(key, following)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lanes_lock:
            self._closed = True
            for lane in self._lanes.values():
                lane.waiting.clear()
        self.slow.shutdown(wait=wait, cancel_futures=cancel_futures)
        super().shutdown(wait=wait, cancel_futures=cancel_futures)


class FairLazyRunner(LazyListenerRunner):
    """Starts Bolt's lazy listeners through `SellerPools`, naming the seller and the kind of work."""

    def __init__(
        self, logger: logging.Logger, pools: SellerPools, seller_of: Callable[[BoltRequest], str]
    ) -> None:
        self.logger = logger
        self.pools = pools
        self._seller_of = seller_of

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        runnable = build_runnable_function(func=function, logger=self.logger, request=request)
        self.pools.submit_for(self._seller_of(request), is_slow(request.body), runnable)
