"""The demo as a new user meets it from the command line: `demo`, then any command on the demo
database (its sandbox platforms come up for that run), and `demo serve` keeping them up for others.
Real processes, a real database, the sandboxes over real HTTP."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from erp.models import Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def run_app(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, APP, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=90,
        check=False,
    )


def objects(stdout: str) -> dict[str, dict[str, Any]]:
    lines = stdout.strip().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line of stdout is one JSON object
    return {item["store"]: item for item in parsed}


def test_demo_then_sync_orders_syncs_every_store_and_then_nothing_new(
    database_url: str, tmp_path: Path
) -> None:
    demo = run_app(database_url, tmp_path, "demo", "--reset")
    assert demo.returncode == 0, demo.stderr

    first = run_app(database_url, tmp_path, "sync-orders", "--json")
    second = run_app(database_url, tmp_path, "sync-orders", "--json")

    stores = objects(first.stdout)
    assert set(stores) == {"Amazon US", "Amazon DE", "Shopee MY", "Shopee SG"}
    assert stores["Amazon US"]["inserted"] >= 1 and stores["Amazon US"]["error"] is None
    assert stores["Shopee MY"]["inserted"] >= 1 and stores["Shopee MY"]["error"] is None
    assert stores["Amazon DE"]["error_kind"] == "authorization_expired"
    assert first.returncode == 1  # one store (the expired one) failed, as the command documents
    for run in (first, second):
        assert "Traceback" not in run.stderr
        # Progress lines and warnings only: nothing below WARNING is logged.
        assert not re.search(r" (INFO|DEBUG) ", run.stderr), run.stderr
    again = objects(second.stdout)
    assert set(again) == set(stores)
    assert all(item["inserted"] == 0 for item in again.values()), again
    # It did reach the platforms again (the window starts just before the last watermark, so
    # orders synced a moment ago may not even be fetched again).
    assert again["Amazon US"]["error"] is None and again["Shopee MY"]["error"] is None
    assert again["Amazon DE"]["error_kind"] == "authorization_expired"


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    assert run_app(database_url, tmp_path, "demo", "--reset").returncode == 0
    process = subprocess.Popen(
        [sys.executable, APP, "demo", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Other commands"):
                break
        assert lines and lines[-1].startswith("Other commands"), process.stderr and process.stderr.read()
        yield process, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def test_demo_prints_real_picture_links_that_demo_serve_serves(
    database_url: str, tmp_path: Path, served: tuple[subprocess.Popen[str], list[str]]
) -> None:
    guide = run_app(database_url, tmp_path, "demo")

    assert guide.returncode == 0, guide.stderr
    assert "{cdn}" not in guide.stdout
    found = re.search(r"The picture (http://127\.0\.0\.1:\d+/img/ok\.jpg) does not display", guide.stdout)
    assert found is not None, guide.stdout
    picture = httpx.get(found.group(1), timeout=5)
    assert picture.status_code == 200 and picture.headers["content-type"].startswith("image/")
    assert any(found.group(1).startswith(line.split()[-1].removesuffix("/img/")) for line in served[1])


def test_commands_use_the_platforms_demo_serve_runs(
    database_url: str, tmp_path: Path, engine: Engine, served: tuple[subprocess.Popen[str], list[str]]
) -> None:
    with Session(engine) as session:
        before = {
            s.name: (s.endpoint, s.credentials) for s in session.exec(select(Store).order_by(col(Store.id)))
        }

    synced = run_app(database_url, tmp_path, "sync-orders", "--json")

    stores = objects(synced.stdout)
    assert stores["Amazon US"]["error"] is None and stores["Amazon US"]["fetched"] >= 1
    with Session(engine) as session:
        after = {
            s.name: (s.endpoint, s.credentials) for s in session.exec(select(Store).order_by(col(Store.id)))
        }
    assert after == before  # it used the running platforms instead of starting its own
    process = served[0]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def test_scheduler_on_the_demo_database_runs_the_demo_platforms(
    database_url: str, tmp_path: Path, engine: Engine
) -> None:
    from erp.demo.platforms import demo_platforms_answer

    assert run_app(database_url, tmp_path, "demo", "--reset").returncode == 0
    sessions = lambda: Session(engine, expire_on_commit=False)  # noqa: E731
    assert not demo_platforms_answer(sessions)
    process = subprocess.Popen(
        [sys.executable, APP, "scheduler"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("scheduler running"):
                break
        # While it runs, its jobs (the order sync, the nightly import) reach the demo's platforms.
        assert demo_platforms_answer(sessions)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert not demo_platforms_answer(sessions)  # and they stop with it
