"""The `price_not_updated` flow: where a price change is on its way from the software to the page.

A change is saved in the software, submitted, approved by the platform, shown on the platform's
front page, carried back by the nightly listings report, and only then shown in the software.
The handler finds the SKU's latest change and tells the seller which step it is at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from erp.models import PlatformReport, PriceChange, PriceChangeStatus, ReportKind, ReportRow, Store
from erp.platforms.base import LivePrice, PlatformError
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
from handlers.sku_lookup import (
    as_utc,
    ask_store,
    first_sku,
    format_age,
    format_time,
    latest_done_report,
    recent_price_change_choices,
    report_row,
    same_price,
    scope_stores,
    talk_to_person,
    when,
)
from handlers.text import platform_words, say
from knowledge.glossary import term

if TYPE_CHECKING:
    from handlers.registry import FlowRequest

FLOW = "price_not_updated"
HISTORY_ROWS = 5
# How long the FAQ tells sellers an approved price may take to show in the software.
ALLOW_AFTER_APPROVAL = timedelta(days=2)

logger = logging.getLogger(__name__)


@dataclass
class _Facts:
    """What the database says about the SKU's latest price change in one store."""

    store: Store
    change: PriceChange
    history: list[PriceChange]
    report: PlatformReport | None
    row: ReportRow | None


@dataclass
class _Live:
    price: LivePrice | None
    error: str = ""


def handle(request: FlowRequest, services: Services) -> HandlerResult:
    """Diagnose why a price change does not show, or ask for the SKU or store."""
    language = request.language
    sku = first_sku(request.entities.skus)
    with services.sessions() as session:
        scope = scope_stores(session, request.account_id, request.entities.stores, FLOW, language)
        if isinstance(scope, DetailRequest):
            return scope
        if not sku:
            return _ask_sku(session, scope, language, "")
        latest = _latest_changes(session, scope, sku)
        if not latest:
            return _ask_sku(session, scope, language, sku)
        if len(latest) > 1:
            return ask_store(FLOW, language, [store for store, _ in latest], sku=sku)
        store, change = latest[0]
        facts = _Facts(
            store=store,
            change=change,
            history=_history(session, store, sku),
            report=None,
            row=None,
        )
        if change.status == PriceChangeStatus.APPROVED and store.id is not None:
            facts.report = latest_done_report(session, store.id, ReportKind.LISTINGS)
            if facts.report is not None and facts.report.id is not None:
                facts.row = report_row(session, facts.report.id, sku)
    now = services.clock()
    status = change.status
    if status == PriceChangeStatus.DRAFT:
        return _not_submitted(facts, language, now)
    if status == PriceChangeStatus.SUBMITTED:
        return _awaiting_approval(facts, language, now)
    if status == PriceChangeStatus.REJECTED:
        return _rejected(facts, language, now)
    return _approved(facts, language, now, services)


# --- look-ups -----------------------------------------------------------------------------------


def _latest_changes(session: Session, stores: list[Store], sku: str) -> list[tuple[Store, PriceChange]]:
    """The newest change of the SKU in each store that has one."""
    found: list[tuple[Store, PriceChange]] = []
    for store in stores:
        statement = (
            select(PriceChange)
            .where(PriceChange.store_id == store.id, PriceChange.sku == sku)
            .order_by(col(PriceChange.created_at).desc(), col(PriceChange.id).desc())
            .limit(1)
        )
        change = session.exec(statement).first()
        if change is not None:
            found.append((store, change))
    return found


def _history(session: Session, store: Store, sku: str) -> list[PriceChange]:
    statement = (
        select(PriceChange)
        .where(PriceChange.store_id == store.id, PriceChange.sku == sku)
        .order_by(col(PriceChange.created_at).desc(), col(PriceChange.id).desc())
        .limit(HISTORY_ROWS)
    )
    return list(session.exec(statement))


