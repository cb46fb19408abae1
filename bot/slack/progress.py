"""Progress of a long check shown by editing ONE message, at most about once a second.

`chat.update` is a tier 3 method and Slack asks for about one message per second per channel, so
snapshots arriving faster are coalesced: only the newest is sent, and the final state always is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bot.render.blocks import SlackMessage, paginate, render_template
from bot.slack.poster import SlackPoster
from erp.progress import StoreSyncProgress
from handlers.diagnosis import Language
from handlers.text import say
from knowledge.glossary import load_glossary, word


def progress_line(p: StoreSyncProgress, language: Language) -> str:
    """One store's line, e.g. "Amazon US: 1,240 orders (page 13)…" or "Shopee MY: done, 312 new"."""
    if p.error:  # a failed store is shown as failed, whatever it fetched before
        # The sync's error is written in English for the logs; Chinese takes the glossary's words.
        kind = p.error_kind if load_glossary().has("platform_error", p.error_kind) else "unknown"
        return say(
            language,
            f":x: {p.store}: failed: {p.error}",
            f":x: {p.store}：失败：{word('platform_error', kind, language)}",
        )
    if p.done and not (p.inserted or p.updated) and p.fetched:
        return say(
            language,
            f"{p.store}: done, {p.fetched:,} orders checked",
            f"{p.store}：完成，检查了 {p.fetched:,} 个订单",
        )
    if p.done:
        return say(
            language,
            f"{p.store}: done, {p.inserted:,} new, {p.updated:,} updated",
            f"{p.store}：完成，新增 {p.inserted:,}，更新 {p.updated:,}",
        )
    return say(
        language,
        f"{p.store}: {p.fetched:,} orders (page {p.pages})…",
        f"{p.store}：{p.fetched:,} 个订单（第 {p.pages} 页）…",
    )


WORKING_REACTION = "hourglass_flowing_sand"
WORKING_AFTER = 1.0  # seconds: a quicker answer needs no "on it" sign


class WorkingSignal:
    """Shows the seller the bot is on it when an answer takes longer than a second.

    A reaction on the seller's message appears after `WORKING_AFTER` seconds and goes away with
    the answer; a quick answer never shows it.
    """

    def __init__(self, poster: SlackPoster, channel: str, ts: str, *, after: float = WORKING_AFTER) -> None:
        self.poster = poster
        self.channel = channel
        self.ts = ts
        self._lock = threading.Lock()
        self._shown = False
        self._stopped = False
        self._timer = threading.Timer(after, self._show)
        self._timer.daemon = True
        if channel and ts:
            self._timer.start()

    def _show(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._shown = True
        self.poster.react(self.channel, self.ts, WORKING_REACTION)

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._stopped = True
            shown = self._shown
        if shown:
            self.poster.unreact(self.channel, self.ts, WORKING_REACTION)


def working_signal(poster: SlackPoster, event: dict[str, Any] | None) -> WorkingSignal:
    """The "on it" sign for the message that started a turn (none for clicks and commands)."""
    event = event or {}
    return WorkingSignal(poster, str(event.get("channel", "")), str(event.get("ts", "")))


class ChannelThrottle:
    """Shared by every progress message: at most one edit a second per channel (Slack's pace).

    Two checks running in one channel take turns instead of each editing once a second.
    """

    def __init__(self, min_interval: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = min_interval
        self._monotonic = monotonic
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, channel: str) -> bool:
        """True (and the channel's clock restarts) when an edit may go out now."""
        with self._lock:
            now = self._monotonic()
            if now - self._last.get(channel, float("-inf")) < self.min_interval:
                return False
            self._last[channel] = now
            if len(self._last) > 10_000:  # forget quiet channels; a new one simply may edit
                self._last = {key: value for key, value in self._last.items() if now - value < 60}
            return True


class SlackProgress:
    """A `SyncProgressCallback` that keeps one Slack message up to date; thread-safe."""

    def __init__(
        self,
        poster: SlackPoster,
        channel: str,
        *,
        thread_ts: str | None = None,
        language: Language = "en",
        min_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        throttle: ChannelThrottle | None = None,
    ) -> None:
        self.poster = poster
        self.channel = channel
        self.thread_ts = thread_ts
        self.language = language
        self.min_interval = min_interval
        self._monotonic = monotonic
        self.throttle = throttle or ChannelThrottle(min_interval, monotonic)
        self._stores: dict[str, StoreSyncProgress] = {}
        self._lock = threading.Lock()
        self._ts: str | None = None
        self._last_sent = float("-inf")
        self._dirty = False
        self.sent = 0  # messages posted or edited: the throttle's effect, for tests and logs

    def __call__(self, progress: StoreSyncProgress) -> None:
        with self._lock:
            self._stores[progress.store] = progress
            self._dirty = True
            if self._monotonic() - self._last_sent >= self.min_interval and self.throttle.allow(self.channel):
                self._send()

    def finish(self) -> None:
        """Show the final state (no message when nothing was reported).

        The check is over when this is called, so a store whose last snapshot was not final is
        shown as finished with what it fetched; the answer itself carries each store's result.
        """
        with self._lock:
            if not self._stores:
                return
            for name, snapshot in list(self._stores.items()):
                if not snapshot.done:
                    # The sync reports a failed store's final state (shown as failed); one that
                    # ended well sends no final word, so it is shown done with what it fetched.
                    self._stores[name] = replace(snapshot, done=True)
                    self._dirty = True
            if self._dirty:
                self._send()

    def message(self) -> SlackMessage:
        title = say(self.language, "*Syncing orders now*", "*正在同步订单*")
        if self._stores and all(p.done for p in self._stores.values()):
            title = say(self.language, "*Order sync finished*", "*订单同步完成*")
        lines = "\n".join(progress_line(p, self.language) for p in self._stores.values())
        blocks = render_template("progress.j2", title=title, lines=lines or "…")
        return paginate(blocks, f"{title.strip('*')}: {lines}")[0]

    def _send(self) -> None:
        message = self.message()
        if self._ts is None:
            self._ts = self.poster.post(self.channel, message, thread_ts=self.thread_ts)
        else:
            self.poster.update(self.channel, self._ts, message)
        self._last_sent = self._monotonic()
        self._dirty = False
        self.sent += 1
