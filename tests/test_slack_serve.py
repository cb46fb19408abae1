"""`python app.py serve` as a real process on the embedded demo, driven as Slack would drive it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_slack import ESCALATION_CHANNEL, FakeSlack, SlackSender

ROOT = Path(__file__).resolve().parent.parent
SECRET = "serve-test-signing-secret-0123"


def _texts(args: dict[str, Any]) -> str:
    return args.get("text", "") + "\n" + json.dumps(args.get("blocks") or [], ensure_ascii=False)


def _env(database_url: str, fake: FakeSlack, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SELLERDESK_"))}
    env.update(
        DATABASE_URL=database_url,
        SLACK_API_URL=fake.url,
        SELLERDESK_DATA_DIR=str(tmp_path / "data"),
        SELLERDESK_ESCALATION_CHANNEL=ESCALATION_CHANNEL,
        **extra,
    )
    return env


@pytest.fixture
def served_demo(database_url: str, fake_slack: FakeSlack, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The demo seeded, owner U1 linked, and `serve` running; yields (base URL, process)."""
    from sqlmodel import Session

    from erp.accounts import get_account_by_name, link_slack_user
    from erp.db import make_engine
    from erp.demo import seed_demo

    engine = make_engine(database_url)
    seed_demo(lambda: Session(engine, expire_on_commit=False))
    with Session(engine, expire_on_commit=False) as session:
        demo = get_account_by_name(session, "demo")
        link_slack_user(session, team_id="T1", user_id="U1", account=demo, role="owner")
    engine.dispose()
    env = _env(database_url, fake_slack, tmp_path, SLACK_BOT_TOKEN="xoxb-serve", SLACK_SIGNING_SECRET=SECRET)
    process = subprocess.Popen(
        [sys.executable, "app.py", "serve", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        seen = []
        match = None
        while match is None:
            line = process.stderr.readline()
            if not line:
                raise AssertionError("serve did not start:\n" + "".join(seen))
            seen.append(line)
            match = re.search(r"http://127\.0\.0\.1:(\d+)/slack/events", line)
        # Keep reading stderr so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
        yield f"http://127.0.0.1:{match.group(1)}", process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_answers_the_demo_with_sync_progress_and_the_rgb_file(
    served_demo: tuple[str, Any], fake_slack: FakeSlack
) -> None:
    base, _process = served_demo
    assert httpx.get(base + "/healthz").json() == {"ok": True, "database": True}
    assert httpx.get(base + "/slack/install").status_code == 404  # no OAuth configured
    send = SlackSender(base + "/slack/events", SECRET, fake_slack)
    try:
        # The order sync runs on the demo's sandbox platforms: progress edits one message.
        ack = send.command("/sync-orders", "", user="U1", channel="DU1")
        assert "Syncing orders" in ack.text
        fake_slack.wait_for(
            lambda: any("sd_feedback" in _texts(p.args) for p in fake_slack.posts("DU1")),
            timeout=60,
            message="the sync's answer",
        )
        progress = fake_slack.posts("DU1")[0]
        assert "Syncing orders now" in progress.args["text"] or "Order sync finished" in progress.args["text"]
        edits = [c for c in fake_slack.calls_to("chat.update") if c.args["ts"] == progress.ts]
        final = (edits[-1].args if edits else progress.args)["text"]
        assert "Order sync finished" in final
        assert "Amazon US: done" in final and "Shopee MY: done" in final and "Amazon DE" in final
        answer = next(p for p in fake_slack.posts("DU1") if "sd_feedback" in _texts(p.args))
        assert "Amazon DE" in _texts(answer.args) and "authoriz" in _texts(answer.args).lower()

        # A CMYK picture: the answer offers the converted file, which lands in the answer's thread.
        send.message("DEMO-PUB-CMYK fails to publish because of its picture", user="U1", channel="DU1")
        answer = fake_slack.wait_for(
            lambda: [
                p
                for p in fake_slack.posts("DU1", top_level=True)
                if "not_rgb" in _texts(p.args) or "CMYK" in _texts(p.args)
            ],
            timeout=30,
            message="the picture diagnosis",
        )[-1]
        convert = next(
            e
            for b in answer.args["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if json.loads(e["value"]).get("k") == "convert_rgb"
        )
        answer_ts = answer.ts
        send.action(convert["action_id"], convert["value"], user="U1", channel="DU1", message_ts=answer_ts)
        uploads = fake_slack.wait_for(
            lambda: fake_slack.uploaded_files("DU1"), timeout=30, message="the RGB file"
        )
        name, content, args = uploads[0]
        assert name.endswith("-rgb.jpg") and args["thread_ts"] == answer_ts
        from io import BytesIO

        from PIL import Image

        assert Image.open(BytesIO(content)).mode == "RGB"
    finally:
        send.close()


def test_serve_without_a_signing_secret_is_bad_usage(
    database_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = _env(database_url, fake_slack, tmp_path, SLACK_BOT_TOKEN="xoxb-serve")
    result = subprocess.run(
        [sys.executable, "app.py", "serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sellerdesk: SLACK_SIGNING_SECRET is not set: Slack requests cannot be verified"
    ]
    socket = subprocess.run(
        [sys.executable, "app.py", "socket"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert socket.returncode == 2 and "SLACK_APP_TOKEN" in socket.stderr and "Traceback" not in socket.stderr
    refused = subprocess.run(
        [sys.executable, "app.py", "serve", "--port", "0"],
        cwd=ROOT,
        env={**env, "SLACK_BOT_TOKEN": "xoxb-invalid", "SLACK_SIGNING_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "sellerdesk: Slack refused the bot token (invalid_auth): check SLACK_BOT_TOKEN"
    )
    assert "xoxb-invalid" not in refused.stderr  # never a token in the output


def test_every_demo_scenario_is_answered_in_slack_with_its_verdict(
    served_demo: tuple[str, Any], fake_slack: FakeSlack, database_url: str
) -> None:
    from sqlmodel import Session, select

    from erp.db import make_engine
    from erp.demo import DEMO_SCENARIOS, scenario_text
    from erp.models import Product

    base, _process = served_demo
    engine = make_engine(database_url)
    with Session(engine) as session:
        # serve pointed the demo's picture links at its own image host: read its address back.
        product = session.exec(select(Product).where(Product.sku == "DEMO-PUB-CMYK")).one()
        cdn = product.image_urls[0].split("/img/", 1)[0]
    engine.dispose()
    send = SlackSender(base + "/slack/events", SECRET, fake_slack)
    try:
        for index, scenario in enumerate(DEMO_SCENARIOS):
            send.message(scenario_text(scenario.question, cdn), user="U1", channel=f"DS{index}")
        for index, scenario in enumerate(DEMO_SCENARIOS):
            channel = f"DS{index}"

            def answered(channel: str = channel) -> list[str]:
                return [_texts(p.args) for p in fake_slack.posts(channel) if "sd_feedback" in _texts(p.args)]

            texts = fake_slack.wait_for(answered, timeout=60, message=scenario.question)
            values = [
                json.loads(e["value"])
                for p in fake_slack.posts(channel)
                for b in p.args["blocks"]
                if b["type"] == "actions"
                for e in b["elements"]
                if e["action_id"].startswith("sd_feedback")
            ]
            assert {(v["f"], v["v"]) for v in values} == {(scenario.flow, scenario.verdict)}, (
                scenario,
                texts,
            )
    finally:
        send.close()
    # Slack accepted every call: nothing over Block Kit's limits, nothing malformed.
    assert [c.method for c in fake_slack.calls if c.response.get("ok") is False] == []
    # The verdicts that need a person opened one case each, with the evidence card in its thread.
    escalating = {
        s.verdict
        for s in DEMO_SCENARIOS
        if s.verdict in ("still_wrong", "reports_stale", "on_platform_not_synced")
    }

    def opened() -> list[Any]:
        return [p for p in fake_slack.posts(ESCALATION_CHANNEL) if not p.args.get("thread_ts")]

    # A case is opened after its answer is posted: wait for the last one.
    fake_slack.wait_for(lambda: len(opened()) >= len(escalating), timeout=30, message="every case")
    cases = opened()
    assert len(cases) == len(escalating)
    fake_slack.wait_for(lambda: len(fake_slack.uploaded_files(ESCALATION_CHANNEL)) >= len(cases), timeout=30)
    threads = {args["thread_ts"] for _, _, args in fake_slack.uploaded_files(ESCALATION_CHANNEL)}
    assert threads == {c.ts for c in cases}
    assert all(
        content.startswith(b"\x89PNG") for _, content, _ in fake_slack.uploaded_files(ESCALATION_CHANNEL)
    )
