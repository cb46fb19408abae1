"""A bare Bolt app served like `serve` (waitress): the ack-latency baseline of bench/scale.py.

    .venv/bin/python bench/bare_bolt.py PORT SIGNING_SECRET SLACK_API_URL

Every slash command is acknowledged at once and nothing else happens.
"""

from __future__ import annotations

import sys

from slack_bolt import Ack, App
from slack_sdk import WebClient
from waitress import serve


def main() -> int:
    port, secret, api_url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = App(
        signing_secret=secret,
        client=WebClient(token="xoxb-bare", base_url=api_url),
        token_verification_enabled=False,
        process_before_response=True,
    )

    def acknowledge(ack: Ack) -> None:
        ack(text="ok")

    app.command(__import__("re").compile(r"^/.*"))(acknowledge)

    def wsgi(environ: dict, start_response):  # type: ignore[no-untyped-def,type-arg]
        from slack_bolt.adapter.wsgi import SlackRequestHandler

        return SlackRequestHandler(app)(environ, start_response)

    print(f"bare bolt on {port}", file=sys.stderr, flush=True)
    serve(wsgi, host="127.0.0.1", port=port, threads=16, _quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
