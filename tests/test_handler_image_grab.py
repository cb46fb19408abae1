"""The `image_grab` handler on a real database, with the real schedule and the real image check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from erp.models import SalesStatus
from handlers import image_grab
from handlers.diagnosis import CheckStatus, DetailRequest, Diagnosis
from handlers.image_check import FetchPolicy, ImageChecker
from handlers.registry import FlowRequest
from handlers.services import Services
from tests.handler_services import (
    PictureHost,
    add,
    ago,
    ask,
    grab,
    jpeg_bytes,
    make_seller,
    make_services,
    order,
    product,
    snapshot,
)


@pytest.fixture
def picture_host() -> Iterator[PictureHost]:
    host = PictureHost({"ok.jpg": ("image/jpeg", jpeg_bytes())})
    yield host
    host.close()


def _diagnose(request: FlowRequest, services: Services) -> Diagnosis:
    result = image_grab.handle(request, services)
    assert isinstance(result, Diagnosis), result
    return result


def test_product_without_picture_is_grabbed_tonight_by_rule_a(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(session, product(seller.us, "IMG-NOPIC", uploaded=True, has_picture=False))
    before = snapshot(engine)

    diagnosis = _diagnose(ask(seller.account, "IMG-NOPIC"), make_services(engine))

    assert diagnosis.verdict == "eligible_tonight"
    assert "rule (a)" in diagnosis.summary and "2026-11-27 03:00 UTC" in diagnosis.summary
    assert diagnosis.tables[0].rows[0][1] == "yes"
    assert snapshot(engine) == before


def test_picture_system_edit_two_days_ago_is_rule_b(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        product(
            seller.us, "IMG-EDITED", uploaded=True, has_picture=True, picture_system_modified_at=ago(days=2)
        ),
    )

    diagnosis = _diagnose(ask(seller.account, "IMG-EDITED", language="zh"), make_services(engine))

    assert diagnosis.verdict == "eligible_tonight"
    assert "规则 (b)" in diagnosis.summary and "2026-11-24 12:00 UTC" in diagnosis.summary


def test_recent_orders_with_normal_sales_is_rule_c(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        product(seller.us, "IMG-SELLING", uploaded=True, has_picture=True),
        order(seller.us, "O-1", ["IMG-SELLING"], ago(days=2)),
        order(seller.us, "O-2", ["IMG-SELLING", "OTHER"], ago(days=10)),
        order(seller.us, "O-3", ["IMG-SELLING"], ago(days=20)),
        order(seller.us, "O-OLD", ["IMG-SELLING"], ago(days=45)),
    )

    diagnosis = _diagnose(ask(seller.account, "IMG-SELLING"), make_services(engine))

    assert diagnosis.verdict == "eligible_tonight"
    assert "rule (c)" in diagnosis.summary and "3 orders in the last 30 days" in diagnosis.summary


def test_stopped_sales_is_not_eligible_and_says_what_would_make_it(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        product(seller.us, "IMG-STOPPED", uploaded=True, has_picture=True, sales_status=SalesStatus.STOPPED),
        order(seller.us, "O-1", ["IMG-STOPPED"], ago(days=3)),
        order(seller.us, "O-2", ["IMG-STOPPED"], ago(days=4)),
    )

    diagnosis = _diagnose(ask(seller.account, "IMG-STOPPED"), make_services(engine))

    assert diagnosis.verdict == "not_eligible"
    assert "2 orders in the last 30 days, but sales status is 'stopped'" in diagnosis.summary
    assert "it already has a picture" in diagnosis.summary
    assert any("set the sales status to 'normal'" in step for step in diagnosis.next_steps)
    assert any("picture publishing system" in step for step in diagnosis.next_steps)
    assert [f.status for f in diagnosis.findings[:3]] == [CheckStatus.PROBLEM] * 3


def test_grabbed_last_night(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    item = product(seller.us, "IMG-DONE", uploaded=True, has_picture=True)
    add(session, item)
    grab(session, item, "grabbed", ago(hours=9), rule="a")

    diagnosis = _diagnose(ask(seller.account, "IMG-DONE"), make_services(engine))

    assert diagnosis.verdict == "grabbed"
    assert "grabbed 2026-11-26 03:00 UTC (9 h ago)" in diagnosis.summary


def test_failed_grab_checks_the_images_over_http(
    engine: Engine, session: Session, picture_host: PictureHost
) -> None:
    seller = make_seller(session)
    item = product(
        seller.us,
        "IMG-FAIL",
        uploaded=True,
        has_picture=False,
        image_urls=[picture_host.url("ok.jpg"), picture_host.url("missing.jpg")],
    )
    add(session, item)
    grab(session, item, "failed", ago(hours=9), detail="missing.jpg: unreachable")
    with ImageChecker(FetchPolicy(allow=("127.0.0.1",)), concurrency=2) as checker:
        diagnosis = _diagnose(ask(seller.account, "IMG-FAIL"), make_services(engine, images=checker))

    assert diagnosis.verdict == "last_grab_failed"
    assert "failed 2026-11-26 03:00 UTC" in diagnosis.summary and "unreachable" in diagnosis.summary
    verdicts = {image.url.rsplit("/", 1)[1]: image for image in diagnosis.images}
    assert verdicts["ok.jpg"].verdict == "ok" and verdicts["ok.jpg"].thumbnail_png
    assert verdicts["missing.jpg"].verdict == "unreachable" and verdicts["missing.jpg"].http_status == 404
    assert any("Delete the broken image" in step for step in diagnosis.next_steps)
    assert any("2026-11-27 03:00 UTC" in step for step in diagnosis.next_steps)  # rule (a) still holds


def test_missing_sku_lists_products_and_hides_other_accounts(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        product(seller.us, "MINE-1", created_at=ago(days=2)),
        product(seller.neighbour_store, "THEIRS-1"),
    )
    services = make_services(engine)

    asked = image_grab.handle(ask(seller.account), services)
    theirs = image_grab.handle(ask(seller.account, "THEIRS-1"), services)

    assert isinstance(asked, DetailRequest) and asked.detail == "sku"
    assert [choice.value for choice in asked.choices] == ["MINE-1"]
    assert isinstance(theirs, DetailRequest) and "can't find SKU THEIRS-1" in theirs.prompt
    assert [choice.value for choice in theirs.choices] == ["MINE-1"]
