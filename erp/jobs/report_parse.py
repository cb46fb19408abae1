"""Streaming parser for Amazon's listings and inventory reports, as they really arrive.

Reports are tab-separated with a header row. Columns come and go between marketplaces and years,
so every column is found by its header name (in any of the languages Amazon writes them in) and
unknown ones are ignored. Files arrive in UTF-8 (sometimes with a BOM), Cp1252 (EU marketplaces)
or Shift_JIS (amazon.co.jp): a download's Content-Type charset says which, else the bytes do.
Titles carry HTML entities and non-breaking spaces; dates use a day-first format with a zone
abbreviation (`02/05/2020 05:18:00 MEST`) or ISO 8601; reports decrypted from the old encrypted
format keep a trailing line of padding bytes. The parser reads bytes chunk by chunk and never
holds the whole file, nor a line longer than `MAX_LINE_BYTES`; a row whose value cannot be what
its column holds is left out and named, and NUL bytes (which PostgreSQL cannot store) are dropped.
"""

from __future__ import annotations

import codecs
import html
import math
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple


class ReportFormatError(ValueError):
    """The file is not a report we can read. `str(error)` is one line a seller can act on."""


class ParsedRow(NamedTuple):
    """One report row reduced to what the bot checks (see `ReportRow`).

    A tuple on purpose: a nightly report has a million of them.
    """

    sku: str
    asin: str
    title: str
    price: str
    quantity: int | None
    status: str
    fulfillment_channel: str
    opened_at: datetime | None


# ParsedRow's fields as a plain tuple; the date is text when asked for in storage form.
RowTuple = tuple[str, str, str, str, int | None, str, str, datetime | str | None]


@dataclass
class ParseStats:
    """What the parser saw besides the rows it yielded."""

    columns: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    skipped: int = 0  # rows without a SKU (blank lines, padding, broken rows)
    bad_dates: int = 0
    bad_values: int = 0  # rows left out because a value cannot be what its column holds
    problems: list[str] = field(default_factory=list)  # the first few, "row N, column C: ..."

    def note(self, problem: str) -> None:
        """Count a row left out for a bad value; keep the first few reasons to show the seller."""
        self.bad_values += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


# The report kinds (`erp.models.ReportKind` values), spelled out: parsing needs no database.
LISTINGS = "listings"
INVENTORY = "inventory"

# Header names per field, first match wins. Matched after `_header_key` (case-folded, NFC,
# whitespace collapsed). Amazon writes the listings report's headers in the account's or
# marketplace's language (unless the request asks for a locale, see the connector), so every field
# lists the English name first and then the names real reports carry on each marketplace, in the
# order of `erp.platforms.reportformat.LISTINGS_COLUMNS`:
#   zh 卖家 SKU ...  (Chinese-language accounts on any marketplace, and amazon.cn)
#   ja 出品者SKU ... (amazon.co.jp; the ASIN column is "ASIN 1", pending-quantity is 在庫数)
#   de Händler-SKU, fr sku-vendeur, it SKU venditore, es SKU del vendedor, pl sku-sprzedawcy,
#   tr "seller-sku (satıcı sku)" (English with the Turkish in brackets), ar sku-البائع;
#   en-GB spells fulfilment-channel with one l.
# Sources: headers quoted in public SP-API client code and issue threads (jlevers/selling-partner-api
# #525 for the whole Chinese header row; amzn/selling-partner-api-models #5303 for the locale option).
_LISTINGS_ALIASES: dict[str, tuple[str, ...]] = {
    "sku": (
        "seller-sku",
        "sku",
        "卖家 sku",
        "出品者sku",
        "händler-sku",
        "sku-vendeur",
        "sku venditore",
        "sku del vendedor",
        "sku-sprzedawcy",
        "seller-sku (satıcı sku)",
        "sku-البائع",
    ),
    "asin": ("asin1", "asin", "asin 1"),
    "title": (
        "item-name",
        "product-name",
        "title",
        "商品名称",
        "商品名",
        "artikelbezeichnung",
        "nom-produit",
        "nome dell'articolo",
        "título del producto",
        "nazwa-produktu",
        "item-name (ürün adı)",
        "اسم-المنتج",
    ),
    "price": (
        "price",
        "your-price",
        "价格",
        "価格",
        "preis",
        "prix",
        "prezzo",
        "precio",
        "cena",
        "price (fiyat)",
        "السعر",
    ),
    "quantity": (
        "quantity",
        "afn-fulfillable-quantity",
        "数量",
        "menge",
        "quantité",
        "quantità",
        "cantidad",
        "ilość",
        "quantity (adet)",
        "الكمية",
    ),
    "status": ("status", "状态", "ステータス", "état", "stato", "estado", "durum", "الحالة"),
    "fulfillment_channel": (
        "fulfillment-channel",
        "fulfilment-channel",
        "配送渠道",
        "フルフィルメント・チャンネル",
        "versender",
        "canal-traitement",
        "canale di gestione",
        "canal de gestión logística",
        "kanał-realizacji",
        "fulfillment-channel (dağıtım kanalı)",
        "قناة-الشحن",
    ),
    "opened_at": (
        "open-date",
        "开售日期",
        "出品日",
        "erstellungsdatum",
        "date-ouverture",
        "data di creazione",
        "fecha de creación",
        "data-otwarcia",
        "open-date (yayınlanma tarihi)",
        "تاريخ-مفتوح",
    ),
}

