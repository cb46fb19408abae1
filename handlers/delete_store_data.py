"""The `delete_store_data` flow: what deleting a store's data removes, how to do it, and doing it.

The handler only counts and explains; the deletion itself is an action (`perform_delete`) that the
conversation runs after the surface asked the owner to confirm. Both keep to the seller's account:
another account's store looks exactly like an unknown one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from erp.models import Role, Store, StoreDeletion
from erp.store_data import (
    StoreDataCounts,
    StoreDataError,
    count_store_data,
    delete_store_data,
    pending_deletion,
    undo_deletion,
)
from handlers.diagnosis import (
    Action,
    ActionKind,
    CheckStatus,
    Diagnosis,
    Finding,
    HandlerResult,
    Language,
    Table,
)
from handlers.services import Services
from handlers.sku_lookup import ask_store, format_time, named_stores, visible_stores
from handlers.text import say

if TYPE_CHECKING:
    from handlers.registry import FlowRequest

FLOW = "delete_store_data"

_KIND_NAMES: dict[str, tuple[str, str]] = {
    "orders": ("Orders", "订单"),
    "products": ("Products", "商品"),
    "upload_records": ("Upload records", "上传记录"),
    "reports": ("Platform reports", "平台报告"),
    "report_rows": ("Report rows", "报告行"),
    "price_changes": ("Price changes", "调价记录"),
}


def scope_sentence(language: Language) -> str:
    """What a deletion touches and what it does not."""
    return say(
        language,
        "Deleting a store's data removes only the software's own data for that store (orders, "
        "products, upload records, reports, price changes); the store and its data on the "
        "platform are untouched.",
        "删除店铺数据只删除本软件中该店铺的数据（订单、商品、上传记录、报告、调价记录），"
        "平台上的店铺及其数据不受影响。",
    )


def click_path(language: Language, platform: str = "") -> str:
    """The steps in the software, as the seller clicks them."""
    icon = platform.capitalize() if platform else say(language, "the platform's", "对应平台")
    return say(
        language,
        f"In the software: your user name -> Platform authorization -> the {icon} icon -> the store -> "
        "More -> Delete -> OK.",
        f"在软件中：点击用户名 -> 平台授权 -> {icon} 图标 -> 该店铺 -> 更多 -> 删除 -> 确定。",
    )


def counts_table(language: Language, counts: dict[str, int], title: tuple[str, str] | None = None) -> Table:
    """The counts as a two-column table in the seller's language (titled "what would be deleted")."""
    rows = [[say(language, *_KIND_NAMES[kind]), str(counts.get(kind, 0))] for kind in _KIND_NAMES]
    return Table(
        title=say(language, *(title or ("What would be deleted", "将被删除的数据"))),
        columns=[say(language, "Data", "数据"), say(language, "Rows", "条数")],
        rows=rows,
    )


def _counts_sentence(language: Language, counts: StoreDataCounts) -> str:
    return say(
        language,
        f"{counts.orders} orders, {counts.products} products, {counts.upload_records} upload records, "
        f"{counts.reports} reports ({counts.report_rows} rows) and {counts.price_changes} price changes",
        f"{counts.orders} 个订单、{counts.products} 个商品、{counts.upload_records} 条上传记录、"
        f"{counts.reports} 份报告（{counts.report_rows} 行）和 {counts.price_changes} 条调价记录",
    )


def _deleted_store(session: Session, account_id: int, names: list[str]) -> Store | None:
    """A hidden store of this account the seller named, whose deletion can still be undone."""
    statement = select(Store).where(Store.account_id == account_id, col(Store.deleted_at).is_not(None))
    wanted = {" ".join(name.casefold().split()) for name in names}
    for store in session.exec(statement):
        if " ".join(store.name.casefold().split()) in wanted:
            return store
    return None


def handle(request: FlowRequest, services: Services) -> HandlerResult:
    """Count the named store's data, explain scope and steps, and offer the owner the deletion."""
    language = request.language
    with services.sessions() as session:
        stores = visible_stores(session, request.account_id)
        found, unknown = named_stores(stores, request.entities.stores)
        if not found and request.entities.stores:
            hidden = _deleted_store(session, request.account_id, list(request.entities.stores))
            deletion = pending_deletion(session, hidden.id or 0) if hidden else None
            if hidden is not None and deletion is not None:
                return _already_deleted(request, hidden, deletion)
        if not found:
            if len(stores) == 1 and not unknown:
                found = stores
            else:
                return ask_store(FLOW, language, stores, unknown=unknown[0] if unknown else "")
        store = found[0]
        counts = count_store_data(session, store.id or 0)
    return _explained(request, store, counts)


