"""Shared look-ups for the SKU flows: the seller's visible stores, a SKU across them, near matches,
the choices a handler offers when a detail is missing, and time wording.

Everything here is scoped to one account: a store or SKU of another account is never returned, so
to the seller it looks exactly like an unknown one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from erp.models import PlatformReport, PriceChange, Product, ReportRow, ReportStatus, Store, UploadRecord
from handlers.diagnosis import Action, ActionKind, Choice, DetailRequest, Language
from handlers.text import say
from knowledge.entities import normalize_sku

MAX_CHOICES = 10
MAX_SKU_LENGTH = 120  # Product.sku's column length


# --- stores -------------------------------------------------------------------------------------


def visible_stores(session: Session, account_id: int) -> list[Store]:
    """The account's stores whose data has not been deleted, by name."""
    statement = (
        select(Store)
        .where(Store.account_id == account_id, col(Store.deleted_at).is_(None))
        .order_by(col(Store.name))
    )
    return list(session.exec(statement))


def _store_name_key(name: str) -> str:
    return " ".join(name.casefold().split())


def named_stores(stores: Sequence[Store], names: Iterable[str]) -> tuple[list[Store], list[str]]:
    """Split the names the seller gave into the account's stores they mean and the unknown ones."""
    by_key = {_store_name_key(store.name): store for store in stores}
    found: list[Store] = []
    unknown: list[str] = []
    for name in names:
        store = by_key.get(_store_name_key(name))
        if store is None:
            unknown.append(name)
        elif store not in found:
            found.append(store)
    return found, unknown


def store_choices(stores: Iterable[Store]) -> list[Choice]:
    """One choice per store; the value is the store's name (what `Entities.stores` carries)."""
    return [Choice(value=store.name, label=f"{store.name} ({store.platform})") for store in stores]


def ask_store(
    flow: str, language: Language, stores: Sequence[Store], *, sku: str = "", unknown: str = ""
) -> DetailRequest:
    """Ask which store, listing `stores`; say why (an unknown name, or a SKU in several stores)."""
    if unknown:
        prompt = say(
            language,
            f'I can\'t find a store called "{unknown}" in your account. Which store do you mean?',
            f"您的账号里没有名为“{unknown}”的店铺。请问是哪个店铺？",
        )
    elif sku:
        prompt = say(
            language,
            f"SKU {sku} is in several of your stores. Which store do you mean?",
            f"SKU {sku} 在您的多个店铺里都有。请问是哪个店铺？",
        )
    else:
        prompt = say(language, "Which store do you mean?", "请问是哪个店铺？")
    return DetailRequest(
        flow=flow, detail="store", prompt=prompt, language=language, choices=store_choices(stores)
    )


def scope_stores(
    session: Session, account_id: int, store_names: Sequence[str], flow: str, language: Language
) -> list[Store] | DetailRequest:
    """The stores a question is about: the ones the seller named, else all their visible stores.

    A name that matches none of the account's stores (including another account's store) gets a
    question listing the seller's own stores.
    """
    stores = visible_stores(session, account_id)
    if not store_names:
        return stores
    found, unknown = named_stores(stores, store_names)
    if found:
        return found
    return ask_store(flow, language, stores, unknown=unknown[0] if unknown else "")


def first_sku(skus: Sequence[str]) -> str:
    """The first non-blank SKU the seller gave, stripped and cut to the longest SKU the product
    list holds (a pasted paragraph must not be echoed back whole); empty when none."""
    for sku in skus:
        if sku.strip():
            return sku.strip()[:MAX_SKU_LENGTH]
    return ""


def talk_to_person(language: Language) -> Action:
    """The "talk to a person" button, offered wherever the bot's checks may not be the last word."""
    return Action(ActionKind.TALK_TO_PERSON, say(language, "Talk to a person", "联系人工客服"))


# --- SKUs ---------------------------------------------------------------------------------------


def sku_key(sku: str) -> str:
    """A spelling-insensitive key: case, separators and the letter O typed for zero do not count.

    Two SKUs with the same key are near matches (e.g. `demo_up_ok`, `DEMO-UP-0K`, `DEMO-UP-OK`).
    The key is the knowledge base's, so the bot's entity extraction and the checks agree.
    """
    return normalize_sku(sku)


