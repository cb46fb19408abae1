"""The image_not_displaying flow over real pictures served on 127.0.0.1 and the real image check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from erp.models import Product
from handlers import image_not_displaying
from handlers.diagnosis import CheckStatus, DetailRequest, Diagnosis
from handlers.image_check import FetchPolicy, ImageChecker
from handlers.registry import FlowRequest
from handlers.services import Services
from knowledge.entities import Entities
from tests.image_server import ImageServer
from tests.services_fixture import (
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
    other = add_account(session, "neighbour")
    us = add_store(session, demo, "Amazon US")
    theirs = add_store(session, other, "Their Shop")
    add_rows(
        session,
        [
            Product(
                account_id=demo.id or 0, store_id=us.id or 0, sku="DEMO-PIC", image_urls=[host.url("ok.jpg")]
            ),
            Product(
                account_id=other.id or 0,
                store_id=theirs.id or 0,
                sku="THEIR-PIC",
                image_urls=[host.url("split.jpg")],
            ),
        ],
    )
    with loopback_image_checker() as checker:
        yield make_services(engine, export_dir=str(tmp_path), images=checker), demo.id or 0


def _ask(account_id: int, *, urls: list[str] = (), skus: list[str] = (), language: str = "en") -> FlowRequest:  # type: ignore[assignment]
    return FlowRequest(
        account_id=account_id,
        actor="console:demo",
        language=language,  # type: ignore[arg-type]
        entities=Entities(urls=list(urls), skus=list(skus)),
    )


@pytest.mark.parametrize(
    ("name", "verdict", "words"),
    [
        ("ok.jpg", "loads_fine", "your side of the network"),
        ("missing.jpg", "unreachable", "cannot be opened"),
        ("split.jpg", "damaged", '"split" display'),
        ("page.html", "not_an_image", "The link does not point to a picture"),
    ],
)
def test_each_verdict_from_a_url(
    world: tuple[Services, int], host: PictureHost, name: str, verdict: str, words: str
) -> None:
    services, demo = world
    result = image_not_displaying.handle(_ask(demo, urls=[host.url(name)]), services)
    assert isinstance(result, Diagnosis)
    assert result.verdict == verdict
    assert words in result.summary
    assert result.images[0].url == host.url(name)
    assert result.next_steps


def test_the_worst_picture_decides_and_every_url_has_evidence(
    world: tuple[Services, int], host: PictureHost
) -> None:
    services, demo = world
    urls = [host.url("ok.jpg"), host.url("split.jpg"), host.url("missing.jpg")]
    result = image_not_displaying.handle(_ask(demo, urls=urls, language="zh"), services)
    assert isinstance(result, Diagnosis)
    assert result.verdict == "unreachable"
    assert "无法打开" in result.summary
    assert [f.status for f in result.findings] == [CheckStatus.OK, CheckStatus.PROBLEM, CheckStatus.PROBLEM]
    assert [i.verdict for i in result.images] == ["ok", "damaged", "unreachable"]
    assert result.images[0].thumbnail_png and result.images[0].thumbnail_png.startswith(b"\x89PNG")
    assert result.images[2].http_status == 404


@pytest.mark.parametrize(
    ("language", "words"), [("en", "cannot be opened: timed out"), ("zh", "无法打开：超时")]
)
def test_a_picture_that_never_finishes_says_it_timed_out_not_its_http_200(
    session: Session, engine: Engine, tmp_path: Path, image_host: ImageServer, language: str, words: str
) -> None:
    # The host answers 200 at once, then sends one byte at a time forever: only the budget ends it.
    demo = add_account(session, "demo")
    policy = FetchPolicy(allow=("127.0.0.1",), total_timeout=0.5)
    with ImageChecker(policy, concurrency=1) as checker:
        services = make_services(engine, export_dir=str(tmp_path), images=checker)
        url = image_host.url("/drip?short")
        result = image_not_displaying.handle(_ask(demo.id or 0, urls=[url], language=language), services)
    assert isinstance(result, Diagnosis)
    assert result.verdict == "unreachable"
    assert [f.result for f in result.findings] == [words]
    assert result.images[0].http_status == 200  # the status is kept for the details, not said as the cause


def test_a_sku_checks_its_product_pictures(world: tuple[Services, int], host: PictureHost) -> None:
    services, demo = world
    result = image_not_displaying.handle(_ask(demo, skus=["DEMO-PIC"]), services)
    assert isinstance(result, Diagnosis)
    assert (result.verdict, result.sku, result.store) == ("loads_fine", "DEMO-PIC", "Amazon US")


def test_another_accounts_sku_is_unknown_and_nothing_given_asks(world: tuple[Services, int]) -> None:
    services, demo = world
    theirs = image_not_displaying.handle(_ask(demo, skus=["THEIR-PIC"]), services)
    assert isinstance(theirs, DetailRequest) and theirs.detail == "image_url"
    assert "can't find SKU THEIR-PIC" in theirs.prompt
    assert [c.value for c in theirs.choices] == ["DEMO-PIC"]  # only the seller's own products

    nothing = image_not_displaying.handle(_ask(demo), services)
    assert isinstance(nothing, DetailRequest) and "Which picture" in nothing.prompt


def test_bad_urls_get_a_verdict_not_an_error(world: tuple[Services, int]) -> None:
    services, demo = world
    result = image_not_displaying.handle(
        _ask(demo, urls=["file:///etc/passwd", "ftp://example.com/a.jpg", "not a url"]), services
    )
    assert isinstance(result, Diagnosis)
    assert result.verdict == "unreachable"
    assert {i.verdict for i in result.images} <= {"unreachable", "blocked"}