def _explained(request: FlowRequest, store: Store, counts: StoreDataCounts) -> Diagnosis:
    language = request.language
    owner = request.role == Role.OWNER
    findings = [
        Finding(
            check=say(language, f"Data of {store.name} in the software", f"本软件中 {store.name} 的数据"),
            result=_counts_sentence(language, counts),
            status=CheckStatus.OK,
        ),
    ]
    actions: list[Action] = []
    if owner:
        steps = [
            say(
                language,
                "Let me do it: choose the option below; an export of the data is kept and you can undo "
                "it for 7 days.",
                "可以由我来删除：选择下面的选项；删除前会导出数据备份，7 天内可以撤销。",
            )
        ]
        actions.append(
            Action(
                kind=ActionKind.DELETE_STORE_DATA,
                label=say(language, f"Delete the data of {store.name}", f"删除 {store.name} 的数据"),
                params={"store_id": str(store.id), "store": store.name},
            )
        )
    else:
        steps = [
            say(
                language,
                "Only the account owner can delete a store's data; ask them to do it.",
                "只有账号所有者可以删除店铺数据，请联系账号所有者操作。",
            )
        ]
    steps.append(click_path(language, store.platform))
    return Diagnosis(
        flow=FLOW,
        verdict="explained",
        summary=say(
            language,
            f"Deleting the data of {store.name} removes {counts.total} rows from the software only "
            "(orders, products, upload records, reports, price changes); the store and its data on "
            "the platform are untouched.",
            f"删除 {store.name} 的数据只会从本软件中移除 {counts.total} 条数据（订单、商品、上传记录、"
            "报告、调价记录），平台上的店铺及其数据不受影响。",
        ),
        language=language,
        findings=findings,
        tables=[counts_table(language, counts.as_dict())],
        next_steps=steps,
        actions=actions,
        store=store.name,
    )


def _already_deleted(request: FlowRequest, store: Store, deletion: StoreDeletion) -> Diagnosis:
    language = request.language
    until = format_time(deletion.undo_until)
    actions: list[Action] = []
    if request.role == Role.OWNER:
        actions.append(
            Action(
                kind=ActionKind.UNDO_DELETE,
                label=say(language, f"Undo the deletion of {store.name}", f"撤销删除 {store.name}"),
                params={"store_id": str(store.id), "store": store.name},
            )
        )
    return Diagnosis(
        flow=FLOW,
        verdict="explained",
        summary=say(
            language,
            f"The data of {store.name} was deleted on {format_time(deletion.requested_at)}; "
            f"it can be restored until {until}.",
            f"{store.name} 的数据已于 {format_time(deletion.requested_at)} 删除，{until} 之前可以恢复。",
        ),
        language=language,
        findings=[
            Finding(
                check=say(language, "Deletion", "删除"),
                result=say(language, f"undo possible until {until}", f"{until} 之前可撤销"),
                status=CheckStatus.OK,
            )
        ],
        tables=[counts_table(language, dict(deletion.counts), ("What was deleted", "已删除的数据"))],
        next_steps=[scope_sentence(language)],
        actions=actions,
        store=store.name,
    )


def _refusal(language: Language, store: str, text_en: str, text_zh: str) -> Diagnosis:
    return Diagnosis(
        flow=FLOW,
        verdict="explained",
        summary=say(language, text_en, text_zh),
        language=language,
        findings=[
            Finding(
                check=say(language, "Permission", "权限"),
                result=say(language, text_en, text_zh),
                status=CheckStatus.PROBLEM,
            )
        ],
        next_steps=[scope_sentence(language)],
        store=store or None,
    )


def _owned_store(session: Session, account_id: int, store_id: int) -> Store | None:
    store = session.get(Store, store_id)
    return store if store is not None and store.account_id == account_id else None


