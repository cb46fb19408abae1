"""HTTP plumbing shared by the connectors: one client, retries with backoff, readable errors.

Every marketplace call goes through `PlatformHttp.send`: it waits for a rate-limit token before
each attempt, retries 429, 5xx, timeouts and connection errors with exponential backoff and jitter
(honouring `Retry-After`), within a bounded number of attempts and a bounded total wait, and turns
what is left into the `base.py` errors. Messages name the platform and the operation, never a URL
with its query (Shopee puts the access token and signature there) nor a credential.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from erp.platforms.base import BadResponse, PlatformUnavailable, RateLimited

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on one call."""

    max_attempts: int = 5
    base_delay: float = 0.5  # first backoff; doubles on each retry
    max_delay: float = 20.0  # cap of one backoff
    max_total_wait: float = 60.0  # cap of one call's total time: attempts and backoffs together

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number `attempt` (1-based): exponential, with jitter of up to 50 %."""
        delay = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return delay * rng.uniform(0.5, 1.0)


class _QueryRedactingFilter(logging.Filter):
    """Drops query strings from httpx's request log lines: they carry tokens and signatures."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.copy_with(query=None) if isinstance(arg, httpx.URL) and arg.query else arg
                for arg in record.args
            )
        return True


def _install_log_redaction() -> None:
    for name in ("httpx", "httpcore"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _QueryRedactingFilter) for f in target.filters):
            target.addFilter(_QueryRedactingFilter())


def make_http_client(
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
    max_connections: int = 64,
    max_keepalive: int = 32,
) -> httpx.Client:
    """The one `httpx.Client` all connectors share, with explicit timeouts and pool limits."""
    _install_log_redaction()
    return httpx.Client(
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=read_timeout),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive),
        follow_redirects=False,
        headers={"User-Agent": "SellerDesk/0.1 (Language=Python)"},
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds, possibly fractional, or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} seconds"
    return f"{round(seconds / 60)} minutes"