def _ask_sku(session: Session, stores: list[Store], language: Language, sku: str) -> DetailRequest:
    if sku:
        prompt = say(
            language,
            f"I can't find a price change for SKU {sku} in your stores. Which SKU's price did you change?",
            f"在您的店铺里没有找到 SKU {sku} 的改价记录。请问您修改的是哪个 SKU 的价格？",
        )
    else:
        # The general question ("how long does it take?") gets the FAQ's answer with the ask.
        prompt = say(
            language,
            "An approved price change takes 1-2 days to show in the software (the nightly report "
            "brings it back). Which SKU's price did you change? I'll check where it is.",
            "审核通过的改价需要 1-2 天才会在软件里显示（由夜间报告同步回来）。"
            "请问您修改的是哪个 SKU 的价格？我来查一下进度。",
        )
    return DetailRequest(
        flow=FLOW,
        detail="sku",
        prompt=prompt,
        language=language,
        choices=recent_price_change_choices(session, stores),
    )


def _live_price(services: Services, store: Store, sku: str) -> _Live:
    """Ask the platform; a failure becomes the seller's words, never an exception."""
    try:
        return _Live(price=services.connector_for(store).get_live_price(sku))
    except PlatformError as exc:
        return _Live(price=None, error=str(exc).rstrip(". "))
    except Exception:  # a connector bug must not cost the seller the rest of the diagnosis
        logger.exception("live price look-up failed for store %s", store.id)
        return _Live(price=None, error="the platform could not be asked")


# --- evidence -----------------------------------------------------------------------------------


def _money(amount: str, currency: str) -> str:
    return f"{amount} {currency}".strip()


def _trail(facts: _Facts, language: Language, now: datetime) -> Table:
    rows = [
        [
            when(language, now, change.created_at),
            status_label(language, change.status),
            f"{_money(change.old_price, change.currency)} → {_money(change.new_price, change.currency)}",
            format_time(change.submitted_at),
            format_time(change.decided_at),
        ]
        for change in facts.history
    ]
    return Table(
        title=say(language, f"Price changes of {facts.change.sku}", f"{facts.change.sku} 的改价记录"),
        columns=[
            say(language, "saved", "保存时间"),
            say(language, "status", "状态"),
            say(language, "price", "价格"),
            say(language, "submitted", "提交时间"),
            say(language, "decided", "平台处理时间"),
        ],
        rows=rows,
    )


def status_label(language: Language, status: str) -> str:
    """A price change's status in the seller's words."""
    labels = {
        PriceChangeStatus.DRAFT: ("draft", "草稿"),
        PriceChangeStatus.SUBMITTED: ("submitted", "已提交，待审核"),
        PriceChangeStatus.APPROVED: ("approved", "已通过"),
        PriceChangeStatus.REJECTED: ("rejected", "已驳回"),
    }
    en, zh = labels.get(status, (status, status))  # type: ignore[call-overload]
    return say(language, en, zh)


def _change_finding(facts: _Facts, language: Language, now: datetime, status: CheckStatus) -> Finding:
    change = facts.change
    price = f"{_money(change.old_price, change.currency)} → {_money(change.new_price, change.currency)}"
    return Finding(
        check=say(language, "Latest price change in the software", "软件里最近一次改价"),
        result=say(
            language,
            f"{price}, status '{status_label(language, change.status)}', "
            f"saved {when(language, now, change.created_at)}",
            f"{price}，状态“{status_label(language, change.status)}”，"
            f"保存于 {when(language, now, change.created_at)}",
        ),
        status=status,
    )


def _diagnosis(facts: _Facts, language: Language, verdict: str, summary: str) -> Diagnosis:
    return Diagnosis(
        flow=FLOW,
        verdict=verdict,
        summary=summary,
        language=language,
        store=facts.store.name,
        sku=facts.change.sku,
    )


# --- verdicts -----------------------------------------------------------------------------------


