"""What a Slack answer task has posted, so a retried task never posts the same message twice.

A worker can die after posting the progress message, or after the answer itself, before the
broker hears that the task finished; the broker then delivers the task again, elsewhere. The
journal keeps, per task (its idempotency key), the Web API response of each message the task
posted, in the order posted. A retry runs the same turn and so makes the same posts in the same
order: the ones already journaled return the stored response (the same message `ts`, so progress
edits land on the message the seller already sees), and only the rest are really posted.

Only calls that add something a seller sees are journaled (`chat.postMessage`,
`chat.postEphemeral`, sharing an uploaded file); edits and look-ups are safe to repeat.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.web import SlackResponse
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from erp.models import TaskPost

log = logging.getLogger(__name__)

JOURNALED_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "files.completeUploadExternal"})
KEEP = timedelta(days=7)  # far longer than any retry

posted: Any = TaskPost.__table__  # type: ignore[attr-defined]


class PostJournal:
    """The `task_post` table: (task key, sequence number) -> the Web API response.

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
                return SlackResponse(
                    client=self,
                    http_verb="POST",
                    api_url=self.base_url + api_method,
                    req_args={},
                    data=stored,
                    headers={},
                    status_code=200,
                )
            response = super().api_call(api_method, **kwargs)
            if isinstance(response.data, dict):
                self._journal.put(self._key, seq, api_method, response.data)
            return response
