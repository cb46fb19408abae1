"""The `upload_sku_missing` flow: why a SKU has no record on the product upload page.

The upload page is built from the product list: a SKU that is not there, or is invalid there
(deleted, or changed to another SKU), has no record. A record that exists can still be hidden by
the page's upload status filter, which shows "uploaded" records by default.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from erp.models import Product, ProductState, Store, UploadRecord, UploadStatus
from handlers.diagnosis import (
    CheckStatus,
    DetailRequest,
    Diagnosis,
    Finding,
    HandlerResult,
    Language,
    Table,
)
from handlers.services import Services
from handlers.sku_lookup import (
    ask_store,
    first_sku,
    near_matches,
    products_with_sku,
    recent_upload_choices,
    scope_stores,
    talk_to_person,
    visible_stores,
    when,
)
from handlers.text import platform_words, say
from knowledge.glossary import word

if TYPE_CHECKING:
    from handlers.registry import FlowRequest

FLOW = "upload_sku_missing"
DEFAULT_FILTER = UploadStatus.UPLOADED
RECORD_ROWS = 10


def filter_label(language: Language, status: str) -> str:
    """The upload status filter's option as the seller sees it on the page."""
    return word("upload_status", status, language)


def handle(request: FlowRequest, services: Services) -> HandlerResult:
    """Trace the SKU through the product list and the upload records, or ask for the SKU or store."""
    language = request.language
    sku = first_sku(request.entities.skus)
    now = services.clock()
    with services.sessions() as session:
        scope = scope_stores(session, request.account_id, request.entities.stores, FLOW, language)
        if isinstance(scope, DetailRequest):
            return scope
        if not sku:
            return DetailRequest(
                flow=FLOW,
                detail="sku",
                prompt=say(
                    language,
                    "Which SKU has no record on the upload page?",
                    "请问是哪个 SKU 在上传页面没有记录？",
                ),
                language=language,
                choices=recent_upload_choices(session, scope),
            )
        products = products_with_sku(session, scope, sku)
        if not products:
            elsewhere = _other_stores_with(session, request.account_id, scope, sku)
            return _not_in_product_list(session, scope, sku, language, now, elsewhere)
        if len(products) > 1:
            stores = [store for store in scope if any(p.store_id == store.id for p in products)]
            return ask_store(FLOW, language, stores, sku=sku)
        product = products[0]
        store = next(store for store in scope if store.id == product.store_id)
        records = _records(session, store, sku)
        if product.state == ProductState.DELETED:
            return _deleted(product, store, records, language, now)
        if product.state == ProductState.CHANGED:
            renamed = _records(session, store, product.changed_to_sku) if product.changed_to_sku else []
            return _changed(product, store, records, renamed, language, now)
        return _valid(product, store, records, language, now)


def _records(session: Session, store: Store, sku: str) -> list[UploadRecord]:
    statement = (
        select(UploadRecord)
        .where(UploadRecord.store_id == store.id, UploadRecord.sku == sku)
        .order_by(col(UploadRecord.updated_at).desc(), col(UploadRecord.id).desc())
        .limit(RECORD_ROWS)
    )
    return list(session.exec(statement))


# --- evidence -----------------------------------------------------------------------------------


def _trail(
    product: Product | None,
    store: Store | None,
    records: list[UploadRecord],
    sku: str,
    language: Language,
    now: datetime,
) -> Table:
    """The SKU's trail: its product list row, then each upload record, with ages."""
    rows: list[list[str]] = []
    if product is not None and store is not None:
        state = word("product_state", product.state, language)
        if product.state == ProductState.CHANGED and product.changed_to_sku:
            state = f"{state} → {product.changed_to_sku}"
        rows.append(
            [
                say(language, "product list", "产品列表"),
                store.name,
                state,
                when(language, now, product.state_changed_at or product.created_at),
                "",
            ]
        )
    rows.extend(
        [
            say(language, "upload record", "上传记录"),
            store.name if store is not None else "",
            filter_label(language, record.status),
            when(language, now, record.updated_at),
            platform_words(language, record.error),
        ]
        for record in records
    )
    return Table(
        title=say(language, f"Where {sku} is", f"{sku} 的记录"),
        columns=[
            say(language, "where", "位置"),
            say(language, "store", "店铺"),
            say(language, "status", "状态"),
            say(language, "when", "时间"),
            say(language, "detail", "说明"),
        ],
        rows=rows,
    )


