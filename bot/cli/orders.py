"""Command sync-orders: sync orders now, with progress and a summary per store.

sync-orders [--account NAME] [--store NAME] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from bot.cli.common import EXIT_OK, EXIT_PROBLEM, fail
from erp.models import Account, Store
from erp.progress import StoreSyncProgress

ACTOR = "cli"


class _Refusal(Exception):
    """Bad input: the one-line message for the user."""


def add_parser(subparsers: Any) -> list[str]:
    parser = subparsers.add_parser(
        "sync-orders",
        help="sync orders from the marketplaces now, with progress and a summary per store",
        description="Sync orders now for every account's stores, one account's (--account) or one store "
        "(--store). "
        "Progress goes to stderr, the summary to stdout. Exit status: 0 when every store synced, "
        "1 when a store failed (the others still sync, and what was fetched is kept), 2 on bad input.",
    )
    parser.add_argument(
        "--account",
        metavar="NAME",
        help="the seller account (default: every account, or the one account that has the --store)",
    )
    parser.add_argument(
        "--store", metavar="NAME", help="sync only this store (default: all the account's stores)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per store: "
        '{"store", "platform", "pages", "fetched", "inserted", "updated", "error", "error_kind"}',
    )
    return ["sync-orders"]


def run(args: argparse.Namespace, components: Any) -> int:
    from bot.cli.demo import demo_platforms_for_run

    # On the demo database the stores live on the demo's sandbox platforms: up for this run.
    with demo_platforms_for_run(components):
        return _run(args, components)


def _run(args: argparse.Namespace, components: Any) -> int:
    try:
        with components.session() as session:
            targets = _resolve(session, args.account, args.store)
    except _Refusal as refusal:
        return fail(str(refusal))
    except SQLAlchemyError as exc:
        return fail(f"the database cannot be read ({type(exc).__name__}); check DATABASE_URL")

    def show_progress(update: StoreSyncProgress) -> None:
        if update.done:
            return
        if update.pages == 0:
            line = f"{update.store}: syncing..."
        else:
            line = f"{update.store}: page {update.pages}, {update.fetched:,} orders so far"
        print(line, file=sys.stderr, flush=True)  # noqa: T201

    try:
        results = [
            result
            for account_id, store_ids in targets
            for result in components.order_sync.sync_account(
                account_id, store_ids=store_ids, trigger="manual", actor=ACTOR, progress=show_progress
            )
        ]
    except SQLAlchemyError as exc:
        return fail(f"the database cannot be written ({type(exc).__name__}); check DATABASE_URL")
    finally:
        # A one-shot command: hang up on the marketplaces rather than leave it to process exit.
        components.connectors.close()
    if not results:
        return fail("the account has no stores to sync: add one with `store add`")
    for result in results:
        print(json.dumps(_as_json(result), ensure_ascii=False) if args.json else _summary(result))  # noqa: T201
    return EXIT_PROBLEM if any(result.error for result in results) else EXIT_OK


def _resolve(
    session: Session, account_name: str | None, store_name: str | None
) -> list[tuple[int, list[int] | None]]:
    """(account, stores or None for all) to sync, or a `_Refusal` saying what is wrong and what exists."""
    accounts = list(session.exec(select(Account).order_by(col(Account.name))))
    if not accounts:
        raise _Refusal("there are no accounts yet: run `demo` or `account add` first")
    if account_name is not None:
        wanted = account_name.strip().casefold()
        account = next((a for a in accounts if a.name.casefold() == wanted), None)
        if account is None:
            raise _Refusal(f"no account named {account_name!r}; accounts: {_names(a.name for a in accounts)}")
        candidates = [account]
    else:
        # The operator's command: with no account named, every account's stores are synced.
        candidates = accounts

    account_ids = [a.id for a in candidates]
    stores = list(
        session.exec(
            select(Store)
            .where(col(Store.account_id).in_(account_ids), col(Store.deleted_at).is_(None))
            .order_by(col(Store.name))
        )
    )
    if store_name is None:
        return [(a.id, None) for a in candidates if a.id is not None]
    wanted = store_name.strip().casefold()
    matches = [s for s in stores if s.name.casefold() == wanted]
    if not matches:
        known = _names(s.name for s in stores) if stores else "none yet (add one with `store add`)"
        raise _Refusal(f"no store named {store_name!r}; known stores: {known}")
    owners = {s.account_id for s in matches}
    if len(owners) > 1:
        names = _names(a.name for a in accounts if a.id in owners)
        raise _Refusal(f"several accounts have a store named {store_name!r}: add --account ({names})")
    return [(matches[0].account_id, [s.id for s in matches if s.id is not None])]


def _names(names: Any) -> str:
    return ", ".join(sorted(set(names), key=str.casefold))


def _as_json(result: StoreSyncProgress) -> dict[str, Any]:
    return {
        "store": result.store,
        "platform": result.platform,
        "pages": result.pages,
        "fetched": result.fetched,
        "inserted": result.inserted,
        "updated": result.updated,
        "error": result.error or None,
        "error_kind": result.error_kind or None,
    }


def _summary(result: StoreSyncProgress) -> str:
    counts = (
        f"{result.fetched:,} orders fetched in {result.pages} page{'s' if result.pages != 1 else ''}: "
        f"{result.inserted:,} new, {result.updated:,} updated"
    )
    if not result.error:
        return f"{result.store} ({result.platform}): {counts}"
    if result.pages:
        return f"{result.error} (before it stopped: {counts})"
    return result.error
