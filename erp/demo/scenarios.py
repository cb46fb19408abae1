"""What the demo can show: its account and store names and every scenario to try."""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

DEMO_ACCOUNT = "demo"
NEIGHBOUR_ACCOUNT = "neighbour"
CONSOLE_TEAM = "console"  # the console speaks as Slack identity (team "console", user NAME)
CONSOLE_USER = "demo"
AMAZON_US = "Amazon US"
SHOPEE_MY = "Shopee MY"
AMAZON_DE = "Amazon DE"
NEIGHBOUR_STORE = "Shopee SG"
CDN_PLACEHOLDER = "{cdn}"  # the demo image host's base URL in stored picture links and scenarios
# How old the imported reports are: older than the newest price approval (5 h) for the
# "report behind" verdicts, newer than the oldest (2 days) for "still wrong".
REPORT_AGE = timedelta(hours=10)
STALE_REPORT_AGE = timedelta(days=5)
ORDER_WATERMARK_AGE = timedelta(hours=6)


class DemoScenario(NamedTuple):
    """What a seller types to reach one verdict of one flow in the demo."""

    flow: str
    verdict: str
    question: str  # English; picture links carry the `{cdn}` placeholder

    @property
    def text(self) -> str:
        return self.question


class ScenarioTable(list[DemoScenario]):
    """The scenarios in order; also readable as a mapping (flow, verdict) -> scenario."""

    def items(self) -> list[tuple[tuple[str, str], DemoScenario]]:
        """((flow, verdict), scenario) pairs, in order (a verdict reached two ways appears twice)."""
        return [((scenario.flow, scenario.verdict), scenario) for scenario in self]

    def for_verdict(self, flow: str, verdict: str) -> list[DemoScenario]:
        return [scenario for scenario in self if (scenario.flow, scenario.verdict) == (flow, verdict)]


