"""Shared fixtures: a real database per test (SQLite file, or PostgreSQL when DATABASE_URL says so)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

from erp.db import create_schema, make_engine

# Fixture modules owned by each area: sandbox marketplaces, the fake Slack Web API, the image host.
pytest_plugins = ["tests.sandboxes", "tests.fake_slack", "tests.image_server"]


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url if url.startswith("postgresql") else None


@pytest.fixture(scope="session")
def _postgres_database() -> Iterator[str | None]:
    """A throw-away PostgreSQL database for this test run, dropped at the end."""
    base = _postgres_url()
    if base is None:
        yield None
        return
    name = f"sellerdesk_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(_postgres_database: str | None, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A URL to an empty, schema-ready database; another process (the CLI) can open it too."""
    if _postgres_database is None:
        url = f"sqlite:///{os.path.join(tmp_path, 'sellerdesk-test.db')}"
        create_schema(make_engine(url))
        yield url
        return
    engine = make_engine(_postgres_database)
    create_schema(engine)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield _postgres_database


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session
