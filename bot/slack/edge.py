"""The HTTP edge in front of Bolt: signature first, then well-formed bytes, then clean text.

Anyone on the internet can reach `/slack/events`. So every request is checked here before any
parsing: the timestamp must be a plain number of seconds inside Slack's five-minute window and
the v0 signature must match, or it is refused with 401; only then are the bytes read as UTF-8,
JSON or a form, and a body Slack would never send (bad JSON, a payload that is not an object,
a button click without actions) gets 400. Each refusal is one WARNING line, never a traceback.

Text that passed all that can still hold characters a database cannot store (PostgreSQL refuses
NUL in text; lone UTF-16 surrogates cannot be encoded): `clean_strings` removes them from every
string of the parsed body, so Slack text and file names are clean for both databases.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SIGNING_WINDOW = 60 * 5  # Slack's own window: older (or future) timestamps are replays
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
# NUL and the other C0 controls except tab, newline and carriage return; lone surrogates.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: the HTTP status and one line for the log."""

    status: int
    reason: str

    @property
    def status_line(self) -> str:
        return {400: "400 Bad Request", 401: "401 Unauthorized", 413: "413 Payload Too Large"}[self.status]


class SlackEdge:
    """Checks raw Slack requests against the signing secret before anything parses them."""

    def __init__(self, signing_secret: str, clock: Callable[[], float] = time.time) -> None:
        self._secret = signing_secret.encode()
        self._clock = clock

    def refusal(self, headers: Mapping[str, str], body: bytes) -> Refusal | None:
        """None when the request is signed by Slack and well formed; else why not.

        Args:
            headers: the request headers, names lower-cased.
            body: the raw body exactly as received (the signature covers these bytes).
        """
        timestamp = headers.get("x-slack-request-timestamp", "").strip()
        signature = headers.get("x-slack-signature", "").strip()
        if not timestamp or not signature:
            return Refusal(401, "unsigned request (no Slack signature or timestamp)")
        if not _TIMESTAMP.fullmatch(timestamp):
            return Refusal(401, f"malformed signature timestamp {timestamp[:20]!r}")
        if abs(self._clock() - int(timestamp)) > SIGNING_WINDOW:
            return Refusal(401, "signature timestamp outside Slack's five-minute window (a replay?)")
        base = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        if not _SIGNATURE.fullmatch(signature) or not hmac.compare_digest(expected, signature):
            return Refusal(401, "signature does not match the signing secret")
        return _malformed(headers.get("content-type", ""), body)


def _malformed(content_type: str, body: bytes) -> Refusal | None:
    """Why a signed body is not something Slack sends, or None when Bolt can parse it.

    The checks follow how Bolt reads a body: JSON when the content type says so or the body
    starts with "{"; a form with a JSON `payload` (interactivity); otherwise plain form fields.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "body is not valid UTF-8")
    if "application/json" in content_type or text.startswith("{"):
        return _json_object(text, "body")
    try:
        form = dict(urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    except ValueError:
        return Refusal(400, "body is not a form")
    if "payload" not in text or "payload" not in form:
        return None  # a slash command (or an SSL check): plain form fields
    refusal = _json_object(form["payload"], "payload")
    if refusal is not None:
        return refusal
    payload = json.loads(form["payload"])
    if payload.get("type") == "block_actions" and not (
        isinstance(payload.get("actions"), list) and payload["actions"]
    ):
        return Refusal(400, "a button click without any action")
    return None


def _json_object(text: str, what: str) -> Refusal | None:
    try:
        data = json.loads(text)
    except ValueError:
        return Refusal(400, f"{what} is not JSON")
    if not isinstance(data, dict):
        return Refusal(400, f"{what} is JSON but not an object")
    return None


def clean_text(value: str) -> str:
    """`value` without characters a database cannot store (NUL, other controls, lone surrogates)."""
    if not value.isprintable():
        value = _UNSTORABLE.sub("", value)
    return _SURROGATE.sub("\ufffd", value)


def clean_strings(data: Any) -> bool:
    """Clean every string inside parsed JSON, dicts and lists in place; True when any changed."""
    changed = False
    items: Any = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in list(items):
        if isinstance(value, str):
            cleaned = clean_text(value)
            if cleaned != value:
                data[key] = cleaned
                changed = True
        elif isinstance(value, dict | list):
            changed = clean_strings(value) or changed
    return changed


def serialized(body: dict[str, Any], raw: str) -> str:
    """`body` written back in the shape `raw` had (JSON, a form with a payload, or form fields),
    so that what is parsed again from it (Bolt's lazy listeners re-read the raw body) is `body`.
    """
    if raw.startswith("{"):
        return json.dumps(body)
    if "payload" in raw and "payload" in dict(urllib.parse.parse_qsl(raw, keep_blank_values=True)):
        return urllib.parse.urlencode({"payload": json.dumps(body)})
    return urllib.parse.urlencode({key: str(value) for key, value in body.items()})
