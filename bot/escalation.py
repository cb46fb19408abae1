"""Escalation to customer service: one thread per case in the customer-service channel.

The parent message names the seller, account, store, flow, verdict, the checks and the seller's
words; the thread holds the evidence card and the seller's own images, and carries the
conversation both ways until an agent resolves it. Without a chat surface (the console) `open`
only stores the case, so it still reaches the customer-service queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlmodel import Session, col, select

from bot.conversation import Attachment, Speaker
from bot.render.blocks import (
    STATUS_MARKS,
    SlackMessage,
    chunk_lines,
    encode_value,
    escape,
    paginate,
    render_template,
    truncate,
)
from bot.render.relabel import relabel_blocks
from erp.accounts import audit
from erp.models import Account, Escalation, EscalationState, Store
from handlers.diagnosis import CheckStatus, Diagnosis, Language
from handlers.text import say

log = logging.getLogger(__name__)

# render_evidence_card(diagnosis, *, account, seller, when, question="") -> PNG bytes
EvidenceRenderer = Callable[..., bytes]


class ChatSurface(Protocol):
    """Where escalations are posted (Slack in production; anything with these methods in tests)."""

    def post(self, channel: str, message: SlackMessage, *, thread_ts: str | None = None) -> str: ...

    def update(self, channel: str, ts: str, message: SlackMessage) -> None: ...

    def say(self, channel: str, text: str, *, thread_ts: str | None = None) -> str: ...

    def upload(
        self, channel: str, files: Sequence[Attachment], *, thread_ts: str | None = None, comment: str = ""
    ) -> None: ...


@dataclass
class EscalationRequest:
    """What the seller asked and what the bot found, at the moment a person is asked in."""

    speaker: Speaker
    account_id: int
    language: Language = "en"
    question: str = ""  # the seller's own words
    reason: str = ""  # why a person is needed (the diagnosis's reason, or "the seller asked")
    diagnosis: Diagnosis | None = None
    found: list[str] = field(default_factory=list)  # what the bot found, when no Diagnosis is at hand
    seller_channel: str = ""
    seller_thread_ts: str = ""
    attachments: list[Attachment] = field(default_factory=list)  # the seller's own images
    seller_name: str = ""  # how the evidence card names the seller (their Slack name)


class EscalationService:
    """Opens escalations, changes their state and relays messages both ways."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        channel: str,
        clock: Callable[[], datetime],
        evidence: EvidenceRenderer | None = None,
    ) -> None:
        self.sessions = sessions
        self.channel = channel
        self.clock = clock
        self.evidence = evidence
        self._opening = threading.Lock()

    # --- opening ---------------------------------------------------------------------------------
    def open(self, request: EscalationRequest, poster: ChatSurface | None = None) -> Escalation:
        """Store the case; with a chat surface also open its thread and tell the seller.

        An open case about the same finding (same account, flow, verdict, store and summary) is
        returned instead of a second one, and the seller is pointed to it.
        """
        with self._opening:  # the check and the insert together: two runs must not both open one
            existing, escalation, account_name, store_name = self._store_case(request)
        if existing is not None:
            # The same finding again (asked twice, or by two colleagues): one case, not a pile.
            if poster is not None and request.seller_channel:
                poster.say(
                    request.seller_channel,
                    say(
                        request.language,
                        f"Customer service already has this (case #{existing.id}); they will answer there.",
                        f"客服已在处理这个问题（工单 #{existing.id}），会在该对话串中回复。",
                    ),
                    thread_ts=request.seller_thread_ts or None,
                )
            return existing
        if poster is None:
            return escalation
        self._post_case(escalation, request, poster, account_name=account_name, store_name=store_name)
        with self.sessions() as session:
            return session.get(Escalation, escalation.id) or escalation

    def _store_case(self, request: EscalationRequest) -> tuple[Escalation | None, Escalation, str, str]:
        """(an open case about the same finding, or None; the case; account name; store name)."""
        diagnosis = request.diagnosis
        with self.sessions() as session:
            account = session.get(Account, request.account_id)
            store_id = _store_id(session, request.account_id, diagnosis.store if diagnosis else None)
            existing = _same_open_case(session, request, store_id)
            if existing is not None:
                return existing, existing, "", ""
            now = self.clock()
            escalation = Escalation(
                account_id=request.account_id,
                store_id=store_id,
                team_id=request.speaker.team_id,
                seller_user_id=request.speaker.user_id,
                seller_channel=request.seller_channel,
                seller_thread_ts=request.seller_thread_ts,
                flow=diagnosis.flow if diagnosis else "",
                verdict=diagnosis.verdict if diagnosis else "",
                summary=diagnosis.summary if diagnosis else "\n".join(request.found),
                question=request.question[:4000],
                reason=request.reason or (diagnosis.escalate_reason if diagnosis else ""),
                state=EscalationState.OPEN,
                created_at=now,
                updated_at=now,
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
            account_name = account.name if account else ""
            store_name = diagnosis.store if diagnosis and store_id else ""
        return None, escalation, account_name, store_name or ""

    def _post_case(
        self,
        escalation: Escalation,
        request: EscalationRequest,
        poster: ChatSurface,
        *,
        account_name: str,
        store_name: str,
    ) -> None:
        language = request.language
        if self.channel:
            message = self.case_message(escalation, request, account_name=account_name, store_name=store_name)
            cs_ts = poster.post(self.channel, message)
            files = list(self._evidence_files(escalation, request, account_name))
            if files:
                try:
                    poster.upload(
                        self.channel,
                        files,
                        thread_ts=cs_ts,
                        comment=f"Evidence for escalation #{escalation.id}",
                    )
                except Exception:  # an upload failure must not lose the case: it is posted already
                    log.exception("evidence upload for escalation %s failed", escalation.id)
            self._save(escalation.id, cs_channel=self.channel, cs_thread_ts=cs_ts)
            notice = say(
                language,
                f"I've asked customer service to look at this (case #{escalation.id}) and passed on what I "
                "found. Reply in this thread to talk to them; I'll pass your messages on.",
                f"我已请客服跟进（工单 #{escalation.id}），并转交了检查结果。请在此对话串中回复，"
                "我会把你的消息转给客服。",
            )
        else:
            notice = say(
                language,
                f"I've recorded this for customer service (case #{escalation.id}); they will contact you.",
                f"我已为客服记录此问题（工单 #{escalation.id}），客服会联系你。",
            )
        if request.seller_channel:
            ts = poster.say(request.seller_channel, notice, thread_ts=request.seller_thread_ts or None)
            if not request.seller_thread_ts:
                # The notice starts the seller's side of the thread: replies there are relayed.
                self._save(escalation.id, seller_thread_ts=ts)

    def _evidence_files(
        self, escalation: Escalation, request: EscalationRequest, account_name: str
    ) -> list[Attachment]:
        files: list[Attachment] = []
        if request.diagnosis is not None and self.evidence is not None:
            try:
                png = self.evidence(
                    request.diagnosis,
                    account=account_name,
                    seller=request.seller_name or request.speaker.actor,
                    when=self.clock(),
                    question=request.question,
                )
                files.append(
                    Attachment(
                        filename=f"escalation-{escalation.id}-evidence.png",
                        content=png,
                        mime_type="image/png",
                        title=f"Evidence: {request.diagnosis.flow} / {request.diagnosis.verdict}",
                    )
                )
            except Exception:  # the case still goes out with its text when the card cannot be drawn
                log.exception("evidence card for escalation %s failed", escalation.id)
        files.extend(request.attachments)
        return files

    def case_message(
        self,
        escalation: Escalation,
        request: EscalationRequest | None = None,
        *,
        account_name: str,
        store_name: str,
    ) -> SlackMessage:
        """The parent message in the customer-service channel (also re-rendered on state changes)."""
        diagnosis = request.diagnosis if request else None
        checks: list[str] = []
        if diagnosis is not None:
            checks = [
                f"{STATUS_MARKS.get(CheckStatus(f.status), '•')} *{escape(f.check)}*: {escape(f.result)}"
                for f in diagnosis.findings
            ]
        elif request is not None:
            checks = [f"• {escape(line)}" for line in request.found]
        fields = [
            f"*Seller*\n<@{escalation.seller_user_id}>"
            if escalation.seller_user_id
            else "*Seller*\n(console)",
            f"*Account*\n{escape(account_name) or '-'}",
            f"*Store*\n{escape(store_name) or '-'}",
            f"*Flow*\n{escape(escalation.flow) or '-'}",
            f"*Verdict*\n{escape(escalation.verdict) or '-'}",
            f"*Opened*\n{escalation.created_at:%Y-%m-%d %H:%M} UTC",
        ]
        words = escalation.question or (request.question if request else "")
        quoted = "\n".join(f"> {escape(line)}" for line in words.splitlines() if line.strip())
        blocks = render_template(
            "escalation.j2",
            header=_header(escalation),
            fields=[truncate(item, 2000) for item in fields],
            summary=chunk_lines([f"*{escape(escalation.summary)}*"]) if escalation.summary else [],
            checks=chunk_lines(checks[:40]) if checks else [],
            words=chunk_lines(["*The seller's words*", *quoted.splitlines()]) if quoted else [],
            reason=escalation.reason,
            buttons=_state_buttons(escalation),
            state=_state_line(escalation),
        ) + relabel_blocks(escalation)
        fallback = f"Escalation #{escalation.id} from <@{escalation.seller_user_id}>: {escalation.summary}"
        return paginate(blocks, fallback)[0]

    # --- state -----------------------------------------------------------------------------------
    def take(
        self, escalation_id: int, agent: Speaker, poster: ChatSurface | None = None
    ) -> Escalation | None:
        """An agent takes the case; the seller is told. None when there is no such open case."""
        return self._change(escalation_id, agent, EscalationState.TAKEN, poster)

    def resolve(
        self, escalation_id: int, agent: Speaker, poster: ChatSurface | None = None
    ) -> Escalation | None:
        """An agent resolves the case; the seller is told. None when it is unknown or resolved."""
        return self._change(escalation_id, agent, EscalationState.RESOLVED, poster)

    def _change(
        self, escalation_id: int, agent: Speaker, state: EscalationState, poster: ChatSurface | None
    ) -> Escalation | None:
        with self.sessions() as session:
            escalation = session.get(Escalation, escalation_id)
            if escalation is None or escalation.state == EscalationState.RESOLVED:
                return None
            if escalation.state == state:
                return escalation
            escalation.state = state
            escalation.taken_by = agent.user_id or agent.actor
            escalation.updated_at = self.clock()
            session.add(escalation)
            session.commit()
            audit(
                session,
                actor=agent.actor,
                action=f"escalation_{state}",
                result="ok",
                account_id=escalation.account_id,
                store_id=escalation.store_id,
                detail=f"escalation {escalation.id}",
            )
            account = session.get(Account, escalation.account_id)
            store = session.get(Store, escalation.store_id) if escalation.store_id else None
        if poster is None:
            return escalation
        if escalation.cs_channel and escalation.cs_thread_ts:
            message = self.case_message(
                escalation,
                account_name=account.name if account else "",
                store_name=store.name if store else "",
            )
            poster.update(escalation.cs_channel, escalation.cs_thread_ts, message)
        if escalation.seller_channel:
            poster.say(
                escalation.seller_channel,
                _state_notice(escalation, state),
                thread_ts=escalation.seller_thread_ts or None,
            )
        return escalation

    # --- relays ----------------------------------------------------------------------------------
    def by_cs_thread(self, channel: str, thread_ts: str) -> Escalation | None:
        """The case whose customer-service thread this is, if any."""
        with self.sessions() as session:
            return session.exec(
                select(Escalation).where(
                    Escalation.cs_channel == channel, Escalation.cs_thread_ts == thread_ts
                )
            ).first()

    def active_for_seller(self, team_id: str, channel: str, thread_ts: str) -> Escalation | None:
        """The open or taken case whose seller-side thread this is, if any."""
        if not thread_ts:
            return None
        with self.sessions() as session:
            return session.exec(
                select(Escalation)
                .where(
                    Escalation.team_id == team_id,
                    Escalation.seller_channel == channel,
                    Escalation.seller_thread_ts == thread_ts,
                    col(Escalation.state).in_([EscalationState.OPEN, EscalationState.TAKEN]),
                )
                .order_by(col(Escalation.id).desc())
            ).first()

    def relay_to_seller(
        self, escalation: Escalation, agent_user: str, text: str, poster: ChatSurface
    ) -> None:
        """An agent's reply in the case thread, passed to the seller's conversation."""
        if not escalation.seller_channel or escalation.state == EscalationState.RESOLVED:
            return
        language = _language_of(escalation)
        poster.say(
            escalation.seller_channel,
            say(language, f"Customer service (<@{agent_user}>): {text}", f"客服（<@{agent_user}>）：{text}"),
            thread_ts=escalation.seller_thread_ts or None,
        )

    def relay_to_cs(
        self, escalation: Escalation, text: str, poster: ChatSurface, files: Sequence[Attachment] = ()
    ) -> None:
        """The seller's reply, passed into the case thread (with any images they attached)."""
        if not escalation.cs_channel or not escalation.cs_thread_ts:
            return
        poster.say(
            escalation.cs_channel,
            f"<@{escalation.seller_user_id}> wrote: {text}",
            thread_ts=escalation.cs_thread_ts,
        )
        if files:
            poster.upload(escalation.cs_channel, files, thread_ts=escalation.cs_thread_ts)

    def open_cases(self, account_id: int | None = None) -> list[Escalation]:
        """Open and taken cases, newest first (one account's, or all for agents)."""
        with self.sessions() as session:
            query = select(Escalation).where(
                col(Escalation.state).in_([EscalationState.OPEN, EscalationState.TAKEN])
            )
            if account_id is not None:
                query = query.where(Escalation.account_id == account_id)
            return list(session.exec(query.order_by(col(Escalation.id).desc()).limit(20)))

    def _save(self, escalation_id: int | None, **values: str) -> None:
        with self.sessions() as session:
            escalation = session.get(Escalation, escalation_id)
            if escalation is None:
                return
            for key, value in values.items():
                setattr(escalation, key, value)
            session.add(escalation)
            session.commit()


def _same_open_case(session: Session, request: EscalationRequest, store_id: int | None) -> Escalation | None:
    """An open or taken case of this account about the same diagnosis, if there is one."""
    diagnosis = request.diagnosis
    if diagnosis is None:
        return None  # a seller's own words always reach a person
    return session.exec(
        select(Escalation).where(
            Escalation.account_id == request.account_id,
            Escalation.flow == diagnosis.flow,
            Escalation.verdict == diagnosis.verdict,
            Escalation.summary == diagnosis.summary,
            Escalation.store_id == store_id if store_id is not None else col(Escalation.store_id).is_(None),
            col(Escalation.state).in_([EscalationState.OPEN, EscalationState.TAKEN]),
        )
    ).first()


def _store_id(session: Session, account_id: int, store_name: str | None) -> int | None:
    if not store_name:
        return None
    store = session.exec(
        select(Store).where(Store.account_id == account_id, Store.name == store_name)
    ).first()
    return store.id if store else None


def _state_buttons(escalation: Escalation) -> list[dict[str, object]]:
    value = encode_value({"e": escalation.id}) or "{}"
    buttons: list[dict[str, object]] = []
    if escalation.state == EscalationState.OPEN:
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Take"},
                "action_id": "sd_esc_take",
                "value": value,
                "style": "primary",
            }
        )
    if escalation.state != EscalationState.RESOLVED:
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Resolve"},
                "action_id": "sd_esc_resolve",
                "value": value,
            }
        )
    return buttons


