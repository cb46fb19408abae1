"""Network pieces of the image check that keep a whole fetch inside one time and memory budget.

httpx's timeouts apply to each network operation: a server that sends its status line and headers
one byte a second never lets a read time out, and each redirect hop starts a fresh clock. Here
every connect, TLS handshake, write and read is given at most what is left of the fetch's own
deadline, so connecting, the status line, the headers, every redirect hop and the body share one
budget. The DNS lookup (which the standard library cannot time out) runs on a small resolver pool
and is waited for with its own timeout. A body that arrives compressed although we asked for
`identity` is inflated in bounded steps, so the byte cap holds for what lands in memory.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

# Content codings we can inflate under the cap; anything else is refused unread.
INFLATABLE = frozenset({"gzip", "x-gzip", "deflate"})
_INFLATE_STEP = 64 * 1024


class FetchDeadline:
    """The deadline of the fetch running on the current thread (each check runs on one thread)."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def until(self, deadline: float) -> Iterator[None]:
        """Run the block's network operations under `deadline` (a `time.monotonic()` value)."""
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = deadline
        try:
            yield
        finally:
            self._local.deadline = previous

    def bound(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """`timeout` cut to what is left of the deadline; raises `expired` once nothing is left."""
        deadline: float | None = getattr(self._local, "deadline", None)
        if deadline is None:
            return timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise expired("the fetch's deadline passed")
        return left if timeout is None else min(timeout, left)

    def left(self) -> float | None:
        deadline: float | None = getattr(self._local, "deadline", None)
        return None if deadline is None else deadline - time.monotonic()


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: FetchDeadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        # The socket timeout applies to each handshake read; a server dripping its handshake
        # would still stretch it, so the socket is shut when the deadline passes mid-handshake.
        sock = self._inner.get_extra_info("socket")
        watchdog = None
        left = self._deadline.left()
        if isinstance(sock, socket.socket) and left is not None:
            watchdog = threading.Timer(max(left, 0.0), _shut, args=(sock,))
            watchdog.daemon = True
            watchdog.start()
        try:
            upgraded = self._inner.start_tls(ssl_context, server_hostname, bounded)
        finally:
            if watchdog is not None:
                watchdog.cancel()
        return _DeadlineStream(upgraded, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv; close() would not
    except OSError:
        pass


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadline: FetchDeadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, bounded, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("picture fetches never use local sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport, with every network operation kept inside the current fetch's deadline."""

    def __init__(
        self, deadline: FetchDeadline, *, verify: ssl.SSLContext | bool = True, limits: httpx.Limits
    ) -> None:
        super().__init__(verify=verify, trust_env=False, limits=limits)
        # httpx builds its connection pool without a way to pass a network backend; the pool is
        # rebuilt the same way with ours (httpx's `_pool` is the one private name relied on).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(deadline),
        )


class Resolver:
    """getaddrinfo with a timeout: the lookup runs on a few threads of its own and is waited for.

    A lookup that hangs keeps one resolver thread until the system gives up, but never the check.
    """

    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-dns")

    def lookup(self, host: str, port: int, timeout: float) -> list[Any]:
        """The addresses of `host`; raises TimeoutError after `timeout`, OSError when it fails."""
        future = self._pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            return future.result(timeout=max(timeout, 0.0))
        except FutureTimeout as exc:
            future.cancel()
            raise TimeoutError(f"DNS lookup of {host} took longer than {timeout:g} s") from exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class TooLarge(Exception):
    """The body (raw, or inflated) passed the cap; `received` is how far it got."""

    def __init__(self, received: int) -> None:
        super().__init__(received)
        self.received = received


class BodyReader:
    """Collects a body from raw chunks: raw bytes are counted against the cap before any decoding,
    and a gzip or deflate body (which we did not ask for) is inflated in steps under the same cap.
    """

    def __init__(self, cap: int, coding: str) -> None:
        self.cap = cap
        self.raw = 0
        self.size = 0
        self._chunks: list[bytes] = []
        # wbits 47 reads gzip and zlib headers alike; some servers send raw deflate as "deflate".
        self._inflater = zlib.decompressobj(47) if coding in INFLATABLE else None
        self._raw_deflate = False

    def feed(self, chunk: bytes) -> None:
        self.raw += len(chunk)
        if self.raw > self.cap:
            raise TooLarge(self.raw)
        if self._inflater is None:
            self._keep(chunk)
            return
        data = chunk
        while data:
            try:
                out = self._inflater.decompress(data, _INFLATE_STEP)
            except zlib.error:
                if self._raw_deflate or self.size:
                    raise
                # "deflate" without the zlib header: start again reading raw deflate.
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                self._raw_deflate = True
                continue
            self._keep(out)
            data = self._inflater.unconsumed_tail
            if self._inflater.eof:
                break

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.cap:
            raise TooLarge(self.size)
        if data:
            self._chunks.append(data)

    def body(self) -> bytes:
        return b"".join(self._chunks)
