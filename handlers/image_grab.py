"""The `image_grab` flow: whether and when tonight's image grab picks up a product.

The nightly grab takes a product when (a) it was uploaded and created but has no picture, (b) it
was modified through the picture publishing system in the last 7 days, or (c) it had orders in
the last 30 days and its sales status is "normal". The handler shows each rule with the actual
dates and counts, the next run, and the last grab's outcome (with an image check when it failed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from erp.jobs.image_grab import evaluate_rules, last_grab
from erp.models import ImageGrabResult, Product, SalesStatus, Store
from handlers.diagnosis import (
    CheckStatus,
    DetailRequest,
    Diagnosis,
    Finding,
    HandlerResult,
    ImageEvidence,
    Language,
    Table,
)
from handlers.services import Services
from handlers.sku_lookup import (
    age,
    ask_store,
    first_sku,
    products_with_sku,
    recent_product_choices,
    scope_stores,
    talk_to_person,
    when,
)
from handlers.text import say
from knowledge.glossary import term, word

if TYPE_CHECKING:
    from handlers.registry import FlowRequest

FLOW = "image_grab"
# A grab this recent is "last night's" even when the product would qualify again tonight.
RECENT_GRAB = timedelta(hours=36)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleCheck:
    """One rule for one product: whether it holds and the facts behind it, in the seller's words."""

    rule: str  # a | b | c
    holds: bool
    facts: str
    would_qualify: str  # what would make the rule hold (empty when it holds)


def handle(request: FlowRequest, services: Services) -> HandlerResult:
    """Say whether the product is grabbed tonight, was grabbed, or why not; or ask for the SKU."""
    language = request.language
    sku = first_sku(request.entities.skus)
    now = services.clock()
    with services.sessions() as session:
        scope = scope_stores(session, request.account_id, request.entities.stores, FLOW, language)
        if isinstance(scope, DetailRequest):
            return scope
        if not sku:
            return _ask_sku(session, scope, language, "")
        products = products_with_sku(session, scope, sku)
        if not products:
            return _ask_sku(session, scope, language, sku)
        if len(products) > 1:
            stores = [store for store in scope if any(p.store_id == store.id for p in products)]
            return ask_store(FLOW, language, stores, sku=sku)
        product = products[0]
        store = next(store for store in scope if store.id == product.store_id)
        next_run = services.schedule.next_run("image_grab", now)
        rules = evaluate(session, product, next_run or now, now, language)
        grab = last_grab(session, product.id) if product.id is not None else None
    findings = [_rule_finding(rule, language) for rule in rules]
    findings.append(_next_run_finding(language, now, next_run))
    findings.append(_grab_finding(grab, language, now))
    if grab is not None and grab.outcome != "grabbed":
        diagnosis = _last_grab_failed(product, store, grab, rules, language, now, next_run, services)
    elif grab is not None and (_is_recent(grab, now) or not any(rule.holds for rule in rules)):
        diagnosis = _grabbed(product, store, grab, language, now)
    elif any(rule.holds for rule in rules):
        diagnosis = _eligible(product, store, rules, language, now, next_run)
    else:
        diagnosis = _not_eligible(product, store, rules, language)
    diagnosis.findings = findings + diagnosis.findings
    diagnosis.tables.insert(0, _rules_table(rules, language))
    return diagnosis


# --- rules --------------------------------------------------------------------------------------


def evaluate(
    session: Session, product: Product, at: datetime, now: datetime, language: Language
) -> list[RuleCheck]:
    """Rules a, b and c for one product as the grab at `at` will judge them, in the seller's words."""
    checks: list[RuleCheck] = []
    for evaluation in evaluate_rules(session, product, at):
        facts = evaluation.facts
        if evaluation.rule == "a":
            checks.append(_rule_a(evaluation.holds, bool(facts.get("uploaded")), language))
        elif evaluation.rule == "b":
            modified = facts.get("modified_at")
            checks.append(
                _rule_b(evaluation.holds, modified if isinstance(modified, datetime) else None, now, language)
            )
        else:
            orders = facts.get("orders_30d")
            status = str(facts.get("sales_status") or product.sales_status)
            checks.append(
                _rule_c(evaluation.holds, orders if isinstance(orders, int) else 0, status, language)
            )
    return checks


