"""The `publish_image_error` flow: why publishing reports a wrong picture.

Three causes, checked in this order: a picture is lost or cannot be opened; a picture is not RGB
(CMYK, grayscale, palette, transparency) so the platform cannot parse it; or the platform's
interface is unstable, seen as many failed publishes from several sellers in the last hour.
Other sellers' failures are only ever counted, never shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, func, select

from erp.models import PublishAttempt, Store
from handlers.diagnosis import (
    Action,
    ActionKind,
    CheckStatus,
    Choice,
    DetailRequest,
    Diagnosis,
    Finding,
    HandlerResult,
    Language,
)
from handlers.image_check import ImageCheckResult, ImageVerdict
from handlers.image_not_displaying import convert_action, describe, image_urls, picture_name
from handlers.services import Services
from handlers.sku_lookup import first_sku, visible_stores
from handlers.text import say

if TYPE_CHECKING:
    from handlers.registry import FlowRequest

FLOW = "publish_image_error"
UNSTABLE_WINDOW = timedelta(hours=1)
UNSTABLE_MIN_FAILURES = 10
UNSTABLE_MIN_SELLERS = 2
# An answer's summary, next steps and actions.
_Answer = tuple[str, list[str], list[Action]]
MAX_CONVERT_ACTIONS = 3  # a button per picture; more would crowd the answer

_LOST = {
    ImageVerdict.UNREACHABLE,
    ImageVerdict.BLOCKED,
    ImageVerdict.TOO_LARGE,
    ImageVerdict.DAMAGED,
    ImageVerdict.NOT_AN_IMAGE,
}
_NOT_RGB = {ImageVerdict.NOT_RGB, ImageVerdict.HAS_ALPHA}


def recent_failures(session: Session, platform: str, since: datetime) -> tuple[int, int]:
    """Failed publishes on `platform` since `since`, across all accounts: (failures, sellers)."""
    statement = select(func.count(), func.count(func.distinct(PublishAttempt.account_id))).where(
        col(PublishAttempt.platform) == platform,
        col(PublishAttempt.ok).is_(False),
        col(PublishAttempt.at) >= since,
    )
    failures, sellers = session.exec(statement).one()
    return int(failures), int(sellers)


def _ask_sku(request: FlowRequest, services: Services) -> DetailRequest:
    language = request.language
    with services.sessions() as session:
        stores = visible_stores(session, request.account_id)
        ids = [store.id for store in stores if store.id is not None]
        names = {store.id: store.name for store in stores}
        choices: list[Choice] = []
        if ids:
            statement = (
                select(PublishAttempt)
                .where(col(PublishAttempt.store_id).in_(ids), col(PublishAttempt.ok).is_(False))
                .order_by(col(PublishAttempt.at).desc())
                .limit(30)
            )
            seen: set[str] = set()
            for attempt in session.exec(statement):
                if attempt.sku not in seen:
                    seen.add(attempt.sku)
                    # The platform's own code, named as one ("error 8560"), so a bare number
                    # is not read as a price or a count.
                    code = say(language, f"error {attempt.error_code}", f"错误 {attempt.error_code}")
                    label = f"{attempt.sku} · {names.get(attempt.store_id, '')}"
                    label += f" · {code}" if attempt.error_code else ""
                    choices.append(Choice(value=attempt.sku, label=label.rstrip(" ·")))
    return DetailRequest(
        flow=FLOW,
        detail="sku",
        prompt=say(
            language,
            "Which product failed to publish? Send me its SKU (or the picture links).",
            "请问是哪个商品发布失败？请发给我它的 SKU（或图片链接）。",
        ),
        language=language,
        choices=choices[:10],
    )


def handle(request: FlowRequest, services: Services) -> HandlerResult:
    """Check every picture of the product, its colour mode, and the platform's recent failures."""
    language = request.language
    if not request.entities.urls and not first_sku(request.entities.skus):
        return _ask_sku(request, services)
    found = image_urls(request, services, FLOW)
    if isinstance(found, DetailRequest):
        return DetailRequest(
            flow=FLOW,
            detail="sku" if not request.entities.urls else "image_url",
            prompt=found.prompt,
            language=language,
            choices=found.choices,
        )
    urls, product, store = found
    results = services.images.check_many(urls)
    findings = [
        Finding(check=result.url, result=_describe(language, result), status=_status(result))
        for result in results
    ]
    platform = store.platform if store else ""
    failures, sellers = (0, 0)
    if platform:
        with services.sessions() as session:
            failures, sellers = recent_failures(session, platform, services.clock() - UNSTABLE_WINDOW)
        findings.append(_failures_finding(language, platform, failures, sellers))
    unstable = failures >= UNSTABLE_MIN_FAILURES and sellers >= UNSTABLE_MIN_SELLERS
    lost = [r for r in results if r.verdict in _LOST]
    not_rgb = [r for r in results if r.verdict in _NOT_RGB]
    if lost:
        verdict, (summary, steps, actions) = "image_lost", _image_lost(language, lost, len(results))
    elif not_rgb:
        verdict, (summary, steps, actions) = "not_rgb", _not_rgb(language, not_rgb, store)
    elif unstable:
        verdict, (summary, steps, actions) = (
            "platform_unstable",
            _unstable(language, platform, failures, sellers),
        )
    else:
        verdict, (summary, steps, actions) = "all_fine", _all_fine(language, len(results))
    return Diagnosis(
        flow=FLOW,
        verdict=verdict,
        summary=summary,
        language=language,
        findings=findings,
        images=[result.to_evidence() for result in results],
        next_steps=steps,
        actions=actions,
        store=store.name if store else None,
        sku=product.sku if product else None,
    )


