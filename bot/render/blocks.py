"""Block Kit for Slack: the one place that lays out a `Reply` (and the bot's other Slack views).

Templates in `bot/templates/*.j2` produce the block JSON; this module prepares their data (text
already cut to Block Kit's limits), parses the result and enforces the limits again, so an
oversized diagnosis is split into several messages or truncated with "…", never rejected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.conversation import Reply
from bot.render.brief import brief
from bot.render.mrkdwn import escape
from bot.render.text import render_table
from handlers.diagnosis import (
    Action,
    ActionKind,
    CheckStatus,
    DetailRequest,
    Diagnosis,
    Finding,
    ImageEvidence,
    Language,
    Table,
)
from knowledge.glossary import word

MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_BUTTONS = 5  # per actions block: more would crowd the message (Slack allows 25)
MAX_MESSAGES = 5  # per reply: beyond that the seller scrolls past the point
MAX_FALLBACK = 3000  # notification text; Slack allows 40,000 but nobody reads that in a toast
BUTTONS_BEFORE_SELECT = 5  # more choices than this become a static select

ELLIPSIS = "…"

LABELS: dict[str, dict[Language, str]] = {
    "checked": {"en": "What I checked", "zh": "我检查了什么"},
    "next": {"en": "What to do next", "zh": "下一步"},
    "helped": {"en": "This helped", "zh": "有帮助"},
    "not_helped": {"en": "This did not help", "zh": "没有帮助"},
    "person": {"en": "Talk to a person", "zh": "联系客服"},
    "escalated": {
        "en": "A person from customer service will look at this; I have passed on what I found.",
        "zh": "客服会跟进这个问题，我已把检查结果转给他们。",
    },
    "choose": {"en": "Choose…", "zh": "请选择…"},
    "images": {"en": "Images", "zh": "图片"},
    "continued": {"en": "(continued)", "zh": "（续）"},
    "flow": {"en": "Flow", "zh": "流程"},
    "details": {"en": "Details", "zh": "详情"},
    "details_below": {
        "en": "Every check, table and picture is in the thread below.",
        "zh": "全部检查、表格和图片见下方消息串。",
    },
    "reason": {"en": "Handed to a person because: ", "zh": "转交人工的原因："},
}

STATUS_MARKS = {
    CheckStatus.OK: ":white_check_mark:",
    CheckStatus.PROBLEM: ":x:",
    CheckStatus.UNKNOWN: ":grey_question:",
}


@dataclass(frozen=True)
class SlackMessage:
    """One chat message: blocks plus the notification/fallback text."""

    text: str
    blocks: list[dict[str, Any]]


def label(key: str, language: Language) -> str:
    return LABELS[key][language]


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending with "…" when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def chunk_lines(lines: Iterable[str], limit: int = MAX_SECTION, *, fence: bool = False) -> list[str]:
    """Join lines into texts of at most `limit` characters; a single over-long line is truncated."""
    overhead = 8 if fence else 0  # the ``` fences
    budget = limit - overhead
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for raw in lines:
        line = truncate(raw, budget)
        extra = len(line) + (1 if current else 0)
        if current and size + extra > budget:
            chunks.append("\n".join(current))
            current, size = [], 0
            extra = len(line)
        current.append(line)
        size += extra
    if current:
        chunks.append("\n".join(current))
    return [f"```\n{chunk}\n```" if fence else chunk for chunk in chunks]


def table_lines(table: Table) -> list[str]:
    """A table as aligned monospace lines: the console's layout (CJK-aware, long cells wrapped
    within 80 columns), so no cell is cut in the middle of a quote."""
    return render_table(Table("", table.columns, table.rows), indent="")


def encode_value(data: dict[str, Any]) -> str | None:
    """A button value as compact JSON, or None when it would exceed Slack's 2,000 characters."""
    value = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return value if len(value) <= MAX_BUTTON_VALUE else None


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bot", "templates"),
        autoescape=False,  # output is JSON: every string goes through a JSON filter instead
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mrkdwn"] = lambda text, limit=MAX_SECTION: json.dumps(truncate(escape(str(text)), limit))
    env.filters["plain"] = lambda text, limit=MAX_SECTION: json.dumps(truncate(str(text), limit))
    env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)
    return env


def render_template(name: str, **data: Any) -> Any:
    """Render `bot/templates/<name>` and parse its JSON."""
    return json.loads(_environment().get_template(name).render(**data))


# --- Replies ---------------------------------------------------------------------------------------


