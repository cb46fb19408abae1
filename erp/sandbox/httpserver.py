"""A small threaded HTTP server for the sandbox platforms, with fault injection and a request log.

Each sandbox is a plain function from `SandboxRequest` to `SandboxResponse`; this module turns it
into a real HTTP/1.1 server on 127.0.0.1 (port 0 by default: the system picks a free one) so the
connectors are exercised over real sockets, keep-alive and all. Faults (429 with `Retry-After`,
500, an HTML page instead of JSON, slow answers) are injected in front of the routing, for all
paths or those under a prefix.

`SandboxHost` serves many sandboxes from one port, each under its own path prefix, the way one
platform host serves every seller: thousands of simulated stores then need one listening thread,
not thousands.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable</title></head>"
    b"<body><h1>Service Temporarily Unavailable</h1><p>Please try again later.</p></body></html>"
)


class BadRequest(Exception):
    """Raised by a sandbox route to answer with the platform's error shape."""

    def __init__(self, response: SandboxResponse) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class SandboxRequest:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""

    def arg(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}


@dataclass
class SandboxResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    cut_at: int | None = None  # send only this many body bytes, then drop the connection
    injected: bool = False  # a fault answered, not the platform

    @classmethod
    def json(cls, data: object, status: int = 200, headers: dict[str, str] | None = None) -> SandboxResponse:
        return cls(status=status, body=json.dumps(data).encode(), headers=dict(headers or {}))


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Exchange:
    """One request and the answer the sandbox gave, for checking both against the platform's spec."""

    request: RecordedRequest
    status: int
    content_type: str
    body: bytes
    injected: bool  # a fault (429, 5xx, HTML page, cut-off body) put in front of the platform


@dataclass
class _Fault:
    remaining: int
    path: str
    status: int = 500
    retry_after: str | None = None
    html: bool = False


ErrorBody = Callable[[int], object]


