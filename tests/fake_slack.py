"""A fake Slack Web API: a real threaded HTTP server on 127.0.0.1 that records every call.

It answers the methods SellerDesk uses (auth.test, chat.*, conversations.open, views.*,
users.info, the three-step file upload) and a `response_url` sink, keeps posted messages with
their message metadata and reads them back as Slack does (conversations.history and
conversations.replies: `oldest`/`latest`, `inclusive`, `limit`, cursors, and metadata only with
`include_all_metadata`), checks Block Kit limits the
way Slack does (a message over the limits is rejected with `invalid_blocks`), and has knobs to
answer 429 with Retry-After or an error. `SlackSender` signs requests exactly as Slack does.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T1"


@dataclass
class Call:
    """One request the app made to the fake Slack."""

    method: str  # API method ("chat.postMessage"), or "upload" / "response_url"
    args: dict[str, Any]
    headers: dict[str, str]
    raw: bytes = b""
    response: dict[str, Any] = field(default_factory=dict)  # what the fake answered

    @property
    def ts(self) -> str:
        """The ts Slack gave a posted message."""
        return str(self.response.get("ts", ""))


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str = ""
    edits: int = 0
    metadata: dict[str, Any] | None = None
    user: str = BOT_USER_ID  # who wrote it: the bot, or a person (`FakeSlack.said`)

    def as_slack(self, *, with_metadata: bool) -> dict[str, Any]:
        """The message as conversations.history / conversations.replies return it."""
        shown: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
        }
        if self.user == BOT_USER_ID:
            shown["bot_id"] = BOT_ID
        if self.blocks:
            shown["blocks"] = self.blocks
        if self.thread_ts:
            shown["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata is not None:
            shown["metadata"] = self.metadata
        return shown


@dataclass
class _Knob:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class BlockKitError(ValueError):
    pass


def check_blocks(blocks: list[dict[str, Any]], *, limit: int = 50) -> None:
    """Raise `BlockKitError` for what Slack rejects as `invalid_blocks`."""
    if len(blocks) > limit:
        raise BlockKitError(f"{len(blocks)} blocks, more than {limit}")
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            text = block.get("text", {}).get("text", "")
            if len(text) > 3000:
                raise BlockKitError(f"section text of {len(text)} characters")
            if "text" not in block and "fields" not in block:
                raise BlockKitError("section without text")
            for item in block.get("fields", []):
                if len(item.get("text", "")) > 2000:
                    raise BlockKitError("section field over 2000 characters")
        elif kind == "header" and len(block.get("text", {}).get("text", "")) > 150:
            raise BlockKitError("header over 150 characters")
        elif kind == "context" and len(block.get("elements", [])) > 10:
            raise BlockKitError("context with more than 10 elements")
        elif kind == "actions":
            elements = block.get("elements", [])
            if len(elements) > 25:
                raise BlockKitError("actions with more than 25 elements")
            for element in elements:
                _check_element(element)
        if "accessory" in block:
            _check_element(block["accessory"])


def _check_element(element: dict[str, Any]) -> None:
    if element.get("type") == "button":
        if len(element.get("text", {}).get("text", "")) > 75:
            raise BlockKitError("button text over 75 characters")
        if len(element.get("value", "")) > 2000:
            raise BlockKitError("button value over 2000 characters")
    if element.get("type") == "static_select":
        options = element.get("options", [])
        if len(options) > 100:
            raise BlockKitError("select with more than 100 options")
        for option in options:
            if len(option.get("text", {}).get("text", "")) > 75 or len(option.get("value", "")) > 150:
                raise BlockKitError("select option too long")
    if len(element.get("action_id", "")) > 255:
        raise BlockKitError("action_id over 255 characters")


class FakeSlack:
    """State and knobs of the fake Slack; the HTTP handler below calls `handle`."""

    def __init__(self) -> None:
        self.url = ""  # the Web API base URL, ends with "/api/"
        self.socket_url = ""  # the Socket Mode WebSocket URL apps.connections.open hands out
        self.root = ""
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self.uploads: dict[str, bytes] = {}
        self.upload_names: dict[str, str] = {}
        self.files: dict[str, bytes] = {}  # files the fake serves (url_private of seller uploads)
        self.views: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self._knobs: dict[str, list[_Knob]] = {}
        self._delays: dict[str, float] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._ts_lock = threading.Lock()
        self._last_ts_us = 0
        # Called with each message chat.postMessage stored, before Slack answers (a test kills the
        # poster here: the message is in Slack, the poster never hears of it).
        self.after_post: Callable[[Message], None] | None = None

    # --- knobs -----------------------------------------------------------------------------------
    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 and Retry-After."""
        with self._lock:
            self._knobs.setdefault(method, []).extend(
                _Knob(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
                for _ in range(times)
            )

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with `{"ok": false, "error": error}`."""
        with self._lock:
            self._knobs.setdefault(method, []).extend(
                _Knob(200, {"ok": False, "error": error}) for _ in range(times)
            )

    def delay(self, method: str, seconds: float) -> None:
        """Make every call of `method` take `seconds` (a slow Slack or a slow network)."""
        self._delays[method] = seconds

    def add_user(self, user_id: str, *, team_id: str = TEAM_ID, name: str = "", tz: str = "UTC") -> None:
        self.users[user_id] = {"team_id": team_id, "name": name or user_id.lower(), "tz": tz}

    def serve_file(self, name: str, content: bytes) -> str:
        """Serve `content` as a private Slack file; returns its url_private."""
        self.files[name] = content
        return f"{self.root}files/{name}"

    def said(self, channel: str, ts: str, text: str, *, user: str = "U1") -> None:
        """A person's message already in the conversation (the event the app was sent about)."""
        with self._lock:
            self.messages[(channel, ts)] = Message(channel, ts, text, [], user=user)

    def response_url(self, name: str = "") -> str:
        return f"{self.root}response/{name or next(self._counter)}"

    # --- queries ---------------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def posts(self, channel: str | None = None, *, top_level: bool = False) -> list[Call]:
        """Successful-looking chat.postMessage calls (optionally to one channel; `top_level`
        leaves out thread replies, such as the details posted under a short answer)."""
        return [
            c
            for c in self.calls_to("chat.postMessage")
            if (channel is None or c.args.get("channel") == channel)
            and not (top_level and c.args.get("thread_ts"))
        ]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 15.0, message: str = "") -> Any:
        """Poll until `predicate()` is truthy (lazy listeners run after the ack); fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.02)
        methods = [call.method for call in self.calls]
        raise AssertionError(f"timed out waiting for {message or predicate}; calls so far: {methods}")

    # --- the API ---------------------------------------------------------------------------------
    def handle(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        parsed = urllib.parse.urlsplit(path)
        args: dict[str, Any] = dict(urllib.parse.parse_qsl(parsed.query))
        content_type = headers.get("content-type", "")
        if parsed.path.startswith("/upload/"):
            file_id = parsed.path.rsplit("/", 1)[1]
            with self._lock:
                self.uploads[file_id] = raw
                self.calls.append(Call("upload", {"file_id": file_id, "bytes": len(raw)}, headers, raw))
            return 200, {"ok": True}, {}
        if parsed.path.startswith("/response/"):
            body = json.loads(raw or b"{}")
            with self._lock:
                self.calls.append(Call("response_url", body, headers, raw))
            return 200, {"ok": True}, {}
        if "application/json" in content_type:
            args.update(json.loads(raw or b"{}"))
        elif raw:
            args.update(dict(urllib.parse.parse_qsl(raw.decode())))
        method = parsed.path.removeprefix("/api/")
        call = Call(method, args, headers, raw)
        with self._lock:
            self.calls.append(call)
            knobs = self._knobs.get(method)
            knob = knobs.pop(0) if knobs else None
        if method in self._delays:
            time.sleep(self._delays[method])
        status, body, extra = self._answer(method, args, headers, knob)
        call.response = body
        return status, body, extra

    def _answer(
        self, method: str, args: dict[str, Any], headers: dict[str, str], knob: _Knob | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if knob is not None:
            return knob.status, knob.body, knob.headers
        if method == "oauth.v2.access":
            return 200, self._oauth_v2_access(args, headers), {}
        if method == "apps.connections.open":
            app_token = headers.get("authorization", "").removeprefix("Bearer ")
            if not app_token.startswith("xapp-") or not self.socket_url:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": self.socket_url}, {}
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if not token.startswith("xoxb-") or token == "xoxb-invalid":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        answer = getattr(self, "_" + method.replace(".", "_"), None)
        if answer is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        try:
            return 200, answer(args), {}
        except BlockKitError as exc:
            return 200, {"ok": False, "error": "invalid_blocks", "errors": [str(exc)]}, {}

    def _next_ts(self) -> str:
        """A message ts as Slack makes them: the posting time in microseconds, unique and rising."""
        with self._ts_lock:
            micros = max(time.time_ns() // 1000, self._last_ts_us + 1)
            self._last_ts_us = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    @staticmethod
    def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
        blocks = args.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else list(blocks)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://sellerdesk-test.slack.com/",
            "team": "Test",
            "user": "sellerdesk",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
        }

    def _oauth_v2_access(self, args: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        """An install: code "good-code:TEAM" becomes bot token "xoxb-installed-TEAM"."""
        import base64

        basic = headers.get("authorization", "").removeprefix("Basic ")
        client_id = base64.b64decode(basic).decode().split(":", 1)[0] if basic else args.get("client_id", "")
        code = str(args.get("code", ""))
        if not client_id or not code.startswith("good-code:"):
            return {"ok": False, "error": "invalid_code"}
        team = code.split(":", 1)[1]
        return {
            "ok": True,
            "app_id": "A1",
            "access_token": f"xoxb-installed-{team}",
            "token_type": "bot",
            "scope": "chat:write,commands",
            "bot_user_id": BOT_USER_ID,
            "team": {"id": team, "name": f"Workspace {team}"},
            "authed_user": {"id": "UINSTALLER"},
        }

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        blocks = self._blocks(args)
        check_blocks(blocks)
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not blocks:
            return {"ok": False, "error": "no_text"}
        metadata = args.get("metadata")
        if isinstance(metadata, str):  # form-encoded calls send it as JSON text
            metadata = json.loads(metadata)
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            return {"ok": False, "error": "invalid_metadata_format"}
        ts = self._next_ts()
        message = Message(
            args["channel"], ts, args.get("text", ""), blocks, args.get("thread_ts", ""), metadata=metadata
        )
        with self._lock:
            self.messages[(message.channel, ts)] = message
        if self.after_post is not None:
            self.after_post(message)
        # Slack's answer carries the message, and its metadata, as posted.
        return {
            "ok": True,
            "channel": message.channel,
            "ts": ts,
            "message": message.as_slack(with_metadata=True),
        }

    @staticmethod
    def _flag(value: Any) -> bool:
        return str(value).lower() in ("1", "true")

    def _page(self, args: dict[str, Any], found: list[Message], default_limit: int) -> dict[str, Any]:
        """One page of `found` (already in Slack's order) after `cursor`, with Slack's paging fields."""
        limit = int(args.get("limit") or default_limit)
        start = int(args.get("cursor") or 0)
        page = found[start : start + limit]
        more = start + limit < len(found)
        answer: dict[str, Any] = {
            "ok": True,
            "messages": [
                m.as_slack(with_metadata=self._flag(args.get("include_all_metadata"))) for m in page
            ],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }
        return answer

    def _in_range(self, args: dict[str, Any], ts: str) -> bool:
        """`oldest` and `latest` exclude their own ts unless `inclusive` (Slack's timeline paging)."""
        inclusive = self._flag(args.get("inclusive"))
        point = _ts_key(ts)
        oldest, latest = args.get("oldest"), args.get("latest")
        if oldest and (point < _ts_key(oldest) or (point == _ts_key(oldest) and not inclusive)):
            return False
        return not (latest and (point > _ts_key(latest) or (point == _ts_key(latest) and not inclusive)))

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """A channel's top-level messages (thread replies are not in history), newest first."""
        channel = str(args.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        with self._lock:
            found = [
                m
                for m in self.messages.values()
                if m.channel == channel
                and (not m.thread_ts or m.thread_ts == m.ts)
                and self._in_range(args, m.ts)
            ]
        found.sort(key=lambda m: _ts_key(m.ts), reverse=True)
        return self._page(args, found, 100)

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent first (on the first page), then the replies in the range, oldest first."""
        channel, parent_ts = str(args.get("channel", "")), str(args.get("ts", ""))
        with self._lock:
            parent = self.messages.get((channel, parent_ts))
            replies = [
                m
                for m in self.messages.values()
                if m.channel == channel
                and m.thread_ts == parent_ts
                and m.ts != parent_ts
                and self._in_range(args, m.ts)
            ]
        if parent is None and not replies:
            return {"ok": False, "error": "thread_not_found"}
        replies.sort(key=lambda m: _ts_key(m.ts))
        return self._page(args, ([parent] if parent is not None else []) + replies, 1000)

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        check_blocks(self._blocks(args))
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        blocks = self._blocks(args)
        check_blocks(blocks)
        with self._lock:
            message = self.messages.get((args.get("channel", ""), args.get("ts", "")))
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.text = args.get("text", message.text)
            message.blocks = blocks or message.blocks
            message.edits += 1
        return {"ok": True, "channel": message.channel, "ts": message.ts, "text": message.text}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("timestamp") or not args.get("name"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True}

    _reactions_remove = _reactions_add

    def reactions(
        self, channel: str | None = None, method: str = "reactions.add"
    ) -> list[tuple[str, str, str]]:
        """(channel, message ts, name) of every reaction added (or removed, with `method`)."""
        return [
            (c.args["channel"], c.args["timestamp"], c.args["name"])
            for c in self.calls_to(method)
            if channel is None or c.args.get("channel") == channel
        ]

    def responses(self) -> list[dict[str, Any]]:
        """What the app sent to `response_url`s (replacing clicked messages)."""
        return [call.args for call in self.calls_to("response_url")]

    def uploads_started(self) -> list[dict[str, Any]]:
        """The arguments of every files.getUploadURLExternal call (filename, length, alt_txt)."""
        return [call.args for call in self.calls_to("files.getUploadURLExternal")]

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users", ""))
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0]}}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user", ""))
        user = self.users.get(user_id, {"team_id": TEAM_ID, "name": user_id.lower(), "tz": "UTC"})
        return {"ok": True, "user": {"id": user_id, "real_name": user["name"], **user}}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        check_blocks(view.get("blocks", []), limit=100)
        with self._lock:
            self.views.append(view)
        return {"ok": True, "view": {"id": f"V{next(self._counter)}", **view}}

    _views_open = _views_publish
    _views_update = _views_publish

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._counter)}"
        self.upload_names[file_id] = str(args.get("filename", ""))
        return {"ok": True, "upload_url": f"{self.root}upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(args.get("files", "[]"))
        missing = [f["id"] for f in files if f["id"] not in self.uploads]
        if missing:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

    def uploaded_files(self, channel: str | None = None) -> list[tuple[str, bytes, dict[str, Any]]]:
        """(filename, bytes, completion args) of every completed upload (optionally to one channel)."""
        found = []
        for call in self.calls_to("files.completeUploadExternal"):
            if channel is not None and call.args.get("channel_id") != channel:
                continue
            found.extend(
                (self.upload_names.get(item["id"], ""), self.uploads.get(item["id"], b""), call.args)
                for item in json.loads(call.args.get("files", "[]"))
            )
        return found


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = str(ts).partition(".")
    return int(seconds or 0), int((fraction + "000000")[:6])


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _headers(self) -> dict[str, str]:
        return {key.lower(): value for key, value in self.headers.items()}

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, body, headers = self.fake.handle(self.path, self._headers(), raw)
        self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/files/"):
            name = self.path.removeprefix("/files/")
            with self.fake._lock:
                self.fake.calls.append(Call("file", {"name": name}, self._headers()))
            content = self.fake.files.get(name)
            if content is None:
                self._send(404, b"not found", "text/plain", {})
            elif not self.headers.get("Authorization", "").startswith("Bearer xoxb-"):
                # Slack serves private files only with the bot token.
                self._send(403, b"forbidden", "text/plain", {})
            else:
                self._send(200, content, "image/png", {})
            return
        status, body, headers = self.fake.handle(self.path, self._headers(), b"")
        self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller died waiting for the answer (a killed worker): Slack shrugs too


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A running fake Slack Web API on an ephemeral 127.0.0.1 port."""
    fake = FakeSlack()
    handler = type("BoundHandler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.root = f"http://127.0.0.1:{server.server_address[1]}/"
    fake.url = fake.root + "api/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# --- requests signed the way Slack signs them ---------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature: HMAC-SHA256 over "v0:{timestamp}:{body}"."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackSender:
    """Sends events, slash commands and interactive payloads to the app as Slack would."""

    def __init__(self, url: str, secret: str, fake: FakeSlack, *, team_id: str = TEAM_ID) -> None:
        self.url = url  # .../slack/events
        self.secret = secret
        self.fake = fake
        self.team_id = team_id
        self.client = httpx.Client(timeout=10)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self.client.close()

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: str | None = None,
        secret: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        ts = timestamp or str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(secret or self.secret, ts, body),
            **(extra_headers or {}),
        }
        return self.client.post(self.url, content=body, headers=headers)

    def command(
        self, command: str, text: str = "", *, user: str = "U1", channel: str = "C1", **kw: Any
    ) -> httpx.Response:
        form = {
            "token": "legacy",
            "team_id": kw.pop("team_id", self.team_id),
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "response_url": self.fake.response_url(),
            "trigger_id": f"trigger-{next(self._ids)}",
        }
        return self.post(urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded", **kw)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        team_id: str | None = None,
        retry_num: int | None = None,
        **kw: Any,
    ) -> httpx.Response:
        body = {
            "token": "legacy",
            "team_id": team_id or self.team_id,
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team_id or self.team_id, "user_id": BOT_USER_ID, "is_bot": True}],
        }
        headers = kw.pop("extra_headers", {})
        if retry_num is not None:
            headers = {**headers, "X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(json.dumps(body).encode(), "application/json", extra_headers=headers, **kw)

    def message(
        self, text: str, *, user: str = "U1", channel: str = "D1", thread_ts: str | None = None, **kw: Any
    ) -> httpx.Response:
        ts = f"{int(time.time())}.{next(self._ids):06d}"
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts,
            "channel_type": "im" if channel.startswith("D") else "channel",
            "team": kw.get("team_id") or self.team_id,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        if "files" in kw:
            event["files"] = kw.pop("files")
            event["subtype"] = "file_share"
        return self.event(event, **kw)

    def mention(self, text: str, *, user: str = "U1", channel: str = "C1", **kw: Any) -> httpx.Response:
        ts = f"{int(time.time())}.{next(self._ids):06d}"
        event = {
            "type": "app_mention",
            "channel": channel,
            "user": user,
            "text": f"<@{BOT_USER_ID}> {text}",
            "ts": ts,
            "team": self.team_id,
        }
        return self.event(event, **kw)

    def action(
        self,
        action_id: str,
        value: str,
        *,
        user: str = "U1",
        channel: str = "D1",
        message_ts: str = "",
        thread_ts: str = "",
        selected: bool = False,
        team_id: str | None = None,
        message_text: str = "",
        message_blocks: list[dict[str, Any]] | None = None,
        block_id: str = "b",
        label: str = "",
    ) -> httpx.Response:
        action: dict[str, Any] = {"action_id": action_id, "block_id": block_id, "action_ts": str(time.time())}
        if selected:
            action.update(
                type="static_select",
                selected_option={"value": value, "text": {"type": "plain_text", "text": label or value}},
            )
        else:
            action.update(type="button", value=value, text={"type": "plain_text", "text": label or action_id})
        message: dict[str, Any] = {"ts": message_ts or "1.000001", "text": message_text}
        if message_blocks is not None:
            message["blocks"] = message_blocks
        if thread_ts:
            message["thread_ts"] = thread_ts
        payload = {
            "type": "block_actions",
            "team": {"id": team_id or self.team_id, "domain": "test"},
            "user": {"id": user, "team_id": team_id or self.team_id, "username": user.lower()},
            "api_app_id": "A1",
            "token": "legacy",
            "container": {"type": "message", "channel_id": channel, "message_ts": message["ts"]},
            "trigger_id": f"trigger-{next(self._ids)}",
            "channel": {"id": channel, "name": "dm"},
            "message": message,
            "response_url": self.fake.response_url(),
            "actions": [action],
        }
        return self.interactive(payload)

    def view_submission(
        self, callback_id: str, values: dict[str, dict[str, Any]], private_metadata: str, *, user: str = "U1"
    ) -> httpx.Response:
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "test"},
            "user": {"id": user, "team_id": self.team_id},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": f"trigger-{next(self._ids)}",
            "view": {
                "id": "V1",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": private_metadata,
                "state": {"values": values},
                "hash": "h",
            },
        }
        return self.interactive(payload)

    def interactive(self, payload: dict[str, Any]) -> httpx.Response:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded")


