"""Sandbox marketplaces for tests: real HTTP servers on 127.0.0.1, started and stopped per test.

Fixtures:
    amazon_sandbox: an `AmazonSandbox` with no orders or listings (add them in the test).
    shopee_sandbox: a `ShopeeSandbox` with no orders or listings.
    connector_registry: a `ConnectorRegistry` with fast retries whose rotated credentials are saved
        to the test database.
    amazon_store / shopee_store: a `Store` row (account "acme") pointing at the sandbox.

Helpers:
    make_sandbox_store(session, sandbox, account="acme", name=None, ...) -> Store
    assert_speaks_the_platforms_language(sandbox): every exchange the sandbox recorded matches the
        platform's own specification (run by the sandbox fixtures when a test ends).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from erp.models import Account, Store
from erp.platforms.credentials import credentials_loader, credentials_saver
from erp.platforms.http import RetryPolicy
from erp.platforms.registry import ConnectorRegistry
from erp.sandbox.amazon import AmazonSandbox
from erp.sandbox.shopee import ShopeeSandbox
from tests.specs import exchange_problems

# Retries as the product does them, only with tiny delays so the suite stays fast.
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_total_wait=3.0)


def make_sandbox_store(
    session: Session,
    sandbox: AmazonSandbox | ShopeeSandbox,
    *,
    account: Account | str = "acme",
    name: str | None = None,
    rate_limit_scale: float = 10_000.0,
    **overrides: Any,
) -> Store:
    """An Account (created when given by name and missing) and a Store pointing at `sandbox`.

    The sandbox must be started. `overrides` replace Store fields (e.g. `credentials=...`).
    """
    if isinstance(account, str):
        found = session.exec(select(Account).where(Account.name == account)).first()
        if found is None:
            found = Account(name=account, display_name=account.title())
            session.add(found)
            session.commit()
            session.refresh(found)
        account = found
    assert account.id is not None
    fields = sandbox.store_fields(rate_limit_scale=rate_limit_scale)
    fields.update(overrides)
    store = Store(
        account_id=account.id, name=name or f"{fields['platform']}-{fields['region']}".lower(), **fields
    )
    session.add(store)
    session.commit()
    session.refresh(store)
    return store


def assert_speaks_the_platforms_language(sandbox: AmazonSandbox | ShopeeSandbox) -> None:
    """Every request sent to the sandbox, and every answer it gave, is what the platform's own
    specification allows (tests/specs): a sandbox the platform would contradict fails the test."""
    problems = exchange_problems(sandbox.server, sandbox.platform)
    assert not problems, "against the platform's specification:\n" + "\n".join(problems[:40])


@pytest.fixture
def amazon_sandbox() -> Iterator[AmazonSandbox]:
    with AmazonSandbox() as sandbox:
        yield sandbox
    assert_speaks_the_platforms_language(sandbox)


@pytest.fixture
def shopee_sandbox() -> Iterator[ShopeeSandbox]:
    with ShopeeSandbox() as sandbox:
        yield sandbox
    assert_speaks_the_platforms_language(sandbox)


@pytest.fixture
def connector_registry(engine: Engine) -> Iterator[ConnectorRegistry]:
    sessions: Callable[[], Session] = lambda: Session(engine, expire_on_commit=False)  # noqa: E731
    registry = ConnectorRegistry(
        on_credentials_changed=credentials_saver(sessions),
        load_credentials=credentials_loader(sessions),
        retry=FAST_RETRY,
    )
    yield registry
    registry.close()


@pytest.fixture
def amazon_store(session: Session, amazon_sandbox: AmazonSandbox) -> Store:
    return make_sandbox_store(session, amazon_sandbox, name="Amazon US")


@pytest.fixture
def shopee_store(session: Session, shopee_sandbox: ShopeeSandbox) -> Store:
    return make_sandbox_store(session, shopee_sandbox, name="Shopee MY")
