"""The `orders_not_synced` flow: sync now, search the order in every status, ask the platform.

The order of the checks is the FAQ's: a sync by hand first (with per-store progress the caller
renders), then the order in all of the ERP's statuses ("search All orders"), then the platform
itself. Only the account's own stores are synced or searched, so another account's order looks
exactly like an unknown one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from erp.models import Order, OrderStatus, Store
from erp.platforms.base import PlatformError, PlatformOrder
from erp.progress import StoreSyncProgress
from handlers.diagnosis import (
    Action,
    ActionKind,
    CheckStatus,
    DetailRequest,
    Diagnosis,
    Finding,
    HandlerResult,
    Language,
    Table,
)
from handlers.services import Services
from handlers.sku_lookup import ask_store, format_time, named_stores, visible_stores
from handlers.text import say
from knowledge.glossary import load_glossary, word

if TYPE_CHECKING:
    from handlers.registry import FlowRequest

FLOW = "orders_not_synced"
logger = logging.getLogger(__name__)

_AMAZON_ORDER = re.compile(r"^\d{3}-\d{7}-\d{7}$")
_PENDING = {OrderStatus.PENDING_REVIEW.value, OrderStatus.PENDING_PROCESSING.value}

# What the seller sees for each of the ERP's statuses (the order pages' tab names).
_STATUS_NAMES: dict[str, tuple[str, str]] = {
    OrderStatus.PENDING_REVIEW: ("Pending review", "待审核"),
    OrderStatus.PENDING_PROCESSING: ("Pending", "待处理"),
    OrderStatus.SHIPPED: ("Shipped", "已发货"),
    OrderStatus.CANCELLED: ("Cancelled", "已取消"),
    OrderStatus.IGNORED: ("Ignored (fulfilled by the platform)", "已忽略（平台配送）"),
}


def status_name(language: Language, status: str) -> str:
    """The ERP status as the order pages name it."""
    names = _STATUS_NAMES.get(status)
    return say(language, *names) if names else status


def _trigger(actor: str) -> str:
    prefix = actor.split(":", 1)[0]
    return prefix if prefix in ("slack", "console") else "manual"


def _error_kind(result: StoreSyncProgress) -> str:
    return result.error_kind if load_glossary().has("platform_error", result.error_kind) else "unknown"


def _error_text(language: Language, result: StoreSyncProgress) -> str:
    """What to do about a store's failed sync, naming the store."""
    fix = word("platform_fix", _error_kind(result), language)
    return say(language, f"{result.store}: {fix[:1].lower()}{fix[1:]}", f"{result.store}：{fix}")


def sync_table(language: Language, results: Sequence[StoreSyncProgress]) -> Table:
    """One row per store: how its sync went."""
    rows = []
    for result in results:
        outcome = word("sync_outcome", "failed" if result.error else "done", language)
        rows.append(
            [
                result.store,
                result.platform,
                outcome,
                str(result.fetched),
                str(result.inserted),
                str(result.updated),
            ]
        )
    return Table(
        title=say(language, "Order sync just now", "刚才的订单同步"),
        columns=[
            say(language, "Store", "店铺"),
            say(language, "Platform", "平台"),
            say(language, "Result", "结果"),
            say(language, "Fetched", "获取"),
            say(language, "New", "新增"),
            say(language, "Updated", "更新"),
        ],
        rows=rows,
    )


def _sync_findings(language: Language, results: Sequence[StoreSyncProgress]) -> list[Finding]:
    findings = []
    for result in results:
        if result.error:
            findings.append(
                Finding(
                    check=say(language, f"Sync of {result.store}", f"{result.store} 的同步"),
                    result=_because(language, result),
                    status=CheckStatus.PROBLEM,
                )
            )
        else:
            findings.append(
                Finding(
                    check=say(language, f"Sync of {result.store}", f"{result.store} 的同步"),
                    result=say(
                        language,
                        f"done: {result.fetched} fetched, {result.inserted} new, {result.updated} updated",
                        f"完成：获取 {result.fetched} 个，新增 {result.inserted} 个，"
                        f"更新 {result.updated} 个",
                    ),
                    status=CheckStatus.OK,
                )
            )
    return findings


def _stores_for_order(stores: Sequence[Store], order_id: str) -> list[Store]:
    # An Amazon order number has a fixed shape; asking Shopee about it (or Amazon about a Shopee
    # number) could only fail, and a failure would hide the real answer.
    if _AMAZON_ORDER.match(order_id):
        return [store for store in stores if store.platform == "amazon"]
    return [store for store in stores if store.platform != "amazon"]


