"""The `product_sku_missing` flow: why the product page has no record of a SKU.

The product page shows the platform's report data, imported every night: what the platform's
listings report omits is not shown, and a report can lag. The handler looks for the SKU in the
store's latest listings and inventory reports, and asks the platform for a fresh listings report
when the SKU is missing or the latest report is more than a day old.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from erp.jobs.report_import import report_kinds_for
from erp.models import PlatformReport, ReportKind, ReportRow, ReportStatus, Store
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
    age,
    ask_store,
    first_sku,
    format_age,
    latest_done_report,
    products_with_sku,
    recent_product_choices,
    report_row,
    scope_stores,
    talk_to_person,
    when,
)
from handlers.text import say
from knowledge.glossary import term, word

if TYPE_CHECKING:
    from handlers.registry import FlowRequest

FLOW = "product_sku_missing"
STALE_AFTER = timedelta(days=1)
# How long the seller waits for a fresh report; a slower platform leaves it in progress.
FRESH_REPORT_WAIT_SECONDS = 20.0

logger = logging.getLogger(__name__)


@dataclass
class _Report:
    """One report and whether it carries the SKU."""

    report: PlatformReport
    row: ReportRow | None


@dataclass
class _Facts:
    store: Store
    sku: str
    listings: _Report | None
    inventory: _Report | None
    fresh: _Report | None = None
    fresh_report: PlatformReport | None = None  # the request, also when it did not complete
    fresh_error: str = ""  # a glossary `report_problem` key
    fresh_detail: str = ""  # the platform's message, when it gave one


def handle(request: FlowRequest, services: Services) -> HandlerResult:
    """Find the SKU in the store's reports (asking for a fresh one when needed), or ask for details."""
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
                    "Which SKU is missing from the product page?",
                    "请问是哪个 SKU 在产品页面没有记录？",
                ),
                language=language,
                choices=recent_product_choices(session, scope),
            )
        store = _pick_store(session, scope, sku, bool(request.entities.stores), language)
        if isinstance(store, DetailRequest):
            return store
        assert store.id is not None
        facts = _Facts(
            store=store,
            sku=sku,
            listings=_with_row(session, latest_done_report(session, store.id, ReportKind.LISTINGS), sku),
            inventory=_with_row(session, latest_done_report(session, store.id, ReportKind.INVENTORY), sku),
        )
    stale = _is_stale(facts.listings, now)
    in_latest = facts.listings is not None and facts.listings.row is not None
    if in_latest and not stale:
        return _present(facts, language, now, services)
    _refresh(facts, services, request.actor)
    # The answer describes the reports as they are after the refresh: measured from before it,
    # a report the platform finished during the refresh would read "generated in <1 min".
    now = services.clock()
    if facts.fresh is None:
        if stale:
            return _reports_stale(facts, language, now)
        return _omitted(facts, language, now, services)
    if facts.fresh.row is None:
        return _omitted(facts, language, now, services)
    if in_latest:
        return _present(facts, language, now, services)
    return _in_newer_report(facts, language, now, services)


# --- look-ups -----------------------------------------------------------------------------------


def _pick_store(
    session: Session, scope: list[Store], sku: str, named: bool, language: Language
) -> Store | DetailRequest:
    """The store the question is about: named, the only one that knows the SKU, or asked for."""
    if len(scope) == 1:
        return scope[0]
    if named:
        return ask_store(FLOW, language, scope, sku=sku)
    knowing = [store for store in scope if _store_knows(session, store, sku)]
    if len(knowing) == 1:
        return knowing[0]
    if knowing:
        return ask_store(FLOW, language, knowing, sku=sku)
    return DetailRequest(
        flow=FLOW,
        detail="store",
        prompt=say(
            language,
            f"I can't find SKU {sku} in any of your stores. Which store should have it?",
            f"您的店铺里都没有找到 SKU {sku}。请问它应该在哪个店铺？",
        ),
        language=language,
        choices=ask_store(FLOW, language, scope).choices,
    )


def _store_knows(session: Session, store: Store, sku: str) -> bool:
    if products_with_sku(session, [store], sku):
        return True
    assert store.id is not None
    for kind in (ReportKind.LISTINGS, ReportKind.INVENTORY):
        report = latest_done_report(session, store.id, kind)
        if report is not None and report.id is not None and report_row(session, report.id, sku):
            return True
    return False


