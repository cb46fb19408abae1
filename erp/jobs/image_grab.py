"""The nightly image grab: which products get their pictures captured, and capturing them.

A product is grabbed when any of three rules holds (DESIGN.md, flow `image_grab`):
(a) it was uploaded and created on the platform but has no picture yet;
(b) it was modified through the picture publishing system in the last 7 days;
(c) it had orders in the last 30 days and its sales status is "normal".
The `image_grab` flow explains a product's eligibility with `evaluate_rules` and its last outcome
with `last_grab`; the scheduler runs `ImageGrab.run` every night.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from sqlalchemy import String, cast
from sqlmodel import Session, col, select

from erp.models import ImageGrabResult, ImageGrabRun, Order, Product, SalesStatus, Store

logger = logging.getLogger(__name__)

PICTURE_SYSTEM_WINDOW = timedelta(days=7)
ORDERS_WINDOW = timedelta(days=30)
RULES: tuple[Literal["a", "b", "c"], ...] = ("a", "b", "c")
# Verdicts of a picture that was fetched and read: a colour-mode problem matters when publishing,
# not for capturing it.
_GRABBED_VERDICTS = frozenset({"ok", "not_rgb", "has_alpha"})
_BATCH = 50  # products whose pictures are checked together


class ImageCheckResultLike(Protocol):
    """What the grab reads from an image check result (`handlers.image_check.ImageCheckResult`)."""

    url: str
    detail: str

    @property
    def verdict(self) -> object: ...


class ImageCheckingMany(Protocol):
    def check_many(self, urls: Sequence[str]) -> Sequence[ImageCheckResultLike]: ...


@dataclass(frozen=True)
class RuleEvaluation:
    """Whether one grab rule holds for a product, and the facts that decided it."""

    rule: Literal["a", "b", "c"]
    holds: bool
    facts: dict[str, object] = field(default_factory=dict)


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything we store is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def evaluate_rules(session: Session, product: Product, now: datetime) -> list[RuleEvaluation]:
    """Rules a, b and c for one product, in that order.

    Args:
        session: the database.
        product: the product list row.
        now: the moment to judge at (the next run's time, to say whether it is eligible tonight).

    Returns:
        Three evaluations; facts for a: uploaded, has_picture; b: modified_at, days_ago;
        c: orders_30d, sales_status.
    """
    orders = _order_counts(session, [product.store_id], now, sku=product.sku)
    return _evaluate(product, now, orders.get((product.store_id, product.sku), 0))


def first_rule_holding(evaluations: Iterable[RuleEvaluation]) -> str | None:
    """The rule that selects the product (a before b before c), or None when none holds."""
    return next((e.rule for e in evaluations if e.holds), None)


def last_grab(session: Session, product_id: int) -> ImageGrabResult | None:
    """The product's most recent grab result, or None when it was never grabbed."""
    query = (
        select(ImageGrabResult)
        .where(col(ImageGrabResult.product_id) == product_id)
        .order_by(col(ImageGrabResult.at).desc(), col(ImageGrabResult.id).desc())
        .limit(1)
    )
    return session.exec(query).first()


def _evaluate(product: Product, now: datetime, orders_30d: int) -> list[RuleEvaluation]:
    rule_a = RuleEvaluation(
        "a",
        product.uploaded and not product.has_picture,
        {"uploaded": product.uploaded, "has_picture": product.has_picture},
    )
    modified_at = _as_utc(product.picture_system_modified_at)
    days_ago = (now - modified_at).total_seconds() / 86400 if modified_at else None
    rule_b = RuleEvaluation(
        "b",
        modified_at is not None and timedelta(0) <= now - modified_at <= PICTURE_SYSTEM_WINDOW,
        {"modified_at": modified_at, "days_ago": round(days_ago, 1) if days_ago is not None else None},
    )
    rule_c = RuleEvaluation(
        "c",
        orders_30d > 0 and product.sales_status == SalesStatus.NORMAL.value,
        {"orders_30d": orders_30d, "sales_status": product.sales_status},
    )
    return [rule_a, rule_b, rule_c]


def _order_counts(
    session: Session, store_ids: Sequence[int], now: datetime, *, sku: str | None = None
) -> Counter[tuple[int, str]]:
    """Orders per (store, SKU) placed in the 30 days before `now`.

    SKUs live in a JSON list on the order; the text match narrows the rows in the database (the
    same way on SQLite and PostgreSQL) and the exact match happens here.
    """
    since = now - ORDERS_WINDOW
    query = select(Order.store_id, Order.skus, Order.purchased_at, Order.platform_updated_at).where(
        col(Order.store_id).in_(list(store_ids))
    )
    if sku is not None:
        escaped = sku.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(cast(col(Order.skus), String).like(f"%{escaped}%", escape="\\"))
    counts: Counter[tuple[int, str]] = Counter()
    for store_id, skus, purchased_at, updated_at in session.exec(query):
        placed = _as_utc(purchased_at) or _as_utc(updated_at)
        if placed is None or not since <= placed <= now:
            continue
        for item in set(skus or ()):
            if sku is None or item == sku:
                counts[(store_id, item)] += 1
    return counts


class ImageGrab:
    """Runs the nightly grab over every live store's products.

    Args:
        sessions: opens a database session.
        image_checker: fetches and reads pictures (`check_many`).
        clock: the current time, for when a run finishes; UTC now by default.
    """

    def __init__(
        self,
        sessions: Callable[[], Session],
        image_checker: ImageCheckingMany,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._sessions = sessions
        self._checker = image_checker
        self._clock = clock or (lambda: datetime.now(UTC))

    def run(self, now: datetime) -> ImageGrabRun:
        """Grab every eligible product's pictures and record the outcome per product.

        Args:
            now: the run's time; the rules are judged at it.

        Returns:
            The finished run with its counts.
        """
        now = _as_utc(now) or now
        with self._sessions() as session:
            run = ImageGrabRun(started_at=now)
            session.add(run)
            session.commit()
            assert run.id is not None
            run_id = run.id
            selected = self._select(session, now)
        logger.info("image grab %s: %d products selected", run_id, len(selected))
        grabbed = failed = 0
        for start in range(0, len(selected), _BATCH):
            batch = selected[start : start + _BATCH]
            outcomes = self._grab(batch)
            with self._sessions() as session:
                for (product_id, rule, _), (ok, detail) in zip(batch, outcomes, strict=True):
                    session.add(
                        ImageGrabResult(
                            run_id=run_id,
                            product_id=product_id,
                            rule=rule,
                            outcome="grabbed" if ok else "failed",
                            detail=detail,
                            at=now,
                        )
                    )
                    if ok:
                        product = session.get(Product, product_id)
                        if product is not None and not product.has_picture:
                            product.has_picture = True
                            session.add(product)
                    grabbed, failed = grabbed + ok, failed + (not ok)
                session.commit()
        with self._sessions() as session:
            finished = session.get(ImageGrabRun, run_id)
            assert finished is not None
            finished.considered, finished.grabbed, finished.failed = len(selected), grabbed, failed
            finished.finished_at = max(now, self._clock())
            session.commit()
            session.refresh(finished)
            return finished

    def _select(self, session: Session, now: datetime) -> list[tuple[int, str, list[str]]]:
        """(product id, selecting rule, image URLs) of every eligible product, by product id."""
        store_ids = list(session.exec(select(Store.id).where(col(Store.deleted_at).is_(None))))
        if not store_ids:
            return []
        live_ids = [store_id for store_id in store_ids if store_id is not None]
        counts = _order_counts(session, live_ids, now)
        products = session.exec(
            select(Product).where(col(Product.store_id).in_(live_ids)).order_by(col(Product.id))
        )
        selected: list[tuple[int, str, list[str]]] = []
        for product in products:
            rule = first_rule_holding(_evaluate(product, now, counts.get((product.store_id, product.sku), 0)))
            if rule is not None and product.id is not None:
                selected.append((product.id, rule, list(product.image_urls)))
        return selected

    def _grab(self, batch: Sequence[tuple[int, str, list[str]]]) -> list[tuple[bool, str]]:
        """Check the batch's pictures in one concurrent call; (grabbed?, detail) per product."""
        urls = [url for _, _, product_urls in batch for url in product_urls]
        try:
            results = list(self._checker.check_many(urls)) if urls else []
        except Exception as exc:  # the checker itself broke: record it, the next night retries
            logger.exception("image grab: checking %d pictures failed", len(urls))
            return [(False, f"the pictures could not be checked: {type(exc).__name__}")] * len(batch)
        outcomes: list[tuple[bool, str]] = []
        position = 0
        for _, _, product_urls in batch:
            mine = results[position : position + len(product_urls)]
            position += len(product_urls)
            if not product_urls:
                outcomes.append((False, "the product has no picture address to grab from"))
                continue
            bad = [result for result in mine if str(result.verdict) not in _GRABBED_VERDICTS]
            if bad:
                outcomes.append(
                    (False, "; ".join(f"{r.url}: {r.verdict}: {r.detail}".rstrip(": ") for r in bad))
                )
            else:
                notes = [f"{r.url}: {r.detail}" for r in mine if str(r.verdict) != "ok" and r.detail]
                outcomes.append((True, "; ".join(notes)))
        return outcomes
