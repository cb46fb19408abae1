"""`python app.py socket`: the same app over Socket Mode, against a fake WebSocket endpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from sqlmodel import Session

from erp.accounts import link_slack_user
from erp.db import make_engine
from erp.models import Account
from tests.fake_slack import FakeSlack, FakeSocketMode, seed_world

ROOT = Path(__file__).resolve().parent.parent


def test_socket_mode_acknowledges_commands_and_answers_messages(
    database_url: str, fake_slack: FakeSlack, fake_socket_mode: FakeSocketMode, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    with Session(engine, expire_on_commit=False) as session:
        world = seed_world(session)
        account = session.get(Account, world.demo_id)
        link_slack_user(session, team_id="T1", user_id="U1", account=account, role="owner")
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SELLERDESK_"))}
    env.update(
        DATABASE_URL=database_url,
        SLACK_APP_TOKEN="xapp-1-socket-test",
        SLACK_BOT_TOKEN="xoxb-socket-test",
        SLACK_API_URL=fake_slack.url,
        SELLERDESK_DATA_DIR=str(tmp_path / "data"),
    )
    # No command: with an app token the main job is Socket Mode.
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(process.stderr or []), daemon=True).start()
    try:
        assert fake_socket_mode.connected.wait(60), "".join(stderr)
        command = fake_socket_mode.envelope(
            "slash_commands",
            {
                "team_id": "T1",
                "channel_id": "C1",
                "user_id": "U1",
                "command": "/sellerdesk",
                "text": "help",
                "response_url": fake_slack.response_url(),
                "trigger_id": "t1",
            },
        )
        fake_slack.wait_for(lambda: command in fake_socket_mode.acks, timeout=30, message="the command's ack")
        assert "/check-sku" in fake_socket_mode.acks[command]["text"]

        event = fake_socket_mode.envelope(
            "events_api",
            {
                "type": "event_callback",
                "team_id": "T1",
                "api_app_id": "A1",
                "event_id": "EvSOCKET1",
                "event": {
                    "type": "message",
                    "channel": "D1",
                    "channel_type": "im",
                    "user": "U1",
                    "text": "why is DEMO-UP-FAILED not on the upload page?",
                    "ts": "1.000001",
                },
                "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
            },
        )
        fake_slack.wait_for(lambda: event in fake_socket_mode.acks, timeout=30, message="the event's ack")
        answer = fake_slack.wait_for(lambda: fake_slack.posts("D1"), timeout=30, message="the answer")[0]
        assert "DEMO-UP-FAILED" in answer.args["text"] or "DEMO-UP-FAILED" in str(answer.args["blocks"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