def handle(request: FlowRequest, services: Services) -> HandlerResult:
    """Sync the seller's stores now, then look for the order in the ERP and on the platform."""
    language = request.language
    with services.sessions() as session:
        all_stores = visible_stores(session, request.account_id)
    if not all_stores:
        return _no_stores(language)
    stores, unknown = named_stores(all_stores, request.entities.stores)
    if request.entities.stores and not stores:
        return ask_store(FLOW, language, all_stores, unknown=unknown[0] if unknown else "")
    scoped = stores or all_stores
    order_id = next((o.strip() for o in request.entities.order_ids if o.strip()), "")

    with services.sessions() as session:
        before = _find_orders(session, scoped, order_id) if order_id else []
    existed_before = {(o.store_id, o.platform_order_id) for o in before}

    results = services.orders.sync_account(
        request.account_id,
        store_ids=[store.id for store in scoped if store.id is not None],
        trigger=_trigger(request.actor),
        actor=request.actor,
        progress=request.progress,
    )
    failed = [result for result in results if result.error]
    table = sync_table(language, results)
    findings = _sync_findings(language, results)

    if not order_id:
        if failed:
            return _sync_failed(request, failed, findings, table, order_id="")
        return _ask_order(language, results)

    search_in = scoped
    with services.sessions() as session:
        found = _find_orders(session, search_in, order_id)
    names = {store.id: store for store in all_stores}
    if found:
        order = found[0]
        store = names[order.store_id]
        new = (order.store_id, order.platform_order_id) not in existed_before
        findings.insert(0, _order_finding(language, order, store))  # the answer's own check first
        if new or order.status in _PENDING:
            return _synced(request, order, store, new, findings, table)
        return _other_status(request, order, store, findings, table)

    findings.append(
        Finding(
            check=say(language, "The order in the software", "软件中的订单"),
            result=say(
                language,
                f"{order_id} is in none of the order statuses of your stores",
                f"{order_id} 不在您任何店铺的任何订单状态中",
            ),
            status=CheckStatus.PROBLEM,
        )
    )
    failed_names = {result.store for result in failed}
    asked, errors = _ask_platforms(_stores_for_order(search_in, order_id), order_id, services, failed_names)
    for store, platform_order in asked:
        findings.append(_platform_finding(language, store, order_id, platform_order))
    on_platform = [(store, o) for store, o in asked if o is not None]
    if on_platform:
        store, platform_order = on_platform[0]
        return _on_platform_not_synced(request, store, platform_order, findings, table)
    for store, message in errors:
        findings.append(
            Finding(
                check=say(language, f"{store.name} asked for the order", f"向 {store.name} 查询订单"),
                result=message,
                status=CheckStatus.UNKNOWN,
            )
        )
    if failed:
        searched = [store for store in search_in if store.name not in failed_names]
        return _sync_failed(request, failed, findings, table, order_id=order_id, searched=searched)
    return _not_on_platform(request, order_id, search_in, findings, table)


def _find_orders(session: Session, stores: Sequence[Store], order_id: str) -> list[Order]:
    ids = [store.id for store in stores if store.id is not None]
    if not ids or not order_id:
        return []
    statement = select(Order).where(col(Order.store_id).in_(ids), Order.platform_order_id == order_id)
    return list(session.exec(statement.order_by(col(Order.id))))


def _ask_platforms(
    stores: Sequence[Store], order_id: str, services: Services, skip: set[str]
) -> tuple[list[tuple[Store, PlatformOrder | None]], list[tuple[Store, str]]]:
    answers: list[tuple[Store, PlatformOrder | None]] = []
    errors: list[tuple[Store, str]] = []
    for store in stores:
        if store.name in skip:
            continue  # its sync just failed: the same call would fail the same way
        try:
            answers.append((store, services.connector_for(store).get_order(order_id)))
        except PlatformError as error:
            errors.append((store, str(error)))
        except Exception:  # a connector bug must not cost the seller the rest of the answer
            logger.exception("get_order on store %s failed", store.id)
            errors.append((store, "the platform could not be asked"))
    return answers, errors


def _order_finding(language: Language, order: Order, store: Store) -> Finding:
    return Finding(
        check=say(language, "The order in the software", "软件中的订单"),
        result=say(
            language,
            f'{order.platform_order_id} is in {store.name}, status "{status_name("en", order.status)}"',
            f"{order.platform_order_id} 在 {store.name}，状态为“{status_name('zh', order.status)}”",
        ),
        status=CheckStatus.OK,
    )