def perform_delete(
    services: Services, *, account_id: int, role: str, actor: str, store_id: int, language: Language
) -> Diagnosis:
    """Delete the store's data for the owner (after the surface's confirmation).

    Args:
        services: the bot's services.
        account_id: the speaker's account; another account's store is refused like an unknown one.
        role: the speaker's role; only the owner (or an agent) may delete.
        actor: for the audit log.
        store_id: the store.
        language: the reply language.

    Returns:
        A `deleted` diagnosis, or an `explained` one saying why nothing was deleted.
    """
    if role != Role.OWNER:
        return _refusal(
            language,
            "",
            "Only the account owner can delete a store's data. Nothing was deleted.",
            "只有账号所有者可以删除店铺数据，未删除任何数据。",
        )
    with services.sessions() as session:
        store = _owned_store(session, account_id, store_id)
    if store is None:
        return _refusal(
            language,
            "",
            "I can't find that store in your account. Nothing was deleted.",
            "您的账号里找不到这个店铺，未删除任何数据。",
        )
    try:
        deletion = delete_store_data(
            services.sessions, store_id, actor=actor, export_dir=services.export_dir, now=services.clock()
        )
    except StoreDataError as error:
        return _refusal(
            language,
            store.name,
            f"{error} Nothing else was changed.",
            f"{store.name} 的数据已删除或无法删除，未做任何更改。",
        )
    until = format_time(deletion.undo_until)
    return Diagnosis(
        flow=FLOW,
        verdict="deleted",
        summary=say(
            language,
            f"The data of {store.name} is deleted from the software. You can undo this until {until}.",
            f"{store.name} 的数据已从本软件中删除，{until} 之前可以撤销。",
        ),
        language=language,
        findings=[
            Finding(
                check=say(language, "Export kept", "已保存导出备份"),
                # The export stays on the server: the seller is told it exists, not where it is.
                result=say(language, "an export is kept for 7 days", "导出备份保留 7 天"),
                status=CheckStatus.OK,
            ),
            Finding(
                check=say(language, "Data on the platform", "平台上的数据"),
                result=say(language, "untouched", "未受影响"),
                status=CheckStatus.OK,
            ),
        ],
        tables=[counts_table(language, dict(deletion.counts), ("What was deleted", "已删除的数据"))],
        next_steps=[
            say(
                language,
                f"Changed your mind? Undo it before {until}; after that the data is removed for good.",
                f"如需恢复，请在 {until} 之前撤销；之后数据将被永久删除。",
            )
        ],
        actions=[
            Action(
                kind=ActionKind.UNDO_DELETE,
                label=say(language, f"Undo: restore {store.name}", f"撤销：恢复 {store.name}"),
                params={"store_id": str(store_id), "store": store.name},
            )
        ],
        store=store.name,
    )


def perform_undo(
    services: Services, *, account_id: int, role: str, actor: str, store_id: int, language: Language
) -> Diagnosis:
    """Restore a deleted store's data while the undo window is open (owner only).

    Returns:
        A `restored` diagnosis, or an `explained` one saying why nothing changed.
    """
    if role != Role.OWNER:
        return _refusal(
            language,
            "",
            "Only the account owner can undo a deletion. Nothing was changed.",
            "只有账号所有者可以撤销删除，未做任何更改。",
        )
    with services.sessions() as session:
        store = _owned_store(session, account_id, store_id)
    if store is None:
        return _refusal(
            language,
            "",
            "I can't find that store in your account. Nothing was changed.",
            "您的账号里找不到这个店铺，未做任何更改。",
        )
    try:
        undo_deletion(services.sessions, store_id, actor=actor, now=services.clock())
    except StoreDataError as error:
        zh = (
            "撤销期限已过，数据已无法恢复。"
            if error.reason == "undo_expired"
            else f"{store.name} 没有可以撤销的删除。"
        )
        return _refusal(language, store.name, str(error), zh)
    with services.sessions() as session:
        counts = count_store_data(session, store_id)
    return Diagnosis(
        flow=FLOW,
        verdict="restored",
        summary=say(
            language,
            f"{store.name} is back with all its data ({counts.total} rows).",
            f"{store.name} 已恢复，所有数据（{counts.total} 条）均已还原。",
        ),
        language=language,
        findings=[
            Finding(
                check=say(language, f"Data of {store.name}", f"{store.name} 的数据"),
                result=_counts_sentence(language, counts),
                status=CheckStatus.OK,
            )
        ],
        tables=[counts_table(language, counts.as_dict(), ("What was restored", "已恢复的数据"))],
        store=store.name,
    )
