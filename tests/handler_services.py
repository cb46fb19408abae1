"""Builders for the SKU-flow handler tests: a `Services` over the test's real database, a seller
with stores, and helpers that put the seller's data in place.

Parts a test does not exercise are `NotSetUp` stand-ins that fail the test when used: a read-only
verdict that reached for the platform would fail instead of passing by accident.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from erp.jobs.report_import import ReportRefresher
from erp.jobs.schedule import JobSchedule
from erp.models import (
    Account,
    AuditLog,
    ImageGrabResult,
    ImageGrabRun,
    Order,
    PlatformReport,
    PriceChange,
    Product,
    ReportRow,
    ReportStatus,
    Store,
    UploadRecord,
)
from erp.platforms.registry import ConnectorRegistry
from erp.sandbox.amazon import AmazonSandbox
from handlers.registry import FlowRequest
from handlers.services import Services
from knowledge.entities import Entities

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# What the real schedule answers at NOW (nightly jobs at 02:00 and 03:00 UTC).
NEXT_REPORT_IMPORT = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
NEXT_IMAGE_GRAB = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


class NotSetUp:
    """A service the test did not set up: any use fails the test.

    Uses are also recorded in `used`, so a test can tell even when the code under test catches
    the failure to carry on (as the checks do with live calls).
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self.used: list[str] = []

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        self.used.append(attribute)
        raise AssertionError(f"the check used {self._name} (.{attribute}), which this test did not set up")


def make_services(
    engine: Engine,
    *,
    connector_for: Callable[[Store], Any] | None = None,
    reports: Any = None,
    images: Any = None,
    schedule: Any = None,
    clock: Callable[[], datetime] | None = None,
) -> Services:
    """A `Services` over `engine`; the parts not given fail the test when used."""

    def no_connector(store: Store) -> Any:
        raise AssertionError(
            f"the check asked the platform about {store.name}, which this test did not set up"
        )

    return Services(
        sessions=lambda: Session(engine, expire_on_commit=False),
        connector_for=connector_for or no_connector,
        orders=NotSetUp("order sync"),
        reports=reports if reports is not None else NotSetUp("report refresh"),
        images=images if images is not None else NotSetUp("image check"),
        schedule=schedule if schedule is not None else JobSchedule(),
        clock=clock or (lambda: NOW),
    )


def ask(
    account: Account,
    *skus: str,
    stores: Sequence[str] = (),
    language: str = "en",
    actor: str = "console:test",
) -> FlowRequest:
    """The request a seller of `account` makes about `skus` (and `stores`)."""
    return FlowRequest(
        account_id=account.id or 0,
        actor=actor,
        language="zh" if language == "zh" else "en",
        entities=Entities(skus=list(skus), stores=list(stores)),
    )


@dataclass
class Seller:
    """A seller account with two Amazon stores, and a neighbour account with its own store."""

    account: Account
    us: Store
    de: Store
    neighbour: Account
    neighbour_store: Store


def add(session: Session, *rows: SQLModel) -> None:
    session.add_all(list(rows))
    session.commit()
    for row in rows:
        session.refresh(row)


def make_seller(session: Session, *, endpoint: str = "", de_endpoint: str = "") -> Seller:
    account = Account(name="acme", display_name="Acme")
    neighbour = Account(name="neighbour", display_name="Neighbour")
    add(session, account, neighbour)
    us = Store(
        account_id=account.id or 0, name="Amazon US", platform="amazon", region="US", endpoint=endpoint
    )
    de = Store(
        account_id=account.id or 0, name="Amazon DE", platform="amazon", region="DE", endpoint=de_endpoint
    )
    other = Store(account_id=neighbour.id or 0, name="Neighbour Shop", platform="amazon", region="US")
    add(session, us, de, other)
    return Seller(account=account, us=us, de=de, neighbour=neighbour, neighbour_store=other)


def ago(**kwargs: float) -> datetime:
    return NOW - timedelta(**kwargs)


