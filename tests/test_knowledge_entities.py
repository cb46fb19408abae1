"""Entity extraction: what a seller pasted into their question, found in any script."""

from __future__ import annotations

import pytest

from knowledge.entities import Entities, extract_entities, looks_like_sku, mask_entities, normalize_sku
from knowledge.language import detect_language

SELLER_SKUS = ["AB-1234-BLK", "2024SUMMER_TEE_L", "HX-220-RED", "KB-77-WHT", "TEE_BLACK_L"]
SELLER_STORES = ["Amazon US", "Shopee MY", "Amazon US 2", "深圳1号店"]


@pytest.mark.parametrize(
    ("text", "order_ids"),
    [
        ("order 113-4567890-1234567 is missing", ["113-4567890-1234567"]),
        ("订单号114-1234567-7654321搜不到", ["114-1234567-7654321"]),
        ("shopee 2611260ABCDEF1 missing", ["2611260ABCDEF1"]),
        ("虾皮订单240115ABC12345没同步", ["240115ABC12345"]),
        ("shopee sn 2611260abcdef1 missing", ["2611260ABCDEF1"]),
        ("order no. 12345678901234, and 9876543210", ["12345678901234", "9876543210"]),
        ("two: 113-4567890-1234567 / 113-4567890-1234567", ["113-4567890-1234567"]),
        # Too short, a price, a phone-like dash number, a bad month: not order ids.
        ("call 123456789 or 138-0013-8000, price 19.99, sn 2613990ABCDEF1", []),
    ],
)
def test_order_ids(text: str, order_ids: list[str]) -> None:
    assert extract_entities(text).order_ids == order_ids


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("see <https://img.example.com/a.jpg|this picture>", ["https://img.example.com/a.jpg"]),
        ("<https://img.example.com/b.png> won't load.", ["https://img.example.com/b.png"]),
        (
            "图片打不开 https://img.example.com/p/AB-1234-BLK.jpg，怎么办",
            ["https://img.example.com/p/AB-1234-BLK.jpg"],
        ),
        (
            "broken: https://cdn.example.com/x.jpg?w=800&h=800).",
            ["https://cdn.example.com/x.jpg?w=800&h=800"],
        ),
        ("(see https://en.wikipedia.org/wiki/Foo_(bar)).", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ("www.example.com/pic.jpg!", ["https://www.example.com/pic.jpg"]),
        (
            "two https://a.example/1.jpg, https://a.example/2.jpg",
            ["https://a.example/1.jpg", "https://a.example/2.jpg"],
        ),
        ("no link here: example dot com", []),
    ],
)
def test_urls_are_unwrapped_and_trimmed(text: str, urls: list[str]) -> None:
    assert extract_entities(text).urls == urls


def test_sku_inside_a_url_is_not_reported_as_a_sku() -> None:
    entities = extract_entities("https://img.example.com/p/AB-1234-BLK.jpg")
    assert entities.skus == []


@pytest.mark.parametrize(
    ("text", "skus"),
    [
        ("price not updated for SKU AB-1234-BLK", ["AB-1234-BLK"]),
        ("2024SUMMER_TEE_L 的价格改不了", ["2024SUMMER_TEE_L"]),
        ("sku是HX-220-RED的图片", ["HX-220-RED"]),
        ("TEE_BLACK_L and ZX-9001 missing", ["TEE_BLACK_L", "ZX-9001"]),
        # Words, numbers, times, sizes, hyphenated words and order ids are not SKUs.
        ("T-shirt 19.99 3pm 30天 7days 1080p covid-19 RGB CMYK 113-4567890-1234567", []),
    ],
)
def test_sku_shaped_tokens(text: str, skus: list[str]) -> None:
    assert extract_entities(text).skus == skus


@pytest.mark.parametrize(
    ("text", "skus"),
    [
        ("price of ab-1234-blk", ["AB-1234-BLK"]),  # case
        ("sku ab_1234_blk", ["AB-1234-BLK"]),  # separators
        ("AB 1234 BLK not showing", ["AB-1234-BLK"]),  # typed with spaces
        ("HX-22O-RED", ["HX-220-RED"]),  # letter O for zero
        ("HX-220-RDE and hx220red", ["HX-220-RED"]),  # a typo, then the same SKU again
        ("2024SUMER_TEE_L", ["2024SUMMER_TEE_L"]),  # a letter missing
        ("QQ-5555-ZZZ", ["QQ-5555-ZZZ"]),  # unknown: kept as typed
        ("kb-77-wht 和 tee_black_l", ["KB-77-WHT", "TEE_BLACK_L"]),
    ],
)
def test_known_skus_exact_and_near(text: str, skus: list[str]) -> None:
    assert extract_entities(text, known_skus=SELLER_SKUS).skus == skus


def test_a_plain_word_is_not_stretched_into_a_known_sku() -> None:
    assert extract_entities("the black tee is missing", known_skus=SELLER_SKUS).skus == []


@pytest.mark.parametrize(
    ("text", "stores"),
    [
        ("orders missing from amazon us store", ["Amazon US"]),
        ("AmazonUS orders", ["Amazon US"]),
        ("shopee-my 订单没同步", ["Shopee MY"]),
        ("深圳1号店的订单", ["深圳1号店"]),
        ("amazon us 2 and Amazon US", ["Amazon US 2", "Amazon US"]),
        ("status of my order", []),  # "us" inside a word is not the store
        ("amazon orders", []),
    ],
)
def test_stores_match_ignoring_case_and_spacing(text: str, stores: list[str]) -> None:
    assert extract_entities(text, known_stores=SELLER_STORES).stores == stores


def test_everything_at_once_in_order_of_appearance() -> None:
    text = (
        "Amazon US 订单 113-4567890-1234567 和 shopee 2611260ABCDEF1 没同步, sku hx-220-red, "
        "图片 <https://img.example.com/HX-220-RED.jpg|pic>"
    )
    assert extract_entities(text, known_skus=SELLER_SKUS, known_stores=SELLER_STORES) == Entities(
        skus=["HX-220-RED"],
        order_ids=["113-4567890-1234567", "2611260ABCDEF1"],
        urls=["https://img.example.com/HX-220-RED.jpg"],
        stores=["Amazon US"],
    )


@pytest.mark.parametrize("text", ["", "😀" * 50, "\x00\x01\x02\ufffd" * 100, "字" * 100_000, "a-" * 50_000])
def test_odd_input_never_raises(text: str) -> None:
    assert isinstance(extract_entities(text, known_skus=SELLER_SKUS, known_stores=SELLER_STORES), Entities)


def test_mask_replaces_each_entity_with_its_placeholder() -> None:
    masked = mask_entities(
        "AB-1234-BLK 改价 https://a.example/c.jpg 113-4567890-1234567",
        {"sku": "<S>", "url": "<U>", "order_id": "<O>"},
    )
    assert masked == "<S> 改价 <U> <O>"


def test_normalize_sku() -> None:
    assert normalize_sku(" ab_12O4-blk ") == normalize_sku("AB-1204-BLK") == "AB1204BLK"
    assert looks_like_sku("2024SUMMER_TEE_L")
    assert not looks_like_sku("3pm")
    assert not looks_like_sku("T-shirt")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("price not updated", "en"),
        ("改了价格怎么没变", "zh"),
        ("price没更新", "zh"),
        ("AB-1234-BLK 上传记录没有", "zh"),
        ("sku找不到", "zh"),
        ("The product 夏 is missing from the product page after the import last night", "en"),
        ("", "en"),
        ("😀😀", "en"),
        ("113-4567890-1234567", "en"),
        ("订", "zh"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language
