"""The conversation's own answers: explanations, clarifying questions, help, refusals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.conversation.types import Reply
from handlers.diagnosis import Action, ActionKind, Choice, DetailRequest, Language
from handlers.text import say


class Replies:
    """Builds the replies that come from knowledge rather than from a handler.

    Args:
        knowledge: the flows as data (titles, explanations, steps).
        flows: the flow ids the bot can check, in the order help lists them.
    """

    def __init__(self, knowledge: Any, flows: Sequence[str]) -> None:
        self._knowledge = knowledge
        self._flows = list(flows)

    def required_details(self, flow: str) -> list[str]:
        try:
            return list(self._knowledge.flow(flow).required_details)
        except (AttributeError, KeyError):
            return ["unknown"]  # no knowledge of the flow: let its handler decide

    def flow_title(self, flow: str, language: Language) -> str:
        try:
            return str(self._knowledge.flow(flow).text(language).title)
        except (AttributeError, KeyError):
            return flow.replace("_", " ")

    def explain(self, flow: str, language: Language, detail_request: DetailRequest | None = None) -> Reply:
        text = self._knowledge.flow(flow).text(language)
        return Reply(
            kind="explain",
            language=language,
            text=str(text.explanation),
            flow=flow,
            title=str(text.title),
            steps=list(text.steps),
            detail_request=detail_request,
            choices=list(detail_request.choices) if detail_request else [],
        )

    def clarify(self, language: Language, flows: Sequence[str]) -> Reply:
        choices = [Choice(value=flow, label=self.flow_title(flow, language)) for flow in flows]
        return Reply(
            kind="clarify",
            language=language,
            text=say(
                language,
                "I want to be sure I check the right thing. Which one is it?",
                "为了检查正确的问题，请确认是哪一种？",
            ),
            choices=choices,
        )

    def out_of_scope(self, language: Language) -> Reply:
        return Reply(
            kind="out_of_scope",
            language=language,
            text=say(
                language,
                "Sorry, I can't help with that here: I check order syncs, prices, uploads, product "
                "reports, pictures and store data. A person from customer service can help with the rest.",
                "抱歉，这个问题我在这里帮不上忙：我可以检查订单同步、价格、上传、商品报告、图片和店铺数据。"
                "其他问题可以由人工客服为您解答。",
            ),
            actions=[Action(ActionKind.TALK_TO_PERSON, say(language, "Talk to a person", "联系人工客服"))],
        )

    def help(self, language: Language, *, empty: bool) -> Reply:
        opening = (
            say(language, "I didn't catch a question there.", "我没有看到您的问题。")
            if empty
            else say(language, "Hi! I'm SellerDesk.", "您好！我是 SellerDesk。")
        )
        topics = [self.flow_title(flow, language) for flow in self._flows]
        return Reply(
            kind="message",
            language=language,
            text=opening
            + " "
            + say(
                language,
                'Ask me in your own words, for example "order 112-0000001-0000001 did not sync". '
                "I can check:",
                "请用您自己的话提问，例如“订单 112-0000001-0000001 没有同步”。我可以检查：",
            ),
            steps=topics,
        )

    def not_linked(self, language: Language) -> Reply:
        return Reply(
            kind="not_linked",
            language=language,
            text=say(
                language,
                "Your Slack account is not linked to a seller account yet. Ask your account owner for a "
                "link code and send `/sellerdesk link CODE`.",
                "您的 Slack 账号尚未关联卖家账号。请向账号所有者索取关联码，"
                "然后发送 `/sellerdesk link CODE`。",
            ),
        )

    def message(self, language: Language, en: str, zh: str) -> Reply:
        return Reply(kind="message", language=language, text=say(language, en, zh))

    def failure(self, language: Language) -> Reply:
        return Reply(
            kind="message",
            language=language,
            text=say(
                language,
                "Something went wrong on my side while checking that; nothing was changed. "
                "Please try again, or ask for a person.",
                "检查时我这边出了点问题，没有做任何更改。请重试，或联系人工客服。",
            ),
            actions=[Action(ActionKind.TALK_TO_PERSON, say(language, "Talk to a person", "联系人工客服"))],
        )
