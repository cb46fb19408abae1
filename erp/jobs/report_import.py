"""Report import: stream a platform report into the database, and refresh reports from the platform.

A nightly listings report can hold a million rows, so rows go in as they are parsed, in batches,
all inside one transaction (a compiled Core insert through the driver's executemany on SQLite,
COPY on PostgreSQL): a failed import (a truncated download, a file that is not a report) leaves
no half-imported rows and never touches the reports imported before it. Each report keeps its
metadata in `PlatformReport` (requested, generated, imported, rows, status, error) so the bot can
tell a seller how old the data it looked at is; the rows of the newest few are kept.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, literal_column
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from erp.accounts import audit
from erp.jobs.report_parse import ReportFormatError, ReportParser, RowTuple
from erp.models import (
    AuditLog,
    AuthStatus,
    Platform,
    PlatformReport,
    ReportKind,
    ReportRow,
    ReportStatus,
    Store,
    table_of,
    utcnow,
)
from erp.platforms.base import AuthorizationExpired, MarketplaceConnector, PlatformError

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]
ConnectorFor = Callable[[Store], MarketplaceConnector]

BATCH_ROWS = 20_000
# On SQLite each batch is a transaction of its own: small enough that a writer waiting on the
# lock (a Slack acknowledgement's dedupe row) waits a few milliseconds, large enough to stay fast.
SQLITE_BATCH_ROWS = 5_000
_SQLITE_ROWS_PER_STATEMENT = 100  # 800 parameters, far under SQLite's limit (32,766)
KEEP_REPORTS = 3  # per store and kind, the reports whose rows are kept
_FILE_CHUNK = 1 << 20


class ReportImportError(Exception):
    """An import failed; the report is marked failed. `str(error)` is safe to show a seller."""

    def __init__(self, message: str, report_id: int | None = None) -> None:
        super().__init__(message)
        self.report_id = report_id


@dataclass(frozen=True)
class ImportResult:
    """A completed import: the stored report and what the parser saw."""

    report_id: int
    rows: int
    store_id: int
    kind: str
    skipped: int = 0
    bad_dates: int = 0
    encoding: str = "utf-8"
    generated_at: datetime | None = None
    bad_values: int = 0  # rows left out because a value cannot be what its column holds
    problems: tuple[str, ...] = ()  # the first few reasons, "row N, column quantity: ..."


def as_utc(moment: datetime | None) -> datetime | None:
    """The database hands back naive datetimes (SQLite, `timestamp` columns): they are UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def report_kinds_for(platform: str) -> tuple[str, ...]:
    """The report kinds a platform offers: only Amazon has the (FBA) inventory report."""
    if platform == Platform.AMAZON:
        return (ReportKind.LISTINGS, ReportKind.INVENTORY)
    return (ReportKind.LISTINGS,)


