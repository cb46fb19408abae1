"""The "The seller really meant…" select on a case message in the customer-service channel.

Choosing a flow there relabels the case (`bot/slack/relabel.py` handles the choice): the seller's
words become a pending learned example for review.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from erp.models import Escalation
from knowledge.loader import FLOW_IDS, load_knowledge

# The matcher's labels (`knowledge.matcher.LABELS`), spelled here so that a web process, which
# shows this select but never matches a question, does not import the matcher and numpy
# (tests/test_startup_imports.py checks the two agree).
OUT_OF_SCOPE = "out_of_scope"
LABELS: tuple[str, ...] = (*FLOW_IDS, OUT_OF_SCOPE)

ACTION_ID = "sd_relabel"

__all__ = ["ACTION_ID", "LABELS", "OUT_OF_SCOPE", "label_of", "relabel_blocks"]


@lru_cache(maxsize=1)
def _choices() -> tuple[tuple[str, str], ...]:
    # The flows' own titles, read once: the knowledge files do not change while the bot runs.
    kb = load_knowledge()
    titled = [(flow_id, kb.flow(flow_id).text("en").title) for flow_id in FLOW_IDS]
    return (*titled, (OUT_OF_SCOPE, "None of these (out of scope)"))


def label_of(flow: str) -> str:
    """The flow's title, as the select shows it."""
    return dict(_choices()).get(flow, flow)


def relabel_blocks(escalation: Escalation) -> list[dict[str, Any]]:
    """One actions block with the select "The seller really meant…", for the case message."""
    if escalation.id is None:
        return []
    options = [
        {
            "text": {"type": "plain_text", "text": title[:75]},
            "value": json.dumps({"e": escalation.id, "f": flow}),
        }
        for flow, title in _choices()
    ]
    return [
        {
            "type": "actions",
            "block_id": ACTION_ID,
            "elements": [
                {
                    "type": "static_select",
                    "action_id": ACTION_ID,
                    "placeholder": {"type": "plain_text", "text": "The seller really meant…"},
                    "options": options,
                }
            ],
        }
    ]
