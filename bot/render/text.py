"""The one plain-text renderer: a `Reply` as the console (and any text-only surface) shows it.

Choices and actions are numbered in one list (`reply_options`), so the console can take a number
as the answer and mean exactly what was shown.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bot.conversation import Reply
from handlers.diagnosis import Action, CheckStatus, Diagnosis, ImageEvidence, Language, Table
from handlers.text import say

_MARKS = {CheckStatus.OK: "✓", CheckStatus.PROBLEM: "✗", CheckStatus.UNKNOWN: "?"}
_IMAGE_OK = {"ok"}
_IMAGE_WARN = {"not_rgb", "has_alpha"}
MAX_CELL = 60  # a long URL in a table cell is cut, the full one is in the findings


@dataclass(frozen=True)
class Option:
    """One numbered option of a reply: a choice (answers a question) or an action (runs something)."""

    label: str
    choice: str | None = None  # the choice's value
    action: Action | None = None


def reply_options(reply: Reply) -> list[Option]:
    """The reply's options in the order they are numbered: choices first, then actions."""
    options = [Option(label=choice.label, choice=choice.value) for choice in reply.choices]
    actions = list(reply.diagnosis.actions) if reply.diagnosis else []
    actions += reply.actions
    options += [Option(label=action.label, action=action) for action in actions]
    return options


def display_width(text: str) -> int:
    """Columns the text takes in a terminal: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in ("W", "F") else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def _cut(text: str, limit: int = MAX_CELL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_table(table: Table, indent: str = "  ") -> list[str]:
    """A table with aligned columns (CJK-aware)."""
    rows = [[_cut(str(cell)) for cell in row] for row in table.rows]
    columns = [_cut(str(c)) for c in table.columns]
    count = max([len(columns), *(len(row) for row in rows)]) if rows or columns else 0
    widths = [0] * count
    for row in [columns, *rows]:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], display_width(cell))
    lines = [f"{table.title}:"] if table.title else []

    def line(cells: Sequence[str]) -> str:
        padded = [_pad(cell, widths[index]) for index, cell in enumerate(cells)]
        return (indent + "  ".join(padded)).rstrip()

    if columns:
        lines.append(line(columns))
        lines.append(line(["-" * w for w in widths[: len(columns)]]))
    lines += [line(row) for row in rows]
    return lines


def _size(count: int | None) -> str:
    if count is None:
        return ""
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count / 1024 / 1024:.1f} MB"


def render_image(image: ImageEvidence) -> str:
    """One picture's check on one line: mark, URL, verdict and what was measured."""
    mark = "✓" if image.verdict in _IMAGE_OK else ("!" if image.verdict in _IMAGE_WARN else "✗")
    facts = [image.verdict]
    if image.http_status:
        facts.append(f"HTTP {image.http_status}")
    if image.format or image.mode:
        facts.append(" ".join(part for part in (image.format, image.mode) if part))
    if image.width and image.height:
        facts.append(f"{image.width}x{image.height}")
    if image.bytes:
        facts.append(_size(image.bytes))
    if image.content_type and image.verdict == "not_an_image":
        facts.append(image.content_type)
    line = f"  {mark} {image.url} — {', '.join(facts)}"
    if image.detail and image.verdict not in _IMAGE_OK:
        line += f" ({image.detail})"
    return line


def render_diagnosis(diagnosis: Diagnosis) -> list[str]:
    """A diagnosis: summary, findings, tables, pictures, next steps (options come after)."""
    language = diagnosis.language
    lines = [diagnosis.summary]
    if diagnosis.findings:
        lines += ["", say(language, "What I checked:", "检查结果：")]
        for finding in diagnosis.findings:
            lines.append(f"  {_MARKS.get(finding.status, '?')} {finding.check}: {finding.result}")
    for table in diagnosis.tables:
        lines.append("")
        lines += render_table(table)
    if diagnosis.images:
        lines += ["", say(language, "Pictures:", "图片：")]
        lines += [render_image(image) for image in diagnosis.images]
    if diagnosis.next_steps:
        lines += ["", say(language, "What to do:", "建议操作：")]
        lines += [f"  - {step}" for step in diagnosis.next_steps]
    if diagnosis.escalate:
        lines += [
            "",
            say(language, "→ Handing this to a person: ", "→ 转交人工处理：") + diagnosis.escalate_reason,
        ]
    return lines


def _options(language: Language, options: Sequence[Option]) -> list[str]:
    if not options:
        return []
    lines = [""]
    lines += [f"  [{number}] {option.label}" for number, option in enumerate(options, start=1)]
    lines.append(say(language, "(answer with a number, or in your own words)", "（回复编号，或直接输入）"))
    return lines


def render_reply(reply: Reply) -> str:
    """The reply as plain text for the console.

    Args:
        reply: what the conversation answered.

    Returns:
        Lines joined with newlines, no trailing newline.
    """
    language = reply.language
    lines: list[str] = []
    if reply.kind == "diagnosis" and reply.diagnosis is not None:
        lines += render_diagnosis(reply.diagnosis)
    elif reply.kind == "explain":
        lines.append(reply.title)
        lines.append(reply.text)
        if reply.steps:
            lines += ["", say(language, "Steps:", "步骤：")]
            lines += [f"  {n}. {step}" for n, step in enumerate(reply.steps, start=1)]
        if reply.detail_request is not None:
            lines += ["", reply.detail_request.prompt]
    else:
        lines.append(reply.text)
        if reply.steps:
            lines += [f"  - {step}" for step in reply.steps]
    for attached in reply.files:
        lines.append(
            say(language, "Attached: ", "附件：") + f"{attached.filename} ({_size(len(attached.content))})"
        )
    if reply.escalate and reply.kind != "diagnosis":
        lines.append(say(language, "→ A person will take it from here.", "→ 接下来由人工客服处理。"))
    lines += _options(language, reply_options(reply))
    return "\n".join(lines)
