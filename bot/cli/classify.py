"""Command(s) classify: not available yet."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import not_available


def add_parser(subparsers: Any) -> list[str]:
    subparsers.add_parser("classify", help="(not available yet)")
    return ["classify"]


def run(args: argparse.Namespace, components: Any) -> int:
    return not_available(args.command)
