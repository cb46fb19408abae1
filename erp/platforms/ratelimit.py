"""Token buckets per (store, operation): how connectors keep within each platform's rate limits.

Marketplaces publish a sustained rate and a burst per operation (SP-API: getOrders 0.0167 requests
per second with a burst of 20). A bucket holds up to `burst` tokens and refills at `rate` per
second; a call takes one token and waits when none is left. Waiting happens outside the lock and
a token is reserved before sleeping, so many threads sharing one bucket queue up fairly instead of
waking together and overrunning the limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """A sustained `rate` (requests per second) and the `burst` allowed on top of it."""

    rate: float
    burst: int

    def scaled(self, factor: float) -> RateLimit:
        return RateLimit(rate=self.rate * factor, burst=self.burst)


class TokenBucket:
    """A thread-safe token bucket with blocking `acquire`."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit.rate <= 0 or limit.burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(limit.burst)
        self._updated = clock()

    def reserve(self) -> float:
        """Take a token now (possibly borrowing from the future); returns the seconds to wait."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(float(self.limit.burst), self._tokens + elapsed * self.limit.rate)
            self._updated = now
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.limit.rate

    def acquire(self) -> float:
        """Block until a token is available; returns how long it waited (seconds)."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def retune(self, limit: RateLimit) -> None:
        """Change the rate and burst, keeping the tokens already spent (a new limit is no free burst)."""
        if limit.rate <= 0 or limit.burst < 1:
            return
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(float(self.limit.burst), self._tokens + elapsed * self.limit.rate)
            self._updated = now
            self.limit = limit
            self._tokens = min(self._tokens, float(limit.burst))

    def refill_time(self) -> float:
        """Seconds one token takes to come back: the least a platform's 429 asks us to wait."""
        return 1.0 / self.limit.rate


class RateLimiter:
    """The buckets of many stores and operations, created on first use and shared by threads."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[tuple[Hashable, str], TokenBucket] = {}

    def bucket(self, store_key: Hashable, operation: str, limit: RateLimit) -> TokenBucket:
        """The bucket of (store, operation); a changed limit retunes it, keeping its spent tokens."""
        key = (store_key, operation)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = TokenBucket(limit, clock=self._clock, sleep=self._sleep)
                self._buckets[key] = bucket
            elif bucket.limit != limit:
                bucket.retune(limit)
            return bucket

    def acquire(self, store_key: Hashable, operation: str, limit: RateLimit) -> float:
        """Wait for a token of (store, operation); returns the seconds waited."""
        return self.bucket(store_key, operation, limit).acquire()


def limits_from_options(
    defaults: Mapping[str, RateLimit], options: Mapping[str, object]
) -> dict[str, RateLimit]:
    """The published limits, adjusted by a store's options.

    `options["rate_limit_scale"]` multiplies every rate (sandbox stores and benchmarks go fast);
    `options["rate_limits"] = {"getOrders": [rate, burst], ...}` replaces single operations.
    Malformed values are ignored so that a typo in a store's options never stops its sync.
    """
    limits = dict(defaults)
    scale = options.get("rate_limit_scale")
    if isinstance(scale, int | float) and not isinstance(scale, bool) and scale > 0:
        limits = {name: limit.scaled(float(scale)) for name, limit in limits.items()}
    overrides = options.get("rate_limits")
    if isinstance(overrides, Mapping):
        for name, value in overrides.items():
            if (
                isinstance(value, list | tuple)
                and len(value) == 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
                and value[0] > 0
                and value[1] >= 1
            ):
                limits[str(name)] = RateLimit(rate=float(value[0]), burst=int(value[1]))
    return limits
