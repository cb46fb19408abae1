"""Accounts, stores and Slack identities: small keyword-only functions over a session.

Who may see what rests on these: a Slack user sees only the stores of the account their identity
is linked to. Link codes let an administrator hand a seller a one-time code instead of typing
Slack ids; a code works once and expires.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, func, select

from erp.models import (
    Account,
    AuditLog,
    AuthStatus,
    Escalation,
    FollowUp,
    ImageGrabResult,
    LinkCode,
    Order,
    Platform,
    PlatformReport,
    PriceChange,
    Product,
    PublishAttempt,
    ReportRow,
    Role,
    SlackIdentity,
    Store,
    StoreDeletion,
    SyncRun,
    UploadRecord,
    table_of,
    utcnow,
)

_IDENTITIES = table_of(SlackIdentity)
_IDENTITY = core_select(_IDENTITIES.c.account_id, _IDENTITIES.c.role).where(
    _IDENTITIES.c.team_id == bindparam("team"), _IDENTITIES.c.user_id == bindparam("user")
)

# Letters and digits a person can read back without confusing 0/O or 1/I/L.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 10


class AccountError(ValueError):
    """A request that cannot be carried out; `str(error)` is one friendly line."""


@dataclass(frozen=True)
class LinkResult:
    """The outcome of redeeming a link code."""

    ok: bool
    account_id: int | None = None
    account_name: str = ""
    role: str = ""
    reason: str = ""  # why it failed, in words the seller can act on
    reason_zh: str = ""  # the same in Chinese


# Why a link code did not work, in English and Chinese.
_UNKNOWN = LinkResult(
    False,
    reason="That code is not known. Check it, or ask your administrator for a new one.",
    reason_zh="这个绑定码无效。请检查，或向管理员索取新的绑定码。",
)
_USED = LinkResult(
    False,
    reason="That code was already used. Ask your administrator for a new one.",
    reason_zh="这个绑定码已经用过了。请向管理员索取新的绑定码。",
)
_EXPIRED = LinkResult(
    False,
    reason="That code has expired. Ask your administrator for a new one.",
    reason_zh="这个绑定码已过期。请向管理员索取新的绑定码。",
)
_NO_ACCOUNT = LinkResult(
    False,
    reason="That code's account no longer exists. Ask your administrator.",
    reason_zh="这个绑定码对应的账号已不存在。请联系管理员。",
)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def create_account(session: Session, *, name: str, display_name: str = "") -> Account:
    """Create a seller account.

    Raises:
        AccountError: the name is empty or taken.
    """
    name = name.strip()
    if not name:
        raise AccountError("an account needs a name")
    if get_account_by_name(session, name) is not None:
        raise AccountError(f"an account named {name!r} already exists")
    account = Account(name=name, display_name=display_name or name)
    session.add(account)
    session.commit()
    return account


def get_account_by_name(session: Session, name: str) -> Account | None:
    return session.exec(select(Account).where(Account.name == name.strip())).first()


def list_accounts(session: Session) -> list[Account]:
    return list(session.exec(select(Account).order_by(col(Account.name))).all())


def require_account(session: Session, name: str) -> Account:
    """The account named `name`.

    Raises:
        AccountError: there is no such account.
    """
    account = get_account_by_name(session, name)
    if account is None:
        raise AccountError(f"there is no account named {name!r} (see `account list`)")
    return account


def add_store(
    session: Session,
    *,
    account_id: int,
    name: str,
    platform: str,
    endpoint: str = "",
    auth_endpoint: str = "",
    region: str = "",
    marketplace_id: str = "",
    credentials: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> Store:
    """Add a store to an account.

    Raises:
        AccountError: unknown platform, a malformed endpoint, or the name is taken in the account.
    """
    name = name.strip()
    if not name:
        raise AccountError("a store needs a name")
    if platform not in {p.value for p in Platform}:
        raise AccountError(f"unknown platform {platform!r}: use amazon or shopee")
    for label, url in (("endpoint", endpoint), ("auth endpoint", auth_endpoint)):
        if url and not url.startswith(("http://", "https://")):
            raise AccountError(f"the {label} must be an http(s) URL, not {url!r}")
    if find_store(session, account_id=account_id, name=name, include_deleted=True) is not None:
        raise AccountError(f"the account already has a store named {name!r}")
    store = Store(
        account_id=account_id,
        name=name,
        platform=platform,
        endpoint=endpoint,
        auth_endpoint=auth_endpoint,
        region=region,
        marketplace_id=marketplace_id,
        credentials=dict(credentials or {}),
        options=dict(options or {}),
    )
    session.add(store)
    session.commit()
    return store


def find_store(
    session: Session, *, account_id: int, name: str, include_deleted: bool = False
) -> Store | None:
    """The account's store called `name` (exact, then case-insensitive)."""
    statement = select(Store).where(Store.account_id == account_id)
    if not include_deleted:
        statement = statement.where(col(Store.deleted_at).is_(None))
    stores = session.exec(statement).all()
    for store in stores:
        if store.name == name:
            return store
    wanted = name.strip().casefold()
    return next((store for store in stores if store.name.casefold() == wanted), None)


