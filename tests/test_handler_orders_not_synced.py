"""The orders_not_synced flow against the Amazon and Shopee sandboxes over real HTTP, with the real
order sync and connectors, on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from erp.jobs.order_sync import OrderSync
from erp.models import Account, AuditLog, Order, OrderStatus, Store
from erp.platforms.registry import ConnectorRegistry
from erp.progress import StoreSyncProgress
from erp.sandbox.amazon import AmazonSandbox, AmazonSandboxData
from erp.sandbox.records import OrderLine, SandboxOrder
from erp.sandbox.shopee import ShopeeSandbox
from handlers import orders_not_synced
from handlers.diagnosis import ActionKind, DetailRequest, Diagnosis
from handlers.registry import FlowRequest
from handlers.services import Services
from knowledge.entities import Entities
from tests.sandboxes import make_sandbox_store
from tests.services_fixture import add_account, add_store, make_services


def _order(order_id: str, status: str, *, days_ago: float = 1, currency: str = "USD") -> SandboxOrder:
    moment = datetime.now(UTC) - timedelta(days=days_ago)
    return SandboxOrder(
        order_id=order_id,
        status=status,
        created_at=moment,
        updated_at=moment,
        lines=[OrderLine(sku="DEMO-ORDER-SKU", price="12.50")],
        currency=currency,
    )


@dataclass
class World:
    services: Services
    demo: int
    neighbour: int
    us: Store
    de: Store
    engine: Engine


@pytest.fixture
def de_sandbox() -> Iterator[AmazonSandbox]:
    """ "Amazon DE": its own sandbox seller whose authorization was revoked."""
    with AmazonSandbox(AmazonSandboxData(seller_id="A2SANDBOXDE")) as sandbox:
        sandbox.reject_refresh_token()
        yield sandbox


@pytest.fixture
def world(
    session: Session,
    engine: Engine,
    tmp_path: Path,
    amazon_sandbox: AmazonSandbox,
    shopee_sandbox: ShopeeSandbox,
    de_sandbox: AmazonSandbox,
    connector_registry: ConnectorRegistry,
) -> World:
    demo = add_account(session, "demo")
    neighbour = add_account(session, "neighbour")
    us = make_sandbox_store(session, amazon_sandbox, account=demo, name="Amazon US")
    make_sandbox_store(session, shopee_sandbox, account=demo, name="Shopee MY")
    amazon_sandbox.add_orders(
        _order("112-0000001-0000001", "Unshipped"),
        _order("112-0000002-0000002", "Shipped"),
        _order("112-0000003-0000003", "Unshipped"),
    )
    amazon_sandbox.hide_order("112-0000003-0000003")  # getOrders leaves it out, getOrder finds it
    shopee_sandbox.add_orders(_order("2611260ABCDEF1", "READY_TO_SHIP", currency="MYR"))
    # Already in the software, shipped: the seller looks for it under pending review.
    session.add(
        Order(store_id=us.id or 0, platform_order_id="112-0000002-0000002", status=OrderStatus.SHIPPED)
    )
    # Another account's order with the number the seller types: must stay invisible.
    theirs = add_store(session, neighbour, "Their US")
    session.add(
        Order(store_id=theirs.id or 0, platform_order_id="112-7777777-7777777", status="pending_review")
    )
    session.commit()
    sessions = lambda: Session(engine, expire_on_commit=False)  # noqa: E731
    services = make_services(
        engine,
        export_dir=str(tmp_path),
        orders=OrderSync(sessions, connector_registry.connector_for, max_workers=2),
        connector_for=connector_registry.connector_for,
    )
    de = make_sandbox_store(session, de_sandbox, account=demo, name="Amazon DE")
    return World(services, demo.id or 0, neighbour.id or 0, us, de, engine)


def _ask(
    world: World,
    *,
    order: str = "",
    stores: tuple[str, ...] = (),
    language: str = "en",
    account: int | None = None,
    progress: list[StoreSyncProgress] | None = None,
) -> FlowRequest:
    return FlowRequest(
        account_id=account if account is not None else world.demo,
        actor="console:demo",
        language=language,  # type: ignore[arg-type]
        entities=Entities(order_ids=[order] if order else [], stores=list(stores)),
        progress=progress.append if progress is not None else None,
    )


def test_synced_after_the_bot_syncs_with_progress_per_store(world: World) -> None:
    progress: list[StoreSyncProgress] = []
    result = orders_not_synced.handle(
        _ask(world, order="112-0000001-0000001", stores=("Amazon US",), progress=progress), world.services
    )
    assert isinstance(result, Diagnosis)
    assert result.verdict == "synced"
    assert "is synced now" in result.summary and "Amazon US" in result.summary
    assert progress and {p.store for p in progress} == {"Amazon US"}
    assert progress[-1].fetched == 2  # the hidden order is not in the platform's order list
    assert [row[0] for row in result.tables[-1].rows] == ["Amazon US"]  # only the named store synced
    with Session(world.engine) as session:
        stored = session.exec(select(Order).where(Order.platform_order_id == "112-0000001-0000001")).one()
        assert stored.store_id == world.us.id
        assert session.exec(select(AuditLog).where(AuditLog.actor == "console:demo")).first() is not None


def test_shopee_order_synced_in_chinese(world: World) -> None:
    result = orders_not_synced.handle(
        _ask(world, order="2611260ABCDEF1", stores=("Shopee MY",), language="zh"), world.services
    )
    assert isinstance(result, Diagnosis)
    assert result.verdict == "synced"
    assert "现在已同步" in result.summary and "待处理" in result.summary


def test_other_status_names_the_status_and_all_orders(world: World) -> None:
    result = orders_not_synced.handle(
        _ask(world, order="112-0000002-0000002", stores=("Amazon US",)), world.services
    )
    assert isinstance(result, Diagnosis)
    assert result.verdict == "other_status"
    assert '"Shipped"' in result.summary
    assert "All orders" in result.next_steps[0]


def test_on_platform_but_not_synced_escalates(world: World) -> None:
    result = orders_not_synced.handle(
        _ask(world, order="112-0000003-0000003", stores=("Amazon US",)), world.services
    )
    assert isinstance(result, Diagnosis)
    assert result.verdict == "on_platform_not_synced"
    assert result.escalate and "112-0000003-0000003" in result.escalate_reason
    assert any("the platform has it" in f.result for f in result.findings)


def test_not_on_platform_and_another_accounts_order_looks_the_same(world: World) -> None:
    for order in ("112-9999999-9999999", "112-7777777-7777777"):
        result = orders_not_synced.handle(_ask(world, order=order, stores=("Amazon US",)), world.services)
        assert isinstance(result, Diagnosis)
        assert result.verdict == "not_on_platform"
        assert "Check the order number" in result.next_steps[0]
        assert "Their US" not in repr(result.to_json())


def test_sync_failed_for_an_expired_store(world: World) -> None:
    result = orders_not_synced.handle(_ask(world, stores=("Amazon DE",)), world.services)
    assert isinstance(result, Diagnosis)
    assert result.verdict == "sync_failed"
    assert "authorization has expired" in result.summary
    assert "re-authorize it under Platform authorization" in result.next_steps[0]
    assert result.actions[0].kind == ActionKind.SYNC_NOW
    with Session(world.engine) as session:
        store = session.get(Store, world.de.id)
        assert store is not None and store.auth_status == "expired"


def test_every_store_synced_and_the_order_number_asked_for(world: World) -> None:
    # Without the expired store: all syncs work and no order was named.
    result = orders_not_synced.handle(_ask(world, stores=("Amazon US",)), world.services)
    assert isinstance(result, DetailRequest) and result.detail == "order_id"
    # 112-...1 is new, 112-...2 was only updated, the hidden one is not in the platform's list.
    assert "(Amazon US); new orders: 1." in result.prompt


def test_an_order_not_found_while_a_store_fails_says_the_sync_failed(world: World) -> None:
    result = orders_not_synced.handle(_ask(world, order="112-9999999-9999999", language="zh"), world.services)
    assert isinstance(result, Diagnosis)
    assert result.verdict == "sync_failed"
    assert "授权已过期" in result.summary
    rows = {row[0]: row[2] for row in result.tables[-1].rows}
    assert rows == {"Amazon DE": "失败", "Amazon US": "完成", "Shopee MY": "完成"}


def test_an_unknown_or_foreign_store_name_is_asked_again(world: World) -> None:
    result = orders_not_synced.handle(_ask(world, stores=("Their US",)), world.services)
    assert isinstance(result, DetailRequest) and result.detail == "store"
    assert [c.value for c in result.choices] == ["Amazon DE", "Amazon US", "Shopee MY"]
    with Session(world.engine) as session:
        assert session.exec(select(Account)).all()  # nothing synced, nothing changed
        assert session.exec(select(AuditLog)).all() == []


def test_an_order_not_found_names_the_stores_searched_and_why_one_could_not_be(world: World) -> None:
    # One store's sync failing must not turn "not found" into "it should come in once the sync
    # works": the stores that synced were searched, and the answer says which and why not the rest.
    english = orders_not_synced.handle(_ask(world, order="113-4567890-1234567"), world.services)
    chinese = orders_not_synced.handle(
        _ask(world, order="113-4567890-1234567", language="zh"), world.services
    )
    assert isinstance(english, Diagnosis) and isinstance(chinese, Diagnosis)
    assert english.summary.startswith(
        "Order 113-4567890-1234567 is not found in Amazon US, Shopee MY (searched just now); "
        "Amazon DE could not be searched because the store's authorization has expired"
    )
    assert chinese.summary.startswith("在 Amazon US、Shopee MY 中没有找到订单 113-4567890-1234567")
    assert "Amazon DE 无法查询，原因：店铺授权已过期" in chinese.summary
    text = english.summary + " ".join(english.next_steps)
    assert "should come in" not in text and "Check the order number" in english.next_steps[0]
