"""The conversation's own answers: explanations, clarifying questions, help, refusals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.conversation.policy import PERSON
from bot.conversation.types import Reply
from handlers.diagnosis import Action, ActionKind, Choice, DetailRequest, Language
from handlers.text import say

# What the bot can be asked, shown when it cannot help with a question (one per kind of check).
EXAMPLES: dict[Language, tuple[str, ...]] = {
    "en": (
        "order 112-0000001-0000001 did not sync",
        "I changed the price of my SKU but it still shows the old one",
        "publishing my SKU says the picture is wrong",
    ),
    "zh": (
        "订单 112-0000001-0000001 没有同步",
        "我改了 SKU 的价格，怎么还是原价",
        "刊登时提示图片错误",
    ),
}
# What each detail is called when the bot offers a live check after explaining.
_DETAIL_OFFER: dict[str, tuple[str, str]] = {
    "sku": ("Tell me the SKU and I'll check where it is.", "告诉我 SKU，我来查一下它现在卡在哪一步。"),
    "order_id": (
        "Send me the order number and I'll look for it in your stores.",
        "把订单号发给我，我来在您的店铺里查找。",
    ),
    "image_url": ("Send me the picture's link and I'll check it.", "把图片链接发给我，我来检查。"),
    "store": ("Tell me which store and I'll show what it holds.", "告诉我是哪个店铺，我来查看它的数据。"),
}
_DETAIL_NAME: dict[str, tuple[str, str]] = {
    "sku": ("one of your SKUs", "您的 SKU"),
    "order_id": ("an order number", "订单号"),
    "image_url": ("a picture link or SKU", "图片链接或 SKU"),
    "store": ("one of your stores", "您的店铺名称"),
}


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

    def explain(
        self,
        flow: str,
        language: Language,
        detail_request: DetailRequest | None = None,
        *,
        why: bool = False,
        actions: Sequence[Action] = (),
    ) -> Reply:
        """The flow's explanation and steps; `why`: its facts instead (the reasons behind a verdict)."""
        text = self._knowledge.flow(flow).text(language)
        return Reply(
            kind="explain",
            language=language,
            text=str(text.explanation),
            flow=flow,
            title=str(text.title),
            steps=list(text.facts if why and text.facts else text.steps),
            detail_request=detail_request,
            choices=list(detail_request.choices) if detail_request else [],
            actions=list(actions),
        )

    def offer(self, flow: str, language: Language) -> DetailRequest:
        """The live check offered after a general answer, when asking costs nothing to build."""
        detail = (self.required_details(flow) or ["sku"])[0]
        en, zh = _DETAIL_OFFER.get(detail, _DETAIL_OFFER["sku"])
        return DetailRequest(flow=flow, detail=detail, prompt=say(language, en, zh), language=language)  # type: ignore[arg-type]

    def offer_prompt(self, detail: str, language: Language) -> str:
        en, zh = _DETAIL_OFFER.get(detail, _DETAIL_OFFER["sku"])
        return say(language, en, zh)

    def not_recognised(self, detail: str, said: str, language: Language) -> str:
        """One line before the question is asked again: what was not taken as its answer."""
        en, zh = _DETAIL_NAME.get(detail, ("an answer", "答案"))
        shown = said if len(said) <= 40 else said[:39] + "…"
        return say(
            language,
            f"I couldn't match “{shown}” to {en}. (Say cancel to drop this question.)",
            f"无法把“{shown}”对应到{zh}。（回复“算了”可以放弃这个问题。）",
        )

    def clarify(self, language: Language, flows: Sequence[str]) -> Reply:
        choices = [
            Choice(
                value=flow,
                label=say(language, "Something else: talk to a person", "都不是：联系人工客服")
                if flow == PERSON
                else self.flow_title(flow, language),
            )
            for flow in flows
        ]
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
            )
            + "\n"
            + say(language, "You could ask me, for example:", "您可以这样问我，例如：")
            # In the text itself, so every surface (Slack's message blocks too) shows them.
            + "".join(f"\n  - {example}" for example in EXAMPLES[language]),
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
            + say(language, " ", "")  # Chinese sentences follow each other without a space
            + say(
                language,
                'Ask me in your own words, for example "order 112-0000001-0000001 did not sync". '
                "I can check:",
                "请用您自己的话提问，例如“订单 112-0000001-0000001 没有同步”。我可以检查：",
            )
            # The topics are part of the text: every surface shows them, before anything added.
            + "".join(f"\n  - {topic}" for topic in topics),
        )

    def act(self, act: str, language: Language, waiting: str = "", *, offer: str = "") -> Reply:
        """A short answer to a greeting, thanks or "still not working" with nothing to go on.

        Args:
            waiting: the question still open, repeated so the seller knows where they are.
            offer: the open question as a one-line offer (after thanks, not a reminder).
        """
        if act == "help":
            reply = self.help(language, empty=False)
        elif act == "greeting":
            reply = self.message(
                language,
                "Hi! Tell me what is wrong in your own words and I'll check it.",
                "您好！请直接告诉我遇到了什么问题，我来帮您检查。",
            )
        elif act == "thanks":
            reply = self.message(language, "You're welcome! Ask me any time.", "不客气！有问题随时问我。")
        elif act == "acknowledged":  # "ok", "got it", "收到": nothing to be welcome for
            reply = self.message(language, "OK! Ask me any time.", "好的，有问题随时问我。")
        else:
            reply = self.message(
                language,
                "Sorry to hear that. What is not working? Tell me in your own words, with the SKU, "
                "order number or picture link if you have it.",
                "抱歉。请告诉我是什么问题没有解决，如果有 SKU、订单号或图片链接，请一起发给我。",
            )
        if offer:
            reply.text += "\n" + offer
        if waiting:
            reply.text += "\n" + say(
                language,
                f"I'm still waiting for: {waiting} (say cancel to drop it)",
                f"我还在等您回答：{waiting}（回复“算了”可以放弃）",
            )
        return reply

    def cancelled(self, language: Language, *, had_pending: bool, had_last: bool = False) -> Reply:
        """ "Cancel": what was dropped, so a seller who was just offered an action knows it will
        not happen (saying "nothing was in progress" right after an offer reads as not listening)."""
        if had_pending:
            return self.message(
                language,
                "OK, I dropped that question. Ask me anything else.",
                "好的，这个问题已取消。有其他问题随时问我。",
            )
        if had_last:
            return self.message(
                language,
                "OK, I'll leave the last check there and won't do anything more about it. "
                "Ask me anything else.",
                "好的，上一次的检查就到这里，我不会再做其他操作。有其他问题随时问我。",
            )
        return self.message(
            language,
            "OK. Nothing was in progress; ask me anything.",
            "好的，目前没有进行中的问题，有问题随时问我。",
        )

    def escalated(
        self,
        language: Language,
        flow: str | None,
        last_summary: str,
        said: str,
        *,
        summary_language: Language | None = None,
    ) -> Reply:
        """A person is brought in at once, with the seller's words and the last diagnosis.

        The seller reads the last diagnosis's summary only when it was written in the language
        they now write in (a seller who switches to 转人工 reads no English sentence).
        """
        text = say(
            language,
            "I'm bringing in a person from customer service; they will reply here.",
            "正在为您转接人工客服，客服会在这里回复您。",
        )
        if last_summary and (summary_language or language) == language:
            text += say(language, " I'm passing on what I found: ", "我会把检查结果一并转交：") + last_summary
        elif last_summary:
            text += say(language, " I'm passing on what I found.", "我会把上一次的检查结果一并转交。")
        reason = say(language, "The seller asked for a person.", "卖家要求人工客服。")
        if said:
            reason += say(language, " They wrote: ", " 卖家原话：") + said[:300]
        if last_summary:
            reason += say(language, " Last check: ", " 上一次检查：") + last_summary
        return Reply(
            kind="message", language=language, text=text, flow=flow, escalate=True, escalate_reason=reason
        )

    def offer_person(self, language: Language, flow: str, last_summary: str) -> Reply:
        """ "Still not working" right after a diagnosis: a person, with the diagnosis attached."""
        reason = say(language, "Still not solved after: ", "检查后仍未解决：") + last_summary
        return Reply(
            kind="message",
            language=language,
            text=say(
                language,
                "Sorry that did not solve it. My last check found: ",
                "抱歉没能解决。我上一次检查的结果：",
            )
            + last_summary
            + say(
                language,
                " I can hand this to a person with everything I found, or check again in a while.",
                "我可以把检查结果转交人工客服，或者稍后再帮您检查一次。",
            ),
            flow=flow,
            actions=[
                Action(
                    ActionKind.TALK_TO_PERSON,
                    say(language, "Talk to a person", "联系人工客服"),
                    {"flow": flow, "reason": reason[:500]},
                )
            ],
        )

    def ask_store(self, flow: str, language: Language, stores: Sequence[str]) -> DetailRequest:
        return DetailRequest(
            flow=flow,
            detail="store",
            prompt=say(language, "Which store should I check?", "请问要检查哪个店铺？"),
            language=language,
            choices=[Choice(value=store, label=store) for store in stores],
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
