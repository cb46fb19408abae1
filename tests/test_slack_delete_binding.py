"""The delete confirmation is bound to our own record of the modal, never to what comes back.

Over HTTP against the real `serve` app and the fake Slack: the owner opens the modal for one
store, then submissions whose metadata names another store (or carries no record of ours)
are refused, audited, and delete nothing; the genuine one deletes exactly the recorded store.
"""

from __future__ import annotations

import json
import time

from sqlmodel import select

from erp.models import AuditLog, Store
from tests.fake_slack import RunningBot


def _open_modal(bot: RunningBot) -> dict:
    value = json.dumps(
        {
            "k": "delete_store_data",
            "p": {"store_id": str(bot.world.us_store_id), "store": "Amazon US"},
            "f": "delete_store_data",
            "v": "explained",
        }
    )
    bot.send.action("sd_action:0", value, user="U1", channel="D1", message_ts="100.000001")
    return bot.fake.wait_for(lambda: bot.fake.calls_to("views.open"))[0].args["view"]


def _deleted(bot: RunningBot) -> dict[str, bool]:
    with bot.session() as session:
        stores = session.exec(select(Store).where(Store.account_id == bot.world.demo_id)).all()
        return {store.name: store.deleted_at is not None for store in stores}


def _refusals(bot: RunningBot) -> list[AuditLog]:
    with bot.session() as session:
        return list(
            session.exec(
                select(AuditLog).where(AuditLog.action == "delete_store_data", AuditLog.result == "refused")
            )
        )


def _typed(name: str) -> dict:
    return {"confirm": {"store_name": {"value": name}}}


def test_metadata_naming_another_store_deletes_nothing_and_is_audited(slack_bot: RunningBot) -> None:
    world = slack_bot.world
    _open_modal(slack_bot)
    # The submission a tampering client sends: it names the Shopee store's id with the name the
    # owner typed for Amazon US, as the modal's metadata used to carry them.
    forged = json.dumps({"store_id": world.shopee_store_id, "store": "Amazon US", "channel": "D1"})
    answer = slack_bot.send.view_submission("sd_delete_store", _typed("Amazon US"), forged)
    assert answer.status_code == 200 and answer.json()["response_action"] == "errors"
    assert "no longer valid" in answer.json()["errors"]["confirm"]
    time.sleep(0.5)  # a deletion started anyway would show by now
    assert _deleted(slack_bot) == {"Amazon US": False, "Shopee MY": False}
    refusals = _refusals(slack_bot)
    assert [(r.actor, r.account_id) for r in refusals] == [("slack:T1:U1", world.demo_id)]
    assert "not a confirmation we opened" in refusals[0].detail


def test_the_typed_name_is_compared_with_the_recorded_store(slack_bot: RunningBot) -> None:
    world = slack_bot.world
    view = _open_modal(slack_bot)
    genuine = json.loads(view["private_metadata"])
    assert set(genuine) == {"confirm", "language"}  # no store travels with the modal
    # Our token, with another store written next to it, and that store's name typed.
    retargeted = json.dumps({**genuine, "store_id": world.shopee_store_id, "store": "Shopee MY"})
    answer = slack_bot.send.view_submission("sd_delete_store", _typed("Shopee MY"), retargeted)
    assert answer.json()["response_action"] == "errors"
    assert "Type Amazon US exactly" in answer.json()["errors"]["confirm"]
    refusal = _refusals(slack_bot)[0]
    assert refusal.store_id == world.us_store_id and "Shopee MY" in refusal.detail

    # The right name with the same altered metadata deletes the recorded store, and only it.
    right = slack_bot.send.view_submission("sd_delete_store", _typed("Amazon US"), retargeted)
    assert right.status_code == 200 and not right.text
    slack_bot.fake.wait_for(lambda: _deleted(slack_bot)["Amazon US"], message="Amazon US deleted")
    assert _deleted(slack_bot)["Shopee MY"] is False

    # The same confirmation submitted again does nothing more.
    again = slack_bot.send.view_submission("sd_delete_store", _typed("Amazon US"), view["private_metadata"])
    assert again.json()["response_action"] == "errors"
