"""The one plain-text renderer: a `Reply` as the console (and any text-only surface) shows it.

Choices and actions are numbered in one list (`reply_options`), so the console can take a number
as the answer and mean exactly what was shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.conversation import Reply
from bot.render.brief import brief, char_width, display_width, wrap
from handlers.diagnosis import Action, CheckStatus, Diagnosis, Finding, ImageEvidence, Language, Table
from handlers.text import say
from knowledge.glossary import word

__all__ = [
    "DETAILS_WORDS",
    "display_width",
    "render_details",
    "render_reply",
    "render_table",
    "reply_options",
]

_MARKS = {CheckStatus.OK: "✓", CheckStatus.PROBLEM: "✗", CheckStatus.UNKNOWN: "?"}
_IMAGE_OK = {"ok"}
_IMAGE_WARN = {"not_rgb", "has_alpha"}
WIDTH = 80  # columns of a console answer: every line fits, tables included
MAX_LINES = 12  # lines of a short answer; the rest is one `more` away
MIN_COLUMN = 6  # a table column is never squeezed below this many columns
MORE_WORDS = {"en": "more", "zh": "更多"}  # what the seller types for the details
PACK_OPTIONS_OVER = 4  # more options than this share lines
DETAILS_WORDS = frozenset({"more", "details", "更多", "详情"})


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


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def _column_widths(cells: Sequence[Sequence[str]], count: int, room: int) -> list[int]:
    """Natural column widths, the widest squeezed (its cells wrap) until the row fits `room`."""
    widths = [1] * count
    for row in cells:
        for index, cell in enumerate(row[:count]):
            widths[index] = max(widths[index], display_width(cell))
    while sum(widths) > room and max(widths) > MIN_COLUMN:
        widths[widths.index(max(widths))] -= 1
    return widths


def render_table(table: Table, indent: str = "  ", width: int = WIDTH) -> list[str]:
    """A table with aligned columns (CJK-aware) that fits `width` columns: long cells wrap."""
    columns = [str(c) for c in table.columns]
    rows = [[str(cell) for cell in row] for row in table.rows]
    count = max([len(columns), *(len(row) for row in rows)]) if rows or columns else 0
    gap = "  "
    room = width - display_width(indent) - len(gap) * max(0, count - 1)
    widths = _column_widths([columns, *rows], count, room)
    # A Chinese title takes the Chinese colon (a table carries no language of its own).
    colon = "：" if any(char_width(char) == 2 for char in table.title) else ":"
    lines = wrap(f"{table.title}{colon}", width) if table.title else []

    def emit(cells: Sequence[str]) -> list[str]:
        wrapped = [wrap(cells[i] if i < len(cells) else "", widths[i]) for i in range(count)]
        height = max((len(cell) for cell in wrapped), default=1)
        out = []
        for line_no in range(height):
            parts = [_pad((cell + [""] * height)[line_no], widths[i]) for i, cell in enumerate(wrapped)]
            out.append((indent + gap.join(parts)).rstrip())
        return out

    if columns:
        lines += emit(columns)
        lines.append((indent + gap.join("-" * w for w in widths)).rstrip())
    for row in rows:
        lines += emit(row)
    return lines


def _size(count: int | None) -> str:
    if count is None:
        return ""
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count / 1024 / 1024:.1f} MB"


def render_image(image: ImageEvidence, language: Language = "en") -> str:
    """One picture's check on one line: mark, URL, verdict and what was measured."""
    mark = "✓" if image.verdict in _IMAGE_OK else ("!" if image.verdict in _IMAGE_WARN else "✗")
    facts = [word("image_verdict", image.verdict, language)]
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
    # The check writes its detail in English; a Chinese answer says it from the glossary.
    detail = image.detail if language == "en" else word("image_detail", image.verdict, language)
    if detail and image.verdict not in _IMAGE_OK:
        line += f" ({detail})"
    return line