def product(store: Store, sku: str, **fields: Any) -> Product:
    return Product(
        account_id=store.account_id, store_id=store.id or 0, sku=sku, title=f"Product {sku}", **fields
    )


def price_change(store: Store, sku: str, old: str, new: str, status: str, **fields: Any) -> PriceChange:
    return PriceChange(
        store_id=store.id or 0, sku=sku, old_price=old, new_price=new, currency="USD", status=status, **fields
    )


def upload(store: Store, sku: str, status: str, *, at: datetime, error: str = "") -> UploadRecord:
    return UploadRecord(
        store_id=store.id or 0, sku=sku, status=status, error=error, created_at=at, updated_at=at
    )


def report(
    session: Session, store: Store, kind: str, generated: datetime, rows: dict[str, str]
) -> PlatformReport:
    """An imported report generated at `generated`, with one row per SKU (value: the price)."""
    platform_report = PlatformReport(
        store_id=store.id or 0,
        kind=kind,
        status=ReportStatus.DONE,
        requested_at=generated,
        generated_at=generated,
        imported_at=generated + timedelta(minutes=5),
        row_count=len(rows),
    )
    add(session, platform_report)
    session.add_all(
        ReportRow(report_id=platform_report.id or 0, sku=sku, price=price, status="Active")
        for sku, price in rows.items()
    )
    session.commit()
    return platform_report


def order(store: Store, order_id: str, skus: list[str], purchased: datetime) -> Order:
    return Order(
        store_id=store.id or 0,
        platform_order_id=order_id,
        status="pending_processing",
        purchased_at=purchased,
        skus=skus,
    )


def grab(
    session: Session, item: Product, outcome: str, at: datetime, rule: str = "a", detail: str = ""
) -> None:
    run = ImageGrabRun(started_at=at, finished_at=at)
    add(session, run)
    add(
        session,
        ImageGrabResult(
            run_id=run.id or 0, product_id=item.id or 0, rule=rule, outcome=outcome, detail=detail, at=at
        ),
    )


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table: a read-only check must leave this exactly as it was."""
    with engine.connect() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(table.select()))
            for table in SQLModel.metadata.sorted_tables
        }


def audit_actions(session: Session) -> list[tuple[str, str]]:
    return [(row.action, row.result) for row in session.exec(select(AuditLog))]


# --- a picture host on 127.0.0.1 ----------------------------------------------------------------


def jpeg_bytes(mode: str = "RGB") -> bytes:
    """A small real JPEG made with Pillow."""
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((64, 48)).convert(mode).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class PictureHost:
    """A real HTTP server on 127.0.0.1 (ephemeral port) serving `/img/<name>`; others answer 404."""

    def __init__(self, files: dict[str, tuple[str, bytes]]) -> None:
        host_files = files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                found = host_files.get(self.path.removeprefix("/img/"))
                content_type, body = found if found else ("text/plain", b"not found")
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}/img/"

    def url(self, name: str) -> str:
        return self.base + name

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --- the platforms, over real HTTP --------------------------------------------------------------


def sandbox_store(session: Session, account: Account, name: str, sandbox: AmazonSandbox) -> Store:
    """A store of `account` that talks to `sandbox` (fast rate limits)."""
    store = Store(account_id=account.id or 0, name=name, **sandbox.store_fields())
    add(session, store)
    return store


def live_services(
    engine: Engine,
    registry: ConnectorRegistry,
    *,
    clock: Callable[[], datetime] | None = None,
    images: Any = None,
) -> Services:
    """A `Services` whose platform parts are the real connectors and report refresher."""

    def sessions() -> Session:
        return Session(engine, expire_on_commit=False)

    return make_services(
        engine,
        connector_for=registry.connector_for,
        reports=ReportRefresher(sessions, registry.connector_for, first_poll=0.01, max_poll=0.05),
        images=images,
        clock=clock or (lambda: datetime.now(UTC)),
    )
