"""Command demo: create the embedded demo in the database and say what to try.

    demo [--reset]

The demo account `demo` gets stores on the sandbox platforms with the broken cases each flow
diagnoses; the console (`python app.py console`) starts those platforms and talks as the demo's
owner. `--reset` wipes the demo accounts' data and builds it again; other accounts are untouched.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.cli.common import EXIT_OK
from erp.demo import (
    AMAZON_DE,
    CDN_PLACEHOLDER,
    CONSOLE_USER,
    DEMO_ACCOUNT,
    DEMO_SCENARIOS,
    question_zh,
    seed_demo,
)


def add_parser(subparsers: Any) -> list[str]:
    demo = subparsers.add_parser("demo", help="create the embedded demo account and print what to try")
    demo.add_argument("--reset", action="store_true", help="wipe the demo accounts' data and build it again")
    return ["demo"]


def run(args: argparse.Namespace, components: Any) -> int:
    info = seed_demo(components.session, reset=args.reset)
    out = sys.stdout
    state = "created" if info.created else "ready (its times moved up to now)"
    stores = ", ".join(
        f"{name} (authorization expired)" if name == AMAZON_DE else name for name in sorted(info.stores)
    )
    out.write(f"Demo {state}: account '{DEMO_ACCOUNT}' with stores {stores}.\n")
    out.write(f"Talk to the bot as the demo's owner:  python app.py console --user {CONSOLE_USER}\n")
    out.write("Then ask, in English or Chinese, for example:\n")
    flow = ""
    for scenario in DEMO_SCENARIOS:
        if scenario.flow != flow:
            flow = scenario.flow
            out.write(f"\n  {flow}\n")
        out.write(f"    [{scenario.verdict}] {scenario.question}\n")
        out.write(f"    {' ' * (len(scenario.verdict) + 3)}{question_zh(scenario)}\n")
    out.write(
        f"\n{CDN_PLACEHOLDER} is the demo image host the console starts (it prints its address).\n"
        "Start over any time with:  python app.py demo --reset\n"
    )
    return EXIT_OK
