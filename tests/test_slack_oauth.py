"""Installs into many workspaces: the OAuth routes, tokens kept in the app's own database."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fake_slack import SIGNING_SECRET, FakeSlack, SlackSender


@pytest.fixture
def oauth_bot(
    database_url: str, fake_slack: FakeSlack, trained_parts: Any, tmp_path: Any
) -> Iterator[tuple[str, Any]]:
    from app import Components
    from bot.settings import Settings
    from bot.slack.app_factory import build_app
    from bot.slack.server import ServerRunner, make_server

    settings = Settings(
        database_url=database_url,
        slack_signing_secret=SIGNING_SECRET,
        slack_client_id="111.222",
        slack_client_secret="oauth-client-secret-xyz",
        slack_api_url=fake_slack.url,
        data_dir=str(tmp_path / "data"),
    )
    components = Components(settings)
    components.__dict__["knowledge"], components.__dict__["matcher"] = trained_parts
    app = build_app(settings, components)
    server = make_server(app, components.engine, host="127.0.0.1", port=0, loop_timeout=0.05)
    runner = ServerRunner(server)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}", components  # type: ignore[union-attr]
    finally:
        runner.stop()
        thread.join(timeout=5)
        app.listener_runner.listener_executor.shutdown(wait=True)
        components.engine.dispose()


def test_a_workspace_installs_and_its_own_token_answers_it(
    oauth_bot: tuple[str, Any], fake_slack: FakeSlack
) -> None:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

    base, components = oauth_bot
    with httpx.Client(base_url=base) as browser:
        page = browser.get("/slack/install")
        assert page.status_code == 200
        link = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.text)
        assert link and "client_id=111.222" in link.group(1) and "chat:write" in link.group(1)
        state = re.search(r"state=([^&\"]+)", link.group(1)).group(1)  # type: ignore[union-attr]
        forged = browser.get("/slack/oauth_redirect", params={"code": "good-code:T9", "state": "forged"})
        assert forged.status_code == 400
        # The state cookie is Secure: a browser sends it back over https, here we do by hand.
        cookie = page.headers["set-cookie"].split(";", 1)[0]
        assert cookie == f"slack-app-oauth-state={state}"
        done = browser.get(
            "/slack/oauth_redirect",
            params={"code": "good-code:T9", "state": state},
            headers={"Cookie": cookie},
        )
        assert done.status_code == 200

    store = SQLAlchemyInstallationStore(client_id="111.222", engine=components.engine)
    bot = store.find_bot(enterprise_id=None, team_id="T9")
    assert bot is not None and bot.bot_token == "xoxb-installed-T9"

    # A user of the new workspace is unlinked until linked; the answer goes out with T9's token.
    sender = SlackSender(base + "/slack/events", SIGNING_SECRET, fake_slack, team_id="T9")
    try:
        assert sender.message("hello", user="U9", channel="D9").status_code == 200
        post = fake_slack.wait_for(lambda: fake_slack.posts("D9"))[0]
        assert post.headers["authorization"] == "Bearer xoxb-installed-T9"
        assert "/sellerdesk link" in post.args["text"]
        # A workspace that never installed gets no answer at all.
        unknown = SlackSender(base + "/slack/events", SIGNING_SECRET, fake_slack, team_id="T404")
        assert unknown.message("hello", user="U8", channel="D8").status_code in (200, 401)
        unknown.close()
    finally:
        sender.close()
    assert not fake_slack.posts("D8")
