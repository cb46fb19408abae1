"""`python app.py check-image` run as a seller or agent would run it: a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import main
from tests.image_server import ImageServer

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, allow: str = "127.0.0.1") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SELLERDESK_FETCH_ALLOW": allow}
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "check-image", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


def test_check_image_cli(image_server: ImageServer) -> None:
    good, cmyk, missing = (image_server.url(p) for p in ("/srgb-icc.jpg", "/cmyk.jpg", "/gone.jpg"))

    as_json = _run("--json", good, cmyk, missing)
    assert as_json.returncode == 1, as_json.stderr
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(line["url"], line["verdict"]) for line in lines] == [
        (good, "ok"),
        (cmyk, "not_rgb"),
        (missing, "unreachable"),
    ]
    assert lines[1]["mode"] == "CMYK" and lines[2]["http_status"] == 404
    assert set(lines[0]) == {
        "url", "verdict", "http_status", "content_type", "format", "mode",
        "width", "height", "bytes", "elapsed_ms", "detail", "warnings",
    }  # fmt: skip

    usage = _run()
    assert usage.returncode == 2
    assert usage.stderr.startswith("sellerdesk: check-image needs at least one image URL")
    assert "Traceback" not in usage.stderr


def test_check_image_in_process(
    image_server: ImageServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = image_server.url("/srgb-icc.jpg")
    monkeypatch.setenv("SELLERDESK_FETCH_ALLOW", "127.0.0.1")
    assert main(["check-image", good]) == 0
    readable = capsys.readouterr().out
    assert readable.startswith("ok ") and "JPEG RGB, 1200x900" in readable

    assert main(["check-image", image_server.url("/small.jpg")]) == 0
    assert "warning: small: 300x200 px" in capsys.readouterr().out

    monkeypatch.setenv("SELLERDESK_FETCH_ALLOW", "")
    assert main(["check-image", "--json", good]) == 1
    assert json.loads(capsys.readouterr().out)["verdict"] == "blocked"

    monkeypatch.setenv("SELLERDESK_FETCH_ALLOW", "10.0.0.0/99")
    assert main(["check-image", good]) == 2
    assert "SELLERDESK_FETCH_ALLOW" in capsys.readouterr().err
