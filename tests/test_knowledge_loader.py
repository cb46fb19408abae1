"""The knowledge files: complete, bilingual, seller-like, and validated loudly when malformed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from handlers.verdicts import FLOW_IDS
from knowledge import loader
from knowledge.language import detect_language
from knowledge.loader import DEFAULT_DIRECTORY, KnowledgeBase, KnowledgeError, load_knowledge

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge()


def _all_text(kb: KnowledgeBase, flow_id: str, language: str) -> str:
    text = kb.flow(flow_id).text(language)
    return " ".join([text.title, text.explanation, *text.facts, *text.steps])


def test_flows_are_the_contract_ids_in_order(kb: KnowledgeBase) -> None:
    assert loader.FLOW_IDS == FLOW_IDS
    assert tuple(kb.flows) == FLOW_IDS
    for flow_id, flow in kb.flows.items():
        assert flow.id == flow_id


@pytest.mark.parametrize("flow_id", FLOW_IDS)
def test_each_flow_has_enough_seller_examples_and_chinese(kb: KnowledgeBase, flow_id: str) -> None:
    examples = kb.flow(flow_id).examples
    chinese = [example for example in examples if CJK.search(example)]
    assert len(examples) >= 150
    assert len(chinese) / len(examples) >= 1 / 3
    # Written as sellers write: some carry SKUs, order ids or URLs, some mix scripts.
    mixed = [e for e in chinese if re.search(r"[A-Za-z]{2,}", e)]
    assert mixed, f"{flow_id} has no mixed Chinese-English example"


def test_out_of_scope_set_is_large_and_bilingual(kb: KnowledgeBase) -> None:
    assert len(kb.out_of_scope) >= 300
    assert sum(1 for e in kb.out_of_scope if CJK.search(e)) >= 100
    flow_examples = {e for flow in kb.flows.values() for e in flow.examples}
    assert not flow_examples & set(kb.out_of_scope)


def test_no_example_is_claimed_by_two_flows(kb: KnowledgeBase) -> None:
    seen: dict[str, str] = {}
    for flow_id, flow in kb.flows.items():
        for example in flow.examples:
            assert example not in seen, f"{example!r} in {seen.get(example)} and {flow_id}"
            seen[example] = flow_id


@pytest.mark.parametrize(
    ("flow_id", "english", "chinese"),
    [
        (
            "price_not_updated",
            ["approves", "front", "nightly report", "1-2 days"],
            ["审核", "前台", "每晚", "1-2 天"],
        ),
        (
            "upload_sku_missing",
            ["built from the product list", "invalid", "deleted", "changed", "upload status filter"],
            ["产品列表", "无效", "删除", "修改", "上传状态筛选"],
        ),
        (
            "image_grab",
            ["every night", "no picture", "picture publishing system", "7 days", "30 days", '"normal"'],
            ["每晚", "没有图片", "图片发布系统", "7 天", "30 天", "正常"],
        ),
        (
            "product_sku_missing",
            ["report", "every night", "omits", "product report", "inventory report", "lag"],
            ["报告", "每晚", "产品报告", "库存报告", "滞后"],
        ),
        (
            "orders_not_synced",
            ["not real time", "Pending review", "Pending", "many stores", '"All orders"', "screenshots"],
            ["不是实时", "待审核", "待处理", "店铺多", "全部订单", "截图"],
        ),
        (
            "image_not_displaying",
            ["opens elsewhere", "network", "added again", "split"],
            ["别处", "网络", "重新添加", "裂图"],
        ),
        (
            "publish_image_error",
            ["lost", "cannot be opened", "unstable", "RGB", "product edit page"],
            ["丢失", "打不开", "不稳定", "RGB", "产品编辑页"],
        ),
        (
            "delete_store_data",
            ["only the software's own", "untouched", "Platform authorization", "More", "Delete", "OK"],
            ["只删除", "不受影响", "平台授权", "更多", "删除", "确定"],
        ),
    ],
)
def test_every_design_fact_is_in_both_languages(
    kb: KnowledgeBase, flow_id: str, english: list[str], chinese: list[str]
) -> None:
    en = _all_text(kb, flow_id, "en")
    zh = _all_text(kb, flow_id, "zh")
    assert [phrase for phrase in english if phrase not in en] == []
    assert [phrase for phrase in chinese if phrase not in zh] == []
    assert detect_language(zh) == "zh"
    assert detect_language(en) == "en"


def test_delete_store_data_click_path_in_order(kb: KnowledgeBase) -> None:
    steps = " ".join(kb.flow("delete_store_data").text("en").steps)
    positions = [
        steps.index(word) for word in ("user name", "Platform authorization", "icon", "More", "Delete", "OK")
    ]
    assert positions == sorted(positions)


def test_details_name_what_each_flow_needs(kb: KnowledgeBase) -> None:
    assert kb.flow("orders_not_synced").required_details == ["order_id"]
    assert kb.flow("image_not_displaying").required_details == ["image_url"]
    assert kb.flow("delete_store_data").required_details == ["store"]
    for flow_id in ("price_not_updated", "upload_sku_missing", "product_sku_missing", "image_grab"):
        assert kb.flow(flow_id).required_details == ["sku"]
    assert all(flow.escalation for flow in kb.flows.values())


def test_unknown_language_falls_back_to_english(kb: KnowledgeBase) -> None:
    assert kb.flow("image_grab").text("fr") == kb.flow("image_grab").text("en")
    assert kb.flow("image_grab").text("zh").title == "产品图片什么时候抓取"


def test_digest_identifies_the_files(tmp_path: Path, kb: KnowledgeBase) -> None:
    copy = _copy_flows(tmp_path)
    assert load_knowledge(copy).digest == kb.digest
    _edit(copy / "out_of_scope.toml", '  "hello",\n', '  "hello",\n  "hello again",\n')
    assert load_knowledge(copy).digest != kb.digest


# --- validation: each malformed file names the file and the field -----------------------------


def _copy_flows(tmp_path: Path) -> Path:
    target = tmp_path / "flows"
    shutil.copytree(DEFAULT_DIRECTORY, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _steps_block(path: Path, table: str) -> str:
    text = path.read_text(encoding="utf-8")
    section = text[text.index(f"[{table}]") :]
    start = section.index("steps = [")
    return section[start : section.index("]\n", start) + 2]


def test_steps_that_are_not_a_list_name_file_and_field(tmp_path: Path) -> None:
    flows = _copy_flows(tmp_path)
    path = flows / "price_not_updated.toml"
    _edit(path, _steps_block(path, "en"), 'steps = "click save"\n')
    with pytest.raises(
        KnowledgeError, match=r"^price_not_updated\.toml: en\.steps must be a non-empty list of strings$"
    ):
        load_knowledge(flows)


def test_empty_steps_name_file_and_field(tmp_path: Path) -> None:
    flows = _copy_flows(tmp_path)
    path = flows / "image_grab.toml"
    _edit(path, _steps_block(path, "zh"), "steps = []\n")
    with pytest.raises(KnowledgeError, match=r"image_grab\.toml: zh\.steps must be a non-empty list"):
        load_knowledge(flows)


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "orders_not_synced.toml",
            'id = "orders_not_synced"',
            'id = "orders"',
            r"orders_not_synced\.toml: id must be",
        ),
        (
            "image_grab.toml",
            'required = ["sku"]',
            'required = ["asin"]',
            r"image_grab\.toml: details\.required has unknown detail 'asin'",
        ),
        (
            "image_grab.toml",
            'required = ["sku"]',
            "required = []",
            r"image_grab\.toml: details\.required must name",
        ),
        (
            "image_grab.toml",
            'optional = ["store"]',
            'optional = ["store", "sku"]',
            r"image_grab\.toml: details\.optional repeats",
        ),
        (
            "delete_store_data.toml",
            'title = "How to delete a store\'s data"',
            "title = 3",
            r"delete_store_data\.toml: en\.title must be a non-empty string",
        ),
        (
            "delete_store_data.toml",
            'title = "如何删除店铺数据"',
            'title = "  "',
            r"delete_store_data\.toml: zh\.title must be",
        ),
        (
            "publish_image_error.toml",
            "[zh]",
            "[zh_cn]",
            r"publish_image_error\.toml: zh_cn is not a known field",
        ),
        (
            "publish_image_error.toml",
            "facts = [",
            "fact = [",
            r"publish_image_error\.toml: en\.fact is not a known field",
        ),
        (
            "price_not_updated.toml",
            "examples = [",
            "examples = [\n  42,",
            r"price_not_updated\.toml: examples must be a non-empty list of strings",
        ),
        (
            "price_not_updated.toml",
            "examples = [",
            'examples = [\n  "price didnt update",',
            r"price_not_updated\.toml: examples repeats 'price didnt update'",
        ),
        (
            "upload_sku_missing.toml",
            "escalation = ",
            "escalation_ = ",
            r"upload_sku_missing\.toml: details\.escalation_ is not a known field",
        ),
        (
            "out_of_scope.toml",
            "examples = [",
            "examples = [\n  [],",
            r"out_of_scope\.toml: examples must be a non-empty list of strings",
        ),
        (
            "product_sku_missing.toml",
            "[details]",
            "[details",
            r"product_sku_missing\.toml: is not valid TOML",
        ),
        (
            "image_not_displaying.toml",
            "[details]\n",
            "details = 1\n[x]\n",
            r"image_not_displaying\.toml: x is not a known field",
        ),
    ],
)
def test_malformed_field_is_named(tmp_path: Path, file: str, old: str, new: str, message: str) -> None:
    flows = _copy_flows(tmp_path)
    _edit(flows / file, old, new)
    with pytest.raises(KnowledgeError, match=message):
        load_knowledge(flows)


def test_missing_table_is_named(tmp_path: Path) -> None:
    flows = _copy_flows(tmp_path)
    path = flows / "image_grab.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("[zh]")], encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"^image_grab\.toml: \[zh\] must be a table$"):
        load_knowledge(flows)


def test_missing_file_is_named(tmp_path: Path) -> None:
    flows = _copy_flows(tmp_path)
    (flows / "delete_store_data.toml").unlink()
    with pytest.raises(KnowledgeError, match=r"^delete_store_data\.toml: file is missing"):
        load_knowledge(flows)


def test_non_utf8_file_is_named(tmp_path: Path) -> None:
    flows = _copy_flows(tmp_path)
    (flows / "out_of_scope.toml").write_bytes(b'examples = ["\xff\xfe"]\n')
    with pytest.raises(KnowledgeError, match=r"^out_of_scope\.toml: is not UTF-8 text$"):
        load_knowledge(flows)
