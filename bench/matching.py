"""Benchmark: question matching on held-out examples, its latency and the model's start-up time.

Every 5th example of each flow and of the out-of-scope set is held out (never trained on), as in
tests/test_knowledge_matcher.py. Prints in-scope accuracy, out-of-scope recall, a confusion
table between flows, per-question latency (median, p99) on one thread, and start-up time: the
import of the libraries, loading the knowledge files and training (targets: accuracy >= 95%,
recall >= 80%, median < 2 ms, start-up < 1 s).

    .venv/bin/python bench/matching.py [--repeat 20] [--startups 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_import_started = time.perf_counter()
from threadpoolctl import threadpool_limits  # noqa: E402

from knowledge.loader import KnowledgeBase, load_knowledge  # noqa: E402
from knowledge.matcher import Matcher  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _import_started

HELD_OUT_EVERY = 5
NONE = "(none)"


def held_out_cases(kb: KnowledgeBase) -> list[tuple[str, str]]:
    cases = [
        (question, flow_id)
        for flow_id, flow in kb.flows.items()
        for question in flow.examples[HELD_OUT_EVERY - 1 :: HELD_OUT_EVERY]
    ]
    cases += [(question, NONE) for question in kb.out_of_scope[HELD_OUT_EVERY - 1 :: HELD_OUT_EVERY]]
    return cases


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="latency passes over the held-out questions")
    parser.add_argument("--startups", type=int, default=5, help="load-and-train runs to time")
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")

    startups: list[tuple[float, float]] = []
    for _ in range(max(1, args.startups)):
        started = time.perf_counter()
        kb = load_knowledge()
        loaded = time.perf_counter()
        Matcher.train(kb)
        startups.append((loaded - started, time.perf_counter() - loaded))
    load_s = statistics.median(load for load, _ in startups)
    train_s = statistics.median(train for _, train in startups)
    print(
        f"start-up: import {IMPORT_SECONDS * 1000:.0f} ms, load knowledge {load_s * 1000:.1f} ms, "
        f"train {train_s * 1000:.0f} ms (median of {len(startups)}); "
        f"load+train {(load_s + train_s) * 1000:.0f} ms"
    )

    cases = held_out_cases(kb)
    matcher = Matcher.train(kb, exclude=[question for question, _ in cases])
    flows = [*kb.flows, NONE]
    confusion = {gold: dict.fromkeys(flows, 0) for gold in flows}
    close = 0
    for question, gold in cases:
        result = matcher.match(question)
        confusion[gold][result.flow or NONE] += 1
        close += result.close
    in_scope = [(q, g) for q, g in cases if g != NONE]
    right = sum(confusion[g][g] for g in kb.flows)
    out_of_scope = len(cases) - len(in_scope)
    trained = sum(len(f.examples) for f in kb.flows.values()) + len(kb.out_of_scope) - len(cases)
    print(
        f"held out: {len(in_scope)} in-scope, {out_of_scope} out-of-scope questions "
        f"(trained on the other {trained})"
    )
    print(f"in-scope accuracy: {right / len(in_scope):.1%} ({right}/{len(in_scope)})")
    declined = confusion[NONE][NONE]
    print(f"out-of-scope recall: {declined / out_of_scope:.1%} ({declined}/{out_of_scope})")
    print(f"clarifying question asked on {close} of {len(cases)} held-out questions")
    print()
    print("confusion (rows: true flow, columns: matched flow)")
    short = {flow: f"c{index}" for index, flow in enumerate(flows)}
    print(" " * 24 + " ".join(f"{short[flow]:>4}" for flow in flows))
    for gold in flows:
        cells = " ".join(f"{confusion[gold][flow] or '.':>4}" for flow in flows)
        print(f"{short[gold]:>3} {gold:<20} {cells}")
    print()

    questions = [question for question, _ in cases]
    timings: list[float] = []
    with threadpool_limits(limits=1):
        for question in questions[:20]:
            matcher.match(question)  # warm-up
        for _ in range(max(1, args.repeat)):
            for question in questions:
                started = time.perf_counter()
                matcher.match(question)
                timings.append(time.perf_counter() - started)
    print(
        f"latency per question, one thread, {len(timings)} matches: "
        f"median {statistics.median(timings) * 1000:.3f} ms, p99 {percentile(timings, 0.99) * 1000:.3f} ms"
    )
    long_question = "改了价格怎么没变 price not updated AB-1234-BLK " * 3000
    started = time.perf_counter()
    matcher.match(long_question)
    print(
        f"one {len(long_question.encode()) // 1024} KB paste: {(time.perf_counter() - started) * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