_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    LISTINGS: _LISTINGS_ALIASES,
    # GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA: no localized header of it is on record, so English.
    INVENTORY: {
        "sku": ("sku",),
        "asin": ("asin", "asin1"),
        "title": ("product-name", "item-name"),
        "price": ("your-price", "price"),
        "quantity": ("afn-fulfillable-quantity", "quantity"),
        "status": ("status", "condition"),
        "fulfillment_channel": ("fulfillment-channel", "fulfilment-channel"),
        "opened_at": ("open-date",),
    },
}
# Columns only one kind of report has: they tell a seller which kind a file really is.
_SIGNATURES: dict[str, set[str]] = {
    LISTINGS: {"listing-id", "item-name", *(name for name in _LISTINGS_ALIASES["sku"] if name != "sku")},
    INVENTORY: {"fnsku", "afn-fulfillable-quantity", "afn-listing-exists"},
}
_FIELDS = ("sku", "asin", "title", "price", "quantity", "status", "fulfillment_channel", "opened_at")

# Zone abbreviations Amazon writes in its reports (German ones too: MEZ/MESZ), as UTC offsets.
_ZONES: dict[str, timedelta] = {
    name: timedelta(minutes=minutes)
    for name, minutes in {
        "UTC": 0,
        "GMT": 0,
        "Z": 0,
        "WET": 0,
        "WEST": 60,
        "BST": 60,
        "IST": 330,  # India Standard Time (amazon.in reports)
        "MET": 60,
        "CET": 60,
        "MEZ": 60,
        "MEST": 120,
        "CEST": 120,
        "MESZ": 120,
        "EET": 120,
        "EEST": 180,
        "PST": -480,
        "PDT": -420,
        "MST": -420,
        "MDT": -360,
        "CST": -360,
        "CDT": -300,
        "EST": -300,
        "EDT": -240,
        "AKST": -540,
        "AKDT": -480,
        "HST": -600,
        "BRT": -180,
        "JST": 540,
        "KST": 540,
        "SGT": 480,
        "MYT": 480,
        "AWST": 480,
        "AEST": 600,
        "AEDT": 660,
        "GST": 240,
    }.items()
}

# The longest values kept (the report row columns' sizes): a SKU longer than any platform allows
# is a broken row; longer titles and codes are cut.
MAX_SKU = 120
MAX_TITLE = 500
MAX_CODE = 30
# A report line longer than this is not a report row (a broken or hostile file): the import stops
# there, having held at most this much of it, instead of buffering the line whole.
MAX_LINE_BYTES = 1 << 20
MAX_QUANTITY = 2_147_483_647  # the quantity column is a 32-bit integer on PostgreSQL
MAX_PROBLEMS = 5

