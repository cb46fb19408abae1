"""Helpers shared by the command modules: one-line errors and exit statuses (DESIGN.md section 3)."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


def fail(message: str, status: int = EXIT_USAGE) -> int:
    """Print a one-line message (never a traceback) and return the exit status."""
    print(f"sellerdesk: {message}", file=sys.stderr)  # noqa: T201
    return status


def not_available(command: str) -> int:
    return fail(f"'{command}' is not available yet in this version")
