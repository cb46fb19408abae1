"""Commands `serve` (HTTP mode behind waitress) and `socket` (Socket Mode)."""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import signal
import sys
from dataclasses import replace
from typing import Any
from urllib.error import URLError

from bot.cli.common import EXIT_OK, fail

log = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> list[str]:
    serve = subparsers.add_parser(
        "serve",
        help="HTTP mode: POST /slack/events, GET /healthz, and the OAuth install routes when configured",
    )
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default $PORT or 3000)")
    subparsers.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN)")
    return ["serve", "socket"]


def run(args: argparse.Namespace, components: Any) -> int:
    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackApiError

    from bot.slack.app_factory import SlackConfigError, build_app, check_config

    settings = components.settings
    try:
        check_config(settings, socket_mode=args.command == "socket")
    except SlackConfigError as exc:
        return fail(str(exc))
    port = args.port if getattr(args, "port", None) is not None else settings.port
    if args.command == "serve" and not 0 <= port <= 65535:
        return fail(f"--port must be between 0 and 65535, not {port}")
    platforms = start_demo_platforms(components)
    try:
        try:
            app = build_app(components.settings, components, socket_mode=args.command == "socket")
        except SlackConfigError as exc:
            return fail(str(exc))
        except SlackApiError as exc:  # auth.test refused the token
            return fail(
                f"Slack refused the bot token ({exc.response.get('error', 'error')}): check SLACK_BOT_TOKEN"
            )
        except BoltError as exc:  # Bolt's own auth.test at start refused the token
            if "auth.test" not in str(exc):
                return fail(f"could not start the Slack app: {exc}")
            code = re.search(r"'error': '(\w+)'", str(exc))
            error = code.group(1) if code else "refused"
            return fail(f"Slack refused the bot token ({error}): check SLACK_BOT_TOKEN")
        except (OSError, URLError) as exc:
            return fail(f"could not reach Slack at {components.settings.slack_api_url}: {_reason(exc)}")
        except Exception as exc:  # anything else: one line, not a traceback
            return fail(f"could not start the Slack app: {exc}")
        if args.command == "socket":
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            SocketModeHandler(app, settings.slack_app_token).start()
            return EXIT_OK
        return _serve(app, components, args.host, port)
    finally:
        for platform in platforms:
            _stop(platform)


def _serve(app: Any, components: Any, host: str, port: int) -> int:
    from bot.slack.server import ServerRunner, make_server

    try:
        server = make_server(app, components.engine, host=host, port=port)
    except OSError as exc:
        return fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    print(  # noqa: T201
        f"sellerdesk: listening on http://{host}:{_port(server)}/slack/events",
        file=sys.stderr,
        flush=True,
    )
    runner = ServerRunner(server)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    runner.run()
    return EXIT_OK


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(getattr(reason, "strerror", None) or reason or exc)


def _port(server: Any) -> int:
    return int(server.effective_port)


def start_demo_platforms(components: Any) -> list[Any]:
    """Start the embedded demo's sandbox platforms when the database holds the demo.

    A new workspace can then try every flow before connecting a real store.
    """
    try:
        demo = importlib.import_module("erp.demo")
    except ImportError:
        return []
    starter = getattr(demo, "start_embedded_platforms", None)
    if starter is None:
        return []
    try:
        started = starter(components)
    except LookupError:  # no demo in this database: nothing to start
        return []
    except Exception:  # the bot still serves real stores when the demo cannot start
        log.exception("the demo's sandbox platforms did not start")
        return []
    allow = tuple(getattr(started, "allow_hosts", ()) or ())
    if allow:
        # The demo's picture host is on loopback, which image fetches refuse unless allowed.
        settings = components.settings
        components.settings = replace(
            settings, fetch_allow=tuple(dict.fromkeys((*settings.fetch_allow, *allow)))
        )
    return [started]


def _stop(platform: Any) -> None:
    for name in ("close", "stop", "shutdown"):
        stop = getattr(platform, name, None)
        if callable(stop):
            try:
                stop()
            except Exception:
                log.exception("stopping a demo platform failed")
            return
