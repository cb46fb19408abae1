"""Command knowledge: review the examples agents relabelled or sellers marked unhelpful.

    knowledge review [--accept ID [--as FLOW]]... [--reject ID]... [--all] [--json]

Without --accept/--reject it lists the pending examples (oldest first). Accepted examples are
trained on: a running bot notices them within a minute, `classify` and `console` at their next
start (the model cache is keyed by them). An unknown or already reviewed id exits 2 with one line; the
other ids of the same call are still reviewed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.cli.common import EXIT_OK, fail
from erp.learned import LearnedError, list_examples, review
from erp.models import LearnedExample
from knowledge.matcher import LABELS


def add_parser(subparsers: Any) -> list[str]:
    knowledge = subparsers.add_parser("knowledge", help="review learned examples for the matcher")
    commands = knowledge.add_subparsers(dest="action", metavar="ACTION", required=True)
    reviewing = commands.add_parser(
        "review",
        help="list pending examples; accept or reject them for training",
        description="List the seller questions agents relabelled or sellers marked unhelpful, "
        "and accept (train on) or reject them.",
    )
    reviewing.add_argument("--accept", type=int, action="append", default=[], metavar="ID")
    reviewing.add_argument(
        "--as",
        dest="flow",
        choices=LABELS,
        metavar="FLOW",
        help="with one --accept: train it as this flow (or out_of_scope) instead of the one stored, "
        'e.g. for a "did not help" example whose flow was the wrong guess',
    )
    reviewing.add_argument("--reject", type=int, action="append", default=[], metavar="ID")
    reviewing.add_argument("--all", action="store_true", help="list reviewed examples too")
    reviewing.add_argument("--json", action="store_true", help="one JSON object a line")
    return ["knowledge"]


def run(args: argparse.Namespace, components: Any) -> int:
    both = sorted(set(args.accept) & set(args.reject))
    if both:
        return fail(f"example {both[0]} cannot be both accepted and rejected")
    if args.flow and len(args.accept) != 1:
        return fail("--as FLOW goes with exactly one --accept ID")
    reviewed: list[LearnedExample] = []
    problems: list[str] = []
    with components.session() as session:
        for example_id, accept in [(i, True) for i in args.accept] + [(i, False) for i in args.reject]:
            try:
                flow = args.flow if accept else None
                reviewed.append(review(session, example_id, accept=accept, reviewer="cli", flow=flow))
            except LearnedError as exc:
                problems.append(str(exc))
        shown = (
            reviewed
            if (args.accept or args.reject)
            else list_examples(session, None if args.all else "pending")
        )
    _print(shown, as_json=args.json, reviewing=bool(args.accept or args.reject))
    if problems:
        return fail("; ".join(problems))
    return EXIT_OK


def _print(examples: list[LearnedExample], *, as_json: bool, reviewing: bool) -> None:
    out = sys.stdout
    if as_json:
        for example in examples:
            out.write(json.dumps(_record(example), ensure_ascii=False) + "\n")
        return
    if not examples:
        out.write("no examples to review\n" if not reviewing else "")
        return
    for example in examples:
        case = f" case #{example.escalation_id}" if example.escalation_id else ""
        words = example.text if len(example.text) <= 200 else example.text[:199] + "…"
        out.write(
            f"#{example.id} [{example.status}] {example.flow} ({example.source}{case}, "
            f"{example.created_by or '-'}, {example.created_at:%Y-%m-%d %H:%M})\n    {words}\n"
        )


def _record(example: LearnedExample) -> dict[str, Any]:
    return {
        "id": example.id,
        "text": example.text,
        "flow": example.flow,
        "language": example.language,
        "source": example.source,
        "case": example.escalation_id,
        "status": example.status,
        "created_by": example.created_by,
        "created_at": example.created_at.isoformat(),
        "reviewed_by": example.reviewed_by,
        "reviewed_at": example.reviewed_at.isoformat() if example.reviewed_at else None,
    }
