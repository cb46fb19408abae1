"""Running the actions a diagnosis proposes: sync now, convert to RGB, reports, deletion, a person."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bot.conversation.replies import Replies
from bot.conversation.state import ConversationStore, Memory
from bot.conversation.types import Attachment, Reply, Speaker
from erp.models import AuditLog, FollowUp, PlatformReport, ReportStatus, Store
from erp.progress import SyncProgressCallback
from handlers.delete_store_data import perform_delete, perform_undo
from handlers.diagnosis import ActionKind, Language
from handlers.image_check import redacted_url
from handlers.services import Services
from handlers.sku_lookup import format_time, named_stores, visible_stores
from handlers.text import say
from knowledge.entities import Entities

# Runs a flow for an action (sync now runs the order flow): flow, key, speaker, entities,
# question, language, progress.
FlowRunner = Callable[[str, str, Speaker, Entities, str, Language, SyncProgressCallback | None], Reply]


class ActionRunner:
    """Carries out one proposed action for a speaker; every live action is audited."""

    def __init__(
        self, services: Services, store: ConversationStore, replies: Replies, run_flow: FlowRunner
    ) -> None:
        self.services = services
        self._store = store
        self._replies = replies
        self._run_flow = run_flow

    def run(
        self,
        kind: str,
        params: dict[str, str],
        speaker: Speaker,
        key: str,
        language: Language,
        progress: SyncProgressCallback | None,
    ) -> Reply:
        account_id = int(speaker.account_id or 0)
        if kind == ActionKind.SYNC_NOW:
            self._audit_foreign_sync(params.get("store", ""), speaker)
            entities = Entities(
                stores=[params["store"]] if params.get("store") else [],
                order_ids=[params["order_id"]] if params.get("order_id") else [],
            )
            return self._run_flow("orders_not_synced", key, speaker, entities, "", language, progress)
        if kind == ActionKind.CONVERT_RGB:
            return self._convert(
                params.get("url", ""), speaker, language, store_id=_int(params.get("store_id"))
            )
        if kind == ActionKind.REQUEST_REPORT:
            return self._request_report(params, speaker, language)
        if kind == ActionKind.NOTIFY_REPORT:
            return self._notify_report(params, speaker, key, language)
        if kind in (ActionKind.DELETE_STORE_DATA, ActionKind.UNDO_DELETE):
            store_id = _int(params.get("store_id"))
            if store_id is None:
                return self._replies.message(
                    language, "Which store? I did not get its id.", "请问是哪个店铺？没有收到店铺编号。"
                )
            perform = perform_delete if kind == ActionKind.DELETE_STORE_DATA else perform_undo
            diagnosis = perform(
                self.services,
                account_id=account_id,
                role=speaker.role,
                actor=speaker.actor,
                store_id=store_id,
                language=language,
            )
            if diagnosis.verdict == "explained":  # refused: keep a trace of who tried
                self._audit(speaker, str(kind), "refused", diagnosis.summary, store_id=store_id)
            self._store.save(key, Memory(language))  # the store changed: start afresh
            return Reply(
                kind="diagnosis",
                language=language,
                text=diagnosis.summary,
                flow="delete_store_data",
                diagnosis=diagnosis,
            )
        if kind == ActionKind.TALK_TO_PERSON:
            reason = params.get("reason", "")
            return Reply(
                kind="message",
                language=language,
                text=say(
                    language,
                    "I'm bringing in a person from customer service; they will reply here.",
                    "正在为您转接人工客服，客服会在这里回复您。",
                ),
                flow=params.get("flow") or None,
                escalate=True,
                escalate_reason=reason
                or say(language, "The seller asked for a person.", "卖家要求人工客服。"),
            )
        return self._replies.message(language, "I can't do that from here.", "这个操作无法在这里完成。")

    def _convert(
        self, url: str, speaker: Speaker, language: Language, *, store_id: int | None = None
    ) -> Reply:
        if not url.strip():
            return self._replies.message(
                language, "Which picture? I did not get its link.", "请问是哪张图片？没有收到链接。"
            )
        # The audit row names the picture (without query or credentials: signed links carry
        # secrets there) and its store, when the store is the seller's own.
        with self.services.sessions() as session:
            own = {s.id for s in visible_stores(session, int(speaker.account_id or 0))}
        store_id = store_id if store_id in own else None
        shown = redacted_url(url.strip())
        result, jpeg = self.services.images.convert_to_rgb(url.strip())
        if jpeg is None:
            self._audit(
                speaker,
                "convert_image",
                "failed",
                f"{shown}: {result.verdict}: {result.detail}"[:500],
                store_id=store_id,
            )
            return self._replies.message(
                language,
                f"I could not convert that picture: {result.detail or result.verdict}.",
                f"无法转换这张图片：{result.detail or result.verdict}。",
            )
        self._audit(
            speaker,
            "convert_image",
            "ok",
            f"{shown}: {result.mode} -> RGB, {len(jpeg)} bytes"[:500],
            store_id=store_id,
        )
        stem = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0][:60] or "picture"
        filename = f"{stem}-rgb.jpg"
        return Reply(
            kind="message",
            language=language,
            text=say(
                language,
                f"Here is the picture as an RGB JPEG ({filename}, was {result.mode or 'not RGB'}). "
                "Replace the picture on the product edit page with it and publish again.",
                f"这是转换为 RGB 的 JPEG 图片（{filename}，原为 {result.mode or '非 RGB'}）。"
                "请在商品编辑页面用它替换原图后重新发布。",
            ),
            flow="publish_image_error",
            files=[Attachment(filename=filename, content=jpeg, mime_type="image/jpeg", title=filename)],
        )

    def _request_report(self, params: dict[str, str], speaker: Speaker, language: Language) -> Reply:
        store_id = _int(params.get("store_id"))
        kind = params.get("kind") or "listings"
        with self.services.sessions() as session:
            stores = {s.id: s for s in visible_stores(session, int(speaker.account_id or 0))}
        store = stores.get(store_id) if store_id is not None else None
        if store is None:
            self._audit(
                speaker,
                "request_report",
                "refused",
                f"a {kind} report for store {params.get('store_id', '')!r}, not a store of this account"[
                    :500
                ],
                store_id=self._existing_store(store_id),
            )
            return self._replies.message(
                language, "I can't find that store in your account.", "您的账号里找不到这个店铺。"
            )
        report_id = self.services.reports.refresh(store.id or 0, kind, actor=speaker.actor)
        status = ""
        if report_id is not None:
            with self.services.sessions() as session:
                report = session.get(PlatformReport, report_id)
                status = report.status if report else ""
        if status == ReportStatus.DONE:
            return self._replies.message(
                language,
                f"A fresh {kind} report for {store.name} is imported; ask me again to see the new data.",
                f"{store.name} 的最新{kind}报告已导入，可以再问我一次查看新数据。",
            )
        return self._replies.message(
            language,
            f"I asked the platform for a fresh {kind} report for {store.name}; it is not ready yet "
            "(platforms can take a while). It will be imported as soon as it is.",
            f"已向平台申请 {store.name} 的最新{kind}报告，目前尚未生成（平台可能需要一些时间），"
            "生成后会自动导入。",
        )

    def _notify_report(self, params: dict[str, str], speaker: Speaker, key: str, language: Language) -> Reply:
        store_id = _int(params.get("store_id"))
        now = self.services.clock()
        due = self.services.schedule.next_run("report_import", now) or now + timedelta(days=1)
        place = _slack_place(key)
        if place is None:
            # Only Slack can be written to later; elsewhere the seller asks again themselves.
            return self._replies.message(
                language,
                f"The next report import is at {format_time(due)}; ask me again after that and I'll "
                "check what it shows.",
                f"下一次报告导入在 {format_time(due)}，之后再问我一次，我会检查报告的结果。",
            )
        team_id, channel, thread_ts = place
        with self.services.sessions() as session:
            stores = {s.id: s for s in visible_stores(session, int(speaker.account_id or 0))}
            store = stores.get(store_id) if store_id is not None else None
            session.add(
                FollowUp(
                    kind="report_landed",
                    account_id=int(speaker.account_id or 0),
                    store_id=store.id if store else None,
                    sku=params.get("sku", "")[:120],
                    language=language,
                    team_id=team_id[:40],
                    channel=channel[:40],
                    thread_ts=thread_ts[:40],
                    due_at=due,
                )
            )
            session.commit()
        return self._replies.message(
            language,
            f"I'll check again after the next report import ({format_time(due)}) and tell you what it shows.",
            f"我会在下一次报告导入（{format_time(due)}）后再检查一次，并告诉您结果。",
        )

    def _audit_foreign_sync(self, name: str, speaker: Speaker) -> None:
        """Audit a sync asked for a store the account does not have (another's, or none)."""
        if not name.strip():
            return
        with self.services.sessions() as session:
            stores = visible_stores(session, int(speaker.account_id or 0))
        _, unknown = named_stores(stores, [name])
        if unknown:
            detail = f"sync requested for {name.strip()[:120]!r}, not a store of this account"
            self._audit(speaker, "sync_orders", "refused", detail)

    def _existing_store(self, store_id: int | None) -> int | None:
        """`store_id` when such a store exists (the audit row may name it), else None."""
        if store_id is None:
            return None
        with self.services.sessions() as session:
            return store_id if session.get(Store, store_id) is not None else None

    def _audit(
        self, speaker: Speaker, action: str, result: str, detail: str, *, store_id: int | None = None
    ) -> None:
        with self.services.sessions() as session:
            session.add(
                AuditLog(
                    at=self.services.clock(),
                    actor=speaker.actor,
                    account_id=speaker.account_id,
                    store_id=store_id,
                    action=action,
                    result=result,
                    detail=detail,
                )
            )
            session.commit()


def _slack_place(key: str) -> tuple[str, str, str] | None:
    """(team, channel, thread) of a Slack conversation key "slack:T1:C1:U1[:thread]"; None otherwise."""
    parts = key.split(":")
    if len(parts) < 4 or parts[0] != "slack" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2], parts[4] if len(parts) > 4 else ""


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
