"""Commands store, account, user: administration of accounts, stores and Slack identities.

store add --account A --name N --platform amazon|shopee --endpoint URL [--auth-endpoint URL]
          [--credential KEY=VALUE ...] [--option KEY=VALUE ...] [--region R] [--marketplace-id M]
store list [--account A] [--all] [--json]
store remove --account A --name N [--yes]
account add NAME [--display-name TEXT]
account list [--json]
user link --slack-team T --slack-user U --account NAME --role owner|member|agent
user link-code --account NAME [--role R] [--hours H]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from typing import Any

from bot.cli.common import EXIT_OK, fail
from erp.accounts import (
    AccountError,
    add_store,
    audit,
    create_account,
    create_link_code,
    find_store,
    link_slack_user,
    list_accounts,
    list_stores,
    remove_store,
    require_account,
    store_data_counts,
)
from erp.models import Account, Platform, Role, Store

ACTOR = "cli"


def add_parser(subparsers: Any) -> list[str]:
    store = subparsers.add_parser("store", help="add, list or remove a seller's marketplace stores")
    store_commands = store.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = store_commands.add_parser("add", help="add a store to an account")
    add.add_argument("--account", required=True, help="account name")
    add.add_argument("--name", required=True, help="store name, unique in the account (e.g. 'Amazon US')")
    add.add_argument("--platform", required=True, choices=[p.value for p in Platform])
    add.add_argument("--endpoint", required=True, help="API base URL (the platform, its sandbox, or ours)")
    add.add_argument(
        "--auth-endpoint",
        default="",
        help="Login with Amazon token URL, used as given (default https://api.amazon.com/auth/o2/token)",
    )
    add.add_argument("--region", default="", help="US, DE, MY ...")
    add.add_argument("--marketplace-id", default="", help="Amazon marketplace id or Shopee shop id")
    add.add_argument(
        "--credential", action="append", default=[], metavar="KEY=VALUE", help="a credential (repeatable)"
    )
    add.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="a connector option (repeatable)"
    )
    listing = store_commands.add_parser("list", help="list stores")
    listing.add_argument("--account", help="only this account's stores")
    listing.add_argument("--all", action="store_true", help="include stores whose data was deleted")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    remove = store_commands.add_parser("remove", help="remove a store and the software's data for it")
    remove.add_argument("--account", required=True)
    remove.add_argument("--name", required=True)
    remove.add_argument("--yes", action="store_true", help="confirm removing a store that has data")

    account = subparsers.add_parser("account", help="add or list seller accounts")
    account_commands = account.add_subparsers(dest="action", metavar="ACTION", required=True)
    account_add = account_commands.add_parser("add", help="add a seller account")
    account_add.add_argument("name")
    account_add.add_argument("--display-name", default="")
    account_list = account_commands.add_parser("list", help="list accounts")
    account_list.add_argument("--json", action="store_true")

    user = subparsers.add_parser("user", help="link Slack users to seller accounts")
    user_commands = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    link = user_commands.add_parser("link", help="link a Slack user to an account")
    link.add_argument("--slack-team", required=True)
    link.add_argument("--slack-user", required=True)
    link.add_argument("--account", required=True)
    link.add_argument("--role", required=True, choices=[r.value for r in Role])
    code = user_commands.add_parser(
        "link-code", help="a one-time code a seller types as /sellerdesk link CODE"
    )
    code.add_argument("--account", required=True)
    code.add_argument("--role", default=Role.MEMBER.value, choices=[r.value for r in Role])
    code.add_argument("--hours", type=float, default=24.0, help="how long the code works (default 24)")
    return ["store", "account", "user"]


def run(args: argparse.Namespace, components: Any) -> int:
    commands = {
        ("store", "add"): _store_add,
        ("store", "list"): _store_list,
        ("store", "remove"): _store_remove,
        ("account", "add"): _account_add,
        ("account", "list"): _account_list,
        ("user", "link"): _user_link,
        ("user", "link-code"): _user_link_code,
    }
    command = commands[(args.command, args.action)]
    try:
        with components.session() as session:
            return command(args, session)
    except AccountError as exc:
        return fail(str(exc))


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise AccountError(f"{what} must look like KEY=VALUE, not {value!r}")
        pairs[key.strip()] = text
    return pairs


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _store_add(args: argparse.Namespace, session: Any) -> int:
    account = require_account(session, args.account)
    options: dict[str, Any] = {}
    for key, text in _pairs(args.option, "--option").items():
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    store = add_store(
        session,
        account_id=account.id or 0,
        name=args.name,
        platform=args.platform,
        endpoint=args.endpoint,
        auth_endpoint=args.auth_endpoint,
        region=args.region,
        marketplace_id=args.marketplace_id,
        credentials=_pairs(args.credential, "--credential"),
        options=options,
    )
    audit(session, actor=ACTOR, action="add_store", result="ok", account_id=account.id, store_id=store.id)
    # Credential values are never echoed: only which keys were stored.
    keys = ", ".join(sorted(store.credentials)) or "none"
    _out(f"added store {store.name!r} ({store.platform}) to account {account.name!r}; credentials: {keys}")
    return EXIT_OK


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def store_summary(store: Store, account_name: str) -> dict[str, Any]:
    """What `store list --json` prints for a store: never its credentials."""
    return {
        "account": account_name,
        "name": store.name,
        "platform": store.platform,
        "region": store.region,
        "endpoint": store.endpoint,
        "auth_status": store.auth_status,
        "last_order_sync_at": _time(store.last_order_sync_at),
        "last_order_sync_error": store.last_order_sync_error,
        "last_report_import_at": _time(store.last_report_import_at),
        "last_report_import_error": store.last_report_import_error,
        "data_deleted_at": _time(store.deleted_at),
    }


def _store_list(args: argparse.Namespace, session: Any) -> int:
    accounts = {account.id: account.name for account in list_accounts(session)}
    account_id = require_account(session, args.account).id if args.account else None
    stores = list_stores(session, account_id, include_deleted=args.all)
    if args.json:
        for store in stores:
            _out(json.dumps(store_summary(store, accounts.get(store.account_id, "")), ensure_ascii=False))
        return EXIT_OK
    if not stores:
        _out("no stores yet: add one with `store add`")
        return EXIT_OK
    _out(f"{'ACCOUNT':<14} {'STORE':<20} {'PLATFORM':<8} {'AUTH':<10} LAST SYNC / LAST REPORT")
    for store in stores:
        times = f"{_short(store.last_order_sync_at)} / {_short(store.last_report_import_at)}"
        _out(
            f"{accounts.get(store.account_id, ''):<14} {store.name:<20} {store.platform:<8} "
            f"{store.auth_status:<10} {times}"
        )
    return EXIT_OK


def _short(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "never"


def _store_remove(args: argparse.Namespace, session: Any) -> int:
    account = require_account(session, args.account)
    store = find_store(session, account_id=account.id or 0, name=args.name, include_deleted=True)
    if store is None:
        raise AccountError(f"account {account.name!r} has no store named {args.name!r} (see `store list`)")
    counts = store_data_counts(session, store.id or 0)
    held = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in counts.items() if count)
    if held and not args.yes:
        raise AccountError(
            f"store {store.name!r} holds {held}; run again with --yes to remove it and its data"
        )
    account_id, store_id = account.id, store.id
    remove_store(session, store=store)
    audit(
        session, actor=ACTOR, action="remove_store", result="ok", account_id=account_id, detail=f"{store_id}"
    )
    _out(f"removed store {args.name!r} from account {account.name!r}" + (f" ({held})" if held else ""))
    return EXIT_OK


def _account_add(args: argparse.Namespace, session: Any) -> int:
    account = create_account(session, name=args.name, display_name=args.display_name)
    audit(session, actor=ACTOR, action="add_account", result="ok", account_id=account.id)
    _out(f"added account {account.name!r}")
    return EXIT_OK


def _account_list(args: argparse.Namespace, session: Any) -> int:
    accounts: list[Account] = list_accounts(session)
    stores = list_stores(session)
    for account in accounts:
        count = sum(1 for store in stores if store.account_id == account.id)
        if args.json:
            _out(json.dumps({"name": account.name, "display_name": account.display_name, "stores": count}))
        else:
            _out(f"{account.name:<20} {count} store(s)")
    if not accounts and not args.json:
        _out("no accounts yet: add one with `account add NAME`")
    return EXIT_OK


def _user_link(args: argparse.Namespace, session: Any) -> int:
    account = require_account(session, args.account)
    link_slack_user(
        session, team_id=args.slack_team, user_id=args.slack_user, account=account, role=args.role
    )
    audit(
        session,
        actor=ACTOR,
        action="link_identity",
        result="ok",
        account_id=account.id,
        detail=f"slack:{args.slack_team}:{args.slack_user} as {args.role}",
    )
    _out(f"linked Slack user {args.slack_user} ({args.slack_team}) to {account.name!r} as {args.role}")
    return EXIT_OK


def _user_link_code(args: argparse.Namespace, session: Any) -> int:
    if not 0 < args.hours <= 24 * 30:
        raise AccountError("--hours must be more than 0 and at most 720 (30 days)")
    account = require_account(session, args.account)
    code = create_link_code(session, account=account, role=args.role, ttl=timedelta(hours=args.hours))
    audit(
        session, actor=ACTOR, action="create_link_code", result="ok", account_id=account.id, detail=args.role
    )
    _out(code)
    sys.stderr.write(
        f"one-time code for {account.name!r} as {args.role}, valid {args.hours:g} h: "
        f"the seller types /sellerdesk link {code}\n"
    )
    return EXIT_OK
