"""What a short answer keeps of a diagnosis, for every surface: the rest is one "details" away.

A seller reads the first line (what is wrong, what will happen), a few checks that matter and
what to do. Everything else (all the checks, the tables, each picture, the hand-over reason)
goes to the details: `more` in the console, a thread reply in Slack. Both renderers take their
selection from here, so the console and Slack never disagree about what is "the short answer".
"""

from __future__ import annotations

import unicodedata
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


def _units(text: str) -> list[str]:
    """Words, spaces and single wide characters: the places a line may break."""
    units: list[str] = []
    word = ""
    for char in text:
        if char == " " or char_width(char) == 2:
            if word:
                units.append(word)
                word = ""
            units.append(char)
        else:
            word += char
    if word:
        units.append(word)
    return units


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


def wrap(text: str, width: int, *, first: str = "", rest: str = "") -> list[str]:
    """`text` in lines of at most `width` columns: the first line starts with `first`, the others
    with `rest` (a hanging indent). Breaks at spaces or between wide characters; a word longer
    than a line (a URL) is split, so nothing ever overflows."""
    lines: list[str] = []
    current, filled = first, False
    for unit in _units(" ".join(text.split())):
        if unit == " ":
            if filled:
                current += " "
            continue
        if display_width(current + unit) <= width:
            current, filled = current + unit, True
            continue
        if filled and unit in _CLOSING and char_width(current[-1]) == 2:
            # Closing punctuation never starts a line: the character before it comes along.
            lines.append(current[:-1].rstrip())
            current = rest + current[-1] + unit
            continue
        if filled:
            lines.append(current.rstrip())
            current, filled = rest, False
        if display_width(current + unit) <= width:
            current, filled = current + unit, True
            continue
        for piece in _hard_split(unit, max(1, width - display_width(rest))):
            if filled:
                lines.append(current.rstrip())
                current = rest
            current, filled = current + piece, True
    lines.append(current.rstrip())
    return lines
