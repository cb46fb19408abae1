"""The demo image host: a real HTTP server on 127.0.0.1 serving the pictures the demo's flows check.

Each picture shows one thing that goes wrong with product images in real life: a CMYK JPEG the
platform cannot parse, a JPEG cut off mid-download (the "split" display), an HTML page where a
picture should be, a picture that is gone (404), and transparency. The pictures are drawn with
Pillow when the host starts, so nothing binary is shipped.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw

IMAGE_PATH = "/img/"


@dataclass(frozen=True)
class HostedFile:
    body: bytes
    content_type: str


def _draw(mode: str, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A product-like picture: a coloured box on a light background, in the given mode."""
    picture = Image.new("RGB", size, (245, 245, 240))
    pen = ImageDraw.Draw(picture)
    width, height = size
    pen.rectangle((width // 5, height // 5, width * 4 // 5, height * 4 // 5), fill=(30, 110, 200))
    pen.ellipse((width // 3, height // 3, width * 2 // 3, height * 2 // 3), fill=(240, 180, 40))
    if mode == "RGBA":
        rgba = picture.convert("RGBA")
        rgba.putalpha(Image.new("L", size, 180))
        return rgba
    return picture.convert(mode)


def _encode(picture: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    if image_format == "JPEG":
        picture.save(buffer, format=image_format, quality=90)
    else:
        picture.save(buffer, format=image_format)
    return buffer.getvalue()


def demo_files() -> dict[str, HostedFile]:
    """The demo pictures by file name (`missing.jpg` is left out on purpose: it answers 404)."""
    ok = _encode(_draw("RGB"), "JPEG")
    return {
        "ok.jpg": HostedFile(ok, "image/jpeg"),
        "cmyk.jpg": HostedFile(_encode(_draw("CMYK"), "JPEG"), "image/jpeg"),
        # The first half of a good JPEG: what a browser shows as a "split" picture.
        "split.jpg": HostedFile(ok[: len(ok) // 2], "image/jpeg"),
        "page.html": HostedFile(
            b"<!doctype html><html><head><title>Sign in</title></head>"
            b"<body><h1>Please sign in to view this file</h1></body></html>",
            "text/html; charset=utf-8",
        ),
        "alpha.png": HostedFile(_encode(_draw("RGBA"), "PNG"), "image/png"),
        "gray.png": HostedFile(_encode(_draw("L"), "PNG"), "image/png"),
    }


class DemoImageHost:
    """A threaded HTTP server on 127.0.0.1 (an ephemeral port) serving `/img/<name>`.

    Args:
        files: what to serve by name; the demo pictures when None.
    """

    def __init__(self, files: dict[str, HostedFile] | None = None) -> None:
        self._files = dict(files) if files is not None else None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self, port: int = 0) -> str:
        """Start serving on `port` (any free one by default); returns the base URL."""
        if self._server is not None:
            return self.base_url
        files = self._files if self._files is not None else demo_files()
        handler = type("DemoImageHandler", (_Handler,), {"files": files})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-image-host", daemon=True
        )
        self._thread.start()
        return self.base_url

    def url(self, name: str) -> str:
        """The full URL of a hosted picture (whether or not it exists)."""
        return f"{self.base_url}{IMAGE_PATH}{name}"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> DemoImageHost:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, HostedFile] = {}
    server_version = "SellerDeskDemoImages/1.0"

    def do_GET(self) -> None:  # noqa: N802  (the http.server method name)
        self._answer(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        hosted = self.files.get(path.removeprefix(IMAGE_PATH)) if path.startswith(IMAGE_PATH) else None
        if hosted is None:
            body = b"not found"
            self.send_response(HTTPStatus.NOT_FOUND)
            self.send_header("Content-Type", "text/plain")
        else:
            body = hosted.body
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", hosted.content_type)
            self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # Quiet: the demo runs beside the console, whose screen belongs to the seller.
        return
