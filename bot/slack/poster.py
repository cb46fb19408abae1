"""Posting to Slack: messages within Block Kit's limits, edits, uploads and the follow-up poster."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.conversation import Attachment
from bot.render.blocks import SlackMessage, render_mrkdwn, render_text
from erp.models import FollowUp

log = logging.getLogger(__name__)


class SlackPoster:
    """One workspace's chat surface, for listeners and for the escalation service."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(self, channel: str, message: SlackMessage, *, thread_ts: str | None = None) -> str:
        """Post one message; returns its ts."""
        response = self.client.chat_postMessage(
            channel=channel, text=message.text, blocks=message.blocks, thread_ts=thread_ts or None
        )
        return str(response["ts"])

    def post_all(
        self, channel: str, messages: Sequence[SlackMessage], *, thread_ts: str | None = None
    ) -> list[str]:
        return [self.post(channel, message, thread_ts=thread_ts) for message in messages]

    def say(self, channel: str, text: str, *, thread_ts: str | None = None) -> str:
        return self.post(channel, render_text(text), thread_ts=thread_ts)

    def notify(self, channel: str, mrkdwn: str, *, thread_ts: str | None = None) -> str:
        """Post words we wrote as mrkdwn (real mentions and dates; typed parts escaped by the caller)."""
        return self.post(channel, render_mrkdwn(mrkdwn), thread_ts=thread_ts)

    def react(self, channel: str, ts: str, name: str) -> None:
        """Add a reaction (a receipt: "on it", "passed on"); a failure only costs the receipt."""
        if not (channel and ts):
            return
        try:
            self.client.reactions_add(channel=channel, timestamp=ts, name=name)
        except SlackApiError as exc:
            log.info("reaction %s not added: %s", name, exc.response.get("error"))

    def unreact(self, channel: str, ts: str, name: str) -> None:
        if not (channel and ts):
            return
        try:
            self.client.reactions_remove(channel=channel, timestamp=ts, name=name)
        except SlackApiError as exc:
            log.info("reaction %s not removed: %s", name, exc.response.get("error"))

    def replace_original(self, response_url: str, message: SlackMessage) -> bool:
        """Replace the message a button was clicked on (through its `response_url`)."""
        from slack_sdk.webhook import WebhookClient

        if not response_url:
            return False
        try:
            response = WebhookClient(response_url, timeout=10).send(
                text=message.text, blocks=message.blocks, replace_original=True
            )
        except Exception:  # the click still counts; only its display is stale
            log.exception("replacing a clicked message failed")
            return False
        return response.status_code == 200

    def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        self.client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        message = render_text(text)
        try:
            self.client.chat_postEphemeral(
                channel=channel, user=user, text=message.text, blocks=message.blocks
            )
        except SlackApiError as exc:
            # The bot may not be in that channel; the seller then hears it in the DM.
            log.info("ephemeral message not delivered (%s); using the DM", exc.response.get("error"))
            self.say(self.open_dm(user), text)

    def _is_slack_host(self, url: str) -> bool:
        host = _host(url)
        if not host or not url.lower().startswith(("https://", "http://")):
            return False
        return host == "slack.com" or host.endswith(".slack.com") or host == _host(self.client.base_url)

    def user_name(self, user: str) -> str:
        """The user's display name for people reading a case; "" when Slack does not say."""
        if not user:
            return ""
        try:
            profile = self.client.users_info(user=user)["user"]
        except (SlackApiError, KeyError, TypeError):
            return ""
        return str(profile.get("real_name") or profile.get("name") or "")

    def open_dm(self, user: str) -> str:
        response = self.client.conversations_open(users=user)
        return str(response["channel"]["id"])

    def upload(
        self, channel: str, files: Sequence[Attachment], *, thread_ts: str | None = None, comment: str = ""
    ) -> None:
        """Upload files into a conversation (thread) with the three-step external upload."""
        if not files:
            return
        self.client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts or None,
            initial_comment=comment or None,
            file_uploads=[
                {
                    "content": file.content,
                    "filename": file.filename,
                    "title": file.title or file.filename,
                    # Screen readers and notifications read this instead of the picture.
                    "alt_txt": (file.title or file.filename)[:1000],
                }
                for file in files
            ],
        )

    def download(self, url: str, *, limit: int = 10 * 1024 * 1024) -> bytes | None:
        """A private Slack file (a seller's attachment), fetched with the bot token; None on failure.

        The token goes only to Slack's own hosts (or the configured Web API host): a file link
        pointing anywhere else is not fetched.
        """
        import httpx

        if not self._is_slack_host(url):
            log.warning("not fetching a file outside Slack's hosts")
            return None
        headers = {"Authorization": f"Bearer {self.client.token}"}
        try:
            with httpx.stream("GET", url, headers=headers, timeout=10, follow_redirects=False) as response:
                if response.status_code != 200:
                    return None
                data = bytearray()
                for chunk in response.iter_bytes():
                    data.extend(chunk)
                    if len(data) > limit:
                        return None
                return bytes(data)
        except httpx.HTTPError:
            return None


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def follow_up_poster(client_for_team: Callable[[str], WebClient]) -> Callable[[FollowUp, str], Any]:
    """The scheduler's `poster(follow_up, text)`: the answer goes back into the thread that asked."""

    def post(follow_up: FollowUp, text: str) -> None:
        poster = SlackPoster(client_for_team(follow_up.team_id))
        poster.say(follow_up.channel, text, thread_ts=follow_up.thread_ts or None)

    return post