def _rule_a(holds: bool, uploaded: bool, language: Language) -> RuleCheck:
    if holds:
        facts = say(language, "uploaded and created, no picture yet", "已上传并创建，还没有图片")
        return RuleCheck("a", True, facts, "")
    if not uploaded:
        facts = say(language, "not uploaded to the platform yet", "尚未上传到平台")
        wish = say(language, "upload the product", "上传该产品")
    else:
        facts = say(language, "it already has a picture", "已经有图片")
        wish = ""  # a product with a picture never qualifies under (a); nothing to change
    return RuleCheck("a", False, facts, wish)


def _rule_b(holds: bool, modified: datetime | None, now: datetime, language: Language) -> RuleCheck:
    if modified is None:
        facts = say(
            language, f"never modified through the {_system(language)}", f"从未通过{_system(language)}修改"
        )
        return RuleCheck("b", False, facts, _edit_wish(language))
    when_text = when(language, now, modified)
    if holds:
        facts = say(
            language,
            f"modified through the {_system(language)} {when_text}",
            f"于 {when_text} 通过{_system(language)}修改",
        )
        return RuleCheck("b", True, facts, "")
    facts = say(
        language,
        f"last modified through the {_system(language)} {when_text}, more than 7 days before the run",
        f"最近一次通过{_system(language)}修改是 {when_text}，距抓图已超过 7 天",
    )
    return RuleCheck("b", False, facts, _edit_wish(language))


def _edit_wish(language: Language) -> str:
    return say(
        language,
        f"edit the product through the {_system(language)}",
        f"通过{_system(language)}编辑该产品",
    )


def _rule_c(holds: bool, orders: int, status: str, language: Language) -> RuleCheck:
    normal = status == SalesStatus.NORMAL
    shown = word("sales_status", status, language)
    wanted = word("sales_status", SalesStatus.NORMAL, language)
    count_en = f"{orders} order{'s' if orders != 1 else ''} in the last 30 days"
    count_zh = f"最近 30 天有 {orders} 个订单"
    if holds:
        facts = say(language, f"{count_en}, sales status '{shown}'", f"{count_zh}，销售状态为“{shown}”")
        return RuleCheck("c", True, facts, "")
    if orders:
        facts = say(
            language, f"{count_en}, but sales status is '{shown}'", f"{count_zh}，但销售状态为“{shown}”"
        )
        wish = say(language, f"set the sales status to '{wanted}'", f"把销售状态改为“{wanted}”")
    elif normal:
        facts = say(language, f"no orders in the last 30 days (sales status '{shown}')", "最近 30 天没有订单")
        wish = say(language, "an order in the next days", "之后有新订单")
    else:
        facts = say(
            language,
            f"no orders in the last 30 days and sales status is '{shown}'",
            f"最近 30 天没有订单，且销售状态为“{shown}”",
        )
        wish = say(
            language,
            f"sales status '{wanted}' and an order in the last 30 days",
            f"销售状态改为“{wanted}”并且最近 30 天有订单",
        )
    return RuleCheck("c", False, facts, wish)


def _system(language: Language) -> str:
    return term("picture_system", language)


def _is_recent(grab: ImageGrabResult, now: datetime) -> bool:
    elapsed = age(now, grab.at)
    return elapsed is not None and elapsed <= RECENT_GRAB


# --- evidence -----------------------------------------------------------------------------------


def _rule_name(rule: str, language: Language) -> str:
    names = {
        "a": ("(a) uploaded without a picture", "(a) 已上传但没有图片"),
        "b": (
            f"(b) modified through the {_system(language)} in the last 7 days",
            f"(b) 最近 7 天通过{_system(language)}修改",
        ),
        "c": (
            "(c) orders in the last 30 days and sales status 'normal'",
            "(c) 最近 30 天有订单且销售状态正常",
        ),
    }
    en, zh = names[rule]
    return say(language, f"Rule {en}", f"规则 {zh}")


def _short_rule_name(rule: str, language: Language) -> str:
    names = {
        "a": ("(a) no picture yet", "(a) 没有图片"),
        "b": ("(b) picture system edit, 7 days", "(b) 7 天内图片系统修改"),
        "c": ("(c) orders in 30 days, normal sales", "(c) 30 天内有订单且正常销售"),
    }
    en, zh = names[rule]
    return say(language, en, zh)


def _rule_finding(rule: RuleCheck, language: Language) -> Finding:
    verdict = say(language, "holds", "符合") if rule.holds else say(language, "does not hold", "不符合")
    return Finding(
        check=_rule_name(rule.rule, language),
        result=say(language, f"{verdict}: {rule.facts}", f"{verdict}：{rule.facts}"),
        status=CheckStatus.OK if rule.holds else CheckStatus.PROBLEM,
    )


