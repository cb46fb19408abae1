"""Who is talking: a Slack user (in one workspace) resolved to a `Speaker` with account and role."""

from __future__ import annotations

from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot.conversation import Speaker
from erp.accounts import get_account_by_name, identity_for
from erp.models import Account, Role


def actor_for(team_id: str, user_id: str) -> str:
    """The audit log's name for a Slack user."""
    return f"slack:{team_id}:{user_id}"


def resolve_speaker(session: Session | Connection, team_id: str, user_id: str) -> Speaker:
    """The linked account and role of `user_id` in `team_id`; unlinked when there is no link.

    A link belongs to one workspace: the same user id in another workspace is a stranger.
    """
    linked = identity_for(session, team_id=team_id, user_id=user_id) if team_id and user_id else None
    if linked is None:
        return Speaker(actor=actor_for(team_id, user_id), account_id=None, team_id=team_id, user_id=user_id)
    account_id, role = linked
    return Speaker(
        actor=actor_for(team_id, user_id), account_id=account_id, role=role, team_id=team_id, user_id=user_id
    )


def act_for_account(session: Session, speaker: Speaker, words: str) -> tuple[Speaker, str]:
    """Let an agent name the account to act for as the first word(s) of a command.

    Returns the speaker to use and the remaining words. Sellers always act for their own
    account: for them the words are returned untouched.
    """
    if speaker.role != Role.AGENT or not words.strip():
        return speaker, words
    parts = words.split()
    for size in range(min(len(parts), 3), 0, -1):
        name = " ".join(parts[:size])
        account = get_account_by_name(session, name)
        if account is not None and account.id is not None:
            acting = Speaker(
                actor=speaker.actor,
                account_id=account.id,
                role=Role.AGENT,
                team_id=speaker.team_id,
                user_id=speaker.user_id,
            )
            return acting, " ".join(parts[size:])
    return speaker, words


def account_name(session: Session, account_id: int | None) -> str:
    if account_id is None:
        return ""
    account = session.get(Account, account_id)
    return account.name if account is not None else ""