def _with_row(session: Session, report: PlatformReport | None, sku: str) -> _Report | None:
    if report is None or report.id is None:
        return None
    return _Report(report=report, row=report_row(session, report.id, sku))


def _generated(report: PlatformReport) -> datetime | None:
    return report.generated_at or report.imported_at


def _is_stale(listings: _Report | None, now: datetime) -> bool:
    if listings is None:
        return True
    elapsed = age(now, _generated(listings.report))
    return elapsed is None or elapsed > STALE_AFTER


def _refresh(facts: _Facts, services: Services, actor: str) -> None:
    """Ask the platform for a fresh listings report now; record what came of it.

    `fresh_error` is a `report_problem` key of the glossary (said in the seller's language);
    `fresh_detail` keeps the platform's own message for English answers and the case.
    """
    assert facts.store.id is not None
    try:
        report_id = services.reports.refresh(
            facts.store.id, ReportKind.LISTINGS, actor=actor, wait_seconds=FRESH_REPORT_WAIT_SECONDS
        )
    except Exception:  # the seller still gets the diagnosis from the reports already imported
        logger.exception("fresh listings report failed for store %s", facts.store.id)
        facts.fresh_error = "not_asked"
        return
    if report_id is None:
        facts.fresh_error = "no_report"
        return
    with services.sessions() as session:
        report = session.get(PlatformReport, report_id)
        if report is None:
            facts.fresh_error = "lost"
            return
        facts.fresh_report = report
        if report.status == ReportStatus.DONE:
            facts.fresh = _Report(report=report, row=report_row(session, report_id, facts.sku))
        elif report.status in (ReportStatus.REQUESTED, ReportStatus.IN_PROGRESS):
            facts.fresh_error = "generating"
        else:
            facts.fresh_detail = (report.error or report.status).rstrip(". ")
            authorization = (
                "authoriz" in facts.fresh_detail.lower() or facts.store.auth_status != "authorized"
            )
            facts.fresh_error = "authorization" if authorization else "failed"


def _fresh_problem(facts: _Facts, language: Language) -> str:
    """Why no fresh report: the glossary's words (English keeps the platform's own message)."""
    if language == "en" and facts.fresh_detail:
        return facts.fresh_detail
    return word("report_problem", facts.fresh_error, language) if facts.fresh_error else ""


# --- evidence -----------------------------------------------------------------------------------


def _report_finding(check: str, item: _Report | None, language: Language, now: datetime) -> Finding:
    if item is None:
        return Finding(
            check=check, result=say(language, "none imported", "没有导入过"), status=CheckStatus.UNKNOWN
        )
    generated = when(language, now, _generated(item.report))
    rows = item.report.row_count
    if item.row is not None:
        return Finding(
            check=check,
            result=say(
                language,
                f"generated {generated}, {_rows(rows)}: has the SKU",
                f"生成于 {generated}，{rows} 行：有该 SKU",
            ),
            status=CheckStatus.OK,
        )
    return Finding(
        check=check,
        result=say(
            language,
            f"generated {generated}, {_rows(rows)}: no row for the SKU",
            f"生成于 {generated}，{rows} 行：没有该 SKU",
        ),
        status=CheckStatus.PROBLEM,
    )


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _findings(facts: _Facts, language: Language, now: datetime) -> list[Finding]:
    findings = [
        _report_finding(
            say(language, "Latest listings report", "最新的商品报告"), facts.listings, language, now
        ),
    ]
    if ReportKind.INVENTORY in report_kinds_for(facts.store.platform):
        findings.append(
            _report_finding(
                say(language, "Latest inventory report", "最新的库存报告"), facts.inventory, language, now
            )
        )
    fresh_check = say(language, "Fresh listings report requested now", "刚刚请求的新商品报告")
    if facts.fresh is not None:
        findings.append(_report_finding(fresh_check, facts.fresh, language, now))
    elif facts.fresh_error:
        findings.append(
            Finding(
                check=fresh_check,
                result=say(
                    language,
                    f"not available: {_fresh_problem(facts, language)}",
                    f"无法获取：{_fresh_problem(facts, language)}",
                ),
                status=CheckStatus.UNKNOWN,
            )
        )
    return findings


