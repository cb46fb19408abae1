"""Answers the bot posted, remembered: whose they are and what they found.

A button under an answer acts for the person it answered, and a case opened from a conversation
carries that conversation's latest question and diagnosis (not the text of a clicked message).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.escalation.evidence import diagnosis_from_state, diagnosis_state
from erp.models import AnswerRecord, SpentAction
from handlers.diagnosis import Diagnosis, Language

# A diagnosis older than this is no longer "what the bot found" about today's problem.
RECENT_ANSWER = timedelta(hours=24)
# Buttons older than this are stale anyway; their records go so the tables stay small.
KEEP_RECORDS = timedelta(days=30)
PURGE_EVERY = 500  # answers recorded between two purges


@dataclass(frozen=True)
class Answer:
    """One remembered answer."""

    user_id: str
    account_id: int | None
    conversation_key: str
    language: Language
    question: str
    diagnosis: Diagnosis | None


def _answer(row: AnswerRecord) -> Answer:
    return Answer(
        user_id=row.user_id,
        account_id=row.account_id,
        conversation_key=row.conversation_key,
        language="zh" if row.language == "zh" else "en",
        question=row.question,
        diagnosis=diagnosis_from_state(row.diagnosis),
    )


class AnswerBook:
    """Reads and writes `AnswerRecord` rows."""

    def __init__(self, sessions: Callable[[], Session], clock: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.clock = clock
        self._recorded = 0
        self._lock = threading.Lock()

    def record(
        self,
        *,
        team_id: str,
        channel: str,
        timestamps: Sequence[str],
        user_id: str,
        account_id: int | None,
        conversation_key: str,
        language: Language,
        question: str,
        diagnosis: Diagnosis | None,
    ) -> None:
        """Remember the messages of one answer (every page of it carries the same record)."""
        state = diagnosis_state(diagnosis)
        with self.sessions() as session:
            for ts in timestamps:
                if not ts:
                    continue
                session.add(
                    AnswerRecord(
                        team_id=team_id,
                        channel=channel,
                        ts=ts,
                        user_id=user_id,
                        account_id=account_id,
                        conversation_key=conversation_key[:200],
                        language=language,
                        question=question[:4000],
                        diagnosis=state,
                        created_at=self.clock(),
                    )
                )
            try:
                session.commit()
            except IntegrityError:  # the same message recorded twice (a retry): the first stays
                session.rollback()
        with self._lock:
            self._recorded += 1
            purge = self._recorded % PURGE_EVERY == 0
        if purge:
            self.forget_before(self.clock() - KEEP_RECORDS)

    def forget_before(self, moment: datetime) -> int:
        """Delete answers and spent buttons from before `moment`; returns how many rows went."""
        with self.sessions() as session:
            answers = session.execute(delete(AnswerRecord).where(col(AnswerRecord.created_at) < moment))
            spent = session.execute(delete(SpentAction).where(col(SpentAction.at) < moment))
            session.commit()
            return int(answers.rowcount or 0) + int(spent.rowcount or 0)  # type: ignore[attr-defined]

    def for_message(self, team_id: str, channel: str, ts: str) -> Answer | None:
        """The answer posted as this message, if the bot remembers it."""
        if not ts:
            return None
        with self.sessions() as session:
            row = session.exec(
                select(AnswerRecord).where(
                    AnswerRecord.team_id == team_id, AnswerRecord.channel == channel, AnswerRecord.ts == ts
                )
            ).first()
            return _answer(row) if row is not None else None

    def latest(self, conversation_key: str, *, with_diagnosis: bool = False) -> Answer | None:
        """The newest recent answer of a conversation (optionally: the newest with a diagnosis)."""
        with self.sessions() as session:
            rows = session.exec(
                select(AnswerRecord)
                .where(
                    AnswerRecord.conversation_key == conversation_key[:200],
                    col(AnswerRecord.created_at) >= self.clock() - RECENT_ANSWER,
                )
                .order_by(col(AnswerRecord.id).desc())
                .limit(20)
            )
            for row in rows:
                if not with_diagnosis or row.diagnosis:
                    return _answer(row)
        return None

    def spend(self, key: str, user_id: str) -> bool:
        """Claim one (message, action): True the first time, False for a double click or a retry."""
        with self.sessions() as session:
            session.add(SpentAction(key=key[:200], user_id=user_id, at=self.clock()))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
        return True
