"""`sync-orders` refusing bad input with one line and exit status 2, before any store is touched."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from app import main
from erp.models import Account, AuditLog, Store, SyncRun


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> object:
    monkeypatch.setenv("DATABASE_URL", database_url)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(["sync-orders", *argv])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


def seed(session: Session, layout: dict[str, list[str]]) -> None:
    for account_name, store_names in layout.items():
        account = Account(name=account_name)
        session.add(account)
        session.commit()
        for store_name in store_names:
            session.add(Store(account_id=account.id or 0, name=store_name, platform="amazon"))
        session.commit()


def test_no_accounts_yet(cli: object) -> None:
    status, out, err = cli()  # type: ignore[operator]
    assert (status, out) == (2, "")
    assert err == "sellerdesk: there are no accounts yet: run `demo` or `account add` first\n"


def test_unknown_store_lists_the_known_store_names(cli: object, session: Session) -> None:
    seed(session, {"acme": ["Amazon DE", "Shopee MY"]})
    status, out, err = cli("--store", "Amazon FR")  # type: ignore[operator]
    assert (status, out) == (2, "")
    assert err == "sellerdesk: no store named 'Amazon FR'; known stores: Amazon DE, Shopee MY\n"
    assert session.exec(select(SyncRun)).all() == []
    assert session.exec(select(AuditLog)).all() == []


def test_with_no_account_named_every_account_is_synced(cli: object, session: Session) -> None:
    seed(session, {"acme": ["Amazon DE"], "beta": ["Amazon DE", "Shopee SG"]})
    status, out, _ = cli("--json")  # type: ignore[operator]
    # The stores have no credentials, so each sync fails, but every account's stores were tried.
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 1
    assert sorted(line["store"] for line in lines) == ["Amazon DE", "Amazon DE", "Shopee SG"]
    assert all(line["error"] for line in lines)
    assert len({run.store_id for run in session.exec(select(SyncRun))}) == 3


def test_a_store_name_shared_by_accounts_needs_a_choice(cli: object, session: Session) -> None:
    seed(session, {"acme": ["Amazon DE"], "beta": ["Amazon DE", "Shopee SG"]})
    status, _, err = cli("--store", "amazon de")  # type: ignore[operator]
    assert (
        status == 2 and "several accounts have a store named 'amazon de': add --account (acme, beta)" in err
    )

    status, _, err = cli("--account", "gamma")  # type: ignore[operator]
    assert status == 2 and err == "sellerdesk: no account named 'gamma'; accounts: acme, beta\n"

    status, _, err = cli("--account", "acme", "--store", "Shopee SG")  # type: ignore[operator]
    assert status == 2 and err == "sellerdesk: no store named 'Shopee SG'; known stores: Amazon DE\n"


def test_an_account_without_stores(cli: object, session: Session) -> None:
    seed(session, {"acme": []})
    status, _, err = cli("--json")  # type: ignore[operator]
    assert status == 2 and err == "sellerdesk: the account has no stores to sync: add one with `store add`\n"


def test_an_unreachable_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/none")
    status = main(["sync-orders"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "DATABASE_URL" in err
    assert "secret-pw" not in err
