"""The trained matcher on disk, so a server starts without training (or importing scikit-learn).

The file is keyed by a hash of what the model was trained on: the knowledge files' bytes, the
accepted examples from agents, the feature set and the format version. Any change there is a
cache miss, which trains and writes a new file; a file that cannot be read (truncated, another
format, written by hand) is ignored and replaced. Arrays are stored with numpy's `.npz`, read
with `allow_pickle=False`: a cache file can never run code.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from knowledge.loader import KnowledgeBase
from knowledge.matcher import (
    DEFAULT_FEATURES,
    FEATURES,
    Features,
    LabelledExample,
    Matcher,
    MatcherSettings,
    MatchResult,
    TrainedModel,
)

log = logging.getLogger(__name__)

# Bump when the stored arrays or the features change meaning: old files become misses.
FORMAT_VERSION = "2"
CACHE_DIR_ENV = "SELLERDESK_CACHE_DIR"


def default_cache_dir() -> Path:
    """$SELLERDESK_CACHE_DIR, else the user's cache directory ($XDG_CACHE_HOME or ~/.cache)."""
    configured = os.environ.get(CACHE_DIR_ENV, "").strip()
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "sellerdesk"


def cache_key(kb: KnowledgeBase, extra: Iterable[LabelledExample], features: Features) -> str:
    """What identifies a trained model: the files, the accepted examples (in any order), features."""
    digest = hashlib.sha256(f"{FORMAT_VERSION}\0{features}\0{kb.digest}\0".encode())
    for text, label in sorted(set(extra)):
        digest.update(f"{label}\0{text}\0".encode())
    return digest.hexdigest()


def load_or_train(
    kb: KnowledgeBase,
    cache_dir: Path | None = None,
    *,
    extra: Iterable[LabelledExample] = (),
    settings: MatcherSettings | None = None,
    features: Features = DEFAULT_FEATURES,
) -> Matcher:
    """The matcher for these knowledge files and examples: from the cache, or trained and cached.

    Args:
        kb: the loaded knowledge.
        cache_dir: where model files live; `default_cache_dir()` when None.
        extra: accepted labelled examples, trained on besides the knowledge files.
        settings: decision thresholds.
        features: the feature set.

    Returns:
        The matcher. A cache directory that cannot be written only costs the next start-up a
        training run; it never fails the caller.
    """
    examples = list(extra)
    key = cache_key(kb, examples, features)
    directory = cache_dir or default_cache_dir()
    path = directory / f"matcher-{key[:32]}.npz"
    model = read_model(path, key)
    if model is not None:
        return Matcher(model, settings)
    matcher = Matcher.train(kb, extra=examples, settings=settings, features=features)
    try:
        write_model(path, key, matcher.model)
    except OSError as exc:
        log.warning("matcher cache not written to %s: %s", directory, exc.strerror or exc)
    return matcher


def write_model(path: Path, key: str, model: TrainedModel) -> None:
    """Write atomically: a reader sees the old file or the whole new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    terms = sorted(model.vocabulary, key=model.vocabulary.__getitem__)
    # Terms never hold a newline (questions are whitespace-normalized), so one UTF-8 blob.
    blob = np.frombuffer("\n".join(terms).encode("utf-8"), dtype=np.uint8)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".matcher-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(
                file,
                key=np.array(key),
                features=np.array(model.features),
                classes=np.array(model.classes),
                terms=blob,
                idf=model.idf,
                coef=model.coef,
                intercept=model.intercept,
            )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_model(path: Path, key: str) -> TrainedModel | None:
    """The cached model, or None when there is none or it is unreadable, stale or inconsistent."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            features = str(data["features"])
            classes = [str(label) for label in data["classes"]]
            terms = bytes(data["terms"]).decode("utf-8").split("\n")
            idf = np.asarray(data["idf"], dtype=np.float64)
            coef = np.ascontiguousarray(data["coef"], dtype=np.float64)
            intercept = np.asarray(data["intercept"], dtype=np.float64)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, UnicodeDecodeError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring unreadable matcher cache %s: %s", path, exc)
        return None
    consistent = (
        features in FEATURES
        and len(terms) == idf.shape[0] == coef.shape[0]
        and coef.ndim == 2
        and coef.shape[1] == len(classes) == intercept.shape[0]
    )
    if not consistent:
        log.warning("ignoring inconsistent matcher cache %s", path)
        return None
    return TrainedModel(
        features=features,  # type: ignore[arg-type]
        classes=classes,
        vocabulary={term: index for index, term in enumerate(terms)},
        idf=idf,
        coef=coef,
        intercept=intercept,
    )


class LiveMatcher:
    """A matcher that picks up newly accepted examples while the bot runs.

    At most every `check_seconds` a question also asks `source` for the accepted examples (one
    small query); when they changed, the new model is read from the cache or trained in a
    background thread while questions keep being answered by the current one, then swapped in.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        source: Callable[[], list[LabelledExample]],
        *,
        cache_dir: Path | None = None,
        check_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kb = kb
        self._source = source
        self._cache_dir = cache_dir
        self._check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        examples = source()
        self._key = cache_key(kb, examples, DEFAULT_FEATURES)
        self._current = load_or_train(kb, cache_dir, extra=examples)
        self._checked_at = clock()
        self._training: threading.Thread | None = None

    @property
    def current(self) -> Matcher:
        return self._current

    def match(self, text: str) -> MatchResult:
        self._check()
        return self._current.match(text)

    def probabilities(self, text: str) -> dict[str, float]:
        self._check()
        return self._current.probabilities(text)

    def refresh(self, *, wait: bool = False) -> bool:
        """Look for changed examples now; True when a new model is being (or was) built."""
        try:
            examples = self._source()
        except Exception:  # a database hiccup must not stop answering questions
            log.exception("accepted examples could not be read; keeping the current model")
            return False
        key = cache_key(self._kb, examples, DEFAULT_FEATURES)
        with self._lock:
            if key == self._key or (self._training is not None and self._training.is_alive()):
                return False
            self._key = key
            self._training = threading.Thread(
                target=self._rebuild, args=(examples,), name="matcher-retrain", daemon=True
            )
            self._training.start()
            training = self._training
        if wait:
            training.join()
        return True

    def _rebuild(self, examples: list[LabelledExample]) -> None:
        try:
            self._current = load_or_train(self._kb, self._cache_dir, extra=examples)
        except Exception:
            log.exception("retraining the matcher failed; keeping the current model")

    def _check(self) -> None:
        now = self._clock()
        if now - self._checked_at < self._check_seconds:
            return
        self._checked_at = now
        self.refresh()