# Charset labels a Content-Type may carry, as Python codecs. amazon.co.jp documents are Shift_JIS,
# which in practice is Microsoft's cp932 (windows-31j: Shift_JIS plus the NEC/IBM characters
# sellers use); ISO-8859-1 is read as its superset cp1252, as browsers do.
_CHARSETS: dict[str, str] = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "cp932": "cp932",
    "ms932": "cp932",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
}

_GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_STEP = 1 << 20
_NBSP = ("\xa0", "\u202f", "\u2007")


def parse_report_date(text: str) -> datetime | None:
    """An Amazon report date as an aware UTC datetime; None when empty or unreadable.

    Accepts `DD/MM/YYYY HH:MM:SS ZONE` (day first; month first when the day cannot be a month),
    `DD.MM.YYYY ...`, `YYYY-MM-DD HH:MM:SS ZONE`, `YYYY/MM/DD ...`, and ISO 8601 with `Z` or an
    offset. A time without a zone is taken as UTC.
    """
    return _DateParser().parse(text)


class _DateParser:
    """Parses report dates, remembering each (day, zone) it has seen.

    A report's rows share few distinct days, so the costly part (calendar and zone) is done once
    per day and each row only adds its time of day: this keeps a million-row import fast.
    """

    def __init__(self) -> None:
        self._days: dict[str, int] = {}  # "date zone" -> UTC epoch second of local midnight
        self._day_texts: dict[int, str] = {}  # epoch day -> "YYYY-MM-DD "
        self._clock_texts: dict[int, str] = {}  # second of the day -> "HH:MM:SS.000000"
        self._hours: dict[str, str] = {}  # "date HH zone" -> "YYYY-MM-DD HH:" in UTC

    def parse(self, text: str) -> datetime | None:
        """The date as an aware UTC datetime, or None when empty or unreadable."""
        text = text.strip()
        if not text:
            return None
        try:
            if text[10:11] in ("T", "t") and text[4:5] == "-":
                return _parse_iso(text)
            return _EPOCH + timedelta(seconds=self._epoch(text))
        except (ValueError, KeyError, IndexError, OverflowError):
            return None

    def parse_stored(self, text: str) -> str | None:
        """The date in SQLAlchemy's SQLite storage form (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC)."""
        # Fastest, once the hour is known: in a zone a whole number of hours from UTC, the minutes
        # and seconds are the same in UTC, so the stored text is the hour's, then `:MM:SS` as
        # written (one look-up checks it). Only well-formed dates are remembered by hour.
        suffix = _CLOCK_SUFFIXES.get(text[13:19])
        if suffix is not None:
            prefix = self._hours.get(text[:13] + text[19:])
            if prefix is not None:
                return prefix + suffix
        # Fast path, once the day is known: the usual fixed-width `DD/MM/YYYY HH:MM:SS ZONE`.
        if len(text) >= 19 and text[13] == ":" and text[16] == ":" and text[19:20] in ("", " "):
            minute, second = text[14:16], text[17:19]
            hour_key = text[:13] + text[19:]
            day_start = self._days.get(text[:10] + text[19:])
            if day_start is not None:
                try:
                    moment = day_start + int(text[11:13]) * 3600 + int(minute) * 60 + int(second)
                except ValueError:
                    return None
                day, clock = divmod(moment, 86400)
                day_text = self._day_texts.get(day) or self._day_text(day)
                stored = day_text + (self._clock_texts.get(clock) or self._clock_text(clock))
                # Remembered only where the fastest path above can take the date from it.
                if day_start % 3600 == 0 and suffix is not None and len(self._hours) < 100_000:
                    self._hours[hour_key] = stored[:13]  # "YYYY-MM-DD HH"
                return stored
        text = text.strip()
        if not text:
            return None
        try:
            if text[10:11] in ("T", "t") and text[4:5] == "-":
                return _parse_iso(text).isoformat(" ", "microseconds")[:26]
            moment = self._epoch(text)
        except (ValueError, KeyError, IndexError, OverflowError):
            return None
        day, clock = divmod(moment, 86400)
        return self._day_text(day) + self._clock_text(clock)

    def _day_text(self, day: int) -> str:
        text = self._day_texts[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d ")
        return text

    def _clock_text(self, clock: int) -> str:
        hours, rest = divmod(clock, 3600)
        text = self._clock_texts[clock] = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}.000000"
        return text

    def _epoch(self, text: str) -> int:
        """UTC epoch seconds of a non-ISO report date."""
        if (
            len(text) >= 19
            and text[10] == " "
            and text[13] == ":"
            and text[16] == ":"
            and text[19:20] in ("", " ")
        ):
            # The usual fixed-width shape: `DD/MM/YYYY HH:MM:SS ZONE` or `YYYY-MM-DD HH:MM:SS ZONE`.
            key = text[:10] + text[19:]
            day = self._days.get(key)
            if day is None:
                day = self._remember(key, text[:10], text[19:].strip())
            return day + int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
        date_part, _, rest = text.partition(" ")
        time_part, _, zone = rest.strip().partition(" ")
        day = self._remember(date_part + " " + zone, date_part, zone.strip())
        if not time_part:
            return day
        pieces = time_part.split(":")
        seconds = int(pieces[0]) * 3600 + int(pieces[1]) * 60
        if len(pieces) > 2:
            seconds += int(float(pieces[2]))
        return day + seconds

    def _remember(self, key: str, date_part: str, zone: str) -> int:
        day = self._days.get(key)
        if day is None:
            day = int((_day_start(date_part, zone) - _EPOCH).total_seconds())
            if len(self._days) < 100_000:
                self._days[key] = day
        return day


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# `:MM:SS` as reports write it (real minutes and seconds only) -> the stored text's end.
_CLOCK_SUFFIXES = {f":{m:02d}:{s:02d}": f":{m:02d}:{s:02d}.000000" for m in range(60) for s in range(60)}


