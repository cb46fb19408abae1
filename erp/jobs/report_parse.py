"""Streaming parser for Amazon's listings and inventory reports, as they really arrive.

Reports are tab-separated with a header row. Columns come and go between marketplaces and years,
so every column is found by its header name and unknown ones are ignored. Files arrive in UTF-8
(sometimes with a BOM) or, for EU marketplaces, Cp1252; titles carry HTML entities and
non-breaking spaces; dates use a day-first format with a zone abbreviation (`02/05/2020 05:18:00
MEST`) or ISO 8601; reports decrypted from the old encrypted format keep a trailing line of
padding bytes. The parser reads bytes chunk by chunk and never holds the whole file.
"""

from __future__ import annotations

import html
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


# The report kinds (`erp.models.ReportKind` values), spelled out: parsing needs no database.
LISTINGS = "listings"
INVENTORY = "inventory"

# Header names per field, first match wins. Lower-case: headers are matched case-insensitively.
_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    LISTINGS: {
        "sku": ("seller-sku", "sku"),
        "asin": ("asin1", "asin"),
        "title": ("item-name", "product-name", "title"),
        "price": ("price", "your-price"),
        "quantity": ("quantity", "afn-fulfillable-quantity"),
        "status": ("status",),
        "fulfillment_channel": ("fulfillment-channel",),
        "opened_at": ("open-date",),
    },
    INVENTORY: {
        "sku": ("sku",),
        "asin": ("asin", "asin1"),
        "title": ("product-name", "item-name"),
        "price": ("your-price", "price"),
        "quantity": ("afn-fulfillable-quantity", "quantity"),
        "status": ("status", "condition"),
        "fulfillment_channel": ("fulfillment-channel",),
        "opened_at": ("open-date",),
    },
}
# Columns only one kind of report has: they tell a seller which kind a file really is.
_SIGNATURES: dict[str, set[str]] = {
    LISTINGS: {"seller-sku", "listing-id", "item-name"},
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
        # Fast path, once the day is known: the usual fixed-width `DD/MM/YYYY HH:MM:SS ZONE`.
        if len(text) >= 19 and text[13] == ":" and text[16] == ":" and text[19:20] in ("", " "):
            day_start = self._days.get(text[:10] + text[19:])
            if day_start is not None:
                try:
                    moment = day_start + int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
                except ValueError:
                    return None
                day, clock = divmod(moment, 86400)
                day_text = self._day_texts.get(day) or self._day_text(day)
                return day_text + (self._clock_texts.get(clock) or self._clock_text(clock))
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


def _quantity(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return int(float(text.replace(",", ".")))
        except ValueError:
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
    """

    def __init__(self, kind: str) -> None:
        if kind not in _COLUMNS:
            raise ReportFormatError(f"unknown report kind {kind!r}: use listings or inventory")
        self.kind = kind
        self.stats = ParseStats()
        self._index: dict[str, int] = {}
        self._width = 0
        self._dates = _DateParser()
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
            ReportFormatError: no header, or a required column (the SKU) is missing.
        """
        make = ParsedRow._make
        for record in self.records(chunks):
            yield make(record)

    def records(self, chunks: Iterable[bytes], *, stored_dates: bool = False) -> Iterator[RowTuple]:
        """Like `rows`, as plain tuples in `ParsedRow`'s field order: the bulk import's fast path.

        With `stored_dates`, dates come as text in SQLAlchemy's SQLite storage form, ready for the
        driver (formatting them here, from cached parts, is several times cheaper than per row).

        Raises:
            ReportFormatError: no header, or a required column (the SKU) is missing.
        """
        lines = self._lines(gunzip_if_compressed(chunks))
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
            quantity = None
            if quantity_at is not None:
                raw_quantity = cells[quantity_at]
                if raw_quantity:
                    quantity = int(raw_quantity) if raw_quantity.isdigit() else _quantity(raw_quantity)
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

    def _lines(self, chunks: Iterable[bytes]) -> Iterator[str]:
        buffer = b""
        first = True
        for chunk in chunks:
            buffer += chunk
            cut = buffer.rfind(b"\n")
            if cut < 0:
                continue
            block, buffer = buffer[: cut + 1], buffer[cut + 1 :]
            if first:
                block = block.removeprefix(b"\xef\xbb\xbf")
                first = False
            text = self._decode(block)
            if "\r" in text:
                text = text.replace("\r\n", "\n")
            yield from text.split("\n")[:-1]
        if buffer:
            if first:
                buffer = buffer.removeprefix(b"\xef\xbb\xbf")
            yield self._decode(buffer).rstrip("\r")

    def _decode(self, block: bytes) -> str:
        if self.stats.encoding == "utf-8":
            try:
                return block.decode("utf-8")
            except UnicodeDecodeError:
                # Not UTF-8: EU reports are Cp1252. Once seen, the rest of the file is read so too.
                self.stats.encoding = "cp1252"
        return block.decode("cp1252", errors="replace")

    def _read_header(self, line: str) -> None:
        names = [name.strip().strip('"').lower() for name in line.rstrip("\r").split("\t")]
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
            expected = " or ".join(repr(a) for a in wanted["sku"])
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
