"""Rate limits, retries and error translation of the shared HTTP layer, over a real local server."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from erp.platforms.base import BadResponse, PlatformUnavailable, RateLimited
from erp.platforms.http import PlatformHttp, RetryPolicy, make_http_client, parse_retry_after
from erp.platforms.ratelimit import RateLimit, RateLimiter, TokenBucket, limits_from_options
from erp.sandbox.httpserver import SandboxRequest, SandboxResponse, SandboxServer


class FakeClock:
    """A clock that only moves when something sleeps: waits are computed, never slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_bucket_allows_the_burst_then_spaces_calls_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(RateLimit(rate=0.5, burst=3), clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(2.0)
    assert waits[4] == pytest.approx(2.0)
    # After a quiet minute the bucket is full again, but never above its burst.
    clock.now += 60
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire() == pytest.approx(2.0)


def test_reservations_queue_callers_instead_of_letting_them_overrun() -> None:
    clock = FakeClock()
    bucket = TokenBucket(RateLimit(rate=1.0, burst=1), clock=clock, sleep=clock.sleep)
    # Three callers arriving at the same instant wait 0, 1 and 2 seconds: one call per second.
    assert [bucket.reserve() for _ in range(3)] == [0.0, pytest.approx(1.0), pytest.approx(2.0)]


def test_limiter_keeps_one_bucket_per_store_and_operation() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    limit = RateLimit(rate=1.0, burst=1)
    assert limiter.acquire(1, "getOrders", limit) == 0.0
    assert limiter.acquire(2, "getOrders", limit) == 0.0  # another store has its own allowance
    assert limiter.acquire(1, "getOrder", limit) == 0.0  # and so has another operation
    assert limiter.acquire(1, "getOrders", limit) == pytest.approx(1.0)


def test_store_options_adjust_the_published_limits() -> None:
    defaults = {"getOrders": RateLimit(0.0167, 20), "getOrder": RateLimit(0.5, 30)}
    limits = limits_from_options(
        defaults, {"rate_limit_scale": 100, "rate_limits": {"getOrder": [5, 2], "bad": "x", "neg": [-1, 1]}}
    )
    assert limits["getOrders"].rate == pytest.approx(1.67) and limits["getOrders"].burst == 20
    assert limits["getOrder"] == RateLimit(5.0, 2)
    assert "bad" not in limits and "neg" not in limits
    assert limits_from_options(defaults, {"rate_limit_scale": "fast"}) == defaults


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == pytest.approx(
        30
    )
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    def route(request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json({"ok": True, "path": request.path})

    server = SandboxServer(route, name="test-server")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(read_timeout=2.0) as client:
        yield client


def _http(client: httpx.Client, clock: FakeClock, **policy: float) -> PlatformHttp:
    return PlatformHttp(client, "Amazon", retry=RetryPolicy(**policy), sleep=clock.sleep, seed=1)  # type: ignore[arg-type]


def test_429_is_retried_after_the_time_the_platform_asks_for(
    server: SandboxServer, client: httpx.Client
) -> None:
    clock = FakeClock()
    server.faults.fail_next(2, status=429, retry_after=1.5)
    response = _http(client, clock).send("GET", f"{server.base_url}/orders", operation="getOrders")
    assert response.status_code == 200
    assert server.count("/orders") == 3
    assert len(clock.sleeps) == 2
    assert all(1.5 <= s <= 1.65 for s in clock.sleeps)  # Retry-After plus at most 10 % jitter


def test_5xx_backs_off_exponentially_then_gives_up(server: SandboxServer, client: httpx.Client) -> None:
    clock = FakeClock()
    server.faults.fail_next(10, status=503)
    with pytest.raises(PlatformUnavailable) as caught:
        _http(client, clock, max_attempts=4, base_delay=1.0).send(
            "GET", f"{server.base_url}/x", operation="getOrders"
        )
    assert "server error 503" in str(caught.value) and "getOrders" in str(caught.value)
    assert server.count("/x") == 4
    assert len(clock.sleeps) == 3
    assert all(0.5 * 2**i <= s <= 2**i for i, s in enumerate(clock.sleeps))


def test_a_wait_beyond_the_budget_fails_at_once_with_the_advice(
    server: SandboxServer, client: httpx.Client
) -> None:
    clock = FakeClock()
    server.faults.fail_next(1, status=429, retry_after=120)
    with pytest.raises(RateLimited) as caught:
        _http(client, clock, max_total_wait=60).send("GET", f"{server.base_url}/x", operation="getOrders")
    assert caught.value.retry_after == 120
    assert server.count("/x") == 1 and clock.sleeps == []


def test_timeouts_are_retried_then_reported(server: SandboxServer) -> None:
    clock = FakeClock()
    server.faults.slow(0.3)
    with make_http_client(read_timeout=0.05) as client, pytest.raises(PlatformUnavailable) as caught:
        _http(client, clock, max_attempts=2).send("GET", f"{server.base_url}/slow", operation="getOrders")
    assert "did not answer in time" in str(caught.value)
    assert server.count("/slow") == 2


def test_connection_refused_is_reported(client: httpx.Client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = FakeClock()
    with pytest.raises(PlatformUnavailable) as caught:
        _http(client, clock, max_attempts=2).send("GET", f"http://127.0.0.1:{port}/x", operation="getOrder")
    assert "Could not connect to Amazon" in str(caught.value)


def test_a_dropped_connection_is_retried(server: SandboxServer, client: httpx.Client) -> None:
    clock = FakeClock()
    server.faults.cut_next(1, path="/orders")
    http = _http(client, clock)
    response = http.send("GET", f"{server.base_url}/orders", operation="getOrders")
    assert http.json(response, "getOrders") == {"ok": True, "path": "/orders"}
    assert server.count("/orders") == 2
    server.faults.cut_next(5, path="/orders")
    with pytest.raises(PlatformUnavailable, match="broke off"):
        _http(client, clock, max_attempts=3).send("GET", f"{server.base_url}/orders", operation="getOrders")


def test_html_instead_of_json_is_a_bad_response(server: SandboxServer, client: httpx.Client) -> None:
    clock = FakeClock()
    server.faults.html_next(1)
    http = _http(client, clock)
    response = http.send("GET", f"{server.base_url}/orders", operation="getOrders")
    with pytest.raises(BadResponse) as caught:
        http.json(response, "getOrders")
    assert "not JSON" in str(caught.value) and "text/html" in str(caught.value)


def test_request_logs_never_carry_query_strings(
    server: SandboxServer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _http(client, FakeClock()).send(
        "GET",
        f"{server.base_url}/api",
        operation="x",
        params={"access_token": "tok-secret-123", "sign": "abc"},
    )
    assert server.requests[-1].query["access_token"] == ["tok-secret-123"]
    assert "HTTP Request" in caplog.text
    assert "tok-secret-123" not in caplog.text
