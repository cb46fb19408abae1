"""The dialogue policy as a table: (memory, turn, reading) -> decision.

Readings are built by hand, so each row states exactly what the matcher, the act reader and
entity extraction saw; the engine tests (test_conversation_scripts.py) run the same cases through
the real matcher and database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bot.conversation.policy import (
    PERSON,
    RECHECK_AFTER_SECONDS,
    Decision,
    MatchView,
    Reading,
    decide,
    is_general_question,
    pick_choice,
)
from bot.conversation.state import LastCheck, Memory, Pending
from bot.conversation.types import Speaker, Turn
from knowledge.acts import ActReading, read_act
from knowledge.entities import Entities

SPEAKER = Speaker(actor="console:demo", account_id=1, role="owner")
AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

SKU_PENDING = Pending(
    kind="detail",
    language="en",
    flow="price_not_updated",
    detail="sku",
    choices=["DEMO-PRICE-WAIT", "DEMO-PRICE-LIVE"],
    labels={
        "DEMO-PRICE-WAIT": ["DEMO-PRICE-WAIT · Amazon US"],
        "DEMO-PRICE-LIVE": ["DEMO-PRICE-LIVE · Amazon US"],
    },
    question="my price change didnt show",
)
ZH_SKU_PENDING = Pending(
    kind="detail", language="zh", flow="price_not_updated", detail="sku", question="改价了怎么没变"
)
STORE_PENDING = Pending(
    kind="detail",
    language="zh",
    flow="delete_store_data",
    detail="store",
    choices=["Amazon US", "Shopee MY"],
    question="怎么删除店铺数据",
)
URL_PENDING = Pending(kind="detail", language="en", flow="image_not_displaying", detail="image_url")
ORDER_PENDING = Pending(kind="detail", language="en", flow="orders_not_synced", detail="order_id")
CLARIFY = Pending(
    kind="clarify",
    language="en",
    flows=["image_not_displaying", "publish_image_error", PERSON],
    choices=["image_not_displaying", "publish_image_error", PERSON],
    labels={
        "image_not_displaying": [
            "A product picture does not display or displays split",
            "产品图片不显示或显示裂图",
        ],
        "publish_image_error": ["Publishing reports a wrong picture", "刊登时报图片错误"],
        PERSON: ["something else: talk to a person", "something else", "都不是", "人工"],
    },
    entities={"skus": ["DEMO-PUB-CMYK"]},
    question="DEMO-PUB-CMYK picture problem",
)
LAST = LastCheck(
    flow="price_not_updated",
    verdict="waiting_for_report",
    summary="The platform approved 31.99 USD for DEMO-PRICE-WAIT; it shows after the next import.",
    entities={"skus": ["DEMO-PRICE-WAIT"], "stores": ["Amazon US"]},
    question="my price change didnt show",
    at=AT,
)

SURE = {
    "price": MatchView("price_not_updated", "sure", ("price_not_updated",), {"price_not_updated": 0.9}),
    "image": MatchView(
        "image_not_displaying", "sure", ("image_not_displaying",), {"image_not_displaying": 0.8}
    ),
    "publish": MatchView(
        "publish_image_error", "sure", ("publish_image_error",), {"publish_image_error": 0.85}
    ),
    "delete": MatchView("delete_store_data", "sure", ("delete_store_data",), {"delete_store_data": 0.9}),
    "product": MatchView(
        "product_sku_missing", "sure", ("product_sku_missing",), {"product_sku_missing": 0.7}
    ),
}
NONE = MatchView(None, "none")
UNSURE = MatchView(
    None,
    "unsure",
    ("upload_sku_missing", "product_sku_missing", "image_grab"),
    {"upload_sku_missing": 0.25, "product_sku_missing": 0.2, "image_grab": 0.1},
)


@dataclass(frozen=True)
class Case:
    name: str
    memory: Memory
    text: str
    expected: dict[str, object]
    match: MatchView = NONE
    entities: Entities = Entities()
    language: str | None = "en"
    other_stores: tuple[str, ...] = ()
    since_last: float | None = None
    turn: Turn | None = None
    act: ActReading | None = None


def _idle(language: str = "en", last: LastCheck | None = None) -> Memory:
    return Memory(language=language, last=last)  # type: ignore[arg-type]


CASES = [
    # -- acts never become a SKU or store, and leave the open question open --------------------
    Case(
        "thanks while a SKU is asked", Memory("en", SKU_PENDING), "thanks", {"kind": "act", "act": "thanks"}
    ),
    Case(
        "谢谢 while a store is asked",
        Memory("zh", STORE_PENDING),
        "谢谢",
        {"kind": "act", "act": "thanks"},
        language="zh",
    ),
    Case(
        "转人工 while a store is asked",
        Memory("zh", STORE_PENDING),
        "转人工",
        {"kind": "escalate", "language": "zh", "said": "转人工"},
        language="zh",
    ),
    Case("help keeps the question", Memory("en", SKU_PENDING), "help", {"kind": "act", "act": "help"}),
    Case("hello", _idle(), "hello", {"kind": "act", "act": "greeting"}),
    Case("cancel", Memory("en", SKU_PENDING), "cancel", {"kind": "cancel"}),
    Case(
        "算了 in Chinese",
        Memory("zh", ZH_SKU_PENDING),
        "算了",
        {"kind": "cancel", "language": "zh"},
        language="zh",
    ),
    Case(
        "a person, with the words that came along",
        _idle(last=LAST),
        "I want to talk to a person about this",
        {"kind": "escalate", "said": "I want to talk to a person about this"},
    ),
    # -- still not working ---
    Case(
        "still not working right after a diagnosis: offer a person",
        _idle(last=LAST),
        "still not working",
        {"kind": "offer_person", "flow": "price_not_updated"},
        since_last=5.0,
    ),
    Case(
        "still not working a while later: check again with the same details",
        _idle(last=LAST),
        "still not working",
        {
            "kind": "recheck",
            "flow": "price_not_updated",
            "skus": ["DEMO-PRICE-WAIT"],
            "stores": ["Amazon US"],
        },
        since_last=RECHECK_AFTER_SECONDS + 1,
    ),
    Case(
        "still not working with nothing before",
        _idle(),
        "still not working",
        {"kind": "act", "act": "not_resolved"},
    ),
    Case(
        "still not working while a SKU is asked: ask again",
        Memory("en", SKU_PENDING),
        "still not working",
        {"kind": "ask", "flow": "price_not_updated"},
    ),
    # -- the open question ---
    Case(
        "a known SKU fills it",
        Memory("en", SKU_PENDING),
        "DEMO-PRICE-WAIT",
        {
            "kind": "fill",
            "flow": "price_not_updated",
            "skus": ["DEMO-PRICE-WAIT"],
            "question": "my price change didnt show",
        },
        entities=Entities(skus=["DEMO-PRICE-WAIT"]),
        language=None,
    ),
    Case(
        "a bare SKU continues in Chinese",
        Memory("zh", ZH_SKU_PENDING),
        "DEMO-PRICE-WAIT",
        {"kind": "fill", "language": "zh", "skus": ["DEMO-PRICE-WAIT"]},
        entities=Entities(skus=["DEMO-PRICE-WAIT"]),
        language=None,
    ),
    Case(
        "an unknown SKU-shaped token fills it (the handler says it does not know it)",
        Memory("en", SKU_PENDING),
        "AB-1234-BLK",
        {"kind": "fill", "skus": ["AB-1234-BLK"]},
    ),
    Case(
        "a word is not a SKU: ask again",
        Memory("en", SKU_PENDING),
        "thanx",
        {"kind": "ask", "flow": "price_not_updated", "said": "thanx"},
    ),
    Case(
        "a Chinese sentence is not a SKU: a new flow",
        Memory("zh", ZH_SKU_PENDING),
        "图片显示不出来",
        {"kind": "run", "flow": "image_not_displaying", "language": "zh"},
        match=SURE["image"],
        language="zh",
    ),
    Case(
        "a new question with a SKU switches flow and keeps the SKU",
        Memory("en", SKU_PENDING),
        "publishing DEMO-PUB-CMYK says the picture is wrong",
        {"kind": "run", "flow": "publish_image_error", "skus": ["DEMO-PUB-CMYK"]},
        match=SURE["publish"],
        entities=Entities(skus=["DEMO-PUB-CMYK"]),
    ),
    Case(
        "a new flow keeps the details given already",
        Memory(
            "en",
            Pending(
                kind="detail",
                language="en",
                flow="product_sku_missing",
                detail="store",
                entities={"skus": ["DEMO-REP-NEW"]},
            ),
        ),
        "actually the price did not update",
        {"kind": "run", "flow": "price_not_updated", "skus": ["DEMO-REP-NEW"]},
        match=SURE["price"],
    ),
    Case(
        "a store name fills the store question",
        Memory("zh", STORE_PENDING),
        "shopee my",
        {"kind": "fill", "flow": "delete_store_data", "stores": ["Shopee MY"], "language": "zh"},
        entities=Entities(stores=["Shopee MY"]),
        language=None,
    ),
    Case(
        "a name that is no store of theirs is not an answer",
        Memory("zh", STORE_PENDING),
        "Ebay",
        {"kind": "ask", "language": "zh"},
        language=None,
    ),
    Case(
        "a link fills the picture question",
        Memory("en", URL_PENDING),
        "https://img.example.com/a.jpg",
        {"kind": "fill", "urls": ["https://img.example.com/a.jpg"]},
        entities=Entities(urls=["https://img.example.com/a.jpg"]),
        language=None,
    ),
    Case(
        "an order number fills the order question",
        Memory("en", ORDER_PENDING),
        "112-9999999-9999999",
        {"kind": "fill", "order_ids": ["112-9999999-9999999"]},
        entities=Entities(order_ids=["112-9999999-9999999"]),
        language=None,
    ),
    Case(
        "a choice number picks the offered SKU",
        Memory("en", SKU_PENDING),
        "2",
        {"kind": "fill", "skus": ["DEMO-PRICE-LIVE"]},
        language=None,
    ),
    Case(
        "a clicked value fills it",
        Memory("en", SKU_PENDING),
        "",
        {"kind": "fill", "skus": ["DEMO-PRICE-WAIT"]},
        turn=Turn(key="k", speaker=SPEAKER, detail="sku", value="DEMO-PRICE-WAIT"),
    ),
    # -- choices ---
    Case(
        "the publishing one",
        Memory("en", CLARIFY),
        "the publishing one",
        {
            "kind": "choose",
            "flow": "publish_image_error",
            "skus": ["DEMO-PUB-CMYK"],
            "question": CLARIFY.question,
        },
    ),
    Case(
        "第二个",
        Memory("zh", CLARIFY),
        "第二个",
        {"kind": "choose", "flow": "publish_image_error", "skus": ["DEMO-PUB-CMYK"], "language": "zh"},
        language="zh",
    ),
    Case(
        "the first one",
        Memory("en", CLARIFY),
        "the first one",
        {"kind": "choose", "flow": "image_not_displaying"},
    ),
    Case("picking a person", Memory("en", CLARIFY), "3", {"kind": "escalate"}, language=None),
    Case("something else", Memory("en", CLARIFY), "something else", {"kind": "escalate"}),
    Case("都不是", Memory("zh", CLARIFY), "都不是", {"kind": "escalate", "language": "zh"}, language="zh"),
    Case(
        "an unclear reply to a clarifying question offers the choices again",
        Memory("en", CLARIFY),
        "hmm",
        {"kind": "clarify", "choices": tuple(CLARIFY.flows), "skus": ["DEMO-PUB-CMYK"]},
    ),
    Case(
        "a clicked flow keeps the question's details",
        Memory("en", CLARIFY),
        "",
        {"kind": "choose", "flow": "image_not_displaying", "skus": ["DEMO-PUB-CMYK"]},
        turn=Turn(key="k", speaker=SPEAKER, flow="image_not_displaying"),
    ),
    Case(
        "the matcher unsure: the likely flows and a person",
        _idle(),
        "DEMO-SHOP-1 has no record",
        {"kind": "clarify", "choices": ("upload_sku_missing", "product_sku_missing", "image_grab", PERSON)},
        match=UNSURE,
        entities=Entities(skus=["DEMO-SHOP-1"]),
    ),
    # -- general questions first ---
    Case(
        "how long does a price change take",
        _idle(),
        "how long does a price change take to show?",
        {"kind": "explain", "flow": "price_not_updated"},
        match=SURE["price"],
    ),
    Case(
        "改价后多久生效",
        _idle("zh"),
        "改价后多久生效",
        {"kind": "explain", "language": "zh"},
        match=SURE["price"],
        language="zh",
    ),
    Case(
        "a complaint runs the check",
        _idle(),
        "my price change didnt show",
        {"kind": "run", "flow": "price_not_updated"},
        match=SURE["price"],
    ),
    Case(
        "a question with a SKU runs the check",
        _idle(),
        "how long until the price of DEMO-PRICE-WAIT shows?",
        {"kind": "run", "skus": ["DEMO-PRICE-WAIT"]},
        match=SURE["price"],
        entities=Entities(skus=["DEMO-PRICE-WAIT"]),
    ),
    # -- follow-ups ---
    Case(
        "what about another SKU: same flow, same store",
        _idle(last=LAST),
        "what about DEMO-PRICE-LIVE?",
        {"kind": "run", "flow": "price_not_updated", "skus": ["DEMO-PRICE-LIVE"], "stores": ["Amazon US"]},
        entities=Entities(skus=["DEMO-PRICE-LIVE"]),
    ),
    Case(
        "DEMO-X 呢",
        _idle("zh", last=LAST),
        "DEMO-PRICE-LIVE 呢？",
        {"kind": "run", "flow": "price_not_updated", "skus": ["DEMO-PRICE-LIVE"], "language": "zh"},
        entities=Entities(skus=["DEMO-PRICE-LIVE"]),
        language="zh",
    ),
    Case(
        "and the other store, when there is one other",
        _idle(last=LAST),
        "and the other store?",
        {"kind": "run", "flow": "price_not_updated", "skus": ["DEMO-PRICE-WAIT"], "stores": ["Shopee MY"]},
        other_stores=("Shopee MY",),
    ),
    Case(
        "and the other store, when there are several",
        _idle(last=LAST),
        "and the other store?",
        {
            "kind": "ask_store",
            "choices": ("Amazon DE", "Shopee MY"),
            "skus": ["DEMO-PRICE-WAIT"],
            "stores": [],
        },
        other_stores=("Amazon DE", "Shopee MY"),
    ),
    Case("why", _idle(last=LAST), "why?", {"kind": "explain", "flow": "price_not_updated", "why": True}),
    Case(
        "为什么",
        _idle("zh", last=LAST),
        "为什么",
        {"kind": "explain", "why": True, "language": "zh"},
        language="zh",
    ),
    Case(
        "a new whole question after a diagnosis is its own",
        _idle(last=LAST),
        "publishing DEMO-PUB-CMYK says the picture is wrong",
        {"kind": "run", "flow": "publish_image_error", "skus": ["DEMO-PUB-CMYK"], "stores": []},
        match=SURE["publish"],
        entities=Entities(skus=["DEMO-PUB-CMYK"]),
    ),
    # -- nothing to go on ---
    Case("emoji only", Memory("zh"), "😀🙏", {"kind": "empty", "language": "zh"}, language=None),
    Case("out of scope", _idle(), "what's the weather in Paris today?", {"kind": "out_of_scope"}),
    Case(
        "out of scope drops an open question",
        Memory("en", SKU_PENDING),
        "what's the weather in Paris today?",
        {"kind": "out_of_scope"},
    ),
    Case(
        "a bare SKU out of the blue: which check",
        _idle(),
        "DEMO-PRICE-WAIT",
        {"kind": "clarify", "choices": ("upload_sku_missing", "product_sku_missing", "image_grab", PERSON)},
        match=UNSURE,
        entities=Entities(skus=["DEMO-PRICE-WAIT"]),
        language=None,
    ),
]


def _reading(case: Case) -> Reading:
    return Reading(
        text=case.text,
        act=case.act or read_act(case.text),
        match=case.match,
        entities=case.entities,
        language=case.language,  # type: ignore[arg-type]
        other_stores=case.other_stores,
        since_last=case.since_last,
    )


def _observed(decision: Decision, expected: dict[str, object]) -> dict[str, object]:
    values: dict[str, object] = {
        "kind": decision.kind,
        "flow": decision.flow,
        "language": decision.language,
        "act": decision.act,
        "said": decision.said,
        "why": decision.why,
        "question": decision.question,
        "choices": decision.choices,
        "skus": decision.entities.skus,
        "stores": decision.entities.stores,
        "urls": decision.entities.urls,
        "order_ids": decision.entities.order_ids,
    }
    return {key: values[key] for key in expected}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_policy_table(case: Case) -> None:
    turn = case.turn or Turn(key="k", speaker=SPEAKER, text=case.text)
    decision = decide(case.memory, turn, _reading(case))
    assert _observed(decision, case.expected) == case.expected


def test_pending_questions_leave_the_answer_to_acts_first() -> None:
    """Every act word a seller may send while a detail is asked stays an act, in both languages."""
    for text in ("thanks", "thank you", "ok thanks", "谢谢", "好的谢谢", "hi", "你好", "help", "帮助"):
        for pending in (SKU_PENDING, STORE_PENDING, URL_PENDING, ORDER_PENDING):
            decision = decide(
                Memory("en", pending),
                Turn(key="k", speaker=SPEAKER, text=text),
                Reading(text=text, act=read_act(text)),
            )
            assert decision.kind == "act", (text, pending.detail, decision)


@pytest.mark.parametrize(
    ("text", "general"),
    [
        ("how long does a price change take to show?", True),
        ("改价后多久生效", True),
        ("调价后多久能生效", True),
        ("when does the system grab product images?", True),
        ("how do i delete a store's data?", True),
        ("怎么删除店铺数据", True),
        ("how do i remove a test marketplace i no longer need?", True),
        ("不再使用的店铺怎么解绑", True),
        ("does price change need approval", True),
        ("新价格什么时候显示", True),
        ("my price change didnt show", False),
        ("改价了怎么没变", False),
        ("why is my new price not showing", False),
        ("图片显示不出来", False),
        ("how long does it take, my order still did not sync", False),
        ("price change", False),
        ("where did my uploaded sku go? upload page blank", False),
    ],
)
def test_general_or_specific(text: str, general: bool) -> None:
    assert is_general_question(text, Entities()) is general


def test_a_question_with_a_detail_is_never_general() -> None:
    assert not is_general_question("how long until DEMO-1 shows?", Entities(skus=["DEMO-1"]))


def test_choice_words_need_one_clear_pick() -> None:
    # "picture" is in both titles: no guess.
    assert pick_choice(CLARIFY, "the picture one", NONE) is None
    assert pick_choice(CLARIFY, "刊登的那个", NONE) == "publish_image_error"
    assert pick_choice(CLARIFY, "split", NONE) == "image_not_displaying"
    assert pick_choice(CLARIFY, "9", NONE) is None
    assert pick_choice(CLARIFY, "最后一个", NONE) == PERSON