def _next_run_finding(language: Language, now: datetime, next_run: datetime | None) -> Finding:
    return Finding(
        check=say(language, "Next image grab", "下次抓图"),
        result=when(language, now, next_run) if next_run else say(language, "not scheduled", "未安排"),
        status=CheckStatus.OK if next_run else CheckStatus.UNKNOWN,
    )


def _grab_finding(grab: ImageGrabResult | None, language: Language, now: datetime) -> Finding:
    check = say(language, "Last grab of this product", "该产品上次抓图")
    if grab is None:
        return Finding(check=check, result=say(language, "never grabbed", "从未抓取"), status=CheckStatus.OK)
    at = when(language, now, grab.at)
    if grab.outcome == "grabbed":
        return Finding(
            check=check,
            result=say(language, f"grabbed {at} (rule {grab.rule})", f"{at} 抓取成功（规则 {grab.rule}）"),
            status=CheckStatus.OK,
        )
    return Finding(
        check=check,
        result=say(language, f"failed {at}", f"{at} 抓取失败"),
        status=CheckStatus.PROBLEM,
    )


def _rules_table(rules: list[RuleCheck], language: Language) -> Table:
    return Table(
        title=say(language, "Image grab rules", "抓图规则"),
        columns=[
            say(language, "rule", "规则"),
            say(language, "holds", "是否符合"),
            say(language, "facts", "依据"),
        ],
        rows=[
            [
                _short_rule_name(rule.rule, language),
                say(language, "yes", "是") if rule.holds else say(language, "no", "否"),
                rule.facts,
            ]
            for rule in rules
        ],
    )


def _ask_sku(session: Session, stores: list[Store], language: Language, sku: str) -> DetailRequest:
    if sku:
        prompt = say(
            language,
            f"I can't find SKU {sku} in the product list of your stores. Which product do you mean?",
            f"在您店铺的产品列表里没有找到 SKU {sku}。请问是哪个产品？",
        )
    else:
        prompt = say(language, "Which product (SKU) do you mean?", "请问是哪个产品（SKU）？")
    return DetailRequest(
        flow=FLOW,
        detail="sku",
        prompt=prompt,
        language=language,
        choices=recent_product_choices(session, stores),
    )


def _base(product: Product, store: Store, verdict: str, summary: str, language: Language) -> Diagnosis:
    return Diagnosis(
        flow=FLOW, verdict=verdict, summary=summary, language=language, store=store.name, sku=product.sku
    )


# --- verdicts -----------------------------------------------------------------------------------


def _eligible(
    product: Product,
    store: Store,
    rules: list[RuleCheck],
    language: Language,
    now: datetime,
    next_run: datetime | None,
) -> Diagnosis:
    rule = next(rule for rule in rules if rule.holds)
    at = when(language, now, next_run) if next_run else say(language, "tonight", "今晚")
    diagnosis = _base(
        product,
        store,
        "eligible_tonight",
        say(
            language,
            f"{product.sku} will be grabbed in the next image grab at {at}: rule ({rule.rule}) holds, "
            f"{rule.facts}.",
            f"{product.sku} 会在下次抓图（{at}）时被抓取：符合规则 ({rule.rule})，{rule.facts}。",
        ),
        language,
    )
    diagnosis.next_steps = [
        say(
            language,
            "Nothing to do: check the product's pictures after the run.",
            "无需操作：抓图完成后查看产品图片即可。",
        )
    ]
    return diagnosis


def _not_eligible(product: Product, store: Store, rules: list[RuleCheck], language: Language) -> Diagnosis:
    reasons = "; ".join(f"({rule.rule}) {rule.facts}" for rule in rules)
    diagnosis = _base(
        product,
        store,
        "not_eligible",
        say(
            language,
            f"{product.sku} is not picked up by the nightly image grab: none of its rules holds: {reasons}.",
            f"{product.sku} 不会被夜间抓图选中，三条规则都不符合：{reasons}。",
        ),
        language,
    )
    diagnosis.next_steps = [
        say(
            language,
            f"To have it grabbed, {rule.would_qualify}: rule ({rule.rule}) then selects it.",
            f"要让它被抓取，可以{rule.would_qualify}：之后规则 ({rule.rule}) 会选中它。",
        )
        for rule in rules
        if rule.would_qualify
    ]
    return diagnosis


