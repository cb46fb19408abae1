"""Scripted conversations on the embedded demo, in English and Chinese, through the conversation
engine Slack and the console share: what the seller reads after each turn.

Each script is one of the ways a seller leaves the happy path: answering a question with thanks,
asking something new while a detail is pending, writing a bare SKU in a Chinese conversation,
asking a general question, following up on a diagnosis.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from app import Components
from bot.conversation import Reply, Speaker, Turn
from bot.render.text import render_reply
from bot.settings import Settings
from erp.demo import seed_demo, start_embedded_platforms
from erp.models import ConversationState, SyncRun
from handlers.diagnosis import ActionKind
from tests.reading import flat

_HAN = re.compile(r"[\u4e00-\u9fff]")
_ENGLISH_SENTENCE = re.compile(r"\b(?:the|is|are|your|which|you|of|and)\b", re.IGNORECASE)


@dataclass
class Demo:
    components: Components
    speaker: Speaker
    cdn_url: str


@pytest.fixture
def demo(database_url: str) -> Iterator[Demo]:
    components = Components(Settings(database_url=database_url))
    info = seed_demo(components.session)
    platforms = start_embedded_platforms(components.session)
    components.settings = replace(components.settings, fetch_allow=platforms.allow_hosts)
    try:
        speaker = Speaker(actor="console:demo", account_id=info.account_id, role="owner")
        yield Demo(components, speaker, platforms.cdn_url)
    finally:
        platforms.stop()
        components.connectors.close()
        components.engine.dispose()


@dataclass
class Chat:
    demo: Demo
    key: str
    replies: list[Reply] = field(default_factory=list)

    def say(self, text: str) -> str:
        """Send the seller's words; return what the seller reads (the console's rendering)."""
        reply = self.demo.components.conversation.respond(
            Turn(key=self.key, speaker=self.demo.speaker, text=text)
        )
        self.replies.append(reply)
        return render_reply(reply)

    def click(self, *, flow: str | None = None, detail: str | None = None, value: str | None = None) -> str:
        turn = Turn(key=self.key, speaker=self.demo.speaker, flow=flow, detail=detail, value=value)
        reply = self.demo.components.conversation.respond(turn)
        self.replies.append(reply)
        return render_reply(reply)

    @property
    def last(self) -> Reply:
        return self.replies[-1]

    def age(self, minutes: float) -> None:
        """Let the conversation sit for a while: its stored moments move back."""
        with self.demo.components.session() as session:
            row = session.get(ConversationState, self.key)
            assert row is not None
            state = dict(row.state)
            if isinstance(state.get("last"), dict):
                last = dict(state["last"])
                last["at"] = (self.demo.components.services.clock() - timedelta(minutes=minutes)).isoformat()
                state["last"] = last
            row.state = state
            row.updated_at = row.updated_at - timedelta(minutes=minutes)
            session.add(row)
            session.commit()


def _chat(demo: Demo, name: str) -> Chat:
    return Chat(demo, f"console:script-{name}")


def _chinese(text: str) -> bool:
    """Chinese to read: Han characters, and no English sentence words."""
    return bool(_HAN.search(text)) and not _ENGLISH_SENTENCE.search(
        re.sub(r"https?://\S+|DEMO-[A-Z-]+", " ", text)
    )


# -- a pending question is answered only by an answer ---


def test_a_new_problem_while_a_sku_is_asked_starts_its_own_flow_zh(demo: Demo) -> None:
    chat = _chat(demo, "zh-switch")
    chat.say("价格没更新")
    assert chat.last.kind == "ask_detail" and chat.last.flow == "price_not_updated"
    read = chat.say("图片显示不出来")
    assert chat.last.flow == "image_not_displaying" and chat.last.language == "zh"
    assert "改价记录" not in read and "图片显示不出来 的" not in read
    assert "图片" in read and _chinese(read.split("\n")[0])


def test_a_new_problem_while_a_sku_is_asked_starts_its_own_flow_en(demo: Demo) -> None:
    chat = _chat(demo, "en-switch")
    chat.say("price not updated")
    read = chat.say("my product picture does not display")
    assert chat.last.flow == "image_not_displaying" and chat.last.kind == "ask_detail"
    assert "price change" not in read


def test_thanks_and_a_person_are_acts_not_store_names_zh(demo: Demo) -> None:
    chat = _chat(demo, "zh-acts")
    chat.say("怎么删除店铺数据")
    assert chat.last.flow == "delete_store_data"
    thanked = chat.say("谢谢")
    assert "没有名为" not in thanked and "不客气" in thanked
    assert "店铺" in thanked  # the store question is still open, and said so
    person = chat.say("转人工")
    assert "没有名为" not in person and chat.last.escalate
    assert "人工客服" in person and _chinese(person)


def test_thanks_and_a_person_are_acts_not_store_names_en(demo: Demo) -> None:
    chat = _chat(demo, "en-acts")
    chat.say("how do I delete a store's data?")
    thanked = chat.say("thanks")
    assert "no store" not in thanked.casefold() and "welcome" in thanked
    chat.say("I want to talk to a person")
    assert chat.last.escalate and "person" in chat.last.text


def test_a_person_asked_for_in_chinese_after_an_english_answer_reads_chinese_only(demo: Demo) -> None:
    chat = _chat(demo, "switch-to-person")
    chat.say("my price change didnt show")
    chat.say("DEMO-PRICE-WAIT")
    assert chat.last.kind == "diagnosis" and chat.last.language == "en"
    person = chat.say("转人工")
    assert chat.last.escalate and chat.last.language == "zh"
    assert _chinese(person), person  # the English summary is not pasted into the Chinese answer
    assert chat.last.diagnosis is not None and chat.last.diagnosis.sku == "DEMO-PRICE-WAIT"  # for the case


def test_thanks_is_not_a_sku(demo: Demo) -> None:
    chat = _chat(demo, "en-thanks")
    chat.say("my price change didnt show")
    read = chat.say("thanks")
    assert "SKU thanks" not in read and "welcome" in read
    zh = _chat(demo, "zh-thanks")
    zh.say("改价了怎么没变")
    read = zh.say("谢谢")
    assert "SKU 谢谢" not in read and "不客气" in read


def test_thanks_after_an_explanation_offers_the_check_once_and_a_later_sku_runs_it_en(demo: Demo) -> None:
    chat = _chat(demo, "en-thanks-offer")
    asked = chat.say("my price change didnt show")
    assert "1-2 days" in asked
    thanked = chat.say("ok thanks")
    # One line that offers the check, not the explanation pasted again as an unanswered question.
    assert "welcome" in thanked and "SKU" in thanked
    assert "1-2 days" not in thanked and "still waiting" not in thanked
    chat.say("DEMO-PRICE-WAIT")
    assert chat.last.kind == "diagnosis" and chat.last.diagnosis is not None
    assert chat.last.diagnosis.sku == "DEMO-PRICE-WAIT"


def test_thanks_after_an_explanation_offers_the_check_once_and_a_later_sku_runs_it_zh(demo: Demo) -> None:
    chat = _chat(demo, "zh-thanks-offer")
    asked = chat.say("改价了没变化")
    assert "1-2 天" in asked
    thanked = chat.say("好的谢谢")
    assert "不客气" in thanked and "SKU" in thanked and _chinese(thanked)
    assert "1-2 天" not in thanked and "还在等" not in thanked
    read = chat.say("DEMO-PRICE-WAIT")
    assert chat.last.kind == "diagnosis" and chat.last.language == "zh" and _chinese(read)


def test_a_new_question_with_a_sku_switches_flow_en(demo: Demo) -> None:
    chat = _chat(demo, "en-publish")
    chat.say("my price change didnt show")
    read = chat.say("publishing DEMO-PUB-CMYK says the picture is wrong")
    assert "Which SKU's price" not in read
    assert chat.last.flow == "publish_image_error" and chat.last.diagnosis is not None
    assert chat.last.diagnosis.verdict == "not_rgb" and "CMYK" in read


def test_a_new_question_with_a_sku_switches_flow_zh(demo: Demo) -> None:
    chat = _chat(demo, "zh-publish")
    chat.say("改价了怎么没变")
    chat.say("刊登 DEMO-PUB-CMYK 提示图片错误")
    assert chat.last.flow == "publish_image_error" and chat.last.language == "zh"
    assert chat.last.diagnosis is not None and chat.last.diagnosis.verdict == "not_rgb"


def test_a_new_flow_keeps_the_sku_already_given(demo: Demo) -> None:
    chat = _chat(demo, "keep-sku")
    chat.say("NOPE-4711 has no record on the product page")
    assert chat.last.kind == "ask_detail" and chat.last.detail_request is not None
    assert chat.last.detail_request.detail == "store"  # the SKU is in none of the stores
    read = chat.say("actually the price of it did not update")
    assert chat.last.flow == "price_not_updated" and "NOPE-4711" in read


def test_help_leaves_the_question_open_and_cancel_ends_it(demo: Demo) -> None:
    chat = _chat(demo, "help-cancel")
    chat.say("my price change didnt show")
    helped = chat.say("help")
    assert "Which SKU" in helped  # reminded of the open question
    chat.say("DEMO-PRICE-WAIT")
    assert chat.last.kind == "diagnosis" and chat.last.flow == "price_not_updated"
    zh = _chat(demo, "zh-cancel")
    zh.say("改价了怎么没变")
    cancelled = zh.say("算了")
    assert "取消" in cancelled
    zh.say("DEMO-PRICE-WAIT")
    assert zh.last.kind == "clarify"  # no longer the price question's answer: which check?
    assert zh.last.language == "zh"


def test_a_pending_question_expires_after_half_an_hour(demo: Demo) -> None:
    chat = _chat(demo, "expire")
    chat.say("my price change didnt show")
    chat.age(minutes=31)
    chat.say("DEMO-PRICE-WAIT")
    assert chat.last.kind == "clarify"
    fresh = _chat(demo, "fresh")
    fresh.say("my price change didnt show")
    fresh.age(minutes=20)
    fresh.say("DEMO-PRICE-WAIT")
    assert fresh.last.kind == "diagnosis"


def test_a_word_that_is_no_sku_asks_again(demo: Demo) -> None:
    chat = _chat(demo, "not-a-sku")
    chat.say("改价了怎么没变")
    read = chat.say("xyz")
    assert chat.last.kind == "ask_detail" and chat.last.language == "zh"
    assert "xyz" in read and "算了" in read  # what was not taken, and the way out
    chat.say("DEMO-PRICE-WAIT")
    assert chat.last.kind == "diagnosis" and chat.last.language == "zh"


def test_asking_again_runs_no_check_again(demo: Demo) -> None:
    """A wrong answer to "which order?" after a sync gets the question again, not another sync."""
    chat = _chat(demo, "ask-again")
    chat.say("orders of Amazon US are not syncing")
    assert chat.last.kind == "ask_detail" and chat.last.detail_request is not None
    assert chat.last.detail_request.detail == "order_id"
    with demo.components.session() as session:
        syncs = len(session.exec(select(SyncRun)).all())
    read = chat.say("xyz")
    assert chat.last.kind == "ask_detail" and "xyz" in read
    with demo.components.session() as session:
        assert len(session.exec(select(SyncRun)).all()) == syncs
    chat.say("112-9999999-9999999")  # the question is still the same one
    assert chat.last.kind == "diagnosis" and chat.last.flow == "orders_not_synced"


def test_demo_reset_clears_the_demos_conversations(demo: Demo, database_url: str) -> None:
    chat = Chat(demo, "console:demo")
    chat.say("my price change didnt show")
    other = Chat(demo, "console:someone-else")
    other.say("my price change didnt show")
    seed_demo(demo.components.session, reset=True)
    with demo.components.session() as session:
        keys = set(session.exec(select(ConversationState.key)).all())
    assert "console:demo" not in keys and "console:someone-else" in keys


# -- the conversation's language --------------------------------------------------------------------


def test_a_bare_sku_continues_in_chinese(demo: Demo) -> None:
    chat = _chat(demo, "zh-bare-sku")
    chat.say("改价了怎么没变")
    read = chat.say("DEMO-PRICE-WAIT")
    assert chat.last.kind == "diagnosis" and chat.last.language == "zh"
    assert chat.last.diagnosis is not None and chat.last.diagnosis.language == "zh"
    assert _chinese(read.split("\n")[0])


def test_a_bare_store_name_and_link_continue_in_chinese(demo: Demo) -> None:
    chat = _chat(demo, "zh-bare-store")
    chat.say("怎么删除店铺数据")
    read = chat.say("Shopee MY")
    assert chat.last.kind == "diagnosis" and chat.last.language == "zh"
    assert _chinese(read.split("\n")[0])
    pictures = _chat(demo, "zh-bare-url")
    pictures.say("图片显示不出来")
    read = pictures.say(f"{demo.cdn_url}/img/split.jpg")
    assert pictures.last.kind == "diagnosis" and pictures.last.language == "zh"
    assert _chinese(read.split("\n")[0])


def test_a_short_english_question_in_a_chinese_conversation_is_answered_in_english(demo: Demo) -> None:
    chat = _chat(demo, "zh-then-en")
    chat.say("改价了怎么没变")
    chat.say("ok")  # a word that asks nothing: still Chinese
    assert chat.last.language == "zh"
    chat.say("picture problem")  # two words that ask something: English now
    assert chat.last.kind == "clarify" and chat.last.language == "en"


# -- general questions first ---


@pytest.mark.parametrize(
    ("question", "flow", "language"),
    [
        ("how long does a price change take to show?", "price_not_updated", "en"),
        ("改价后多久生效", "price_not_updated", "zh"),
        ("how long does an uploaded SKU take to appear on the upload page?", "upload_sku_missing", "en"),
        ("上传的 SKU 多久会出现在产品上传页面", "upload_sku_missing", "zh"),
        ("when does a new SKU show on the product page?", "product_sku_missing", "en"),
        ("新 SKU 什么时候会出现在产品页面", "product_sku_missing", "zh"),
        ("how often do orders sync?", "orders_not_synced", "en"),
        ("订单多久同步一次", "orders_not_synced", "zh"),
        ("what picture formats can the product page display?", "image_not_displaying", "en"),
        ("what picture format does publishing need?", "publish_image_error", "en"),
        ("刊登需要什么格式的图片", "publish_image_error", "zh"),
        ("when does the system grab product images?", "image_grab", "en"),
        ("产品图片什么时候抓取", "image_grab", "zh"),
        ("how do I delete a store's data?", "delete_store_data", "en"),
        ("怎么删除店铺数据", "delete_store_data", "zh"),
    ],
)
def test_every_flow_answers_its_general_question_first(
    demo: Demo, question: str, flow: str, language: str
) -> None:
    chat = _chat(demo, f"general-{flow}-{language}")
    read = flat(chat.say(question))  # the explanation wraps at 80 columns: read as one line
    assert chat.last.kind == "explain" and chat.last.flow == flow and chat.last.language == language
    knowledge = demo.components.knowledge.flow(flow).text(language)
    assert knowledge.explanation in read
    assert chat.last.detail_request is not None  # the live check is offered
    assert chat.last.detail_request.prompt in read


def test_a_general_price_question_says_1_2_days_then_checks_a_sku(demo: Demo) -> None:
    chat = _chat(demo, "general-price")
    read = flat(chat.say("how long does a price change take to show?"))
    assert "1-2 days" in read and "nightly report" in read
    assert "Tell me the SKU" in read
    chat.say("DEMO-PRICE-WAIT")
    assert chat.last.kind == "diagnosis" and chat.last.flow == "price_not_updated"
    zh = _chat(demo, "general-price-zh")
    read = zh.say("改价后多久生效")
    assert "1-2 天" in flat(read) and "报告" in read
    assert "1-2\n" not in read  # a number keeps its unit on its line


# -- follow-ups ---------------------------------------------------------------------------------------


def test_follow_ups_continue_the_last_diagnosis_en(demo: Demo) -> None:
    chat = _chat(demo, "follow-en")
    chat.say("my price change didnt show")
    chat.say("DEMO-PRICE-LIVE")
    assert chat.last.diagnosis is not None and chat.last.diagnosis.sku == "DEMO-PRICE-LIVE"
    read = chat.say("what about DEMO-PRICE-WAIT?")
    assert chat.last.flow == "price_not_updated" and chat.last.diagnosis is not None
    assert chat.last.diagnosis.sku == "DEMO-PRICE-WAIT" and "DEMO-PRICE-WAIT" in read
    why = chat.say("why?")
    assert chat.last.kind == "explain" and chat.last.flow == "price_not_updated"
    assert "nightly report" in why
    still = chat.say("still not working")
    assert "Which SKU" not in still
    assert any(a.kind == ActionKind.TALK_TO_PERSON for a in chat.last.actions)
    assert "DEMO-PRICE-WAIT" in still  # the last diagnosis goes along
    # A while later, "still not working" checks again with what was remembered.
    chat.age(minutes=10)
    chat.say("still not working")
    assert chat.last.kind == "diagnosis" and chat.last.diagnosis is not None
    assert chat.last.diagnosis.sku == "DEMO-PRICE-WAIT"


def test_follow_ups_continue_the_last_diagnosis_zh(demo: Demo) -> None:
    chat = _chat(demo, "follow-zh")
    chat.say("改价了怎么没变")
    chat.say("DEMO-PRICE-LIVE")
    chat.say("DEMO-PRICE-WAIT 呢？")
    assert chat.last.diagnosis is not None and chat.last.diagnosis.sku == "DEMO-PRICE-WAIT"
    assert chat.last.language == "zh"
    why = chat.say("为什么")
    assert chat.last.kind == "explain" and "报告" in why
    still = chat.say("还是不行")
    assert "哪个 SKU" not in still and "人工" in still and chat.last.language == "zh"


@pytest.mark.parametrize(
    ("question", "cancel", "dropped", "language"),
    [
        ("orders are missing", "never mind, cancel", "won't do anything more", "en"),
        ("订单没同步过来", "算了", "不会再做其他操作", "zh"),
    ],
)
def test_cancel_right_after_an_offer_says_the_offer_is_dropped(
    demo: Demo, question: str, cancel: str, dropped: str, language: str
) -> None:
    chat = _chat(demo, f"cancel-offer-{language}")
    chat.say(question)
    assert chat.last.diagnosis is not None and chat.last.diagnosis.actions  # "Sync again" is offered
    read = chat.say(cancel)
    assert dropped in read and chat.last.language == language
    assert "Nothing was in progress" not in read and "没有进行中" not in read
    assert chat.last.diagnosis is None and not chat.last.actions
    if language == "zh":
        assert not _ENGLISH_SENTENCE.search(read)
    # The offer is gone: "still not working" no longer continues that check.
    chat.say("still not working" if language == "en" else "还是不行")
    assert chat.last.kind != "diagnosis" or chat.last.flow != "orders_not_synced"
    # With nothing at all open, cancel says so.
    fresh = _chat(demo, f"cancel-nothing-{language}")
    nothing = fresh.say(cancel)
    assert ("Nothing was in progress" if language == "en" else "没有进行中") in nothing


def test_and_the_other_store(demo: Demo) -> None:
    chat = _chat(demo, "other-store")
    chat.say("How do I delete the data of store Shopee MY?")
    assert chat.last.diagnosis is not None and chat.last.diagnosis.store == "Shopee MY"
    read = chat.say("and the other store?")
    assert chat.last.kind == "ask_detail" and [c.value for c in chat.last.choices] == [
        "Amazon DE",
        "Amazon US",
    ]
    assert "Which store" in read
    chat.say("Amazon US")
    assert chat.last.diagnosis is not None and chat.last.diagnosis.store == "Amazon US"


def test_a_clarifying_question_answered_in_words_keeps_the_sku_en(demo: Demo) -> None:
    chat = _chat(demo, "clarify-en")
    read = chat.say("DEMO-PUB-CMYK picture problem")
    assert chat.last.kind == "clarify" and "publish_image_error" in [c.value for c in chat.last.choices]
    assert "talk to a person" in read
    chat.say("the publishing one")
    assert chat.last.flow == "publish_image_error" and chat.last.diagnosis is not None
    assert chat.last.diagnosis.sku == "DEMO-PUB-CMYK" and chat.last.diagnosis.verdict == "not_rgb"


def test_a_clarifying_question_answered_in_words_keeps_the_sku_zh(demo: Demo) -> None:
    chat = _chat(demo, "clarify-zh")
    chat.say("DEMO-PUB-CMYK 图片有问题")
    assert chat.last.kind == "clarify" and chat.last.language == "zh"
    offered = [c.value for c in chat.last.choices]
    chat.say("第一个")
    assert chat.last.flow == offered[0] and chat.last.language == "zh"
    assert chat.last.diagnosis is not None and chat.last.diagnosis.sku == "DEMO-PUB-CMYK"


def test_out_of_scope_names_what_the_bot_can_do(demo: Demo) -> None:
    chat = _chat(demo, "out-en")
    read = chat.say("what's the weather in Paris today?")
    assert chat.last.kind == "out_of_scope" and "did not sync" in read
    zh = _chat(demo, "out-zh")
    read = zh.say("今天巴黎天气怎么样")
    assert zh.last.kind == "out_of_scope" and "没有同步" in read and _chinese(read)


def test_the_old_state_shape_is_read_without_trouble(demo: Demo) -> None:
    """A conversation stored before the memory held a last check still continues."""
    chat = _chat(demo, "old-shape")
    chat.say("my price change didnt show")
    with demo.components.session() as session:
        session.execute(
            update(ConversationState)
            .where(ConversationState.key == chat.key)  # type: ignore[arg-type]
            .values(state={"kind": "detail", "language": "en", "flow": "price_not_updated", "detail": "sku"})
        )
        session.commit()
    chat.say("DEMO-PRICE-WAIT")
    assert chat.last.kind == "diagnosis"


def test_state_rows_stay_one_per_conversation(demo: Demo) -> None:
    chat = _chat(demo, "rows")
    for text in ("改价了怎么没变", "谢谢", "DEMO-PRICE-WAIT", "为什么", "算了"):
        chat.say(text)
    with Session(demo.components.engine) as session:
        rows = session.exec(select(ConversationState).where(ConversationState.key == chat.key)).all()  # type: ignore[arg-type]
    assert len(rows) == 1 and rows[0].state["language"] == "zh" and rows[0].state["kind"] == "idle"


# -- the demo's scenarios still reach their verdicts, in both languages ------------------------------


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_demo_scenario_reaches_its_verdict(demo: Demo, language: str) -> None:
    """Each language on a fresh demo: a product-page check imports a fresh report, which changes
    what the next check of that SKU finds."""
    from erp.demo import DEMO_SCENARIOS, question_zh, scenario_text

    missed = []
    for index, scenario in enumerate(DEMO_SCENARIOS):
        question = scenario.question if language == "en" else question_zh(scenario)
        chat = _chat(demo, f"scenario-{index}-{language}")
        chat.say(scenario_text(question, demo.cdn_url))
        reached = chat.last.diagnosis.verdict if chat.last.diagnosis else chat.last.kind
        if (chat.last.flow, reached, chat.last.language) != (scenario.flow, scenario.verdict, language):
            missed.append((question, chat.last.flow, reached, chat.last.language))
    assert missed == []


def test_thanks_while_choices_are_open_points_to_them_and_a_choice_still_runs(demo: Demo) -> None:
    chat = _chat(demo, "zh-thanks-choices")
    chat.say("DEMO-UP-FAILED 怎么了")
    assert chat.last.kind == "clarify", chat.last.text
    thanked = chat.say("谢谢")
    assert "不客气" in thanked and "选" in thanked and "还在等" not in thanked and _chinese(thanked)
    chat.say("1")
    assert chat.last.kind == "diagnosis" and chat.last.language == "zh"


def test_an_acknowledgement_is_not_answered_as_thanks(demo: Demo) -> None:
    chat = _chat(demo, "en-ok")
    chat.say("my price change didnt show")
    read = chat.say("ok")
    assert "welcome" not in read.casefold() and "SKU" in read
    zh = _chat(demo, "zh-ok")
    zh.say("改价了没变化")
    read = zh.say("收到")
    assert "不客气" not in read and "好的" in read and "SKU" in read and _chinese(read)


@pytest.mark.parametrize(
    ("sku", "flow"),
    [
        ("DEMO-PUB-CMYK", "publish_image_error"),
        ("DEMO-UP-FAILED", "upload_sku_missing"),
        ("DEMO-PRICE-WAIT", "price_not_updated"),
    ],
)
def test_a_sku_sent_alone_offers_the_check_its_records_point_to_first(
    demo: Demo, sku: str, flow: str
) -> None:
    chat = _chat(demo, f"bare-{sku}")
    chat.say(sku)
    assert chat.last.kind == "clarify", chat.last.text
    assert [choice.value for choice in chat.last.choices][0] == flow
    chat.say("1")
    assert chat.last.flow == flow and chat.last.diagnosis is not None and chat.last.diagnosis.sku == sku


def test_a_sku_sent_alone_in_a_chinese_conversation_offers_its_check_in_chinese(demo: Demo) -> None:
    chat = _chat(demo, "zh-bare-sku")
    chat.say("你好")
    read = chat.say("DEMO-PRICE-WAIT")
    assert chat.last.kind == "clarify" and chat.last.choices[0].value == "price_not_updated"
    assert _chinese(read), read
    answer = chat.say("1")
    assert chat.last.language == "zh" and "DEMO-PRICE-WAIT" in answer and _chinese(answer)
