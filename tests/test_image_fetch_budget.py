"""One budget for a whole picture fetch, and a byte cap that holds for compressed answers.

Against the real image host on 127.0.0.1: a server that drips its status line and headers, a
chain of slow redirects, and answers compressed although the checker asked for `identity`.
"""

from __future__ import annotations

import time
import tracemalloc

from handlers.image_check import ImageChecker, ImageVerdict
from tests.image_server import ImageServer


def test_headers_dripped_one_byte_at_a_time_stop_at_the_budget(image_host: ImageServer) -> None:
    # About 140 header bytes, one every 0.03 s: never quiet for the 0.5 s read timeout, done
    # only after ~4 s. The budget of 1 s covers the status line and headers too.
    image_host.drip_every = 0.03
    with ImageChecker(image_host.policy(read_timeout=0.5, total_timeout=1.0)) as checker:
        started = time.monotonic()
        result = checker.check(image_host.url("/drip-head"))
        elapsed = time.monotonic() - started
    assert result.verdict is ImageVerdict.UNREACHABLE
    assert "timed out" in result.detail and "1 s" in result.detail
    assert elapsed < 1.6, elapsed


def test_slow_redirect_hops_share_one_budget(image_host: ImageServer) -> None:
    # Five redirects, each answering after 0.4 s (inside the 0.5 s read timeout): 2.4 s in all, over
    # the 1 s budget that every hop shares.
    image_host.hop_wait = 0.4
    with ImageChecker(image_host.policy(read_timeout=0.5, total_timeout=1.0)) as checker:
        started = time.monotonic()
        result = checker.check(image_host.url("/slow-hops/4"))
        elapsed = time.monotonic() - started
    assert result.verdict is ImageVerdict.UNREACHABLE and "timed out" in result.detail
    assert elapsed < 1.6, elapsed
    assert len(image_host.requests) < 5  # it gave up part way along the chain


def test_a_gzip_bomb_never_buffers_past_the_cap(image_host: ImageServer) -> None:
    # 68 KB on the wire that inflate to 67 MB; the cap is 10 MB of what lands in memory.
    with ImageChecker(image_host.policy(max_bytes=10 * 1024 * 1024)) as checker:
        tracemalloc.start()
        try:
            result = checker.check(image_host.url("/encoded/gzip/bomb"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.verdict is ImageVerdict.TOO_LARGE, result.detail
    assert "more than 10 MB" in result.detail
    assert peak < 24 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    assert image_host.headers[-1]["accept-encoding"] == "identity"


def test_a_picture_compressed_without_being_asked_is_still_checked(image_host: ImageServer) -> None:
    with ImageChecker(image_host.policy()) as checker:
        gzipped = checker.check(image_host.url("/encoded/gzip/cmyk.jpg"))
        deflated = checker.check(image_host.url("/encoded/deflate/rgb.jpg"))
        brotli = checker.check(image_host.url("/encoded/br/rgb.jpg"))
    assert (gzipped.verdict, gzipped.mode) == (ImageVerdict.NOT_RGB, "CMYK")
    assert gzipped.bytes == len(image_host.images["/cmyk.jpg"][0])  # the picture, inflated
    assert deflated.verdict is ImageVerdict.OK, deflated.detail
    assert brotli.verdict is ImageVerdict.UNREACHABLE and "compressed (br)" in brotli.detail


def test_the_raw_bytes_count_against_the_cap(image_host: ImageServer) -> None:
    # The gzipped picture is a few hundred KB on the wire; a cap below that stops it unread.
    picture = len(image_host.images["/rgb.jpg"][0])
    with ImageChecker(image_host.policy(max_bytes=picture // 4)) as checker:
        result = checker.check(image_host.url("/encoded/gzip/rgb.jpg"))
    assert result.verdict is ImageVerdict.TOO_LARGE, result.detail


def test_a_tls_handshake_that_never_comes_stops_at_the_budget() -> None:
    import socket
    import threading

    from handlers.image_check import FetchPolicy

    # A host that accepts the connection and then says nothing: the TLS handshake waits on it.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                held.append(listener.accept()[0])
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    policy = FetchPolicy(allow=("127.0.0.1",), connect_timeout=5.0, read_timeout=5.0, total_timeout=1.0)
    try:
        with ImageChecker(policy) as checker:
            started = time.monotonic()
            result = checker.check(f"https://127.0.0.1:{port}/picture.jpg")
            elapsed = time.monotonic() - started
    finally:
        listener.close()
        for connection in held:
            connection.close()
    assert result.verdict is ImageVerdict.UNREACHABLE and "timed out" in result.detail, result.detail
    assert elapsed < 1.6, elapsed
