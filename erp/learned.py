"""Learned examples: seller questions labelled by agents (or marked unhelpful), reviewed by a person.

Pending examples change nothing; accepted ones are trained on by the matcher (the model cache
is keyed by them, so a new acceptance is a cache miss; a running bot notices within a minute). Rejected ones
are kept, so the same words are not proposed again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from erp.models import LearnedExample, LearnedStatus

log = logging.getLogger(__name__)

SOURCES = ("relabel", "not_helpful")
MAX_TEXT = 2_000  # what the matcher reads of a question; a pasted log is kept to its start
# "This did not help" comes minutes after an answer; older notes of what was asked are dropped.

SessionFactory = Callable[[], AbstractContextManager[Session]]


class LearnedError(ValueError):
    """An example id that does not exist or was already reviewed; the message says which."""


def add_example(
    session: Session,
    *,
    text: str,
    flow: str,
    source: str,
    language: str = "en",
    escalation_id: int | None = None,
    created_by: str = "",
) -> LearnedExample | None:
    """Store a pending example; None when there are no words, or the same words and flow are
    already pending, accepted or rejected (a second relabel of one case updates the pending one).
    """
    words = " ".join(text.split())[:MAX_TEXT]
    if not words or source not in SOURCES:
        return None
    if escalation_id is not None:
        pending = session.exec(
            select(LearnedExample).where(
                col(LearnedExample.escalation_id) == escalation_id,
                col(LearnedExample.status) == LearnedStatus.PENDING,
            )
        ).first()
        if pending is not None:
            # The agent changed their mind before review: the latest label is the one to review.
            pending.flow, pending.source, pending.created_by = flow, source, created_by
            pending.created_at = datetime.now(UTC)
            session.add(pending)
            session.commit()
            return pending
    same = session.exec(
        select(LearnedExample).where(col(LearnedExample.text) == words, col(LearnedExample.flow) == flow)
    ).first()
    if same is not None:
        return None
    example = LearnedExample(
        text=words,
        flow=flow,
        source=source,
        language="zh" if language == "zh" else "en",
        escalation_id=escalation_id,
        created_by=created_by,
    )
    session.add(example)
    session.commit()
    session.refresh(example)
    return example


def list_examples(session: Session, status: str | None = LearnedStatus.PENDING) -> list[LearnedExample]:
    """Examples with this status (all when None), oldest first."""
    query = select(LearnedExample)
    if status is not None:
        query = query.where(col(LearnedExample.status) == status)
    return list(session.exec(query.order_by(col(LearnedExample.id))).all())


def review(
    session: Session, example_id: int, *, accept: bool, reviewer: str = "cli", flow: str | None = None
) -> LearnedExample:
    """Accept or reject a pending example; `flow` (on accept) corrects its label first.

    Raises:
        LearnedError: no example has this id, or it was already reviewed.
    """
    example = session.get(LearnedExample, example_id)
    if example is None:
        raise LearnedError(f"no learned example has id {example_id}")
    if example.status != LearnedStatus.PENDING:
        raise LearnedError(f"example {example_id} was already {example.status}")
    example.status = LearnedStatus.ACCEPTED if accept else LearnedStatus.REJECTED
    if accept and flow:
        example.flow = flow
    example.reviewed_by = reviewer
    example.reviewed_at = datetime.now(UTC)
    session.add(example)
    session.commit()
    session.refresh(example)
    return example


def accepted_examples(session: Session) -> list[tuple[str, str]]:
    """(text, flow) of every accepted example, for training."""
    rows = session.exec(
        select(LearnedExample.text, LearnedExample.flow)
        .where(col(LearnedExample.status) == LearnedStatus.ACCEPTED)
        .order_by(col(LearnedExample.id))
    ).all()
    return [(str(text), str(flow)) for text, flow in rows]


def accepted_examples_if_any(database_url: str) -> list[tuple[str, str]]:
    """Accepted examples without creating anything: a SQLite file that does not exist, or a
    database without the table, has none. `classify` runs on a bare machine this way.

    A database that cannot be reached is logged and treated as having none: the knowledge
    files alone still answer.
    """
    try:
        url = make_url(database_url)
    except Exception:  # noqa: BLE001 (an unusable URL is reported by the commands that need it)
        return []
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or not Path(database).is_file():
            return []
    from erp.db import make_engine

    engine: Engine | None = None
    try:
        engine = make_engine(database_url)
        if not inspect(engine).has_table("learnedexample"):
            return []
        with Session(engine) as session:
            return accepted_examples(session)
    except (SQLAlchemyError, OSError) as exc:
        log.warning(
            "learned examples not read (%s): training on the knowledge files only", type(exc).__name__
        )
        return []
    finally:
        if engine is not None:
            engine.dispose()
