"""Text as Slack means it: our own mentions and dates as markup, everyone's words as words.

Slack reads `<...>` in a message's blocks AND in its fallback `text` as markup (mentions,
`<!channel>`, masked links). So anything a seller or an agent typed is escaped before it is put
into a message, and the only markup that goes out is the markup this module writes: user
mentions for people we name, `<!date^...>` for times (each reader sees their own local time),
and the mentions and links a person really wrote, re-written in a form that cannot notify a
whole channel or hide where a link goes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")
_TOKEN = re.compile(r"<([^<>]*)>")


def escape(text: str) -> str:
    """Slack mrkdwn escaping: only &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Slack's encoding of &, < and > undone (for words that are escaped again on the way out)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mention(user_id: str) -> str:
    """A real mention of a Slack user; a value that is not a user id is shown as plain text."""
    return f"<@{user_id}>" if _USER_ID.match(user_id or "") else escape(user_id or "")


def slack_date(moment: datetime | None, *, never: str = "never") -> str:
    """A time every reader sees in their own time zone; the UTC text where dates are not shown."""
    if moment is None:
        return escape(never)
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    fallback = aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(aware.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def relay_text(raw: str) -> str:
    """A person's Slack message, safe to re-post: line breaks, user mentions and link labels kept.

    `raw` is a message's text as Slack delivers it (`&`, `<`, `>` typed by the person arrive
    encoded; `<...>` is markup Slack made from what they did). User and channel mentions stay
    mentions; `<!channel>`, `<!here>`, `<!everyone>` and group mentions become plain "@channel"
    words (a relay must not notify a whole channel); a link is shown as "label (address)" so no
    label can hide where it goes; everything else is escaped text.
    """
    out: list[str] = []
    position = 0
    for match in _TOKEN.finditer(raw or ""):
        out.append(escape(unescape(raw[position : match.start()])))
        out.append(_relay_token(match.group(1)))
        position = match.end()
    out.append(escape(unescape((raw or "")[position:])))
    return "".join(out).strip()


def _relay_token(inner: str) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user = target[1:]
        return mention(user) if _USER_ID.match(user) else escape("@" + unescape(label or user))
    if target.startswith("#"):
        channel = target[1:]
        return f"<#{channel}>" if _CHANNEL_ID.match(channel) else escape("#" + unescape(label or channel))
    if target.startswith("!"):
        # Special mentions and dates: their words only, never their effect.
        word = target[1:].split("^", 1)[0]
        if word == "date":
            return escape(unescape(label))
        if word == "subteam":
            return escape(unescape(label) or "@group")
        return escape("@" + word)
    address = unescape(target)
    text = unescape(label)
    if text and text != address:
        return f"{escape(text)} ({escape(address)})"
    return escape(address)


def quote(text: str) -> str:
    """Already-safe mrkdwn as a block quote, line by line (empty lines kept as quote lines)."""
    return "\n".join(f">{' ' + line if line else ''}" for line in text.splitlines()) if text else ""
