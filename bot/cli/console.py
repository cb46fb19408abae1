"""`console [--user U] [--account A]`: chat with the bot in the terminal as a linked seller.

The main job when no Slack credentials are set. On an empty database it seeds the embedded demo
and starts its sandbox platforms, then chats: with a prompt, line editing and history on a
terminal (the standard library's readline), or one answer block per line when questions are
piped in. Numbered choices and actions are answered by their number; `help` says what the bot
can check, `more` shows the last answer's details, `quit` ends. Each run is a new conversation:
a question left open by an earlier run is not revived. The conversation itself lives in
`bot/conversation/`, the layout in `bot/render/text.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, TextIO

from bot.cli.common import EXIT_OK, fail

logger = logging.getLogger(__name__)

CONSOLE_TEAM = "console"  # SlackIdentity.team_id of identities that use the console
_QUIT = {"quit", "exit", "bye", "q", "退出", "再见", ":q"}
_MORE = {"more", "details", "更多", "详情", "详细"}
_HELP = {"help", "?", "帮助", "菜单", "menu"}
HISTORY_FILE = "console-history"
HISTORY_LENGTH = 500
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_FALLBACK_EXAMPLES = (
    "order 112-0000001-0000001 did not sync",
    "图片显示不出来 https://…/picture.jpg",
    "publishing SKU-123 says the picture is wrong",
    "怎么删除店铺的数据",
)


def add_parser(subparsers: Any) -> list[str]:
    parser = subparsers.add_parser(
        "console",
        help="chat with the bot in the terminal as a linked seller (the embedded demo on an empty database)",
        description="Chat with SellerDesk in the terminal. Questions can be piped on stdin, one a line; "
        "each gets one answer block. Answer numbered options with their number; 'quit' ends.",
    )
    parser.add_argument("--user", default="demo", help="the console user to chat as (default: demo)")
    parser.add_argument("--account", default=None, help="the seller account (default: the user's)")
    return ["console"]


def run(args: argparse.Namespace, components: Any) -> int:
    """Run the console until `quit` or end of input; never shows a traceback."""
    _tolerant_streams()
    if not os.environ.get("SELLERDESK_LOG_LEVEL"):
        # The terminal is the seller's conversation: warnings the answers already explain (an
        # expired store's failed sync) would only be noise there.
        logging.getLogger().setLevel(logging.ERROR)
    try:
        with _demo_platforms(components) as demo_info:
            speaker = _resolve_speaker(components, args.user, args.account)
            if isinstance(speaker, str):
                return fail(speaker)
            session = ConsoleSession(
                components, speaker, sys.stdin, sys.stdout, interactive=sys.stdin.isatty()
            )
            if session.interactive:
                session.banner(demo_info)
            with _line_editing(session.interactive, components.settings.data_dir):
                return session.loop()
    except KeyboardInterrupt:
        print(file=sys.stdout)  # noqa: T201  (leave the terminal on a fresh line)
        return EXIT_OK
    except BrokenPipeError:
        # `sellerdesk console | head`: the reader has gone. End quietly; the interpreter's own
        # flush at exit must not fail again on the closed pipe.
        _silence_stdout()
        return EXIT_OK
    except _ConsoleError as error:
        return fail(str(error))


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def _line_editing(interactive: bool, data_dir: str) -> Iterator[None]:
    """On a terminal: arrow keys, editing and a history kept between runs (readline)."""
    if not interactive:
        yield
        return
    try:
        import readline
    except ImportError:  # a Python built without readline still chats, without editing
        yield
        return
    path = os.path.join(data_dir, HISTORY_FILE)
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(HISTORY_LENGTH)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.makedirs(data_dir, exist_ok=True)
            readline.write_history_file(path)


class _ConsoleError(Exception):
    """The console cannot start; the message says why in one line."""


def _tolerant_streams() -> None:
    # Piped input may hold any bytes: undecodable ones become U+FFFD instead of an exception.
    for stream in (sys.stdin, sys.stdout):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")


@contextlib.contextmanager
def _demo_platforms(components: Any) -> Iterator[dict[str, Any]]:
    """Seed the demo into an empty database and run its embedded platforms for this session."""
    from sqlmodel import select

    from erp.models import Account

    try:
        with components.session() as session:
            has_data = session.exec(select(Account)).first() is not None
            has_demo = session.exec(select(Account).where(Account.name == "demo")).first() is not None
    except Exception as error:
        logger.exception("database not reachable")
        raise _ConsoleError(f"cannot open the database: {type(error).__name__}") from error
    if has_data and not has_demo:
        yield {}
        return
    try:
        demo: Any = importlib.import_module("erp.demo")
    except ImportError:
        logger.warning("the embedded demo is not available in this version")
        yield {}
        return
    if not has_data:
        demo.seed_demo(components)
    platforms = demo.start_embedded_platforms(components)
    try:
        allow = tuple(getattr(platforms, "allow_hosts", ()) or ())
        if allow:
            # Only for this run: the demo's picture host is on loopback, which is refused otherwise.
            settings = components.settings
            components.settings = replace(
                settings, fetch_allow=tuple(dict.fromkeys((*settings.fetch_allow, *allow)))
            )
        yield {"examples": _demo_examples(demo, getattr(platforms, "cdn_url", ""))}
    finally:
        stop = getattr(platforms, "stop", None) or getattr(platforms, "close", None)
        if stop is not None:
            stop()


def _resolve_speaker(components: Any, user: str, account_name: str | None) -> Any:
    """The console user as a `Speaker`, or a one-line reason why they cannot chat."""
    from sqlmodel import select

    from bot.conversation import Speaker
    from erp.models import Account, Role, SlackIdentity

    user = (user or "").strip()
    if not user:
        return "--user needs a name"
    with components.session() as session:
        identity = session.exec(
            select(SlackIdentity).where(SlackIdentity.team_id == CONSOLE_TEAM, SlackIdentity.user_id == user)
        ).first()
        account: Account | None = None
        role = Role.MEMBER.value
        if identity is not None and account_name is None:
            account = session.get(Account, identity.account_id)
            role = identity.role
        else:
            name = account_name or user
            account = session.exec(select(Account).where(Account.name == name)).first()
            if account is not None:
                # The account's own name is its owner at the console (the demo's `demo` user).
                role = Role.OWNER.value if user == account.name else Role.MEMBER.value
                if identity is not None and identity.account_id == account.id:
                    role = identity.role
        if account is None:
            wanted = account_name or user
            return f"no seller account named {wanted!r}; create one with 'account add' or run 'demo'"
        return Speaker(actor=f"console:{user}", account_id=account.id, role=role, user_id=user)


class ConsoleSession:
    """One console chat: reads lines, answers each with one block, remembers the numbered options.

    Args:
        components: the application's parts (the conversation, sessions, settings).
        speaker: who is chatting.
        stdin, stdout: the streams.
        interactive: a terminal: prompt, banner and live progress; otherwise plain blocks.
    """

    def __init__(
        self, components: Any, speaker: Any, stdin: TextIO, stdout: TextIO, *, interactive: bool
    ) -> None:
        from bot.conversation import Reply

        self.components = components
        self.speaker = speaker
        self.stdin = stdin
        self.stdout = stdout
        self.interactive = interactive
        self.key = f"console:{speaker.user_id}"
        self.last: Reply | None = None
        self.confirming: Any = None  # the delete action waiting for the store's name
        self.language = "en"  # of the line being answered: live progress speaks it too
        # Built now, the matcher read from its cache (or trained), before the first prompt: the
        # first answer is as quick as the ones after it.
        conversation = components.conversation
        forget = getattr(conversation, "forget", None)
        if forget is not None:
            # A new run is a new conversation: a question asked hours ago, whose numbered
            # options are gone with the last run, must not take this run's first line.
            forget(self.key)

    # -- output -----------------------------------------------------------------------------------

    def write(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def banner(self, demo_info: dict[str, Any]) -> None:
        """Who you are, your stores, what to try, in both languages."""
        from handlers.sku_lookup import visible_stores

        with self.components.session() as session:
            stores = visible_stores(session, self.speaker.account_id)
        listed = ", ".join(
            f"{s.name} ({s.platform}{', authorization expired' if s.auth_status != 'authorized' else ''})"
            for s in stores
        )
        examples = demo_info.get("examples") or list(_FALLBACK_EXAMPLES)
        self.write("SellerDesk console · 卖家助手")
        self.write(
            f"You are {self.speaker.user_id!r} ({self.speaker.role}). 您的店铺 / your stores: {listed or '-'}"
        )
        self.write("Ask in your own words, English or 中文. Try / 试试:")
        for example in examples:
            self.write(f"  {example}")
        self.write(
            "Type 'help' for what I can check, 'more' for an answer's details, 'quit' to leave. "
            "输入 help 查看帮助，more 查看详情，输入 quit 退出。"
        )
        self.write()

    def _progress(self, update: Any) -> None:
        if not self.interactive:
            return  # piped: one answer block per line, no live noise
        if self.language == "zh":
            state = "失败" if update.error else ("完成" if update.done else "同步中")
            self.write(f"  … {update.store}：{state}，{update.pages} 页，{update.fetched} 个订单")
            return
        state = "failed" if update.error else ("done" if update.done else "syncing")
        self.write(f"  … {update.store}: {state}, {update.pages} pages, {update.fetched} orders")

    # -- the loop -----------------------------------------------------------------------------------

    def loop(self) -> int:
        """Answer lines until `quit` or end of input."""
        while True:
            line = self._read()
            if line is None:
                return EXIT_OK
            if line.strip().casefold() in _QUIT:
                if self.interactive:
                    self.write("Bye! 再见！")
                return EXIT_OK
            try:
                self.answer(line)
            except BrokenPipeError:
                raise  # nobody reads any more: end (quietly, see `run`)
            except Exception:  # one bad turn must not end the chat
                logger.exception("console turn failed")
                self.write(
                    self._say(
                        "Something went wrong on my side; nothing was changed. Please try again.",
                        "我这边出了点问题，没有做任何更改，请重试。",
                    )
                )
            self.write()

    def _read(self) -> str | None:
        if self.interactive:
            try:
                return input("you> ")
            except EOFError:
                self.write()
                return None
        line = self.stdin.readline()
        if not line:
            return None
        return line.rstrip("\r\n")

    def answer(self, line: str) -> None:
        """Answer one line: a numbered option, a delete confirmation, or words for the conversation."""
        from bot.conversation import Turn
        from knowledge.language import detect_language

        conversation = self.components.conversation
        if _HAN.search(line) or len(_LATIN_WORD.findall(line)) >= 3:
            self.language = detect_language(line)  # a bare SKU or number keeps the language
        if self.confirming is not None:
            action, self.confirming = self.confirming, None
            store = action.params.get("store", "")
            if line.strip().casefold() == store.casefold() and store:
                self._show(self._action(action))
            else:
                self.write(self._say("Cancelled: nothing was deleted.", "已取消，未删除任何数据。"))
            return
        if self._details(line):
            return
        command = line.strip().casefold()
        if command in _MORE:
            self._more()
            return
        option = self._option(line)
        language = self.last.language if self.last is not None else None
        if option is None and self._out_of_range(line):
            count = self._option_count()
            if count == 1:  # one option: "from 1 to 1" would read oddly
                self.write(self._say("Please answer with 1.", "请回复编号 1。"))
            else:
                self.write(
                    self._say(
                        f"Please answer with a number from 1 to {count}.", f"请回复 1 到 {count} 之间的编号。"
                    )
                )
            return
        if option is not None:
            if option.action is not None:
                action = option.action
                if action.kind == "delete_store_data":
                    self._ask_confirmation(action)
                    return
                self._show(self._action(action))
                return
            last = self.last
            assert last is not None
            if last.kind == "clarify":
                turn = Turn(key=self.key, speaker=self.speaker, flow=option.choice, language=language)
            else:
                detail = last.detail_request.detail if last.detail_request else None
                turn = Turn(
                    key=self.key,
                    speaker=self.speaker,
                    detail=detail,
                    value=option.choice,
                    flow=None,
                    language=language,
                )
            self._show(conversation.respond(turn, progress=self._progress))
            return
        self._show(
            conversation.respond(Turn(key=self.key, speaker=self.speaker, text=line), progress=self._progress)
        )
        if command in _HELP:
            self.write(
                "At this console: a number picks an option, 'more' shows the last answer's details, "
                "'quit' leaves."
                if self.language != "zh"
                else "在控制台：输入编号选择选项，more 查看上一条回答的详情，quit 退出。"
            )

    def _more(self) -> None:
        """The last answer's details: the part a short answer leaves one step away."""
        from bot.render import text as text_render

        details = getattr(text_render, "render_details", None)
        shown = details(self.last) if details is not None and self.last is not None else ""
        if shown:
            self.write(shown)
        elif self.language == "zh":
            self.write("上一条回答没有更多详情了。")
        else:
            self.write("There are no more details for the last answer.")

    def _say(self, en: str, zh: str) -> str:
        """The console's own words in the conversation's language (the last answer's, else the
        language of the line being answered)."""
        language = self.last.language if self.last is not None else self.language
        return zh if language == "zh" else en

    def _details(self, line: str) -> bool:
        """`more` (or 更多): everything the last answer left out; True when that was the line."""
        from bot.render.text import DETAILS_WORDS, render_details

        if line.strip().casefold() not in DETAILS_WORDS or self.last is None:
            return False
        self.write(render_details(self.last))
        return True

    def _ask_confirmation(self, action: Any) -> None:
        # The console's version of Slack's confirmation modal: type the store's name.
        self.confirming = action
        store = action.params.get("store", "")
        self.write(
            self._say(
                f"This deletes the software's data of {store} (an export is kept; undo within 7 days). "
                f"Type the store's name ({store}) to confirm; anything else cancels.",
                f"将删除本软件中 {store} 的数据（会保留导出备份，7 天内可撤销）。"
                f"请输入店铺名称（{store}）确认，输入其他内容取消。",
            )
        )

    def _option_count(self) -> int:
        from bot.render.text import reply_options

        return len(reply_options(self.last)) if self.last is not None else 0

    def _out_of_range(self, line: str) -> bool:
        # A bare number after a reply with options is a mistyped option, not a question.
        text = line.strip().strip("[]()#.")
        return text.isdigit() and self._option_count() > 0

    def _option(self, line: str) -> Any:
        from bot.render.text import reply_options

        text = line.strip().strip("[]()#.")
        if not text.isdigit() or self.last is None:
            return None
        options = reply_options(self.last)
        number = int(text)
        return options[number - 1] if 1 <= number <= len(options) else None

    def _action(self, action: Any) -> Any:
        conversation = self.components.conversation
        language = self.last.language if self.last is not None else None
        return conversation.run_action(
            str(action.kind),
            dict(action.params),
            self.speaker,
            key=self.key,
            language=language,
            progress=self._progress,
        )

    def _show(self, reply: Any) -> None:
        from bot.render.text import render_reply

        self.language = reply.language
        self.write(render_reply(reply))
        for attached in reply.files:
            path = self._save(attached)
            if path:
                self.write(("已保存：" if reply.language == "zh" else "Saved: ") + path)
        self.last = reply

    def _save(self, attached: Any) -> str:
        directory = os.path.join(self.components.settings.data_dir, "console-files")
        try:
            os.makedirs(directory, exist_ok=True)
            name = os.path.basename(attached.filename) or "file"
            path = os.path.join(directory, name)
            with open(path, "wb") as out:
                out.write(attached.content)
            return path
        except OSError as error:
            self.write(
                self._say(
                    f"Could not save {attached.filename}: {error.strerror}", f"无法保存 {attached.filename}。"
                )
            )
            return ""


def _demo_examples(demo: Any, cdn_url: str) -> list[str]:
    """One question per flow from the demo's scenarios, every other one in Chinese."""
    picked: list[str] = []
    seen: set[str] = set()
    try:
        for (flow, _verdict), scenario in demo.DEMO_SCENARIOS.items():
            if flow in seen:
                continue
            seen.add(flow)
            question = demo.question_zh(scenario) if len(picked) % 2 else scenario.question
            picked.append(demo.scenario_text(question, cdn_url))
    except (AttributeError, TypeError, ValueError):
        logger.warning("the demo's scenarios could not be read")
        return []
    return picked
