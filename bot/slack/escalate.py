"""Opening a case from Slack, from any path, with the evidence it must carry.

Whatever the path (a diagnosis that escalates, "talk to a person" under any answer, `/escalate
TEXT`, the App Home button, a conversation act asking for a person), the case carries:
- the seller's own words (the question they asked, never the bot's reply or a pasted message);
- the conversation's latest diagnosis; with none, the check the seller's words point to is run
  now; when they point to none, an account snapshot (stores, authorization, last sync and report
  times, recent failures).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.conversation import Attachment, Reply
from bot.conversation.state import LastCheck, restore_diagnosis
from bot.escalation import Answer, EscalationRequest
from bot.escalation.evidence import account_snapshot
from handlers.diagnosis import Diagnosis, Language

if TYPE_CHECKING:
    from bot.slack.turns import TurnRunner

log = logging.getLogger(__name__)


def seller_words(*parts: str) -> str:
    """The seller's words from several turns, each once, in order."""
    seen: list[str] = []
    for part in parts:
        text = (part or "").strip()
        if text and not any(text == other or text in other for other in seen):
            seen.append(text)
    return "\n".join(seen)


def open_case(
    runner: TurnRunner,
    *,
    reply: Reply | None = None,
    question: str = "",
    reason: str = "",
    thread_ts: str | None = None,
    attachments: list[Attachment] | None = None,
    language: Language | None = None,
    answer: Answer | None = None,
    run_check: bool = True,
) -> None:
    """Open (or join) the customer-service case of the runner's conversation.

    Args:
        runner: the request's runner (its place and speaker: the seller).
        reply: the reply that asked for a person, when there is one.
        question: the seller's words in this turn ("" for a click).
        reason: why a person is needed.
        thread_ts: the seller-side thread the case talks in.
        attachments: the seller's own images (default: the files of the message being answered).
        language: the conversation's language (default: the reply's, the answer's, the words').
        answer: the answer a "talk to a person" button was clicked under.
        run_check: with no diagnosis, run the check the words point to.
    """
    from bot.slack.turns import guess_language, not_linked_text, seller_files

    speaker = runner.speaker
    if speaker.account_id is None:
        runner.say(not_linked_text(language or guess_language(question)))
        return
    services = runner.services
    key = answer.conversation_key if answer is not None else runner.place.key
    book = services.answers
    latest = book.latest(key) if book is not None else None
    latest_diagnosed = book.latest(key, with_diagnosis=True) if book is not None else None
    diagnosis: Diagnosis | None = reply.diagnosis if reply is not None else None
    if diagnosis is None and answer is not None:
        diagnosis = answer.diagnosis
    if diagnosis is None and latest_diagnosed is not None:
        diagnosis = latest_diagnosed.diagnosis
    # What the seller asked about: the clicked answer's question, else the question behind the
    # conversation's diagnosis (a later "a person please" adds to it, it does not replace it).
    source = answer or latest_diagnosed or latest
    asked = source.question if source is not None else ""
    if source is None:
        # An answer is recorded only once Slack has given its ts: a click in between (or a
        # record lost) still finds the conversation's own last check, saved before the answer.
        remembered = _last_check(services, key)
        if remembered is not None:
            asked = remembered.question
            if diagnosis is None and remembered.diagnosis:
                diagnosis = restore_diagnosis(remembered.diagnosis)
    words = seller_words(asked, question)
    lang: Language = language or (
        reply.language
        if reply is not None
        else (answer.language if answer is not None else guess_language(words))
    )
    if diagnosis is None and run_check and words:
        diagnosis = _check_for(runner, words, lang)
    if diagnosis is None:
        with services.sessions() as session:
            diagnosis = account_snapshot(session, speaker.account_id, now=services.clock(), language=lang)
    request = EscalationRequest(
        speaker=speaker,
        account_id=speaker.account_id,
        language=lang,
        question=words,
        reason=reason or (reply.escalate_reason if reply is not None else "") or diagnosis.escalate_reason,
        diagnosis=diagnosis,
        seller_channel=runner.place.channel,
        seller_thread_ts=thread_ts if thread_ts is not None else (runner.place.thread_ts or ""),
        attachments=attachments
        if attachments is not None
        else seller_files(runner.poster, runner.event or {}),
        seller_name=runner.poster.user_name(speaker.user_id),
    )
    services.escalations.open(request, runner.poster)


def _last_check(services: Any, key: str) -> LastCheck | None:
    store = getattr(services.conversation, "store", None)
    try:
        return store.load(key).last if store is not None else None
    except Exception:  # the case still opens, with the seller's words only
        log.exception("the conversation's last check could not be read for %s", key)
        return None


def _check_for(runner: TurnRunner, words: str, language: Language) -> Diagnosis | None:
    """The diagnosis of the check the seller's words point to, run now; None when none applies."""
    from bot.slack.turns import clean_text

    conversation = runner.services.conversation
    words = clean_text(words)
    try:
        match = conversation.matcher.match(words)
        flow = getattr(match, "flow", None)
        if not flow:
            return None
        # Its own key: a detail the check asks for must not wait in the seller's conversation.
        reply = conversation.run_flow(
            flow, runner.speaker, words, key=f"{runner.place.key}:escalate", language=language
        )
    except Exception:  # the case still opens, with the account snapshot instead
        log.exception("the check for an escalation failed")
        return None
    diagnosis = getattr(reply, "diagnosis", None)
    return diagnosis if isinstance(diagnosis, Diagnosis) else None
