"""One seller turn in Slack: run it through the conversation, show progress, deliver the reply.

Shared by every surface (DMs, mentions, slash commands, buttons) so that each answers the same
way: progress edits one message, the reply is rendered once by `bot/render/blocks.py`, files go
into the thread, and a reply that needs a person opens an escalation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.conversation import Attachment, Reply, Speaker, Turn
from bot.render.blocks import SlackMessage, render_details, render_reply
from bot.slack.context import SERVICES_KEY, SPEAKER_KEY, SlackServices
from bot.slack.poster import SlackPoster
from bot.slack.progress import SlackProgress, working_signal
from handlers.diagnosis import Language
from handlers.text import say

log = logging.getLogger(__name__)

MAX_FILES = 5  # seller images carried into a case thread
MAX_QUESTION = 4000  # more than any real question; a pasted log is cut instead of matched whole

_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>")
_MENTION = re.compile(r"<[@#!][^>]*>")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class Place:
    """Where a conversation happens and where its answers go."""

    team_id: str
    channel: str
    user_id: str
    thread_ts: str | None = None

    @property
    def key(self) -> str:
        """The conversation key: "slack:T1:D123:U1[:thread]"."""
        base = f"slack:{self.team_id}:{self.channel}:{self.user_id}"
        return f"{base}:{self.thread_ts}" if self.thread_ts else base


def clean_text(text: str) -> str:
    """The seller's words without Slack markup: links unwrapped, mentions removed, length capped."""
    text = _LINK.sub(r"\1", text or "")
    text = _MENTION.sub(" ", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())[:MAX_QUESTION]


def has_letters(text: str) -> bool:
    """Whether the text has words to tell a language by (not only a SKU, an order id or a link)."""
    words = [word for word in _LINK.sub(" ", text).split() if len(word) > 1 and word.isalpha()]
    return bool(_CJK.search(text)) or len(words) >= 2


def guess_language(text: str) -> Language:
    """The language to use before the conversation has decided (progress messages)."""
    return "zh" if _CJK.search(text or "") else "en"


def not_linked_text(language: Language) -> str:
    return say(
        language,
        "I don't know which seller account you belong to yet, so I can't look at any store data. "
        "Ask your administrator for a link code, then type `/sellerdesk link CODE` here. "
        "It takes a few seconds, and afterwards I'll only ever show you your own account's stores.",
        "我还不知道你属于哪个卖家账号，所以无法查看店铺数据。请向管理员索取绑定码，"
        "然后在这里输入 `/sellerdesk link 绑定码`。绑定后我只会显示你自己账号的店铺。",
    )


def failure_reply(language: Language) -> Reply:
    return Reply(
        kind="out_of_scope",
        language=language,
        text=say(
            language,
            "Something went wrong on my side while checking this. Nothing was changed. "
            "Try again in a minute, or talk to a person.",
            "检查时我这边出了问题，没有做任何更改。请稍后再试，或联系客服。",
        ),
    )


def wants_person(reply: Reply) -> bool:
    """The reply says a person must look at it (the diagnosis escalates, or the engine says so)."""
    if getattr(reply, "escalate", False):
        return True
    return bool(reply.diagnosis is not None and reply.diagnosis.escalate)


