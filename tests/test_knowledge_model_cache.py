"""The trained matcher cached on disk: a hit answers as the trained model does and needs no
scikit-learn; a change of knowledge or accepted examples is a miss; a broken file is ignored."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.loader import DEFAULT_DIRECTORY, KnowledgeBase, load_knowledge
from knowledge.matcher import Matcher
from knowledge.model_cache import cache_key, load_or_train

REPO_ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "改价后多久生效",
    "orders from yesterday are missing",
    "how do i print a shipping label",
    "图片裂了",
]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge()


def answers(matcher: Matcher) -> list[tuple[str | None, float, str]]:
    return [(r.flow, r.confidence, r.certainty) for r in map(matcher.match, QUESTIONS)]


def test_a_miss_trains_and_writes_a_hit_answers_the_same(kb: KnowledgeBase, tmp_path: Path) -> None:
    trained = load_or_train(kb, tmp_path)
    [written] = list(tmp_path.glob("matcher-*.npz"))
    cached = load_or_train(kb, tmp_path)
    assert answers(cached) == answers(trained) == answers(Matcher.train(kb))
    assert [p.name for p in tmp_path.glob("matcher-*.npz")] == [written.name]


def test_accepted_examples_change_the_key_and_the_answers(kb: KnowledgeBase, tmp_path: Path) -> None:
    question = "the gizmo widget thing is wonky on my dashboard"
    extra = [(question, "image_not_displaying")]
    assert cache_key(kb, extra, "char+word") != cache_key(kb, [], "char+word")
    assert cache_key(kb, extra * 2, "char+word") == cache_key(kb, extra, "char+word")
    plain = load_or_train(kb, tmp_path)
    learned = load_or_train(kb, tmp_path, extra=extra)
    assert len(list(tmp_path.glob("matcher-*.npz"))) == 2
    assert plain.match(question).flow != "image_not_displaying"
    assert learned.match(question).flow == "image_not_displaying"


def test_changed_knowledge_files_are_a_miss(kb: KnowledgeBase, tmp_path: Path) -> None:
    files = tmp_path / "flows"
    shutil.copytree(DEFAULT_DIRECTORY, files)
    cache = tmp_path / "cache"
    load_or_train(kb, cache)
    path = files / "out_of_scope.toml"
    path.write_text(
        path.read_text().replace("examples = [\n", 'examples = [\n  "how tall is the eiffel tower",\n', 1)
    )
    changed = load_knowledge(files)
    assert changed.digest != kb.digest
    load_or_train(changed, cache)
    assert len(list(cache.glob("matcher-*.npz"))) == 2


@pytest.mark.parametrize(
    "content", [b"", b"not a zip at all", b"PK\x03\x04 truncated"], ids=["empty", "junk", "cut"]
)
def test_a_corrupt_cache_is_ignored_and_replaced(kb: KnowledgeBase, tmp_path: Path, content: bytes) -> None:
    load_or_train(kb, tmp_path)
    [path] = list(tmp_path.glob("matcher-*.npz"))
    path.write_bytes(content)
    matcher = load_or_train(kb, tmp_path)
    assert answers(matcher) == answers(Matcher.train(kb))
    assert path.stat().st_size > 100_000  # written anew


def test_an_unwritable_cache_directory_still_gives_a_matcher(kb: KnowledgeBase, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the directory should be")
    matcher = load_or_train(kb, blocker / "cache")
    assert matcher.match("订单没同步").flow == "orders_not_synced"


def test_classify_from_a_warm_cache_does_not_import_scikit_learn(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env["SELLERDESK_CACHE_DIR"] = str(tmp_path)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'absent.db'}"
    script = (
        "import os, sys, app\n"
        "components = app.Components(app.Settings.from_env(os.environ))\n"
        "flow = components.matcher.match('订单没同步').flow\n"
        "print(flow, 'sklearn' in sys.modules, 'scipy' in sys.modules)\n"
    )
    run = [sys.executable, "-c", script]
    first = subprocess.run(
        run, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=120, check=True
    )
    assert first.stdout.split() == ["orders_not_synced", "True", "True"]  # a miss trains
    second = subprocess.run(
        run, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=120, check=True
    )
    assert second.stdout.split() == ["orders_not_synced", "False", "False"]
    assert not (tmp_path / "absent.db").exists()  # no database is created to look for examples