# --- SellerDesk running in HTTP mode against the fake ---------------------------------------------

SIGNING_SECRET = "test-signing-secret-0123456789"
ESCALATION_CHANNEL = "CSUPPORT"


@dataclass
class World:
    """The seller data the Slack tests use: two accounts, so leaks between them would show."""

    demo_id: int
    neighbour_id: int
    us_store_id: int
    shopee_store_id: int
    neighbour_store_id: int


@dataclass
class RunningBot:
    """SellerDesk's `serve` on 127.0.0.1, its parts, and a sender that signs like Slack."""

    components: Any
    fake: FakeSlack
    send: SlackSender
    base_url: str
    world: World

    def session(self) -> Any:
        return self.components.session()

    def wait_remembered(self, channel: str, *, ts: str | None = None, with_diagnosis: bool = False) -> None:
        """Wait until an answer in `channel` (the one at `ts`) is stored: it is recorded after Slack
        returns its ts, so a click or a case right after the post can otherwise miss it."""
        from sqlmodel import select

        from erp.models import AnswerRecord

        def stored() -> bool:
            query = select(AnswerRecord).where(AnswerRecord.channel == channel)
            if ts is not None:
                query = query.where(AnswerRecord.ts == ts)
            with self.session() as session:
                return any(row.diagnosis or not with_diagnosis for row in session.exec(query))

        self.fake.wait_for(stored, message=f"an answer in {channel} remembered")

    def link(self, user: str, account_id: int, role: str = "member", *, team_id: str = TEAM_ID) -> None:
        from erp.accounts import link_slack_user
        from erp.models import Account

        with self.session() as session:
            account = session.get(Account, account_id)
            link_slack_user(session, team_id=team_id, user_id=user, account=account, role=role)


