"""Refused actions leave a trace of who tried what and why; done actions name what they acted on.

Button clicks are sent to the real `serve` app as Slack sends them, naming another account's
store (as a tampering client would); the audit log in the database is what is asserted.
"""

from __future__ import annotations

import json

from sqlmodel import select

from erp.models import AuditLog
from tests.fake_slack import RunningBot
from tests.image_server import ImageServer


def _click(
    bot: RunningBot, kind: str, params: dict[str, str], *, user: str = "U1", message_ts: str = "200.000001"
) -> None:
    value = json.dumps({"k": kind, "p": params, "f": "x", "v": "y"})
    assert (
        bot.send.action("sd_action:0", value, user=user, channel="D1", message_ts=message_ts).status_code
        == 200
    )


def _audited(bot: RunningBot, action: str) -> list[AuditLog]:
    with bot.session() as session:
        return list(session.exec(select(AuditLog).where(AuditLog.action == action)))


def test_a_report_request_for_another_accounts_store_is_refused_and_audited(slack_bot: RunningBot) -> None:
    world = slack_bot.world
    _click(slack_bot, "request_report", {"store_id": str(world.neighbour_store_id), "kind": "listings"})
    answer = slack_bot.fake.wait_for(lambda: slack_bot.fake.posts("D1"), message="the refusal")[0]
    assert "can't find that store" in answer.args["text"]
    rows = slack_bot.fake.wait_for(lambda: _audited(slack_bot, "request_report"), message="the audit row")
    assert [(r.actor, r.account_id, r.store_id, r.result) for r in rows] == [
        ("slack:T1:U1", world.demo_id, world.neighbour_store_id, "refused")
    ]
    assert "not a store of this account" in rows[0].detail


def test_a_sync_of_another_accounts_store_is_audited(slack_bot: RunningBot) -> None:
    _click(slack_bot, "sync_now", {"store": "Neighbour Secret Shop"})
    slack_bot.fake.wait_for(lambda: slack_bot.fake.posts("D1"), message="the answer")
    rows = slack_bot.fake.wait_for(lambda: _audited(slack_bot, "sync_orders"), message="the audit row")
    assert [(r.actor, r.result) for r in rows] == [("slack:T1:U1", "refused")]
    assert "Neighbour Secret Shop" in rows[0].detail


def test_the_rgb_conversion_audit_row_names_the_picture_and_the_store(
    slack_bot: RunningBot, image_host: ImageServer
) -> None:
    world = slack_bot.world
    url = image_host.url("/cmyk.jpg") + "?signature=secret-token"
    _click(slack_bot, "convert_rgb", {"url": url, "store_id": str(world.us_store_id)})
    slack_bot.fake.wait_for(lambda: slack_bot.fake.uploaded_files("D1"), message="the RGB file")
    rows = _audited(slack_bot, "convert_image")
    assert [(r.result, r.store_id) for r in rows] == [("ok", world.us_store_id)]
    assert image_host.url("/cmyk.jpg") in rows[0].detail and "CMYK -> RGB" in rows[0].detail
    assert "secret-token" not in rows[0].detail  # a signed link's secret never lands in the log
    # Naming another account's store does not put it in the seller's audit row.
    # (On another answer: a button once acted on is spent.)
    _click(
        slack_bot,
        "convert_rgb",
        {"url": url, "store_id": str(world.neighbour_store_id)},
        message_ts="200.000002",
    )
    slack_bot.fake.wait_for(lambda: len(_audited(slack_bot, "convert_image")) == 2, message="the second row")
    assert [r.store_id for r in _audited(slack_bot, "convert_image")] == [world.us_store_id, None]
