"""The nightly image grab: rules a, b, c with dates, and a run over real pictures served over HTTP."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from erp.jobs.image_grab import ImageGrab, evaluate_rules, first_rule_holding, last_grab
from erp.models import Account, ImageGrabResult, ImageGrabRun, Order, Product, Store
from handlers.image_check import FetchPolicy, ImageChecker

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def picture(mode: str = "RGB", fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    # Noise, so that the picture data is long enough to cut after the header.
    Image.effect_noise((160, 120), 60).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


class PictureHost:
    """Serves pictures (and broken ones) over HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = files.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                content_type, body = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def add(self, path: str, body: bytes, content_type: str = "image/jpeg") -> str:
        self.files[path] = (content_type, body)
        return self.base + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host() -> Iterator[PictureHost]:
    server = PictureHost()
    yield server
    server.close()


@pytest.fixture
def checker() -> Iterator[ImageChecker]:
    with ImageChecker(FetchPolicy(allow=("127.0.0.1",))) as image_checker:
        yield image_checker


@pytest.fixture
def store(session: Session) -> Store:
    account = Account(name="acme")
    session.add(account)
    session.commit()
    store = Store(account_id=account.id or 0, name="Amazon DE", platform="amazon")
    session.add(store)
    session.commit()
    return store


def add_product(session: Session, store: Store, sku: str, **fields: Any) -> Product:
    product = Product(account_id=store.account_id, store_id=store.id or 0, sku=sku, **fields)
    session.add(product)
    session.commit()
    return product


def add_order(session: Session, store: Store, order_id: str, skus: list[str], days_ago: float) -> None:
    placed = NOW - timedelta(days=days_ago)
    session.add(
        Order(
            store_id=store.id or 0,
            platform_order_id=order_id,
            status="shipped",
            purchased_at=placed,
            platform_updated_at=placed,
            skus=skus,
        )
    )
    session.commit()


def by_rule(session: Session, product: Product) -> dict[str, tuple[bool, dict[str, object]]]:
    return {e.rule: (e.holds, e.facts) for e in evaluate_rules(session, product, NOW)}


def test_rule_a_uploaded_without_picture(session: Session, store: Store) -> None:
    bare = add_product(session, store, "A-1", uploaded=True, has_picture=False)
    pictured = add_product(session, store, "A-2", uploaded=True, has_picture=True)
    not_uploaded = add_product(session, store, "A-3", uploaded=False, has_picture=False)

    assert by_rule(session, bare)["a"] == (True, {"uploaded": True, "has_picture": False})
    assert by_rule(session, pictured)["a"][0] is False
    assert by_rule(session, not_uploaded)["a"][0] is False
    assert [e.rule for e in evaluate_rules(session, bare, NOW)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("days_ago", "holds"), [(0.5, True), (6.9, True), (7.0, True), (7.5, False), (30, False)]
)
def test_rule_b_picture_system_change_in_the_last_seven_days(
    session: Session, store: Store, days_ago: float, holds: bool
) -> None:
    modified = NOW - timedelta(days=days_ago)
    product = add_product(session, store, "B-1", has_picture=True, picture_system_modified_at=modified)

    held, facts = by_rule(session, product)["b"]
    assert held is holds
    assert facts["days_ago"] == round(days_ago, 1)
    assert facts["modified_at"] == modified


def test_rule_b_never_modified(session: Session, store: Store) -> None:
    product = add_product(session, store, "B-2", has_picture=True)
    assert by_rule(session, product)["b"] == (False, {"modified_at": None, "days_ago": None})


def test_rule_c_counts_the_skus_orders_of_the_last_30_days(session: Session, store: Store) -> None:
    product = add_product(session, store, "C_1%", has_picture=True)
    add_order(session, store, "O-1", ["C_1%", "OTHER"], days_ago=2)
    add_order(session, store, "O-2", ["C_1%"], days_ago=29.5)
    add_order(session, store, "O-3", ["C_1%"], days_ago=31)  # too old
    add_order(session, store, "O-4", ["C_1%X"], days_ago=1)  # another SKU that contains it
    add_order(session, store, "O-5", ["CX1Y"], days_ago=1)  # LIKE wildcards must not match
    other = Store(account_id=store.account_id, name="Amazon UK", platform="amazon")
    session.add(other)
    session.commit()
    add_order(session, other, "O-6", ["C_1%"], days_ago=1)  # the same SKU in another store

    assert by_rule(session, product)["c"] == (True, {"orders_30d": 2, "sales_status": "normal"})

    product.sales_status = "stopped"
    session.add(product)
    session.commit()
    assert by_rule(session, product)["c"] == (False, {"orders_30d": 2, "sales_status": "stopped"})