@pytest.fixture(scope="session")
def trained_parts() -> tuple[Any, Any]:
    """The knowledge and the trained matcher, built once: training takes seconds, not the test."""
    from knowledge.loader import load_knowledge
    from knowledge.matcher import Matcher

    knowledge = load_knowledge()
    return knowledge, Matcher.train(knowledge)


def seed_world(session: Any) -> World:
    """Two accounts with stores and products (database only: no platform is needed)."""
    from datetime import UTC, datetime, timedelta

    from erp.models import Account, Product, Store, UploadRecord

    now = datetime.now(UTC)
    demo = Account(name="demo", display_name="Demo Seller")
    neighbour = Account(name="neighbour", display_name="Neighbour Seller")
    session.add_all([demo, neighbour])
    session.commit()
    us = Store(account_id=demo.id, name="Amazon US", platform="amazon", region="US", last_order_sync_at=now)
    shopee = Store(
        account_id=demo.id,
        name="Shopee MY",
        platform="shopee",
        region="MY",
        last_order_sync_error="authorization expired: authorize the store again",
    )
    other = Store(account_id=neighbour.id, name="Neighbour Secret Shop", platform="amazon", region="US")
    session.add_all([us, shopee, other])
    session.commit()
    session.add_all(
        [
            Product(
                account_id=demo.id,
                store_id=us.id,
                sku="DEMO-UP-FAILED",
                title="Failed upload",
                uploaded=False,
            ),
            UploadRecord(
                store_id=us.id,
                sku="DEMO-UP-FAILED",
                status="failed",
                error="Image rejected",
                created_at=now - timedelta(days=1),
                updated_at=now - timedelta(days=1),
            ),
            Product(account_id=demo.id, store_id=us.id, sku="DEMO-UP-OK", title="Fine", uploaded=True),
            UploadRecord(
                store_id=us.id,
                sku="DEMO-UP-OK",
                status="uploaded",
                created_at=now - timedelta(days=2),
                updated_at=now - timedelta(days=2),
            ),
            Product(account_id=neighbour.id, store_id=other.id, sku="NB-SECRET-1", title="Neighbour only"),
            UploadRecord(
                store_id=other.id,
                sku="NB-SECRET-1",
                status="failed",
                created_at=now - timedelta(days=1),
                updated_at=now - timedelta(days=1),
            ),
        ]
    )
    session.commit()
    return World(
        demo_id=demo.id,
        neighbour_id=neighbour.id,
        us_store_id=us.id,
        shopee_store_id=shopee.id,
        neighbour_store_id=other.id,
    )


