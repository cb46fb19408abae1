"""The image check: fetch a URL safely, read the header, decode fully, and convert when needed.

(Contract only so far: the implementation lands with issue 4.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class ImageVerdict(StrEnum):
    OK = "ok"
    NOT_RGB = "not_rgb"
    HAS_ALPHA = "has_alpha"
    DAMAGED = "damaged"
    NOT_AN_IMAGE = "not_an_image"
    UNREACHABLE = "unreachable"
    TOO_LARGE = "too_large"
    BLOCKED = "blocked"


@dataclass
class ImageCheckResult:
    """One URL's check; `to_json()` is the `check-image --json` line of DESIGN.md section 3."""

    url: str
    verdict: ImageVerdict
    http_status: int | None = None
    content_type: str = ""
    format: str = ""
    mode: str = ""
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    elapsed_ms: float = 0.0
    detail: str = ""
    warnings: list[str] = field(default_factory=list)
    thumbnail_png: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("thumbnail_png")
        data["verdict"] = str(self.verdict)
        return data