def _platform_finding(
    language: Language, store: Store, order_id: str, platform_order: PlatformOrder | None
) -> Finding:
    status = word("platform_order_status", platform_order.platform_status, language) if platform_order else ""
    if platform_order is None:
        return Finding(
            check=say(language, f"{store.name} asked for the order", f"向 {store.name} 查询订单"),
            result=say(language, f"the platform does not know {order_id}", f"平台上没有 {order_id}"),
            status=CheckStatus.OK,
        )
    return Finding(
        check=say(language, f"{store.name} asked for the order", f"向 {store.name} 查询订单"),
        result=say(
            language,
            f"the platform has it: status {status}, bought {format_time(platform_order.purchased_at)}",
            f"平台上有该订单：状态“{status}”，下单时间 {format_time(platform_order.purchased_at)}",
        ),
        status=CheckStatus.PROBLEM,
    )


def _order_table(language: Language, order: Order, store: Store) -> Table:
    return Table(
        title=say(language, "The order", "订单"),
        columns=[say(language, "Field", "字段"), say(language, "Value", "值")],
        rows=[
            [say(language, "Order", "订单号"), order.platform_order_id],
            [say(language, "Store", "店铺"), store.name],
            [say(language, "Status in the software", "软件中的状态"), status_name(language, order.status)],
            [
                say(language, "Platform status", "平台状态"),
                word("platform_order_status", order.platform_status, language)
                if order.platform_status
                else "-",
            ],
            [say(language, "Bought", "下单时间"), format_time(order.purchased_at)],
            [say(language, "Total", "金额"), f"{order.total_amount} {order.currency}".strip() or "-"],
            [say(language, "SKUs", "SKU"), ", ".join(order.skus) or "-"],
        ],
    )


def _synced(
    request: FlowRequest, order: Order, store: Store, new: bool, findings: list[Finding], table: Table
) -> Diagnosis:
    language = request.language
    status = status_name(language, order.status)
    summary = (
        say(
            language,
            f'Order {order.platform_order_id} is synced now: it is in {store.name} under "{status}".',
            f"订单 {order.platform_order_id} 现在已同步：在 {store.name} 的“{status}”中。",
        )
        if new
        else say(
            language,
            f'Order {order.platform_order_id} is in the software: {store.name}, under "{status}".',
            f"订单 {order.platform_order_id} 已在软件中：{store.name}，“{status}”。",
        )
    )
    return Diagnosis(
        flow=FLOW,
        verdict="synced",
        summary=summary,
        language=language,
        findings=findings,
        tables=[_order_table(language, order, store), table],
        next_steps=[
            say(
                language,
                f'Open the order pages and look under "{status}".',
                f"请打开订单页面，在“{status}”中查看。",
            ),
            say(
                language,
                "Sync is automatic but not real time; you can always sync by hand "
                "under Pending review / Pending.",
                "订单同步是自动的，但不是实时的；您随时可以在“待审核/待处理”中手动同步。",
            ),
        ],
        store=store.name,
        order_id=order.platform_order_id,
    )


def _other_status(
    request: FlowRequest, order: Order, store: Store, findings: list[Finding], table: Table
) -> Diagnosis:
    language = request.language
    status = status_name(language, order.status)
    return Diagnosis(
        flow=FLOW,
        verdict="other_status",
        summary=say(
            language,
            f'Order {order.platform_order_id} was synced; it is in {store.name} under "{status}", '
            "not under pending review.",
            f"订单 {order.platform_order_id} 已同步，它在 {store.name} 的“{status}”中，不在待审核里。",
        ),
        language=language,
        findings=findings,
        tables=[_order_table(language, order, store), table],
        next_steps=[
            say(
                language,
                f'Search the order number under "All orders": it shows under "{status}".',
                f"请在“全部订单”中搜索该订单号：它显示在“{status}”中。",
            )
        ],
        store=store.name,
        order_id=order.platform_order_id,
    )


def _on_platform_not_synced(
    request: FlowRequest,
    store: Store,
    platform_order: PlatformOrder,
    findings: list[Finding],
    table: Table,
) -> Diagnosis:
    language = request.language
    reason = say(
        language,
        f"Order {platform_order.order_id} exists on the platform for {store.name} but the sync "
        "did not bring it in.",
        f"订单 {platform_order.order_id} 在平台上的 {store.name} 中存在，但同步没有拉取到它。",
    )
    return Diagnosis(
        flow=FLOW,
        verdict="on_platform_not_synced",
        summary=say(
            language,
            f"Order {platform_order.order_id} is on the platform ({store.name}) but not in the software "
            "even after a sync: a person from customer service will find out why the sync skips it.",
            f"订单 {platform_order.order_id} 在平台（{store.name}）上存在，"
            "但同步后仍不在软件中：人工客服会查明同步为何跳过了它。",
        ),
        language=language,
        findings=findings,
        tables=[table],
        next_steps=[],
        actions=[
            Action(ActionKind.TALK_TO_PERSON, say(language, "Talk to a person", "联系人工客服")),
        ],
        escalate=True,
        escalate_reason=reason,
        store=store.name,
        order_id=platform_order.order_id,
    )


