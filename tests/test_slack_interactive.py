"""Buttons, selects, the delete modal, App Home and linking, end to end over HTTP."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from erp.accounts import create_link_code
from erp.models import Account, Feedback, FollowUp, SlackIdentity, Store
from tests.fake_slack import ESCALATION_CHANNEL, Call, RunningBot


def _texts(args: dict[str, Any]) -> str:
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return args.get("text", "") + "\n" + json.dumps(blocks, ensure_ascii=False)


def _elements(call: Call) -> list[dict[str, Any]]:
    return [e for b in call.args.get("blocks", []) if b.get("type") == "actions" for e in b["elements"]]


def test_a_missing_detail_is_asked_with_the_sellers_choices_and_a_click_answers(
    slack_bot: RunningBot,
) -> None:
    fake, send = slack_bot.fake, slack_bot.send
    send.message("the SKU I uploaded has no record on the upload page", user="U1", channel="D1")
    question = fake.wait_for(lambda: fake.posts("D1"))[0]
    choices = [e for e in _elements(question) if e["action_id"].startswith(("sd_choice", "sd_select"))]
    assert choices, _texts(question.args)
    first = choices[0]
    if first["type"] == "static_select":
        option = next(o for o in first["options"] if o["value"] == "DEMO-UP-FAILED")
        send.action(first["action_id"], option["value"], user="U1", channel="D1", selected=True)
    else:
        button = next(e for e in choices if "DEMO-UP-FAILED" in e["value"])
        send.action(button["action_id"], button["value"], user="U1", channel="D1")
    fake.wait_for(lambda: len(fake.posts("D1", top_level=True)) >= 2, message="the diagnosis after the click")
    answer = fake.posts("D1", top_level=True)[-1]
    assert "DEMO-UP-FAILED" in _texts(answer.args)
    assert any(e["action_id"] == "sd_feedback:yes" for e in _elements(answer))


def test_feedback_is_stored_with_flow_and_verdict(slack_bot: RunningBot) -> None:
    fake, send = slack_bot.fake, slack_bot.send
    value = json.dumps({"f": "upload_sku_missing", "v": "hidden_by_filter", "h": 0})
    assert send.action("sd_feedback:no", value, user="U1", channel="D1").status_code == 200
    fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"), message="the thank-you")

    def stored() -> list[Feedback]:
        with slack_bot.session() as session:
            return list(session.exec(select(Feedback)))

    rows = fake.wait_for(stored)
    assert [(r.flow, r.verdict, r.helpful, r.user_id) for r in rows] == [
        ("upload_sku_missing", "hidden_by_filter", False, "U1")
    ]


def test_the_delete_modal_names_the_counts_and_needs_the_typed_name(slack_bot: RunningBot) -> None:
    fake, send, world = slack_bot.fake, slack_bot.send, slack_bot.world
    value = json.dumps(
        {
            "k": "delete_store_data",
            "p": {"store_id": str(world.us_store_id), "store": "Amazon US"},
            "f": "delete_store_data",
            "v": "explained",
        }
    )
    send.action("sd_action:0", value, user="U1", channel="D1", message_ts="100.000001")
    opened = fake.wait_for(lambda: fake.calls_to("views.open"))[0]
    view = opened.args["view"]
    text = json.dumps(view, ensure_ascii=False)
    assert "Amazon US" in text and "products: 2" in text and "upload records: 2" in text
    metadata = view["private_metadata"]

    wrong = send.view_submission(
        "sd_delete_store", {"confirm": {"store_name": {"value": "Amazon"}}}, metadata
    )
    assert wrong.status_code == 200
    assert wrong.json()["response_action"] == "errors"
    assert "Amazon US" in wrong.json()["errors"]["confirm"]
    with slack_bot.session() as session:
        assert session.get(Store, world.us_store_id).deleted_at is None

    right = send.view_submission(
        "sd_delete_store", {"confirm": {"store_name": {"value": "Amazon US"}}}, metadata
    )
    assert right.status_code == 200 and not right.text

    def deleted() -> bool:
        with slack_bot.session() as session:
            return session.get(Store, world.us_store_id).deleted_at is not None

    fake.wait_for(deleted, message="the store's data deleted")
    fake.wait_for(lambda: fake.posts("D1"), message="the confirmation in the conversation")
    assert "Amazon US" in _texts(fake.posts("D1")[-1].args)


def test_only_the_owner_gets_the_delete_modal(slack_bot: RunningBot) -> None:
    fake, send, world = slack_bot.fake, slack_bot.send, slack_bot.world
    value = json.dumps(
        {"k": "delete_store_data", "p": {"store_id": str(world.us_store_id)}, "f": "x", "v": "y"}
    )
    send.action("sd_action:0", value, user="U2", channel="D2")
    refusal = fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"))[0]
    assert "owner" in refusal.args["text"]
    assert not fake.calls_to("views.open")


def test_an_owner_cannot_open_the_modal_for_another_accounts_store(slack_bot: RunningBot) -> None:
    fake, send, world = slack_bot.fake, slack_bot.send, slack_bot.world
    value = json.dumps({"k": "delete_store_data", "p": {"store_id": str(world.neighbour_store_id)}})
    send.action("sd_action:0", value, user="U1", channel="D1")
    refusal = fake.wait_for(lambda: fake.calls_to("chat.postEphemeral"))[0]
    assert "can't find that store" in refusal.args["text"]
    assert not fake.calls_to("views.open")


def test_app_home_shows_only_the_sellers_stores_with_sync_failures(slack_bot: RunningBot) -> None:
    fake, send = slack_bot.fake, slack_bot.send
    send.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    published = fake.wait_for(lambda: fake.calls_to("views.publish"))[0]
    text = json.dumps(published.args["view"], ensure_ascii=False)
    assert "Amazon US" in text and "Shopee MY" in text
    assert "authorization expired" in text
    assert "Neighbour Secret Shop" not in text
    assert published.args["user_id"] == "U1"


def test_app_home_speaks_the_language_the_seller_writes_in(slack_bot: RunningBot) -> None:
    fake, send = slack_bot.fake, slack_bot.send
    send.message("订单 112-0000001-0000001 没有同步", user="U1", channel="D1")
    fake.wait_for(lambda: fake.posts("D1", top_level=True), message="the answer in Chinese")
    slack_bot.wait_remembered("D1")  # the home reads the conversation's language from it
    send.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    published = fake.wait_for(lambda: fake.calls_to("views.publish"))[0]
    texts = [
        block["text"]["text"] for block in published.args["view"]["blocks"] if block["type"] == "section"
    ]
    stores = "\n".join(texts)
    assert "上次订单同步" in stores and "上次报告导入" in stores
    assert ":x: 失败" in stores  # the sync's English error is for the logs
    assert "Last order sync" not in stores and "platform" not in stores


def test_app_home_of_an_unlinked_user_explains_linking(slack_bot: RunningBot) -> None:
    fake, send = slack_bot.fake, slack_bot.send
    send.event({"type": "app_home_opened", "user": "UNEW", "channel": "D3", "tab": "home"})
    published = fake.wait_for(lambda: fake.calls_to("views.publish"))[0]
    text = json.dumps(published.args["view"])
    assert "/sellerdesk link" in text and "Amazon US" not in text


def test_linking_with_a_code_once(slack_bot: RunningBot) -> None:
    send = slack_bot.send
    with slack_bot.session() as session:
        account = session.get(Account, slack_bot.world.demo_id)
        code = create_link_code(session, account=account, role="member")
    linked = send.command("/sellerdesk", f"link {code}", user="UNEW")
    assert "Linked" in linked.text and "demo" in linked.text
    again = send.command("/sellerdesk", f"link {code}", user="UOTHER")
    assert "already used" in again.text
    with slack_bot.session() as session:
        identities = session.exec(
            select(SlackIdentity).where(SlackIdentity.user_id.in_(["UNEW", "UOTHER"]))
        ).all()
        assert [(i.user_id, i.account_id) for i in identities] == [("UNEW", slack_bot.world.demo_id)]


def test_an_agent_acts_for_a_named_account_and_a_seller_cannot(slack_bot: RunningBot) -> None:
    fake, send = slack_bot.fake, slack_bot.send
    ack = send.command("/check-sku", "neighbour NB-SECRET-1", user="UAGENT", channel="C1")
    assert "NB-SECRET-1" in ack.text
    fake.wait_for(lambda: len(fake.posts("DUAGENT")) >= 2, message="both SKU views for the agent")
    agent_view = "\n".join(_texts(p.args) for p in fake.posts("DUAGENT"))
    assert "Neighbour Secret Shop" in agent_view

    send.command("/check-sku", "neighbour NB-SECRET-1", user="U1", channel="C1")
    fake.wait_for(lambda: len(fake.posts("DU1")) >= 2, message="both SKU views for the seller")
    seller_view = "\n".join(_texts(p.args) for p in fake.posts("DU1"))
    assert "Neighbour Secret Shop" not in seller_view


def test_notify_me_stores_a_follow_up_for_this_thread_and_it_posts_back_there(slack_bot: RunningBot) -> None:
    from bot.slack.poster import follow_up_poster

    fake, send, world = slack_bot.fake, slack_bot.send, slack_bot.world
    value = json.dumps(
        {
            "k": "notify_report",
            "p": {"store_id": str(world.us_store_id), "sku": "DEMO-UP-OK"},
            "f": "x",
            "v": "y",
        }
    )
    send.action("sd_action:0", value, user="U1", channel="D1", message_ts="200.000001")

    def follow_ups() -> list[FollowUp]:
        with slack_bot.session() as session:
            return list(session.exec(select(FollowUp)))

    follow_up = fake.wait_for(follow_ups)[0]
    assert (follow_up.team_id, follow_up.channel, follow_up.thread_ts) == ("T1", "D1", "200.000001")
    confirmation = fake.wait_for(lambda: fake.posts("D1"))[0]
    assert confirmation.args["thread_ts"] == "200.000001"

    from app import Components

    components: Components = slack_bot.components
    poster = follow_up_poster(lambda team: _client(components, fake.url))
    poster(follow_up, "The report landed: DEMO-UP-OK now shows 19.99.")
    landed = fake.posts("D1")[-1]
    assert landed.args["thread_ts"] == "200.000001"
    assert "19.99" in _texts(landed.args)


def _client(components: Any, url: str) -> Any:
    from bot.slack.app_factory import web_client

    return web_client(components.settings, components.settings.slack_bot_token)


def test_a_home_tab_button_answers_in_the_dm(slack_bot: RunningBot) -> None:
    fake = slack_bot.fake
    slack_bot.send.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    view = fake.wait_for(lambda: fake.calls_to("views.publish"))[0].args["view"]
    talk = next(
        e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"] if "talk" in e["value"]
    )
    payload = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": "U1", "team_id": "T1"},
        "api_app_id": "A1",
        "container": {"type": "view", "view_id": "V1"},
        "trigger_id": "t-home",
        "view": {"id": "V1", "type": "home"},
        "actions": [{**talk, "block_id": "sd_home_actions", "action_ts": "1.0"}],
    }
    assert slack_bot.send.interactive(payload).status_code == 200
    fake.wait_for(lambda: fake.posts(ESCALATION_CHANNEL), message="the case from App Home")
    notice = fake.wait_for(lambda: fake.posts("DU1"), message="the seller told in the DM")[0]
    assert "customer service" in notice.args["text"]


def test_an_action_answers_in_the_language_of_the_answer_that_offered_it(slack_bot: RunningBot) -> None:
    fake, world = slack_bot.fake, slack_bot.world
    value = json.dumps({"k": "notify_report", "p": {"store_id": str(world.us_store_id)}, "f": "x", "v": "y"})
    slack_bot.send.action(
        "sd_action:0",
        value,
        user="U1",
        channel="D1",
        message_ts="400.000001",
        message_text="价格已批准，等待下一次报告",
    )
    confirmation = fake.wait_for(lambda: fake.posts("D1"))[0]
    assert "我会在下一次报告导入" in confirmation.args["text"]