def _parse_iso(text: str) -> datetime:
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    parsed = datetime.fromisoformat(iso)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _day_start(date_part: str, zone: str) -> datetime:
    """Local midnight of the day, in UTC."""
    if date_part[4:5] in ("-", "/", "."):
        year, month, day = int(date_part[0:4]), int(date_part[5:7]), int(date_part[8:10])
    else:
        first, second, year = int(date_part[0:2]), int(date_part[3:5]), int(date_part[6:10])
        day, month = (second, first) if second > 12 else (first, second)
        if date_part[2:3] not in ("/", ".", "-") or len(date_part) != 10:
            raise ValueError(date_part)
    return datetime(year, month, day, tzinfo=UTC) - _zone_offset(zone)


def _zone_offset(zone: str) -> timedelta:
    if not zone:
        return timedelta(0)
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
        return timedelta(minutes=minutes if zone[0] == "+" else -minutes)
    return _ZONES[zone.upper()]


def _clean(text: str) -> str:
    if "&" in text:
        text = html.unescape(text)
    for space in _NBSP:
        if space in text:
            text = text.replace(space, " ")
    return text.strip()


class _BadValue(ValueError):
    """A cell that cannot be what its column holds; the message says what is wrong with it."""


def _quantity(text: str) -> int | None:
    """A quantity cell as an int (None when empty). `1,0` and `2.0` are read; `²`, `abc` or a
    30-digit number raise `_BadValue` (no count, and the database could not store them)."""
    text = text.strip()
    if not text:
        return None
    shown = f"'{text[:30]}{'...' if len(text) > 30 else ''}'"
    too_large = _BadValue(f"{shown} is too large to be a quantity")
    # isdigit() alone accepts '²' and other digits int() refuses: only ASCII numbers are counts.
    if not text.isascii():
        raise _BadValue(f"{shown} is not a number")
    if len(text) > 20:
        raise too_large if text.lstrip("+-").isdigit() else _BadValue(f"{shown} is not a number")
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text.replace(",", "."))
        except ValueError:
            raise _BadValue(f"{shown} is not a number") from None
        if not math.isfinite(number):
            raise _BadValue(f"{shown} is not a number") from None
        if abs(number) > MAX_QUANTITY:
            raise too_large from None
        value = int(number)
    if abs(value) > MAX_QUANTITY:
        raise too_large
    return value


