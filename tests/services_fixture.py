"""Builders for the handler and conversation tests: a `Services` over the test's real database,
and small helpers that put a seller's data in place.

Parts a test does not exercise are `Unused` stand-ins that fail loudly when called, so a test can
never pass by accident through a part it did not set up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from erp.models import Account, Store
from handlers.services import Services

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Unused:
    """A service the test did not set up: any use is a test error, not a silent pass."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the test did not set up {self._name} (called .{attribute})")


class FixedSchedule:
    """Schedule times for tests that show them: every job next runs at `at`."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def next_run(self, job: str, after: datetime | None = None) -> datetime | None:
        return self.at


def make_services(
    engine: Engine,
    *,
    export_dir: str,
    orders: Any = None,
    images: Any = None,
    reports: Any = None,
    connector_for: Callable[[Store], Any] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Services:
    """A `Services` over `engine`; the parts not given are `Unused`."""

    def no_connector(store: Store) -> Any:
        raise AssertionError(f"the test did not set up a connector for {store.name}")

    return Services(
        sessions=lambda: Session(engine, expire_on_commit=False),
        connector_for=connector_for or no_connector,
        orders=orders if orders is not None else Unused("order sync"),
        reports=reports if reports is not None else Unused("report refresh"),
        images=images if images is not None else Unused("image check"),
        schedule=FixedSchedule(NOW),
        clock=clock or (lambda: NOW),
        export_dir=export_dir,
    )


def add_account(session: Session, name: str) -> Account:
    account = Account(name=name, display_name=name.title())
    session.add(account)
    session.commit()
    session.refresh(account)
    return account


def add_store(
    session: Session,
    account: Account,
    name: str,
    *,
    platform: str = "amazon",
    endpoint: str = "",
    credentials: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Store:
    store = Store(
        account_id=account.id or 0,
        name=name,
        platform=platform,
        endpoint=endpoint,
        credentials=credentials or {},
        **(extra or {}),
    )
    session.add(store)
    session.commit()
    session.refresh(store)
    return store


def add_rows(session: Session, rows: Sequence[Any]) -> None:
    session.add_all(list(rows))
    session.commit()