def amazon_error_body(status: int) -> object:
    """SP-API's error shape for an injected 429 or 5xx."""
    if status == 429:
        return {
            "errors": [
                {"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}
            ]
        }
    return {"errors": [{"code": "InternalFailure", "message": "We encountered an internal error."}]}


class Faults:
    """Faults to inject, consumed request by request (thread-safe)."""

    def __init__(self, error_body: ErrorBody = amazon_error_body) -> None:
        self._error_body = error_body
        self._lock = threading.Lock()
        self._queue: list[_Fault] = []
        self._delays: dict[str, float] = {}
        self._cuts: list[_Fault] = []

    def fail_next(
        self, count: int = 1, *, status: int = 500, retry_after: float | None = None, path: str = ""
    ) -> None:
        """Answer the next `count` requests (under `path`) with `status` (and `Retry-After`)."""
        header = None if retry_after is None else f"{retry_after:g}"
        with self._lock:
            self._queue.append(_Fault(remaining=count, path=path, status=status, retry_after=header))

    def html_next(self, count: int = 1, *, status: int = 200, path: str = "") -> None:
        """Answer the next `count` requests with an HTML page, as a proxy or error page would."""
        with self._lock:
            self._queue.append(_Fault(remaining=count, path=path, status=status, html=True))

    def cut_next(self, count: int = 1, *, path: str = "") -> None:
        """Drop the connection halfway through the body of the next `count` answers (under `path`)."""
        with self._lock:
            self._cuts.append(_Fault(remaining=count, path=path))

    def take_cut(self, path: str) -> bool:
        """Whether the answer to `path` is to be cut off (consumes one cut)."""
        with self._lock:
            for fault in self._cuts:
                if fault.remaining > 0 and path.startswith(fault.path):
                    fault.remaining -= 1
                    self._cuts = [f for f in self._cuts if f.remaining > 0]
                    return True
        return False

    def slow(self, seconds: float, *, path: str = "") -> None:
        """Delay every answer under `path` by `seconds` (0 stops it)."""
        with self._lock:
            if seconds > 0:
                self._delays[path] = seconds
            else:
                self._delays.pop(path, None)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._delays.clear()
            self._cuts.clear()

    def take(self, path: str) -> tuple[float, SandboxResponse | None]:
        """The delay and the injected answer (if any) for a request to `path`."""
        with self._lock:
            delay = max((s for p, s in self._delays.items() if path.startswith(p)), default=0.0)
            for fault in self._queue:
                if fault.remaining > 0 and path.startswith(fault.path):
                    fault.remaining -= 1
                    self._queue = [f for f in self._queue if f.remaining > 0]
                    return delay, self._response(fault)
        return delay, None

    def _response(self, fault: _Fault) -> SandboxResponse:
        if fault.html:
            return SandboxResponse(
                status=fault.status, body=HTML_ERROR_PAGE, content_type="text/html; charset=utf-8"
            )
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return SandboxResponse.json(self._error_body(fault.status), status=fault.status, headers=headers)


Route = Callable[[SandboxRequest], SandboxResponse]
# Which sandbox serves a request path, and the path as that sandbox sees it (None: no sandbox).
Resolve = Callable[[str], "tuple[SandboxServer | None, str]"]
Track = Callable[[socket.socket, bool], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 makes bursts of concurrent clients wait for SYN retransmits.
    request_queue_size = 128


class _Serving:
    """Starts and stops a listener for whatever `_resolve` routes: a sandbox, or a host of many."""

    name: str
    base_url: str
    _listener: _Listener | None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; returns the base URL (no trailing slash)."""
        if self._listener is None:
            self._listener = _Listener(self._resolve, self.name, host, port)
            self.base_url = self._listener.base_url
        return self.base_url

    def stop(self) -> None:
        """Stop serving and close open connections."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _resolve(self, path: str) -> tuple[SandboxServer | None, str]:
        raise NotImplementedError


class SandboxServer(_Serving):
    """Serves one sandbox's `route` on 127.0.0.1 in background threads."""

    def __init__(
        self, route: Route, name: str = "sandbox", error_body: ErrorBody = amazon_error_body
    ) -> None:
        self.route = route
        self.name = name
        self.faults = Faults(error_body)
        self.base_url = ""
        self._listener: _Listener | None = None
        self._log_lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._exchanges: list[Exchange] = []
        self._keep_exchanges = True

    # -- request log ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._log_lock:
            return list(self._log)

    def count(self, path_prefix: str = "", method: str | None = None) -> int:
        """How many requests reached paths starting with `path_prefix`."""
        return sum(
            1
            for r in self.requests
            if r.path.startswith(path_prefix) and (method is None or r.method == method)
        )

    @property
    def exchanges(self) -> list[Exchange]:
        """Every request with its answer since the server started (`clear_log` keeps them)."""
        with self._log_lock:
            return list(self._exchanges)

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def stop_recording(self) -> None:
        """Keep no more requests or answers: a long load run would otherwise hold every page."""
        with self._log_lock:
            self._keep_exchanges = False
            self._log.clear()
            self._exchanges.clear()

    # -- dispatch -------------------------------------------------------------------------

    def _resolve(self, path: str) -> tuple[SandboxServer | None, str]:
        return self, path

    def dispatch(self, request: SandboxRequest) -> SandboxResponse:
        if not self._keep_exchanges:
            return self._answer(request)
        recorded = RecordedRequest(request.method, request.path, request.query, request.headers, request.body)
        with self._log_lock:
            self._log.append(recorded)
        response = self._answer(request)
        with self._log_lock:
            self._exchanges.append(
                Exchange(
                    recorded,
                    response.status,
                    response.content_type,
                    response.body,
                    injected=response.injected or response.cut_at is not None,
                )
            )
        return response

    def _answer(self, request: SandboxRequest) -> SandboxResponse:
        delay, injected = self.faults.take(request.path)
        if delay:
            time.sleep(delay)
        if injected is not None:
            injected.injected = True
            return injected
        try:
            response = self.route(request)
        except BadRequest as exc:
            response = exc.response
        except Exception:  # a sandbox bug must show as a 500, like a real platform's
            logger.exception("%s failed on %s %s", self.name, request.method, request.path)
            response = SandboxResponse.json(
                {"errors": [{"code": "InternalFailure", "message": "sandbox error"}]}, status=500
            )
        if self.faults.take_cut(request.path):
            response.cut_at = len(response.body) // 2
        return response


class _Listener:
    """A listening socket on `host:port`, served in background threads, and its open connections."""

    def __init__(self, resolve: Resolve, name: str, host: str, port: int) -> None:
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server = _Server((host, port), _handler_class(resolve, self._track))
        bound_host, bound_port = self._server.server_address[:2]
        self.base_url = f"http://{bound_host!s}:{bound_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{name}-server",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(timeout=5)

    def _track(self, conn: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


class SandboxHost(_Serving):
    """Many sandboxes on one 127.0.0.1 port, each under `/stores/<n>`.

    `mount` gives a sandbox's server its base URL on this host; requests under that prefix reach
    its `dispatch` with the prefix removed, so routes, faults and the request log work as on a
    server of its own. Anything else answers 404.
    """

    def __init__(self, name: str = "sandbox-host") -> None:
        self.name = name
        self.base_url = ""
        self._mounted: dict[str, SandboxServer] = {}
        self._lock = threading.Lock()
        self._listener: _Listener | None = None

    def mount(self, sandbox_server: SandboxServer) -> str:
        """Serve `sandbox_server` under the next free prefix; returns its base URL."""
        if self._listener is None:
            self.start()
        with self._lock:
            key = str(len(self._mounted))
            self._mounted[key] = sandbox_server
        sandbox_server.base_url = f"{self.base_url}/stores/{key}"
        return sandbox_server.base_url

    def __enter__(self) -> SandboxHost:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _resolve(self, path: str) -> tuple[SandboxServer | None, str]:
        if not path.startswith("/stores/"):
            return None, path
        head, _, rest = path.removeprefix("/stores/").partition("/")
        with self._lock:
            mounted = self._mounted.get(head)
        return mounted, "/" + rest


def _handler_class(resolve: Resolve, track: Track) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, keep-alive clients wait ~40 ms each.
        disable_nagle_algorithm = True
        timeout = 30  # an idle keep-alive connection frees its thread after this

        def setup(self) -> None:
            super().setup()
            track(self.connection, True)

        def finish(self) -> None:
            track(self.connection, False)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (BaseHTTPRequestHandler's name)
            return  # the request log replaces stderr lines

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            server, path = resolve(parts.path)
            request = SandboxRequest(
                method=self.command,
                path=path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            if server is None:
                response = SandboxResponse.json(
                    {"errors": [{"code": "NotFound", "message": "No store here."}]}, 404
                )
            else:
                response = server.dispatch(request)
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD":
                return
            if response.cut_at is None:
                self.wfile.write(response.body)
                return
            self.wfile.write(response.body[: response.cut_at])
            self.wfile.flush()
            self.close_connection = True

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle

    return Handler