class PlatformHttp:
    """Sends one platform's requests with retries; thread-safe (shares the client)."""

    def __init__(
        self,
        client: httpx.Client,
        platform: str,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        self.client = client
        self.platform = platform
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()

    def _backoff(self, attempt: int) -> float:
        with self._rng_lock:
            return self.retry.backoff(attempt, self._rng)

    def _jitter(self, seconds: float) -> float:
        with self._rng_lock:
            return seconds * self._rng.uniform(1.0, 1.1)

    def send(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        before_attempt: Callable[[], object] | None = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        prepare: Callable[[], dict[str, Any]] | None = None,
        refill: Callable[[], float] | None = None,
        observe: Callable[[httpx.Response], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request, retrying what is worth retrying; returns any other response as is.

        Args:
            method: HTTP method.
            url: absolute URL without query; `params` become the query.
            operation: the platform's operation name, for rate limits and messages.
            before_attempt: called before every attempt (waits for a rate-limit token).
            params: query parameters.
            prepare: called before every attempt for fresh keyword arguments (Shopee signs each
                attempt with a new timestamp); merged over `kwargs`.
            refill: seconds the operation's rate-limit bucket takes to give one token back. A 429
                means the platform's bucket is empty, so the retry waits at least that long (a
                minute for getOrders); the call's deadline grows to allow one such wait, and a
                wait past it fails at once with `RateLimited` saying when to try again, so a
                seller's check never hangs on a platform's quota.
            observe: called with every response, retried ones included (reads rate-limit headers).
            **kwargs: passed to `httpx.Client.request` (json, data, headers, content).

        Raises:
            RateLimited: still 429 after the retries.
            PlatformUnavailable: 5xx, timeouts or connection errors after the retries.
        """
        started = time.monotonic()
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            if before_attempt is not None:
                before_attempt()
            request_kwargs: dict[str, Any] = {"params": params, **kwargs}
            if prepare is not None:
                request_kwargs.update(prepare())
            retry_after: float | None = None
            try:
                response = self.client.request(method, url, **request_kwargs)
            except httpx.TimeoutException:
                failure: Exception = PlatformUnavailable(
                    f"{self.platform} did not answer in time ({operation}, {attempt} attempts)."
                )
            except httpx.ConnectError:
                failure = PlatformUnavailable(
                    f"Could not connect to {self.platform} ({operation}, {attempt} attempts)."
                )
            except httpx.TransportError:
                failure = PlatformUnavailable(
                    f"The connection to {self.platform} broke off ({operation}, {attempt} attempts)."
                )
            else:
                if observe is not None:
                    observe(response)
                if response.status_code not in RETRYABLE_STATUSES:
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if response.status_code == 429:
                    refill_wait = refill() if refill is not None else 0.0
                    if retry_after is None or retry_after < refill_wait:
                        retry_after = refill_wait or retry_after
                    failure = RateLimited(
                        f"{self.platform} is limiting requests ({operation}): still busy after "
                        f"{attempt} attempts.",
                        retry_after=retry_after,
                    )
                else:
                    failure = PlatformUnavailable(
                        f"{self.platform} answered with a server error {response.status_code} "
                        f"({operation}, {attempt} attempts)."
                    )
                response.close()
            delay = self._jitter(retry_after) if retry_after is not None else self._backoff(attempt)
            # Slept time counts even when `sleep` is not the real one (tests); elapsed time counts
            # the attempts themselves (a platform timing out five times is not worth waiting for).
            spent = max(waited, time.monotonic() - started)
            deadline = self.retry.max_total_wait
            if refill is not None:
                deadline = max(deadline, 1.2 * refill() + self.retry.max_delay)
            if attempt >= self.retry.max_attempts or spent + delay > deadline:
                if isinstance(failure, RateLimited) and failure.retry_after:
                    raise RateLimited(
                        f"{self.platform} is limiting requests ({operation}) and its quota comes back "
                        f"in about {_duration(failure.retry_after)}: try again then.",
                        retry_after=failure.retry_after,
                    )
                raise failure
            logger.info(
                "%s %s: retrying in %.2fs (attempt %d): %s", self.platform, operation, delay, attempt, failure
            )
            self._sleep(delay)
            waited += delay

    def json(self, response: httpx.Response, operation: str) -> Any:
        """The response's JSON body; an HTML page or garbage becomes `BadResponse`."""
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            kind = response.headers.get("Content-Type", "unknown content").split(";")[0].strip()
            raise BadResponse(
                f"{self.platform} answered {operation} with something that is not JSON "
                f"(HTTP {response.status_code}, {kind or 'no content type'})."
            ) from None

    def stream(
        self,
        url: str,
        *,
        operation: str,
        before_attempt: Callable[[], object] | None = None,
        chunk_size: int = 256 * 1024,
        on_response: Callable[[httpx.Response], object] | None = None,
    ) -> Iterator[bytes]:
        """Download `url` in chunks, retrying only until the first byte arrives.

        The connection is held while the caller iterates; closing the iterator releases it.
        `on_response` sees the accepted response (its headers) before the first chunk.
        """
        started = time.monotonic()
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            if before_attempt is not None:
                before_attempt()
            request = self.client.build_request("GET", url)
            try:
                response = self.client.send(request, stream=True)
            except httpx.TransportError as exc:
                failure: Exception = PlatformUnavailable(
                    f"Could not download the {self.platform} report document ({operation}, "
                    f"{attempt} attempts)."
                )
                if isinstance(exc, httpx.TimeoutException):
                    failure = PlatformUnavailable(
                        f"{self.platform} did not send the report document in time ({operation})."
                    )
                retry_after = None
            else:
                if response.status_code < 400:
                    break
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                status = response.status_code
                response.close()
                if status not in RETRYABLE_STATUSES:
                    raise BadResponse(
                        f"{self.platform} refused the report document download (HTTP {status}); "
                        "request a new report."
                    )
                failure = PlatformUnavailable(
                    f"{self.platform} answered the report document download with HTTP {status} "
                    f"({attempt} attempts)."
                )
            delay = self._jitter(retry_after) if retry_after is not None else self._backoff(attempt)
            # Slept time counts even when `sleep` is not the real one (tests); elapsed time counts
            # the attempts themselves (a platform timing out five times is not worth waiting for).
            spent = max(waited, time.monotonic() - started)
            if attempt >= self.retry.max_attempts or spent + delay > self.retry.max_total_wait:
                raise failure
            self._sleep(delay)
            waited += delay
        if on_response is not None:
            on_response(response)
        try:
            yield from response.iter_bytes(chunk_size)
        except httpx.TransportError:
            raise BadResponse(
                f"The {self.platform} report document download broke off ({operation}); request a new report."
            ) from None
        finally:
            response.close()