def _grabbed(
    product: Product, store: Store, grab: ImageGrabResult, language: Language, now: datetime
) -> Diagnosis:
    at = when(language, now, grab.at)
    diagnosis = _base(
        product,
        store,
        "grabbed",
        say(
            language,
            f"{product.sku} was grabbed {at} (rule {grab.rule}); its pictures are in the software.",
            f"{product.sku} 已于 {at} 抓取成功（规则 {grab.rule}），图片已在软件里。",
        ),
        language,
    )
    diagnosis.next_steps = [
        say(
            language,
            "Refresh the product page to see the pictures; if they still don't show, ask about "
            "a picture that does not display.",
            "刷新产品页面查看图片；如果仍不显示，可以问我“图片不显示”。",
        )
    ]
    return diagnosis


def _last_grab_failed(
    product: Product,
    store: Store,
    grab: ImageGrabResult,
    rules: list[RuleCheck],
    language: Language,
    now: datetime,
    next_run: datetime | None,
    services: Services,
) -> Diagnosis:
    at = when(language, now, grab.at)
    images = _check_images(services, product.image_urls)
    broken = [image for image in images if image.verdict != "ok"]
    why = _failure_reason(grab, broken, language)
    diagnosis = _base(
        product,
        store,
        "last_grab_failed",
        say(
            language,
            f"The last image grab of {product.sku} failed {at}: {why}.",
            f"{product.sku} 上次抓图于 {at} 失败：{why}。",
        ),
        language,
    )
    diagnosis.images = images
    for image in images:
        diagnosis.findings.append(
            Finding(
                check=say(language, f"Image {image.url}", f"图片 {image.url}"),
                result=_image_result(image, language),
                status=CheckStatus.OK if image.verdict == "ok" else CheckStatus.PROBLEM,
            )
        )
    if not images:
        diagnosis.findings.append(
            Finding(
                check=say(language, "Product images", "产品图片"),
                result=say(language, "the product has no image address", "产品没有图片地址"),
                status=CheckStatus.PROBLEM,
            )
        )
    if broken:
        diagnosis.next_steps.append(
            say(
                language,
                "Delete the broken image on the product edit page and add it again; "
                "the next grab can then take it.",
                "在产品编辑页删除有问题的图片并重新添加，下次抓图即可成功。",
            )
        )
    elif images:
        diagnosis.next_steps.append(
            say(
                language,
                "The images load fine from here now, so the failure was probably temporary.",
                "现在从这里能正常加载这些图片，上次失败可能是临时问题。",
            )
        )
    if any(rule.holds for rule in rules):
        run_at = when(language, now, next_run) if next_run else say(language, "tonight", "今晚")
        diagnosis.next_steps.append(
            say(
                language,
                f"It is tried again in the next grab at {run_at}.",
                f"下次抓图（{run_at}）会再次尝试。",
            )
        )
    else:
        diagnosis.next_steps.append(
            say(
                language,
                f"No rule selects it for the next grab; edit it through the {_system(language)} "
                "to have it grabbed again.",
                f"目前没有规则会在下次抓图时选中它；通过{_system(language)}编辑该产品即可再次抓取。",
            )
        )
    diagnosis.actions = [talk_to_person(language)]
    return diagnosis


def _failure_reason(grab: ImageGrabResult, broken: list[ImageEvidence], language: Language) -> str:
    """Why the grab failed: the job's note in English; in Chinese, what the pictures show now
    (the job writes its note in English for the logs)."""
    if language == "en":
        return grab.detail or "no reason recorded"
    if broken:
        return f"有 {len(broken)} 张图片{word('image_verdict', broken[0].verdict, language)}"
    return "没有记录原因"


def _image_result(image: ImageEvidence, language: Language) -> str:
    status = f"HTTP {image.http_status}" if image.http_status else ""
    detail = image.detail if language == "en" else word("image_detail", image.verdict, language)
    parts = [word("image_verdict", image.verdict, language), status, detail]
    return say(language, ", ", "，").join(part for part in parts if part)


def _check_images(services: Services, urls: list[str]) -> list[ImageEvidence]:
    if not urls:
        return []
    try:
        results = services.images.check_many(urls)
    except Exception:  # the image check must not cost the seller the grab diagnosis
        logger.exception("image check failed")
        return [ImageEvidence(url=url, verdict="unknown", detail="could not be checked") for url in urls]
    return [result.to_evidence() for result in results]
