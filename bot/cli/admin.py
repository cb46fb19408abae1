"""Command(s) store, account, user: not available yet."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import not_available


def add_parser(subparsers: Any) -> list[str]:
    subparsers.add_parser("store", help="(not available yet)")
    subparsers.add_parser("account", help="(not available yet)")
    subparsers.add_parser("user", help="(not available yet)")
    return ["store", "account", "user"]


def run(args: argparse.Namespace, components: Any) -> int:
    return not_available(args.command)
