"""Learning from the people who answer: pending examples, review on the command line, retraining.

The loop runs as a person would run it: a case's words stored as a pending example, `python
app.py knowledge review` to list and accept it, and `python app.py classify` (a fresh process,
the same database, a real training run) matching what it missed before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from erp.learned import LearnedError, accepted_examples, add_example, list_examples, review
from erp.models import LearnedExample

REPO_ROOT = Path(__file__).resolve().parent.parent
# Sellers' words for missing orders that the knowledge files do not cover.
MISSED = "the tally of my shop shows nothing from the weekend"


def app(
    args: list[str], database_url: str, cache: Path, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(DATABASE_URL=database_url, SELLERDESK_CACHE_DIR=str(cache))
    return subprocess.run(
        [sys.executable, "app.py", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def classify(question: str, database_url: str, cache: Path) -> dict[str, Any]:
    completed = app(["classify"], database_url, cache, question.encode() + b"\n")
    assert completed.returncode == 0, completed.stderr
    record: dict[str, Any] = json.loads(completed.stdout)
    return record


def test_a_missed_question_is_matched_once_its_relabel_is_accepted(
    database_url: str, session: Session, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    assert classify(MISSED, database_url, cache)["flow"] != "orders_not_synced"

    example = add_example(
        session,
        text=MISSED,
        flow="orders_not_synced",
        source="relabel",
        escalation_id=7,
        created_by="slack:T1:UA",
    )
    assert example is not None and example.status == "pending"
    # Pending changes nothing yet.
    assert classify(MISSED, database_url, cache)["flow"] != "orders_not_synced"

    listed = app(["knowledge", "review", "--json"], database_url, cache)
    assert listed.returncode == 0, listed.stderr
    [record] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert record["text"] == MISSED
    assert (record["flow"], record["source"], record["case"], record["status"]) == (
        "orders_not_synced",
        "relabel",
        7,
        "pending",
    )

    accepted = app(["knowledge", "review", "--accept", str(example.id)], database_url, cache)
    assert accepted.returncode == 0, accepted.stderr
    assert b"[accepted] orders_not_synced" in accepted.stdout

    after = classify(MISSED, database_url, cache)
    assert after["flow"] == "orders_not_synced"
    assert len(list(cache.glob("matcher-*.npz"))) == 2  # the accepted example made a new model
    # Nothing is pending any more; the accepted example is listed with --all.
    assert app(["knowledge", "review"], database_url, cache).stdout == b"no examples to review\n"
    everything = app(["knowledge", "review", "--all"], database_url, cache).stdout.decode()
    assert f"#{example.id} [accepted]" in everything


def test_a_rejected_example_is_not_trained_on(database_url: str, session: Session, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    example = add_example(session, text=MISSED, flow="orders_not_synced", source="not_helpful")
    assert example is not None
    rejected = app(["knowledge", "review", "--reject", str(example.id)], database_url, cache)
    assert rejected.returncode == 0, rejected.stderr
    assert classify(MISSED, database_url, cache)["flow"] != "orders_not_synced"
    session.expire_all()
    assert accepted_examples(session) == []
    assert session.get(LearnedExample, example.id).status == "rejected"  # type: ignore[union-attr]


def test_accept_as_another_flow_corrects_a_wrong_guess(
    database_url: str, session: Session, tmp_path: Path
) -> None:
    example = add_example(session, text=MISSED, flow="price_not_updated", source="not_helpful")
    assert example is not None
    done = app(
        ["knowledge", "review", "--accept", str(example.id), "--as", "orders_not_synced", "--json"],
        database_url,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["flow"] == "orders_not_synced"
    session.expire_all()
    assert accepted_examples(session) == [(MISSED, "orders_not_synced")]


def test_unknown_or_reviewed_ids_are_one_line_errors(
    database_url: str, session: Session, tmp_path: Path
) -> None:
    example = add_example(session, text="图片 打不开了 怎么办", flow="image_not_displaying", source="relabel")
    assert example is not None
    first = app(
        ["knowledge", "review", "--accept", str(example.id), "--reject", "999"], database_url, tmp_path
    )
    assert first.returncode == 2
    assert first.stderr.decode().strip() == "sellerdesk: no learned example has id 999"
    again = app(["knowledge", "review", "--reject", str(example.id)], database_url, tmp_path)
    assert again.returncode == 2
    assert b"already accepted" in again.stderr
    assert b"Traceback" not in first.stderr + again.stderr
    both = app(["knowledge", "review", "--accept", "1", "--reject", "1"], database_url, tmp_path)
    assert both.returncode == 2


def test_the_same_words_are_not_stored_twice_and_a_case_keeps_its_latest_label(session: Session) -> None:
    first = add_example(session, text="  orders   missing  ", flow="orders_not_synced", source="relabel")
    assert first is not None and first.text == "orders missing"
    assert add_example(session, text="orders missing", flow="orders_not_synced", source="not_helpful") is None
    assert add_example(session, text="   ", flow="orders_not_synced", source="relabel") is None
    case = add_example(
        session, text="where are my pictures", flow="image_grab", source="relabel", escalation_id=3
    )
    again = add_example(
        session, text="where are my pictures", flow="image_not_displaying", source="relabel", escalation_id=3
    )
    assert case is not None and again is not None and again.id == case.id
    assert [(e.text, e.flow) for e in list_examples(session)] == [
        ("orders missing", "orders_not_synced"),
        ("where are my pictures", "image_not_displaying"),
    ]
    review(session, case.id or 0, accept=False)
    with pytest.raises(LearnedError):
        review(session, case.id or 0, accept=True)


def test_a_running_bot_learns_an_accepted_example_without_a_restart(
    database_url: str, session: Session, tmp_path: Path
) -> None:
    from erp.learned import accepted_examples_if_any
    from knowledge.loader import load_knowledge
    from knowledge.model_cache import LiveMatcher

    now = [0.0]
    live = LiveMatcher(
        load_knowledge(),
        lambda: accepted_examples_if_any(database_url),
        cache_dir=tmp_path,
        check_seconds=60,
        clock=lambda: now[0],
    )
    before = live.current
    assert live.match(MISSED).flow != "orders_not_synced"
    example = add_example(session, text=MISSED, flow="orders_not_synced", source="relabel")
    assert example is not None
    review(session, example.id or 0, accept=True)
    now[0] = 30.0  # within the check interval: nothing is looked up yet
    assert live.match(MISSED).flow != "orders_not_synced" and live.current is before
    assert live.refresh(wait=True)  # what the next check after the interval does, waited for
    assert live.current is not before
    assert live.match(MISSED).flow == "orders_not_synced"
    assert not live.refresh(wait=True)  # nothing changed since
    # After the interval a question itself notices the change and the model is swapped in the
    # background, while that question is still answered at once by the current one.
    stale = "my storefront widget figure is stale after tweaking it in the panel"
    assert live.match(stale).flow != "price_not_updated"
    second = add_example(session, text=stale, flow="price_not_updated", source="relabel")
    assert second is not None
    review(session, second.id or 0, accept=True)
    learned_once = live.current
    now[0] = 100.0
    live.match("订单没同步")
    import time

    deadline = time.monotonic() + 60
    while live.current is learned_once and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.match(stale).flow == "price_not_updated"
