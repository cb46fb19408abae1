"""Listings reports as Amazon writes them in each marketplace's language, and their charsets.

The header rows below are spelled as real reports spell them (public SP-API clients and issue
threads quote them; the Chinese row is a whole real header). Each test builds its report here: a
fresh clone has no copy of a real one.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from erp.jobs.report_import import ReportRefresher, import_report_stream
from erp.jobs.report_parse import ReportFormatError, ReportParser, charset_of
from erp.models import Store
from erp.platforms.registry import ConnectorRegistry
from erp.platforms.reportformat import LISTINGS_COLUMNS
from erp.sandbox.amazon import AmazonSandbox, AmazonSandboxData
from erp.sandbox.records import SandboxListing
from tests.test_report_import import connectors, rows_of, sandbox_store, sessions, store  # noqa: F401

# A real Chinese header row of GET_MERCHANT_LISTINGS_ALL_DATA: 29 columns in Amazon's order, the
# columns a Chinese account has no use for named 不适用项目 ("not applicable").
CHINESE_HEADER = (
    "商品名称\t商品描述\t商品编码\t卖家 SKU\t价格\t数量\t开售日期\t不适用项目\t是否为商城中的商品\t"
    "商品编码类型\t不适用项目\t商品备注\t商品状况\t不适用项目\t不适用项目\t不适用项目\tASIN1\t"
    "不适用项目\t不适用项目\t国际配送\t加急配送\t不适用项目\t商品编码\t不适用项目\t添加-删除\t"
    "等待购买数量\t配送渠道\t卖家配送组\t状态"
).split("\t")

# amazon.co.jp's own column order, which differs from the English one (SKU and ASIN first).
JAPANESE_HEADER = [
    "出品者SKU",
    "ASIN 1",
    "商品名",
    "商品の説明",
    "出品ID",
    "価格",
    "数量",
    "出品日",
    "商品IDタイプ",
    "コンディション説明",
    "コンディション",
    "国外へ配送可",
    "迅速な配送",
    "商品ID",
    "在庫数",
    "フルフィルメント・チャンネル",
    "merchant-shipping-group",
    "ステータス",
]

# The other marketplaces keep Amazon's English column order with their own names for the
# columns the bot reads: seller-sku, item-name, price, quantity, open-date, asin1,
# fulfillment-channel, status (English where a language keeps it).
_NAMES = (
    "seller-sku",
    "item-name",
    "price",
    "quantity",
    "open-date",
    "asin1",
    "fulfillment-channel",
    "status",
)
LOCALIZED = {
    "de": (
        "Händler-SKU",
        "Artikelbezeichnung",
        "Preis",
        "Menge",
        "Erstellungsdatum",
        "ASIN 1",
        "Versender",
        "Status",
    ),
    "fr": (
        "sku-vendeur",
        "nom-produit",
        "prix",
        "quantité",
        "date-ouverture",
        "asin1",
        "canal-traitement",
        "état",
    ),
    "it": (
        "SKU venditore",
        "Nome dell'articolo",
        "Prezzo",
        "Quantità",
        "Data di creazione",
        "ASIN 1",
        "Canale di gestione",
        "stato",
    ),
    "es": (
        "SKU del vendedor",
        "Título del producto",
        "Precio",
        "Cantidad",
        "Fecha de creación",
        "asin1",
        "Canal de gestión logística",
        "estado",
    ),
    "pl": (
        "sku-sprzedawcy",
        "nazwa-produktu",
        "cena",
        "ilość",
        "data-otwarcia",
        "asin1",
        "kanał-realizacji",
        "status",
    ),
    "tr": (
        "seller-sku (satıcı sku)",
        "item-name (ürün adı)",
        "price (fiyat)",
        "quantity (adet)",
        "open-date (yayınlanma tarihi)",
        "asin1",
        "fulfillment-channel (dağıtım kanalı)",
        "durum",
    ),
    "ar": ("sku-البائع", "اسم-المنتج", "السعر", "الكمية", "تاريخ-مفتوح", "asin1", "قناة-الشحن", "الحالة"),
    "en-GB": (
        "seller-sku",
        "item-name",
        "price",
        "quantity",
        "open-date",
        "asin1",
        "fulfilment-channel",
        "status",
    ),
}

ROW = {
    "seller-sku": "MUG-1",
    "item-name": "Kaffeebecher 350 ml",
    "price": "12,50",
    "quantity": "4",
    "open-date": "02/05/2020 05:18:00 MEST",
    "asin1": "B0MUG00001",
    "fulfillment-channel": "AMAZON_EU",
    "status": "Active",
    "pending-quantity": "99",
}


def _report(header: list[str], english_of: dict[str, str]) -> bytes:
    """A two-row report under `header`; `english_of` names each localized column in English."""
    cells = [ROW.get(english_of.get(name, ""), "") for name in header]
    second = [
        ("MUG-2" if english_of.get(n) == "seller-sku" else c) for n, c in zip(header, cells, strict=True)
    ]
    return ("\t".join(header) + "\n" + "\t".join(cells) + "\n" + "\t".join(second) + "\n").encode("utf-8")


def _parse(data: bytes, **kwargs: str) -> list[tuple[object, ...]]:
    parser = ReportParser("listings", **kwargs)
    return [tuple(row) for row in parser.rows(data[i : i + 5] for i in range(0, len(data), 5))]


EXPECTED = (
    "MUG-1",
    "B0MUG00001",
    "Kaffeebecher 350 ml",
    "12.50",
    4,
    "Active",
    "AMAZON_EU",
    datetime(2020, 5, 2, 3, 18, tzinfo=UTC),
)


@pytest.mark.parametrize("language", sorted(LOCALIZED))
def test_localized_listings_headers_are_read(language: str) -> None:
    names = LOCALIZED[language]
    header = [dict(zip(_NAMES, names, strict=True)).get(column, column) for column in LISTINGS_COLUMNS]

    rows = _parse(_report(header, dict(zip(names, _NAMES, strict=True))))

    assert rows[0] == EXPECTED
    assert [row[0] for row in rows] == ["MUG-1", "MUG-2"]


def test_chinese_listings_report_with_a_real_header_row() -> None:
    english = dict(zip(CHINESE_HEADER, LISTINGS_COLUMNS, strict=True))
    english.update({"商品名称": "item-name", "卖家 SKU": "seller-sku", "ASIN1": "asin1"})
    # The Chinese row names two columns 商品编码 (listing id and product id): first one wins.
    data = _report(CHINESE_HEADER, {k: v for k, v in english.items() if v in ROW})

    assert _parse(data)[0] == EXPECTED


def test_japanese_listings_report_in_its_own_column_order() -> None:
    english = {
        "出品者SKU": "seller-sku",
        "ASIN 1": "asin1",
        "商品名": "item-name",
        "価格": "price",
        "数量": "quantity",
        "出品日": "open-date",
        "フルフィルメント・チャンネル": "fulfillment-channel",
        "ステータス": "status",
    }
    # 在庫数 is pending-quantity there: it must not be read as the quantity.
    data = _report(JAPANESE_HEADER, english | {"在庫数": "pending-quantity"})

    assert _parse(data)[0] == EXPECTED


def test_a_header_in_an_unknown_language_is_named_in_the_error() -> None:
    with pytest.raises(ReportFormatError, match="no 'seller-sku' or 'sku' column .*columns found: artikel"):
        _parse(b"Artikel\tPrijs\nMUG-1\t12\n")


# -- charsets ------------------------------------------------------------------------------------

JAPANESE_REPORT = (
    "\t".join(JAPANESE_HEADER)
    + "\n"
    + "\t".join(
        {"出品者SKU": "JP-1", "商品名": "テスト商品 ①", "価格": "1980", "数量": "3"}.get(name, "")
        for name in JAPANESE_HEADER
    )
    + "\n"
)


@pytest.mark.parametrize("label", ["Shift_JIS", "windows-31j", "SJIS", "cp932"])
def test_declared_shift_jis_is_read_as_cp932(label: str) -> None:
    rows = _parse(JAPANESE_REPORT.encode("cp932"), encoding=label)

    assert rows[0][:5] == ("JP-1", "", "テスト商品 ①", "1980", 3)


def test_content_type_charset_of_the_stream_decides() -> None:
    class Download:
        """A document stream whose Content-Type is known once the first chunk arrived."""

        def __init__(self, data: bytes) -> None:
            self.content_type: str | None = None
            self._chunks = iter([data[:7], data[7:]])

        def __iter__(self) -> Iterator[bytes]:
            return self

        def __next__(self) -> bytes:
            chunk = next(self._chunks)
            self.content_type = "text/plain;charset=Shift_JIS"
            return chunk

    rows = list(ReportParser("listings").rows(Download(JAPANESE_REPORT.encode("cp932"))))

    assert rows[0].title == "テスト商品 ①"


def test_undeclared_shift_jis_file_is_recognised() -> None:
    # A seller's own download from amazon.co.jp: no Content-Type, neither UTF-8 nor Cp1252.
    parser = ReportParser("listings")
    rows = list(parser.rows([JAPANESE_REPORT.encode("cp932")]))

    assert rows[0].title == "テスト商品 ①"
    assert parser.stats.encoding == "cp932"


def test_undeclared_shift_jis_file_with_an_english_header_is_recognised() -> None:
    # "テスト" alone is valid Cp1252 too (ƒeƒXƒg): the kana tell.
    data = "seller-sku\titem-name\nJP-2\tテスト\n".encode("cp932")
    parser = ReportParser("listings")

    assert next(parser.rows([data])).title == "テスト"
    assert parser.stats.encoding == "cp932"


def test_undeclared_cp1252_file_stays_cp1252() -> None:
    title = "K\u00fchler f\u00fcr Gl\u00e4ser \u20ac, Gr\u00f6\u00dfe \u00e4u\u00dferst"
    data = f"seller-sku\titem-name\nMUG-1\t{title}\n".encode("cp1252")
    parser = ReportParser("listings")

    assert next(parser.rows([data])).title == title
    assert parser.stats.encoding == "cp1252"


@pytest.mark.parametrize(
    ("header", "charset"),
    [
        ("text/plain;charset=Cp1252", "Cp1252"),
        ('text/tab-separated-values; charset="Shift_JIS"', "Shift_JIS"),
        ("application/octet-stream", None),
        (None, None),
    ],
)
def test_charset_of_content_type(header: str | None, charset: str | None) -> None:
    assert charset_of(header) == charset


@pytest.fixture
def amazon_jp() -> Iterator[AmazonSandbox]:
    # Documents as amazon.co.jp serves them: Shift_JIS, said so in the download's Content-Type.
    sandbox = AmazonSandbox(AmazonSandboxData(report_encoding="cp932", report_charset="Shift_JIS"))
    sandbox.add_listings(SandboxListing("JP-1", "B0JP000001", "テスト商品", "1980", quantity=3))
    with sandbox:
        yield sandbox


def test_amazon_co_jp_listings_keep_their_japanese_titles(
    sessions: Callable[[], Session],  # noqa: F811
    session: Session,
    amazon_jp: AmazonSandbox,
    connectors: ConnectorRegistry,  # noqa: F811
) -> None:
    jp_store = sandbox_store(session, amazon_jp, name="Amazon JP")
    refresh = ReportRefresher(sessions, connectors.connector_for, first_poll=0.01, max_poll=0.05)

    report_id = refresh.refresh(jp_store.id or 0, "listings")

    with sessions() as check:
        assert rows_of(check, report_id or 0)["JP-1"].title == "テスト商品"
    # The request asked for English headers: the one locale every parser knows first.
    assert amazon_jp.requested_reports() == [
        ("GET_MERCHANT_LISTINGS_ALL_DATA", {"preferredReportDocumentLocale": "en_US"})
    ]


def test_gzip_chinese_report_imports(sessions: Callable[[], Session], store: Store) -> None:  # noqa: F811
    english = {"卖家 SKU": "seller-sku", "商品名称": "item-name", "价格": "price", "数量": "quantity"}
    data = gzip.compress(_report(CHINESE_HEADER, english))

    result = import_report_stream(sessions, store.id or 0, "listings", [data], source="file")

    with sessions() as check:
        row = rows_of(check, result.report_id)["MUG-1"]
        assert (row.title, row.price, row.quantity) == ("Kaffeebecher 350 ml", "12.50", 4)