def test_rule_c_without_orders(session: Session, store: Store) -> None:
    product = add_product(session, store, "C-2", has_picture=True)
    assert by_rule(session, product)["c"] == (False, {"orders_30d": 0, "sales_status": "normal"})
    assert first_rule_holding(evaluate_rules(session, product, NOW)) is None


def test_nightly_run_grabs_eligible_products_and_records_the_outcome(
    engine: Engine, session: Session, store: Store, host: PictureHost, checker: ImageChecker
) -> None:
    good = host.add("/good.jpg", picture())
    cmyk = host.add("/cmyk.jpg", picture("CMYK"))
    truncated = host.add("/split.jpg", picture()[: len(picture()) * 2 // 3])
    page = host.add("/page.jpg", b"<!doctype html><html><body>gone</body></html>", "text/html")
    missing = host.base + "/missing.jpg"

    rule_a = add_product(session, store, "P-A", uploaded=True, image_urls=[good])
    rule_b = add_product(
        session, store, "P-B", has_picture=True, picture_system_modified_at=NOW - timedelta(days=2),
        image_urls=[good, truncated],
    )  # fmt: skip
    rule_c = add_product(session, store, "P-C", has_picture=True, image_urls=[cmyk])
    add_order(session, store, "O-1", ["P-C"], days_ago=3)
    html = add_product(session, store, "P-H", uploaded=True, image_urls=[page, missing])
    no_urls = add_product(session, store, "P-N", uploaded=True)
    idle = add_product(session, store, "P-I", has_picture=True, image_urls=[good])
    gone_store = Store(account_id=store.account_id, name="Old", platform="amazon", deleted_at=NOW)
    session.add(gone_store)
    session.commit()
    in_deleted_store = add_product(session, gone_store, "P-D", uploaded=True, image_urls=[good])

    run = ImageGrab(lambda: Session(engine), checker, clock=lambda: NOW).run(NOW)

    assert (run.considered, run.grabbed, run.failed) == (5, 2, 3)
    assert run.finished_at is not None
    results = {
        r.product_id: r for r in session.exec(select(ImageGrabResult).where(ImageGrabResult.run_id == run.id))
    }
    assert {pid: (r.rule, r.outcome) for pid, r in results.items()} == {
        rule_a.id: ("a", "grabbed"),
        rule_b.id: ("b", "failed"),
        rule_c.id: ("c", "grabbed"),
        html.id: ("a", "failed"),
        no_urls.id: ("a", "failed"),
    }
    assert "split.jpg" in results[rule_b.id or 0].detail and "damaged" in results[rule_b.id or 0].detail
    assert "good.jpg" not in results[rule_b.id or 0].detail
    assert "not_an_image" in results[html.id or 0].detail and "unreachable" in results[html.id or 0].detail
    assert "no picture address" in results[no_urls.id or 0].detail
    assert idle.id not in results and in_deleted_store.id not in results

    session.expire_all()
    assert session.get(Product, rule_a.id).has_picture is True  # type: ignore[union-attr]
    assert session.get(Product, html.id).has_picture is False  # type: ignore[union-attr]
    # Rule a no longer holds once the picture is there.
    assert first_rule_holding(evaluate_rules(session, session.get(Product, rule_a.id), NOW)) is None  # type: ignore[arg-type]


def test_last_grab_is_the_newest_result(
    engine: Engine, session: Session, store: Store, host: PictureHost, checker: ImageChecker
) -> None:
    product = add_product(session, store, "P-1", uploaded=True, image_urls=[host.base + "/not-yet.jpg"])
    assert last_grab(session, product.id or 0) is None

    grab = ImageGrab(lambda: Session(engine), checker)
    grab.run(NOW - timedelta(days=1))
    first = last_grab(session, product.id or 0)
    assert first is not None and first.outcome == "failed" and "unreachable" in first.detail

    host.add("/not-yet.jpg", picture())
    grab.run(NOW)
    latest = last_grab(session, product.id or 0)
    assert latest is not None and (latest.outcome, latest.rule) == ("grabbed", "a")
    assert latest.at.replace(tzinfo=UTC) == NOW
    runs = session.exec(select(ImageGrabRun).order_by(col(ImageGrabRun.id))).all()
    assert [(r.considered, r.grabbed, r.failed) for r in runs] == [(1, 0, 1), (1, 1, 0)]