def _reports_table(facts: _Facts, language: Language, now: datetime) -> Table:
    rows: list[list[str]] = []
    named = [
        (
            say(language, "listings (imported before)", "商品报告（之前导入）")
            if facts.fresh is not None
            else say(language, "listings (latest imported)", "商品报告（最新导入）"),
            facts.listings,
        ),
        (say(language, "inventory (latest imported)", "库存报告（最新导入）"), facts.inventory),
        (say(language, "listings (imported just now)", "商品报告（刚刚导入）"), facts.fresh),
    ]
    for name, item in named:
        if item is None:
            continue
        rows.append(
            [
                name,
                when(language, now, _generated(item.report)),
                str(item.report.row_count),
                say(language, "yes", "有") if item.row is not None else say(language, "no", "没有"),
            ]
        )
    if facts.fresh is None and facts.fresh_report is not None:
        rows.append(
            [
                say(language, "listings (requested now)", "商品报告（刚刚请求）"),
                word("report_status", facts.fresh_report.status, language),
                "-",
                _fresh_problem(facts, language),
            ]
        )
    return Table(
        title=say(
            language,
            f"{facts.sku} in the reports of {facts.store.name}",
            f"{facts.store.name} 报告里的 {facts.sku}",
        ),
        columns=[
            say(language, "report", "报告"),
            say(language, "generated", "生成时间"),
            say(language, "rows", "行数"),
            say(language, "has the SKU", "是否有该 SKU"),
        ],
        rows=rows,
    )


def _base(facts: _Facts, verdict: str, summary: str, language: Language, now: datetime) -> Diagnosis:
    return Diagnosis(
        flow=FLOW,
        verdict=verdict,
        summary=summary,
        language=language,
        store=facts.store.name,
        sku=facts.sku,
        findings=_findings(facts, language, now),
        tables=[_reports_table(facts, language, now)],
    )


def _next_import(services: Services, language: Language, now: datetime) -> str:
    next_run = services.schedule.next_run("report_import", now)
    return when(language, now, next_run) if next_run else say(language, "tonight", "今晚")


def _verify_steps(facts: _Facts, language: Language) -> list[str]:
    platform = facts.store.platform.title()
    if ReportKind.INVENTORY in report_kinds_for(facts.store.platform):
        return [
            say(
                language,
                f"To verify: download the product (listings) report and the inventory report from "
                f"{platform}'s seller center and search them for {facts.sku}.",
                f"核实方法：在 {platform} 卖家后台下载商品报告和库存报告，搜索 {facts.sku}。",
            )
        ]
    return [
        say(
            language,
            f"To verify: export the product list from {platform}'s seller center and search it "
            f"for {facts.sku}.",
            f"核实方法：在 {platform} 卖家中心导出商品列表，搜索 {facts.sku}。",
        )
    ]


# --- verdicts -----------------------------------------------------------------------------------


def _present(facts: _Facts, language: Language, now: datetime, services: Services) -> Diagnosis:
    source = facts.fresh if facts.fresh is not None and facts.fresh.row is not None else facts.listings
    assert source is not None and source.row is not None
    row = source.row
    generated = format_age(language, now, _generated(source.report))
    status = f", {word('listing_status', row.status, language)}" if row.status else ""
    status_zh = f"，{word('listing_status', row.status, language)}" if row.status else ""
    diagnosis = _base(
        facts,
        "present",
        say(
            language,
            f"{facts.sku} is in the latest listings report of {facts.store.name} (generated "
            f"{generated}{status}): the product page shows it under the store {facts.store.name}.",
            f"{facts.sku} 在 {facts.store.name} 最新的商品报告里（{generated}生成{status_zh}）："
            f"产品页面选择店铺 {facts.store.name} 即可看到。",
        ),
        language,
        now,
    )
    diagnosis.next_steps = [
        say(
            language,
            f"On the product page pick the store {facts.store.name}, clear the status filters and search "
            f"{facts.sku} (exact spelling).",
            f"在产品页面选择店铺 {facts.store.name}，清除状态筛选，搜索 {facts.sku}（写法需完全一致）。",
        ),
    ]
    diagnosis.actions = [talk_to_person(language)]
    return diagnosis