def render_reply(reply: Reply) -> list[SlackMessage]:
    """Every message needed to show `reply` in Slack, each within Block Kit's limits."""
    language = reply.language
    if reply.kind == "diagnosis" and reply.diagnosis is not None:
        blocks = _diagnosis_blocks(reply.diagnosis, escalated=getattr(reply, "escalate", False))
        fallback = reply.diagnosis.summary or reply.text
    elif reply.kind == "ask_detail" and reply.detail_request is not None:
        request = reply.detail_request
        blocks = render_template(
            "ask_detail.j2",
            prompt=chunk_lines([escape(request.prompt or reply.text)]),
            buttons=_choice_buttons(request.choices, "sd_choice", flow=request.flow, detail=request.detail),
            select=_choice_select(
                request.choices, flow=request.flow, detail=request.detail, language=language
            ),
        )
        fallback = request.prompt or reply.text
    elif reply.kind == "clarify":
        blocks = render_template(
            "clarify.j2",
            prompt=chunk_lines([escape(reply.text)]),
            buttons=_choice_buttons(reply.choices, "sd_clarify", flow=None, detail=None),
        )
        fallback = reply.text
    elif reply.kind == "explain":
        blocks = render_template(
            "explain.j2",
            title=reply.title,
            body=chunk_lines(escape(line) for line in reply.text.splitlines() if line.strip()),
            steps=chunk_lines(f"{i}. {escape(step)}" for i, step in enumerate(reply.steps, 1)),
            next_label=label("next", language),
            feedback=_feedback_buttons(reply.flow or "", "explained", language),
        )
        if reply.detail_request is not None:  # the explanation comes with the question it needs
            blocks[-1:-1] = _detail_blocks(reply.detail_request, language)
        fallback = reply.title or reply.text
    else:
        actions = list(getattr(reply, "actions", []) or [])
        offers_person = any(a.kind == ActionKind.TALK_TO_PERSON for a in actions)
        blocks = render_template(
            "message.j2",
            body=chunk_lines(escape(line) for line in (reply.text or " ").splitlines() or [" "]),
            person=_person_button(reply.flow or "", reply.kind, language)
            if reply.kind == "out_of_scope" and not offers_person
            else None,
        )
        blocks.extend(_reply_action_blocks(actions, flow=reply.flow or "", verdict=reply.kind))
        fallback = reply.text
    return paginate(blocks, fallback, language=language)


def _detail_blocks(request: DetailRequest, language: Language, *, fallback: str = "") -> list[dict[str, Any]]:
    """The question for a missing detail, with the seller's own choices as buttons or a select."""
    blocks: list[dict[str, Any]] = render_template(
        "ask_detail.j2",
        prompt=chunk_lines([escape(request.prompt or fallback or " ")]),
        buttons=_choice_buttons(request.choices, "sd_choice", flow=request.flow, detail=request.detail),
        select=_choice_select(request.choices, flow=request.flow, detail=request.detail, language=language),
    )
    return blocks


def _finding_text(finding: Finding) -> str:
    mark = STATUS_MARKS.get(CheckStatus(finding.status), "•")
    return f"{mark} *{escape(finding.check)}*: {escape(finding.result)}"


def _image_text(image: ImageEvidence, language: Language) -> str:
    # The check writes its detail in English; Chinese answers take the glossary's words.
    detail = image.detail if language == "en" else word("image_detail", image.verdict, language)
    verdict = word("image_verdict", image.verdict, language)
    return f"• {escape(truncate(image.url, 300))}: *{escape(verdict)}*" + (
        f" ({escape(detail)})" if detail else ""
    )


def _diagnosis_blocks(diagnosis: Diagnosis, *, escalated: bool) -> list[dict[str, Any]]:
    """The short answer: what is wrong, the checks that matter, what to do (details go to the thread)."""
    language = diagnosis.language
    short = brief(diagnosis)
    # Flow ids are for logs: the seller reads the store, the SKU and the order.
    context = " · ".join(
        escape(part)
        for part in (diagnosis.store or "", diagnosis.sku or "", diagnosis.order_id or "")
        if part
    )
    return render_template(
        "diagnosis.j2",
        summary=chunk_lines([f"*{escape(short.summary)}*"]),
        context=context,
        checked_label=label("checked", language),
        findings=chunk_lines(_finding_text(f) for f in short.checks),
        tables=[],
        images_label=label("images", language),
        images=[],
        next_label=label("next", language),
        steps=chunk_lines(f"{i}. {escape(step)}" for i, step in enumerate(short.steps, 1)),
        more=label("details_below", language) if short.has_details else "",
        escalated=label("escalated", language) if (escalated or diagnosis.escalate) else "",
        actions=_action_buttons(diagnosis),
        feedback=_feedback_buttons(diagnosis.flow, diagnosis.verdict, language),
    )