def import_report_stream(
    sessions: SessionFactory,
    store_id: int,
    kind: str,
    chunks: Iterable[bytes],
    *,
    source: str,
    platform_report_id: str = "",
    generated_at: datetime | None = None,
    report_id: int | None = None,
    actor: str = "system",
    encoding: str | None = None,
    audited: bool = True,
) -> ImportResult:
    """Parse a report as it streams in and store its rows; the report is current only once complete.

    On SQLite the rows are committed in batches, so the database is never locked for a whole
    import (a Slack acknowledgement never waits behind one); the report stays `in_progress`
    until its last row is in, and readers only take `done` reports, so a half import is never
    read. On PostgreSQL the rows stream through COPY in one transaction. Every import is audited
    (`import_report`, with `actor` and the store).

    Args:
        sessions: makes a new database session.
        store_id: the store the report belongs to.
        kind: `ReportKind` value.
        chunks: the report's bytes (plain or gzip), in order.
        source: `platform` or `file`.
        platform_report_id: the platform's id for the report, when it has one.
        generated_at: when the platform generated the data (it orders the reports).
        report_id: an existing `PlatformReport` (requested earlier) to complete instead of a new one.
        actor: who imports it, for the audit log.
        encoding: the document's charset when its source says it.
        audited: False when the caller audits the import as part of a larger action (a report
            requested from the platform is audited as `request_report`, import included).

    Returns:
        The stored report's id and row counts.

    Raises:
        ReportImportError: the data could not be read or stored; the report is marked failed with
            the reason, its rows are gone, and earlier reports are untouched.
    """
    if kind not in (ReportKind.LISTINGS, ReportKind.INVENTORY):
        raise ReportImportError(f"unknown report kind {kind!r}: use listings or inventory")
    report_id = _open_report(sessions, store_id, kind, source, platform_report_id, generated_at, report_id)
    parser = ReportParser(kind, encoding=encoding)
    rows = 0
    try:
        rows = _store_rows(sessions, report_id, parser, chunks)
        if rows == 0 and parser.stats.bad_values:
            raise ReportFormatError("no row could be read: " + "; ".join(parser.stats.problems))
        _complete_report(sessions, report_id, rows, generated_at)
    except BaseException as exc:
        message = _failure_message(exc, report_id)
        _fail_report(sessions, report_id, message)
        if audited:
            _audit_import(sessions, store_id, actor, "failed", f"{kind} report {report_id}: {message}")
        if not isinstance(exc, Exception):
            raise  # Ctrl-C or a stop: the report is marked failed, and the process still stops
        raise ReportImportError(message, report_id) from exc
    stats = parser.stats
    summary = f"{kind} report {report_id} ({source}): {rows} rows"
    if stats.bad_values:
        summary += f", {stats.bad_values} left out for bad values ({'; '.join(stats.problems)})"
    if audited:
        _audit_import(sessions, store_id, actor, "ok", summary)
    prune_report_rows(sessions, store_id, kind)
    return ImportResult(
        report_id=report_id,
        rows=rows,
        store_id=store_id,
        kind=kind,
        skipped=stats.skipped,
        bad_dates=stats.bad_dates,
        encoding=stats.encoding,
        generated_at=generated_at,
        bad_values=stats.bad_values,
        problems=tuple(stats.problems),
    )


def _store_rows(
    sessions: SessionFactory, report_id: int, parser: ReportParser, chunks: Iterable[bytes]
) -> int:
    """Write the parsed rows in batches; on SQLite each batch is its own transaction."""
    rows = 0
    with sessions() as session:
        connection = session.connection()
        dialect = connection.dialect
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            rows = _copy_rows(connection, report_id, parser.records(chunks, stored_dates=True))
            session.commit()
            return rows
        batched = dialect.name == "sqlite"
        write = _row_writer(dialect, report_id)
        for batch in _batches(
            parser.records(chunks, stored_dates=batched), SQLITE_BATCH_ROWS if batched else BATCH_ROWS
        ):
            write(session.connection(), batch)
            rows += len(batch)
            if batched:
                session.commit()  # the write lock is let go between batches
        session.commit()
    return rows


def _complete_report(
    sessions: SessionFactory, report_id: int, rows: int, generated_at: datetime | None
) -> None:
    with sessions() as session:
        report = session.get(PlatformReport, report_id)
        if report is None:
            raise ReportFormatError("the report was deleted while it was being imported")
        report.status = ReportStatus.DONE
        report.row_count = rows
        report.imported_at = utcnow()
        report.error = ""
        if generated_at is not None:
            report.generated_at = generated_at
        if report.generated_at is None:
            # Readers order reports by when their data was generated: an import without that time
            # counts as generated when it was imported, not as older than every other report.
            report.generated_at = report.imported_at
        session.add(report)
        session.commit()


