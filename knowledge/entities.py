"""Entity extraction: order ids, URLs, SKUs and store names found in a seller's words.

(Contract so far; the extractor lands with issue 2.)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entities:
    skus: list[str] = field(default_factory=list)
    order_ids: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)  # names of the seller's own stores
