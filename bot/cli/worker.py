"""Command worker: run background tasks from the broker until Ctrl-C or SIGTERM.

worker [--queues answers,sync,nightly,images] [--threads N]

Start as many as the work needs, on any machines that reach the database and the broker
(SELLERDESK_BROKER_URL). Queues: answers (the work behind a Slack answer: give them a worker of
their own so nightly work never delays a seller), sync (scheduled order syncs, one task per
store), nightly (report imports per store, purges, follow-ups), images (the nightly image grab).
A worker killed mid-task loses nothing: its tasks go to another worker once its heartbeat stops
(SELLERDESK_WORKER_HEARTBEAT_SECONDS, 30).
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from bot.cli.common import EXIT_OK, fail


def add_parser(subparsers: Any) -> list[str]:
    parser = subparsers.add_parser(
        "worker",
        help="run background tasks from the broker (SELLERDESK_BROKER_URL)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--queues",
        metavar="Q,...",
        default="",
        help="comma-separated queues to take tasks from (default: all of answers,sync,nightly,images)",
    )
    parser.add_argument(
        "--threads", type=int, default=8, help="tasks run at once in this process (default 8)"
    )
    return ["worker"]


def run(args: argparse.Namespace, components: Any) -> int:
    from bot.tasks.catalog import ANSWERS, SLACK_ANSWER, parse_queues

    settings = components.settings
    if not settings.broker_url:
        return fail(
            "SELLERDESK_BROKER_URL is not set: without a broker, background tasks run inside "
            "serve, socket and scheduler, and no worker is needed"
        )
    try:
        queues = parse_queues(args.queues)
    except ValueError as exc:
        return fail(f"--queues: {exc}")
    if not 1 <= args.threads <= 256:
        return fail(f"--threads must be between 1 and 256, not {args.threads}")
    import redis

    from bot.tasks.broker import WorkerProcess, declare_tasks
    from bot.tasks.jobs import task_handlers

    broker = components.broker
    try:
        broker.client.ping()
    except redis.RedisError as exc:
        return fail(f"cannot reach the broker at SELLERDESK_BROKER_URL: {exc}")
    components.engine  # noqa: B018  (opens the database and creates the schema before any task)
    handlers = task_handlers(components)
    if ANSWERS in queues and (settings.slack_bot_token or settings.oauth_enabled):
        handlers[SLACK_ANSWER].app()  # type: ignore[attr-defined]  # trained before the first answer
    declare_tasks(broker, handlers)
    worker = WorkerProcess(broker, queues, args.threads)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    print(  # noqa: T201
        f"worker running: queues {','.join(queues)}, {args.threads} threads; Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    worker.run()
    print("worker stopped", file=sys.stderr)  # noqa: T201
    return EXIT_OK