def list_stores(
    session: Session, account_id: int | None = None, *, include_deleted: bool = False
) -> list[Store]:
    """The account's stores (every account's when `account_id` is None), by name.

    Stores whose data the owner deleted are left out unless `include_deleted`.
    """
    statement = select(Store)
    if account_id is not None:
        statement = statement.where(Store.account_id == account_id)
    if not include_deleted:
        statement = statement.where(col(Store.deleted_at).is_(None))
    return list(session.exec(statement.order_by(col(Store.account_id), col(Store.name))).all())


def store_data_counts(session: Session, store_id: int) -> dict[str, int]:
    """How many rows of the seller's data belong to the store, by kind."""

    def count(model: Any) -> int:
        return int(
            session.exec(select(func.count()).select_from(model).where(model.store_id == store_id)).one()
        )

    return {
        "orders": count(Order),
        "products": count(Product),
        "upload_records": count(UploadRecord),
        "reports": count(PlatformReport),
        "price_changes": count(PriceChange),
        "publish_attempts": count(PublishAttempt),
        "sync_runs": count(SyncRun),
    }


def remove_store(session: Session, *, store: Store) -> dict[str, int]:
    """Remove a store and all the software's data for it, in one transaction.

    The audit log keeps its rows (with the store detached): who did what must outlive the store.

    Returns:
        What was removed, counted by kind.
    """
    store_id = store.id
    counts = store_data_counts(session, store_id or 0)
    report_ids = select(PlatformReport.id).where(PlatformReport.store_id == store_id)
    product_ids = select(Product.id).where(Product.store_id == store_id)
    session.execute(delete(ReportRow).where(col(ReportRow.report_id).in_(report_ids)))
    session.execute(delete(ImageGrabResult).where(col(ImageGrabResult.product_id).in_(product_ids)))
    owned: list[Any] = [PlatformReport, Product, Order, UploadRecord, PriceChange, PublishAttempt, SyncRun]
    for model in [*owned, StoreDeletion]:
        table = model.__table__
        session.execute(delete(table).where(table.c.store_id == store_id))
    referring: list[Any] = [Escalation, FollowUp, AuditLog]
    for model in referring:
        table = model.__table__
        session.execute(update(table).where(table.c.store_id == store_id).values(store_id=None))
    session.execute(delete(Store).where(col(Store.id) == store_id))
    session.commit()
    # The bulk statements bypassed the identity map: objects loaded before must be read again.
    session.expire_all()
    return counts


