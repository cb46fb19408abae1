"""What a case carries: the diagnosis as stored data, and the account snapshot when there is none.

A case must keep its evidence through every re-render (Take, Resolve, Reopen) and through a
delayed delivery, so the diagnosis is stored with the case as JSON, thumbnails included.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from erp.models import AuthStatus, Store, SyncRun, SyncStatus
from handlers.diagnosis import CheckStatus, Diagnosis, Finding, ImageEvidence, Language, Table
from handlers.text import say

SNAPSHOT_FLOW = "account_snapshot"
RECENT_FAILURES = timedelta(days=7)
MAX_SNAPSHOT_STORES = 30


def diagnosis_state(diagnosis: Diagnosis | None) -> dict[str, object]:
    """The diagnosis as JSON-safe data, thumbnails kept (base64): {} for none."""
    if diagnosis is None:
        return {}
    data = asdict(diagnosis)
    for image in data["images"]:
        thumb = image.get("thumbnail_png")
        image["thumbnail_png"] = base64.b64encode(thumb).decode() if thumb else None
    return data


def diagnosis_from_state(state: Mapping[str, Any] | None) -> Diagnosis | None:
    """The stored diagnosis back as a `Diagnosis`; None when nothing (or nothing readable) is stored."""
    if not state or not state.get("flow"):
        return None
    try:
        images = []
        for raw in state.get("images") or []:
            image = dict(raw)
            thumb = image.get("thumbnail_png")
            image["thumbnail_png"] = base64.b64decode(thumb) if thumb else None
            images.append(ImageEvidence(**image))
        language: Language = "zh" if state.get("language") == "zh" else "en"
        return Diagnosis(
            flow=str(state["flow"]),
            verdict=str(state.get("verdict") or ""),
            summary=str(state.get("summary") or ""),
            language=language,
            findings=[
                Finding(str(f["check"]), str(f["result"]), CheckStatus(f["status"]))
                for f in state.get("findings") or []
            ],
            tables=[
                Table(
                    str(t["title"]), [str(c) for c in t["columns"]], [[str(v) for v in r] for r in t["rows"]]
                )
                for t in state.get("tables") or []
            ],
            images=images,
            next_steps=[str(step) for step in state.get("next_steps") or []],
            escalate=bool(state.get("escalate")),
            escalate_reason=str(state.get("escalate_reason") or ""),
            store=_optional(state.get("store")),
            sku=_optional(state.get("sku")),
            order_id=_optional(state.get("order_id")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _optional(value: object) -> str | None:
    return str(value) if value else None


def _when(moment: datetime | None, language: Language) -> str:
    if moment is None:
        return say(language, "never", "从未")
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def account_snapshot(session: Session, account_id: int, *, now: datetime, language: Language) -> Diagnosis:
    """The account's state for a case that points to no check: stores, authorization, last sync
    and report times, and the recent failures, so the agent starts from facts, not from zero."""
    stores = list(
        session.exec(
            select(Store)
            .where(Store.account_id == account_id, col(Store.deleted_at).is_(None))
            .order_by(col(Store.name))
            .limit(MAX_SNAPSHOT_STORES)
        )
    )
    findings: list[Finding] = []
    rows: list[list[str]] = []
    for store in stores:
        authorized = store.auth_status == AuthStatus.AUTHORIZED
        problems = [
            text
            for text in (
                "" if authorized else f"{store.auth_status}: {store.auth_error}".strip(": "),
                store.last_order_sync_error,
                store.last_report_import_error,
            )
            if text
        ]
        findings.append(
            Finding(
                f"{store.name} ({store.platform} {store.region})".replace(" )", ")"),
                "; ".join(problems) or say(language, "authorized, no recent failure", "已授权，近期无失败"),
                CheckStatus.PROBLEM if problems else CheckStatus.OK,
            )
        )
        rows.append(
            [
                store.name,
                store.auth_status,
                _when(store.last_order_sync_at, language),
                _when(store.last_report_import_at, language),
            ]
        )
    store_ids = [store.id for store in stores if store.id is not None]
    failures: list[list[str]] = []
    if store_ids:
        names = {store.id: store.name for store in stores}
        runs = session.exec(
            select(SyncRun)
            .where(
                col(SyncRun.store_id).in_(store_ids),
                SyncRun.status == SyncStatus.FAILED.value,
                col(SyncRun.started_at) >= now - RECENT_FAILURES,
            )
            .order_by(col(SyncRun.started_at).desc())
            .limit(10)
        )
        failures = [
            [names.get(run.store_id, ""), _when(run.started_at, language), run.error[:200]] for run in runs
        ]
    tables = [
        Table(
            say(language, "Stores", "店铺"),
            [
                say(language, "store", "店铺"),
                say(language, "authorization", "授权"),
                say(language, "last order sync", "上次订单同步"),
                say(language, "last report import", "上次报告导入"),
            ],
            rows,
        )
    ]
    if failures:
        tables.append(
            Table(
                say(language, "Recent sync failures", "近期同步失败"),
                [
                    say(language, "store", "店铺"),
                    say(language, "when", "时间"),
                    say(language, "error", "错误"),
                ],
                failures,
            )
        )
    troubled = sum(1 for finding in findings if finding.status is CheckStatus.PROBLEM)
    return Diagnosis(
        flow=SNAPSHOT_FLOW,
        verdict="snapshot",
        summary=say(
            language,
            f"Account snapshot: {len(stores)} stores, {troubled} with a problem.",
            f"账号概况：{len(stores)} 个店铺，其中 {troubled} 个有问题。",
        ),
        language=language,
        findings=findings,
        tables=tables,
    )