def _not_submitted(facts: _Facts, language: Language, now: datetime) -> Diagnosis:
    change = facts.change
    new = _money(change.new_price, change.currency)
    diagnosis = _diagnosis(
        facts,
        language,
        "not_submitted",
        say(
            language,
            f"The new price {new} for {change.sku} was saved in the software but never submitted "
            f"to {facts.store.name}, so the platform still shows the old price.",
            f"{change.sku} 的新价格 {new} 只保存在软件里，还没有提交到 {facts.store.name}，"
            "所以平台上仍是原价。",
        ),
    )
    diagnosis.findings = [
        _change_finding(facts, language, now, CheckStatus.PROBLEM),
        Finding(
            check=say(language, "Submitted to the platform", "是否已提交到平台"),
            result=say(language, "no: the change is a draft", "否：这次改价还是草稿"),
            status=CheckStatus.PROBLEM,
        ),
    ]
    diagnosis.tables = [_trail(facts, language, now)]
    diagnosis.next_steps = [
        say(
            language,
            f"Open the price change of {change.sku} in the software and submit it to the platform.",
            f"在软件里打开 {change.sku} 的改价，提交到平台。",
        ),
        say(
            language,
            "The platform then reviews it; after approval the nightly report brings the new price back "
            "(allow 1-2 days).",
            "平台审核通过后，夜间报告会把新价格同步回软件（约需 1-2 天）。",
        ),
    ]
    return diagnosis


def _awaiting_approval(facts: _Facts, language: Language, now: datetime) -> Diagnosis:
    change = facts.change
    submitted = when(language, now, change.submitted_at or change.created_at)
    diagnosis = _diagnosis(
        facts,
        language,
        "awaiting_approval",
        say(
            language,
            f"The price change for {change.sku} was submitted {submitted} and is waiting for "
            f"{facts.store.name}'s approval; the price changes after the platform approves it.",
            f"{change.sku} 的改价已于 {submitted} 提交，正在等待 {facts.store.name} 审核；"
            "平台审核通过后价格才会变化。",
        ),
    )
    diagnosis.findings = [
        _change_finding(facts, language, now, CheckStatus.OK),
        Finding(
            check=say(language, "Platform decision", "平台审核结果"),
            result=say(language, f"none yet (submitted {submitted})", f"尚未审核（提交于 {submitted}）"),
            status=CheckStatus.UNKNOWN,
        ),
    ]
    diagnosis.tables = [_trail(facts, language, now)]
    diagnosis.next_steps = [
        say(
            language,
            "Wait for the platform's review; no need to submit again (a second submission restarts it).",
            "请等待平台审核，无需重复提交（重复提交会重新开始审核）。",
        ),
        say(
            language,
            "After approval the nightly report brings the new price into the software (allow 1-2 days).",
            "审核通过后，夜间报告会把新价格同步到软件（约需 1-2 天）。",
        ),
    ]
    return diagnosis


def _rejected(facts: _Facts, language: Language, now: datetime) -> Diagnosis:
    change = facts.change
    reason = platform_words(language, change.reject_reason.strip()) or say(
        language, "no reason given", "平台未说明原因"
    )
    decided = when(language, now, change.decided_at)
    diagnosis = _diagnosis(
        facts,
        language,
        "rejected",
        say(
            language,
            f"{facts.store.name} rejected the price change for {change.sku} {decided}: {reason}",
            f"{facts.store.name} 于 {decided} 驳回了 {change.sku} 的改价：{reason}",
        ),
    )
    diagnosis.findings = [
        _change_finding(facts, language, now, CheckStatus.PROBLEM),
        Finding(
            check=say(language, "Platform decision", "平台审核结果"),
            result=say(language, f"rejected {decided}", f"已驳回（{decided}）"),
            status=CheckStatus.PROBLEM,
        ),
    ]
    diagnosis.tables = [_trail(facts, language, now)]
    diagnosis.next_steps = [
        say(
            language,
            "Correct the price according to the platform's reason and submit the change again.",
            "按平台给出的原因调整价格后重新提交改价。",
        ),
    ]
    diagnosis.actions = [
        talk_to_person(language),
    ]
    return diagnosis


