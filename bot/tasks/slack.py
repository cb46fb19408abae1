"""The Slack side of background tasks: the web process enqueues the slow half of a request, a
worker runs it and posts the answer.

Bolt already splits every listener into an ack (in the request) and lazy functions (the slow
checks). With a broker, `QueuedLazyListeners` replaces Bolt's thread runner for lazy functions:
instead of a thread, each becomes a `slack_answer` task carrying the request body (the seller's
turn and where it happened: team, channel, user, thread), the lazy function's name and an
idempotency key. On a worker, `SlackAnswers` dispatches that body to a Bolt app built from the same
listeners with `lazy_only` set, exactly as Bolt's own AWS Lambda adapter re-invokes itself: the
middleware resolves the seller again and Bolt's authorization finds the team's bot token (the
single workspace token, or the team's installation in the database), so the worker needs nothing
the web process holds. Posts go through a `JournaledClient`, so a task retried after its worker
died never posts an answer twice.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_sdk import WebClient

from bot.tasks.catalog import SLACK_ANSWER
from bot.tasks.journal import JournaledClient, PostJournal
from bot.tasks.runner import TaskRunner

log = logging.getLogger(__name__)

TASK_KEY_HEADER = "x-sellerdesk-task-key"


def answer_payload(request: BoltRequest) -> dict[str, Any]:
    """What a worker needs to run one lazy function of `request` and post its answer."""
    return {
        "key": uuid.uuid4().hex,  # the idempotency key: the same on every delivery of this task
        "function": request.lazy_function_name or "",
        "body": request.body,  # the turn and the place: text, team, channel, user, thread
        "team_id": request.context.team_id or "",  # whose bot token posts the answer
        "enterprise_id": request.context.enterprise_id or "",
    }


class QueuedLazyListeners(LazyListenerRunner):
    """Bolt's lazy listener runner for the web process with a broker: enqueue, never run here."""

    def __init__(self, tasks: TaskRunner, logger: logging.Logger | None = None) -> None:
        self.tasks = tasks
        self.logger = logger or log

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        payload = answer_payload(request)
        self.tasks.submit(SLACK_ANSWER, payload)
        self.logger.debug("queued %s as task %s", payload["function"], payload["key"])


def use_queue(app: App, tasks: TaskRunner) -> None:
    """Make `app` hand its lazy listeners to `tasks` instead of its own threads."""
    app.listener_runner.lazy_listener_runner = QueuedLazyListeners(tasks, app.logger)


def journal_middleware(journal: PostJournal) -> Callable[..., Any]:
    """Worker-only middleware: the request's client journals its posts under the task's key."""

    def journaled_client(
        context: BoltContext,
        request: BoltRequest,
        next: Callable[[], BoltResponse],  # noqa: A002
    ) -> BoltResponse | None:
        key = (request.headers.get(TASK_KEY_HEADER) or [""])[0]
        client = context.client
        if key and isinstance(client, WebClient) and not isinstance(client, JournaledClient):
            context["client"] = JournaledClient(client, journal, key)
        return next()

    return journaled_client


class SlackAnswers:
    """Runs `slack_answer` tasks on a worker, on a Bolt app built once (on the first task).

    Args:
        build: builds the worker's Bolt app (`build_app(..., worker=True)`).
    """

    def __init__(self, build: Callable[[], App]) -> None:
        self._build = build
        self._app: App | None = None
        self._guard = threading.Lock()

    def app(self) -> App:
        with self._guard:
            if self._app is None:
                self._app = self._build()
            return self._app

    def __call__(self, payload: dict[str, Any]) -> object:
        request = BoltRequest(
            body=dict(payload["body"]),
            headers={
                "x-slack-bolt-lazy-only": ["1"],
                "x-slack-bolt-lazy-function-name": [str(payload["function"])],
                TASK_KEY_HEADER: [str(payload["key"])],
            },
            # The body arrives parsed (it was verified and parsed by the web process); Bolt takes
            # parsed bodies in its Socket Mode shape.
            mode="socket_mode",
        )
        response = self.app().dispatch(request)
        if response.status != 200:
            log.warning(
                "task %s (%s) matched no listener: %s", payload["key"], payload["function"], response.status
            )
        return response.status