DEMO_SCENARIOS = ScenarioTable(
    [
        DemoScenario(
            "price_not_updated",
            "not_submitted",
            "I changed the price of DEMO-PRICE-DRAFT but it did not update",
        ),
        DemoScenario(
            "price_not_updated", "awaiting_approval", "The new price of DEMO-PRICE-PENDING is not showing"
        ),
        DemoScenario("price_not_updated", "rejected", "Why is the price of DEMO-PRICE-REJECTED not updated?"),
        DemoScenario(
            "price_not_updated",
            "waiting_for_report",
            "I changed the price of DEMO-PRICE-WAIT, it still shows the old one",
        ),
        DemoScenario(
            "price_not_updated",
            "live_report_behind",
            "The price change of DEMO-PRICE-LIVE does not show in the system",
        ),
        DemoScenario(
            "price_not_updated", "updated", "The new price of DEMO-PRICE-DONE does not show in the software"
        ),
        DemoScenario(
            "price_not_updated",
            "still_wrong",
            "The price of DEMO-PRICE-STUCK still has not updated after two days",
        ),
        DemoScenario(
            "upload_sku_missing", "present", "DEMO-UP-OK was uploaded but I can't find its upload record"
        ),
        DemoScenario(
            "upload_sku_missing",
            "hidden_by_filter",
            "DEMO-UP-FAILED has no record on the product upload page",
        ),
        DemoScenario(
            "upload_sku_missing", "deleted", "I uploaded DEMO-UP-DELETED but there is no upload record"
        ),
        DemoScenario("upload_sku_missing", "changed", "DEMO-UP-OLD has no record on the upload page"),
        DemoScenario(
            "upload_sku_missing",
            "not_in_product_list",
            "DEMO-UP-MISSING was uploaded but the upload page has no record of it",
        ),
        DemoScenario(
            "image_grab", "eligible_tonight", "When will the pictures of DEMO-IMG-NOPIC be grabbed?"
        ),
        DemoScenario("image_grab", "eligible_tonight", "Will the images of DEMO-IMG-EDITED be captured?"),
        DemoScenario(
            "image_grab", "eligible_tonight", "When are the product images of DEMO-IMG-SELLING captured?"
        ),
        DemoScenario("image_grab", "not_eligible", "Why are the pictures of DEMO-IMG-STOPPED not grabbed?"),
        DemoScenario("image_grab", "grabbed", "Were the images of DEMO-IMG-DONE grabbed?"),
        DemoScenario("image_grab", "last_grab_failed", "When will the images of DEMO-IMG-FAIL be grabbed?"),
        # A fresh report (which any product question may request) brings DEMO-REP-NEW in: ask first.
        DemoScenario(
            "product_sku_missing",
            "in_newer_report",
            "Why is there no record of DEMO-REP-NEW on the product page?",
        ),
        DemoScenario("product_sku_missing", "present", "The product page has no record of DEMO-REP-OK"),
        DemoScenario(
            "product_sku_missing", "omitted_by_platform", "DEMO-REP-OMIT is missing from the product page"
        ),
        DemoScenario("product_sku_missing", "reports_stale", "The product page has no record of DEMO-DE-1"),
        DemoScenario("orders_not_synced", "synced", "Order 112-0000001-0000001 did not sync"),
        DemoScenario(
            "orders_not_synced",
            "other_status",
            "Order 112-0000002-0000002 is not in my orders, it did not synchronize",
        ),
        DemoScenario("orders_not_synced", "on_platform_not_synced", "Order 112-0000003-0000003 did not sync"),
        DemoScenario(
            "orders_not_synced", "not_on_platform", "Order 112-9999999-9999999 from Amazon US did not sync"
        ),
        DemoScenario("orders_not_synced", "sync_failed", "Orders from Amazon DE did not sync"),
        DemoScenario("orders_not_synced", "synced", "Shopee order 2611260ABCDEF1 did not sync"),
        DemoScenario("image_not_displaying", "loads_fine", "The picture {cdn}/img/ok.jpg does not display"),
        DemoScenario(
            "image_not_displaying", "unreachable", "The picture {cdn}/img/missing.jpg does not show"
        ),
        DemoScenario("image_not_displaying", "damaged", "The picture {cdn}/img/split.jpg displays split"),
        DemoScenario(
            "image_not_displaying", "not_an_image", "The picture {cdn}/img/page.html does not display"
        ),
        DemoScenario("publish_image_error", "not_rgb", "Publishing DEMO-PUB-CMYK says the picture is wrong"),
        DemoScenario(
            "publish_image_error", "image_lost", "Publishing DEMO-PUB-LOST fails with a picture error"
        ),
        DemoScenario(
            "publish_image_error", "platform_unstable", "Publishing DEMO-PUB-FLAKY reports a wrong picture"
        ),
        DemoScenario("publish_image_error", "all_fine", "Publishing DEMO-PUB-OK reported a picture error"),
        DemoScenario("delete_store_data", "explained", "How do I delete the data of store Shopee MY?"),
    ]
)