def _describe(language: Language, result: ImageCheckResult) -> str:
    if result.verdict in _NOT_RGB:
        return say(
            language,
            f"opens, but its colour mode is {result.mode}, not RGB: the platform cannot parse it",
            f"可以打开，但颜色模式是 {result.mode}，不是 RGB：平台无法解析",
        )
    return describe(language, result)


def _status(result: ImageCheckResult) -> CheckStatus:
    return CheckStatus.PROBLEM if result.verdict in _LOST | _NOT_RGB else CheckStatus.OK


def _failures_finding(language: Language, platform: str, failures: int, sellers: int) -> Finding:
    unstable = failures >= UNSTABLE_MIN_FAILURES and sellers >= UNSTABLE_MIN_SELLERS
    return Finding(
        check=say(language, f"Recent publishes on {platform.title()}", f"{platform.title()} 近期的发布"),
        result=say(
            language,
            f"{_count(failures, 'failed publish', 'failed publishes')} from "
            f"{_count(sellers, 'seller', 'sellers')} in the last hour",
            f"最近一小时内有 {sellers} 个卖家的 {failures} 次发布失败",
        ),
        status=CheckStatus.PROBLEM if unstable else CheckStatus.OK,
    )


def _image_lost(language: Language, lost: Sequence[ImageCheckResult], total: int) -> _Answer:
    names = ", ".join(picture_name(r.url) for r in lost)
    return (
        say(
            language,
            f"{len(lost)} of the product's {total} pictures {'is' if len(lost) == 1 else 'are'} lost or "
            "cannot be opened, so the platform rejects the publish.",
            f"该商品的 {total} 张图片中有 {len(lost)} 张已丢失或无法打开，因此平台拒绝了发布。",
        ),
        [
            say(
                language,
                f"On the product edit page, delete the broken picture ({names}) and upload it again, "
                "then publish again.",
                f"请在商品编辑页面删除损坏的图片（{names}）并重新上传，然后重新发布。",
            ),
        ],
        [],
    )


def _not_rgb(language: Language, not_rgb: Sequence[ImageCheckResult], store: Store | None = None) -> _Answer:
    modes = ", ".join(sorted({r.mode or "?" for r in not_rgb}))
    # The store goes along so the conversion's audit row can name it.
    store_id = str(store.id) if store is not None and store.id else None
    actions = [convert_action(language, r.url, store_id=store_id) for r in not_rgb[:MAX_CONVERT_ACTIONS]]
    return (
        say(
            language,
            f"{_count(len(not_rgb), 'picture is', 'pictures are')} not RGB ({modes}); "
            f"the platform cannot parse {'it' if len(not_rgb) == 1 else 'them'}.",
            f"有 {len(not_rgb)} 张图片不是 RGB 模式（{modes}），平台无法解析。",
        ),
        [
            say(
                language,
                'Use the RGB version I can make for you (choose "Convert to RGB"), replace the picture on '
                "the product edit page, and publish again.",
                "可以使用我为您转换好的 RGB 图片（选择“转换为 RGB”），在商品编辑页面替换该图片后重新发布。",
            ),
            say(
                language,
                "In an image editor: Image -> Mode -> RGB colour, then save as JPEG.",
                "也可以在图片编辑软件中：图像 -> 模式 -> RGB 颜色，然后另存为 JPEG。",
            ),
        ],
        actions,
    )


def _unstable(language: Language, platform: str, failures: int, sellers: int) -> _Answer:
    return (
        say(
            language,
            f"Your pictures are fine; {platform.title()}'s interface looks unstable right now "
            f"({failures} failed publishes from {sellers} sellers in the last hour).",
            f"您的图片没有问题；{platform.title()} 的接口目前不稳定（最近一小时内 {sellers} 个卖家"
            f"共 {failures} 次发布失败）。",
        ),
        [
            say(
                language,
                "Save the product and resubmit it later (in an hour or so); nothing needs changing.",
                "请先保存商品，稍后（约一小时后）再重新提交，无需修改任何内容。",
            )
        ],
        [],
    )


def _all_fine(language: Language, total: int) -> _Answer:
    return (
        say(
            language,
            f"{'All ' + str(total) + ' pictures open' if total > 1 else 'The picture opens'} and "
            f"{'are' if total > 1 else 'is'} RGB, and the platform is not failing for many sellers.",
            f"这 {total} 张图片都能打开且为 RGB 模式，平台也没有大范围发布失败。",
        ),
        [
            say(
                language,
                "Publish again; if the error comes back, send me the exact error message "
                "or talk to a person.",
                "请重新发布；如果仍然报错，请把具体的错误信息发给我，或联系人工客服。",
            )
        ],
        [Action(ActionKind.TALK_TO_PERSON, say(language, "Talk to a person", "联系人工客服"))],
    )


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"