def _store_ids(stores: Iterable[Store]) -> list[int]:
    return [store.id for store in stores if store.id is not None]


def products_with_sku(session: Session, stores: Sequence[Store], sku: str) -> list[Product]:
    """The product list rows with exactly this SKU in these stores."""
    ids = _store_ids(stores)
    if not ids or not sku:
        return []
    statement = select(Product).where(col(Product.store_id).in_(ids), Product.sku == sku)
    return list(session.exec(statement.order_by(col(Product.store_id))))


def near_matches(session: Session, stores: Sequence[Store], sku: str, limit: int = 5) -> list[Product]:
    """Products whose SKU is spelled nearly like `sku`, or that were renamed to or from it.

    Exact matches are left out: the caller has already looked for those.
    """
    ids = _store_ids(stores)
    key = sku_key(sku)
    if not ids or not key:
        return []
    # The database narrows with the same key in SQL (upper case, common separators and O dropped
    # the same way on SQLite and PostgreSQL); Python then confirms with the exact key.
    statement = (
        select(Product.id, Product.sku, Product.changed_to_sku)
        .where(
            col(Product.store_id).in_(ids),
            Product.sku != sku,
            or_(
                _sql_sku_key(col(Product.sku)) == key,
                _sql_sku_key(col(Product.changed_to_sku)) == key,
            ),
        )
        .order_by(col(Product.id))
    )
    matching: list[int] = []
    for product_id, product_sku, renamed_to in session.exec(statement):
        renamed = bool(renamed_to) and sku_key(renamed_to) == key
        if product_id is not None and (sku_key(product_sku) == key or renamed):
            matching.append(product_id)
            if len(matching) >= limit:
                break
    if not matching:
        return []
    found = session.exec(select(Product).where(col(Product.id).in_(matching)).order_by(col(Product.id)))
    return list(found)


def _sql_sku_key(column: Any) -> Any:
    """`sku_key` in SQL for the separators SKUs use (space, _, -, ., /)."""
    expression = func.upper(column)
    for separator in (" ", "_", "-", ".", "/"):
        expression = func.replace(expression, separator, "")
    return func.replace(expression, "O", "0")


def sku_choices_from_products(products: Iterable[Product], stores: Sequence[Store]) -> list[Choice]:
    """SKU choices labelled with their store."""
    names = {store.id: store.name for store in stores}
    choices: list[Choice] = []
    seen: set[str] = set()
    for product in products:
        if product.sku in seen:
            continue
        seen.add(product.sku)
        choices.append(Choice(value=product.sku, label=f"{product.sku} · {names.get(product.store_id, '')}"))
    return choices[:MAX_CHOICES]


def recent_product_choices(session: Session, stores: Sequence[Store]) -> list[Choice]:
    """The most recently created products of these stores."""
    ids = _store_ids(stores)
    if not ids:
        return []
    statement = (
        select(Product)
        .where(col(Product.store_id).in_(ids))
        .order_by(col(Product.created_at).desc(), col(Product.id).desc())
        .limit(MAX_CHOICES * 3)
    )
    return sku_choices_from_products(session.exec(statement), stores)


def recent_price_change_choices(session: Session, stores: Sequence[Store]) -> list[Choice]:
    """SKUs with the most recent price changes in these stores, labelled with store and status."""
    ids = _store_ids(stores)
    if not ids:
        return []
    names = {store.id: store.name for store in stores}
    statement = (
        select(PriceChange)
        .where(col(PriceChange.store_id).in_(ids))
        .order_by(col(PriceChange.created_at).desc(), col(PriceChange.id).desc())
        .limit(MAX_CHOICES * 3)
    )
    choices: list[Choice] = []
    seen: set[str] = set()
    for change in session.exec(statement):
        if change.sku in seen:
            continue
        seen.add(change.sku)
        label = f"{change.sku} · {names.get(change.store_id, '')} · {change.new_price} {change.currency}"
        choices.append(Choice(value=change.sku, label=label.strip()))
    return choices[:MAX_CHOICES]


