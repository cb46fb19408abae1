"""The publish_image_error flow: every verdict over real pictures and real publish history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from erp.models import Product, PublishAttempt, Store
from handlers import publish_image_error
from handlers.diagnosis import ActionKind, DetailRequest, Diagnosis
from handlers.registry import FlowRequest
from handlers.services import Services
from knowledge.entities import Entities
from tests.services_fixture import (
    NOW,
    PictureHost,
    add_account,
    add_rows,
    add_store,
    loopback_image_checker,
    make_services,
    running_picture_host,
)


@pytest.fixture
def host() -> Iterator[PictureHost]:
    with running_picture_host() as running:
        yield running


@pytest.fixture
def world(
    session: Session, engine: Engine, tmp_path: Path, host: PictureHost
) -> Iterator[tuple[Services, int]]:
    demo = add_account(session, "demo")
    neighbour = add_account(session, "neighbour")
    us = add_store(session, demo, "Amazon US")
    my = add_store(session, demo, "Shopee MY", platform="shopee")
    theirs = add_store(session, neighbour, "Neighbour MY", platform="shopee")
    ok, cmyk, missing = host.url("ok.jpg"), host.url("cmyk.jpg"), host.url("missing.jpg")

    def product(store_id: int | None, sku: str, urls: list[str]) -> Product:
        return Product(account_id=demo.id or 0, store_id=store_id or 0, sku=sku, image_urls=urls)

    add_rows(
        session,
        [
            product(us.id, "DEMO-PUB-CMYK", [ok, cmyk]),
            product(us.id, "DEMO-PUB-LOST", [ok, missing]),
            product(my.id, "DEMO-PUB-FLAKY", [ok]),
            product(us.id, "DEMO-PUB-OK", [ok, host.url("gray.png")][:1]),
        ],
    )
    attempts = []
    # 12 failed publishes on Shopee within the hour, from two sellers; older ones do not count.
    for n in range(12):
        account, store = (demo, my) if n % 3 == 0 else (neighbour, theirs)
        attempts.append(
            PublishAttempt(
                account_id=account.id or 0,
                store_id=store.id or 0,
                platform="shopee",
                sku=f"THEIR-SECRET-{n}" if account is neighbour else "DEMO-PUB-FLAKY",
                at=NOW - timedelta(minutes=5 * n),
                ok=False,
                error_code="SYSTEM_BUSY",
            )
        )
    attempts.append(
        PublishAttempt(
            account_id=demo.id or 0,
            store_id=us.id or 0,
            platform="amazon",
            sku="DEMO-PUB-OK",
            at=NOW - timedelta(minutes=10),
            ok=False,
            error_code="8541",
        )
    )
    attempts += [
        PublishAttempt(
            account_id=neighbour.id or 0,
            store_id=theirs.id or 0,
            platform="amazon",
            sku="OLD",
            at=NOW - timedelta(hours=3, minutes=n),
            ok=False,
        )
        for n in range(20)
    ]
    add_rows(session, attempts)
    with loopback_image_checker() as checker:
        yield make_services(engine, export_dir=str(tmp_path), images=checker), demo.id or 0


def _ask(account_id: int, *, sku: str = "", urls: tuple[str, ...] = (), language: str = "en") -> FlowRequest:
    return FlowRequest(
        account_id=account_id,
        actor="console:demo",
        language=language,  # type: ignore[arg-type]
        entities=Entities(skus=[sku] if sku else [], urls=list(urls)),
    )


def test_not_rgb_names_the_mode_and_offers_the_conversion(
    world: tuple[Services, int], host: PictureHost
) -> None:
    services, demo = world
    result = publish_image_error.handle(_ask(demo, sku="DEMO-PUB-CMYK"), services)
    assert isinstance(result, Diagnosis)
    assert result.verdict == "not_rgb"
    assert "CMYK" in result.summary
    with services.sessions() as session:
        store = session.exec(select(Store).where(Store.account_id == demo, Store.name == result.store)).one()
    # The store goes along with the link, so the conversion's audit row can name both.
    assert [(a.kind, a.params) for a in result.actions] == [
        (ActionKind.CONVERT_RGB, {"url": host.url("cmyk.jpg"), "store_id": str(store.id)})
    ]
    assert [i.mode for i in result.images] == ["RGB", "CMYK"]


def test_image_lost(world: tuple[Services, int], host: PictureHost) -> None:
    services, demo = world
    result = publish_image_error.handle(_ask(demo, sku="DEMO-PUB-LOST", language="zh"), services)
    assert isinstance(result, Diagnosis)
    assert result.verdict == "image_lost"
    assert "无法打开" in result.summary
    assert "商品编辑页面删除" in result.next_steps[0]
    assert "（missing.jpg）" in result.next_steps[0]  # the finding above gives its full link


def test_platform_unstable_counts_other_sellers_without_showing_them(world: tuple[Services, int]) -> None:
    services, demo = world
    result = publish_image_error.handle(_ask(demo, sku="DEMO-PUB-FLAKY"), services)
    assert isinstance(result, Diagnosis)
    assert result.verdict == "platform_unstable"
    assert "12 failed publishes from 2 sellers" in result.summary
    assert "resubmit it later" in result.next_steps[0]
    everything = repr(result.to_json())
    assert "THEIR-SECRET" not in everything and "Neighbour" not in everything


def test_all_fine_when_one_failure_and_good_pictures(world: tuple[Services, int]) -> None:
    services, demo = world
    result = publish_image_error.handle(_ask(demo, sku="DEMO-PUB-OK"), services)
    assert isinstance(result, Diagnosis)
    assert result.verdict == "all_fine"
    # Only the last hour counts: 1 recent Amazon failure, the 20 older ones are history.
    assert "1 failed publish from 1 seller" in result.findings[-1].result
    assert result.actions[0].kind == ActionKind.TALK_TO_PERSON


def test_alpha_picture_given_by_url_is_not_rgb(world: tuple[Services, int], host: PictureHost) -> None:
    services, demo = world
    result = publish_image_error.handle(_ask(demo, urls=(host.url("alpha.png"),)), services)
    assert isinstance(result, Diagnosis)
    assert result.verdict == "not_rgb" and "RGBA" in result.summary


def test_no_detail_lists_the_sellers_own_failed_publishes(world: tuple[Services, int]) -> None:
    services, demo = world
    result = publish_image_error.handle(_ask(demo), services)
    assert isinstance(result, DetailRequest) and result.detail == "sku"
    assert [c.value for c in result.choices] == ["DEMO-PUB-FLAKY", "DEMO-PUB-OK"]
    # The platform's code reads as a code, not as a bare number beside the store.
    assert all(" · error " in c.label for c in result.choices), [c.label for c in result.choices]
    unknown = publish_image_error.handle(_ask(demo, sku="NOPE-1"), services)
    assert isinstance(unknown, DetailRequest) and "can't find SKU NOPE-1" in unknown.prompt
