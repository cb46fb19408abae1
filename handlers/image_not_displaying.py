"""The `image_not_displaying` flow: fetch each picture from here and say why it does not show.

If the picture loads fine from here, the seller's own network is the problem; if it cannot be
fetched or is not a picture, it has to be added again; if it is truncated (the "split" display),
the original has to be uploaded again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from erp.models import Product, ProductState, Store
from handlers.diagnosis import (
    Action,
    ActionKind,
    CheckStatus,
    DetailRequest,
    Diagnosis,
    Finding,
    HandlerResult,
    Language,
)
from handlers.image_check import ImageCheckResult, ImageVerdict
from handlers.services import Services
from handlers.sku_lookup import first_sku, products_with_sku, sku_choices_from_products, visible_stores
from handlers.text import say
from knowledge.glossary import word

if TYPE_CHECKING:
    from handlers.registry import FlowRequest

FLOW = "image_not_displaying"
MAX_CONVERT_ACTIONS = 3  # one button per picture to convert; more would crowd the answer
MAX_URLS = 20  # a product has at most a few pictures; more is a paste gone wrong

# The image check's verdicts, grouped as this flow explains them.
_UNREACHABLE = {ImageVerdict.UNREACHABLE, ImageVerdict.BLOCKED, ImageVerdict.TOO_LARGE}
_DAMAGED = {ImageVerdict.DAMAGED}
_NOT_IMAGE = {ImageVerdict.NOT_AN_IMAGE}
_NOT_RGB = {ImageVerdict.NOT_RGB, ImageVerdict.HAS_ALPHA}


def _detail(language: Language, result: ImageCheckResult) -> str:
    """What the check found beyond its verdict: its own words in English, the glossary's in Chinese
    (the check's detail is written in English for logs and `check-image`)."""
    if language == "zh":
        text = word("image_detail", str(result.verdict), language)
    else:
        text = result.detail
    return f" ({text})" if text else ""


def _why_not_opened(language: Language, result: ImageCheckResult) -> str:
    """Why a link cannot be opened, in a few words: the server's error status, a timeout, no answer.

    A server that answered 200 and then sent the picture too slowly (or broke off) did answer, but
    its status alone would read as if all were well: the words say what went wrong instead.
    """
    status = result.http_status
    if status and not 200 <= status < 300:
        return f"HTTP {status}"
    if result.timed_out:
        return say(language, "timed out", "超时")
    if status:
        return say(language, "the download did not finish", "下载未完成")
    return say(language, "no answer", "无响应")


def describe(language: Language, result: ImageCheckResult) -> str:
    """One line on what the check found for a URL."""
    verdict = result.verdict
    detail = _detail(language, result)
    if verdict in _UNREACHABLE:
        if verdict is ImageVerdict.BLOCKED:
            return say(language, f"cannot be fetched{detail}", f"无法获取{detail}")
        if verdict is ImageVerdict.TOO_LARGE:
            return say(language, f"too large to load{detail}", f"文件过大，无法加载{detail}")
        why = _why_not_opened(language, result)
        return say(language, f"cannot be opened: {why}", f"无法打开：{why}")
    if verdict in _DAMAGED:
        return say(language, "the file is damaged or cut off", "图片文件已损坏或不完整")
    if verdict in _NOT_IMAGE:
        kind = result.content_type or say(language, "something else", "其他内容")
        return say(language, f"not a picture: the link returns {kind}", f"不是图片：该链接返回的是 {kind}")
    size = f"{result.width}x{result.height}" if result.width and result.height else ""
    facts = f"{result.format} {size} {result.mode}".strip()
    if verdict in _NOT_RGB:
        return say(
            language,
            f"loads, but {facts}: not RGB, some browsers and platforms show it wrongly",
            f"可以加载，但 {facts}：不是 RGB，部分浏览器和平台会显示异常",
        )
    return say(language, f"loads fine: {facts}", f"可以正常加载：{facts}")


def _status(result: ImageCheckResult) -> CheckStatus:
    if result.verdict in _UNREACHABLE | _DAMAGED | _NOT_IMAGE:
        return CheckStatus.PROBLEM
    return CheckStatus.UNKNOWN if result.verdict in _NOT_RGB else CheckStatus.OK


def image_urls(
    request: FlowRequest, services: Services, flow: str
) -> tuple[list[str], Product | None, Store | None] | DetailRequest:
    """The URLs to check: the ones the seller gave, else the SKU's product pictures.

    Returns:
        `(urls, product, store)`, or a question when neither is given or the SKU is unknown.
    """
    language = request.language
    urls = [url.strip() for url in request.entities.urls if url.strip()][:MAX_URLS]
    sku = first_sku(request.entities.skus)
    with services.sessions() as session:
        stores = visible_stores(session, request.account_id)
        named = [s for s in stores if s.name.casefold() in {n.casefold() for n in request.entities.stores}]
        scope = named or stores
        product: Product | None = None
        store: Store | None = None
        if sku:
            products = products_with_sku(session, scope, sku)
            product = products[0] if products else None
            store = next((s for s in scope if product and s.id == product.store_id), None)
        if urls:
            return urls, product, store or (named[0] if len(named) == 1 else None)
        if product is not None and product.image_urls:
            return list(product.image_urls)[:MAX_URLS], product, store
        pictured = _products_with_pictures(session, scope)
        choices = sku_choices_from_products(pictured, scope)
    if sku and product is None:
        prompt = say(
            language,
            f"I can't find SKU {sku} in your stores. Send me the picture's link, or another SKU.",
            f"在您的店铺中找不到 SKU {sku}。请发给我图片链接，或其他 SKU。",
        )
    elif sku:
        prompt = say(
            language,
            f"SKU {sku} has no pictures in the software. Send me the picture's link.",
            f"SKU {sku} 在软件中没有图片。请发给我图片链接。",
        )
    else:
        prompt = say(
            language,
            "Which picture? Send me its link (or the product's SKU and I'll check all its pictures).",
            "请问是哪张图片？请发给我图片链接（或商品 SKU，我会检查它的所有图片）。",
        )
    return DetailRequest(flow=flow, detail="image_url", prompt=prompt, language=language, choices=choices)


def _products_with_pictures(session: Session, stores: Sequence[Store]) -> list[Product]:
    ids = [store.id for store in stores if store.id is not None]
    if not ids:
        return []
    statement = (
        select(Product)
        .where(col(Product.store_id).in_(ids), col(Product.state) == ProductState.VALID.value)
        .order_by(col(Product.created_at).desc(), col(Product.id).desc())
        .limit(30)
    )
    return [product for product in session.exec(statement) if product.image_urls]


def handle(request: FlowRequest, services: Services) -> HandlerResult:
    """Fetch every picture from the server and explain why it does not display."""
    language = request.language
    found = image_urls(request, services, FLOW)
    if isinstance(found, DetailRequest):
        return found
    urls, product, store = found
    results = services.images.check_many(urls)
    findings = [
        Finding(check=result.url, result=describe(language, result), status=_status(result))
        for result in results
    ]
    images = [result.to_evidence() for result in results]
    verdict, summary, steps = _conclude(language, results)
    convertible = [r for r in results if r.verdict in _NOT_RGB] if verdict == "loads_fine" else []
    actions = [convert_action(language, r.url) for r in convertible[:MAX_CONVERT_ACTIONS]]
    return Diagnosis(
        flow=FLOW,
        verdict=verdict,
        summary=summary,
        language=language,
        findings=findings,
        images=images,
        next_steps=steps,
        actions=actions,
        store=store.name if store else None,
        sku=product.sku if product else None,
    )


def picture_name(url: str) -> str:
    """The picture's file name, for a button label."""
    return url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0][:40] or url[:40]


