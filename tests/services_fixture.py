"""Builders for the handler and conversation tests: a `Services` over the test's real database,
and small helpers that put a seller's data in place.

Parts a test does not exercise are `Unused` stand-ins that fail loudly when called, so a test can
never pass by accident through a part it did not set up.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import Session

from erp.models import Account, Store
from handlers.image_check import FetchPolicy, ImageChecker
from handlers.services import Services

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Unused:
    """A service the test did not set up: any use is a test error, not a silent pass."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the test did not set up {self._name} (called .{attribute})")


class FixedSchedule:
    """Schedule times for tests that show them: every job next runs at `at`."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def next_run(self, job: str, after: datetime | None = None) -> datetime | None:
        return self.at


def make_services(
    engine: Engine,
    *,
    export_dir: str,
    orders: Any = None,
    images: Any = None,
    reports: Any = None,
    connector_for: Callable[[Store], Any] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Services:
    """A `Services` over `engine`; the parts not given are `Unused`."""

    def no_connector(store: Store) -> Any:
        raise AssertionError(f"the test did not set up a connector for {store.name}")

    return Services(
        sessions=lambda: Session(engine, expire_on_commit=False),
        connector_for=connector_for or no_connector,
        orders=orders if orders is not None else Unused("order sync"),
        reports=reports if reports is not None else Unused("report refresh"),
        images=images if images is not None else Unused("image check"),
        schedule=FixedSchedule(NOW),
        clock=clock or (lambda: NOW),
        export_dir=export_dir,
    )


def add_account(session: Session, name: str) -> Account:
    account = Account(name=name, display_name=name.title())
    session.add(account)
    session.commit()
    session.refresh(account)
    return account


def add_store(
    session: Session,
    account: Account,
    name: str,
    *,
    platform: str = "amazon",
    endpoint: str = "",
    credentials: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Store:
    store = Store(
        account_id=account.id or 0,
        name=name,
        platform=platform,
        endpoint=endpoint,
        credentials=credentials or {},
        **(extra or {}),
    )
    session.add(store)
    session.commit()
    session.refresh(store)
    return store


def add_rows(session: Session, rows: Sequence[Any]) -> None:
    session.add_all(list(rows))
    session.commit()


# --- a picture host on 127.0.0.1 ----------------------------------------------------------------


def _jpeg(mode: str = "RGB", size: tuple[int, int] = (320, 240)) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _png(mode: str) -> bytes:
    image = Image.linear_gradient("L").resize((200, 200)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def picture_files() -> dict[str, tuple[str, bytes]]:
    """The demo's pictures, made with Pillow: name -> (content type, body)."""
    whole = _jpeg()
    return {
        "ok.jpg": ("image/jpeg", whole),
        "cmyk.jpg": ("image/jpeg", _jpeg("CMYK")),
        "split.jpg": ("image/jpeg", whole[: len(whole) * 2 // 3]),  # cut off mid-scan: displays "split"
        "page.html": ("text/html; charset=utf-8", b"<!doctype html><html><body>Not found</body></html>"),
        "alpha.png": ("image/png", _png("RGBA")),
        "gray.png": ("image/png", _png("L")),
    }


class PictureHost:
    """A real HTTP server on 127.0.0.1 serving `/img/<name>`; unknown names answer 404."""

    def __init__(self, files: dict[str, tuple[str, bytes]]) -> None:
        self.files = files
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                name = self.path.split("?", 1)[0].removeprefix("/img/")
                found = host.files.get(name)
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                content_type, body = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}/img/"

    def url(self, name: str) -> str:
        return self.base + name

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def running_picture_host() -> Iterator[PictureHost]:
    """The demo's pictures served on 127.0.0.1 for the duration of the block."""
    host = PictureHost(picture_files())
    try:
        yield host
    finally:
        host.close()


def loopback_image_checker() -> ImageChecker:
    """The real image check, allowed to reach a loopback picture host (close it when done)."""
    return ImageChecker(FetchPolicy(allow=("127.0.0.1",)), concurrency=4)