def _product_finding(product: Product, language: Language, now: datetime) -> Finding:
    check = say(language, "SKU in the product list", "产品列表里的 SKU")
    changed_at = when(language, now, product.state_changed_at)
    if product.state == ProductState.DELETED:
        return Finding(
            check=check,
            result=say(language, f"found, deleted {changed_at}", f"找到，但已于 {changed_at} 删除"),
            status=CheckStatus.PROBLEM,
        )
    if product.state == ProductState.CHANGED:
        return Finding(
            check=check,
            result=say(
                language,
                f"found, changed to {product.changed_to_sku} {changed_at}",
                f"找到，但已于 {changed_at} 修改为 {product.changed_to_sku}",
            ),
            status=CheckStatus.PROBLEM,
        )
    return Finding(check=check, result=say(language, "found, valid", "找到，有效"), status=CheckStatus.OK)


def _records_finding(records: list[UploadRecord], language: Language) -> Finding:
    check = say(language, "Upload records", "上传记录")
    if not records:
        return Finding(check=check, result=say(language, "none", "没有"), status=CheckStatus.PROBLEM)
    statuses = ", ".join(filter_label(language, record.status) for record in records)
    return Finding(
        check=check,
        result=say(language, f"{len(records)}: {statuses}", f"{len(records)} 条：{statuses}"),
        status=CheckStatus.OK,
    )


def _base(verdict: str, summary: str, language: Language, sku: str, store: Store | None) -> Diagnosis:
    return Diagnosis(
        flow=FLOW,
        verdict=verdict,
        summary=summary,
        language=language,
        sku=sku,
        store=store.name if store is not None else None,
    )


# --- verdicts -----------------------------------------------------------------------------------


def _other_stores_with(session: Session, account_id: int, scope: list[Store], sku: str) -> list[str]:
    """The seller's other stores (not the ones they named) whose product list has the SKU."""
    others = [store for store in visible_stores(session, account_id) if store not in scope]
    names = {store.id: store.name for store in others}
    return sorted({names[p.store_id] for p in products_with_sku(session, others, sku)})


