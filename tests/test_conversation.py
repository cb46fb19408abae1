"""The conversation engine over a real database, the real knowledge and matcher, real pictures."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.conversation import Conversation, Speaker, Turn
from erp.models import AuditLog, ConversationState, FollowUp, Product, PublishAttempt, Store
from handlers.diagnosis import ActionKind, HandlerResult
from handlers.registry import HANDLERS, FlowRequest
from handlers.services import Services
from knowledge.loader import KnowledgeBase, load_knowledge
from knowledge.matcher import Matcher
from tests.services_fixture import (
    PictureHost,
    add_account,
    add_rows,
    add_store,
    loopback_image_checker,
    make_services,
    running_picture_host,
)


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="module")
def matcher(knowledge: KnowledgeBase) -> Matcher:
    return Matcher.train(knowledge)


@pytest.fixture
def host() -> Iterator[PictureHost]:
    with running_picture_host() as running:
        yield running


@dataclass
class World:
    conversation: Conversation
    owner: Speaker
    member: Speaker
    stranger: Speaker
    shopee: Store
    host: PictureHost
    engine: Engine
    keys: list[str] = field(default_factory=list)


@pytest.fixture
def world(
    session: Session,
    engine: Engine,
    tmp_path: Path,
    host: PictureHost,
    knowledge: KnowledgeBase,
    matcher: Matcher,
) -> Iterator[World]:
    demo = add_account(session, "demo")
    neighbour = add_account(session, "neighbour")
    us = add_store(session, demo, "Amazon US")
    shopee = add_store(session, demo, "Shopee MY", platform="shopee")
    theirs = add_store(session, neighbour, "Neighbour Shop")
    add_rows(
        session,
        [
            Product(
                account_id=demo.id or 0,
                store_id=us.id or 0,
                sku="DEMO-PUB-CMYK",
                image_urls=[host.url("ok.jpg"), host.url("cmyk.jpg")],
            ),
            Product(account_id=demo.id or 0, store_id=shopee.id or 0, sku="DEMO-SHOP-1"),
            Product(
                account_id=neighbour.id or 0,
                store_id=theirs.id or 0,
                sku="SECRET-SKU-9",
                image_urls=[host.url("missing.jpg")],
            ),
            PublishAttempt(
                account_id=demo.id or 0, store_id=us.id or 0, platform="amazon", sku="DEMO-PUB-CMYK", ok=False
            ),
        ],
    )
    with loopback_image_checker() as checker:
        services = make_services(engine, export_dir=str(tmp_path / "exports"), images=checker)
        yield World(
            conversation=Conversation(services=services, knowledge=knowledge, matcher=matcher),
            owner=Speaker(actor="console:demo", account_id=demo.id, role="owner"),
            member=Speaker(actor="slack:T1:U2", account_id=demo.id, role="member"),
            stranger=Speaker(actor="slack:T1:U9", account_id=neighbour.id, role="owner"),
            shopee=shopee,
            host=host,
            engine=engine,
        )


def _say(world: World, text: str, *, key: str = "console:demo", speaker: Speaker | None = None) -> object:
    return world.conversation.respond(Turn(key=key, speaker=speaker or world.owner, text=text))


def test_not_linked_gets_the_link_instructions(world: World) -> None:
    reply = world.conversation.respond(
        Turn(key="slack:T1:D1:U5", speaker=Speaker(actor="slack:T1:U5", account_id=None), text="订单没同步")
    )
    assert reply.kind == "not_linked"
    assert reply.language == "zh" and "/sellerdesk link" in reply.text


def test_a_question_runs_its_flow_to_a_diagnosis(world: World) -> None:
    reply = world.conversation.respond(
        Turn(key="k1", speaker=world.owner, text="publish failed: wrong image error for sku DEMO-PUB-CMYK")
    )
    assert reply.kind == "diagnosis" and reply.flow == "publish_image_error"
    assert reply.diagnosis is not None and reply.diagnosis.verdict == "not_rgb"


def test_pending_detail_continues_with_a_bare_answer(world: World) -> None:
    first = world.conversation.respond(
        Turn(key="k2", speaker=world.owner, text="my product picture does not display")
    )
    assert first.kind == "ask_detail" and first.flow == "image_not_displaying"
    assert first.detail_request is not None and first.detail_request.detail == "image_url"
    with Session(world.engine) as session:
        assert session.get(ConversationState, "k2") is not None

    second = world.conversation.respond(Turn(key="k2", speaker=world.owner, text=world.host.url("split.jpg")))
    assert second.kind == "diagnosis" and second.diagnosis is not None
    assert second.diagnosis.verdict == "damaged"
    with Session(world.engine) as session:
        state = session.get(ConversationState, "k2")
        assert state is not None and state.state["kind"] == "idle"  # nothing pending
        assert state.state["last"]["flow"] == "image_not_displaying"  # follow-ups continue from it


def test_a_clicked_choice_continues_too(world: World) -> None:
    asked = world.conversation.respond(Turn(key="k3", speaker=world.owner, text="图片发布失败，提示图片错误"))
    assert asked.kind == "ask_detail" and asked.language == "zh"
    assert [c.value for c in asked.choices] == ["DEMO-PUB-CMYK"]
    clicked = world.conversation.respond(
        Turn(key="k3", speaker=world.owner, detail="sku", value="DEMO-PUB-CMYK")
    )
    assert clicked.kind == "diagnosis" and clicked.language == "zh"
    assert clicked.diagnosis is not None and clicked.diagnosis.verdict == "not_rgb"


def test_a_new_question_replaces_the_pending_one(world: World) -> None:
    world.conversation.respond(
        Turn(key="k4", speaker=world.owner, text="my product picture does not display")
    )
    reply = world.conversation.respond(
        Turn(key="k4", speaker=world.owner, text="what's the weather in Paris today?")
    )
    assert reply.kind == "out_of_scope"
    assert reply.actions and reply.actions[0].kind == ActionKind.TALK_TO_PERSON


@dataclass
class _CloseMatch:
    flow: str | None
    confidence: float
    alternatives: list[tuple[str, float]]
    close: bool


class _AlwaysClose:
    """A matcher that finds every question ambiguous between two flows (the conversation is under test)."""

    def match(self, text: str) -> _CloseMatch:
        return _CloseMatch("upload_sku_missing", 0.45, [("product_sku_missing", 0.4)], True)


def test_close_flows_get_a_clarifying_question_and_the_answer_runs_the_flow(world: World) -> None:
    conversation = Conversation(
        services=world.conversation.services, knowledge=world.conversation.knowledge, matcher=_AlwaysClose()
    )
    reply = conversation.respond(Turn(key="k5", speaker=world.owner, text="DEMO-SHOP-1 has no record"))
    assert reply.kind == "clarify"
    # The two flows, and "something else: talk to a person".
    assert [c.value for c in reply.choices] == ["upload_sku_missing", "product_sku_missing", "talk_to_person"]
    assert all(c.label and c.label != c.value for c in reply.choices)  # the flows' titles
    # Clicking the second runs it with the SKU remembered from the question.
    chosen = conversation.respond(Turn(key="k5", speaker=world.owner, flow="product_sku_missing"))
    assert chosen.flow == "product_sku_missing"
    assert chosen.kind in ("diagnosis", "ask_detail")
    if chosen.diagnosis is not None:
        assert chosen.diagnosis.sku == "DEMO-SHOP-1"


def test_explain_first_for_general_questions(world: World) -> None:
    reply = _say(world, "when does the system grab product images?", key="k6")
    assert reply.kind == "explain" and reply.flow == "image_grab"  # type: ignore[attr-defined]
    assert reply.title and reply.steps  # type: ignore[attr-defined]
    assert reply.detail_request is not None  # type: ignore[attr-defined]


def test_another_accounts_data_is_invisible(world: World) -> None:
    reply = world.conversation.respond(
        Turn(key="k7", speaker=world.owner, text="picture not displaying for SECRET-SKU-9")
    )
    assert reply.kind == "ask_detail"
    assert "SECRET-SKU-9" not in repr(reply.choices)
    deleted = world.conversation.run_action(
        "delete_store_data", {"store_id": str(world.shopee.id)}, world.stranger, key="k8"
    )
    assert deleted.diagnosis is not None and deleted.diagnosis.verdict == "explained"
    with Session(world.engine) as session:
        store = session.get(Store, world.shopee.id)
        assert store is not None and store.deleted_at is None


def test_delete_for_the_owner_refusal_for_a_member_and_undo(world: World) -> None:
    refused = world.conversation.run_action(
        "delete_store_data", {"store_id": str(world.shopee.id)}, world.member, key="k9"
    )
    assert refused.diagnosis is not None and "Only the account owner" in refused.diagnosis.summary
    done = world.conversation.run_action(
        "delete_store_data", {"store_id": str(world.shopee.id)}, world.owner, key="k9"
    )
    assert done.diagnosis is not None and done.diagnosis.verdict == "deleted"
    undone = world.conversation.run_action(
        "undo_delete", {"store_id": str(world.shopee.id)}, world.owner, key="k9"
    )
    assert undone.diagnosis is not None and undone.diagnosis.verdict == "restored"
    with Session(world.engine) as session:
        audit = [(a.action, a.result) for a in session.exec(select(AuditLog).order_by(col(AuditLog.id)))]
    assert audit == [
        ("delete_store_data", "refused"),
        ("delete_store_data", "ok"),
        ("undo_delete_store_data", "ok"),
    ]


def test_convert_rgb_returns_a_jpeg_and_is_audited(world: World, tmp_path: Path) -> None:
    reply = world.conversation.run_action(
        "convert_rgb", {"url": world.host.url("cmyk.jpg")}, world.owner, key="k10"
    )
    assert reply.files and reply.files[0].filename == "cmyk-rgb.jpg"
    path = tmp_path / "converted.jpg"
    path.write_bytes(reply.files[0].content)
    with Image.open(path) as image:
        assert (image.format, image.mode) == ("JPEG", "RGB")
    failed = world.conversation.run_action(
        "convert_rgb", {"url": world.host.url("missing.jpg")}, world.owner, key="k10"
    )
    assert failed.files == [] and "could not convert" in failed.text
    with Session(world.engine) as session:
        audit = [(a.action, a.result) for a in session.exec(select(AuditLog).order_by(col(AuditLog.id)))]
    assert audit == [("convert_image", "ok"), ("convert_image", "failed")]


def test_talk_to_person_asks_the_surface_to_escalate(world: World) -> None:
    reply = world.conversation.run_action("talk_to_person", {}, world.member, key="k11")
    assert reply.escalate and reply.escalate_reason


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "x" * 40_000,
        "\x00\x01\x02\xff\xfe garbage \x00" * 50,
        "😀😀😀🙏",
        bytes(range(256)).decode("latin-1"),
        "price 没更新 " * 3000,
    ],
)
def test_bad_input_gets_a_friendly_answer(world: World, text: str) -> None:
    reply = world.conversation.respond(Turn(key="k12", speaker=world.owner, text=text))
    assert reply.kind in ("message", "out_of_scope", "ask_detail", "diagnosis", "explain", "clarify")
    assert reply.text.strip()
    assert "Traceback" not in reply.text


def test_unknown_action_and_missing_params_are_friendly(world: World) -> None:
    assert "can't do that" in world.conversation.run_action("launch_rockets", {}, world.owner, key="k13").text
    assert world.conversation.run_action("delete_store_data", {}, world.owner, key="k13").kind == "message"
    assert world.conversation.run_action("convert_rgb", {"url": ""}, world.owner, key="k13").kind == "message"


def test_explain_then_a_store_name_continues_to_the_counts(world: World) -> None:
    explained = world.conversation.respond(
        Turn(key="k14", speaker=world.owner, text="how do i delete a store's data?")
    )
    assert explained.kind == "explain" and explained.flow == "delete_store_data"
    assert [c.value for c in explained.choices] == ["Amazon US", "Shopee MY"]
    counted = world.conversation.respond(Turn(key="k14", speaker=world.owner, text="shopee my"))
    assert counted.kind == "diagnosis" and counted.diagnosis is not None
    assert counted.diagnosis.verdict == "explained" and counted.diagnosis.store == "Shopee MY"
    assert counted.diagnosis.actions[0].params["store_id"] == str(world.shopee.id)


def test_run_flow_for_a_slash_command(world: World) -> None:
    reply = world.conversation.run_flow(
        "image_not_displaying", world.member, world.host.url("page.html"), key="slack:T1:C1:U2"
    )
    assert reply.kind == "diagnosis" and reply.diagnosis is not None
    assert reply.diagnosis.verdict == "not_an_image"
    unknown = world.conversation.run_flow("make_coffee", world.member, "", key="slack:T1:C1:U2")
    assert unknown.kind == "message"


def test_a_flow_with_only_optional_details_and_none_given_is_explained(
    world: World, knowledge: KnowledgeBase, matcher: Matcher
) -> None:
    flow = knowledge.flow("image_grab")
    optional_only = replace(
        knowledge,
        flows={**knowledge.flows, "image_grab": replace(flow, required_details=[], optional_details=["sku"])},
    )
    calls: list[str] = []

    def grab_handler(request: FlowRequest, services: Services) -> HandlerResult:
        calls.append(request.question)
        return HANDLERS["image_grab"](request, services)

    conversation = Conversation(
        services=world.conversation.services,
        knowledge=optional_only,
        matcher=matcher,
        handlers={**HANDLERS, "image_grab": grab_handler},
    )
    reply = conversation.respond(
        Turn(key="k15", speaker=world.owner, text="when are product images grabbed?")
    )
    assert reply.kind == "explain" and reply.flow == "image_grab"
    assert reply.title == flow.text("en").title and reply.steps == flow.text("en").steps
    assert calls == []  # nothing to check: the knowledge answers
    # Naming a SKU makes it a live check again.
    checked = conversation.respond(
        Turn(key="k15", speaker=world.owner, text="when are the images of DEMO-SHOP-1 grabbed?")
    )
    assert calls and checked.flow == "image_grab" and checked.kind in ("diagnosis", "ask_detail")


def test_turns_of_one_conversation_arriving_together_all_get_answers(world: World) -> None:
    turns = [
        Turn(key="k16", speaker=world.owner, text=text)
        for text in ["how do I delete the data of Shopee MY?", "怎么删除 Amazon US 的数据"] * 4
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(world.conversation.respond, turns))
    assert [r.kind for r in replies] == ["diagnosis"] * 8
    assert all("went wrong" not in r.text for r in replies)
    with Session(world.engine) as session:
        state = session.get(ConversationState, "k16")
        assert state is not None and state.state["kind"] == "idle"


def test_notify_report_follows_up_in_the_slack_thread_that_asked(world: World) -> None:
    params = {"store_id": str(world.shopee.id), "sku": "DEMO-SHOP-1"}
    slack = world.conversation.run_action(
        "notify_report", params, world.member, key="slack:T1:C42:U2:1700000000.000100"
    )
    assert "I'll check again after the next report import" in slack.text
    with Session(world.engine) as session:
        follow_up = session.exec(select(FollowUp)).one()
    assert (follow_up.team_id, follow_up.channel, follow_up.thread_ts) == ("T1", "C42", "1700000000.000100")
    assert (follow_up.store_id, follow_up.sku, follow_up.kind) == (
        world.shopee.id,
        "DEMO-SHOP-1",
        "report_landed",
    )
    # The console cannot be written to later: the seller is told when to ask again, nothing is stored.
    console = world.conversation.run_action("notify_report", params, world.owner, key="console:demo")
    assert "ask me again after that" in console.text
    with Session(world.engine) as session:
        assert len(session.exec(select(FollowUp)).all()) == 1