def _failure_message(exc: BaseException, report_id: int) -> str:
    """What a seller reads about a failed import (never a traceback; those go to the log)."""
    if isinstance(exc, ReportFormatError | PlatformError | ReportImportError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"the report could not be read ({exc.strerror or exc})"
    if isinstance(exc, SQLAlchemyError):
        log.exception("storing report %s failed", report_id)
        return "the database could not store the report (see the logs); nothing of it was kept"
    if not isinstance(exc, Exception):
        return "the import was stopped before it finished; nothing of it was kept: import it again"
    log.exception("importing report %s failed", report_id)
    return "an unexpected error stopped the import (see the logs); nothing of it was kept"


def _audit_import(sessions: SessionFactory, store_id: int, actor: str, result: str, detail: str) -> None:
    try:
        with sessions() as session:
            store = session.get(Store, store_id)
            audit(
                session,
                actor=actor,
                action="import_report",
                result=result,
                account_id=store.account_id if store is not None else None,
                store_id=store_id,
                detail=detail[:2000],
            )
    except SQLAlchemyError:  # the import's outcome stands; the log says the audit row is missing
        log.exception("auditing the import of a report of store %s failed", store_id)


def prune_report_rows(sessions: SessionFactory, store_id: int, kind: str, *, keep: int = KEEP_REPORTS) -> int:
    """Delete the rows of all but the newest `keep` completed reports of a store and kind.

    A nightly report of a large store holds a million rows; the checks read the latest ones. The
    order is the readers' own (`latest_report`), so the report in use as current always keeps its
    rows. The reports' metadata (when, how many rows) stays for the record.

    Returns:
        How many rows were deleted.
    """
    with sessions() as session:
        done = session.exec(
            select(PlatformReport.id)
            .where(
                PlatformReport.store_id == store_id,
                PlatformReport.kind == kind,
                PlatformReport.status == ReportStatus.DONE,
            )
            .order_by(*_newest_first())
        ).all()
        old = [report_id for report_id in done[keep:] if report_id is not None]
        if not old:
            return 0
        table = table_of(ReportRow)
        deleted = session.execute(delete(table).where(table.c.report_id.in_(old)))
        session.commit()
        return int(deleted.rowcount or 0)  # type: ignore[attr-defined]


def _newest_first() -> tuple[Any, ...]:
    """The order of reports from the newest data: when generated, then imported, then created.

    One order for every reader and for retention (handlers.sku_lookup orders the same way).
    """
    return (
        col(PlatformReport.generated_at).desc().nulls_last(),
        col(PlatformReport.imported_at).desc().nulls_last(),
        col(PlatformReport.id).desc(),
    )


def import_report_file(
    sessions: SessionFactory,
    store_id: int,
    kind: str,
    path: str | Path,
    *,
    generated_at: datetime | None = None,
    actor: str = "cli",
    encoding: str | None = None,
) -> ImportResult:
    """Import a report file the seller downloaded (plain or gzip, recognised by its content).

    Args:
        generated_at: when the platform generated the report; by default the file's modification
            time (when it was downloaded), so a file imported now counts as newer than the nightly
            report only when it is.

    Raises:
        ReportImportError: the file cannot be opened or read as a report.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed by the generator below)
        if generated_at is None:
            generated_at = datetime.fromtimestamp(os.fstat(handle.fileno()).st_mtime, UTC)
    except OSError as exc:
        raise ReportImportError(f"cannot open the file ({exc.strerror or exc})") from exc
    return import_report_stream(
        sessions,
        store_id,
        kind,
        _read_chunks(handle),
        source="file",
        generated_at=generated_at,
        actor=actor,
        encoding=encoding,
    )


def _read_chunks(handle: Any) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(_FILE_CHUNK):
            yield chunk


_ROW_COLUMNS = ("sku", "asin", "title", "price", "quantity", "status", "fulfillment_channel", "opened_at")


def _batches(rows: Iterable[RowTuple], size: int) -> Iterator[list[RowTuple]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


# COPY's text format: a backslash starts an escape and a carriage return ends the row, so they
# are written escaped (a tab or a line feed cannot be in a cell: the report is split on them).
# A NUL cannot be in a cell either (the parser removes it), so it marks a NULL until the block is
# escaped, and only then becomes COPY's `\N`.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\r": "\\r"})
_NULL = "\x00"


def _copy_rows(connection: Connection, report_id: int, records: Iterable[RowTuple]) -> int:
    """Stream every row of one report through a single COPY, in the connection's transaction.

    One COPY for the whole report keeps the server working while the next rows are parsed (a
    COPY per batch left the import waiting on the server at each batch's end), and the rows are
    written as COPY text in large blocks: formatting them here, the dates already UTC text from
    the parser's cache, costs less than the driver's per-value adaptation.
    """
    columns = ", ".join(("report_id", *_ROW_COLUMNS))
    driver = connection.connection.driver_connection
    assert driver is not None
    rid, null = int(report_id), _NULL
    rows = 0
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {ReportRow.__tablename__} ({columns}) FROM STDIN") as copy,
    ):
        for batch in _batches(records, BATCH_ROWS):
            block = "".join(
                [
                    f"{rid}\t{sku}\t{asin}\t{title}\t{price}\t{null if quantity is None else quantity}\t"
                    f"{status}\t{channel}\t{null if opened_at is None else opened_at}+00\n"
                    for sku, asin, title, price, quantity, status, channel, opened_at in batch
                ]
            )
            if "\\" in block or "\r" in block:
                block = block.translate(_COPY_ESCAPES)
            copy.write(block.replace(null + "+00", "\\N").replace(null, "\\N"))
            rows += len(batch)
    return rows


def _row_writer(dialect: Dialect, report_id: int) -> Callable[[Connection, list[RowTuple]], None]:
    """A function that inserts a batch of parsed rows of one report, in a connection's transaction
    (on SQLite each batch may come on another connection: the statements are compiled once).

    Core's per-value type processing costs as much as parsing the report, so SQLite gets a bulk
    path: the Core insert, compiled with the report id in it, goes to the driver's executemany
    with dates already in SQLAlchemy's storage form. PostgreSQL streams through `_copy_rows`; any
    other database gets the plain Core insert.
    """
    table = table_of(ReportRow)
    if dialect.name == "sqlite":
        # An int from our own database, compiled in so each row's parameters are exactly the tuple.
        statement = insert(table).values(report_id=literal_column(str(int(report_id))))
        compiled = statement.compile(dialect=dialect, column_keys=list(_ROW_COLUMNS))
        assert tuple(compiled.positiontup or ()) == _ROW_COLUMNS
        one_row = str(compiled)
        # Many rows per statement: SQLite then steps once per 100 rows instead of once per row,
        # which cost 1.3-1.5 µs a row against 2.2-2.3 (and shortens the write lock's hold).
        head, values = one_row.rsplit(" VALUES ", 1)
        per_statement = _SQLITE_ROWS_PER_STATEMENT
        many_rows = f"{head} VALUES {', '.join([values] * per_statement)}"

        def write_sqlite(connection: Connection, batch: list[RowTuple]) -> None:
            whole = len(batch) - len(batch) % per_statement
            if whole:
                groups = [
                    tuple(chain.from_iterable(batch[i : i + per_statement]))
                    for i in range(0, whole, per_statement)
                ]
                connection.exec_driver_sql(many_rows, groups)
            if whole < len(batch):
                connection.exec_driver_sql(one_row, batch[whole:])

        return write_sqlite
    statement = insert(table)

    def write_core(connection: Connection, batch: list[RowTuple]) -> None:
        connection.execute(
            statement,
            [{"report_id": report_id, **dict(zip(_ROW_COLUMNS, row, strict=True))} for row in batch],
        )

    return write_core


def _open_report(
    sessions: SessionFactory,
    store_id: int,
    kind: str,
    source: str,
    platform_report_id: str,
    generated_at: datetime | None,
    report_id: int | None,
) -> int:
    with sessions() as session:
        report = session.get(PlatformReport, report_id) if report_id is not None else None
        if report is None:
            if session.get(Store, store_id) is None:
                raise ReportImportError(f"there is no store with id {store_id}")
            report = PlatformReport(store_id=store_id, kind=kind, source=source)
        report.status = ReportStatus.IN_PROGRESS
        # Which process imports it, while it does: a report left so by a killed process is told
        # from one still being imported (see `fail_abandoned_imports`).
        report.error = _running_marker()
        report.platform_report_id = platform_report_id or report.platform_report_id
        report.generated_at = generated_at or report.generated_at
        session.add(report)
        session.commit()
        assert report.id is not None
        return report.id


def _fail_report(sessions: SessionFactory, report_id: int, error: str) -> None:
    """Mark the report failed and delete what of its rows a batched import had committed."""
    try:
        with sessions() as session:
            table = table_of(ReportRow)
            session.execute(delete(table).where(table.c.report_id == report_id))
            report = session.get(PlatformReport, report_id)
            if report is not None:
                report.status = ReportStatus.FAILED
                report.error = error
                report.row_count = 0
                session.add(report)
            session.commit()
    except SQLAlchemyError:  # still in_progress: the next start marks it failed
        log.exception("marking report %s failed did not work", report_id)


_MARKER = "import running in process "
_MARKER_PATTERN = re.compile(re.escape(_MARKER) + r"(\d+) on (\S+)")
ABANDONED_AFTER = timedelta(hours=6)  # an import on another machine with no end after this long


def _running_marker() -> str:
    return f"{_MARKER}{os.getpid()} on {socket.gethostname()}"


def fail_abandoned_imports(sessions: SessionFactory, *, now: datetime | None = None) -> list[int]:
    """Mark failed the reports whose import died with its process (killed, machine restarted).

    An import on this machine is abandoned when its process no longer runs; one on another
    machine when it has run longer than `ABANDONED_AFTER`. Their committed rows are deleted.
    Reports waiting on the platform (never started importing) are left alone.

    Returns:
        The ids of the reports marked failed.
    """
    now = now or utcnow()
    here = socket.gethostname()
    abandoned: list[int] = []
    with sessions() as session:
        running = session.exec(
            select(PlatformReport).where(
                PlatformReport.status == ReportStatus.IN_PROGRESS,
                col(PlatformReport.error).startswith(_MARKER),
            )
        ).all()
    for report in running:
        match = _MARKER_PATTERN.match(report.error)
        if match is None or report.id is None:
            continue
        pid, host = int(match.group(1)), match.group(2)
        if host == here:
            if pid == os.getpid() or _process_runs(pid):
                continue
        elif now - (as_utc(report.requested_at) or now) < ABANDONED_AFTER:
            continue
        abandoned.append(report.id)
        _fail_report(
            sessions,
            report.id,
            "the import stopped before it finished (its process ended); nothing of it was kept: "
            "import the report again",
        )
        _audit_import(
            sessions, report.store_id, "system", "failed", f"{report.kind} report {report.id}: abandoned"
        )
    return abandoned


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def latest_report(session: Session, store_id: int, kind: str) -> PlatformReport | None:
    """The store's most recent successfully imported report of `kind` (newest data first)."""
    statement = (
        select(PlatformReport)
        .where(
            PlatformReport.store_id == store_id,
            PlatformReport.kind == kind,
            PlatformReport.status == ReportStatus.DONE,
        )
        .order_by(*_newest_first())
        .limit(1)
    )
    return session.exec(statement).first()


def report_row_for_sku(session: Session, report_id: int, sku: str) -> ReportRow | None:
    """The report's row for `sku` (exact match), or None when the report does not have it."""
    statement = select(ReportRow).where(ReportRow.report_id == report_id, ReportRow.sku == sku).limit(1)
    return session.exec(statement).first()


@dataclass(frozen=True)
class StoreReportOutcome:
    """One store's part of the nightly import: the reports it got, or the error that stopped it."""

    store_id: int
    store: str
    report_ids: tuple[int, ...] = ()
    error: str = ""


_FAILED = (ReportStatus.FAILED, ReportStatus.CANCELLED)


@dataclass
class _Request:
    """One report being fetched from a platform."""

    store: Store
    kind: str
    report_id: int
    actor: str
    connector: MarketplaceConnector | None = None
    platform_report_id: str = ""
    status: str = ReportStatus.REQUESTED
    detail: str = ""  # why it failed or was cancelled, in the seller's words


class ReportRefresher:
    """Requests fresh reports from the platforms, waits for them, and imports them.

    Args:
        sessions: makes a new database session.
        connector_for: the connector for a store.
        sleep: how to wait between polls (tests pass a fake clock's sleep).
        first_poll: seconds before the first status poll; doubles up to `max_poll`.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        connector_for: ConnectorFor,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        first_poll: float = 0.2,
        max_poll: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._connector_for = connector_for
        self._sleep = sleep
        self._monotonic = monotonic
        self._first_poll = first_poll
        self._max_poll = max_poll

    def refresh(self, store_id: int, kind: str, *, actor: str = "", wait_seconds: float = 20.0) -> int | None:
        """Request a fresh report and import it if the platform has it ready within `wait_seconds`.

        Returns:
            The new `PlatformReport.id` (its status says done, in_progress, cancelled or failed),
            or None when the store does not exist or its platform has no such report.
        """
        with self._sessions() as session:
            store = session.get(Store, store_id)
        if store is None or kind not in report_kinds_for(store.platform):
            return None
        request = self._request(store, kind, actor)
        self._wait([request], wait_seconds)
        return request.report_id

    def import_all(
        self, *, actor: str = "scheduler", wait_seconds: float = 900.0, store_ids: Sequence[int] | None = None
    ) -> list[StoreReportOutcome]:
        """The nightly job: fresh reports for every authorized store; one failure never stops the rest.

        Every report is requested first and then all are polled together, so a platform slow to
        generate one report delays nobody else's import; what is not ready after `wait_seconds`
        stays `in_progress`.
        """
        fail_abandoned_imports(self._sessions)
        with self._sessions() as session:
            query = select(Store).where(
                Store.auth_status == AuthStatus.AUTHORIZED, col(Store.deleted_at).is_(None)
            )
            if store_ids is not None:  # one task per store when workers share the nightly import
                query = query.where(col(Store.id).in_(list(store_ids)))
            stores = session.exec(query.order_by(col(Store.id))).all()
        requests: list[_Request] = []
        for store in stores:
            requests.extend(self._request(store, kind, actor) for kind in report_kinds_for(store.platform))
        self._wait(requests, wait_seconds)
        outcomes: list[StoreReportOutcome] = []
        for store in stores:
            assert store.id is not None
            mine = [r for r in requests if r.store.id == store.id]
            errors = [f"{r.kind}: {r.detail}" for r in mine if r.status in _FAILED]
            imported = any(r.status == ReportStatus.DONE for r in mine)
            outcome = StoreReportOutcome(
                store.id, store.name, tuple(r.report_id for r in mine), "; ".join(errors)
            )
            self._record_store(store.id, outcome.error, imported=imported)
            outcomes.append(outcome)
        return outcomes

    def _request(self, store: Store, kind: str, actor: str) -> _Request:
        """A new report record, and the platform asked for the report (failures are recorded)."""
        with self._sessions() as session:
            report = PlatformReport(store_id=store.id or 0, kind=kind, source="platform")
            session.add(report)
            session.commit()
            assert report.id is not None
        request = _Request(store=store, kind=kind, report_id=report.id, actor=actor)
        try:
            request.connector = self._connector_for(store)
            request.platform_report_id = request.connector.request_report(kind)
        except Exception as exc:  # recorded on the report: one store never stops the others
            self._failed(request, exc)
            return request
        with self._sessions() as session:
            stored = session.get(PlatformReport, request.report_id)
            assert stored is not None
            stored.platform_report_id = request.platform_report_id
            stored.status = ReportStatus.IN_PROGRESS
            session.add(stored)
            session.commit()
        request.status = ReportStatus.IN_PROGRESS
        return request

    def _wait(self, requests: list[_Request], wait_seconds: float) -> None:
        """Poll the requested reports (with backoff) until each is finished or the wait is over."""
        deadline = self._monotonic() + wait_seconds
        delay = self._first_poll
        while True:
            for request in requests:
                if request.status == ReportStatus.IN_PROGRESS:
                    self._poll(request)
            if all(r.status != ReportStatus.IN_PROGRESS for r in requests):
                break
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                break
            self._sleep(min(delay, remaining))
            delay = min(delay * 2, self._max_poll)
        for request in requests:
            if request.status in _FAILED:
                self._finish(request.report_id, request.status, request.detail)
            result = {"done": "ok", "in_progress": "pending"}.get(request.status, "failed")
            detail = f"{request.kind} report {request.report_id}: {request.status}"
            self._audit(
                request.store,
                request.actor,
                result,
                detail + (f": {request.detail}" if request.detail else ""),
            )

    def _poll(self, request: _Request) -> None:
        assert request.connector is not None
        try:
            state = request.connector.report_state(request.platform_report_id)
            if state.status == "DONE":
                if not state.document_id:
                    request.status = ReportStatus.FAILED
                    request.detail = "the platform finished the report but gave no document"
                    return
                import_report_stream(
                    self._sessions,
                    request.store.id or 0,
                    request.kind,
                    request.connector.download_report(state.document_id),
                    source="platform",
                    platform_report_id=request.platform_report_id,
                    generated_at=state.generated_at or utcnow(),
                    report_id=request.report_id,
                    actor=request.actor or "system",
                    audited=False,  # audited below as this request's outcome
                )
                request.status = ReportStatus.DONE
            elif state.status == "CANCELLED":
                request.status = ReportStatus.CANCELLED
                request.detail = "the platform cancelled the report (it had no data to report)"
            elif state.status == "FATAL":
                request.status = ReportStatus.FAILED
                request.detail = "the platform could not generate the report (FATAL); try again later"
        except Exception as exc:  # recorded on the report: one store never stops the others
            self._failed(request, exc)

    def _failed(self, request: _Request, error: Exception) -> None:
        request.status = ReportStatus.FAILED
        if isinstance(error, PlatformError | ReportImportError):
            request.detail = str(error)
        else:
            log.exception("report %s of store %s failed", request.report_id, request.store.id)
            request.detail = "an unexpected error stopped the report (see the logs)"
        if isinstance(error, AuthorizationExpired):
            self._mark_expired(request.store.id or 0, str(error))

    def _finish(self, report_id: int, status: str, error: str) -> None:
        with self._sessions() as session:
            report = session.get(PlatformReport, report_id)
            if report is not None:
                report.status = status
                report.error = error
                session.add(report)
                session.commit()

    def _record_store(self, store_id: int, error: str, *, imported: bool) -> None:
        with self._sessions() as session:
            store = session.get(Store, store_id)
            if store is not None:
                if imported:
                    store.last_report_import_at = utcnow()
                store.last_report_import_error = error
                session.add(store)
                session.commit()

    def _mark_expired(self, store_id: int, error: str) -> None:
        with self._sessions() as session:
            store = session.get(Store, store_id)
            if store is not None:
                store.auth_status = AuthStatus.EXPIRED
                store.auth_error = error
                session.add(store)
                session.commit()

    def _audit(self, store: Store, actor: str, result: str, detail: str) -> None:
        with self._sessions() as session:
            session.add(
                AuditLog(
                    actor=actor or "system",
                    account_id=store.account_id,
                    store_id=store.id,
                    action="request_report",
                    result=result,
                    detail=detail,
                )
            )
            session.commit()