@pytest.fixture
def slack_bot(
    database_url: str,
    fake_slack: FakeSlack,
    trained_parts: tuple[Any, Any],
    tmp_path: Any,
    request: pytest.FixtureRequest,
) -> Iterator[RunningBot]:
    """`serve` on an ephemeral port against the fake Slack, over the test's database.

    `@pytest.mark.fetch_budget(seconds)` sets how long one picture fetch may take (4 s otherwise).
    """
    budget = request.node.get_closest_marker("fetch_budget")
    from app import Components
    from bot.settings import Settings
    from bot.slack.app_factory import build_app
    from bot.slack.server import ServerRunner, make_server

    settings = Settings(
        database_url=database_url,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.url,
        escalation_channel=ESCALATION_CHANNEL,
        fetch_allow=("127.0.0.1",),
        # A slow picture host holds a check this long at most.
        fetch_total_seconds=float(budget.args[0]) if budget else 4.0,
        data_dir=str(tmp_path / "data"),
    )
    components = Components(settings)
    # The trained matcher is shared by the session's tests (cached_property reads __dict__ first).
    components.__dict__["knowledge"], components.__dict__["matcher"] = trained_parts
    with components.session() as session:
        world = seed_world(session)
    app = build_app(settings, components)
    server = make_server(app, components.engine, host="127.0.0.1", port=0, loop_timeout=0.05)
    runner = ServerRunner(server)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    sender = SlackSender(base_url + "/slack/events", SIGNING_SECRET, fake_slack)
    bot = RunningBot(components, fake_slack, sender, base_url, world)
    bot.link("U1", world.demo_id, "owner")
    bot.link("U2", world.demo_id, "member")
    bot.link("UN", world.neighbour_id, "owner")
    bot.link("UAGENT", world.demo_id, "agent")
    try:
        yield bot
    finally:
        sender.close()
        runner.stop()
        thread.join(timeout=5)
        # Let lazy listeners still running finish before the database goes away.
        app.listener_runner.listener_executor.shutdown(wait=True)
        components.engine.dispose()


