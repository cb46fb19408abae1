"""What a Slack answer task has posted, so a retried task never posts the same message twice.

A worker can die after posting the progress message, or after the answer itself, before the
broker hears that the task finished; the broker then delivers the task again, elsewhere. The
journal keeps, per task (its idempotency key), the Web API response of each message the task
posted, in the order posted. A retry runs the same turn and so makes the same posts in the same
order: the ones already journaled return the stored response (the same message `ts`, so progress
edits land on the message the seller already sees), and only the rest are really posted.

A worker can also die between Slack taking a message and the journal recording it. So before a
`chat.postMessage` is sent, an intent (task, seq, channel, thread) is written, and the message
carries Slack message metadata naming the task and the seq (`POST_EVENT_TYPE`). A retry that finds
an intent and no response looks for the message in Slack, in the thread (conversations.replies)
or the channel (conversations.history), from a little before the intent on, with
`include_all_metadata`; found, its response is journaled and it is not posted again. Not found, or
the look-up failing (a channel the bot cannot read), it is posted: the seller may then see it
twice, never zero times.

Only calls that add something a seller sees are journaled (`chat.postMessage`,
`chat.postEphemeral`, sharing an uploaded file); edits (`chat.update`) and look-ups are safe to
repeat. Ephemeral messages and file shares carry no metadata Slack lets us read back (an ephemeral
message is not in any history at all), so for them the window between the post and its journal
row remains: a worker killed inside it makes the retry post them again.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from erp.models import TaskPost, TaskPostIntent, table_of

log = logging.getLogger(__name__)

JOURNALED_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "files.completeUploadExternal"})
LOOKED_UP_METHODS = frozenset({"chat.postMessage"})  # the ones Slack can show us again, by metadata
POST_EVENT_TYPE = "sellerdesk_post"
KEEP = timedelta(days=7)  # far longer than any retry
# How far before its intent a message is looked for: the worker's clock and Slack's may differ.
LOOKUP_MARGIN = timedelta(minutes=2)
LOOKUP_PAGE = 200
LOOKUP_PAGES = 25  # 5,000 messages after the intent: a retry comes minutes later, not days

posted = table_of(TaskPost)
intents = table_of(TaskPostIntent)


@dataclass(frozen=True)
class Intent:
    """A post about to be made: where, and when the intent was written."""

    channel: str
    thread_ts: str
    at: datetime


class PostJournal:
    """The `task_post` table: (task key, sequence number) -> the Web API response; and
    `task_post_intent`: the posts about to be made.

    Args:
        engine: the application's database.
        clock: the current time.
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    def forget_old(self) -> None:
        """Forget posts older than `KEEP` (no retry comes that late)."""
        with self._engine.begin() as connection:
            connection.execute(delete(posted).where(posted.c.posted_at < self._clock() - KEEP))
            connection.execute(delete(intents).where(intents.c.intended_at < self._clock() - KEEP))

    def intend(self, key: str, seq: int, method: str, *, channel: str, thread_ts: str) -> Intent:
        """Record that post `seq` of task `key` is about to be sent (committed before it is)."""
        intent = Intent(channel, thread_ts, self._clock())
        with self._engine.begin() as connection:
            connection.execute(
                insert(intents).values(
                    task_key=key,
                    seq=seq,
                    method=method,
                    channel=channel[:40],
                    thread_ts=thread_ts[:40],
                    intended_at=intent.at,
                )
            )
        return intent

    def intent(self, key: str, seq: int) -> Intent | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(intents.c.channel, intents.c.thread_ts, intents.c.intended_at).where(
                    intents.c.task_key == key, intents.c.seq == seq
                )
            ).one_or_none()
        if row is None:
            return None
        at = row.intended_at if row.intended_at.tzinfo else row.intended_at.replace(tzinfo=UTC)  # SQLite
        return Intent(row.channel, row.thread_ts, at)

    def get(self, key: str, seq: int) -> dict[str, Any] | None:
        with self._engine.connect() as connection:
            raw = connection.execute(
                select(posted.c.response).where(posted.c.task_key == key, posted.c.seq == seq)
            ).scalar_one_or_none()
        return None if raw is None else dict(json.loads(raw))

    def put(self, key: str, seq: int, method: str, response: dict[str, Any]) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                insert(posted).values(
                    task_key=key,
                    seq=seq,
                    method=method,
                    response=json.dumps(response, ensure_ascii=False),
                    posted_at=self._clock(),
                )
            )

    def count(self, key: str) -> int:
        with self._engine.connect() as connection:
            return len(list(connection.execute(select(posted.c.seq).where(posted.c.task_key == key))))


