"""`python app.py classify`: questions on stdin, one JSON object per line on stdout (DESIGN.md section 3).

Each output line is flushed as soon as it is written, so another program can drive the matcher
interactively through a pipe. Input that is not UTF-8 is read with replacement characters
rather than refused: one bad line must not lose the answers to the others.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any, BinaryIO

from bot.cli.common import EXIT_OK, fail


def add_parser(subparsers: Any) -> list[str]:
    parser = subparsers.add_parser(
        "classify",
        help="match questions (one a line on stdin) to flows; print one JSON object a line",
        description="Read questions on stdin, one a line, and print one JSON object a line: "
        '{"question", "flow", "confidence", "alternatives", "entities", "act"}; act is one of '
        "greeting, thanks, human, help, cancel, not_resolved, or null for a question.",
    )
    parser.add_argument(
        "--known-sku",
        action="append",
        default=[],
        metavar="SKU",
        help="a SKU of the seller's; near spellings in questions are reported as it (repeatable)",
    )
    parser.add_argument(
        "--known-store",
        action="append",
        default=[],
        metavar="NAME",
        help="a store name of the seller's, matched ignoring case and spacing (repeatable)",
    )
    return ["classify"]


def run(args: argparse.Namespace, components: Any) -> int:
    from knowledge.loader import KnowledgeError

    try:
        matcher = components.matcher
    except KnowledgeError as exc:
        return fail(f"the knowledge files are broken: {exc}")
    try:
        classify_stream(
            matcher,
            sys.stdin.buffer,
            sys.stdout.buffer,
            known_skus=args.known_sku,
            known_stores=args.known_store,
        )
    except BrokenPipeError:
        # The reader went away (`| head`): nothing left to say, and not an error of ours.
        _silence_stdout()
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


def classify_stream(
    matcher: Any,
    source: BinaryIO,
    sink: BinaryIO,
    *,
    known_skus: list[str] | None = None,
    known_stores: list[str] | None = None,
) -> int:
    """Answer each line of `source` with one JSON line on `sink`; returns the number of lines.

    Args:
        matcher: a trained `knowledge.matcher.Matcher`.
        source: questions, one a line, UTF-8 (invalid bytes become U+FFFD).
        sink: where the JSON lines go, UTF-8, flushed after every line.
        known_skus: the seller's SKUs, for exact and near SKU matches.
        known_stores: the seller's store names.
    """
    count = 0
    for raw in source:
        question = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        record = classify_question(
            matcher, question, known_skus=known_skus or (), known_stores=known_stores or ()
        )
        sink.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        sink.flush()
        count += 1
    return count


def classify_question(
    matcher: Any,
    question: str,
    *,
    known_skus: list[str] | tuple[str, ...] = (),
    known_stores: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """The JSON object of DESIGN.md section 3 for one question.

    A turn that is only a conversation act ("thanks", "转人工") has no flow. A request for a person
    that also says what is wrong ("talk to a person, orders missing") is matched on those words.
    """
    from knowledge.acts import read_act
    from knowledge.entities import extract_entities

    reading = read_act(question)
    entities = extract_entities(question, known_skus=known_skus, known_stores=known_stores)
    if reading.act is not None and reading.pure:
        flow, confidence, alternatives = None, 1.0, []
    else:
        result = matcher.match(reading.rest if reading.act == "human" else question)
        flow, confidence, alternatives = result.flow, result.confidence, result.alternatives
    return {
        "question": question,
        "flow": flow,
        "confidence": confidence,
        "alternatives": [
            {"flow": alternative.flow, "confidence": alternative.confidence} for alternative in alternatives
        ],
        "entities": asdict(entities),
        "act": reading.act,
    }


def _silence_stdout() -> None:
    # Python flushes stdout again at exit and would print a second BrokenPipeError; point the
    # descriptor at /dev/null so that final flush succeeds quietly.
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