def _codec(charset: str | None) -> str | None:
    """The Python codec for a Content-Type charset label, or None when there is none we know."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    if label in _CHARSETS:
        return _CHARSETS[label]
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def charset_of(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header (`text/plain;charset=Cp1252` -> `Cp1252`)."""
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None


def _price(text: str) -> str:
    text = text.strip().replace("\xa0", "")
    # Some EU files write 44,96; the rest of the system reads a dot.
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    return text


def gunzip_if_compressed(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Pass chunks through, decompressing them when the stream starts with the gzip magic.

    Raises:
        ReportFormatError: the gzip stream is damaged or ends early (a truncated download).
    """
    iterator = iter(chunks)
    first = b""
    for chunk in iterator:
        first += chunk
        if len(first) >= 2:
            break
    if not first.startswith(_GZIP_MAGIC):
        if first:
            yield first
        yield from iterator
        return
    decompressor = zlib.decompressobj(wbits=31)
    pending: bytes | None = first
    while pending is not None:
        if pending:
            if decompressor.eof:
                # Concatenated gzip members are legal: the next one starts here.
                decompressor = zlib.decompressobj(wbits=31)
            try:
                # At most a megabyte of text at a time: a well-compressed report would otherwise
                # unfold a whole network chunk (several times larger) into memory at once.
                data = decompressor.decompress(pending, _INFLATE_STEP)
            except zlib.error as exc:
                raise ReportFormatError(f"the compressed report is damaged ({exc})") from exc
            if data:
                yield data
            if decompressor.unconsumed_tail:
                pending = decompressor.unconsumed_tail
                continue
            if decompressor.eof and decompressor.unused_data:
                pending = decompressor.unused_data
                continue
        pending = next(iterator, None)
    if not decompressor.eof:
        raise ReportFormatError(
            "the compressed report ends early (a truncated download): download it again and retry"
        )


class ReportParser:
    """Parses one report stream; iterate `rows()` once, then read `stats`.

    Args:
        kind: `ReportKind` value (`listings` or `inventory`).
        encoding: the document's charset when its source declares one. Without it, a stream with
            a `content_type` (a download's Content-Type, known once its first chunk arrived) is
            read in that header's charset; else the bytes tell: UTF-8, Shift_JIS (as cp932) when
            they are, Cp1252 otherwise.
    """

    def __init__(self, kind: str, *, encoding: str | None = None) -> None:
        if kind not in _COLUMNS:
            raise ReportFormatError(f"unknown report kind {kind!r}: use listings or inventory")
        self.kind = kind
        self.stats = ParseStats()
        self._declared = encoding
        self._codec: str | None = None  # decided at the first block
        self._index: dict[str, int] = {}
        self._width = 0
        self._dates = _DateParser()
        self._line = 0  # the file line last read (the header is a line too), for messages
        self._sku = 0
        self._asin: int | None = None
        self._title: int | None = None
        self._price: int | None = None
        self._quantity: int | None = None
        self._status: int | None = None
        self._channel: int | None = None
        self._opened_at: int | None = None

    def rows(self, chunks: Iterable[bytes]) -> Iterator[ParsedRow]:
        """The report's rows, in file order, parsed as the bytes arrive.

        Raises:
            ReportFormatError: no header, a required column (the SKU) is missing, or a line is
                longer than `MAX_LINE_BYTES`.
        """
        make = ParsedRow._make
        for record in self.records(chunks):
            yield make(record)

    def records(self, chunks: Iterable[bytes], *, stored_dates: bool = False) -> Iterator[RowTuple]:
        """Like `rows`, as plain tuples in `ParsedRow`'s field order: the bulk import's fast path.

        With `stored_dates`, dates come as text in SQLAlchemy's SQLite storage form, ready for the
        driver (formatting them here, from cached parts, is several times cheaper than per row).
        Rows with a value their column cannot hold (a quantity of `²`) are left out and counted in
        `stats.bad_values`, the first reasons in `stats.problems`.

        Raises:
            ReportFormatError: no header, a required column (the SKU) is missing, or a line is
                longer than `MAX_LINE_BYTES`.
        """
        lines = self._lines(gunzip_if_compressed(chunks), chunks)
        for line in lines:
            if line.strip():
                self._read_header(line)
                break
        else:
            raise ReportFormatError("the file is empty: a report starts with a header row")
        width, sku_at = self._width, self._sku
        asin_at, title_at, price_at = self._asin, self._title, self._price
        quantity_at, status_at, channel_at, date_at = (
            self._quantity,
            self._status,
            self._channel,
            self._opened_at,
        )
        parse_date: Callable[[str], datetime | str | None] = (
            self._dates.parse_stored if stored_dates else self._dates.parse
        )
        stats = self.stats
        max_sku, max_title, max_code = MAX_SKU, MAX_TITLE, MAX_CODE
        for line in lines:
            cells = line.split("\t")
            if len(cells) < width:
                cells.extend([""] * (width - len(cells)))
            sku = cells[sku_at]
            if "&" in sku or not sku.isascii():
                sku = _clean(sku)
            sku = sku.strip()
            if not sku or len(sku) > max_sku or not sku.isprintable():
                stats.skipped += 1
                continue
            quantity = None
            if quantity_at is not None:
                raw_quantity = cells[quantity_at]
                if raw_quantity:
                    if raw_quantity.isascii() and raw_quantity.isdigit() and len(raw_quantity) < 10:
                        quantity = int(raw_quantity)
                    else:
                        try:
                            quantity = _quantity(raw_quantity)
                        except _BadValue as problem:
                            column = stats.columns[quantity_at]
                            stats.note(f"row {self._line}, column {column}: {problem}")
                            continue
            title = ""
            if title_at is not None:
                title = cells[title_at]
                # isascii() is free (a flag on the string): only non-ASCII titles can hold odd spaces.
                if "&" in title or not title.isascii():
                    title = _clean(title)
                title = title.strip()[:max_title]
            opened_at = None
            if date_at is not None:
                raw_date = cells[date_at]
                if raw_date:
                    opened_at = parse_date(raw_date)
                    if opened_at is None:
                        stats.bad_dates += 1
            price = ""
            if price_at is not None:
                price = cells[price_at]
                price = _price(price) if "," in price or not price.isascii() else price.strip()
            yield (
                sku,
                cells[asin_at].strip()[:max_code] if asin_at is not None else "",
                title,
                price[:max_code],
                quantity,
                cells[status_at].strip()[:max_code] if status_at is not None else "",
                cells[channel_at].strip()[:max_code] if channel_at is not None else "",
                opened_at,
            )

    def _lines(self, chunks: Iterable[bytes], source: object) -> Iterator[str]:
        """The text lines of the byte stream, `self._line` counting them; at most one line of
        `MAX_LINE_BYTES` (plus a chunk) is ever held."""
        buffer = b""
        first = True
        limit = MAX_LINE_BYTES
        for chunk in chunks:
            buffer += chunk
            cut = buffer.rfind(b"\n")
            if cut < 0:
                if len(buffer) > limit:
                    self._too_long(self._line + 1)
                continue
            block, buffer = buffer[: cut + 1], buffer[cut + 1 :]
            if first:
                block = block.removeprefix(b"\xef\xbb\xbf")
                self._choose_codec(block, source)
                first = False
            lines = self._text(block).split("\n")
            lines.pop()  # the block ends with its newline
            if len(block) > limit:
                self._check_lengths(lines)
            for line in lines:
                self._line += 1
                yield line
            if len(buffer) > limit:
                self._too_long(self._line + 1)
        if buffer:
            if first:
                buffer = buffer.removeprefix(b"\xef\xbb\xbf")
                self._choose_codec(buffer, source)
            self._line += 1
            yield self._text(buffer).rstrip("\r")

    def _check_lengths(self, lines: list[str]) -> None:
        for offset, line in enumerate(lines, start=1):
            if len(line) > MAX_LINE_BYTES:
                self._too_long(self._line + offset)

    def _too_long(self, line: int) -> None:
        raise ReportFormatError(
            f"row {line} is longer than {MAX_LINE_BYTES >> 20} MB, which no report row is "
            "(a damaged file?): download the report again"
        )

    def _choose_codec(self, head: bytes, source: object) -> None:
        """Decide how the document is decoded, from its declared charset or its first bytes."""
        declared = _codec(self._declared or charset_of(getattr(source, "content_type", None)))
        if declared is not None:
            self._codec = declared
        elif _decodes(head, "utf-8"):
            self._codec = "utf-8"
        else:
            self._codec = _sniff(head)
        self.stats.encoding = self._codec

    def _text(self, block: bytes) -> str:
        codec = self._codec or "utf-8"
        if codec == "utf-8":
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError:
                # Not UTF-8 after all (a file that starts in ASCII): the rest of the file is read
                # in what these bytes are, Cp1252 for EU files, Shift_JIS from amazon.co.jp.
                self._codec = self.stats.encoding = codec = _sniff(block)
                text = block.decode(codec, errors="replace")
        else:
            text = block.decode(codec, errors="replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        if "\x00" in text:
            # PostgreSQL cannot store NUL in text, and no report value means one: cleaned here,
            # once per block, so both databases keep the same values.
            text = text.replace("\x00", "")
        return text

    def _read_header(self, line: str) -> None:
        names = [_header_key(name) for name in line.rstrip("\r").split("\t")]
        self.stats.columns = names
        positions = {name: i for i, name in reversed(list(enumerate(names)))}
        wanted = _COLUMNS[self.kind]
        for name in _FIELDS:
            for alias in wanted[name]:
                if alias in positions:
                    self._index[name] = positions[alias]
                    break
        if "sku" not in self._index:
            shown = ", ".join(n[:30] for n in names[:8] if n and n.isprintable()) or "none"
            expected = " or ".join(repr(a) for a in wanted["sku"][:2])
            other = next(
                (kind for kind in _SIGNATURES if kind != self.kind and _SIGNATURES[kind] & set(names)), None
            )
            hint = (
                f"; it looks like a {other} report: use --kind {other}"
                if other
                else f" (columns found: {shown})"
            )
            article = "an" if self.kind[0] in "aeiou" else "a"
            raise ReportFormatError(
                f"this is not {article} {self.kind} report: it has no {expected} column{hint}"
            )
        self._width = max(self._index.values()) + 1
        get = self._index.get
        self._sku = self._index["sku"]
        self._asin, self._title, self._price = get("asin"), get("title"), get("price")
        self._quantity, self._status = get("quantity"), get("status")
        self._channel, self._opened_at = get("fulfillment_channel"), get("opened_at")


def _header_key(name: str) -> str:
    """A header cell as the alias tables spell it: NFC, case-folded, one space between words."""
    name = name.strip().strip('"').strip()
    if not name.isascii():
        name = " ".join(unicodedata.normalize("NFC", name).split())
    return name.lower()


# Column names that only a Japanese listings report has: how a file without a declared charset
# shows it is Shift_JIS although its header is all a sniffer could go by.
_JAPANESE_HEADERS = frozenset(("出品者sku", "商品名", "出品日", "価格"))


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _sniff(block: bytes) -> str:
    """The codec of bytes that are not UTF-8: cp932 when they are Shift_JIS, else Cp1252.

    A Japanese header row settles it. Otherwise Shift_JIS text holds kana (lead bytes 0x82 and
    0x83) and usually bytes Cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D), while
    Cp1252 text read as cp932 breaks or comes out as kanji without kana.
    """
    first_line = block.split(b"\n", 1)[0]
    try:
        header = first_line.decode("cp932")
    except UnicodeDecodeError:
        header = ""
    if any(_header_key(name) in _JAPANESE_HEADERS for name in header.split("\t")):
        return "cp932"
    try:
        text = block.decode("cp932")
    except UnicodeDecodeError:
        return "cp1252"
    if not _decodes(block, "cp1252") or _KANA.search(text):
        return "cp932"
    return "cp1252"


_KANA = re.compile("[\u3041-\u30ff]")