def _approved(facts: _Facts, language: Language, now: datetime, services: Services) -> Diagnosis:
    change = facts.change
    approved_at = as_utc(change.decided_at or change.submitted_at or change.created_at)
    report = facts.report
    generated_at = as_utc(report.generated_at) if report is not None else None
    live = _live_price(services, facts.store, change.sku)
    next_import = services.schedule.next_run("report_import", now)
    findings = [
        _change_finding(facts, language, now, CheckStatus.OK),
        Finding(
            check=say(language, "Platform decision", "平台审核结果"),
            result=say(
                language,
                f"approved {when(language, now, approved_at)}",
                f"已通过（{when(language, now, approved_at)}）",
            ),
            status=CheckStatus.OK,
        ),
        _live_finding(facts, live, language),
        _report_finding(facts, language, now),
        Finding(
            check=say(language, "Next report import", "下次报告导入"),
            result=when(language, now, next_import)
            if next_import
            else say(language, "not scheduled", "未安排"),
            status=CheckStatus.OK if next_import else CheckStatus.UNKNOWN,
        ),
    ]
    tables = [_trail(facts, language, now), _report_table(facts, live, language, now)]
    report_after_approval = (
        generated_at is not None and approved_at is not None and generated_at >= approved_at
    )
    report_has_new = facts.row is not None and same_price(facts.row.price, change.new_price)
    # The FAQ's promise is 1-2 days: before that, a report still showing the old price only
    # means the platform has not published the approved price yet, which is no one's fault.
    overdue = approved_at is not None and now - approved_at >= ALLOW_AFTER_APPROVAL
    if report_has_new:
        diagnosis = _updated(facts, language, now)
    elif report_after_approval and overdue:
        diagnosis = _still_wrong(facts, language, now)
    elif live.price is not None and same_price(live.price.amount, change.new_price):
        diagnosis = _live_report_behind(facts, language, now, next_import)
    else:
        diagnosis = _waiting_for_report(facts, language, now, next_import, live, report_after_approval)
    diagnosis.findings = findings
    diagnosis.tables = tables
    return diagnosis


def _live_finding(facts: _Facts, live: _Live, language: Language) -> Finding:
    check = say(language, "Live price on the platform", "平台前台价格")
    change = facts.change
    if live.price is None:
        result = (
            say(language, f"could not be checked: {live.error}", f"无法查询：{live.error}")
            if live.error
            else say(language, "the platform does not list this SKU", "平台上查不到这个 SKU")
        )
        return Finding(check=check, result=result, status=CheckStatus.UNKNOWN)
    if not live.price.amount:
        status = live.price.status or "-"
        return Finding(
            check=check,
            result=say(
                language,
                f"the listing has no active offer (status {status})",
                f"该商品在平台上没有有效报价（状态 {status}）",
            ),
            status=CheckStatus.UNKNOWN,
        )
    shown = _money(live.price.amount, live.price.currency or change.currency)
    if same_price(live.price.amount, change.new_price):
        return Finding(
            check=check,
            result=say(language, f"{shown}: the new price", f"{shown}：已是新价格"),
            status=CheckStatus.OK,
        )
    return Finding(
        check=check,
        result=say(
            language,
            f"{shown}: not the new price {change.new_price} yet",
            f"{shown}：还不是新价格 {change.new_price}",
        ),
        status=CheckStatus.PROBLEM,
    )


def _report_finding(facts: _Facts, language: Language, now: datetime) -> Finding:
    check = say(language, "Latest listings report", "最新的商品报告")
    report, row = facts.report, facts.row
    if report is None:
        return Finding(
            check=check,
            result=say(language, "none imported yet", "尚未导入任何报告"),
            status=CheckStatus.UNKNOWN,
        )
    generated = when(language, now, report.generated_at)
    if row is None:
        return Finding(
            check=check,
            result=say(
                language,
                f"generated {generated}; it has no row for this SKU",
                f"生成于 {generated}；报告里没有这个 SKU",
            ),
            status=CheckStatus.PROBLEM,
        )
    price = _money(row.price, facts.change.currency)
    if same_price(row.price, facts.change.new_price):
        return Finding(
            check=check,
            result=say(
                language,
                f"generated {generated}; shows the new price {price}",
                f"生成于 {generated}；显示新价格 {price}",
            ),
            status=CheckStatus.OK,
        )
    return Finding(
        check=check,
        result=say(language, f"generated {generated}; shows {price}", f"生成于 {generated}；显示 {price}"),
        status=CheckStatus.PROBLEM,
    )


