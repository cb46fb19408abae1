"""The ERP's words in both languages (`knowledge/glossary.toml`): one term per concept.

Every answer takes its statuses, verdict names and the software's concepts from here, so a
Chinese seller never reads a stored English value (`Active`, `failed`, `stopped`) and one thing is
never called two names. A malformed file fails at start-up, naming the table and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

Language = Literal["en", "zh"]
DEFAULT_FILE = Path(__file__).resolve().parent / "glossary.toml"


class GlossaryError(ValueError):
    """The glossary file is malformed; the message names the table and the key."""


@dataclass(frozen=True)
class Glossary:
    """Terms by kind (a TOML table) and key: each an (English, Chinese) pair."""

    entries: Mapping[str, Mapping[str, tuple[str, str]]]

    def word(self, kind: str, key: str, language: Language) -> str:
        """The word for `key` of `kind` in `language`; an unknown key is returned as it is.

        An unknown key is data the glossary has not met yet (a new platform status): showing it
        beats hiding it, and the language test over the demo catches the ones it knows.
        """
        pair = self.entries.get(kind, {}).get(key)
        if pair is None:
            return key
        return pair[1] if language == "zh" else pair[0]

    def has(self, kind: str, key: str) -> bool:
        return key in self.entries.get(kind, {})


def parse_glossary(data: Mapping[str, object], source: str = "glossary") -> Glossary:
    """Check the parsed TOML's shape: tables of {en, zh} string pairs."""
    entries: dict[str, dict[str, tuple[str, str]]] = {}
    for kind, table in data.items():
        if not isinstance(table, Mapping):
            raise GlossaryError(f"{source}: [{kind}] must be a table")
        entries[kind] = {}
        for key, value in table.items():
            if not isinstance(value, Mapping) or set(value) != {"en", "zh"}:
                raise GlossaryError(f"{source}: {kind}.{key} needs exactly en and zh")
            en, zh = value["en"], value["zh"]
            if not isinstance(en, str) or not isinstance(zh, str):
                raise GlossaryError(f"{source}: {kind}.{key}: en and zh must be strings")
            entries[kind][key] = (en, zh)
    return Glossary(entries=entries)


@cache
def load_glossary(path: Path = DEFAULT_FILE) -> Glossary:
    """The glossary, read once per process (it is immutable data shipped with the code)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise GlossaryError(f"{path.name}: {error}") from error
    return parse_glossary(data, path.name)


def word(kind: str, key: str, language: Language) -> str:
    """Shortcut: `load_glossary().word(kind, key, language)`."""
    return load_glossary().word(kind, key, language)


def term(concept: str, language: Language) -> str:
    """A concept of the software (`picture_system`, `product_page`...) in `language`."""
    return load_glossary().word("term", concept, language)
