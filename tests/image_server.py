"""The image host for tests: a real threaded HTTP server on 127.0.0.1 serving pictures made with Pillow.

It serves what sellers' links really lead to: good pictures, every colour mode platforms choke on,
cut-off files, web pages instead of pictures, missing files, redirect chains (fine, too long, and
into the internal network), a decompression bomb, bodies that never end (with and without a
lying Content-Length) and servers too slow to answer. Streaming routes count the bytes they
managed to send, so tests can show the checker stopped reading.
"""

from __future__ import annotations

import io
import ssl
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image, ImageCms, ImageDraw

from handlers.image_check import FetchPolicy

CHUNK = 64 * 1024


# -- pictures --------------------------------------------------------------------------------------


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _srgb_to_lab(red: float, green: float, blue: float) -> tuple[float, float, float]:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = linear(red), linear(green), linear(blue)
    # sRGB to XYZ adapted to D50 (the ICC connection space), then CIELAB.
    x = 0.4360747 * r + 0.3850649 * g + 0.1430804 * b
    y = 0.2225045 * r + 0.7168786 * g + 0.0606169 * b
    z = 0.0139322 * r + 0.0971045 * g + 0.7141733 * b

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x / 0.9642), f(y / 1.0), f(z / 0.8249)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def make_cmyk_icc_profile(description: str, cyan_as: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> bytes:
    """A tiny but valid ICC v2 CMYK profile (lut8 A2B0) whose pure cyan prints as `cyan_as` (sRGB 0-1).

    Real press profiles are megabytes and licensed; this one is made here so a test can tell a
    conversion through the embedded profile (cyan becomes blue) from the standard one (cyan).
    """
    clut = bytearray()
    for c in (0, 1):
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    rgb = (
                        cyan_as
                        if (c, m, y, k) == (1, 0, 0, 0)
                        else ((1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k))
                    )
                    lightness, a, b = _srgb_to_lab(*rgb)
                    clut += bytes(
                        max(0, min(255, round(v))) for v in (lightness * 255 / 100, a + 128, b + 128)
                    )
    identity = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    ramp = bytes(range(256))
    ascii_text = description.encode("ascii") + b"\0"
    tags = [
        (
            b"desc",
            b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(8 + 2 + 1 + 67),
        ),
        (b"wtpt", b"XYZ " + bytes(4) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)),
        (b"cprt", b"text" + bytes(4) + b"Test data\0"),
        (b"A2B0", b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + identity + ramp * 4 + bytes(clut) + ramp * 3),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = (
        struct.pack(">I", offset + len(data))
        + b"lcms"
        + bytes([2, 0x10, 0, 0])
        + b"prtrCMYKLab "
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + bytes(48)
    )
    return header + table + data


def _photo(size: tuple[int, int]) -> Image.Image:
    """An RGB picture with gradients and shapes, so encoders have real work to do."""
    width, height = size
    horizontal = Image.linear_gradient("L").resize(size)
    vertical = Image.linear_gradient("L").rotate(90).resize(size)
    image = Image.merge("RGB", (horizontal, vertical, Image.new("L", size, 90)))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill=(200, 30, 40))
    return image


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def _png_with_header_size(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR claims another size: the shape of a decompression bomb."""
    data = bytearray(_encode(Image.new("L", (8, 8), 0), "PNG"))
    ihdr = data[12:29]
    patched = ihdr[:4] + struct.pack(">II", width, height) + ihdr[12:]
    data[12:29] = patched
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(patched)))
    return bytes(data)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _rgb48_png(width: int, height: int) -> bytes:
    """A 16-bits-per-channel RGB PNG (Pillow only writes 8-bit RGB, so it is assembled here)."""
    row = b"\x00" + b"\xff\xff\x00\x00\x80\x00" * width  # filter byte, then red-ish pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(row * height))
        + _png_chunk(b"IEND", b"")
    )


def make_sample_images() -> dict[str, tuple[bytes, str]]:
    """Every picture the image host serves: path -> (bytes, content type)."""
    photo = _photo((1200, 900))
    cmyk = Image.new("CMYK", (1200, 900), (0, 0, 0, 0))
    ImageDraw.Draw(cmyk).rectangle((0, 0, 599, 899), fill=(255, 0, 0, 0))  # left half pure cyan
    rgba = Image.new("RGBA", (1000, 1000), (255, 0, 0, 0))  # left half fully transparent red
    ImageDraw.Draw(rgba).rectangle((500, 0, 999, 999), fill=(0, 0, 255, 255))
    sixteen = Image.linear_gradient("L").resize((1024, 1024)).convert("I").point(lambda v: v * 256)
    sixteen = sixteen.convert("I;16")
    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE)
    jpeg = _encode(photo, "JPEG", quality=90)
    png = _encode(photo, "PNG")
    srgb_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    images = {
        "/rgb.jpg": (jpeg, "image/jpeg"),
        "/rgb.png": (png, "image/png"),
        "/small.jpg": (_encode(_photo((300, 200)), "JPEG"), "image/jpeg"),
        "/progressive.jpg": (_encode(photo, "JPEG", progressive=True), "image/jpeg"),
        "/srgb-icc.jpg": (_encode(photo, "JPEG", icc_profile=srgb_icc), "image/jpeg"),
        "/cmyk.jpg": (_encode(cmyk, "JPEG", quality=95), "image/jpeg"),
        "/cmyk-icc.jpg": (
            _encode(cmyk, "JPEG", quality=95, icc_profile=make_cmyk_icc_profile("Test press CMYK")),
            "image/jpeg",
        ),
        "/cmyk.tif": (_encode(cmyk, "TIFF"), "image/tiff"),
        "/palette.png": (_encode(palette, "PNG"), "image/png"),
        "/palette.gif": (_encode(palette, "GIF"), "image/gif"),
        "/gray.jpg": (_encode(photo.convert("L"), "JPEG"), "image/jpeg"),
        # Transparency without an alpha channel: a palette index, a gray level, an RGB colour.
        "/palette-trns.png": (_encode(palette, "PNG", transparency=bytes([0, 128, 200])), "image/png"),
        "/gray-trns.png": (_encode(photo.convert("L"), "PNG", transparency=0), "image/png"),
        "/rgb-trns.png": (_encode(photo, "PNG", transparency=(200, 30, 40)), "image/png"),
        "/la.png": (_encode(rgba.convert("LA"), "PNG"), "image/png"),
        "/rgba.png": (_encode(rgba, "PNG"), "image/png"),
        "/16bit.png": (_encode(sixteen, "PNG"), "image/png"),
        "/16bit.tif": (_encode(sixteen, "TIFF"), "image/tiff"),
        "/rgb48.png": (_rgb48_png(1200, 800), "image/png"),
        "/truncated.jpg": (jpeg[: len(jpeg) * 6 // 10], "image/jpeg"),
        "/truncated.png": (png[: len(png) * 6 // 10], "image/png"),
        "/corrupt.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png"),
        "/bomb.png": (_png_with_header_size(100_000, 100_000), "image/png"),
        "/bigpixels.png": (_png_with_header_size(8000, 8000), "image/png"),
        # Between Pillow's own limit (~89 MP) and twice it Pillow only warns: 100 MP.
        "/warnpixels.png": (_png_with_header_size(10_000, 10_000), "image/png"),
        "/page.html": (
            b"<!DOCTYPE html><html><head><title>Product</title></head><body><img src=a.jpg></body></html>",
            "text/html; charset=utf-8",
        ),
        "/data.json": (b'{"error": "image not found"}', "application/json"),
        "/drawing.svg": (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
            "image/svg+xml",
        ),
        "/empty.jpg": (b"", "image/jpeg"),
    }
    return images


# -- the server ------------------------------------------------------------------------------------


@dataclass
class ImageServer:
    """The running image host: URLs, per-route counters and a policy that may reach it."""

    base_url: str
    host: str
    port: int
    images: dict[str, tuple[bytes, str]]
    sent: dict[str, int] = field(default_factory=dict)  # bytes streamed per path
    finished: dict[str, threading.Event] = field(default_factory=dict)  # streaming path ended
    requests: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)  # each request's headers, lower-cased
    lock: threading.Lock = field(default_factory=threading.Lock)
    # /gate/N waits here until `parties` requests are in flight together: proof of concurrency
    # without measuring time. `peak` is the most requests seen in flight at once.
    gate: threading.Barrier | None = None
    in_flight: int = 0
    peak: int = 0
    # Seconds every picture waits before it is sent: a far-away host, for the benchmark.
    latency: float = 0.0
    # Seconds between two bytes of /drip-head's status line and headers, and before each
    # /slow-hops redirect answers.
    drip_every: float = 0.05
    hop_wait: float = 0.3

    def url(self, path: str) -> str:
        return self.base_url + path

    def policy(self, **overrides: Any) -> FetchPolicy:
        """A policy that allows this server (127.0.0.1) and uses short timeouts for tests."""
        base = FetchPolicy(allow=("127.0.0.1",), connect_timeout=2.0, read_timeout=0.5, total_timeout=5.0)
        return replace(base, **overrides)

    def reset(self) -> None:
        with self.lock:
            self.sent.clear()
            self.finished.clear()
            self.requests.clear()
            self.headers.clear()
            self.gate = None
            self.drip_every, self.hop_wait = 0.05, 0.3
            self.in_flight = self.peak = 0

    def finished_event(self, path: str) -> threading.Event:
        with self.lock:
            return self.finished.setdefault(path, threading.Event())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the benchmark opens many connections at once
    state: ImageServer
    stop: threading.Event

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A checker hanging up on a slow or oversized answer is what the tests want, not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it
        pass

    def do_GET(self) -> None:  # noqa: N802 - the base class names it
        state = self.server.state
        path = self.path.split("?", 1)[0]
        with state.lock:
            state.requests.append(path)
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
        route = _ROUTES.get(path) or _prefix_route(path)
        if route is not None:
            route(self, path)
            return
        if path in state.images:
            if state.latency:
                self.server.stop.wait(state.latency)
            body, content_type = state.images[path]
            self._send(200, body, content_type)
            return
        self._send(404, b"<html><body>Not found</body></html>", "text/html")

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str, status: int = 302) -> None:
        self._send(status, b"", "text/plain", {"Location": location})

    def stream(self, path: str, headers: dict[str, str], chunked: bool) -> None:
        """Send bytes until the client hangs up (or the server stops); count what was sent."""
        state = self.server.state
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        for name, value in headers.items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = b"\xff" * CHUNK
        frame = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
        try:
            while not self.server.stop.is_set():
                self.wfile.write(frame)
                with state.lock:
                    state.sent[path] = state.sent.get(path, 0) + len(block)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            state.finished_event(path).set()
            self.close_connection = True


def _hops(handler: _Handler, path: str) -> None:
    # /hops/N: N more redirects, then the picture; relative and absolute Locations alternate.
    remaining = int(path.rsplit("/", 1)[1])
    if remaining <= 0:
        handler.redirect("/rgb.jpg", 301)
        return
    target = f"/hops/{remaining - 1}"
    host = handler.server.state.base_url
    handler.redirect(target if remaining % 2 else host + target, 307 if remaining % 3 == 0 else 302)


def _gate(handler: _Handler, path: str) -> None:
    state = handler.server.state
    with state.lock:
        state.in_flight += 1
        state.peak = max(state.peak, state.in_flight)
        gate = state.gate
    try:
        if gate is not None:
            gate.wait()
        body, content_type = state.images["/small.jpg"]
        handler._send(200, body, content_type)
    except threading.BrokenBarrierError:
        handler._send(503, b"not enough requests arrived together", "text/plain")
    finally:
        with state.lock:
            state.in_flight -= 1


def _slow(handler: _Handler, path: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "image/jpeg")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(b"\xff\xd8\xff")
    handler.wfile.flush()
    handler.server.stop.wait(5.0)  # far past the tests' read timeout
    handler.close_connection = True


def _drip(handler: _Handler, path: str) -> None:
    # Never silent long enough for a read timeout, but never done: only a total deadline ends it.
    handler.send_response(200)
    handler.send_header("Content-Type", "image/jpeg")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    try:
        while not handler.server.stop.wait(0.05):
            handler.wfile.write(b"1\r\n\xff\r\n")
            handler.wfile.flush()
    except OSError:
        pass
    handler.close_connection = True


def _drip_head(handler: _Handler, path: str) -> None:
    # A whole answer whose status line and headers come one byte at a time, never silent long
    # enough for a read timeout: only a deadline over the whole fetch (not only the body) stops
    # the check before the last header byte, `drip_every * len(head)` seconds later.
    state = handler.server.state
    body = state.images["/small.jpg"][0]
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {len(body)}\r\nX-Padding: {'a' * 40}\r\n\r\n"
    ).encode()
    try:
        for byte in head:
            if handler.server.stop.wait(state.drip_every):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
        handler.wfile.write(body)
    except OSError:
        pass
    finally:
        state.finished_event(path).set()
        handler.close_connection = True


def _slow_hops(handler: _Handler, path: str) -> None:
    # /slow-hops/N: each hop waits `hop_wait` (a slow server, but inside any read timeout).
    remaining = int(path.rsplit("/", 1)[1])
    handler.server.stop.wait(handler.server.state.hop_wait)
    handler.redirect(f"/slow-hops/{remaining - 1}" if remaining > 0 else "/small.jpg")


def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes, gzip-compressed (67 MB of zeros make about 65 KB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(CHUNK * 16)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + packer.flush()


def _encoded(handler: _Handler, path: str) -> None:
    # /encoded/<coding>/<picture>: the picture sent with a Content-Encoding nobody asked for.
    coding, name = path.removeprefix("/encoded/").split("/", 1)
    state = handler.server.state
    if name == "bomb":
        body = state.images.get("/gzip-bomb", (b"", ""))[0]
    else:
        picture = state.images["/" + name][0]
        body = zlib.compress(picture) if coding == "deflate" else _gzip(picture)
    handler._send(200, body, "image/jpeg", {"Content-Encoding": coding})


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


_ROUTES: dict[str, Callable[[_Handler, str], None]] = {
    "/redirect/private": lambda h, p: h.redirect("http://10.0.0.1/product.jpg"),
    "/redirect/metadata": lambda h, p: h.redirect("http://169.254.169.254/latest/meta-data/", 301),
    "/redirect/mapped": lambda h, p: h.redirect("http://[::ffff:10.0.0.1]/product.jpg"),
    "/redirect/file": lambda h, p: h.redirect("file:///etc/passwd"),
    "/endless": lambda h, p: h.stream(p, {}, chunked=True),
    "/endless/lying-length": lambda h, p: h.stream(p, {"Content-Length": "1000"}, chunked=False),
    "/endless/declared-20mb": lambda h, p: h.stream(
        p, {"Content-Length": str(20 * 1024 * 1024)}, chunked=False
    ),
    "/declared-2gb": lambda h, p: h.stream(p, {"Content-Length": str(2 * 1024**3)}, chunked=False),
    "/slow": _slow,
    "/drip": _drip,
    "/drip-head": _drip_head,
}


def _prefix_route(path: str) -> Callable[[_Handler, str], None] | None:
    if path.startswith("/hops/") and path.rsplit("/", 1)[1].isdigit():
        return _hops
    if path.startswith("/gate/"):
        return _gate
    if path.startswith("/slow-hops/") and path.rsplit("/", 1)[1].isdigit():
        return _slow_hops
    if path.startswith("/encoded/") and path.count("/") >= 3:
        return _encoded
    return None


def start_image_server(
    images: dict[str, tuple[bytes, str]], *, tls: ssl.SSLContext | None = None
) -> tuple[ImageServer, Callable[[], None]]:
    """Start the host on 127.0.0.1 (ephemeral port); returns it and a function that stops it.

    With `tls`, it speaks HTTPS with that server context.
    """
    server = _Server(("127.0.0.1", 0), _Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    port = int(server.server_address[1])
    scheme = "https" if tls is not None else "http"
    state = ImageServer(base_url=f"{scheme}://127.0.0.1:{port}", host="127.0.0.1", port=port, images=images)
    server.state = state
    server.stop = threading.Event()
    thread = threading.Thread(target=server.serve_forever, name="image-server", daemon=True)
    thread.start()

    def stop() -> None:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return state, stop


@pytest.fixture(scope="session")
def sample_images() -> dict[str, tuple[bytes, str]]:
    images = make_sample_images()
    images["/gzip-bomb"] = (gzip_bomb(67 * 1024 * 1024), "application/octet-stream")
    return images


@pytest.fixture(scope="session")
def image_server(sample_images: dict[str, tuple[bytes, str]]) -> Iterator[ImageServer]:
    """The image host, shared by a test session (its counters are reset per test by `image_host`)."""
    state, stop = start_image_server(sample_images)
    yield state
    stop()


@pytest.fixture
def image_host(image_server: ImageServer) -> ImageServer:
    """The image host with fresh counters."""
    image_server.reset()
    return image_server
