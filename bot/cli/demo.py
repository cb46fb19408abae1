"""Command demo: create the embedded demo in the database, say what to try, or run its platforms.

    demo [--reset]     create (or reset) the demo and print every question to try
    demo serve         run the demo's sandbox marketplaces and image host until Ctrl-C

The demo account `demo` gets stores on the sandbox platforms with the broken cases each flow
diagnoses. The console and `serve` start those platforms for their run; so does every other
command that reaches them on the demo database (`sync-orders`, `scheduler`), unless `demo serve`
(or a console) already runs them: then they use those. `--reset` wipes the demo accounts' data and
builds it again; other accounts are untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from types import FrameType
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import EXIT_OK, fail

log = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> list[str]:
    demo = subparsers.add_parser(
        "demo",
        help="create the embedded demo account and print what to try; `demo serve` runs its platforms",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "action",
        nargs="?",
        choices=["serve"],
        help="serve: run the demo's sandbox platforms in the foreground (Ctrl-C stops)",
    )
    demo.add_argument("--reset", action="store_true", help="wipe the demo accounts' data and build it again")
    return ["demo"]


def run(args: argparse.Namespace, components: Any) -> int:
    from erp.demo import seed_demo

    if args.action == "serve":
        if args.reset:
            seed_demo(components.session, reset=True)
        return _serve(components)
    info = seed_demo(components.session, reset=args.reset)
    try:
        _print_guide(components, info)
    except BrokenPipeError:  # `demo | head`: the reader has what it wanted
        with contextlib.suppress(OSError):
            sys.stdout.close()
    return EXIT_OK


def _print_guide(components: Any, info: Any) -> None:
    from erp.demo import AMAZON_DE, CONSOLE_USER, DEMO_ACCOUNT, DEMO_SCENARIOS, question_zh, scenario_text
    from erp.demo.platforms import reserve_cdn_url

    cdn_url = reserve_cdn_url(components.session)
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
        out.write(f"    [{scenario.verdict}] {scenario_text(scenario.question, cdn_url)}\n")
        out.write(f"    {' ' * (len(scenario.verdict) + 3)}{scenario_text(question_zh(scenario), cdn_url)}\n")
    out.write(
        f"\nThe pictures are served at {cdn_url} while the demo's platforms run: the console and `serve`\n"
        "start them, and so do `sync-orders` and `scheduler` for their run. To keep them up for\n"
        "other commands and tools, run:  python app.py demo serve\n"
        "Start over any time with:  python app.py demo --reset\n"
    )


def _serve(components: Any) -> int:
    """Run the demo's platforms until Ctrl-C or SIGTERM."""
    from erp.demo import start_embedded_platforms
    from erp.demo.platforms import demo_platforms_answer

    if demo_platforms_answer(components.session):
        return fail("the demo's platforms already run (another `demo serve` or a console): use those")
    try:
        platforms = start_embedded_platforms(components.session)
    except LookupError as exc:
        return fail(str(exc))
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        out = sys.stdout
        out.write("The demo's platforms are running:\n")
        for name, server in (
            ("Amazon US", platforms.amazon_us),
            ("Amazon DE", platforms.amazon_de),
            ("Shopee MY", platforms.shopee_my),
            ("Shopee SG", platforms.shopee_neighbour),
        ):
            out.write(f"  {name:<10} {server.base_url}\n")
        out.write(f"  pictures   {platforms.cdn_url}/img/\n")
        out.write("Other commands on this database use them now. Ctrl-C stops.\n")
        out.flush()
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        platforms.stop()
    sys.stderr.write("demo platforms stopped\n")
    return EXIT_OK


@contextlib.contextmanager
def demo_platforms_for_run(components: Any) -> Iterator[Any]:
    """The demo's platforms for one command's run, when the database holds the demo.

    Yields the started platforms, or None when there is no demo or another process (`demo serve`,
    a console) already runs them. Its image host is allowed to image fetches for this run only.
    """
    try:
        from erp.demo import start_embedded_platforms
        from erp.demo.platforms import demo_platforms_answer
    except ImportError:  # a build without the embedded demo
        yield None
        return
    try:
        if demo_platforms_answer(components.session):
            yield None
            return
        platforms = start_embedded_platforms(components.session)
    except (LookupError, SQLAlchemyError):  # no demo here, or no database: the command says so
        yield None
        return
    allow = tuple(platforms.allow_hosts)
    settings = components.settings
    components.settings = replace(settings, fetch_allow=tuple(dict.fromkeys((*settings.fetch_allow, *allow))))
    try:
        yield platforms
    finally:
        components.settings = settings
        platforms.stop()
