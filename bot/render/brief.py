"""What a short answer keeps of a diagnosis, for every surface: the rest is one "details" away.

A seller reads the first line (what is wrong, what will happen), a few checks that matter and
what to do. Everything else (all the checks, the tables, each picture, the hand-over reason)
goes to the details: `more` in the console, a thread reply in Slack. Both renderers take their
selection from here, so the console and Slack never disagree about what is "the short answer".
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from dataclasses import dataclass

from handlers.diagnosis import CheckStatus, Diagnosis, Finding

MAX_CHECKS = 3  # checks shown in the short answer
MAX_STEPS = 2  # steps shown in the short answer
_PRIORITY = {CheckStatus.PROBLEM: 0, CheckStatus.UNKNOWN: 1, CheckStatus.OK: 2}


@dataclass(frozen=True)
class Brief:
    """The short answer's parts, in the diagnosis's language."""

    summary: str
    checks: list[Finding]
    steps: list[str]
    has_details: bool  # something was left for the details


def brief(diagnosis: Diagnosis, *, max_checks: int = MAX_CHECKS, max_steps: int = MAX_STEPS) -> Brief:
    """The checks that matter (problems first, then unknowns, then the fine ones; shown in the
    order they were run) and the first steps."""
    ranked = sorted(
        range(len(diagnosis.findings)),
        key=lambda index: (_PRIORITY.get(CheckStatus(diagnosis.findings[index].status), 3), index),
    )
    kept = sorted(ranked[:max_checks])
    checks = [diagnosis.findings[index] for index in kept]
    steps = list(diagnosis.next_steps[:max_steps])
    left = (
        len(checks) < len(diagnosis.findings)
        or len(steps) < len(diagnosis.next_steps)
        or bool(diagnosis.tables)
        or bool(diagnosis.images)
        or bool(diagnosis.escalate_reason)
    )
    return Brief(summary=diagnosis.summary, checks=checks, steps=steps, has_details=left)


# --- terminal columns --------------------------------------------------------------------------


def char_width(char: str) -> int:
    """Columns one character takes in a terminal: wide (CJK) characters take two."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns the text takes in a terminal."""
    return sum(char_width(char) for char in text)


def _wide(char: str) -> bool:
    return char_width(char) == 2


def _units(text: str) -> list[str]:
    """Words, spaces and single wide characters: the places a line may break. A space beside a
    wide character is no place to break: Chinese breaks between its characters instead, so a
    number keeps its unit ("1-2 天") and a line break never hides a space the reader would miss
    when the lines are read as one."""
    units: list[str] = []
    word = ""
    for char in text:
        if char == " " or _wide(char):
            if word:
                units.append(word)
                word = ""
            units.append(char)
        else:
            word += char
    if word:
        units.append(word)
    glued: list[str] = []
    index = 0
    while index < len(units):
        unit = units[index]
        if (
            unit == " "
            and glued
            and index + 1 < len(units)
            and (_wide(glued[-1][-1]) or _wide(units[index + 1][0]))
        ):
            glued[-1] += " " + units[index + 1]
            index += 2
            continue
        glued.append(unit)
        index += 1
    return glued


def _hard_split(unit: str, width: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for char in unit:
        if current and display_width(current + char) > width:
            parts.append(current)
            current = ""
        current += char
    if current:
        parts.append(current)
    return parts


_CLOSING = frozenset("，。；：、！？）」』”’)]")
_OPENING = frozenset("（「『“‘([")


def _carried(words: list[str], unit: str) -> int:
    """How many of the line's last units go to the next line with `unit`: closing punctuation
    never starts a line (the word before it comes along), opening punctuation never ends one.
    None when that would leave the line empty."""
    keep = len(words)
    if unit[0] in _CLOSING:
        while keep and words[keep - 1][0] in _CLOSING:
            keep -= 1
        if keep and words[keep - 1] != " ":
            keep -= 1  # the word the punctuation closes
    while keep and words[keep - 1][-1] in _OPENING:
        keep -= 1
    return len(words) - keep if keep > 0 else 0


def wrap(text: str, width: int, *, first: str = "", rest: str = "") -> list[str]:
    """`text` in lines of at most `width` columns: the first line starts with `first`, the others
    with `rest` (a hanging indent). Breaks at spaces or between wide characters; a word longer
    than a line (a URL) is split, so nothing ever overflows."""
    lines: list[str] = []
    prefix = first  # the line's start (a mark or an indent)
    words: list[str] = []  # the units after it
    units = deque(_units(" ".join(text.split())))
    while units:
        unit = units.popleft()
        if unit == " ":
            if words:
                words.append(" ")
            continue
        if display_width(prefix + "".join(words) + unit) <= width:
            words.append(unit)
            continue
        if " " in unit and display_width(rest + unit) > width:
            # Words kept together that do not fit even a line of their own break at their spaces.
            units.extendleft(reversed(re.split(r"( )", unit)))
            continue
        carried = _carried(words, unit) if words else 0
        if words:
            lines.append((prefix + "".join(words[: len(words) - carried])).rstrip())
            prefix, words = rest, words[len(words) - carried :]
        if display_width(prefix + "".join(words) + unit) <= width:
            words.append(unit)
            continue
        for piece in _hard_split(unit, max(1, width - display_width(rest))):
            if words:
                lines.append((prefix + "".join(words)).rstrip())
                prefix, words = rest, []
            words.append(piece)
    lines.append((prefix + "".join(words)).rstrip())
    return lines
