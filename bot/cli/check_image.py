"""Command check-image: fetch image URLs from here and say whether each picture is fit to publish.

Exit status: 0 when every picture is `ok`, 1 when any is not, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.cli.common import EXIT_OK, EXIT_PROBLEM, fail
from handlers.image_check import ImageCheckResult

_MAX_URLS = 500


def add_parser(subparsers: Any) -> list[str]:
    parser = subparsers.add_parser(
        "check-image",
        help="check image URLs: reachable, a real picture, RGB, not damaged",
        description="Fetch each image URL (safely: size, redirect and address limits) and say whether "
        "the picture is fit to publish. Exit 0 when all are ok, 1 when any is not.",
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="image links (http or https)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    return ["check-image"]


def format_line(result: ImageCheckResult) -> str:
    """One readable line: verdict, URL, what was found, and the warnings."""
    parts = [f"{result.verdict:<12} {result.url}"]
    facts = []
    if result.format or result.mode:
        facts.append(" ".join(p for p in (result.format, result.mode) if p))
    if result.width and result.height:
        facts.append(f"{result.width}x{result.height}")
    if result.bytes is not None:
        facts.append(f"{result.bytes:,} bytes")
    if result.http_status is not None:
        facts.append(f"HTTP {result.http_status}")
    if facts:
        parts.append(f"({', '.join(facts)})")
    if result.detail:
        parts.append(f"- {result.detail}")
    line = " ".join(parts)
    for warning in result.warnings:
        line += f"\n{'':<13}warning: {warning}"
    return line


def run(args: argparse.Namespace, components: Any) -> int:
    urls = [url for url in (u.strip() for u in args.urls) if url]
    if not urls:
        return fail("check-image needs at least one image URL, e.g. check-image https://example.com/a.jpg")
    if len(urls) > _MAX_URLS:
        return fail(f"check-image takes at most {_MAX_URLS} URLs at a time, not {len(urls)}")
    checker = components.image_checker
    try:
        results: list[ImageCheckResult] = checker.check_many(urls)
    finally:
        # The command is the checker's last user in this process: release its connections.
        checker.close()
    for result in results:
        if args.json:
            sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(format_line(result) + "\n")
    sys.stdout.flush()
    return EXIT_OK if all(result.ok for result in results) else EXIT_PROBLEM