# The same questions in Chinese, by the English question: the `demo` command lists both.
DEMO_QUESTIONS_ZH: dict[str, str] = {
    "I changed the price of DEMO-PRICE-DRAFT but it did not update": (
        "我修改了 DEMO-PRICE-DRAFT 的价格，但是没有更新"
    ),
    "The new price of DEMO-PRICE-PENDING is not showing": "DEMO-PRICE-PENDING 的新价格没有显示",
    "Why is the price of DEMO-PRICE-REJECTED not updated?": "为什么 DEMO-PRICE-REJECTED 的价格没有更新？",
    "I changed the price of DEMO-PRICE-WAIT, it still shows the old one": (
        "我改了 DEMO-PRICE-WAIT 的价格，还是显示旧价格"
    ),
    "The price change of DEMO-PRICE-LIVE does not show in the system": (
        "DEMO-PRICE-LIVE 改价后系统里没有显示新价格"
    ),
    "The new price of DEMO-PRICE-DONE does not show in the software": (
        "DEMO-PRICE-DONE 的新价格在软件里没有显示"
    ),
    "The price of DEMO-PRICE-STUCK still has not updated after two days": (
        "DEMO-PRICE-STUCK 的价格两天了还没有更新"
    ),
    "DEMO-UP-OK was uploaded but I can't find its upload record": "DEMO-UP-OK 已经上传了，但是找不到上传记录",
    "DEMO-UP-FAILED has no record on the product upload page": "DEMO-UP-FAILED 在产品上传页面没有记录",
    "I uploaded DEMO-UP-DELETED but there is no upload record": "我上传了 DEMO-UP-DELETED，但是没有上传记录",
    "DEMO-UP-OLD has no record on the upload page": "DEMO-UP-OLD 在上传页面没有记录",
    "DEMO-UP-MISSING was uploaded but the upload page has no record of it": (
        "DEMO-UP-MISSING 上传了，但上传页面没有它的记录"
    ),
    "When will the pictures of DEMO-IMG-NOPIC be grabbed?": "DEMO-IMG-NOPIC 的图片什么时候抓取？",
    "Will the images of DEMO-IMG-EDITED be captured?": "DEMO-IMG-EDITED 的图片会被抓取吗？",
    "When are the product images of DEMO-IMG-SELLING captured?": "DEMO-IMG-SELLING 的产品图片什么时候抓取？",
    "Why are the pictures of DEMO-IMG-STOPPED not grabbed?": "为什么 DEMO-IMG-STOPPED 的图片没有被抓取？",
    "Were the images of DEMO-IMG-DONE grabbed?": "DEMO-IMG-DONE 的图片抓取了吗？",
    "When will the images of DEMO-IMG-FAIL be grabbed?": "DEMO-IMG-FAIL 的图片什么时候抓取？",
    "The product page has no record of DEMO-REP-OK": "产品页面没有 DEMO-REP-OK 的记录",
    "DEMO-REP-OMIT is missing from the product page": "产品页面上缺少 DEMO-REP-OMIT",
    "Why is there no record of DEMO-REP-NEW on the product page?": "为什么产品页面没有 DEMO-REP-NEW 的记录？",
    "The product page has no record of DEMO-DE-1": "产品页面没有 DEMO-DE-1 的记录",
    "Order 112-0000001-0000001 did not sync": "订单 112-0000001-0000001 没有同步",
    "Order 112-0000002-0000002 is not in my orders, it did not synchronize": (
        "订单 112-0000002-0000002 不在我的订单里，没有同步过来"
    ),
    "Order 112-0000003-0000003 did not sync": "订单 112-0000003-0000003 没有同步",
    "Order 112-9999999-9999999 from Amazon US did not sync": "Amazon US 的订单 112-9999999-9999999 没有同步",
    "Orders from Amazon DE did not sync": "Amazon DE 的订单没有同步",
    "Shopee order 2611260ABCDEF1 did not sync": "Shopee 订单 2611260ABCDEF1 没有同步",
    "The picture {cdn}/img/ok.jpg does not display": "图片 {cdn}/img/ok.jpg 显示不出来",
    "The picture {cdn}/img/missing.jpg does not show": "图片 {cdn}/img/missing.jpg 显示不了",
    "The picture {cdn}/img/split.jpg displays split": "图片 {cdn}/img/split.jpg 显示裂开了",
    "The picture {cdn}/img/page.html does not display": "图片 {cdn}/img/page.html 显示不出来",
    "Publishing DEMO-PUB-CMYK says the picture is wrong": "刊登 DEMO-PUB-CMYK 时提示图片错误",
    "Publishing DEMO-PUB-LOST fails with a picture error": "刊登 DEMO-PUB-LOST 失败，提示图片错误",
    "Publishing DEMO-PUB-FLAKY reports a wrong picture": "刊登 DEMO-PUB-FLAKY 提示图片有误",
    "Publishing DEMO-PUB-OK reported a picture error": "刊登 DEMO-PUB-OK 时报了图片错误",
    "How do I delete the data of store Shopee MY?": "怎么删除店铺 Shopee MY 的数据？",
}


def question_zh(scenario: DemoScenario) -> str:
    """The Chinese question of a scenario."""
    return DEMO_QUESTIONS_ZH.get(scenario.question, scenario.question)


def scenario_text(text: str, cdn_url: str) -> str:
    """A scenario's question with the demo image host's address filled in."""
    return text.replace(CDN_PLACEHOLDER, cdn_url.rstrip("/"))
