"""The `upload_sku_missing` handler on a real database: every verdict from the seller's data."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from erp.models import ProductState, UploadStatus
from handlers import upload_sku_missing
from handlers.diagnosis import CheckStatus, DetailRequest, Diagnosis
from handlers.registry import FlowRequest
from tests.handler_services import add, ago, ask, make_seller, make_services, product, snapshot, upload


def _diagnose(engine: Engine, request: FlowRequest) -> Diagnosis:
    result = upload_sku_missing.handle(request, make_services(engine))
    assert isinstance(result, Diagnosis), result
    return result


def test_uploaded_record_is_present(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        product(seller.us, "UP-OK"),
        upload(seller.us, "UP-OK", UploadStatus.UPLOADED, at=ago(hours=5)),
    )
    before = snapshot(engine)

    diagnosis = _diagnose(engine, ask(seller.account, "UP-OK"))

    assert diagnosis.verdict == "present"
    assert "Amazon US" in diagnosis.summary and '"Uploaded"' in diagnosis.summary
    trail = diagnosis.tables[0]
    assert [row[0] for row in trail.rows] == ["product list", "upload record"]
    assert trail.rows[1][2] == "Uploaded" and "5 h ago" in trail.rows[1][3]
    assert snapshot(engine) == before


def test_failed_record_is_hidden_by_the_default_filter(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        product(seller.us, "UP-FAILED"),
        upload(seller.us, "UP-FAILED", UploadStatus.FAILED, at=ago(hours=2), error="Missing brand"),
    )

    english = _diagnose(engine, ask(seller.account, "UP-FAILED"))
    chinese = _diagnose(engine, ask(seller.account, "UP-FAILED", language="zh"))

    assert english.verdict == chinese.verdict == "hidden_by_filter"
    assert 'Pick "Failed"' in english.summary and "Missing brand" in english.summary
    assert "上传失败" in chinese.summary and "筛选" in chinese.summary
    filter_finding = english.findings[-1]
    assert filter_finding.status == CheckStatus.PROBLEM and '"Failed"' in filter_finding.result


def test_valid_product_never_uploaded_shows_under_not_uploaded(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(session, product(seller.us, "UP-NEVER"))

    diagnosis = _diagnose(engine, ask(seller.account, "UP-NEVER"))

    assert diagnosis.verdict == "hidden_by_filter"
    assert "has never been uploaded" in diagnosis.summary
    assert 'Pick "Not uploaded" in the upload status filter' in diagnosis.summary


def test_deleted_product_says_when(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        product(seller.us, "UP-DELETED", state=ProductState.DELETED, state_changed_at=ago(days=3)),
        upload(seller.us, "UP-DELETED", UploadStatus.UPLOADED, at=ago(days=10)),
    )

    diagnosis = _diagnose(engine, ask(seller.account, "UP-DELETED"))

    assert diagnosis.verdict == "deleted"
    assert "deleted" in diagnosis.summary and "3 days ago" in diagnosis.summary
    assert "2026-11-23 12:00 UTC" in diagnosis.summary


def test_changed_sku_names_the_new_one_and_its_records(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        product(
            seller.us,
            "UP-OLD",
            state=ProductState.CHANGED,
            changed_to_sku="UP-NEW",
            state_changed_at=ago(days=1),
        ),
        product(seller.us, "UP-NEW"),
        upload(seller.us, "UP-NEW", UploadStatus.UPLOADING, at=ago(hours=3)),
    )

    diagnosis = _diagnose(engine, ask(seller.account, "UP-OLD"))

    assert diagnosis.verdict == "changed"
    assert "changed to UP-NEW" in diagnosis.summary and "24 h ago" in diagnosis.summary
    assert any("UP-NEW" in finding.check and finding.result == "Uploading" for finding in diagnosis.findings)
    assert any('"Uploading"' in step for step in diagnosis.next_steps)


def test_near_spellings_are_offered_when_the_sku_is_not_in_the_product_list(
    engine: Engine, session: Session
) -> None:
    seller = make_seller(session)
    add(
        session,
        product(seller.us, "DEMO-UP-OK"),
        product(seller.neighbour_store, "DEMO-UP-0K"),  # another account's near match stays hidden
    )

    for typed in ("demo_up_ok", "DEMO-UP-0K", "Demo Up Ok"):
        diagnosis = _diagnose(engine, ask(seller.account, typed))
        assert diagnosis.verdict == "not_in_product_list", typed
        assert "Did you mean DEMO-UP-OK (Amazon US)?" in diagnosis.summary
        assert [row[0] for row in diagnosis.tables[0].rows] == ["DEMO-UP-OK"]


def test_renamed_sku_is_a_near_match_of_its_new_name(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(session, product(seller.us, "SHIRT-1", state=ProductState.CHANGED, changed_to_sku="SHIRT-1-BLUE"))

    diagnosis = _diagnose(engine, ask(seller.account, "SHIRT-1-BLUE"))

    assert diagnosis.verdict == "not_in_product_list"
    assert "SHIRT-1 (Amazon US)" in diagnosis.summary


def test_other_accounts_sku_looks_unknown(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(session, product(seller.neighbour_store, "THEIRS"))
    add(session, upload(seller.neighbour_store, "THEIRS", UploadStatus.UPLOADED, at=ago(hours=1)))

    theirs = _diagnose(engine, ask(seller.account, "THEIRS"))
    unknown = _diagnose(engine, ask(seller.account, "NOBODY"))

    assert theirs.verdict == unknown.verdict == "not_in_product_list"
    assert theirs.summary.replace("THEIRS", "X") == unknown.summary.replace("NOBODY", "X")
    assert theirs.tables == unknown.tables == []


def test_missing_sku_lists_recent_uploads(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(
        session,
        upload(seller.us, "OLDER", UploadStatus.UPLOADED, at=ago(days=2)),
        upload(seller.de, "NEWER", UploadStatus.FAILED, at=ago(hours=1)),
        upload(seller.neighbour_store, "THEIRS", UploadStatus.FAILED, at=ago(minutes=1)),
    )

    result = upload_sku_missing.handle(ask(seller.account), make_services(engine))

    assert isinstance(result, DetailRequest) and result.detail == "sku"
    assert [choice.value for choice in result.choices] == ["NEWER", "OLDER"]
    assert result.choices[0].label == "NEWER · Amazon DE · failed"


def test_sku_in_two_stores_asks_which(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(session, product(seller.us, "TWIN"), product(seller.de, "TWIN", state=ProductState.DELETED))
    services = make_services(engine)

    question = upload_sku_missing.handle(ask(seller.account, "TWIN", language="zh"), services)
    answer = upload_sku_missing.handle(ask(seller.account, "TWIN", stores=["Amazon DE"]), services)

    assert isinstance(question, DetailRequest) and question.detail == "store"
    assert "多个店铺" in question.prompt
    assert isinstance(answer, Diagnosis) and (answer.verdict, answer.store) == ("deleted", "Amazon DE")


def test_sku_in_another_of_the_sellers_stores_says_which(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(session, product(seller.us, "ONLY-US"), product(seller.neighbour_store, "ONLY-US"))

    diagnosis = _diagnose(engine, ask(seller.account, "ONLY-US", stores=["Amazon DE"]))

    assert diagnosis.verdict == "not_in_product_list"
    assert diagnosis.store == "Amazon DE"
    assert diagnosis.summary.endswith(
        "It is in the product list of Amazon US: pick that store on the upload page."
    )


def test_odd_input_gets_a_friendly_answer(engine: Engine, session: Session) -> None:
    seller = make_seller(session)
    add(session, product(seller.us, "UP-OK"))
    services = make_services(engine)

    pasted = upload_sku_missing.handle(ask(seller.account, "X" * 5000), services)
    quoted = upload_sku_missing.handle(ask(seller.account, "'; DROP TABLE product; --"), services)
    blank = upload_sku_missing.handle(ask(seller.account, "   "), services)

    assert isinstance(pasted, Diagnosis) and pasted.verdict == "not_in_product_list"
    assert len(pasted.summary) < 400
    assert isinstance(quoted, Diagnosis) and quoted.verdict == "not_in_product_list"
    assert isinstance(blank, DetailRequest) and blank.detail == "sku"
    assert _diagnose(engine, ask(seller.account, "UP-OK")).verdict == "hidden_by_filter"
