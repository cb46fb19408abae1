"""The embedded demo: seeding (idempotent, reset, times kept current), the platforms and picture
host it starts, and every scenario it advertises reaching its verdict through the real handlers."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app import Components
from bot.settings import Settings
from erp.accounts import add_store, create_account, identity_for
from erp.demo import (
    DEMO_SCENARIOS,
    EmbeddedPlatforms,
    question_zh,
    scenario_text,
    seed_demo,
    start_embedded_platforms,
)
from erp.jobs.report_import import as_utc
from erp.models import Account, Order, PlatformReport, PriceChange, Product, PublishAttempt, ReportRow, Store
from erp.platforms.base import AuthorizationExpired
from erp.platforms.registry import ConnectorRegistry
from handlers.registry import HANDLERS, FlowRequest
from handlers.verdicts import VERDICTS
from knowledge.entities import extract_entities

APP = str(Path(__file__).resolve().parent.parent / "app.py")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def sessions(engine: Engine) -> Callable[[], Session]:
    return lambda: Session(engine, expire_on_commit=False)


def counts(session: Session) -> dict[str, int]:
    return {
        model.__name__: int(session.exec(select(func.count()).select_from(model)).one())
        for model in (Account, Store, Product, Order, PriceChange, PlatformReport, ReportRow, PublishAttempt)
    }


def test_seed_is_idempotent_and_reset_spares_other_accounts(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        other = create_account(session, name="acme")
        add_store(session, account_id=other.id or 0, name="Amazon US", platform="amazon")

    first = seed_demo(sessions, now=NOW)
    with sessions() as session:
        after_first = counts(session)
    second = seed_demo(sessions, now=NOW)
    with sessions() as session:
        after_second = counts(session)
    third = seed_demo(sessions, reset=True, now=NOW)
    with sessions() as session:
        after_reset = counts(session)
        acme_stores = session.exec(select(Store).where(Store.account_id == other.id)).all()
        owner = identity_for(session, team_id=first.console_team, user_id=first.console_user)

    assert first.created and not second.created and third.created
    assert set(first.stores) == {"Amazon US", "Shopee MY", "Amazon DE"}
    assert after_first == after_second == after_reset
    assert after_first["Account"] == 3  # demo, neighbour, and the other seller
    assert [store.name for store in acme_stores] == ["Amazon US"]
    assert owner == (third.account_id, "owner")


def test_seeded_data_tells_each_story(sessions: Callable[[], Session]) -> None:
    info = seed_demo(sessions, now=NOW)

    with sessions() as session:
        us, de = info.stores["Amazon US"], info.stores["Amazon DE"]
        stale = session.get(Store, de)
        assert stale is not None and stale.auth_status == "expired"
        reports = {
            r.store_id: r
            for r in session.exec(select(PlatformReport).where(PlatformReport.kind == "listings"))
        }
        assert as_utc(reports[de].generated_at) == NOW - timedelta(days=5)
        assert as_utc(reports[us].generated_at) == NOW - timedelta(hours=10)
        in_report = {
            row.sku for row in session.exec(select(ReportRow).where(ReportRow.report_id == reports[us].id))
        }
        assert "DEMO-REP-OK" in in_report and not {"DEMO-REP-OMIT", "DEMO-REP-NEW"} & in_report
        rejected = session.exec(select(PriceChange).where(PriceChange.sku == "DEMO-PRICE-REJECTED")).one()
        assert rejected.reject_reason == "Price exceeds the maximum allowed for this category"
        failures = session.exec(
            select(PublishAttempt).where(PublishAttempt.platform == "shopee", PublishAttempt.ok.is_(False))  # type: ignore[attr-defined]
        ).all()
        assert len(failures) == 12 and len({f.account_id for f in failures}) == 2
        assert all(NOW - as_utc(f.at) <= timedelta(hours=1) for f in failures)  # type: ignore[operator]
        shipped = session.exec(select(Order).where(Order.platform_order_id == "112-0000002-0000002")).one()
        assert shipped.status == "shipped"
        assert (
            session.exec(select(Order).where(Order.platform_order_id == "112-0000001-0000001")).first()
            is None
        )


def test_seeding_again_later_moves_the_times_forward(sessions: Callable[[], Session]) -> None:
    seed_demo(sessions, now=NOW)

    seed_demo(sessions, now=NOW + timedelta(days=3))

    with sessions() as session:
        waiting = session.exec(select(PriceChange).where(PriceChange.sku == "DEMO-PRICE-WAIT")).one()
        assert as_utc(waiting.decided_at) == NOW + timedelta(days=3) - timedelta(hours=2)
        report = session.exec(select(PlatformReport).order_by(PlatformReport.id)).first()  # type: ignore[arg-type]
        assert report is not None
        assert as_utc(report.generated_at) == NOW + timedelta(days=3) - timedelta(hours=10)


@pytest.fixture
def demo(database_url: str) -> Iterator[tuple[Components, EmbeddedPlatforms, int]]:
    components = Components(Settings(database_url=database_url))
    info = seed_demo(components.session)
    platforms = start_embedded_platforms(components.session)
    # What the console does: the picture host is on loopback, allowed for this run only.
    components.settings = replace(components.settings, fetch_allow=platforms.allow_hosts)
    yield components, platforms, info.account_id
    platforms.stop()
    components.connectors.close()
    components.engine.dispose()


def test_picture_host_serves_the_demo_pictures(demo: tuple[Components, EmbeddedPlatforms, int]) -> None:
    _, platforms, _ = demo
    with httpx.Client(base_url=platforms.cdn_url, timeout=5) as client:
        modes = {}
        for name in ("ok.jpg", "cmyk.jpg", "alpha.png", "gray.png"):
            answer = client.get(f"/img/{name}")
            assert answer.status_code == 200
            modes[name] = Image.open(io.BytesIO(answer.content)).mode
        split = client.get("/img/split.jpg")
        page = client.get("/img/page.html")
        missing = client.get("/img/missing.jpg")

    assert modes == {"ok.jpg": "RGB", "cmyk.jpg": "CMYK", "alpha.png": "RGBA", "gray.png": "L"}
    with pytest.raises(OSError):
        Image.open(io.BytesIO(split.content)).load()  # truncated: the "split" picture
    assert page.headers["content-type"].startswith("text/html")
    assert missing.status_code == 404
    assert platforms.allow_hosts == (platforms.cdn_url.removeprefix("http://"),)


def test_stores_point_at_the_running_platforms(demo: tuple[Components, EmbeddedPlatforms, int]) -> None:
    components, platforms, account_id = demo
    with components.session() as session:
        stores = {s.name: s for s in session.exec(select(Store).where(Store.account_id == account_id))}
        pictures = session.exec(select(Product).where(Product.sku == "DEMO-PUB-CMYK")).one().image_urls
    registry = ConnectorRegistry()
    try:
        us = registry.connector_for(stores["Amazon US"])
        assert stores["Amazon US"].endpoint == platforms.amazon_us.base_url
        assert us.get_order("112-0000001-0000001") is not None
        hidden = us.get_order("112-0000003-0000003")
        assert hidden is not None
        listed = us.list_orders(updated_after=datetime.now(UTC) - timedelta(days=30))
        assert "112-0000003-0000003" not in {o.order_id for o in listed.orders}
        live = us.get_live_price("DEMO-PRICE-LIVE")
        assert live is not None and live.amount == "36.99"
        wait = us.get_live_price("DEMO-PRICE-WAIT")
        assert wait is not None and wait.amount == "34.99"
        with pytest.raises(AuthorizationExpired):
            registry.connector_for(stores["Amazon DE"]).list_orders(
                updated_after=datetime.now(UTC) - timedelta(days=1)
            )
        shopee = registry.connector_for(stores["Shopee MY"])
        assert shopee.get_order("2611260ABCDEF1") is not None
    finally:
        registry.close()
    assert pictures == [f"{platforms.cdn_url}/img/ok.jpg", f"{platforms.cdn_url}/img/cmyk.jpg"]


def test_every_scenario_reaches_its_verdict(demo: tuple[Components, EmbeddedPlatforms, int]) -> None:
    """Each advertised question, with the entities a seller's words carry, gives its verdict.

    The scenarios run in their listed order: some change the demo (a fresh report, a sync).
    """
    components, platforms, account_id = demo
    services = components.services
    with components.session() as session:
        skus = [p.sku for p in session.exec(select(Product).where(Product.account_id == account_id))]
        stores = [s.name for s in session.exec(select(Store).where(Store.account_id == account_id))]
    assert {(s.flow, s.verdict) for s in DEMO_SCENARIOS} >= {
        (flow, verdict)
        for flow, verdicts in VERDICTS.items()
        for verdict in verdicts
        if flow != "delete_store_data"  # deleting and restoring take the owner's confirmation
    }
    reached = []
    for scenario in DEMO_SCENARIOS:
        text = scenario_text(scenario.question, platforms.cdn_url)
        request = FlowRequest(
            account_id=account_id,
            actor="console:demo",
            role="owner",
            entities=extract_entities(text, known_skus=skus, known_stores=stores),
            question=text,
        )
        result = HANDLERS[scenario.flow](request, services)
        reached.append((scenario.flow, getattr(result, "verdict", type(result).__name__)))
    assert reached == [(s.flow, s.verdict) for s in DEMO_SCENARIOS]


def test_every_scenario_has_a_chinese_question() -> None:
    for scenario in DEMO_SCENARIOS:
        chinese = question_zh(scenario)
        assert chinese != scenario.question
        assert any("\u4e00" <= char <= "\u9fff" for char in chinese)


def test_demo_command(database_url: str) -> None:
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    first = subprocess.run(
        [sys.executable, APP, "demo"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    again = subprocess.run(
        [sys.executable, APP, "demo", "--reset"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert first.returncode == 0, first.stderr
    assert "Demo created" in first.stdout and "Amazon DE (authorization expired)" in first.stdout
    assert "DEMO-PRICE-DRAFT" in first.stdout and "我修改了 DEMO-PRICE-DRAFT 的价格" in first.stdout
    assert again.returncode == 0 and "Demo created" in again.stdout
