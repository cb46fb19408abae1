"""Escalation to customer service: one case per conversation, one thread per case.

The case message names the seller, account, store, flow, verdict, the checks and the seller's
words; the thread holds the evidence card and the seller's own images, and carries the
conversation both ways. A case is stored before anything is posted, so a Slack failure
(`not_in_channel`, `channel_not_found`, an upload error) loses nothing: the seller is told, the
case shows as undelivered in `python app.py cases list`, and delivery is tried again. Without a
chat surface (the console) `open` only stores the case.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from bot.conversation import Attachment, Speaker
from bot.escalation.evidence import SNAPSHOT_FLOW, diagnosis_from_state, diagnosis_state
from bot.escalation.message import ExtraBlocks, FlowTitles, case_message, case_title, default_title
from bot.render.blocks import SlackMessage
from bot.render.mrkdwn import escape, mention, quote, relay_text, unescape
from erp.accounts import audit
from erp.models import Account, CaseThread, Escalation, EscalationState, Store
from handlers.diagnosis import Diagnosis, Language
from handlers.text import say

log = logging.getLogger(__name__)

# render_evidence_card(diagnosis, *, account, seller, when, question="", title="") -> PNG bytes
EvidenceRenderer = Callable[..., bytes]
ACTIVE = (EscalationState.OPEN, EscalationState.TAKEN)
NOTE_PREFIX = "note:"  # an agent's message starting with this stays in the support thread
MAX_RETRIES_PER_PASS = 10


class ChatSurface(Protocol):
    """Where cases are posted (Slack in production; anything with these methods in tests)."""

    def post(self, channel: str, message: SlackMessage, *, thread_ts: str | None = None) -> str: ...

    def update(self, channel: str, ts: str, message: SlackMessage) -> None: ...

    def say(self, channel: str, text: str, *, thread_ts: str | None = None) -> str: ...

    def notify(self, channel: str, mrkdwn: str, *, thread_ts: str | None = None) -> str: ...

    def upload(
        self, channel: str, files: Sequence[Attachment], *, thread_ts: str | None = None, comment: str = ""
    ) -> None: ...

    def react(self, channel: str, ts: str, name: str) -> None: ...


@dataclass
class EscalationRequest:
    """What the seller asked and what the bot found, at the moment a person is asked in."""

    speaker: Speaker
    account_id: int
    language: Language = "en"
    question: str = ""  # the seller's own words
    reason: str = ""  # why a person is needed (the diagnosis's reason, or "the seller asked")
    diagnosis: Diagnosis | None = None  # the conversation's diagnosis, or an account snapshot
    seller_channel: str = ""
    seller_thread_ts: str = ""
    attachments: list[Attachment] = field(default_factory=list)  # the seller's own images
    seller_name: str = ""  # how the evidence card names the seller (their Slack name)
    conversation_key: str = ""  # one open case per conversation; derived from the place if empty


def case_key(request: EscalationRequest) -> str:
    """The conversation a case belongs to: the seller's DM (or channel), whatever the thread."""
    if request.conversation_key:
        return request.conversation_key[:200]
    speaker = request.speaker
    if request.seller_channel:
        return f"slack:{speaker.team_id}:{request.seller_channel}:{speaker.user_id}"[:200]
    return speaker.actor[:200]


def is_note(raw_text: str) -> bool:
    """An agent's internal note: it never reaches the seller."""
    return raw_text.lstrip().lower().startswith(NOTE_PREFIX)