def _not_on_platform(
    request: FlowRequest, order_id: str, stores: Sequence[Store], findings: list[Finding], table: Table
) -> Diagnosis:
    language = request.language
    names = say(language, ", ", "、").join(store.name for store in stores)
    return Diagnosis(
        flow=FLOW,
        verdict="not_on_platform",
        summary=say(
            language,
            f"Order {order_id} is not in the software and none of your stores' platforms know it ({names}).",
            f"订单 {order_id} 不在软件中，您店铺（{names}）所在的平台上也都查不到。",
        ),
        language=language,
        findings=findings,
        tables=[table],
        next_steps=[
            say(
                language,
                "Check the order number (copy it from the platform's order page) "
                "and which store it belongs to.",
                "请核对订单号（建议从平台的订单页面复制）以及它属于哪个店铺。",
            ),
            say(
                language,
                "If the store is not authorized in the software yet, authorize it first.",
                "如果该店铺尚未在软件中授权，请先完成授权。",
            ),
        ],
        order_id=order_id,
    )


def _because(language: Language, result: StoreSyncProgress) -> str:
    """Why one store's sync failed, in a clause (the glossary's words for the error's kind)."""
    return word("platform_error", _error_kind(result), language)


def _sync_failed(
    request: FlowRequest,
    failed: Sequence[StoreSyncProgress],
    findings: list[Finding],
    table: Table,
    *,
    order_id: str,
    searched: Sequence[Store] = (),
) -> Diagnosis:
    language = request.language
    names = say(language, ", ", "、").join(result.store for result in failed)
    expired = [result for result in failed if result.error_kind == "authorization_expired"]
    steps = [_error_text(language, result) for result in failed]
    actions = [Action(ActionKind.SYNC_NOW, say(language, "Sync again", "重新同步"))]
    if not expired:
        actions.append(Action(ActionKind.TALK_TO_PERSON, say(language, "Talk to a person", "联系人工客服")))
    if order_id:
        # The stores that synced were searched: say so, and why the others could not be, instead
        # of promising the order "once the sync works" (it may be in none of them).
        reasons = "; ".join(
            say(
                language,
                f"{result.store} could not be searched because {_because(language, result)}",
                f"{result.store} 无法查询，原因：{_because(language, result)}",
            )
            for result in failed
        )
        where = say(language, ", ", "、").join(store.name for store in searched)
        summary = (
            say(
                language,
                f"Order {order_id} is not found in {where} (searched just now); {reasons}.",
                f"在 {where} 中没有找到订单 {order_id}（刚刚查询）；{reasons}。",
            )
            if searched
            else say(language, f"Order {order_id}: {reasons}.", f"订单 {order_id}：{reasons}。")
        )
        steps = [
            say(
                language,
                "Check the order number (copy it from the platform's order page).",
                "请核对订单号（建议从平台的订单页面复制）。",
            ),
            *(_error_text(language, result) for result in failed),
        ]
    elif expired and len(expired) == len(failed):
        summary = say(
            language,
            f"The sync failed for {names}: the store's authorization has expired.",
            f"{names} 同步失败：店铺授权已过期。",
        )
    else:
        summary = say(language, f"The sync failed for {names}.", f"{names} 同步失败。")
    return Diagnosis(
        flow=FLOW,
        verdict="sync_failed",
        summary=summary,
        language=language,
        findings=findings,
        tables=[table],
        next_steps=steps,
        actions=actions,
        store=failed[0].store,
        order_id=order_id or None,
    )


def _ask_order(language: Language, results: Sequence[StoreSyncProgress]) -> DetailRequest:
    new = sum(result.inserted for result in results)
    names = say(language, ", ", "、").join(result.store for result in results)
    return DetailRequest(
        flow=FLOW,
        detail="order_id",
        prompt=say(
            language,
            f"I synced your stores just now ({names}); new orders: {new}. "
            "If a specific order is still missing, send me its order number.",
            f"刚才已同步您的店铺（{names}），新增 {new} 个订单。如果某个订单仍然缺失，请发给我订单号。",
        ),
        language=language,
        choices=[],
    )


def _no_stores(language: Language) -> DetailRequest:
    return DetailRequest(
        flow=FLOW,
        detail="store",
        prompt=say(
            language,
            "Your account has no authorized stores yet, so there is nothing to sync. "
            "Authorize a store under Platform authorization first.",
            "您的账号还没有已授权的店铺，无法同步。请先在“平台授权”中授权店铺。",
        ),
        language=language,
        choices=[],
    )
