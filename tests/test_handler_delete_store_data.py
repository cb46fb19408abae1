"""The delete_store_data flow: explained (with counts), deleted (owner only), restored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from erp.models import AuditLog, Order, PlatformReport, Product, ReportRow, Store, UploadRecord
from handlers import delete_store_data
from handlers.diagnosis import ActionKind, DetailRequest, Diagnosis
from handlers.registry import FlowRequest
from handlers.services import Services
from knowledge.entities import Entities
from tests.services_fixture import add_account, add_rows, add_store, make_services


@pytest.fixture
def setup(session: Session, engine: Engine, tmp_path: Path) -> tuple[Services, int, int, Store]:
    demo = add_account(session, "demo")
    other = add_account(session, "neighbour")
    shopee = add_store(session, demo, "Shopee MY", platform="shopee")
    add_store(session, demo, "Amazon US")
    add_store(session, other, "Neighbour Shop", platform="shopee")
    sid = shopee.id or 0
    add_rows(
        session, [Order(store_id=sid, platform_order_id=f"26112{n}", status="shipped") for n in range(3)]
    )
    add_rows(
        session,
        [
            Product(account_id=demo.id or 0, store_id=sid, sku="DEMO-A"),
            UploadRecord(store_id=sid, sku="DEMO-A", status="uploaded"),
            PlatformReport(store_id=sid, kind="listings", status="done"),
        ],
    )
    report = session.exec(select(PlatformReport)).one()
    add_rows(session, [ReportRow(report_id=report.id or 0, sku="DEMO-A")])
    services = make_services(engine, export_dir=str(tmp_path / "exports"))
    return services, demo.id or 0, other.id or 0, shopee


def _ask(account_id: int, *, stores: list[str], role: str = "owner", language: str = "en") -> FlowRequest:
    return FlowRequest(
        account_id=account_id,
        actor="console:demo",
        role=role,
        language=language,  # type: ignore[arg-type]
        entities=Entities(stores=stores),
    )


def test_explained_with_counts_scope_and_path_and_the_owner_action(
    setup: tuple[Services, int, int, Store],
) -> None:
    services, demo, _, shopee = setup
    result = delete_store_data.handle(_ask(demo, stores=["shopee my"]), services)
    assert isinstance(result, Diagnosis)
    assert result.verdict == "explained"
    assert "7 rows" in result.summary  # 3 orders + 1 product + 1 upload record + 1 report + 1 row
    rows = {r[0]: r[1] for r in result.tables[0].rows}
    assert rows["Orders"] == "3" and rows["Report rows"] == "1" and rows["Price changes"] == "0"
    assert "on the platform are untouched" in result.summary
    text = " ".join(result.next_steps)
    assert "Platform authorization" in text and "More -> Delete -> OK" in text
    assert result.actions[0].kind == ActionKind.DELETE_STORE_DATA
    assert result.actions[0].params["store_id"] == str(shopee.id)


def test_a_member_gets_the_explanation_without_the_action(setup: tuple[Services, int, int, Store]) -> None:
    services, demo, _, shopee = setup
    result = delete_store_data.handle(_ask(demo, stores=["Shopee MY"], role="member"), services)
    assert isinstance(result, Diagnosis) and result.actions == []
    assert "Only the account owner" in result.next_steps[0]
    refused = delete_store_data.perform_delete(
        services, account_id=demo, role="member", actor="x", store_id=shopee.id or 0, language="en"
    )
    assert refused.verdict == "explained" and "Nothing was deleted" in refused.summary
    with services.sessions() as session:
        store = session.get(Store, shopee.id)
        assert store is not None and store.deleted_at is None


def test_chinese_explanation(setup: tuple[Services, int, int, Store]) -> None:
    services, demo, _, _ = setup
    result = delete_store_data.handle(_ask(demo, stores=["Shopee MY"], language="zh"), services)
    assert isinstance(result, Diagnosis)
    assert "平台上的店铺及其数据不受影响" in result.summary
    assert "平台授权" in result.next_steps[1]


def test_another_accounts_store_looks_unknown(setup: tuple[Services, int, int, Store]) -> None:
    services, demo, _, _ = setup
    result = delete_store_data.handle(_ask(demo, stores=["Neighbour Shop"]), services)
    assert isinstance(result, DetailRequest) and result.detail == "store"
    assert [c.value for c in result.choices] == ["Amazon US", "Shopee MY"]
    assert "Neighbour Shop" in result.prompt  # the name they typed, and only their own stores offered


def test_owner_deletes_then_undoes(setup: tuple[Services, int, int, Store]) -> None:
    services, demo, other, shopee = setup
    sid = shopee.id or 0
    # Another account's owner cannot reach this store, even with its id.
    stranger = delete_store_data.perform_delete(
        services, account_id=other, role="owner", actor="y", store_id=sid, language="en"
    )
    assert stranger.verdict == "explained" and "can't find that store" in stranger.summary

    deleted = delete_store_data.perform_delete(
        services, account_id=demo, role="owner", actor="console:demo", store_id=sid, language="en"
    )
    assert deleted.verdict == "deleted"
    # The export stays on the server: it exists, and the seller reads only that it is kept.
    exports = list(Path(services.export_dir).glob("*"))
    assert exports and all(path.is_file() for path in exports)
    shown = " ".join(f"{f.check} {f.result}" for f in deleted.findings)
    assert "an export is kept for 7 days" in shown
    assert services.export_dir not in shown and not any(path.name in shown for path in exports)
    assert deleted.actions[0].kind == ActionKind.UNDO_DELETE

    # The store is now hidden: asking about it says it was deleted and offers the undo.
    again = delete_store_data.handle(_ask(demo, stores=["Shopee MY"]), services)
    assert isinstance(again, Diagnosis) and "was deleted" in again.summary
    assert again.actions[0].kind == ActionKind.UNDO_DELETE

    restored = delete_store_data.perform_undo(
        services, account_id=demo, role="owner", actor="console:demo", store_id=sid, language="zh"
    )
    assert restored.verdict == "restored" and "已恢复" in restored.summary
    with services.sessions() as session:
        store = session.get(Store, sid)
        assert store is not None and store.deleted_at is None
        actions = [a.action for a in session.exec(select(AuditLog).order_by(col(AuditLog.id)))]
        assert actions == ["delete_store_data", "undo_delete_store_data"]
