"""Command report: import a report file a seller downloaded from the platform.

    report import FILE --store NAME --kind listings|inventory [--account A] [--json]

Prints `{"rows": N, "report_id": ..., "store": ..., "kind": ...}` with --json. A file that cannot
be read exits 2 with one line saying why; reports imported before stay as they were.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.cli.common import EXIT_OK, fail
from erp.accounts import AccountError, audit, find_store, list_stores, require_account
from erp.jobs.report_import import ReportImportError, import_report_file
from erp.models import ReportKind, Store


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
    importing.add_argument("--json", action="store_true", help="print the result as one JSON object")
    return ["report"]


def run(args: argparse.Namespace, components: Any) -> int:
    try:
        store = _store(components, args.store, args.account)
    except AccountError as exc:
        return fail(str(exc))
    try:
        result = import_report_file(components.session, store.id or 0, args.kind, args.file)
    except ReportImportError as exc:
        with components.session() as session:
            audit(
                session,
                actor="cli",
                action="import_report",
                result="failed",
                account_id=store.account_id,
                store_id=store.id,
                detail=str(exc),
            )
        return fail(f"{args.file}: {exc}")
    with components.session() as session:
        audit(
            session,
            actor="cli",
            action="import_report",
            result="ok",
            account_id=store.account_id,
            store_id=store.id,
            detail=f"{args.kind} report {result.report_id}: {result.rows} rows",
        )
    summary = {
        "rows": result.rows,
        "report_id": result.report_id,
        "store": store.name,
        "kind": args.kind,
        "skipped": result.skipped,
        "encoding": result.encoding,
    }
    if args.json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    else:
        extra = f", {result.skipped} blank or broken line(s) skipped" if result.skipped else ""
        sys.stdout.write(
            f"imported {result.rows} rows into {store.name!r} "
            f"as {args.kind} report {result.report_id}{extra}\n"
        )
    return EXIT_OK


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