def render_details(reply: Reply) -> list[SlackMessage]:
    """What the short answer left out, as thread replies: every check, table, picture and step.

    Empty when the reply is not a diagnosis or the short answer already said everything.
    """
    diagnosis = reply.diagnosis
    if reply.kind != "diagnosis" or diagnosis is None or not brief(diagnosis).has_details:
        return []
    language = diagnosis.language
    blocks = render_template(
        "details.j2",
        title=label("details", language),
        checked_label=label("checked", language),
        findings=chunk_lines(_finding_text(f) for f in diagnosis.findings),
        tables=[
            {
                "title": truncate(table.title, MAX_HEADER),
                "chunks": chunk_lines(table_lines(table), fence=True),
            }
            for table in diagnosis.tables
        ],
        images_label=label("images", language),
        images=chunk_lines(_image_text(image, language) for image in diagnosis.images),
        next_label=label("next", language),
        steps=chunk_lines(f"{i}. {escape(step)}" for i, step in enumerate(diagnosis.next_steps, 1)),
        reason=(label("reason", language) + diagnosis.escalate_reason) if diagnosis.escalate_reason else "",
    )
    return paginate(blocks, f"{label('details', language)}: {diagnosis.summary}", language=language)


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(text, MAX_BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def action_button(action: Action, *, flow: str, verdict: str, index: int = 0) -> dict[str, Any] | None:
    """A proposed action as a button; None when its parameters would not fit a button value."""
    value = encode_value({"k": str(action.kind), "p": action.params, "f": flow, "v": verdict})
    if value is None:
        return None
    style = "danger" if action.kind == "delete_store_data" else None
    return _button(action.label, f"sd_action:{index}", value, style)


def _action_buttons(diagnosis: Diagnosis) -> list[list[dict[str, Any]]]:
    buttons = [
        button
        for index, action in enumerate(diagnosis.actions)
        if (button := action_button(action, flow=diagnosis.flow, verdict=diagnosis.verdict, index=index))
    ]
    return [buttons[i : i + MAX_BUTTONS] for i in range(0, len(buttons), MAX_BUTTONS)]


def _reply_action_blocks(actions: Sequence[Action], *, flow: str, verdict: str) -> list[dict[str, Any]]:
    """Actions offered with a plain reply (e.g. "talk to a person" after an apology)."""
    buttons = []
    for index, action in enumerate(actions):
        if action.kind == ActionKind.TALK_TO_PERSON:
            value = encode_value({"f": flow, "v": verdict}) or "{}"
            buttons.append(_button(action.label, "sd_talk", value))
        elif button := action_button(action, flow=flow, verdict=verdict, index=index):
            buttons.append(button)
    return [
        {
            "type": "actions",
            "block_id": f"sd_reply_actions_{i // MAX_BUTTONS + 1}",
            "elements": buttons[i : i + MAX_BUTTONS],
        }
        for i in range(0, len(buttons), MAX_BUTTONS)
    ]


def _feedback_buttons(flow: str, verdict: str, language: Language) -> list[dict[str, Any]]:
    return [
        _button(
            label("helped", language),
            "sd_feedback:yes",
            encode_value({"f": flow, "v": verdict, "h": 1}) or "",
        ),
        _button(
            label("not_helped", language),
            "sd_feedback:no",
            encode_value({"f": flow, "v": verdict, "h": 0}) or "",
        ),
        _person_button(flow, verdict, language),
    ]


def _person_button(flow: str, verdict: str, language: Language) -> dict[str, Any]:
    return _button(label("person", language), "sd_talk", encode_value({"f": flow, "v": verdict}) or "{}")


def _choice_buttons(
    choices: Sequence[Any], action_prefix: str, *, flow: str | None, detail: str | None
) -> list[list[dict[str, Any]]]:
    if len(choices) > BUTTONS_BEFORE_SELECT:
        return []
    buttons = []
    for index, choice in enumerate(choices):
        data = {"v": choice.value} if flow is None else {"f": flow, "d": detail, "v": choice.value}
        value = encode_value(data)
        if value is not None:
            buttons.append(_button(choice.label or choice.value, f"{action_prefix}:{index}", value))
    return [buttons[i : i + MAX_BUTTONS] for i in range(0, len(buttons), MAX_BUTTONS)]


def _choice_select(
    choices: Sequence[Any], *, flow: str, detail: str, language: Language
) -> dict[str, Any] | None:
    if len(choices) <= BUTTONS_BEFORE_SELECT:
        return None
    options = []
    for choice in choices[:MAX_OPTIONS]:
        # The select carries the flow and detail in its action_id, so the value is only the choice.
        if len(choice.value) > MAX_OPTION_VALUE:
            continue
        options.append(
            {
                "text": {
                    "type": "plain_text",
                    "text": truncate(choice.label or choice.value, MAX_OPTION_TEXT),
                },
                "value": choice.value,
            }
        )
    return {
        "type": "static_select",
        "action_id": f"sd_select:{flow}:{detail}",
        "placeholder": {"type": "plain_text", "text": label("choose", language)},
        "options": options,
    }


# --- Limits ----------------------------------------------------------------------------------------


def fit_block(block: dict[str, Any]) -> dict[str, Any]:
    """Truncate the texts of one block to Block Kit's limits (a last guard after the templates)."""
    kind = block.get("type")
    if kind == "section" and "text" in block:
        block["text"]["text"] = truncate(block["text"]["text"], MAX_SECTION)
    elif kind == "header":
        block["text"]["text"] = truncate(block["text"]["text"], MAX_HEADER)
    elif kind == "context":
        block["elements"] = block["elements"][:10]
        for element in block["elements"]:
            element["text"] = truncate(element.get("text", ""), MAX_SECTION)
    elif kind == "actions":
        block["elements"] = [e for e in block["elements"][:25] if len(e.get("value", "")) <= MAX_BUTTON_VALUE]
        for element in block["elements"]:
            if "text" in element:
                element["text"]["text"] = truncate(element["text"]["text"], MAX_BUTTON_TEXT)
    return block


def paginate(
    blocks: list[dict[str, Any]],
    fallback: str,
    *,
    language: Language = "en",
    fallback_is_mrkdwn: bool = False,
) -> list[SlackMessage]:
    """Split blocks into messages of at most 50; each message gets the fallback text.

    Slack reads the fallback `text` as mrkdwn too, so plain words are escaped there as in the
    blocks (`fallback_is_mrkdwn` for text we wrote as markup, with every typed part escaped).

    More than `MAX_MESSAGES` messages would flood the conversation: the middle is cut with a
    note, and the trailing buttons (actions, feedback) are kept.
    """
    fitted = [fit_block(block) for block in blocks if block.get("type") != "actions" or block.get("elements")]
    if len(fitted) > MAX_MESSAGES * MAX_BLOCKS:
        tail = 0
        while tail < len(fitted) and fitted[len(fitted) - 1 - tail].get("type") == "actions":
            tail += 1
        keep = MAX_MESSAGES * MAX_BLOCKS - tail - 1
        cut = len(fitted) - tail - keep
        note = {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"… {cut} more parts not shown"
                    if language == "en"
                    else f"… 另有 {cut} 部分未显示",
                }
            ],
        }
        fitted = [*fitted[:keep], note, *fitted[len(fitted) - tail :]]
    plain = fallback.strip() or " "
    text = truncate(plain if fallback_is_mrkdwn else escape(plain), MAX_FALLBACK)
    if len(fitted) <= MAX_BLOCKS:
        return [SlackMessage(text=text, blocks=fitted)]
    messages = []
    for start in range(0, len(fitted), MAX_BLOCKS):
        page = fitted[start : start + MAX_BLOCKS]
        page_text = text if start == 0 else truncate(f"{label('continued', language)} {text}", MAX_FALLBACK)
        messages.append(SlackMessage(text=page_text, blocks=page))
    return messages


# --- Other Slack views -----------------------------------------------------------------------------


def render_text(text: str) -> SlackMessage:
    """Plain words as one message (friendly errors, confirmations), within the limits."""
    return paginate(render_template("message.j2", body=chunk_lines([escape(text)]), person=None), text)[0]


def render_mrkdwn(text: str) -> SlackMessage:
    """Words we wrote as mrkdwn (our own mentions and dates; typed parts already escaped)."""
    blocks = render_template("message.j2", body=chunk_lines([text]), person=None)
    return paginate(blocks, text, fallback_is_mrkdwn=True)[0]


def format_time(when: datetime | None, language: Language = "en") -> str:
    if when is None:
        return "从未" if language == "zh" else "never"
    return when.strftime("%Y-%m-%d %H:%M UTC")
