"""What a conversation remembers, as stored: read back whole, forgotten on time, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.conversation.state import (
    LAST_TTL,
    PENDING_TTL,
    LastCheck,
    Memory,
    Pending,
    restore_diagnosis,
)
from handlers.diagnosis import CheckStatus, Diagnosis, Finding, ImageEvidence, Table

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _diagnosis(rows: int = 2) -> Diagnosis:
    return Diagnosis(
        flow="price_not_updated",
        verdict="still_wrong",
        summary="DEMO-1 still shows 10.00 USD.",
        language="zh",
        findings=[Finding("report", "10.00", CheckStatus.PROBLEM)],
        tables=[Table("trail", ["step", "price"], [["report", "10.00"]] * rows)],
        images=[
            ImageEvidence(
                url="https://x.example/a.jpg", verdict="ok", width=10, height=10, thumbnail_png=b"png"
            )
        ],
        escalate=True,
        escalate_reason="report after approval still old",
        store="Amazon US",
        sku="DEMO-1",
    )


def test_memory_is_read_back_as_it_was_written() -> None:
    pending = Pending(
        kind="detail",
        language="zh",
        flow="price_not_updated",
        detail="sku",
        choices=["DEMO-1"],
        labels={"DEMO-1": ["DEMO-1 · Amazon US"]},
        entities={"stores": ["Amazon US"]},
        question="改价了怎么没变",
        prompt="请问是哪个 SKU？",
    )
    last = LastCheck(
        flow="price_not_updated",
        verdict="still_wrong",
        summary="s",
        entities={"skus": ["DEMO-1"]},
        at=AT,
        diagnosis=_diagnosis().to_json(),
    )
    memory = Memory("zh", pending, last)
    assert Memory.from_state(memory.to_state(), age=timedelta(minutes=1)) == memory


def test_a_pending_question_expires_before_the_last_check() -> None:
    memory = Memory(
        "zh", Pending(kind="detail", language="zh", flow="f", detail="sku"), LastCheck("f", "v", "s")
    )
    stale = Memory.from_state(memory.to_state(), age=PENDING_TTL + timedelta(seconds=1))
    assert stale.pending is None and stale.last is not None and stale.language == "zh"
    older = Memory.from_state(memory.to_state(), age=LAST_TTL + timedelta(seconds=1))
    assert older == Memory("zh")


def test_a_stored_diagnosis_comes_back_for_the_person_without_thumbnails() -> None:
    restored = restore_diagnosis(_diagnosis().to_json())
    assert restored is not None
    assert restored.summary == "DEMO-1 still shows 10.00 USD." and restored.language == "zh"
    assert restored.findings == _diagnosis().findings and restored.tables == _diagnosis().tables
    assert restored.images[0].url == "https://x.example/a.jpg" and restored.images[0].thumbnail_png is None
    assert restored.actions == []  # nothing to click on the way to a person


def test_a_huge_diagnosis_is_kept_slim_and_a_broken_one_is_ignored() -> None:
    big = LastCheck("f", "v", "s", diagnosis=_diagnosis(rows=5_000).to_json())
    stored = big.to_state()["diagnosis"]
    assert isinstance(stored, dict) and stored["tables"] == [] and stored["findings"]
    assert restore_diagnosis({"flow": "f"}) is None
    assert (
        restore_diagnosis({"flow": "f", "verdict": "v", "summary": "s", "findings": [{"check": 1}]}) is None
    )
    # An old or hand-edited state without the newer fields still loads.
    assert Memory.from_state({"kind": "weird", "last": "nonsense"}, age=timedelta(0)) == Memory()
