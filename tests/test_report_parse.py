"""Report parsing, on files shaped like the ones Amazon really hands sellers (written here).

The shape follows a real German "All Listings Report": 29 tab-separated columns named in a header
row, day-first dates with zone abbreviations (MEST, MET), an HTML entity and non-breaking spaces
in titles, Inactive rows (one with an empty quantity and channel AMAZON_EU), one ASIN under two
SKUs, and a trailing line of padding bytes left by the old report decryption. The other report
tests import the builders below.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from erp.jobs.report_parse import ParsedRow, ReportFormatError, ReportParser, parse_report_date
from erp.platforms.reportformat import LISTINGS_COLUMNS

# (title, sku, price, quantity, open-date, asin, channel, status)
LISTINGS = [
    (
        "Intel Core i7-2700K Prozessor Boxed\xa0(3,5GHz, 8MB\xa0Cache)",
        "0J-3QVQ-PCR5",
        "145",
        "6",
        "02/05/2020 05:18:00 MEST",
        "B005X64OA8",
        "DEFAULT",
        "Active",
    ),
    (
        "AMD FX 8350 Octa-Core Prozessor",
        "80-24HO-8GR0",
        "132.99",
        "8",
        "31/12/2019 02:52:56 MET",
        "B009O7YUF6",
        "DEFAULT",
        "Active",
    ),
    (
        "USB-Kondensator-Mikrofone von Fifine, f&uuml;r Gesang-Aufnahmen",
        "IO-197I-AHQC",
        "65",
        "10",
        "27/11/2020 21:52:18 MET",
        "B01N034RTC",
        "DEFAULT",
        "Active",
    ),
    (
        "multicomp PTC RESETTABLE Fuse, Pack of 5",
        "77-DM2C-P4XL",
        "4.99",
        "",
        "07/08/2020 12:51:31 MEST",
        "B07R7DF47M",
        "AMAZON_EU",
        "Inactive",
    ),
    (
        "multicomp PTC RESETTABLE Fuse, Pack of 5",
        "FJ-SGKW-RW17",
        "4.99",
        "0",
        "03/05/2020 22:05:44 MEST",
        "B07R7DF47M",
        "DEFAULT",
        "Inactive",
    ),
]

PADDING = b"\x10" * 16


def listings_row(
    title: str, sku: str, price: str, quantity: str, opened: str, asin: str, channel: str, status: str
) -> list[str]:
    """One row of all 29 columns, with the note in German as the real file has it."""
    cells = dict.fromkeys(LISTINGS_COLUMNS, "")
    cells.update(
        {
            "item-name": title,
            "listing-id": "0502XUAPBL9",
            "seller-sku": sku,
            "price": price,
            "quantity": quantity,
            "open-date": opened,
            "item-is-marketplace": "y",
            "product-id-type": "1",
            "item-note": "Gepr\u00fcft - top Zustand! Verkauft wird nur der Prozessor ohne K\u00fchler.",
            "item-condition": "1",
            "asin1": asin,
            "product-id": asin,
            "pending-quantity": "" if channel == "AMAZON_EU" else "0",
            "fulfillment-channel": channel,
            "merchant-shipping-group": "Standardvorlage Amazon",
            "status": status,
        }
    )
    return [cells[name] for name in LISTINGS_COLUMNS]


def listings_text(rows: list[tuple[str, ...]] | None = None, columns: list[str] | None = None) -> str:
    """A listings report as text, its columns in `columns` order (the real order by default)."""
    columns = columns or LISTINGS_COLUMNS
    lines = ["\t".join(columns)]
    for row in rows if rows is not None else LISTINGS:
        full = dict(zip(LISTINGS_COLUMNS, listings_row(*row), strict=True))
        lines.append("\t".join(full.get(name, "") for name in columns))
    return "\n".join(lines) + "\n"


def listings_bytes(encoding: str = "utf-8", *, padding: bool = True, bom: bool = False) -> bytes:
    """The listings report encoded as Amazon sends it (with the padding line by default)."""
    data = listings_text().encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    return data + (PADDING if padding else b"")


INVENTORY_COLUMNS = [
    "sku",
    "fnsku",
    "asin",
    "product-name",
    "condition",
    "your-price",
    "mfn-listing-exists",
    "mfn-fulfillable-quantity",
    "afn-listing-exists",
    "afn-warehouse-quantity",
    "afn-fulfillable-quantity",
    "afn-unsellable-quantity",
    "afn-reserved-quantity",
    "afn-total-quantity",
    "per-unit-volume",
]


def inventory_bytes() -> bytes:
    lines = [
        "\t".join(INVENTORY_COLUMNS),
        "\t".join(
            ["FBA-MUG-01", "X001ABCDEF", "B07MUG0001", "Kaffeebecher f&uuml;r Zwei", "New", "12.50"]
            + ["No", "", "Yes", "7", "5", "0", "2", "7", "0.12"]
        ),
        "\t".join(
            ["FBA-MUG-02", "X001ABCDEG", "B07MUG0002", "Teebecher", "New", "9.99"]
            + ["No", "", "Yes", "0", "", "0", "0", "0", "0.12"]
        ),
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def parse(data: bytes, kind: str = "listings", chunk: int = 7) -> tuple[list[ParsedRow], ReportParser]:
    """Parse `data` fed in small chunks, so lines and characters are cut across chunk edges."""
    parser = ReportParser(kind)
    return list(parser.rows(data[i : i + chunk] for i in range(0, len(data), chunk))), parser


def by_sku(rows: list[ParsedRow]) -> dict[str, ParsedRow]:
    return {row.sku: row for row in rows}


def test_real_shaped_listings_report_is_read_by_column_name() -> None:
    rows, parser = parse(listings_bytes())

    assert [row.sku for row in rows] == [row[1] for row in LISTINGS]
    first = by_sku(rows)["0J-3QVQ-PCR5"]
    assert first.title == "Intel Core i7-2700K Prozessor Boxed (3,5GHz, 8MB Cache)"  # no-break spaces gone
    assert first.asin == "B005X64OA8"
    assert first.price == "145"
    assert first.quantity == 6
    assert first.status == "Active"
    # 05:18 MEST (UTC+2) is 03:18 UTC
    assert first.opened_at == datetime(2020, 5, 2, 3, 18, 0, tzinfo=UTC)
    assert by_sku(rows)["80-24HO-8GR0"].opened_at == datetime(2019, 12, 31, 1, 52, 56, tzinfo=UTC)
    assert parser.stats.skipped == 1  # the padding line
    assert parser.stats.bad_dates == 0


def test_entities_empty_quantities_and_inactive_rows() -> None:
    rows = by_sku(parse(listings_bytes())[0])

    assert rows["IO-197I-AHQC"].title == "USB-Kondensator-Mikrofone von Fifine, f\u00fcr Gesang-Aufnahmen"
    inactive = rows["77-DM2C-P4XL"]
    assert inactive.quantity is None
    assert inactive.status == "Inactive"
    assert inactive.fulfillment_channel == "AMAZON_EU"
    assert rows["FJ-SGKW-RW17"].quantity == 0
    assert rows["FJ-SGKW-RW17"].asin == inactive.asin  # one ASIN, two SKUs: both kept


def test_cp1252_file_reads_the_same_as_utf8() -> None:
    utf8_rows, _ = parse(listings_bytes())
    cp1252_rows, parser = parse(listings_bytes("cp1252"))

    assert parser.stats.encoding == "cp1252"
    assert cp1252_rows == utf8_rows


def test_bom_and_crlf_line_endings() -> None:
    data = listings_bytes(bom=True, padding=False).replace(b"\n", b"\r\n")
    rows, parser = parse(data)

    assert parser.stats.columns[0] == "item-name"
    assert [row.status for row in rows] == [row[7] for row in LISTINGS]


def test_columns_in_another_order_and_unknown_columns() -> None:
    columns = [
        "status",
        "zshop-new-column",
        "open-date",
        "asin1",
        "seller-sku",
        "quantity",
        "price",
        "item-name",
    ]
    rows = by_sku(parse(listings_text(columns=columns).encode())[0])

    assert rows["0J-3QVQ-PCR5"].price == "145"
    assert rows["77-DM2C-P4XL"].status == "Inactive"
    assert rows["77-DM2C-P4XL"].fulfillment_channel == ""  # the column is absent: not guessed


def test_missing_sku_column_is_a_clear_error() -> None:
    columns = [name for name in LISTINGS_COLUMNS if name != "seller-sku"]
    with pytest.raises(ReportFormatError, match="no 'seller-sku' or 'sku' column"):
        parse(listings_text(columns=columns).encode())


def test_empty_file_is_a_clear_error() -> None:
    with pytest.raises(ReportFormatError, match="empty"):
        parse(b"")


def test_gzip_report_streams_through() -> None:
    rows, _ = parse(gzip.compress(listings_bytes()), chunk=64)
    assert len(rows) == len(LISTINGS)


def test_large_gzip_report_unfolds_a_step_at_a_time() -> None:
    header, body = listings_text().split("\n", 1)
    text = header + "\n" + body * 4000  # several megabytes of text, compressed into one chunk
    rows, _ = parse(gzip.compress(text.encode()), chunk=len(text))

    assert len(rows) == 4000 * len(LISTINGS)
    assert rows[-1].sku == LISTINGS[-1][1]


def test_truncated_gzip_is_a_clear_error() -> None:
    data = gzip.compress(listings_bytes() * 20)
    with pytest.raises(ReportFormatError, match="ends early"):
        parse(data[: len(data) // 2], chunk=256)


def test_inventory_report() -> None:
    rows = by_sku(parse(inventory_bytes(), kind="inventory")[0])

    assert rows["FBA-MUG-01"].title == "Kaffeebecher f\u00fcr Zwei"
    assert rows["FBA-MUG-01"].quantity == 5  # afn-fulfillable-quantity
    assert rows["FBA-MUG-01"].price == "12.50"
    assert rows["FBA-MUG-02"].quantity is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("02/05/2020 05:18:00 MEST", datetime(2020, 5, 2, 3, 18, tzinfo=UTC)),
        ("31/12/2019 23:30:00 CET", datetime(2019, 12, 31, 22, 30, tzinfo=UTC)),
        ("15/07/2021 10:00:00 BST", datetime(2021, 7, 15, 9, 0, tzinfo=UTC)),
        ("15/07/2021 10:00:00 GMT", datetime(2021, 7, 15, 10, 0, tzinfo=UTC)),
        ("2021-07-15 10:00:00 PDT", datetime(2021, 7, 15, 17, 0, tzinfo=UTC)),
        ("2021-01-15 23:00:00 PST", datetime(2021, 1, 16, 7, 0, tzinfo=UTC)),
        ("2021-07-15T10:00:00+00:00", datetime(2021, 7, 15, 10, 0, tzinfo=UTC)),
        ("2021-07-15T10:00:00.000Z", datetime(2021, 7, 15, 10, 0, tzinfo=UTC)),
        ("2021-07-15T12:00:00+02:00", datetime(2021, 7, 15, 10, 0, tzinfo=UTC)),
        ("2021-07-15 10:00:00 UTC", datetime(2021, 7, 15, 10, 0, tzinfo=UTC)),
        ("", None),
        ("soon", None),
        ("15/07/2021 10:00:00 XYZT", None),
    ],
)
def test_report_dates(text: str, expected: datetime | None) -> None:
    assert parse_report_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "02/05/2020 05:18:00 MEST",
        "31/12/2019 23:30:00 CET",
        "2021-01-15 23:00:00 PST",
        "2021-07-15T12:00:00.250+02:00",
    ],
)
def test_dates_in_storage_form_match_the_parsed_dates(text: str) -> None:
    """The bulk import writes SQLite dates as text: the same moment as the parsed datetime."""
    rows = [("Becher", "MUG-1", "5", "1", text, "B01", "DEFAULT", "Active")]
    data = listings_text(rows).encode()

    parsed = next(ReportParser("listings").records([data]))[7]
    stored = next(ReportParser("listings").records([data], stored_dates=True))[7]

    assert isinstance(parsed, datetime)
    assert stored == parsed.isoformat(" ", "microseconds")[:26]


def test_unreadable_date_keeps_the_row() -> None:
    rows = [("Becher", "MUG-1", "5", "1", "someday", "B01", "DEFAULT", "Active")]
    parsed, parser = parse(listings_text(rows).encode())

    assert parsed[0].sku == "MUG-1"
    assert parsed[0].opened_at is None
    assert parser.stats.bad_dates == 1


def test_stored_dates_of_rows_in_the_same_hour_keep_their_zone() -> None:
    # After the first row of an hour, the bulk path copies minutes and seconds after that hour's
    # UTC text: right only in zones a whole number of hours from UTC, and only for real minutes.
    dates = [
        "15/06/2020 10:05:07 MEST",
        "15/06/2020 10:59:59 MEST",
        "15/06/2020 10:33:44.5 MEST",  # its hour is known, but not its shape: parsed in full
        "15/06/2020 10:75:00 MEST",  # not a minute: counted on, as the full parse does
        "15/06/2020 10:05:00 +05:30",
        "15/06/2020 10:45:00 +05:30",
        "31/12/2020 23:30:00 MET",
        "31/12/2020 23:59:00 MET",
    ]
    header = "seller-sku\topen-date\n"
    body = "".join(f"SKU-{i}\t{date}\n" for i, date in enumerate(dates))
    parser = ReportParser("listings")

    stored = [row[-1] for row in parser.records([(header + body).encode()], stored_dates=True)]

    assert stored == [
        "2020-06-15 08:05:07.000000",
        "2020-06-15 08:59:59.000000",
        "2020-06-15 08:33:44.000000",
        "2020-06-15 09:15:00.000000",
        "2020-06-15 04:35:00.000000",
        "2020-06-15 05:15:00.000000",
        "2020-12-31 22:30:00.000000",
        "2020-12-31 22:59:00.000000",
    ]
