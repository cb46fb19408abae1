"""The embedded demo: a seller account whose data reaches every flow's interesting verdicts.

`seed_demo` writes the demo into the database: account `demo` (console user `demo`, the owner)
with stores "Amazon US", "Shopee MY" and "Amazon DE" (whose authorization has expired), and a
second account `neighbour` whose failed publishes make Shopee look unstable. Every SKU, order and
picture named in `DEMO_SCENARIOS` is set up for one verdict. `start_embedded_platforms` starts the
sandbox marketplaces and the demo image host holding the platform side of the same story, and
points the demo stores at them (their ports change on every start).

The demo's times are relative ("approved 2 hours ago"): when an existing demo is seeded again,
its times move forward by the time that passed, so the verdicts hold on any day.

`scenarios` names what the demo can show, `holdings` what it contains, `seeding` writes it into
the database, `platforms` starts the marketplaces' side.
"""

from __future__ import annotations

from erp.demo.platforms import EmbeddedPlatforms, start_embedded_platforms
from erp.demo.scenarios import (
    AMAZON_DE,
    AMAZON_US,
    CDN_PLACEHOLDER,
    CONSOLE_TEAM,
    CONSOLE_USER,
    DEMO_ACCOUNT,
    DEMO_SCENARIOS,
    NEIGHBOUR_ACCOUNT,
    SHOPEE_MY,
    DemoScenario,
    question_zh,
    scenario_text,
)
from erp.demo.seeding import DemoInfo, seed_demo

__all__ = [
    "AMAZON_DE",
    "AMAZON_US",
    "CDN_PLACEHOLDER",
    "CONSOLE_TEAM",
    "CONSOLE_USER",
    "DEMO_ACCOUNT",
    "DEMO_SCENARIOS",
    "NEIGHBOUR_ACCOUNT",
    "SHOPEE_MY",
    "DemoInfo",
    "DemoScenario",
    "EmbeddedPlatforms",
    "question_zh",
    "scenario_text",
    "seed_demo",
    "start_embedded_platforms",
]
