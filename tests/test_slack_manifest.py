"""manifest.yml creates the app the code expects: every command, scope and event."""

from __future__ import annotations

import re
from pathlib import Path

from bot.slack.app_factory import BOT_SCOPES
from bot.slack.commands import COMMANDS

ROOT = Path(__file__).resolve().parent.parent

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"


def test_the_manifest_lists_every_command_scope_and_event() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    commands = re.findall(r"^\s*- command: (\S+)$", text, re.MULTILINE)
    assert sorted(commands) == sorted(COMMANDS)
    scopes_block = text.split("bot:", 1)[1].split("settings:", 1)[0]
    scopes = re.findall(r"^\s*- (\S+)$", scopes_block, re.MULTILINE)
    assert set(scopes) == set(BOT_SCOPES)
    for event in ("app_mention", "message.im", "message.channels", "app_home_opened"):
        assert re.search(rf"^\s*- {re.escape(event)}$", text, re.MULTILINE), event
    assert "socket_mode_enabled: false" in text
    assert re.search(r"interactivity:\s*\n\s*is_enabled: true\s*\n\s*request_url: \S+/slack/events", text)
    # Every URL points at the one endpoint `serve` exposes (or the OAuth redirect).
    settings = text.split("\ndisplay_information:", 1)[1]  # past the comment on top
    urls = re.findall(r"https://\S+", settings)
    assert urls and all(u.endswith(("/slack/events", "/slack/oauth_redirect")) for u in urls)


def test_the_manifest_subscribes_every_event_the_code_listens_for() -> None:
    """Each `app.event("x")` in bot/slack is a bot event of the manifest (message: its kinds)."""
    text = MANIFEST.read_text(encoding="utf-8")
    events_block = text.split("bot_events:", 1)[1].split("interactivity:", 1)[0]
    subscribed = set(re.findall(r"^\s*- (\S+)$", events_block, re.MULTILINE))
    listened = set()
    for path in (ROOT / "bot" / "slack").glob("*.py"):
        listened |= set(re.findall(r'app\.event\("([a-z_]+)"\)', path.read_text(encoding="utf-8")))
        for names in re.findall(r"for name in \(([^)]*)\):\s*\n\s*app\.event\(name\)", path.read_text()):
            listened |= set(re.findall(r'"([a-z_]+)"', names))
    assert {"tokens_revoked", "app_uninstalled", "app_mention", "app_home_opened"} <= listened
    for event in listened:
        if event == "message":
            assert {"message.im", "message.channels"} <= subscribed
        else:
            assert event in subscribed, event