def recent_upload_choices(session: Session, stores: Sequence[Store]) -> list[Choice]:
    """SKUs with the most recent upload records in these stores, labelled with store and status."""
    ids = _store_ids(stores)
    if not ids:
        return []
    names = {store.id: store.name for store in stores}
    statement = (
        select(UploadRecord)
        .where(col(UploadRecord.store_id).in_(ids))
        .order_by(col(UploadRecord.updated_at).desc(), col(UploadRecord.id).desc())
        .limit(MAX_CHOICES * 3)
    )
    choices: list[Choice] = []
    seen: set[str] = set()
    for record in session.exec(statement):
        if record.sku in seen:
            continue
        seen.add(record.sku)
        label = f"{record.sku} · {names.get(record.store_id, '')} · {record.status}"
        choices.append(Choice(value=record.sku, label=label))
    return choices[:MAX_CHOICES]


# --- reports ------------------------------------------------------------------------------------


def latest_done_report(session: Session, store_id: int, kind: str) -> PlatformReport | None:
    """The newest completed (imported) report of this kind for the store, by generation time."""
    statement = (
        select(PlatformReport)
        .where(
            PlatformReport.store_id == store_id,
            PlatformReport.kind == kind,
            PlatformReport.status == ReportStatus.DONE,
        )
        .order_by(
            col(PlatformReport.generated_at).desc().nulls_last(),
            col(PlatformReport.imported_at).desc().nulls_last(),
            col(PlatformReport.id).desc(),
        )
        .limit(1)
    )
    return session.exec(statement).first()


def report_row(session: Session, report_id: int, sku: str) -> ReportRow | None:
    """The SKU's row in one report, or None when the report does not carry it."""
    statement = select(ReportRow).where(ReportRow.report_id == report_id, ReportRow.sku == sku).limit(1)
    return session.exec(statement).first()


# --- prices -------------------------------------------------------------------------------------


def same_price(a: str, b: str) -> bool:
    """Whether two price strings are the same amount ("19.9" equals "19.90")."""
    try:
        return Decimal(a.strip().replace(",", "")) == Decimal(b.strip().replace(",", ""))
    except (InvalidOperation, AttributeError):
        return a.strip() == b.strip()


# --- time ---------------------------------------------------------------------------------------


def as_utc(moment: datetime | None) -> datetime | None:
    """Stored times come back naive from SQLite and PostgreSQL alike; they are UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_time(moment: datetime | None) -> str:
    """A time as the seller reads it: `2026-11-26 18:00 UTC`; `-` when unknown."""
    aware = as_utc(moment)
    return aware.strftime("%Y-%m-%d %H:%M UTC") if aware else "-"


def age(now: datetime, moment: datetime | None) -> timedelta | None:
    """How long before `now` the moment was (negative for a future moment); None when unknown."""
    aware = as_utc(moment)
    current = as_utc(now)
    if aware is None or current is None:
        return None
    return current - aware


def format_age(language: Language, now: datetime, moment: datetime | None) -> str:
    """How long ago (or, for a future time, how long until), in the seller's words."""
    delta = age(now, moment)
    if delta is None:
        return say(language, "never", "从未")
    span = _span(language, abs(delta))
    if delta < timedelta(0):
        return say(language, f"in {span}", f"{span}后")
    return say(language, f"{span} ago", f"{span}前")


def _span(language: Language, delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return say(language, "less than a minute", "不到1分钟")
    if minutes < 60:
        return say(language, f"{minutes} min", f"{minutes}分钟")
    hours = minutes // 60
    if hours < 48:
        return say(language, f"{hours} h", f"{hours}小时")
    days = hours // 24
    return say(language, f"{days} days", f"{days}天")


def when(language: Language, now: datetime, moment: datetime | None) -> str:
    """`2026-11-26 18:00 UTC (2 h ago)`: the time and its distance from now."""
    if moment is None:
        return say(language, "unknown", "未知")
    return say(
        language,
        f"{format_time(moment)} ({format_age(language, now, moment)})",
        f"{format_time(moment)}（{format_age(language, now, moment)}）",
    )