def _not_in_product_list(
    session: Session,
    stores: list[Store],
    sku: str,
    language: Language,
    now: datetime,
    elsewhere: list[str] | None = None,
) -> Diagnosis:
    near = near_matches(session, stores, sku)
    names = {store.id: store.name for store in stores}
    suggestions = [product.sku for product in near]
    renamed_to = [p.changed_to_sku for p in near if p.changed_to_sku and p.changed_to_sku not in suggestions]
    if near:
        listed = ", ".join(f"{p.sku} ({names.get(p.store_id, '')})" for p in near)
        summary = say(
            language,
            f"{sku} is not in your product list, so the upload page has no record of it. "
            f"Did you mean {listed}?",
            f"{sku} 不在您的产品列表里，所以上传页面没有它的记录。您是不是要找 {listed}？",
        )
    else:
        summary = say(
            language,
            f"{sku} is not in the product list of your stores, so the upload page has no record of it.",
            f"{sku} 不在您店铺的产品列表里，所以上传页面没有它的记录。",
        )
    if elsewhere:
        other = ", ".join(elsewhere)
        summary += say(
            language,
            f" It is in the product list of {other}: pick that store on the upload page.",
            f"它在 {other} 的产品列表里：请在上传页面选择该店铺。",
        )
    diagnosis = _base("not_in_product_list", summary, language, sku, stores[0] if len(stores) == 1 else None)
    diagnosis.findings = [
        Finding(
            check=say(language, "SKU in the product list", "产品列表里的 SKU"),
            result=say(language, "no exact match", "没有完全一致的 SKU"),
            status=CheckStatus.PROBLEM,
        ),
        Finding(
            check=say(
                language,
                "Near spellings (case, separators, O/0, renamed SKUs)",
                "相近写法（大小写、分隔符、O/0、改过的 SKU）",
            ),
            result=", ".join(suggestions + renamed_to) if near else say(language, "none", "没有"),
            status=CheckStatus.OK if near else CheckStatus.PROBLEM,
        ),
    ]
    if near:
        diagnosis.tables = [
            Table(
                title=say(language, "Near matches in your product list", "产品列表里的相近 SKU"),
                columns=[
                    say(language, "SKU", "SKU"),
                    say(language, "store", "店铺"),
                    say(language, "state", "状态"),
                    say(language, "changed to", "修改为"),
                    say(language, "created", "创建时间"),
                ],
                rows=[
                    [
                        p.sku,
                        names.get(p.store_id, ""),
                        p.state,
                        p.changed_to_sku,
                        when(language, now, p.created_at),
                    ]
                    for p in near
                ],
            )
        ]
        diagnosis.next_steps = [
            say(
                language,
                f"Search the upload page for {suggestions[0]} (the exact spelling counts).",
                f"在上传页面搜索 {suggestions[0]}（需要完全一致的写法）。",
            ),
        ]
    diagnosis.next_steps.append(
        say(
            language,
            "If the product is new, add it to the product list first; the upload page is built from it.",
            "如果是新产品，请先添加到产品列表；上传页面的数据来自产品列表。",
        )
    )
    return diagnosis


def _deleted(
    product: Product, store: Store, records: list[UploadRecord], language: Language, now: datetime
) -> Diagnosis:
    deleted = when(language, now, product.state_changed_at)
    diagnosis = _base(
        "deleted",
        say(
            language,
            f"{product.sku} was deleted from the product list of {store.name} {deleted}; a deleted SKU "
            "is invalid, so the upload page shows no record for it.",
            f"{product.sku} 已于 {deleted} 从 {store.name} 的产品列表删除；删除的 SKU 无效，"
            "所以上传页面没有它的记录。",
        ),
        language,
        product.sku,
        store,
    )
    diagnosis.findings = [_product_finding(product, language, now), _records_finding(records, language)]
    diagnosis.tables = [_trail(product, store, records, product.sku, language, now)]
    diagnosis.next_steps = [
        say(
            language,
            "Restore the product or add it to the product list again, then upload it.",
            "恢复该产品或重新添加到产品列表，然后再上传。",
        ),
    ]
    return diagnosis


def _changed(
    product: Product,
    store: Store,
    records: list[UploadRecord],
    renamed: list[UploadRecord],
    language: Language,
    now: datetime,
) -> Diagnosis:
    new_sku = product.changed_to_sku or say(language, "another SKU", "其他 SKU")
    changed = when(language, now, product.state_changed_at)
    diagnosis = _base(
        "changed",
        say(
            language,
            f"The SKU {product.sku} in {store.name} was changed to {new_sku} {changed}; the old SKU is "
            f"invalid, so look for {new_sku} on the upload page.",
            f"{store.name} 的 SKU {product.sku} 已于 {changed} 修改为 {new_sku}；原 SKU 已无效，"
            f"请在上传页面搜索 {new_sku}。",
        ),
        language,
        product.sku,
        store,
    )
    diagnosis.findings = [
        _product_finding(product, language, now),
        _records_finding(records, language),
    ]
    if product.changed_to_sku:
        statuses = ", ".join(filter_label(language, record.status) for record in renamed)
        diagnosis.findings.append(
            Finding(
                check=say(language, f"Upload records of {new_sku}", f"{new_sku} 的上传记录"),
                result=statuses or say(language, "none", "没有"),
                status=CheckStatus.OK if renamed else CheckStatus.UNKNOWN,
            )
        )
    diagnosis.tables = [_trail(product, store, records + renamed, product.sku, language, now)]
    diagnosis.next_steps = [
        say(language, f"Search the upload page for {new_sku}.", f"在上传页面搜索 {new_sku}。"),
    ]
    if renamed and renamed[0].status != DEFAULT_FILTER:
        diagnosis.next_steps.append(
            say(
                language,
                f'Set the upload status filter to "{filter_label(language, renamed[0].status)}" to see it.',
                f"把上传状态筛选设为“{filter_label(language, renamed[0].status)}”即可看到。",
            )
        )
    return diagnosis