def _report_table(facts: _Facts, live: _Live, language: Language, now: datetime) -> Table:
    change = facts.change
    report_price = facts.row.price if facts.row is not None else "-"
    live_price = live.price.amount if live.price is not None else (live.error or "-")
    report_time = when(language, now, facts.report.generated_at) if facts.report is not None else "-"
    return Table(
        title=say(language, f"Where {change.sku}'s price stands", f"{change.sku} 价格在各环节的情况"),
        columns=[
            say(language, "step", "环节"),
            say(language, "price", "价格"),
            say(language, "time", "时间"),
        ],
        rows=[
            [
                say(language, "approved change", "审核通过的改价"),
                change.new_price,
                when(language, now, change.decided_at),
            ],
            [say(language, "platform front page", "平台前台"), live_price, say(language, "now", "现在")],
            [say(language, "latest listings report", "最新商品报告"), report_price, report_time],
        ],
    )


def _notify_action(facts: _Facts, language: Language) -> Action:
    return Action(
        ActionKind.NOTIFY_REPORT,
        say(language, "Tell me when the report lands", "报告导入后通知我"),
        params={"store_id": str(facts.store.id), "sku": facts.change.sku},
    )


def _next_import_text(language: Language, now: datetime, next_import: datetime | None) -> str:
    if next_import is None:
        return say(language, "with the next report import", "下次报告导入时")
    return say(
        language,
        f"with the next report import ({when(language, now, next_import)})",
        f"下次报告导入时（{when(language, now, next_import)}）",
    )


def _waiting_for_report(
    facts: _Facts,
    language: Language,
    now: datetime,
    next_import: datetime | None,
    live: _Live,
    report_after_approval: bool,
) -> Diagnosis:
    change = facts.change
    new = _money(change.new_price, change.currency)
    approved = format_age(language, now, change.decided_at)
    front_old = live.price is not None and bool(live.price.amount)
    upcoming = when(language, now, next_import) if next_import else say(language, "not scheduled", "未安排")
    if front_old and live.price is not None:
        old = _money(live.price.amount, live.price.currency or change.currency)
        # The report mirrors the platform: while the platform still sells at the old price, a
        # newer report can only show that too. Within the FAQ's 1-2 days this is just the wait.
        summary = say(
            language,
            f"{facts.store.name} approved {new} for {change.sku} {approved} but still sells at {old}; "
            "approved prices can take 1-2 days to show, and the software takes the new price from "
            f"the first report import after that (next: {upcoming}).",
            f"{facts.store.name} 已于{approved}通过 {change.sku} 的新价格 {new}，但前台仍是 {old}；"
            "审核通过的价格最多需要 1-2 天才会显示，"
            f"之后的报告导入（下次：{upcoming}）会把新价格同步到软件。",
        )
    else:
        summary = say(
            language,
            f"{facts.store.name} approved {new} for {change.sku} {approved}; the software shows it "
            f"{_next_import_text(language, now, next_import)}.",
            f"{facts.store.name} 已于{approved}通过 {change.sku} 的新价格 {new}；"
            f"{_next_import_text(language, now, next_import)}软件会显示新价格。",
        )
    diagnosis = _diagnosis(facts, language, "waiting_for_report", summary)
    due = as_utc(change.decided_at or change.created_at)
    deadline = format_time(due + ALLOW_AFTER_APPROVAL) if due is not None else ""
    diagnosis.next_steps = [
        say(
            language,
            "Nothing to do yet: allow 1-2 days after the approval.",
            "暂时无需操作：审核通过后请等待 1-2 天。",
        ),
    ]
    if deadline and report_after_approval:
        diagnosis.next_steps.append(
            say(
                language,
                f"If it still shows the old price after {deadline}, ask me again and I'll hand it "
                "to a person.",
                f"如果 {deadline} 之后仍是原价，请再问我，我会转交人工处理。",
            )
        )
    diagnosis.actions = [_notify_action(facts, language)]
    return diagnosis