def _check_lines(finding: Finding, language: Language) -> list[str]:
    mark = _MARKS.get(CheckStatus(finding.status), "?")
    colon = say(language, ": ", "：")
    return wrap(f"{finding.check}{colon}{finding.result}", WIDTH, first=f"  {mark} ", rest="    ")


def _escalation_line(language: Language) -> list[str]:
    return wrap(
        say(
            language,
            "In Slack this opens a case for customer service, with these checks.",
            "在 Slack 中，这会带着以上检查结果为人工客服建立工单。",
        ),
        WIDTH,
        first="→ ",
        rest="  ",
    )


def render_diagnosis(diagnosis: Diagnosis, *, budget: int = MAX_LINES) -> tuple[list[str], bool]:
    """The short answer: summary, the checks that matter, what to do, within `budget` lines.

    Returns:
        The lines, and whether anything was left for `more`.
    """
    language = diagnosis.language
    short = brief(diagnosis)
    summary = wrap(short.summary, WIDTH)
    checks = [_check_lines(finding, language) for finding in short.checks]
    steps = [wrap(step, WIDTH, first="→ ", rest="  ") for step in short.steps]
    fixed = summary + (_escalation_line(language) if diagnosis.escalate else [])
    left = budget - len(fixed)
    shown_checks: list[list[str]] = []
    shown_steps: list[list[str]] = []
    # The first step matters most (what to do), then the checks in order, then the second step.
    wanted = ([("step", steps[0])] if steps else []) + [("check", c) for c in checks]
    wanted += [("step", step) for step in steps[1:]]
    skipped = False
    for kind, lines in wanted:
        if len(lines) > left:
            skipped = True
            continue
        left -= len(lines)
        (shown_steps if kind == "step" else shown_checks).append(lines)
    body = summary + [line for lines in shown_checks for line in lines]
    body += [line for lines in shown_steps for line in lines]
    if diagnosis.escalate:
        body += _escalation_line(language)
    return body, short.has_details or skipped


def _explain_steps(reply: Reply) -> list[str]:
    if not reply.steps:
        return []
    lines = ["", say(reply.language, "Steps:", "步骤：")]
    for n, step in enumerate(reply.steps, start=1):
        lines += wrap(step, WIDTH, first=f"  {n}. ", rest="     ")
    return lines


def render_details(reply: Reply) -> str:
    """Everything a short answer left out: all checks, tables, pictures, steps, the hand-over."""
    language = reply.language
    diagnosis = reply.diagnosis
    if reply.kind == "explain" and reply.steps:
        return "\n".join(_explain_steps(reply)[1:])
    if diagnosis is None:
        return say(language, "There are no more details for this answer.", "这个回答没有更多详情。")
    lines: list[str] = []
    if diagnosis.findings:
        lines.append(say(language, "What I checked:", "检查结果："))
        for finding in diagnosis.findings:
            lines += _check_lines(finding, language)
    for table in diagnosis.tables:
        lines.append("")
        lines += render_table(table)
    if diagnosis.images:
        lines += ["", say(language, "Pictures:", "图片：")]
        for image in diagnosis.images:
            lines += wrap(render_image(image, language).strip(), WIDTH, first="  ", rest="    ")
    if diagnosis.next_steps:
        lines += ["", say(language, "What to do:", "建议操作：")]
        for step in diagnosis.next_steps:
            lines += wrap(step, WIDTH, first="  - ", rest="    ")
    if diagnosis.escalate and diagnosis.escalate_reason:
        lines.append("")
        lines += wrap(
            say(language, "Handed to a person because: ", "转交人工的原因：") + diagnosis.escalate_reason,
            WIDTH,
        )
    return "\n".join(lines)


