"""What start-up imports: `serve` and `classify` load only what their first request needs.

`serve` is started for real (`python -X importtime app.py serve`, against the fake Slack) and the
modules it imported before printing "listening" are read from the interpreter's import log: not
a timing, so a loaded machine cannot make it fail, but a heavy import put back on the start-up
path (scikit-learn, the demo's sandboxes on a database without the demo) does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session

import app
from bot.settings import Settings
from erp.accounts import create_account, link_slack_user
from erp.db import create_schema, make_engine
from tests.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
SECRET = "startup-signing-secret-0123456789"
# Never needed to acknowledge a request: the matcher trains with scikit-learn only on a cache
# miss, and the sandboxes run only when the database holds the demo.
NEVER_AT_START = ("sklearn", "scipy", "erp.sandbox")


def _redis_listening() -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", 6379)) == 0


def _imported(log: list[str]) -> set[str]:
    """Module names from `-X importtime` lines (`import time: self | cumulative | name`)."""
    return {line.rsplit("|", 1)[1].strip() for line in log if line.startswith("import time:") and "|" in line}


def _serve_imports(env: dict[str, str]) -> set[str]:
    command = [
        sys.executable,
        "-X",
        "importtime",
        str(ROOT / "app.py"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "sellerdesk: listening on" in line:
                return _imported(log)
            log.append(line)
        raise AssertionError("serve ended before listening:\n" + "".join(log[-20:]))
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def serve_env(tmp_path: Path, fake_slack: FakeSlack) -> dict[str, str]:
    """A real workspace's database (an account, a linked user, no demo) and Slack settings."""
    url = f"sqlite:///{tmp_path / 'startup.db'}"
    engine = make_engine(url)
    create_schema(engine)
    with Session(engine, expire_on_commit=False) as session:
        account = create_account(session, name="acme")
        link_slack_user(session, team_id="T1", user_id="U1", account=account, role="owner")
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SELLERDESK_", "DATABASE_"))}
    env.update(
        DATABASE_URL=url,
        SLACK_API_URL=fake_slack.url,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_BOT_TOKEN="xoxb-startup",
        SELLERDESK_DATA_DIR=str(tmp_path / "data"),
    )
    return env


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in NEVER_AT_START or m.startswith(NEVER_AT_START))


def test_serve_without_a_broker_starts_without_scikit_learn_or_the_sandboxes(
    serve_env: dict[str, str],
) -> None:
    modules = _serve_imports(serve_env)

    assert "bot.slack.app_factory" in modules  # the log is the real start-up's
    assert _heavy(modules) == []
    # The matcher is read from its cache before the first question, not trained.
    assert "knowledge.model_cache" in modules


@pytest.mark.skipif(not _redis_listening(), reason="needs Redis on 127.0.0.1")
def test_serve_with_a_broker_builds_neither_the_matcher_nor_the_checks(serve_env: dict[str, str]) -> None:
    modules = _serve_imports({**serve_env, "SELLERDESK_BROKER_URL": "redis://127.0.0.1:6379/14"})

    assert "bot.tasks.runner" in modules  # it queues
    assert _heavy(modules) == []
    # It only acknowledges and queues: the matcher, the marketplace connectors and the order sync
    # are the workers' (building the services only for their clock used to build them all).
    assert {
        "knowledge.model_cache",
        "erp.platforms.registry",
        "erp.jobs.order_sync",
        "numpy",
    } & modules == set()


def test_the_relabel_select_offers_exactly_the_matchers_labels() -> None:
    from bot.render import relabel
    from knowledge import matcher

    assert (relabel.LABELS, relabel.OUT_OF_SCOPE) == (matcher.LABELS, matcher.OUT_OF_SCOPE)


def test_classify_help_imports_no_database_layer_or_demo() -> None:
    script = (
        "import json, sys\n"
        "import app\n"
        "try:\n"
        "    app.main(['classify', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )

    assert "usage: sellerdesk classify" in done.stdout
    modules = set(__import__("json").loads(done.stderr.strip().splitlines()[-1]))
    assert {"sqlmodel", "sqlalchemy", "erp.demo", "erp.models", "numpy"} & modules == set()


def test_each_command_is_found_in_the_group_main_imports_for_it() -> None:
    _, handlers = app.build_parser()

    assert {
        command: module.__name__.rsplit(".", 1)[1] for command, module in handlers.items()
    } == app.COMMAND_GROUP


def test_no_command_still_picks_the_default_and_every_command_is_listed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        app.main(["--help"])
    listed = capsys.readouterr().out
    assert all(command in listed for command in app.COMMAND_GROUP)
    settings = Settings.from_env({"SLACK_SIGNING_SECRET": SECRET})
    assert app.COMMAND_GROUP[app._default_command(settings)] == "slack"


def test_the_console_has_its_matcher_before_the_first_prompt(tmp_path: Path) -> None:
    import io

    from bot.cli.console import ConsoleSession
    from bot.conversation import Speaker

    settings = Settings.from_env(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}", "SELLERDESK_DATA_DIR": str(tmp_path)}
    )
    components = app.Components(settings)
    speaker = Speaker(actor="console:u", account_id=None, role="owner", user_id="u")

    ConsoleSession(components, speaker, io.StringIO(), io.StringIO(), interactive=False)

    assert "matcher" in vars(components)  # read before any line was typed