class JournaledClient(WebClient):
    """A Web API client for one task: posts already journaled for the task are not posted again.

    Args:
        client: the client Bolt made for the request (token, base URL, retries are copied).
        journal: where posts are recorded.
        key: the task's idempotency key.
    """

    def __init__(self, client: WebClient, journal: PostJournal, key: str) -> None:
        super().__init__(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            headers=client.headers,
            logger=client.logger,
            retry_handlers=client.retry_handlers,
        )
        self._journal = journal
        self._key = key
        self._seq = itertools.count()
        self._guard = threading.Lock()  # progress may post from the sync's threads

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        if api_method not in JOURNALED_METHODS:
            return super().api_call(api_method, **kwargs)
        with self._guard:
            seq = next(self._seq)
            stored = self._journal.get(self._key, seq)
            if stored is not None:
                log.info("task %s: post %d was made before this retry; not posted again", self._key, seq)
                return self._response(api_method, stored)
            if api_method in LOOKED_UP_METHODS:
                kwargs = self._tagged(kwargs, seq)
                response = self._post_once(api_method, seq, kwargs)
            else:
                response = super().api_call(api_method, **kwargs)
            if isinstance(response.data, dict):
                self._journal.put(self._key, seq, api_method, response.data)
            return response

    def _response(self, api_method: str, data: dict[str, Any]) -> SlackResponse:
        return SlackResponse(
            client=self,
            http_verb="POST",
            api_url=self.base_url + api_method,
            req_args={},
            data=data,
            headers={},
            status_code=200,
        )

    def _tagged(self, kwargs: dict[str, Any], seq: int) -> dict[str, Any]:
        """The call with message metadata naming this task and post (unless it has its own)."""
        body = dict(kwargs.get("json") or {})
        if "json" not in kwargs or body.get("metadata"):
            return kwargs
        body["metadata"] = {"event_type": POST_EVENT_TYPE, "event_payload": {"task": self._key, "seq": seq}}
        return {**kwargs, "json": body}

    def _post_once(self, api_method: str, seq: int, kwargs: dict[str, Any]) -> SlackResponse:
        """Post, unless an earlier delivery of this task already did and only its journal row is missing."""
        body = kwargs.get("json") or {}
        intent = self._journal.intent(self._key, seq)
        if intent is not None:
            message = self._find(intent, seq)
            if message is not None:
                log.info(
                    "task %s: post %d reached Slack before the worker died (ts %s); not posted again",
                    self._key,
                    seq,
                    message.get("ts"),
                )
                return self._response(
                    api_method,
                    {"ok": True, "channel": intent.channel, "ts": message["ts"], "message": message},
                )
        else:
            self._journal.intend(
                self._key,
                seq,
                api_method,
                channel=str(body.get("channel", "")),
                thread_ts=str(body.get("thread_ts") or ""),
            )
        return super().api_call(api_method, **kwargs)

    def _find(self, intent: Intent, seq: int) -> dict[str, Any] | None:
        """The message this task posted as `seq`, if Slack has it (None when it cannot say)."""
        try:
            for message in self._messages_since(intent):
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if (
                    metadata.get("event_type") == POST_EVENT_TYPE
                    and payload.get("task") == self._key
                    and str(payload.get("seq")) == str(seq)
                ):
                    return dict(message)
        except SlackApiError as exc:
            # Without the history scope for this conversation the message cannot be found again:
            # posting may show it twice, which beats never answering.
            log.warning(
                "task %s: post %d could not be looked up (%s); posting it",
                self._key,
                seq,
                exc.response.get("error"),
            )
        return None

    def _messages_since(self, intent: Intent) -> Iterator[dict[str, Any]]:
        oldest = f"{(intent.at - LOOKUP_MARGIN).timestamp():.6f}"
        cursor: str | None = None
        for _ in range(LOOKUP_PAGES):
            if intent.thread_ts:
                page = self.conversations_replies(
                    channel=intent.channel,
                    ts=intent.thread_ts,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=LOOKUP_PAGE,
                    cursor=cursor,
                )
            else:
                page = self.conversations_history(
                    channel=intent.channel,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=LOOKUP_PAGE,
                    cursor=cursor,
                )
            yield from page.get("messages") or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return
        log.warning("task %s: gave up looking after %d pages of messages", self._key, LOOKUP_PAGES)