def _header(escalation: Escalation) -> str:
    return f"Escalation #{escalation.id}: {escalation.flow or 'seller request'} {escalation.verdict}".strip()


def _state_line(escalation: Escalation) -> str:
    if escalation.state == EscalationState.TAKEN:
        return f":large_yellow_circle: Taken by <@{escalation.taken_by}>"
    if escalation.state == EscalationState.RESOLVED:
        return f":white_check_mark: Resolved by <@{escalation.taken_by}>"
    return ":red_circle: Open: waiting for an agent"


def _language_of(escalation: Escalation) -> Language:
    """The seller's language, read from their own words (cases keep no language of their own)."""
    text = escalation.question or escalation.summary
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def _state_notice(escalation: Escalation, state: EscalationState) -> str:
    language = _language_of(escalation)
    if state == EscalationState.TAKEN:
        return say(
            language,
            f"<@{escalation.taken_by}> from customer service is now looking at case #{escalation.id}. "
            "Reply in this thread to talk to them.",
            f"客服 <@{escalation.taken_by}> 正在处理工单 #{escalation.id}，请在此对话串中回复。",
        )
    return say(
        language,
        f"Customer service marked case #{escalation.id} as resolved. If something is still wrong, "
        "just ask me again.",
        f"客服已将工单 #{escalation.id} 标记为已解决。如果问题仍在，请再问我。",
    )
