"""The case message in the customer-service channel, rendered from the stored case alone.

Every re-render (Take, Resolve, Reopen, a late delivery) starts from the `Escalation` row, so the
message always keeps its "What I checked" section. Other features add blocks of their own (for
example a relabel select) through `extra_blocks`, placed just above the state buttons.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.escalation.evidence import SNAPSHOT_FLOW, diagnosis_from_state
from bot.render.blocks import (
    STATUS_MARKS,
    SlackMessage,
    chunk_lines,
    encode_value,
    paginate,
    render_template,
    table_lines,
    truncate,
)
from bot.render.mrkdwn import escape, mention, quote, slack_date
from erp.models import Escalation, EscalationState
from handlers.diagnosis import CheckStatus, Language

# flow id, language -> the flow's title ("Orders did not synchronize")
FlowTitles = Callable[[str, Language], str]
# the case -> blocks to add to its message (e.g. h8's relabel select); [] for none
ExtraBlocks = Callable[[Escalation], list[dict[str, Any]]]

MAX_CHECKS = 40


def default_title(flow: str, language: Language) -> str:
    if flow == SNAPSHOT_FLOW:
        return "Account snapshot" if language == "en" else "账号概况"
    return flow.replace("_", " ").capitalize() if flow else ""


def case_title(escalation: Escalation, titles: FlowTitles | None) -> str:
    """The flow's title in English (agents read English), or "seller request"."""
    if not escalation.flow:
        return "seller request"
    if escalation.flow == SNAPSHOT_FLOW:
        return default_title(SNAPSHOT_FLOW, "en")
    return (titles or default_title)(escalation.flow, "en")


def check_lines(escalation: Escalation) -> list[str]:
    """The case's checks as mrkdwn lines (everything the handlers wrote is escaped)."""
    diagnosis = diagnosis_from_state(escalation.evidence)
    if diagnosis is None:
        return []
    lines = [
        f"{STATUS_MARKS.get(CheckStatus(f.status), '•')} *{escape(f.check)}*: {escape(f.result)}"
        for f in diagnosis.findings[:MAX_CHECKS]
    ]
    for table in diagnosis.tables[:3]:
        lines.append(f"*{escape(table.title)}*")
        lines.append("```\n" + escape("\n".join(table_lines(table)[:15])) + "\n```")
    return lines


def case_message(
    escalation: Escalation,
    *,
    account_name: str,
    store_name: str,
    titles: FlowTitles | None = None,
    extra_blocks: ExtraBlocks | None = None,
) -> SlackMessage:
    """The parent message of a case thread, for its current state."""
    diagnosis = diagnosis_from_state(escalation.evidence)
    seller = mention(escalation.seller_user_id) if escalation.seller_user_id else "(console)"
    fields = [
        f"*Seller*\n{seller}",
        f"*Account*\n{escape(account_name) or '-'}",
        f"*Store*\n{escape(store_name or (diagnosis.store if diagnosis else '') or '') or '-'}",
        f"*Flow*\n{escape(case_title(escalation, titles))}",
        f"*Verdict*\n{escape(escalation.verdict) or '-'}",
        f"*Opened*\n{slack_date(escalation.created_at)}",
    ]
    if diagnosis is not None and (diagnosis.sku or diagnosis.order_id):
        fields.append(f"*SKU / order*\n{escape(diagnosis.sku or diagnosis.order_id or '')}")
    checks = check_lines(escalation)
    words = quote(escape(escalation.question.strip()))
    extra = list(extra_blocks(escalation)) if extra_blocks is not None else []
    blocks = render_template(
        "escalation.j2",
        header=_header(escalation, titles),
        fields=[truncate(item, 2000) for item in fields[:10]],
        summary=chunk_lines([f"*{escape(escalation.summary)}*"]) if escalation.summary else [],
        checked_label="*What I checked*" if checks else "",
        checks=chunk_lines(checks) if checks else [],
        words=chunk_lines(["*The seller's words*", *words.splitlines()]) if words else [],
        reason=escalation.reason,
        extra=extra,
        buttons=_state_buttons(escalation),
        state=_state_line(escalation),
    )
    fallback = f"Case #{escalation.id} from {seller}: {escape(escalation.summary or escalation.question)}"
    return paginate(blocks, fallback, fallback_is_mrkdwn=True)[0]


def _header(escalation: Escalation, titles: FlowTitles | None) -> str:
    return f"Case #{escalation.id}: {case_title(escalation, titles)}"


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _state_buttons(escalation: Escalation) -> list[dict[str, Any]]:
    value = encode_value({"e": escalation.id}) or "{}"
    if escalation.state == EscalationState.RESOLVED:
        return [_button("Reopen", "sd_esc_reopen", value)]
    buttons = []
    if escalation.state == EscalationState.OPEN:
        buttons.append(_button("Take", "sd_esc_take", value, "primary"))
    buttons.append(_button("Resolve", "sd_esc_resolve", value))
    return buttons


def _state_line(escalation: Escalation) -> str:
    note = "  ·  Replies here reach the seller; start a message with `note:` to keep it internal."
    if escalation.state == EscalationState.TAKEN:
        return f":large_yellow_circle: Taken by {mention(escalation.taken_by)}{note}"
    if escalation.state == EscalationState.RESOLVED:
        return f":white_check_mark: Resolved by {mention(escalation.taken_by)}"
    return f":red_circle: Open: waiting for an agent{note}"
