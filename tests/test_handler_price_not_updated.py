"""The `price_not_updated` handler on a real database, with the Amazon sandbox over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from erp.models import Account, PriceChangeStatus, Store
from erp.platforms.registry import ConnectorRegistry
from erp.sandbox.amazon import AmazonSandbox
from erp.sandbox.records import SandboxListing
from erp.sandbox.shopee import ShopeeSandbox
from handlers import price_not_updated
from handlers.diagnosis import ActionKind, CheckStatus, DetailRequest, Diagnosis
from tests.handler_services import (
    add,
    ago,
    ask,
    live_services,
    make_seller,
    make_services,
    price_change,
    report,
    sandbox_store,
    snapshot,
)
from tests.sandboxes import make_sandbox_store


def _diagnose(engine: Engine, request: object) -> Diagnosis:
    result = price_not_updated.handle(request, make_services(engine))  # type: ignore[arg-type]
    assert isinstance(result, Diagnosis), result
    return result


def test_draft_change_is_not_submitted(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        price_change(seller.us, "SKU-1", "19.99", "17.99", PriceChangeStatus.DRAFT, created_at=ago(hours=1)),
    )
    before = snapshot(engine)

    diagnosis = _diagnose(engine, ask(seller.account, "SKU-1"))

    assert diagnosis.verdict == "not_submitted"
    assert diagnosis.store == "Amazon US"
    assert "17.99 USD" in diagnosis.summary and "never submitted" in diagnosis.summary
    assert any("submit it" in step for step in diagnosis.next_steps)
    assert diagnosis.tables[0].rows[0][1] == "draft"
    assert not diagnosis.escalate
    assert snapshot(engine) == before


def test_submitted_change_awaits_approval(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        price_change(seller.us, "SKU-2", "10", "12", PriceChangeStatus.DRAFT, created_at=ago(days=3)),
        price_change(
            seller.us,
            "SKU-2",
            "10",
            "11",
            PriceChangeStatus.SUBMITTED,
            created_at=ago(hours=4),
            submitted_at=ago(hours=3),
        ),
    )

    diagnosis = _diagnose(engine, ask(seller.account, "SKU-2"))

    assert diagnosis.verdict == "awaiting_approval"
    assert "3 h ago" in diagnosis.summary
    # The trail shows both changes, newest first.
    assert [row[1] for row in diagnosis.tables[0].rows] == ["submitted", "draft"]


def test_rejected_change_gives_the_platforms_reason_in_both_languages(
    engine: Engine, session: Session
) -> None:
    seller = make_seller(session)
    reason = "Price exceeds the maximum allowed for this category"
    add(
        session,
        price_change(
            seller.us,
            "SKU-3",
            "10",
            "99",
            PriceChangeStatus.REJECTED,
            created_at=ago(days=1),
            submitted_at=ago(days=1),
            decided_at=ago(hours=20),
            reject_reason=reason,
        ),
    )

    english = _diagnose(engine, ask(seller.account, "SKU-3"))
    chinese = _diagnose(engine, ask(seller.account, "SKU-3", language="zh"))

    assert english.verdict == chinese.verdict == "rejected"
    assert reason in english.summary and "rejected" in english.summary
    assert reason in chinese.summary and "驳回" in chinese.summary
    assert chinese.language == "zh"
    assert any(finding.status == CheckStatus.PROBLEM for finding in chinese.findings)
    assert "重新提交" in chinese.next_steps[0]


def test_no_sku_asks_with_the_sellers_recent_price_changes(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        price_change(seller.us, "OLD-1", "1", "2", PriceChangeStatus.APPROVED, created_at=ago(days=9)),
        price_change(seller.de, "NEW-1", "1", "2", PriceChangeStatus.DRAFT, created_at=ago(hours=2)),
        price_change(
            seller.neighbour_store, "THEIRS-1", "1", "2", PriceChangeStatus.DRAFT, created_at=ago(hours=1)
        ),
    )

    result = price_not_updated.handle(ask(seller.account), make_services(engine))

    assert isinstance(result, DetailRequest)
    assert result.detail == "sku"
    assert [choice.value for choice in result.choices] == ["NEW-1", "OLD-1"]
    assert "Amazon DE" in result.choices[0].label


def test_unknown_and_other_accounts_skus_look_the_same(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(session, price_change(seller.neighbour_store, "THEIRS-1", "1", "2", PriceChangeStatus.REJECTED))
    services = make_services(engine)

    theirs = price_not_updated.handle(ask(seller.account, "THEIRS-1"), services)
    unknown = price_not_updated.handle(ask(seller.account, "NOPE-1"), services)

    assert isinstance(theirs, DetailRequest) and isinstance(unknown, DetailRequest)
    assert theirs.prompt.replace("THEIRS-1", "X") == unknown.prompt.replace("NOPE-1", "X")
    assert theirs.choices == unknown.choices == []


def test_another_accounts_store_name_is_unknown(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(session, price_change(seller.neighbour_store, "SKU-9", "1", "2", PriceChangeStatus.REJECTED))

    result = price_not_updated.handle(
        ask(seller.account, "SKU-9", stores=["Neighbour Shop"]), make_services(engine)
    )

    assert isinstance(result, DetailRequest)
    assert result.detail == "store"
    assert "Neighbour Shop" in result.prompt and "can't find a store" in result.prompt
    assert {choice.value for choice in result.choices} == {"Amazon US", "Amazon DE"}


def test_sku_in_two_stores_asks_which_then_answers_for_the_named_one(
    engine: Engine, session: Session
) -> None:
    seller = make_seller(session)
    add(
        session,
        price_change(seller.us, "TWIN", "1", "2", PriceChangeStatus.DRAFT),
        price_change(seller.de, "TWIN", "1", "3", PriceChangeStatus.SUBMITTED, submitted_at=ago(hours=1)),
    )
    services = make_services(engine)

    question = price_not_updated.handle(ask(seller.account, "TWIN"), services)
    answer = price_not_updated.handle(ask(seller.account, "TWIN", stores=["amazon de"]), services)

    assert isinstance(question, DetailRequest) and question.detail == "store"
    assert sorted(choice.value for choice in question.choices) == ["Amazon DE", "Amazon US"]
    assert isinstance(answer, Diagnosis)
    assert (answer.verdict, answer.store) == ("awaiting_approval", "Amazon DE")


# --- approved changes: the live price from the platform and the report, over real HTTP ----------


@pytest.fixture
def amazon(amazon_sandbox: AmazonSandbox) -> AmazonSandbox:
    return amazon_sandbox


@pytest.fixture
def registry(connector_registry: ConnectorRegistry) -> ConnectorRegistry:
    return connector_registry


def _approved(session: Session, store: Store, sku: str, approved: datetime) -> None:
    add(
        session,
        price_change(
            store,
            sku,
            "24.99",
            "19.99",
            PriceChangeStatus.APPROVED,
            created_at=approved - timedelta(hours=1),
            submitted_at=approved - timedelta(hours=1),
            decided_at=approved,
        ),
    )


def _live_seller(session: Session, amazon: AmazonSandbox, sku: str, live_price: str) -> tuple[Account, Store]:
    account = Account(name="acme")
    add(session, account)
    store = sandbox_store(session, account, "Amazon US", amazon)
    amazon.add_listings(SandboxListing(sku=sku, item_id="B0TESTASIN", title="Lamp", price=live_price))
    return account, store


def test_approved_but_platform_still_old_waits_for_the_report(
    engine: Engine, session: Session, amazon: AmazonSandbox, registry: ConnectorRegistry
) -> None:
    now = datetime.now(UTC)
    account, store = _live_seller(session, amazon, "PRICE-WAIT", "24.99")
    _approved(session, store, "PRICE-WAIT", now - timedelta(hours=2))
    report(session, store, "listings", now - timedelta(hours=10), {"PRICE-WAIT": "24.99"})
    before = snapshot(engine)

    result = price_not_updated.handle(ask(account, "PRICE-WAIT"), live_services(engine, registry))

    assert isinstance(result, Diagnosis)
    assert result.verdict == "waiting_for_report"
    assert "02:00 UTC" in result.summary  # the next nightly report import
    live = next(f for f in result.findings if f.check == "Live price on the platform")
    assert live.status == CheckStatus.PROBLEM and "24.99 USD" in live.result
    assert [(a.kind, a.params) for a in result.actions] == [
        (ActionKind.NOTIFY_REPORT, {"store_id": str(store.id), "sku": "PRICE-WAIT"})
    ]
    assert snapshot(engine) == before


def test_live_price_new_but_report_older_than_the_approval(
    engine: Engine, session: Session, amazon: AmazonSandbox, registry: ConnectorRegistry
) -> None:
    now = datetime.now(UTC)
    account, store = _live_seller(session, amazon, "PRICE-LIVE", "19.99")
    _approved(session, store, "PRICE-LIVE", now - timedelta(hours=5))
    report(session, store, "listings", now - timedelta(hours=20), {"PRICE-LIVE": "24.99"})

    english = price_not_updated.handle(ask(account, "PRICE-LIVE"), live_services(engine, registry))
    chinese = price_not_updated.handle(
        ask(account, "PRICE-LIVE", language="zh"), live_services(engine, registry)
    )

    assert isinstance(english, Diagnosis) and isinstance(chinese, Diagnosis)
    assert english.verdict == chinese.verdict == "live_report_behind"
    assert "already sells at 19.99 USD" in english.summary and "02:00 UTC" in english.summary
    assert "前台已是 19.99 USD" in chinese.summary
    step_prices = {row[0]: row[1] for row in english.tables[1].rows}
    assert step_prices == {
        "approved change": "19.99",
        "platform front page": "19.99",
        "latest listings report": "24.99",
    }


def test_report_after_the_approval_still_old_escalates(
    engine: Engine, session: Session, amazon: AmazonSandbox, registry: ConnectorRegistry
) -> None:
    now = datetime.now(UTC)
    account, store = _live_seller(session, amazon, "PRICE-STUCK", "24.99")
    _approved(session, store, "PRICE-STUCK", now - timedelta(days=2))
    report(session, store, "listings", now - timedelta(hours=8), {"PRICE-STUCK": "24.99"})

    result = price_not_updated.handle(ask(account, "PRICE-STUCK"), live_services(engine, registry))

    assert isinstance(result, Diagnosis)
    assert result.verdict == "still_wrong"
    assert result.escalate and "24.99" in result.escalate_reason and "19.99 USD" in result.escalate_reason
    assert "still shows 24.99" in result.summary
    assert [a.kind for a in result.actions] == [ActionKind.TALK_TO_PERSON]


def test_platform_error_is_an_unknown_finding_not_a_failure(
    engine: Engine, session: Session, amazon: AmazonSandbox, registry: ConnectorRegistry
) -> None:
    now = datetime.now(UTC)
    account, store = _live_seller(session, amazon, "PRICE-WAIT", "24.99")
    _approved(session, store, "PRICE-WAIT", now - timedelta(hours=2))
    amazon.reject_refresh_token()

    result = price_not_updated.handle(ask(account, "PRICE-WAIT"), live_services(engine, registry))

    assert isinstance(result, Diagnosis)
    assert result.verdict == "waiting_for_report"
    live = next(f for f in result.findings if f.check == "Live price on the platform")
    assert live.status == CheckStatus.UNKNOWN and live.result.startswith("could not be checked:")
    assert "authoriz" in live.result.lower()
    assert amazon.data.refresh_token not in live.result


def test_shopee_live_price_is_asked_from_shopee(
    engine: Engine, session: Session, shopee_sandbox: ShopeeSandbox, registry: ConnectorRegistry
) -> None:
    now = datetime.now(UTC)
    shopee_sandbox.add_listings(
        SandboxListing(sku="MY-LAMP", item_id="880001", title="Lamp", price="19.99", currency="MYR")
    )
    store = make_sandbox_store(session, shopee_sandbox, account="acme", name="Shopee MY")
    account = session.get(Account, store.account_id)
    assert account is not None
    _approved(session, store, "MY-LAMP", now - timedelta(hours=3))

    result = price_not_updated.handle(ask(account, "MY-LAMP"), live_services(engine, registry))

    assert isinstance(result, Diagnosis)
    assert (result.verdict, result.store) == ("live_report_behind", "Shopee MY")
    assert "19.99 MYR" in next(f.result for f in result.findings if f.check == "Live price on the platform")


def test_a_fresh_report_before_the_two_days_is_still_the_wait_not_an_escalation(
    engine: Engine, session: Session, amazon: AmazonSandbox, registry: ConnectorRegistry
) -> None:
    # A product-page question imports a fresh report; the platform has not published the price
    # approved 2 hours ago, so that report shows the old one: the FAQ says wait 1-2 days.
    now = datetime.now(UTC)
    account, store = _live_seller(session, amazon, "PRICE-WAIT", "24.99")
    _approved(session, store, "PRICE-WAIT", now - timedelta(hours=2))
    report(session, store, "listings", now - timedelta(minutes=1), {"PRICE-WAIT": "24.99"})

    for language in ("en", "zh"):
        result = price_not_updated.handle(
            ask(account, "PRICE-WAIT", language=language), live_services(engine, registry)
        )
        assert isinstance(result, Diagnosis)
        assert result.verdict == "waiting_for_report" and not result.escalate
        assert "1-2" in result.summary
        assert "1-2" in result.next_steps[0]


def test_a_fresh_report_carrying_the_new_price_says_it_is_updated(
    engine: Engine, session: Session, amazon: AmazonSandbox, registry: ConnectorRegistry
) -> None:
    # The report after the approval already shows the new price: nothing is wrong, and the
    # answer never compares the price with itself ("shows 19.99 USD instead of 19.99 USD").
    now = datetime.now(UTC)
    account, store = _live_seller(session, amazon, "PRICE-LIVE", "19.99")
    _approved(session, store, "PRICE-LIVE", now - timedelta(hours=5))
    report(session, store, "listings", now - timedelta(minutes=1), {"PRICE-LIVE": "19.99"})

    result = price_not_updated.handle(ask(account, "PRICE-LIVE"), live_services(engine, registry))

    assert isinstance(result, Diagnosis)
    assert result.verdict == "updated" and not result.escalate
    assert "carries 19.99 USD" in result.summary
    assert "instead of" not in result.summary + result.escalate_reason


def test_still_wrong_names_two_different_prices(
    engine: Engine, session: Session, amazon: AmazonSandbox, registry: ConnectorRegistry
) -> None:
    now = datetime.now(UTC)
    account, store = _live_seller(session, amazon, "PRICE-STUCK", "24.99")
    _approved(session, store, "PRICE-STUCK", now - timedelta(days=3))
    report(session, store, "listings", now - timedelta(hours=1), {"PRICE-STUCK": "24.99"})

    result = price_not_updated.handle(
        ask(account, "PRICE-STUCK", language="zh"), live_services(engine, registry)
    )

    assert isinstance(result, Diagnosis)
    assert result.verdict == "still_wrong" and result.escalate
    assert "24.99 USD" in result.escalate_reason and "不是 19.99 USD" in result.escalate_reason
