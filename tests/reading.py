"""Reading console answers as a seller does: wrapped lines joined back, texts found in order."""

from __future__ import annotations

import re
from collections.abc import Sequence

_LINE_BREAK = re.compile(r"(\S)[ ]*\n[ ]*(\S)")


def flat(text: str) -> str:
    """The text as one line: a wrapped answer's lines joined back (a space between Latin words
    only, as Chinese has none), so a sentence can be found whatever the terminal width."""

    def join(found: re.Match[str]) -> str:
        before, after = found.group(1), found.group(2)
        return before + (" " if before.isascii() and after.isascii() else "") + after

    return _LINE_BREAK.sub(join, text)


def in_order(output: str, expected: Sequence[str]) -> None:
    """Each expected text appears in the (joined) output, each after the previous one."""
    text = flat(output)
    position = 0
    for wanted in expected:
        found = text.find(wanted, position)
        assert found >= 0, f"{wanted!r} not found after position {position} in:\n{output}"
        position = found + len(wanted)
