"""Accounts, stores, Slack identities and one-time link codes on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from erp.accounts import (
    AccountError,
    add_store,
    audit,
    create_account,
    create_link_code,
    find_store,
    get_account_by_name,
    identity_for,
    link_slack_user,
    list_stores,
    redeem_link_code,
    remove_store,
)
from erp.models import AuditLog, LinkCode, Order, PlatformReport, ReportRow, Store, utcnow


def test_accounts_and_stores(session: Session) -> None:
    acme = create_account(session, name="acme", display_name="ACME GmbH")
    other = create_account(session, name="other")
    us = add_store(session, account_id=acme.id or 0, name="Amazon US", platform="amazon", region="US")
    add_store(session, account_id=acme.id or 0, name="Shopee MY", platform="shopee", region="MY")
    add_store(
        session, account_id=other.id or 0, name="Amazon US", platform="amazon"
    )  # same name, other account

    assert get_account_by_name(session, "acme") == acme
    assert get_account_by_name(session, "nobody") is None
    assert [s.name for s in list_stores(session, acme.id)] == ["Amazon US", "Shopee MY"]
    assert len(list_stores(session)) == 3
    assert find_store(session, account_id=acme.id or 0, name="amazon us") == us
    assert find_store(session, account_id=other.id or 0, name="Shopee MY") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Amazon US", "platform": "amazon"}, "already has a store named"),
        ({"name": "Ebay", "platform": "ebay"}, "unknown platform"),
        ({"name": "Amazon UK", "platform": "amazon", "endpoint": "ftp://x"}, "http"),
        ({"name": "  ", "platform": "amazon"}, "needs a name"),
    ],
)
def test_add_store_refuses_bad_input(session: Session, kwargs: dict[str, str], message: str) -> None:
    acme = create_account(session, name="acme")
    add_store(session, account_id=acme.id or 0, name="Amazon US", platform="amazon")

    with pytest.raises(AccountError, match=message):
        add_store(session, account_id=acme.id or 0, **kwargs)


def test_duplicate_account_is_refused(session: Session) -> None:
    create_account(session, name="acme")
    with pytest.raises(AccountError, match="already exists"):
        create_account(session, name="acme")


def test_deleted_stores_are_hidden_unless_asked(session: Session) -> None:
    acme = create_account(session, name="acme")
    gone = add_store(session, account_id=acme.id or 0, name="Old shop", platform="amazon")
    add_store(session, account_id=acme.id or 0, name="New shop", platform="amazon")
    gone.deleted_at = utcnow()
    session.add(gone)
    session.commit()

    assert [s.name for s in list_stores(session, acme.id)] == ["New shop"]
    assert [s.name for s in list_stores(session, acme.id, include_deleted=True)] == ["New shop", "Old shop"]


def test_remove_store_removes_its_data_and_keeps_the_audit_trail(session: Session) -> None:
    acme = create_account(session, name="acme")
    store = add_store(session, account_id=acme.id or 0, name="Amazon US", platform="amazon")
    keep = add_store(session, account_id=acme.id or 0, name="Amazon DE", platform="amazon")
    session.add(Order(store_id=store.id or 0, platform_order_id="112-1", status="shipped"))
    session.add(Order(store_id=keep.id or 0, platform_order_id="112-2", status="shipped"))
    report = PlatformReport(store_id=store.id or 0, kind="listings", status="done")
    session.add(report)
    session.commit()
    session.add(ReportRow(report_id=report.id or 0, sku="A"))
    entry = audit(session, actor="cli", action="sync_orders", result="ok", store_id=store.id)

    counts = remove_store(session, store=store)

    assert counts["orders"] == 1 and counts["reports"] == 1
    assert session.exec(select(Store).where(Store.name == "Amazon US")).first() is None
    assert [o.platform_order_id for o in session.exec(select(Order)).all()] == ["112-2"]
    assert session.exec(select(ReportRow)).all() == []
    kept = session.get(AuditLog, entry.id)
    assert kept is not None and kept.store_id is None and kept.action == "sync_orders"


def test_link_slack_user_and_identity(session: Session) -> None:
    acme = create_account(session, name="acme")
    other = create_account(session, name="other")

    assert identity_for(session, team_id="T1", user_id="U1") is None
    link_slack_user(session, team_id="T1", user_id="U1", account=acme, role="owner")
    assert identity_for(session, team_id="T1", user_id="U1") == (acme.id, "owner")
    assert identity_for(session, team_id="T2", user_id="U1") is None  # another workspace is someone else

    link_slack_user(session, team_id="T1", user_id="U1", account=other, role="member")  # moved
    assert identity_for(session, team_id="T1", user_id="U1") == (other.id, "member")
    with pytest.raises(AccountError, match="unknown role"):
        link_slack_user(session, team_id="T1", user_id="U1", account=acme, role="admin")


def test_link_code_links_once(session: Session) -> None:
    acme = create_account(session, name="acme")
    code = create_link_code(session, account=acme, role="owner")

    assert len(code) >= 8 and code.isalnum()
    result = redeem_link_code(session, code=code.lower(), team_id="T1", user_id="U1")
    assert result.ok and result.account_name == "acme" and result.role == "owner"
    assert identity_for(session, team_id="T1", user_id="U1") == (acme.id, "owner")

    again = redeem_link_code(session, code=code, team_id="T1", user_id="U2")
    assert not again.ok and "already used" in again.reason and "用过" in again.reason_zh
    assert identity_for(session, team_id="T1", user_id="U2") is None
    stored = session.get(LinkCode, code)
    assert stored is not None and stored.used_by == "slack:T1:U1"
    assert session.exec(select(AuditLog).where(AuditLog.action == "link_identity")).one().result == "ok"


def test_link_code_expired_or_unknown(session: Session) -> None:
    acme = create_account(session, name="acme")
    code = create_link_code(session, account=acme, ttl=timedelta(minutes=5))

    late = redeem_link_code(
        session, code=code, team_id="T1", user_id="U1", now=datetime.now(UTC) + timedelta(minutes=6)
    )
    assert not late.ok and "expired" in late.reason
    unknown = redeem_link_code(session, code="NOPE-NOPE", team_id="T1", user_id="U1")
    assert not unknown.ok and "not known" in unknown.reason
    assert not redeem_link_code(session, code="", team_id="T1", user_id="U1").ok
    assert identity_for(session, team_id="T1", user_id="U1") is None


def test_codes_differ(session: Session) -> None:
    acme = create_account(session, name="acme")
    codes = {create_link_code(session, account=acme) for _ in range(20)}
    assert len(codes) == 20


def test_audit_writes_a_row(session: Session) -> None:
    acme = create_account(session, name="acme")
    audit(
        session,
        actor="slack:T1:U1",
        action="delete_store_data",
        result="refused",
        account_id=acme.id,
        detail="x",
    )

    entry = session.exec(select(AuditLog)).one()
    assert (entry.actor, entry.action, entry.result, entry.account_id) == (
        "slack:T1:U1",
        "delete_store_data",
        "refused",
        acme.id,
    )
