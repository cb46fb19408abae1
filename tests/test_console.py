"""`python app.py console` as a user runs it: a real process, questions piped on stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session

from erp.models import Order, Product
from tests.services_fixture import add_account, add_rows, add_store

APP = Path(__file__).resolve().parent.parent / "app.py"


def run_console(
    database_url: str, stdin: bytes, data_dir: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """Run the console in its own process with `stdin` piped in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "SELLERDESK_")) and key != "DATABASE_URL"
    }
    env.update(
        {"DATABASE_URL": database_url, "SELLERDESK_DATA_DIR": str(data_dir), "PYTHONIOENCODING": "utf-8"}
    )
    return subprocess.run(
        [sys.executable, str(APP), "console", *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=APP.parent,
        timeout=timeout,
        check=False,
    )


def _seed_acme(session: Session) -> None:
    acme = add_account(session, "acme")
    store = add_store(session, acme, "Shopee SG", platform="shopee")
    add_rows(
        session,
        [
            Order(store_id=store.id or 0, platform_order_id="2611260AAAAAA1", status="shipped"),
            Product(account_id=acme.id or 0, store_id=store.id or 0, sku="ACME-1"),
        ],
    )


def test_a_member_gets_no_delete_option_and_a_foreign_store_stays_unknown(
    database_url: str, session: Session, tmp_path: Path
) -> None:
    _seed_acme(session)
    add_store(session, add_account(session, "other"), "Other Shop", platform="shopee")
    script = "delete the data of shopee sg\n怎么删除 Other Shop 的数据\n"
    done = run_console(database_url, script.encode(), tmp_path, "--user", "helper", "--account", "acme")
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode()
    assert "Only the account owner can delete" in out and "Delete the data of" not in out
    # The other account's store is offered nowhere; being the only store, Shopee SG is the answer.
    assert "Other Shop" not in out.replace("“Other Shop”", "")
    assert "删除 Shopee SG 的数据" in out


def test_an_unknown_user_is_a_one_line_usage_error(
    database_url: str, session: Session, tmp_path: Path
) -> None:
    _seed_acme(session)
    done = run_console(database_url, b"hello\n", tmp_path, "--user", "nobody")
    assert done.returncode == 2
    assert done.stderr.decode().strip().splitlines() == [
        "sellerdesk: no seller account named 'nobody'; create one with 'account add' or run 'demo'"
    ]