def _omitted(facts: _Facts, language: Language, now: datetime, services: Services) -> Diagnosis:
    fresh_note = (
        say(language, " A fresh report requested just now omits it too.", "刚刚请求的新报告里也没有。")
        if facts.fresh is not None
        else ""
    )
    diagnosis = _base(
        facts,
        "omitted_by_platform",
        say(
            language,
            f"{facts.store.platform.title()}'s listings report for {facts.store.name} does not include "
            f"{facts.sku}, so the product page cannot show it: this is a listing issue on the platform's "
            f"side.{fresh_note}",
            f"{facts.store.platform.title()} 给 {facts.store.name} 的商品报告里没有 {facts.sku}，"
            "所以产品页面无法显示；"
            f"这是平台侧的刊登问题。{fresh_note}",
        ),
        language,
        now,
    )
    diagnosis.next_steps = [
        *_verify_steps(facts, language),
        say(
            language,
            "If the platform's reports lack it, check the listing's status in the seller center "
            "(inactive, suppressed or incomplete listings are left out) and fix it there.",
            "如果平台报告里也没有，请在卖家后台检查该商品的状态（不活跃、被屏蔽或信息不完整的商品不会出现在报告里）"
            "并在平台上处理。",
        ),
    ]
    diagnosis.actions = [
        Action(
            ActionKind.REQUEST_REPORT,
            say(language, "Request a fresh report", "重新请求报告"),
            params={"store_id": str(facts.store.id), "kind": ReportKind.LISTINGS.value},
        ),
        talk_to_person(language),
    ]
    return diagnosis


def _in_newer_report(facts: _Facts, language: Language, now: datetime, services: Services) -> Diagnosis:
    assert facts.fresh is not None and facts.listings is not None
    # The fresh report is imported the moment it is ready (ReportRefresher.refresh), so from now
    # on it is the latest report: say the product page shows the SKU now, as every later answer
    # (which finds it in the latest report) will.
    before = format_age(language, now, _generated(facts.listings.report))
    platform = facts.store.platform.title()
    diagnosis = _base(
        facts,
        "in_newer_report",
        say(
            language,
            f"{facts.sku} was missing from the report the product page showed (generated {before}); "
            f"the fresh listings report {platform} generated just now has it and is imported, so the "
            "product page shows it now.",
            f"{facts.sku} 不在产品页面之前所用的报告里（{before}生成）；"
            f"{platform} 刚刚生成的新商品报告里有它，已经导入，产品页面现在就能看到。",
        ),
        language,
        now,
    )
    diagnosis.next_steps = [
        say(
            language,
            f"Reload the product page and pick the store {facts.store.name}; platform reports can lag "
            "a day behind new listings.",
            f"请刷新产品页面并选择店铺 {facts.store.name}；平台报告可能比新刊登的商品晚一天。",
        ),
    ]
    return diagnosis


def _reports_stale(facts: _Facts, language: Language, now: datetime) -> Diagnosis:
    latest = (
        format_age(language, now, _generated(facts.listings.report))
        if facts.listings
        else say(language, "never", "从未")
    )
    why = _fresh_problem(facts, language) or say(language, "unknown", "原因未知")
    diagnosis = _base(
        facts,
        "reports_stale",
        say(
            language,
            f"The latest listings report of {facts.store.name} is from {latest} and a fresh one can't "
            f"be had now ({why}): a person from customer service will look into it.",
            f"{facts.store.name} 最新的商品报告是{latest}的，现在也无法获取新报告（{why}）："
            "已转交人工客服处理。",
        ),
        language,
        now,
    )
    diagnosis.escalate = True
    diagnosis.escalate_reason = say(
        language,
        f"Reports of {facts.store.name} are stale (latest listings report {latest}); "
        f"a fresh listings report failed: {why}.",
        f"{facts.store.name} 的报告已过期（最新商品报告是{latest}的）；请求新商品报告失败：{why}。",
    )
    diagnosis.next_steps = []
    if facts.fresh_error == "authorization":
        diagnosis.next_steps.append(
            say(
                language,
                f"Re-authorize {facts.store.name} under {term('platform_authorization', language)}; "
                "the next report import then brings fresh data.",
                f"请在“{term('platform_authorization', language)}”中重新授权 {facts.store.name}，"
                "之后的报告导入会带来新数据。",
            )
        )
    diagnosis.actions = [talk_to_person(language)]
    return diagnosis