def _live_report_behind(
    facts: _Facts, language: Language, now: datetime, next_import: datetime | None
) -> Diagnosis:
    change = facts.change
    new = _money(change.new_price, change.currency)
    diagnosis = _diagnosis(
        facts,
        language,
        "live_report_behind",
        say(
            language,
            f"{change.sku} already sells at {new} on {facts.store.name}; the software shows it "
            f"{_next_import_text(language, now, next_import)}, because its latest report is older "
            "than the approval.",
            f"{change.sku} 在 {facts.store.name} 前台已是 {new}；软件的最新报告早于审核时间，"
            f"{_next_import_text(language, now, next_import)}会更新。",
        ),
    )
    diagnosis.next_steps = [
        say(
            language,
            "Buyers already see the new price; nothing to do in the software.",
            "买家已经看到新价格，软件里无需操作。",
        ),
    ]
    diagnosis.actions = [_notify_action(facts, language)]
    return diagnosis


def _updated(facts: _Facts, language: Language, now: datetime) -> Diagnosis:
    change = facts.change
    new = _money(change.new_price, change.currency)
    generated = format_age(language, now, facts.report.generated_at if facts.report else None)
    diagnosis = _diagnosis(
        facts,
        language,
        "updated",
        say(
            language,
            f"{change.sku} is updated: the listings report generated {generated} carries {new}, so the "
            "software shows the new price now.",
            f"{change.sku} 已更新：{generated}生成的{term('listings_report', language)}已是 {new}，"
            "软件里现在显示的就是新价格。",
        ),
    )
    diagnosis.next_steps = [
        say(
            language,
            f"Reload the product page of {facts.store.name}; if it still shows the old price, "
            "talk to a person.",
            f"请刷新 {facts.store.name} 的产品页面；如果仍显示原价，请联系人工客服。",
        ),
    ]
    diagnosis.actions = [talk_to_person(language)]
    return diagnosis


def _still_wrong(facts: _Facts, language: Language, now: datetime) -> Diagnosis:
    change = facts.change
    new = _money(change.new_price, change.currency)
    approved = format_age(language, now, change.decided_at)
    generated_at = facts.report.generated_at if facts.report else None
    generated = format_age(language, now, generated_at)
    if facts.row is not None:
        shown = _money(facts.row.price, change.currency)
        summary = say(
            language,
            f"{facts.store.name} approved {new} for {change.sku} {approved}, but the listings report "
            f"generated {generated} still shows {shown}: customer service will check it with the platform.",
            f"{facts.store.name} 已于{approved}通过 {change.sku} 的新价格 {new}，"
            f"但{generated}生成的商品报告仍是 {shown}：已转交人工客服与平台核实。",
        )
        reason = say(
            language,
            f"Price change approved {format_time(change.decided_at)}; the listings report generated "
            f"{format_time(generated_at)} shows {shown}, "
            f"not {new}.",
            f"改价已于 {format_time(change.decided_at)} 通过；"
            f"{format_time(generated_at)} 生成的商品报告是 {shown}，"
            f"不是 {new}。",
        )
    else:
        summary = say(
            language,
            f"{facts.store.name} approved {new} for {change.sku} {approved}, but the listings report "
            f"generated {generated} has no row for it: customer service will check it with the platform.",
            f"{facts.store.name} 已于{approved}通过 {change.sku} 的新价格 {new}，"
            f"但{generated}生成的商品报告里没有这个 SKU：已转交人工客服与平台核实。",
        )
        reason = say(
            language,
            f"Price change approved {format_time(change.decided_at)}; the listings report generated "
            f"{format_time(generated_at)} has no row for the SKU.",
            f"改价已于 {format_time(change.decided_at)} 通过；"
            f"{format_time(generated_at)} 生成的商品报告里没有该 SKU。",
        )
    diagnosis = _diagnosis(facts, language, "still_wrong", summary)
    diagnosis.escalate = True
    diagnosis.escalate_reason = reason
    diagnosis.next_steps = []  # nothing for the seller to do: the summary says who takes it on
    diagnosis.actions = [talk_to_person(language)]
    return diagnosis
