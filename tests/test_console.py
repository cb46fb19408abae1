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


def test_bad_input_lines_each_get_a_friendly_answer(
    database_url: str, session: Session, tmp_path: Path
) -> None:
    _seed_acme(session)
    lines = [
        b"",
        "\U0001f600\U0001f600\U0001f64f".encode(),
        b"x" * 40_000,
        bytes(range(1, 256)).replace(b"\n", b"").replace(b"\r", b""),
        "价格 没更新 ".encode() * 500,
        b"7",
        b"quit",
        b"how do i delete the data of shopee sg",  # after quit: never read
    ]
    done = run_console(database_url, b"\n".join(lines) + b"\n", tmp_path, "--user", "acme")
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr and "Traceback" not in out
    assert out.count("I didn't catch a question there") >= 2  # the empty line and the emoji
    assert "you>" not in out  # piped: no prompt noise
    assert "Shopee SG would remove" not in out  # the line after quit was not answered


def test_the_owner_deletes_after_typing_the_store_name_and_undoes(
    database_url: str, session: Session, tmp_path: Path
) -> None:
    _seed_acme(session)
    script = "\n".join(
        [
            "how do i delete the data of shopee sg",
            "1",
            "not the name",  # cancels
            "1",
            "Shopee SG",
            "1",
        ]
    )
    done = run_console(database_url, script.encode() + b"\n", tmp_path, "--user", "acme")
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode()
    assert "would remove 2 rows" in out
    assert "Cancelled: nothing was deleted" in out
    assert "The data of Shopee SG is deleted from the software" in out
    assert "Shopee SG is back with all its data (2 rows)" in out
    assert list((tmp_path / "exports").glob("store-*.zip"))


def test_a_member_gets_no_delete_option(database_url: str, session: Session, tmp_path: Path) -> None:
    _seed_acme(session)
    done = run_console(
        database_url, b"delete the data of shopee sg\n", tmp_path, "--user", "helper", "--account", "acme"
    )
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0
    assert "Only the account owner can delete" in out and "[1]" not in out


def test_an_unknown_user_is_a_one_line_usage_error(
    database_url: str, session: Session, tmp_path: Path
) -> None:
    _seed_acme(session)
    done = run_console(database_url, b"hello\n", tmp_path, "--user", "nobody")
    assert done.returncode == 2
    assert done.stderr.decode().strip().splitlines() == [
        "sellerdesk: no seller account named 'nobody'; create one with 'account add' or run 'demo'"
    ]
