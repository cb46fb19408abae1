"""Evidence card layout: wide tables end quickly, emoji do not show as boxes, titles not ids."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime

from PIL import Image, ImageChops

from bot.render.evidence import MIN_COLUMN, column_widths, render_evidence_card, wrap
from handlers.diagnosis import CheckStatus, Diagnosis, Finding, Table

WHEN = datetime(2026, 11, 26, 17, 5, tzinfo=UTC)


def _wide_table_diagnosis(columns: int) -> Diagnosis:
    # One very wide column beside many narrow ones: the layout that squeezed a column to nothing.
    header = ["detail", *[f"c{i}" for i in range(1, columns)]]
    row = ["x" * 400 + " " + "y" * 300, *[str(i) for i in range(1, columns)]]
    return Diagnosis(
        flow="orders_not_synced",
        verdict="sync_failed",
        summary="A table wider than the card.",
        findings=[Finding("Sync", "failed", CheckStatus.PROBLEM)],
        tables=[Table("Per store", header, [row, row])],
    )


def test_a_ten_column_table_renders_within_a_second() -> None:
    done: list[bytes] = []
    started = time.perf_counter()
    worker = threading.Thread(
        target=lambda: done.append(
            render_evidence_card(_wide_table_diagnosis(10), account="A", seller="B", when=WHEN)
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=5)
    elapsed = time.perf_counter() - started
    assert done, "the card never finished (the wrap loops on a column too narrow for one glyph)"
    assert elapsed < 1.0
    card = Image.open(io.BytesIO(done[0]))
    assert card.width == 1000 and card.height < 3000  # each cell wraps a bounded number of lines


def test_column_widths_keep_a_floor_and_fit_the_card() -> None:
    widths = column_widths([900, 30, 30, 30, 30, 30, 30, 30, 30, 30], total=936)
    assert all(width >= MIN_COLUMN for width in widths)
    assert sum(widths) <= 936
    assert widths[0] == max(widths)  # the wide column gets what the narrow ones leave
    assert column_widths([100, 100], total=936) == [468, 468]


def test_wrap_ends_even_when_no_character_fits() -> None:
    from bot.render.evidence import default_fonts

    lines = wrap("abcdef", default_fonts().small, -20)
    assert "".join(lines) == "abcdef"


def test_emoji_are_left_out_instead_of_drawn_as_boxes() -> None:
    def card(result: str) -> Image.Image:
        diagnosis = Diagnosis(
            flow="image_not_displaying",
            verdict="loads_fine",
            summary="Every picture loads.",
            findings=[Finding("Pictures", result, CheckStatus.OK)],
        )
        return Image.open(io.BytesIO(render_evidence_card(diagnosis, account="A", seller="B", when=WHEN)))

    with_emoji = card("All 3 pictures load \U0001f680\u2705")
    plain = card("All 3 pictures load")
    assert ImageChops.difference(with_emoji.convert("RGB"), plain.convert("RGB")).getbbox() is None


def test_without_a_title_the_card_shows_a_readable_title_not_the_flow_id() -> None:
    diagnosis = Diagnosis(flow="orders_not_synced", verdict="synced", summary="Found it.")
    untitled = render_evidence_card(diagnosis, account="A", seller="B", when=WHEN)
    readable = render_evidence_card(diagnosis, account="A", seller="B", when=WHEN, title="Orders not synced")
    first, second = (Image.open(io.BytesIO(png)).convert("RGB") for png in (untitled, readable))
    assert first.size == second.size and ImageChops.difference(first, second).getbbox() is None