# --- Socket Mode: a WebSocket server speaking Slack's envelope protocol ---------------------------


class FakeSocketMode:
    """One Socket Mode connection at a time: sends envelopes, records the app's acks."""

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self) -> None:
        import socket

        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link"
        self.acks: dict[str, dict[str, Any]] = {}
        self.connected = threading.Event()
        self._conn: Any = None
        self._send_lock = threading.Lock()
        self._stopped = False
        self._ids = itertools.count(1)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import base64

        while not self._stopped:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            key = next(
                line.split(":", 1)[1].strip()
                for line in request.decode().split("\r\n")
                if line.lower().startswith("sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest()).decode()
            conn.sendall(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
                ).encode()
            )
            self._conn = conn
            self._send(1, json.dumps({"type": "hello", "num_connections": 1}).encode())
            self.connected.set()
            self._read(conn)

    def _read(self, conn: Any) -> None:
        buffer = b""

        def take(size: int) -> bytes:
            nonlocal buffer
            while len(buffer) < size:
                chunk = conn.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                buffer += chunk
            data, buffer = buffer[:size], buffer[size:]
            return data

        try:
            while True:
                first, second = take(2)
                opcode, length = first & 0x0F, second & 0x7F
                if length == 126:
                    length = int.from_bytes(take(2), "big")
                elif length == 127:
                    length = int.from_bytes(take(8), "big")
                mask = take(4) if second & 0x80 else b"\0\0\0\0"
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(take(length)))
                if opcode == 9:  # ping: answer pong
                    self._send(10, payload)
                elif opcode == 8:
                    return
                elif opcode == 1:
                    message = json.loads(payload)
                    if "envelope_id" in message:
                        self.acks[message["envelope_id"]] = message.get("payload") or {}
        except (ConnectionError, OSError):
            return

    def _send(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([len(payload)])
        elif len(payload) < 65536:
            header += bytes([126]) + len(payload).to_bytes(2, "big")
        else:
            header += bytes([127]) + len(payload).to_bytes(8, "big")
        with self._send_lock:
            self._conn.sendall(header + payload)

    def envelope(self, kind: str, payload: dict[str, Any]) -> str:
        """Send one envelope (events_api, slash_commands, interactive); returns its id."""
        envelope_id = f"env-{next(self._ids)}"
        body = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": True,
        }
        self._send(1, json.dumps(body).encode())
        return envelope_id

    def close(self) -> None:
        self._stopped = True
        self._listener.close()
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass


@pytest.fixture
def fake_socket_mode(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    """Socket Mode for the fake Slack: apps.connections.open hands out this server's URL."""
    server = FakeSocketMode()
    fake_slack.socket_url = server.url
    yield server
    server.close()