def _valid(
    product: Product, store: Store, records: list[UploadRecord], language: Language, now: datetime
) -> Diagnosis:
    latest = records[0] if records else None
    status = latest.status if latest is not None else UploadStatus.NOT_UPLOADED
    label = filter_label(language, status)
    findings = [_product_finding(product, language, now), _records_finding(records, language)]
    findings.append(
        Finding(
            check=say(language, "Upload status filter", "上传状态筛选"),
            result=say(
                language,
                f'the page shows "{filter_label(language, DEFAULT_FILTER)}" by default; '
                f'this record is "{label}"',
                f"页面默认显示“{filter_label(language, DEFAULT_FILTER)}”；这条记录是“{label}”",
            ),
            status=CheckStatus.OK if status == DEFAULT_FILTER else CheckStatus.PROBLEM,
        )
    )
    table = _trail(product, store, records, product.sku, language, now)
    if status == DEFAULT_FILTER:
        diagnosis = _base(
            "present",
            say(
                language,
                f'{product.sku} has an upload record in {store.name} with status "{label}", updated '
                f"{when(language, now, latest.updated_at if latest else None)}: search it on the upload "
                "page with the default filter.",
                f"{product.sku} 在 {store.name} 有上传记录，状态“{label}”，更新于 "
                f"{when(language, now, latest.updated_at if latest else None)}："
                "在上传页面用默认筛选即可搜到。",
            ),
            language,
            product.sku,
            store,
        )
        diagnosis.next_steps = [
            say(
                language,
                f"On the upload page pick the store {store.name} and search {product.sku} (exact spelling).",
                f"在上传页面选择店铺 {store.name}，搜索 {product.sku}（写法需完全一致）。",
            ),
        ]
        diagnosis.actions = [talk_to_person(language)]
    else:
        error = f" ({platform_words(language, latest.error)})" if latest is not None and latest.error else ""
        default = filter_label(language, DEFAULT_FILTER)
        if latest is None:
            # A valid product with no upload yet is listed on the page as "not uploaded".
            summary = say(
                language,
                f"{product.sku} is valid in the product list of {store.name} but has never been uploaded: "
                f'the upload page lists it under "{label}", and its default filter shows only "{default}". '
                f'Pick "{label}" in the upload status filter to see it.',
                f"{product.sku} 在 {store.name} 的产品列表里有效，但从未上传：上传页面把它列在“{label}”下，"
                f"而默认筛选只显示“{default}”。在上传状态筛选里选择“{label}”即可看到。",
            )
        else:
            summary = say(
                language,
                f'{product.sku} has an upload record in {store.name}, but its status is "{label}"{error}: '
                f'the upload page shows only "{default}" records by default. '
                f'Pick "{label}" in the upload status filter to see it.',
                f"{product.sku} 在 {store.name} 有上传记录，但状态是“{label}”{error}：上传页面默认只显示"
                f"“{default}”的记录。在上传状态筛选里选择“{label}”即可看到。",
            )
        diagnosis = _base("hidden_by_filter", summary, language, product.sku, store)
        diagnosis.next_steps = [
            say(
                language,
                f'On the upload page set the upload status filter to "{label}" (or All).',
                f"在上传页面把上传状态筛选设为“{label}”（或“全部”）。",
            ),
        ]
        if status == UploadStatus.FAILED:
            diagnosis.next_steps.append(
                say(
                    language,
                    "Fix the error shown on the record and upload again.",
                    "按记录上的错误修改后重新上传。",
                )
            )
    diagnosis.findings = findings
    diagnosis.tables = [table]
    return diagnosis
