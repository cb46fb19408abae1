"""HTTP mode: a small WSGI app around Bolt, served by waitress (threads suit Bolt's sync App).

Routes: POST /slack/events (events, commands, interactivity), GET /healthz, and
GET /slack/install + /slack/oauth_redirect when OAuth installs are configured.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.slack.edge import Refusal, SlackEdge
from bot.slack.pacing import ack_gate_of

if TYPE_CHECKING:
    from waitress.server import BaseWSGIServer, MultiSocketServer

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]

# Acks are short and mostly Python, so beyond a few threads they only take turns at the GIL: with
# 16, a burst of 20 signed commands had a p99 about a third longer than with 8 (bench/scale.py).
# Eight still overlap the acks' database and broker round trips; lazy listeners run on Bolt's own
# executor, and waitress queues anything beyond.
SERVER_THREADS = 8
MAX_BODY = 1024 * 1024  # Slack payloads are small; a megabyte is already generous


class SellerDeskWSGI:
    """The WSGI application: health check, then Bolt for everything Slack sends."""

    def __init__(self, app: App, engine: Engine) -> None:
        self.bolt = SlackRequestHandler(app)
        self.engine = engine
        self.gate = ack_gate_of(app)
        # Bolt checks signatures too, but only after parsing the body; the edge checks first.
        # Bolt keeps the secret it was built with only in this attribute.
        self.edge = SlackEdge(str(getattr(app, "_signing_secret", "") or ""))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method == "GET":
            return self._health(start_response)
        if method == "POST":
            refusal = self._checked(environ)
            if refusal is not None:
                log.warning("refused a request to %s: %s", path[:100], refusal.reason)
                body = refusal.reason.encode()
                start_response(
                    refusal.status_line, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
                )
                return [body]
        if self.gate is None:
            return self.bolt(environ, start_response)
        # From the request's arrival to its answer, slow checks about to start hold back.
        self.gate.enter()
        try:
            return self.bolt(environ, start_response)
        finally:
            self.gate.leave()

    def _checked(self, environ: dict[str, Any]) -> Refusal | None:
        """Read the body (bounded) and check it at the edge; Bolt then reads the same bytes."""
        declared = str(environ.get("CONTENT_LENGTH") or "0").strip()
        if not declared.isdigit():
            return Refusal(400, "malformed Content-Length")
        if int(declared) > MAX_BODY:
            return Refusal(413, f"request of {declared} bytes, over the {MAX_BODY:,} byte limit")
        body = environ["wsgi.input"].read(int(declared)) if int(declared) else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        headers["content-type"] = str(environ.get("CONTENT_TYPE", ""))
        return self.edge.refusal(headers, body)

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            database = True
        except Exception as exc:  # the probe reports the failure; the details go to the log
            log.warning("health check: database unreachable: %s", type(exc).__name__)
            database = False
        body = json.dumps({"ok": database, "database": database}).encode()
        status = "200 OK" if database else "503 Service Unavailable"
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class ServerRunner:
    """Runs a waitress server until `stop()`; closing the socket ends waitress's loop with EBADF."""

    def __init__(self, server: BaseWSGIServer | MultiSocketServer) -> None:
        self.server = server
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            self.server.run()
        except OSError:
            if not self._stopping.is_set():
                raise
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.server.close()

    def stop(self) -> None:
        self._stopping.set()
        self.server.close()
        self.server.task_dispatcher.shutdown(timeout=5)


def make_server(
    app: App, engine: Engine, *, host: str, port: int, loop_timeout: float = 1.0
) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server (not yet running); `port=0` picks a free port (`server.effective_port`).

    `loop_timeout` is how often waitress's loop wakes up: also how long `stop()` may take.
    """
    from waitress.server import create_server

    return create_server(
        SellerDeskWSGI(app, engine),
        host=host,
        port=port,
        threads=SERVER_THREADS,
        max_request_body_size=MAX_BODY,
        ident="sellerdesk",
        asyncore_loop_timeout=loop_timeout,
    )
