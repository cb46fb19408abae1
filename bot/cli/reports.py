"""Command report: import a report file a seller downloaded from the platform.

    report import FILE --store NAME --kind listings|inventory [--account A]
                       [--generated-at WHEN] [--encoding CHARSET] [--json]

Prints `{"rows": N, "report_id": ..., "store": ..., "kind": ..., "generated_at": ...,
"bad_values": N, "problems": [...]}` with --json. The report counts from when it was generated
(`--generated-at`, by default the file's modification time): it becomes the store's latest report
only when it is newer than the one in use. Rows with a value that cannot be what its column holds
are left out and counted ("row 7, column quantity: '²' is not a number"). A file that cannot be
read exits 2 with one line saying why, the report marked failed; reports imported before stay as
they were. Every import is audited with who ran it and the store.
"""

from __future__ import annotations

import argparse
import codecs
import getpass
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cli.common import EXIT_OK, fail
from erp.accounts import AccountError, find_store, list_stores, require_account
from erp.jobs.report_import import ImportResult, ReportImportError, fail_abandoned_imports, import_report_file
from erp.models import ReportKind, Store

# A report generated later than this from now is a typo (2062 for 2026) that would stay "latest".
_FUTURE_SLACK = timedelta(hours=1)


def add_parser(subparsers: Any) -> list[str]:
    report = subparsers.add_parser("report", help="import a platform report file")
    commands = report.add_subparsers(dest="action", metavar="ACTION", required=True)
    importing = commands.add_parser("import", help="import a listings or inventory report (.tsv or .gz)")
    importing.add_argument("file", help="the report file, as downloaded (plain or gzip)")
    importing.add_argument("--store", required=True, help="store name")
    importing.add_argument("--kind", required=True, choices=[k.value for k in ReportKind])
    importing.add_argument(
        "--account", help="account name (needed when two accounts have a store of that name)"
    )
    importing.add_argument(
        "--generated-at",
        metavar="WHEN",
        help="when the platform generated the report, ISO 8601 (2026-11-25T02:00:00Z, or a date); "
        "UTC when no zone is given (default: the file's modification time)",
    )
    importing.add_argument(
        "--encoding",
        metavar="CHARSET",
        help="the file's character set when it is neither UTF-8, Shift_JIS nor Cp1252 "
        "(default: recognised from the file)",
    )
    importing.add_argument("--json", action="store_true", help="print the result as one JSON object")
    return ["report"]


def run(args: argparse.Namespace, components: Any) -> int:
    try:
        generated_at = _generated_at(args.generated_at)
        _check_encoding(args.encoding)
        store = _store(components, args.store, args.account)
    except (AccountError, ValueError) as exc:
        return fail(str(exc))
    # An import a killed process left behind is failed now, before this one may be read as current.
    fail_abandoned_imports(components.session)
    try:
        result = import_report_file(
            components.session,
            store.id or 0,
            args.kind,
            args.file,
            generated_at=generated_at,
            actor=_actor(),
            encoding=args.encoding,
        )
    except ReportImportError as exc:
        return fail(f"{args.file}: {exc}")
    if args.json:
        sys.stdout.write(json.dumps(_summary(result, store), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(_text(result, store))
    return EXIT_OK


def _generated_at(text: str | None) -> datetime | None:
    """`--generated-at` as an aware UTC datetime (None when not given).

    Raises:
        ValueError: not a date, or in the future; the message is the one line to show.
    """
    if text is None:
        return None
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise ValueError(
            f"--generated-at {text!r} is not a date and time: use ISO 8601, e.g. 2026-11-25T02:00:00Z"
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > datetime.now(UTC) + _FUTURE_SLACK:
        raise ValueError(f"--generated-at {text!r} is in the future: give when the report was generated")
    return moment


def _check_encoding(name: str | None) -> None:
    if name is None:
        return
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValueError(
            f"--encoding {name!r} is not a character set (for example cp932, cp1252, utf-8)"
        ) from None


def _actor() -> str:
    """Who runs the command, for the audit log: the operating-system user at the terminal."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this environment (a bare container)
        return "cli"


def _summary(result: ImportResult, store: Store) -> dict[str, Any]:
    return {
        "rows": result.rows,
        "report_id": result.report_id,
        "store": store.name,
        "kind": result.kind,
        "generated_at": result.generated_at.isoformat() if result.generated_at else None,
        "skipped": result.skipped,
        "bad_values": result.bad_values,
        "problems": list(result.problems),
        "encoding": result.encoding,
    }


def _text(result: ImportResult, store: Store) -> str:
    extra = f", {result.skipped} blank or broken line(s) skipped" if result.skipped else ""
    generated = f" (generated {result.generated_at:%Y-%m-%d %H:%M} UTC)" if result.generated_at else ""
    lines = [
        f"imported {result.rows} rows into {store.name!r} "
        f"as {result.kind} report {result.report_id}{generated}{extra}"
    ]
    if result.bad_values:
        lines.append(f"{result.bad_values} row(s) left out for a bad value:")
        lines.extend(f"  {problem}" for problem in result.problems)
        if result.bad_values > len(result.problems):
            lines.append(f"  ... and {result.bad_values - len(result.problems)} more")
    return "\n".join(lines) + "\n"


def _store(components: Any, name: str, account_name: str | None) -> Store:
    with components.session() as session:
        if account_name:
            account = require_account(session, account_name)
            store = find_store(session, account_id=account.id or 0, name=name)
            if store is None:
                raise AccountError(f"account {account.name!r} has no store named {name!r} (see `store list`)")
            return store
        matches = [
            store for store in list_stores(session) if store.name.casefold() == name.strip().casefold()
        ]
        if not matches:
            raise AccountError(f"there is no store named {name!r} (see `store list`)")
        if len(matches) > 1:
            raise AccountError(f"several accounts have a store named {name!r}: add --account")
        return matches[0]