def link_slack_user(
    session: Session, *, team_id: str, user_id: str, account: Account, role: str
) -> SlackIdentity:
    """Link a Slack user to an account with a role (re-linking moves them and changes the role).

    Raises:
        AccountError: unknown role or empty ids.
    """
    if role not in {r.value for r in Role}:
        raise AccountError(f"unknown role {role!r}: use owner, member or agent")
    if not team_id.strip() or not user_id.strip():
        raise AccountError("a Slack team id and user id are both needed")
    identity = session.exec(
        select(SlackIdentity).where(SlackIdentity.team_id == team_id, SlackIdentity.user_id == user_id)
    ).first()
    if identity is None:
        identity = SlackIdentity(team_id=team_id, user_id=user_id, account_id=account.id or 0)
    identity.account_id = account.id or 0
    identity.role = role
    identity.linked_at = utcnow()
    session.add(identity)
    session.commit()
    return identity


def identity_for(session: Session | Connection, *, team_id: str, user_id: str) -> tuple[int, str] | None:
    """The (account id, role) the Slack user is linked to, or None when not linked."""
    # Every request Slack sends asks this while Slack waits: one prepared Core statement, not an
    # ORM query built and compiled each time (a third of the cost).
    connection = session.connection() if isinstance(session, Session) else session
    linked = connection.execute(_IDENTITY, {"team": team_id, "user": user_id}).first()
    return None if linked is None else (int(linked[0]), str(linked[1]))


def create_link_code(
    session: Session, *, account: Account, role: str = Role.MEMBER, ttl: timedelta = timedelta(hours=24)
) -> str:
    """A fresh one-time code that links whoever redeems it to `account` with `role`.

    Raises:
        AccountError: unknown role.
    """
    if role not in {r.value for r in Role}:
        raise AccountError(f"unknown role {role!r}: use owner, member or agent")
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    now = utcnow()
    session.add(
        LinkCode(code=code, account_id=account.id or 0, role=role, created_at=now, expires_at=now + ttl)
    )
    session.commit()
    return code


def redeem_link_code(
    session: Session, *, code: str, team_id: str, user_id: str, now: datetime | None = None
) -> LinkResult:
    """Link the Slack user with a one-time code; a friendly reason when the code does not work."""
    normalised = code.strip().upper().replace("-", "").replace(" ", "")
    link = session.get(LinkCode, normalised) if normalised else None
    if link is None:
        return _UNKNOWN
    if link.used_at is not None:
        return _USED
    now = now or utcnow()
    expires_at = _utc(link.expires_at)
    if expires_at is not None and expires_at <= now:
        return _EXPIRED
    account = session.get(Account, link.account_id)
    if account is None:
        return _NO_ACCOUNT
    # Mark it used first, in the same transaction, so a code never links two people.
    claimed = session.execute(
        update(LinkCode)
        .where(col(LinkCode.code) == normalised, col(LinkCode.used_at).is_(None))
        .values(used_at=now, used_by=f"slack:{team_id}:{user_id}")
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return _USED
    link_slack_user(session, team_id=team_id, user_id=user_id, account=account, role=link.role)
    audit(
        session,
        actor=f"slack:{team_id}:{user_id}",
        action="link_identity",
        result="ok",
        account_id=account.id,
        detail=f"linked as {link.role}",
    )
    return LinkResult(True, account_id=account.id, account_name=account.name, role=link.role)


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    result: str,
    account_id: int | None = None,
    store_id: int | None = None,
    detail: str = "",
) -> AuditLog:
    """Write one audit log row (who, what, on which account or store, the result) and commit."""
    entry = AuditLog(
        actor=actor or "system",
        action=action,
        result=result,
        account_id=account_id,
        store_id=store_id,
        detail=detail,
    )
    session.add(entry)
    session.commit()
    return entry


def mark_store_authorization(session: Session, *, store: Store, status: AuthStatus, error: str = "") -> None:
    """Record whether the store's platform authorization still works."""
    store.auth_status = status
    store.auth_error = error
    session.add(store)
    session.commit()
