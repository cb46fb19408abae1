"""Every background task by name: the queue it waits in and how it is retried.

Separate queues keep a seller who waits for an answer from queueing behind nightly work: an
answer never waits for a report import or a slow picture host, and a worker can be dedicated to
answers (`python app.py worker --queues answers`).
"""

from __future__ import annotations

from dataclasses import dataclass

ANSWERS = "answers"
"""The work behind a Slack answer a seller is waiting for."""
SYNC = "sync"
"""Scheduled order syncs, one task per store."""
NIGHTLY = "nightly"
"""Report imports (one task per store), purges and follow-ups."""
IMAGES = "images"
"""The nightly image grab: picture hosts can be slow."""

QUEUES = (ANSWERS, SYNC, NIGHTLY, IMAGES)

SLACK_ANSWER = "slack_answer"
ORDER_SYNC_STORE = "order_sync_store"
REPORT_IMPORT_STORE = "report_import_store"
IMAGE_GRAB = "image_grab"
PURGE_DELETED = "purge_deleted"
FOLLOW_UPS = "follow_ups"


@dataclass(frozen=True)
class TaskSpec:
    """How one task runs.

    Attributes:
        queue: the queue it waits in.
        max_retries: retries after it raised (a worker that died does not count: its task is
            simply delivered again).
        time_limit_seconds: the longest one run may take before it is stopped and retried.
    """

    queue: str
    max_retries: int = 3
    time_limit_seconds: int = 15 * 60


TASKS: dict[str, TaskSpec] = {
    # An answer is retried once: a seller who waited minutes is better served by the apology.
    SLACK_ANSWER: TaskSpec(ANSWERS, max_retries=1, time_limit_seconds=10 * 60),
    ORDER_SYNC_STORE: TaskSpec(SYNC, max_retries=2, time_limit_seconds=30 * 60),
    REPORT_IMPORT_STORE: TaskSpec(NIGHTLY, max_retries=2, time_limit_seconds=60 * 60),
    IMAGE_GRAB: TaskSpec(IMAGES, max_retries=1, time_limit_seconds=3 * 60 * 60),
    PURGE_DELETED: TaskSpec(NIGHTLY, max_retries=2),
    FOLLOW_UPS: TaskSpec(NIGHTLY, max_retries=0),
}


def parse_queues(raw: str | None) -> tuple[str, ...]:
    """The queues named in `--queues a,b` (all when empty).

    Raises:
        ValueError: a name that is not a queue; the message lists the queues.
    """
    names = tuple(dict.fromkeys(part.strip() for part in (raw or "").split(",") if part.strip()))
    unknown = [name for name in names if name not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue {unknown[0]!r}: the queues are {', '.join(QUEUES)}")
    return names or QUEUES
