"""What each task does on a worker, wired from the application's parts (`app.Components`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from bot.tasks import catalog
from bot.tasks.runner import TaskHandler

log = logging.getLogger(__name__)
ACTOR = "scheduler"


def task_handlers(components: Any) -> dict[str, TaskHandler]:
    """Task name -> what runs it, for a worker (or the in-process runner)."""
    from bot.scheduling import build_jobs
    from bot.tasks.slack import SlackAnswers

    guard = threading.Lock()
    built: dict[str, Callable[[], object]] = {}

    def job(name: str) -> TaskHandler:
        def run(payload: dict[str, Any]) -> object:
            with guard:  # the scheduled jobs' wiring, built once on first use
                if not built:
                    built.update(build_jobs(components))
            if name not in built:
                log.warning("task %s cannot run here (no Slack token to post follow-ups with)", name)
                return None
            return built[name]()

        return run

    def order_sync_store(payload: dict[str, Any]) -> object:
        try:
            # Failures (an expired authorization, a platform down) come back in the progress and
            # are stored on the run; the next schedule carries on from where this one stopped.
            return components.order_sync.sync_store(int(payload["store_id"]), trigger="schedule", actor=ACTOR)
        except LookupError:
            log.info("store %s is gone; its queued sync is dropped", payload["store_id"])
            return None

    def report_import_store(payload: dict[str, Any]) -> object:
        return components.report_refresher.import_all(actor=ACTOR, store_ids=[int(payload["store_id"])])

    def build_worker_app() -> Any:
        from bot.slack.app_factory import build_app

        return build_app(components.settings, components, token_verification=False, worker=True)

    return {
        catalog.SLACK_ANSWER: SlackAnswers(build_worker_app),
        catalog.ORDER_SYNC_STORE: order_sync_store,
        catalog.REPORT_IMPORT_STORE: report_import_store,
        catalog.IMAGE_GRAB: job("image_grab"),
        catalog.PURGE_DELETED: job("purge_deleted"),
        catalog.FOLLOW_UPS: job("follow_ups"),
    }