class TurnRunner:
    """Runs turns and actions for one request and posts what the seller should see."""

    def __init__(
        self,
        services: SlackServices,
        client: WebClient,
        place: Place,
        speaker: Speaker,
        *,
        event: dict[str, Any] | None = None,
    ) -> None:
        self.services = services
        self.poster = SlackPoster(client)
        self.place = place
        self.speaker = speaker
        self.event = event  # the message that started the turn: its images go along to a person

    def run_turn(self, turn: Turn, *, question: str = "") -> Reply:
        return self._run(
            lambda progress: self.services.conversation.respond(turn, progress=progress), question
        )

    def run_action(
        self,
        kind: str,
        params: dict[str, str],
        *,
        question: str = "",
        key: str | None = None,
        language: Language | None = None,
    ) -> Reply:
        """Run a proposed action; `key` is the conversation it was offered in (default: here)."""
        return self._run(
            lambda progress: self.services.conversation.run_action(
                kind, params, self.speaker, key=key or self.place.key, language=language, progress=progress
            ),
            question,
            language,
        )

    def _run(
        self, call: Callable[[SlackProgress], Reply], question: str, language: Language | None = None
    ) -> Reply:
        language = language or self._language(question)
        working = working_signal(self.poster, self.event)
        progress = SlackProgress(
            self.poster,
            self.place.channel,
            thread_ts=self.place.thread_ts,
            language=language,
            throttle=self.services.throttle,
        )
        try:
            reply = call(progress)
        except Exception:  # a seller never sees a traceback: they get an apology and a person
            log.exception("a turn failed in %s", self.place.key)
            reply = failure_reply(language)
        finally:
            try:
                progress.finish()
            except Exception:  # a progress edit failing must not hide the answer itself
                log.exception("progress update failed")
        try:
            self.deliver(reply, question=question)
        finally:
            working.stop()
        return reply

    def _language(self, question: str) -> Language:
        """The words' language; with no words to tell, the conversation's remembered one."""
        if question.strip() and has_letters(question):
            return guess_language(question)
        store = getattr(self.services.conversation, "store", None)
        try:
            remembered = store.remembered_language(self.place.key) if store is not None else "en"
        except Exception:
            return "en"
        return "zh" if remembered == "zh" else "en"

    def deliver(self, reply: Reply, *, question: str = "") -> list[str]:
        """Post the reply (split to Block Kit's limits), upload its files, escalate if needed."""
        place = self.place
        timestamps = self.poster.post_all(place.channel, render_reply(reply), thread_ts=place.thread_ts)
        self._remember(reply, timestamps, question)
        details = render_details(reply)  # the short answer's "details": in its thread
        if details:
            thread_ts = place.thread_ts or (timestamps[0] if timestamps else None)
            self.poster.post_all(place.channel, details, thread_ts=thread_ts)
        if reply.files:
            thread = place.thread_ts or (timestamps[0] if timestamps else None)
            self.poster.upload(place.channel, reply.files, thread_ts=thread)
        if wants_person(reply) and self.speaker.account_id is not None:
            self.escalate(
                reply=reply, question=question, thread_ts=place.thread_ts or (timestamps or [""])[0]
            )
        return timestamps

    def escalate(
        self,
        *,
        reply: Reply | None = None,
        question: str = "",
        reason: str = "",
        thread_ts: str | None = None,
        attachments: list[Attachment] | None = None,
        language: Language | None = None,
    ) -> None:
        """Open (or join) the customer-service case of this conversation, with its evidence."""
        from bot.slack.escalate import open_case

        open_case(
            self,
            reply=reply,
            question=question,
            reason=reason,
            thread_ts=thread_ts,
            attachments=attachments,
            language=language,
        )

    def _remember(self, reply: Reply, timestamps: list[str], question: str) -> None:
        """Whose answer this is and what it found: its buttons and a later case depend on it."""
        answers = self.services.answers
        if answers is None or not timestamps:
            return
        try:
            answers.record(
                team_id=self.place.team_id,
                channel=self.place.channel,
                timestamps=timestamps,
                user_id=self.speaker.user_id,
                account_id=self.speaker.account_id,
                conversation_key=self.place.key,
                language=reply.language,
                question=question,
                diagnosis=reply.diagnosis,
            )
        except Exception:  # the answer is out; only its buttons fall back to the clicker's account
            log.exception("remembering an answer in %s failed", self.place.key)

    def say(self, text: str) -> str:
        return self.poster.say(self.place.channel, text, thread_ts=self.place.thread_ts)

    def post(self, message: SlackMessage) -> str:
        return self.poster.post(self.place.channel, message, thread_ts=self.place.thread_ts)


def speaker_of(context: Any) -> Speaker:
    speaker: Speaker = context[SPEAKER_KEY]
    return speaker


def services_of(context: Any) -> SlackServices:
    services: SlackServices = context[SERVICES_KEY]
    return services


def seller_files(poster: SlackPoster, event: dict[str, Any], *, images_only: bool = True) -> list[Attachment]:
    """The images (or, for agents, any files) attached to a message, fetched with the bot token."""
    files: list[Attachment] = []
    for item in (event.get("files") or [])[:MAX_FILES]:
        url = item.get("url_private_download") or item.get("url_private")
        if not url or (images_only and not str(item.get("mimetype", "image/")).startswith("image/")):
            continue
        content = poster.download(str(url))
        if content is not None:
            name = str(item.get("name") or item.get("id") or "image")
            files.append(Attachment(filename=name, content=content, mime_type=str(item.get("mimetype", ""))))
    return files
