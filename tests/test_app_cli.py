"""The command line as a whole: an unusable database is one line and exit 2, from any command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*argv: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "HOME": str(REPO)}
    return subprocess.run(
        [sys.executable, str(REPO / "app.py"), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        (
            "postgresql+psycopg://nobody:s3cret-pw@127.0.0.1:1/none",
            "sellerdesk: cannot open the database postgresql+psycopg://nobody:***@127.0.0.1:1/none:",
        ),
        ("garbage://", "sellerdesk: DATABASE_URL garbage:// cannot be used"),
        ("not a url", "sellerdesk: DATABASE_URL is not a database URL"),
    ],
)
def test_an_unusable_database_is_one_line_without_the_password(database_url: str, expected: str) -> None:
    result = _run("store", "list", database_url=database_url)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(expected)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr


def test_unknown_command_is_usage_error(tmp_path: Path) -> None:
    result = _run("frobnicate", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2
    assert "invalid choice: 'frobnicate'" in result.stderr
