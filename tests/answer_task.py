"""Runs one `slack_answer` task as a worker would, in its own process (a test kills it mid-post).

Settings come from the environment (as `sellerdesk worker` reads them); the task's payload is
JSON on stdin.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    from app import Components
    from bot.settings import Settings
    from bot.tasks.catalog import SLACK_ANSWER
    from bot.tasks.jobs import task_handlers

    components = Components(Settings.from_env(os.environ))
    task_handlers(components)[SLACK_ANSWER](json.loads(sys.stdin.read()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