def _option_lines(options: Sequence[Option]) -> list[str]:
    """Numbered options, one a line; a long list (ten SKUs) several to a line when they are
    short, so it still fits the answer. An option never breaks across two cells."""
    lines: list[str] = []
    current = ""
    pack = len(options) > PACK_OPTIONS_OVER
    for number, option in enumerate(options, start=1):
        cell = f"[{number}] {option.label}"
        if pack and current and display_width(current + "   " + cell) <= WIDTH and display_width(cell) <= 36:
            current += "   " + cell
            continue
        if current:
            lines.append(current)
        current = "  " + cell
        if display_width(current) > WIDTH or display_width(cell) > 36:
            lines += wrap(cell, WIDTH, first="  ", rest="      ")
            current = ""
    if current:
        lines.append(current)
    return lines


def _fitted_options(language: Language, options: Sequence[Option], room: int) -> list[str]:
    """The options in at most `room` lines: a long list shows its first ones and says how many
    more there are (their numbers still answer, and so does typing one)."""
    lines = _option_lines(options)
    if len(lines) <= room or room < 2:
        return lines
    shown = len(options)
    while shown > 1 and len(_option_lines(options[:shown])) + 1 > room:
        shown -= 1
    rest = len(options) - shown
    return [
        *_option_lines(options[:shown]),
        say(language, f"  … and {rest} more: type the one you mean", f"  ……还有 {rest} 个，可直接输入"),
    ]


def _hint(language: Language, *, options: bool, more: bool) -> str:
    if options and more:
        return say(
            language,
            f"(answer with a number, or in your own words; '{MORE_WORDS['en']}' for the details)",
            f"（回复编号，或直接输入；输入“{MORE_WORDS['zh']}”查看详情）",
        )
    if options:
        return say(language, "(answer with a number, or in your own words)", "（回复编号，或直接输入）")
    return say(
        language,
        f"('{MORE_WORDS['en']}' for the details)",
        f"（输入“{MORE_WORDS['zh']}”查看详情）",
    )


def render_reply(reply: Reply) -> str:
    """The reply as plain text for the console: at most `MAX_LINES` lines of `WIDTH` columns for
    a diagnosis (the rest is in `render_details`).

    Args:
        reply: what the conversation answered.

    Returns:
        Lines joined with newlines, no trailing newline.
    """
    language = reply.language
    options = reply_options(reply)
    option_lines = _option_lines(options)
    lines: list[str] = []
    more = False
    if reply.kind == "diagnosis" and reply.diagnosis is not None:
        budget = MAX_LINES - len(option_lines) - 1  # the hint line
        body, more = render_diagnosis(reply.diagnosis, budget=budget)
        lines += body
    elif reply.kind == "explain":
        lines += wrap(reply.title, WIDTH)
        lines += wrap(reply.text, WIDTH)
        question = [""] + wrap(reply.detail_request.prompt, WIDTH) if reply.detail_request else []
        steps = _explain_steps(reply)
        room = MAX_LINES - len(lines) - len(question) - len(option_lines) - (2 if option_lines else 1)
        if len(steps) <= room:
            lines += steps
        else:
            more = True  # the steps are one `more` away; the explanation already says the gist
        lines += question
    else:
        for paragraph in reply.text.splitlines() or [""]:
            lines += wrap(paragraph, WIDTH) if paragraph.strip() else [""]
        for step in reply.steps:
            lines += wrap(step, WIDTH, first="  - ", rest="    ")
    for attached in reply.files:
        lines.append(
            say(language, "Attached: ", "附件：") + f"{attached.filename} ({_size(len(attached.content))})"
        )
    if reply.escalate and reply.kind != "diagnosis":
        lines.append(say(language, "→ A person will take it from here.", "→ 接下来由人工客服处理。"))
    if reply.kind != "diagnosis":
        option_lines = _fitted_options(language, options, MAX_LINES - len(lines) - 2)
    if option_lines:
        lines += ([""] if reply.kind != "diagnosis" else []) + option_lines
    if option_lines or more:
        lines.append(_hint(language, options=bool(option_lines), more=more))
    return "\n".join(lines)