def convert_action(language: Language, url: str, *, store_id: str | None = None) -> Action:
    """The "convert to RGB" option for one picture (with its store, which the audit row names)."""
    name = picture_name(url)
    return Action(
        kind=ActionKind.CONVERT_RGB,
        label=say(language, f"Convert to RGB: {name}", f"转换为 RGB：{name}"),
        params={"url": url, **({"store_id": store_id} if store_id else {})},
    )


def _which(count: int, total: int, noun: str) -> str:
    """ "The picture" for a single one, "2 of 3 pictures" otherwise."""
    return f"The {noun}" if total == 1 else f"{count} of {total} {noun}s"


def _which_zh(count: int, total: int, measure: str) -> str:
    return f"这{measure}" if total == 1 else f"{total} {measure}中有 {count} {measure[0]}"


def _conclude(language: Language, results: Sequence[ImageCheckResult]) -> tuple[str, str, list[str]]:
    # The worst finding decides: a picture that cannot be fetched explains more than one that loads.
    unreachable = [r for r in results if r.verdict in _UNREACHABLE]
    not_image = [r for r in results if r.verdict in _NOT_IMAGE]
    damaged = [r for r in results if r.verdict in _DAMAGED]
    total = len(results)
    if unreachable:
        return (
            "unreachable",
            say(
                language,
                f"{_which(len(unreachable), total, 'picture')} cannot be opened from here, so "
                f"{'it' if len(unreachable) == 1 else 'they'} cannot display anywhere.",
                f"{_which_zh(len(unreachable), total, '张图片')}从这里无法打开，因此在任何地方都无法显示。",
            ),
            [
                say(
                    language,
                    "Add the picture again: upload it on the product edit page (or use a link that opens "
                    "in a browser), then save.",
                    "请重新添加图片：在商品编辑页面重新上传（或使用能在浏览器中打开的链接），然后保存。",
                )
            ],
        )
    if not_image:
        return (
            "not_an_image",
            say(
                language,
                f"{_which(len(not_image), total, 'link')} {'does' if len(not_image) == 1 else 'do'} not "
                "point to a picture (it returns a web page).",
                f"{_which_zh(len(not_image), total, '个链接')}指向的不是图片（返回的是网页）。",
            ),
            [
                say(
                    language,
                    "Add the picture again with a direct link to the image file (it ends in .jpg or "
                    ".png and shows only the picture in a browser), or upload the file itself.",
                    "请使用图片文件的直接链接（以 .jpg 或 .png 结尾，在浏览器中只显示图片）重新添加，"
                    "或直接上传图片文件。",
                )
            ],
        )
    if damaged:
        return (
            "damaged",
            say(
                language,
                f"{_which(len(damaged), total, 'picture')} {'is' if len(damaged) == 1 else 'are'} "
                'damaged or cut off: that is the "split" display.',
                f"{_which_zh(len(damaged), total, '张图片')}已损坏或不完整：这就是图片显示“裂开”的原因。",
            ),
            [
                say(
                    language,
                    "Upload the original picture again (not a copy saved from the web page).",
                    "请重新上传原始图片（不要使用从网页另存的副本）。",
                )
            ],
        )
    not_rgb = [r for r in results if r.verdict in _NOT_RGB]
    if not_rgb:
        # It loads, so the network is not the first suspect: a CMYK (or transparent) picture is
        # what some browsers and every strict platform show wrongly.
        modes = ", ".join(sorted({r.mode or "?" for r in not_rgb}))
        return (
            "loads_fine",
            say(
                language,
                f"{_which(len(not_rgb), total, 'picture')} {'loads' if len(not_rgb) == 1 else 'load'} "
                f"from here but {'is' if len(not_rgb) == 1 else 'are'} {modes}, not RGB: some browsers "
                "and platforms show such pictures wrongly.",
                f"{_which_zh(len(not_rgb), total, '张图片')}从这里可以加载，但颜色模式是 {modes}，不是 RGB："
                "部分浏览器和平台会显示异常。",
            ),
            [
                say(
                    language,
                    "Convert it to RGB (I can do it: choose the option below), replace the picture on "
                    "the product edit page and save.",
                    "请转换为 RGB（我可以帮您转换：选择下面的选项），在商品编辑页面替换图片后保存。",
                )
            ],
        )
    return (
        "loads_fine",
        say(
            language,
            f"{'The picture loads' if total == 1 else f'All {total} pictures load'} fine from here, "
            "so the problem is on your side of the network.",
            f"{'这张图片' if total == 1 else f'这 {total} 张图片'}从这里都能正常加载，问题出在您这边的网络。",
        ),
        [
            say(
                language,
                "Open the picture's link in another browser or on another network (e.g. your phone's "
                "data); if it opens there, your network or proxy is blocking it.",
                "请在其他浏览器或其他网络（例如手机流量）中打开图片链接；如果能打开，说明是您的网络或代理拦截了它。",
            ),
            say(
                language,
                "Clear the browser cache and reload the page.",
                "清除浏览器缓存后重新加载页面。",
            ),
        ],
    )