def _error_text(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    error = response.get("error") if response is not None and hasattr(response, "get") else None
    return str(error or type(exc).__name__)[:200]


class EscalationService:
    """Opens cases, delivers them, changes their state and relays messages both ways."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        channel: str,
        clock: Callable[[], datetime],
        evidence: EvidenceRenderer | None = None,
        titles: FlowTitles | None = None,
        extra_blocks: ExtraBlocks | None = None,
    ) -> None:
        self.sessions = sessions
        self.channel = channel
        self.clock = clock
        self.evidence = evidence
        self.titles = titles
        self.extra_blocks = extra_blocks
        self._opening = threading.Lock()
        # One delivery at a time in this process: a joining request must not post the case again
        # while the request that opened it is still posting it.
        self._delivering = threading.Lock()

    # --- opening ---------------------------------------------------------------------------------
    def open(self, request: EscalationRequest, poster: ChatSurface | None = None) -> Escalation:
        """Store the case (or add to the conversation's open one); with a surface, deliver it."""
        key = case_key(request)
        with self._opening:  # the check and the insert together: two clicks must not open two
            existing = self._active_case(key)
            escalation = existing or self._create(request, key)
        assert escalation.id is not None
        if existing is not None:
            return self._join(existing, request, poster)
        self._store_card(escalation.id, request)
        self._add_thread(
            escalation.id, request.speaker.team_id, request.seller_channel, request.seller_thread_ts
        )
        if poster is None:
            return self.get(escalation.id) or escalation
        # A case that could not be delivered before goes first: Slack may be reachable again.
        self.retry_undelivered(poster, team_id=request.speaker.team_id)
        delivered = self._deliver(escalation.id, poster, attachments=request.attachments)
        language = request.language
        if delivered:
            notice = say(
                language,
                f"I've asked customer service to look at this (case #{escalation.id}) and passed on what I "
                "found. Reply in this thread to talk to them; I'll pass your messages on.",
                f"我已请客服跟进（工单 #{escalation.id}），并转交了检查结果。请在此对话串中回复，"
                "我会把你的消息转给客服。",
            )
        elif self.channel:
            notice = self._undelivered_notice(escalation.id, language)
        else:
            notice = say(
                language,
                f"I've recorded this for customer service (case #{escalation.id}); they see it in their "
                "case list and will contact you.",
                f"我已为客服记录此问题（工单 #{escalation.id}），客服会在工单列表中看到并联系你。",
            )
        self._tell_seller(escalation.id, request, poster, notice)
        return self.get(escalation.id) or escalation

    @staticmethod
    def _undelivered_notice(case_id: int | None, language: Language) -> str:
        return say(
            language,
            f"I couldn't reach the customer-service channel just now. Your case #{case_id} is saved with "
            "what I found: customer service sees it in their case list (App Home), and I'll deliver it "
            "again automatically. You don't need to ask again.",
            f"我暂时无法送达客服频道。你的工单 #{case_id} 已连同检查结果保存：客服会在工单列表"
            "（App 首页）中看到，我也会自动重新投递。你不需要再次提交。",
        )

    def _tell_seller(
        self, case_id: int, request: EscalationRequest, poster: ChatSurface, notice: str
    ) -> None:
        if not request.seller_channel:
            return
        try:
            ts = poster.say(request.seller_channel, notice, thread_ts=request.seller_thread_ts or None)
        except Exception:  # the case is stored and delivered; the seller sees it in App Home
            log.exception("telling the seller about case %s failed", case_id)
            return
        if not request.seller_thread_ts:
            # The notice starts the seller's side of the thread: replies there are relayed.
            self._save(case_id, seller_thread_ts=ts)
            self._add_thread(case_id, request.speaker.team_id, request.seller_channel, ts)

    def _active_case(self, key: str) -> Escalation | None:
        with self.sessions() as session:
            return session.exec(
                select(Escalation)
                .where(Escalation.conversation_key == key, col(Escalation.state).in_(ACTIVE))
                .order_by(col(Escalation.id).desc())
            ).first()

    def _create(self, request: EscalationRequest, key: str) -> Escalation:
        diagnosis = request.diagnosis
        real = diagnosis if diagnosis is not None and diagnosis.flow != SNAPSHOT_FLOW else None
        with self.sessions() as session:
            store_id = _store_id(session, request.account_id, diagnosis.store if diagnosis else None)
            now = self.clock()
            escalation = Escalation(
                account_id=request.account_id,
                store_id=store_id,
                team_id=request.speaker.team_id,
                seller_user_id=request.speaker.user_id,
                seller_channel=request.seller_channel,
                seller_thread_ts=request.seller_thread_ts,
                flow=real.flow if real else "",
                verdict=real.verdict if real else "",
                summary=diagnosis.summary if diagnosis else "",
                question=request.question[:4000],
                reason=request.reason or (real.escalate_reason if real else ""),
                state=EscalationState.OPEN,
                created_at=now,
                updated_at=now,
                language=request.language,
                conversation_key=key,
                evidence=diagnosis_state(diagnosis),
            )
            session.add(escalation)
            session.commit()
            audit(
                session,
                actor=request.speaker.actor,
                action="escalate",
                result="ok",
                account_id=request.account_id,
                store_id=store_id,
                detail=f"escalation {escalation.id}: {escalation.flow or 'no flow'} {escalation.verdict}",
            )
            return escalation

    def _store_card(self, case_id: int, request: EscalationRequest) -> None:
        """Draw the evidence card once, when the case is opened, and keep it for (re)delivery."""
        diagnosis = request.diagnosis
        if diagnosis is None or self.evidence is None:
            return
        with self.sessions() as session:
            account = session.get(Account, request.account_id)
            account_name = account.name if account else ""
        title = (
            default_title(SNAPSHOT_FLOW, diagnosis.language)
            if diagnosis.flow == SNAPSHOT_FLOW
            else (self.titles or default_title)(diagnosis.flow, diagnosis.language)
        )
        try:
            png = self.evidence(
                diagnosis,
                account=account_name,
                seller=request.seller_name or request.speaker.actor,
                when=self.clock(),
                question=request.question,
                title=title,
            )
        except Exception:  # the case still goes out with its text when the card cannot be drawn
            log.exception("evidence card for escalation %s failed", case_id)
            return
        self._save(case_id, evidence_png=png, evidence_delivered_at=None)

    def _join(
        self, escalation: Escalation, request: EscalationRequest, poster: ChatSurface | None
    ) -> Escalation:
        """A second request in a conversation with an open case: it joins that case."""
        assert escalation.id is not None
        words = request.question.strip()
        changes: dict[str, Any] = {"updated_at": self.clock()}
        if words and words not in escalation.question:
            changes["question"] = f"{escalation.question}\n{words}".strip()[:4000]
        diagnosis = request.diagnosis
        stored = diagnosis_from_state(escalation.evidence)
        new_evidence = diagnosis is not None and (
            stored is None
            or (stored.flow == SNAPSHOT_FLOW and diagnosis.flow != SNAPSHOT_FLOW)
            or (diagnosis.flow, diagnosis.verdict, diagnosis.summary)
            != (stored.flow, stored.verdict, stored.summary)
        )
        if new_evidence and diagnosis is not None:
            changes.update(evidence=diagnosis_state(diagnosis), summary=diagnosis.summary)
            if diagnosis.flow != SNAPSHOT_FLOW:
                changes.update(flow=diagnosis.flow, verdict=diagnosis.verdict)
        if request.seller_channel and request.seller_thread_ts:
            changes.update(seller_channel=request.seller_channel, seller_thread_ts=request.seller_thread_ts)
        self._save(escalation.id, **changes)
        self._add_thread(
            escalation.id, request.speaker.team_id, request.seller_channel, request.seller_thread_ts
        )
        if new_evidence:
            self._store_card(escalation.id, request)
        if poster is None:
            return self.get(escalation.id) or escalation
        current = self.get(escalation.id) or escalation
        if current.cs_thread_ts and (new_evidence or "question" in changes):
            self._post_in_case(
                current,
                poster,
                f"{mention(current.seller_user_id)} asked again:\n{quote(escape(words))}"
                if words
                else f"{mention(current.seller_user_id)} asked again for a person.",
            )
            self._rerender(current, poster)
        delivered = self._deliver(escalation.id, poster, attachments=request.attachments)
        notice = (
            say(
                request.language,
                f"I've added this to case #{escalation.id}; customer service will answer in this thread.",
                f"我已把这条补充到工单 #{escalation.id}，客服会在此对话串中回复。",
            )
            if delivered or not self.channel
            else self._undelivered_notice(escalation.id, request.language)
        )
        self._tell_seller(escalation.id, request, poster, notice)
        return self.get(escalation.id) or escalation

    # --- delivery --------------------------------------------------------------------------------
    def _deliver(self, case_id: int, poster: ChatSurface, *, attachments: Sequence[Attachment] = ()) -> bool:
        """Post the case (and its evidence) to the support channel; False when it is not there."""
        with self._delivering:
            return self._deliver_now(case_id, poster, attachments)

    def _deliver_now(self, case_id: int, poster: ChatSurface, attachments: Sequence[Attachment]) -> bool:
        escalation = self.get(case_id)
        if escalation is None or not self.channel:
            return False
        if not escalation.cs_thread_ts:
            try:
                ts = poster.post(self.channel, self.message_for(escalation))
            except Exception as exc:  # not_in_channel, channel_not_found, Slack down: keep the case
                log.warning("case %s not delivered to %s: %s", case_id, self.channel, _error_text(exc))
                self._save(
                    case_id,
                    delivery_error=_error_text(exc),
                    delivery_attempts=escalation.delivery_attempts + 1,
                )
                return False
            self._save(
                case_id,
                cs_channel=self.channel,
                cs_thread_ts=ts,
                delivered_at=self.clock(),
                delivery_error="",
                delivery_attempts=escalation.delivery_attempts + 1,
            )
            escalation = self.get(case_id) or escalation
        if escalation.evidence_png and escalation.evidence_delivered_at is None:
            self._upload_card(escalation, poster)
        if attachments:
            try:
                poster.upload(self.channel, list(attachments), thread_ts=escalation.cs_thread_ts)
            except Exception:
                log.exception("the seller's images for case %s were not uploaded", case_id)
        return True

    def _upload_card(self, escalation: Escalation, poster: ChatSurface) -> None:
        assert escalation.id is not None and escalation.evidence_png is not None
        diagnosis = diagnosis_from_state(escalation.evidence)
        verdict = diagnosis.verdict if diagnosis else ""
        flow_title = case_title(escalation, self.titles)
        title = f"Evidence card for case #{escalation.id}: {flow_title} {verdict}".strip()
        card = Attachment(
            filename=f"case-{escalation.id}-evidence.png",
            content=escalation.evidence_png,
            mime_type="image/png",
            title=title,
        )
        try:
            poster.upload(
                escalation.cs_channel,
                [card],
                thread_ts=escalation.cs_thread_ts,
                comment=f"Evidence for case #{escalation.id}",
            )
        except Exception as exc:  # the case is there; the card is kept and tried again
            log.warning("evidence card of case %s not uploaded: %s", escalation.id, _error_text(exc))
            self._save(escalation.id, delivery_error=f"evidence upload failed: {_error_text(exc)}")
            self._post_in_case(
                escalation,
                poster,
                f":warning: The evidence card could not be attached ({escape(_error_text(exc))}); "
                "it is kept and will be attached again.",
            )
            return
        self._save(escalation.id, evidence_delivered_at=self.clock(), delivery_error="")

    def undelivered(self, team_id: str | None = None) -> list[Escalation]:
        """Active cases missing from the support channel, or whose evidence card is not there yet."""
        with self.sessions() as session:
            query = select(Escalation).where(
                col(Escalation.state).in_(ACTIVE),
                or_(
                    Escalation.cs_thread_ts == "",
                    col(Escalation.evidence_png).is_not(None)
                    & col(Escalation.evidence_delivered_at).is_(None),
                ),
            )
            if team_id is not None:
                query = query.where(Escalation.team_id == team_id)
            return list(session.exec(query.order_by(col(Escalation.id)).limit(MAX_RETRIES_PER_PASS)))

    def retry_undelivered(self, poster: ChatSurface, *, team_id: str | None = None) -> list[int]:
        """Deliver what could not be delivered before; returns the ids now in the channel."""
        if not self.channel:
            return []
        delivered: list[int] = []
        for case in self.undelivered(team_id):
            if case.id is None or (not case.cs_thread_ts and case.delivery_attempts == 0):
                continue  # being opened right now by another request
            was_missing = not case.cs_thread_ts
            if not self._deliver(case.id, poster):
                break  # still unreachable: the next pass tries again
            delivered.append(case.id)
            if was_missing and case.seller_channel:
                try:
                    poster.say(
                        case.seller_channel,
                        say(
                            _language(case),
                            f"Customer service now has case #{case.id}; they will answer in this thread.",
                            f"客服已收到工单 #{case.id}，会在此对话串中回复。",
                        ),
                        thread_ts=case.seller_thread_ts or None,
                    )
                except Exception:
                    log.exception("telling the seller case %s arrived failed", case.id)
        return delivered

    def message_for(self, escalation: Escalation) -> SlackMessage:
        """The case message for the stored case, in its current state."""
        with self.sessions() as session:
            account = session.get(Account, escalation.account_id)
            store = session.get(Store, escalation.store_id) if escalation.store_id else None
        return case_message(
            escalation,
            account_name=account.name if account else "",
            store_name=store.name if store else "",
            titles=self.titles,
            extra_blocks=self.extra_blocks,
        )

    def _rerender(self, escalation: Escalation, poster: ChatSurface) -> None:
        if not (escalation.cs_channel and escalation.cs_thread_ts):
            return
        try:
            poster.update(escalation.cs_channel, escalation.cs_thread_ts, self.message_for(escalation))
        except Exception:
            log.exception("re-rendering case %s failed", escalation.id)

    def _post_in_case(self, escalation: Escalation, poster: ChatSurface, mrkdwn: str) -> None:
        if not (escalation.cs_channel and escalation.cs_thread_ts):
            return
        try:
            poster.notify(escalation.cs_channel, mrkdwn, thread_ts=escalation.cs_thread_ts)
        except Exception:
            log.exception("posting into case %s failed", escalation.id)

    # --- state -----------------------------------------------------------------------------------
    def take(
        self, escalation_id: int, agent: Speaker, poster: ChatSurface | None = None
    ) -> Escalation | None:
        """An agent takes the case; the seller is told. None when it is unknown or resolved."""
        return self._change(escalation_id, agent, EscalationState.TAKEN, poster)

    def resolve(
        self, escalation_id: int, agent: Speaker, poster: ChatSurface | None = None
    ) -> Escalation | None:
        """An agent resolves the case; the seller is told. None when it is unknown or resolved."""
        return self._change(escalation_id, agent, EscalationState.RESOLVED, poster)

    def reopen(
        self, escalation_id: int, agent: Speaker, poster: ChatSurface | None = None
    ) -> Escalation | None:
        """An agent reopens a resolved case; the seller is told. None when it is unknown or not resolved."""
        return self._change(escalation_id, agent, EscalationState.OPEN, poster)

    def _change(
        self, escalation_id: int, agent: Speaker, state: EscalationState, poster: ChatSurface | None
    ) -> Escalation | None:
        with self.sessions() as session:
            escalation = session.get(Escalation, escalation_id)
            if escalation is None:
                return None
            allowed_from = {
                EscalationState.OPEN: (EscalationState.RESOLVED,),  # reopen
                EscalationState.TAKEN: (EscalationState.OPEN,),
                EscalationState.RESOLVED: ACTIVE,
            }[state]
            if escalation.state not in allowed_from:
                return None  # a double click or a stale button: nothing changes, nobody is told twice
            escalation.state = state
            escalation.taken_by = agent.user_id or agent.actor
            escalation.updated_at = self.clock()
            session.add(escalation)
            session.commit()
            audit(
                session,
                actor=agent.actor,
                action=f"escalation_{'reopened' if state == EscalationState.OPEN else state}",
                result="ok",
                account_id=escalation.account_id,
                store_id=escalation.store_id,
                detail=f"escalation {escalation.id}",
            )
        if poster is None:
            return escalation
        self._rerender(escalation, poster)
        if escalation.seller_channel:
            try:
                poster.notify(
                    escalation.seller_channel,
                    _state_notice(escalation, state),
                    thread_ts=escalation.seller_thread_ts or None,
                )
            except Exception:
                log.exception("telling the seller about case %s failed", escalation.id)
        return escalation

    # --- relays ----------------------------------------------------------------------------------
    def get(self, escalation_id: int | None) -> Escalation | None:
        with self.sessions() as session:
            return session.get(Escalation, escalation_id) if escalation_id is not None else None

    def by_cs_thread(self, channel: str, thread_ts: str) -> Escalation | None:
        """The case whose customer-service thread this is, if any."""
        with self.sessions() as session:
            return session.exec(
                select(Escalation).where(
                    Escalation.cs_channel == channel, Escalation.cs_thread_ts == thread_ts
                )
            ).first()

    def by_seller_thread(self, team_id: str, channel: str, thread_ts: str) -> Escalation | None:
        """The case (in any state) that this seller-side thread belongs to, if any."""
        if not thread_ts:
            return None
        with self.sessions() as session:
            thread = session.exec(
                select(CaseThread)
                .where(
                    CaseThread.team_id == team_id,
                    CaseThread.channel == channel,
                    CaseThread.thread_ts == thread_ts,
                )
                .order_by(col(CaseThread.id).desc())
            ).first()
            return session.get(Escalation, thread.escalation_id) if thread is not None else None

    def active_for_seller(self, team_id: str, channel: str, thread_ts: str) -> Escalation | None:
        """The open or taken case whose seller-side thread this is, if any."""
        case = self.by_seller_thread(team_id, channel, thread_ts)
        return case if case is not None and case.state in ACTIVE else None

    def relay_to_seller(
        self,
        escalation: Escalation,
        agent_user: str,
        raw_text: str,
        poster: ChatSurface,
        files: Sequence[Attachment] = (),
    ) -> bool:
        """An agent's reply in the case thread, passed to the seller (notes stay); True when passed."""
        if not escalation.seller_channel or escalation.state == EscalationState.RESOLVED or is_note(raw_text):
            return False
        words = relay_text(raw_text)
        heading = say(_language(escalation), "Customer service", "客服")
        thread = escalation.seller_thread_ts or None
        if words:
            poster.notify(
                escalation.seller_channel, f"*{heading}* ({mention(agent_user)}):\n{words}", thread_ts=thread
            )
        if files:
            poster.upload(escalation.seller_channel, list(files), thread_ts=thread)
        return bool(words or files)

    def relay_to_cs(
        self,
        escalation: Escalation,
        seller_user: str,
        raw_text: str,
        poster: ChatSurface,
        files: Sequence[Attachment] = (),
    ) -> bool:
        """The seller's reply, passed into the case thread; a resolved case is reopened first.

        Only the case's own seller is relayed: anyone else writing in the thread is not them.
        """
        case_id = escalation.id
        if seller_user != escalation.seller_user_id or case_id is None:
            return False
        words = relay_text(raw_text)
        if escalation.state == EscalationState.RESOLVED:
            self._save(case_id, state=EscalationState.OPEN, updated_at=self.clock())
            escalation = self.get(case_id) or escalation
            self._rerender(escalation, poster)
            self._post_in_case(
                escalation,
                poster,
                ":arrows_counterclockwise: Reopened: the seller replied after it was resolved.",
            )
        if not escalation.cs_thread_ts:
            if words:  # not delivered yet: the words wait in the case
                self._save(case_id, question=f"{escalation.question}\n{unescape(words)}".strip()[:4000])
            return self._deliver(case_id, poster, attachments=files)
        if words:
            poster.notify(
                escalation.cs_channel,
                f"{mention(escalation.seller_user_id)} wrote:\n{quote(words)}",
                thread_ts=escalation.cs_thread_ts,
            )
        if files:
            poster.upload(escalation.cs_channel, list(files), thread_ts=escalation.cs_thread_ts)
        return True

    def open_cases(self, account_id: int | None = None) -> list[Escalation]:
        """Open and taken cases, newest first (one account's, or all for agents)."""
        with self.sessions() as session:
            query = select(Escalation).where(col(Escalation.state).in_(ACTIVE))
            if account_id is not None:
                query = query.where(Escalation.account_id == account_id)
            return list(session.exec(query.order_by(col(Escalation.id).desc()).limit(20)))

    def _add_thread(self, case_id: int, team_id: str, channel: str, thread_ts: str) -> None:
        if not (channel and thread_ts):
            return
        with self.sessions() as session:
            session.add(
                CaseThread(escalation_id=case_id, team_id=team_id, channel=channel, thread_ts=thread_ts)
            )
            try:
                session.commit()
            except IntegrityError:  # that thread belongs to a case already
                session.rollback()

    def _save(self, escalation_id: int | None, **values: Any) -> None:
        with self.sessions() as session:
            escalation = session.get(Escalation, escalation_id)
            if escalation is None:
                return
            for key, value in values.items():
                setattr(escalation, key, value)
            session.add(escalation)
            session.commit()


def _store_id(session: Session, account_id: int, store_name: str | None) -> int | None:
    if not store_name:
        return None
    store = session.exec(
        select(Store).where(Store.account_id == account_id, Store.name == store_name)
    ).first()
    return store.id if store else None


def _language(escalation: Escalation) -> Language:
    return "zh" if escalation.language == "zh" else "en"


def _state_notice(escalation: Escalation, state: EscalationState) -> str:
    """What the seller reads when a case changes state (mrkdwn: the agent is a real mention)."""
    language = _language(escalation)
    agent = mention(escalation.taken_by)
    if state == EscalationState.TAKEN:
        return say(
            language,
            f"{agent} from customer service is now looking at case #{escalation.id}. "
            "Reply in this thread to talk to them.",
            f"客服 {agent} 正在处理工单 #{escalation.id}，请在此对话串中回复。",
        )
    if state == EscalationState.OPEN:
        return say(
            language,
            f"Customer service reopened case #{escalation.id}; they will answer in this thread.",
            f"客服已重新打开工单 #{escalation.id}，会在此对话串中回复。",
        )
    return say(
        language,
        f"Customer service marked case #{escalation.id} as resolved. If something is still wrong, "
        "reply in this thread and the case opens again.",
        f"客服已将工单 #{escalation.id} 标记为已解决。如果问题仍在，请在此对话串中回复，工单会重新打开。",
    )
