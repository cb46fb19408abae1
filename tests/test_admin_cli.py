"""The administration commands, run as a seller's administrator would: `python app.py ...`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import app
from erp.accounts import identity_for, redeem_link_code
from erp.models import AuditLog, Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command in its own process, exactly as an administrator runs it."""
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, APP, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """The same command in this process (same parser and code, no interpreter start): quicker."""
    monkeypatch.setenv("DATABASE_URL", database_url)

    def run_in_process(*args: str) -> subprocess.CompletedProcess[str]:
        status = app.main(list(args))
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), status, captured.out, captured.err)

    return run_in_process


def test_accounts_stores_and_listing(database_url: str, engine: Engine, run: Run) -> None:
    assert run("account", "add", "acme").returncode == 0
    added = run(
        "store",
        "add",
        "--account",
        "acme",
        "--name",
        "Amazon US",
        "--platform",
        "amazon",
        "--endpoint",
        "https://sellingpartnerapi-na.amazon.com",
        "--auth-endpoint",
        "https://api.amazon.com",
        "--region",
        "US",
        "--credential",
        "refresh_token=Atzr|very-secret",
        "--credential",
        "client_id=amzn1.application",
        "--option",
        "rate_limit_scale=2.5",
    )
    assert added.returncode == 0, added.stderr
    assert "very-secret" not in added.stdout + added.stderr
    assert run(
        "store", "add", "--account", "acme", "--name", "Shopee MY", "--platform", "shopee",
        "--endpoint", "https://partner.shopeemobile.com",
    ).returncode == 0  # fmt: skip

    listed = cli(database_url, "store", "list", "--json")

    assert listed.returncode == 0, listed.stderr
    stores = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(s["name"], s["platform"], s["account"]) for s in stores] == [
        ("Amazon US", "amazon", "acme"),
        ("Shopee MY", "shopee", "acme"),
    ]
    assert stores[0]["region"] == "US" and stores[0]["auth_status"] == "authorized"
    assert stores[0]["last_order_sync_at"] is None and stores[0]["last_report_import_at"] is None
    assert "very-secret" not in listed.stdout and "credentials" not in stores[0]
    with Session(engine) as session:
        store = session.exec(select(Store).where(Store.name == "Amazon US")).one()
        assert store.credentials == {"refresh_token": "Atzr|very-secret", "client_id": "amzn1.application"}
        assert store.options == {"rate_limit_scale": 2.5}
        assert store.auth_endpoint == "https://api.amazon.com"

    table = run("store", "list", "--account", "acme")
    assert "Amazon US" in table.stdout and "never" in table.stdout
    accounts = run("account", "list", "--json")
    assert json.loads(accounts.stdout) == {"name": "acme", "display_name": "acme", "stores": 2}


def test_bad_input_exits_2_with_one_line(run: Run) -> None:
    run("account", "add", "acme")
    cases = [
        (["account", "add", "acme"], "already exists"),
        (["store", "list", "--account", "ghost"], "no account named 'ghost'"),
        (
            ["store", "add", "--account", "acme", "--name", "X", "--platform", "amazon", "--endpoint", "x"],
            "http(s) URL",
        ),
        (
            [
                "store",
                "add",
                "--account",
                "acme",
                "--name",
                "X",
                "--platform",
                "amazon",
                "--endpoint",
                "http://h",
                "--credential",
                "novalue",
            ],
            "KEY=VALUE",
        ),  # fmt: skip
        (["store", "remove", "--account", "acme", "--name", "nope"], "no store named 'nope'"),
        (
            [
                "user",
                "link",
                "--slack-team",
                "T1",
                "--slack-user",
                "U1",
                "--account",
                "ghost",
                "--role",
                "owner",
            ],
            "ghost",
        ),
        (["user", "link-code", "--account", "acme", "--hours", "0"], "--hours"),
    ]
    for args, message in cases:
        done = run(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_user_link_and_link_code(engine: Engine, run: Run) -> None:
    run("account", "add", "acme")

    linked = run(
        "user",
        "link",
        "--slack-team",
        "T1",
        "--slack-user",
        "U1",
        "--account",
        "acme",
        "--role",
        "owner",
    )
    issued = run("user", "link-code", "--account", "acme", "--role", "agent")

    assert linked.returncode == 0, linked.stderr
    assert issued.returncode == 0, issued.stderr
    code = issued.stdout.strip()
    assert f"/sellerdesk link {code}" in issued.stderr
    with Session(engine, expire_on_commit=False) as session:
        owner = identity_for(session, team_id="T1", user_id="U1")
        assert owner is not None and owner[1] == "owner"
        result = redeem_link_code(session, code=code, team_id="T1", user_id="U9")
        assert result.ok and result.role == "agent"
        actions = [entry.action for entry in session.exec(select(AuditLog)).all()]
        assert actions.count("link_identity") == 2 and "create_link_code" in actions


def test_store_remove_needs_yes_when_it_has_data(run: Run, tmp_path: Path) -> None:
    run("account", "add", "acme")
    run(
        "store", "add", "--account", "acme", "--name", "Amazon DE", "--platform", "amazon",
        "--endpoint", "http://127.0.0.1:9",
    )  # fmt: skip
    report = tmp_path / "listings.tsv"
    report.write_text("seller-sku\tprice\nA-1\t5.00\n", encoding="utf-8")
    assert run("report", "import", str(report), "--store", "Amazon DE", "--kind", "listings").returncode == 0

    refused = run("store", "remove", "--account", "acme", "--name", "Amazon DE")
    assert refused.returncode == 2 and "1 reports" in refused.stderr and "--yes" in refused.stderr

    removed = run("store", "remove", "--account", "acme", "--name", "Amazon DE", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert run("store", "list", "--json").stdout == ""
