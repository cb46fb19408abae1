"""The `product_sku_missing` handler on a real database, asking the Amazon sandbox for fresh reports
over real HTTP through the real connector and report refresher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from erp.models import Account, AuditLog, PlatformReport, ReportStatus, Store
from erp.platforms.registry import ConnectorRegistry
from erp.sandbox.amazon import AmazonSandbox
from erp.sandbox.records import SandboxListing
from erp.sandbox.shopee import ShopeeSandbox
from handlers import product_sku_missing
from handlers.diagnosis import ActionKind, CheckStatus, DetailRequest, Diagnosis
from handlers.registry import FlowRequest
from handlers.services import Services
from tests.handler_services import (
    NotSetUp,
    add,
    ask,
    live_services,
    make_seller,
    make_services,
    product,
    report,
    sandbox_store,
    snapshot,
)
from tests.sandboxes import make_sandbox_store


@pytest.fixture
def amazon(amazon_sandbox: AmazonSandbox) -> AmazonSandbox:
    amazon_sandbox.add_listings(
        SandboxListing(sku="REP-OK", item_id="B0OK000001", title="Lamp", price="10.00"),
        SandboxListing(sku="REP-OMIT", item_id="B0OMIT0001", title="Desk", price="99.00"),
        SandboxListing(sku="REP-NEW", item_id="B0NEW00001", title="Chair", price="45.00"),
    )
    amazon_sandbox.omit_sku_from_reports("REP-OMIT")
    return amazon_sandbox


@pytest.fixture
def registry(connector_registry: ConnectorRegistry) -> ConnectorRegistry:
    return connector_registry


@pytest.fixture
def seller(session: Session, amazon: AmazonSandbox) -> tuple[Account, Store]:
    account = Account(name="acme")
    add(session, account)
    store = sandbox_store(session, account, "Amazon US", amazon)
    add(session, product(store, "REP-OMIT"), product(store, "REP-NEW"))
    return account, store


def _diagnose(request: FlowRequest, services: Services) -> Diagnosis:
    result = product_sku_missing.handle(request, services)
    assert isinstance(result, Diagnosis), result
    return result


def _hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def test_sku_in_a_recent_report_is_present_without_asking_the_platform(
    engine: Engine, session: Session, seller: tuple[Account, Store]
) -> None:
    account, store = seller
    report(session, store, "listings", _hours_ago(6), {"REP-OK": "10.00", "REP-NEW": "45.00"})
    report(session, store, "inventory", _hours_ago(6), {"REP-OK": ""})
    before = snapshot(engine)

    # No report refresher: a request to the platform would fail this test.
    services = make_services(engine, clock=lambda: datetime.now(UTC))
    diagnosis = _diagnose(ask(account, "REP-OK"), services)

    assert diagnosis.verdict == "present"
    assert "6 h ago" in diagnosis.summary and "Amazon US" in diagnosis.summary
    assert [f.status for f in diagnosis.findings] == [CheckStatus.OK, CheckStatus.OK]
    assert diagnosis.tables[0].rows[0][2:] == ["2", "yes"]
    assert isinstance(services.reports, NotSetUp) and services.reports.used == []
    assert snapshot(engine) == before


def test_sku_the_platforms_reports_omit(
    engine: Engine, session: Session, seller: tuple[Account, Store], registry: ConnectorRegistry
) -> None:
    account, store = seller
    report(session, store, "listings", _hours_ago(5), {"REP-OK": "10.00"})

    diagnosis = _diagnose(ask(account, "REP-OMIT", actor="console:acme"), live_services(engine, registry))

    assert diagnosis.verdict == "omitted_by_platform"
    assert "does not include REP-OMIT" in diagnosis.summary and "omits it too" in diagnosis.summary
    assert any(
        "download the product (listings) report and the inventory report" in s for s in diagnosis.next_steps
    )
    assert [a.kind for a in diagnosis.actions] == [ActionKind.REQUEST_REPORT, ActionKind.TALK_TO_PERSON]
    fresh = session.exec(select(PlatformReport).order_by(PlatformReport.id.desc())).first()  # type: ignore[union-attr]
    assert fresh is not None and fresh.status == ReportStatus.DONE and fresh.row_count == 2
    audit = session.exec(select(AuditLog)).all()
    assert [(row.actor, row.result) for row in audit] == [("console:acme", "ok")]


def test_sku_in_a_fresh_report_shows_now_and_the_next_answer_agrees(
    engine: Engine, session: Session, seller: tuple[Account, Store], registry: ConnectorRegistry
) -> None:
    account, store = seller
    report(session, store, "listings", _hours_ago(5), {"REP-OK": "10.00"})

    chinese = _diagnose(ask(account, "REP-NEW", language="zh"), live_services(engine, registry))
    again = _diagnose(ask(account, "REP-NEW"), live_services(engine, registry))

    # The fresh report is imported at once: the answer says the page shows it now (not "after
    # the next import"), and asking again finds it in the latest report without a new request.
    assert chinese.verdict == "in_newer_report"
    assert "产品页面现在就能看到" in chinese.summary and "下次导入" not in chinese.summary
    assert not chinese.actions  # nothing to wait for: no "tell me when the report lands"
    rows = {row[0]: row[3] for row in chinese.tables[0].rows}
    assert rows == {"商品报告（之前导入）": "没有", "商品报告（刚刚导入）": "有"}
    assert again.verdict == "present" and "generated less than a minute ago" in again.summary
    assert len(session.exec(select(PlatformReport)).all()) == 2


def test_stale_reports_and_expired_authorization_escalate(
    engine: Engine, session: Session, amazon: AmazonSandbox, registry: ConnectorRegistry
) -> None:
    account = Account(name="acme")
    add(session, account)
    store = sandbox_store(session, account, "Amazon DE", amazon)
    report(session, store, "listings", _hours_ago(5 * 24), {"REP-OK": "10.00"})
    amazon.reject_refresh_token()

    english = _diagnose(ask(account, "DE-1", stores=["Amazon DE"]), live_services(engine, registry))
    chinese = _diagnose(ask(account, "REP-OK", language="zh"), live_services(engine, registry))

    assert english.verdict == chinese.verdict == "reports_stale"
    assert english.escalate and chinese.escalate
    assert "5 days ago" in english.summary and "can't be had now" in english.summary
    assert "authoriz" in english.escalate_reason.lower()
    assert any("Re-authorize Amazon DE" in step for step in english.next_steps)
    assert "过期" in chinese.summary
    assert amazon.data.refresh_token not in repr(english.to_json())
    failed = session.exec(select(PlatformReport).where(PlatformReport.status == ReportStatus.FAILED)).all()
    assert len(failed) == 2


def test_stale_report_refreshed_and_still_carrying_the_sku_is_present(
    engine: Engine, session: Session, seller: tuple[Account, Store], registry: ConnectorRegistry
) -> None:
    account, store = seller
    report(session, store, "listings", _hours_ago(30), {"REP-OK": "10.00"})

    diagnosis = _diagnose(ask(account, "REP-OK"), live_services(engine, registry))

    assert diagnosis.verdict == "present"
    assert "less than a minute ago" in diagnosis.summary  # the fresh report it just fetched


def test_missing_details_are_asked_with_the_sellers_own_choices(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(session, product(seller.us, "MINE-1"), product(seller.neighbour_store, "THEIRS-1"))
    services = make_services(engine)

    no_sku = product_sku_missing.handle(ask(seller.account), services)
    unknown = product_sku_missing.handle(ask(seller.account, "NOWHERE"), services)
    theirs = product_sku_missing.handle(ask(seller.account, "THEIRS-1"), services)
    their_store = product_sku_missing.handle(
        ask(seller.account, "MINE-1", stores=["Neighbour Shop"]), services
    )

    assert isinstance(no_sku, DetailRequest) and [c.value for c in no_sku.choices] == ["MINE-1"]
    assert isinstance(unknown, DetailRequest) and isinstance(theirs, DetailRequest)
    assert unknown.detail == theirs.detail == "store"
    assert unknown.prompt.replace("NOWHERE", "X") == theirs.prompt.replace("THEIRS-1", "X")
    assert sorted(c.value for c in theirs.choices) == ["Amazon DE", "Amazon US"]
    assert isinstance(their_store, DetailRequest) and "Neighbour Shop" in their_store.prompt


def test_shopee_fresh_listing_report_has_the_new_item(
    engine: Engine, session: Session, shopee_sandbox: ShopeeSandbox, registry: ConnectorRegistry
) -> None:
    shopee_sandbox.add_listings(
        SandboxListing(sku="MY-OLD", item_id="880001", title="Lamp", price="10.00", currency="MYR"),
        SandboxListing(sku="MY-NEW", item_id="880002", title="Desk", price="99.00", currency="MYR"),
    )
    store = make_sandbox_store(session, shopee_sandbox, account="acme", name="Shopee MY")
    account = session.get(Account, store.account_id)
    assert account is not None
    report(session, store, "listings", _hours_ago(3), {"MY-OLD": "10.00"})

    diagnosis = _diagnose(ask(account, "MY-NEW"), live_services(engine, registry))

    assert (diagnosis.verdict, diagnosis.store) == ("in_newer_report", "Shopee MY")
    assert "Shopee generated" in diagnosis.summary
    # Shopee has no inventory report: the check is not shown as unknown.
    assert [f.check for f in diagnosis.findings] == [
        "Latest listings report",
        "Fresh listings report requested now",
    ]
