"""Question matching: a seller's words -> one of the eight flows, or none.

Character n-grams (1-4, within word boundaries) weighted by TF-IDF feed a multinomial logistic
regression. Character n-grams need no word segmentation, so Chinese, English, misspellings and
mixed-script questions ("price没更新") share one model. The model is trained from the knowledge
files at start-up (about a tenth of a second), so it always matches the flows as written.

Out-of-scope questions are a class of their own: the model learns what the bot does not do
(labels, billing, passwords, small talk) instead of guessing from a low score alone.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from knowledge.entities import mask_entities
from knowledge.loader import KnowledgeBase

OUT_OF_SCOPE = "out_of_scope"

# Entities become placeholders before classification: a SKU's or URL's letters must not sway the
# flow, while "there is an order number here" is a real cue. The brackets never occur in questions.
PLACEHOLDERS: dict[str, str] = {
    "sku": " ⟦sku⟧ ",
    "order_id": " ⟦order⟧ ",
    "url": " ⟦url⟧ ",
    "store": " ⟦store⟧ ",
}

# Only the start of a long paste is classified; the question is almost always in its first lines.
MAX_QUESTION_CHARS = 2_000


@dataclass(frozen=True)
class Alternative:
    flow: str
    confidence: float


@dataclass(frozen=True)
class MatchResult:
    """The matched flow (None: out of scope or too unsure), how sure, and the runner-up flows.

    `confidence` is the probability of the answer given: of `flow` when there is one, otherwise
    that the question fits none of the flows. `close` means the top two flows are near enough
    that the bot should ask which one the seller means; the runner-up is `alternatives[0]`.
    """

    flow: str | None
    confidence: float
    alternatives: list[Alternative] = field(default_factory=list)
    close: bool = False
    # "sure": answer `flow`. "unsure": offer `candidates()` as choices (plus a person).
    # "none": clearly out of scope, or nothing to read.
    certainty: Literal["sure", "unsure", "none"] = "none"

    def candidates(self, limit: int = 3) -> list[Alternative]:
        """The flows worth offering as choices, most likely first (the matched flow included)."""
        best = [Alternative(flow=self.flow, confidence=self.confidence)] if self.flow else []
        return (best + list(self.alternatives))[:limit]


@dataclass(frozen=True)
class MatcherSettings:
    """Decision thresholds, measured on held-out examples (see bench/matching.py)."""

    # Below this the best flow is a guess: answer "none" and let the seller rephrase.
    min_confidence: float = 0.3
    # Out of scope by the model, yet the best flow this likely: offer choices instead of a refusal.
    min_plausible: float = 0.15
    # Runner-up flows listed only from this probability up, at most `max_alternatives` of them.
    min_alternative: float = 0.08
    max_alternatives: int = 3
    # The runner-up at least this share of the best flow's probability asks a clarifying
    # question: on held-out examples this fires on ~3% of right answers and on over half of the
    # wrong ones, where the runner-up is nearly always the flow the seller meant.
    close_ratio: float = 0.4
    # ... but only when the runner-up is itself a plausible answer.
    close_min_runner_up: float = 0.15
    # Text that is mostly control characters, replacement marks or private-use code points is a
    # binary paste, not a question.
    max_garbage_share: float = 0.3


class Matcher:
    """A trained question -> flow classifier. Build it with `Matcher.train`."""

    def __init__(
        self,
        vectorizer: TfidfVectorizer,
        model: LogisticRegression,
        settings: MatcherSettings | None = None,
    ) -> None:
        self._vectorizer = vectorizer
        self._model = model
        self.settings = settings or MatcherSettings()
        self.classes: list[str] = [str(label) for label in model.classes_]
        self._flow_indices = [i for i, label in enumerate(self.classes) if label != OUT_OF_SCOPE]
        # Plain arrays: one dot product per question instead of sklearn's per-call validation.
        self._coef: NDArray[np.float64] = np.asarray(model.coef_, dtype=np.float64).T
        self._intercept: NDArray[np.float64] = np.asarray(model.intercept_, dtype=np.float64)

    @classmethod
    def train(
        cls,
        kb: KnowledgeBase,
        *,
        exclude: Collection[str] = (),
        settings: MatcherSettings | None = None,
    ) -> Matcher:
        """Fit the model on every example of the knowledge base.

        Args:
            kb: the loaded knowledge.
            exclude: example questions to leave out (held-out examples for measuring accuracy).
            settings: decision thresholds; the measured defaults otherwise.

        Returns:
            The trained matcher.
        """
        excluded = set(exclude)
        questions: list[str] = []
        labels: list[str] = []
        for flow_id, flow in kb.flows.items():
            for example in flow.examples:
                if example not in excluded:
                    questions.append(prepare_question(example))
                    labels.append(flow_id)
        for example in kb.out_of_scope:
            if example not in excluded:
                questions.append(prepare_question(example))
                labels.append(OUT_OF_SCOPE)
        # float32 halves the memory traffic of the solver; the scores need no more precision.
        vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, dtype=np.float32
        )
        features = vectorizer.fit_transform(questions)
        # newton-cg converges in a handful of iterations here (lbfgs needs ~40 and 10-50x the
        # time) and a high C keeps rare but decisive n-grams such as 裂图 or 刊登 strong.
        model = LogisticRegression(C=30.0, solver="newton-cg", max_iter=200)
        # One BLAS thread: the problem is small, and on a busy 2-core machine extra threads only
        # fight each other (measured 10x slower start-up).
        with threadpool_limits(limits=1):
            model.fit(features, labels)
        return cls(vectorizer, model, settings)

    def probabilities(self, text: str) -> dict[str, float]:
        """Every class's probability for the question, out-of-scope included."""
        scores = self._scores(prepare_question(text))
        return {label: float(score) for label, score in zip(self.classes, scores, strict=True)}

    def match(self, text: str) -> MatchResult:
        """Map a seller's question to a flow.

        Never raises on odd input: empty, huge, binary or emoji-only text gets an answer or None.

        Args:
            text: the seller's words, as typed.

        Returns:
            The matched flow or None, its confidence, the runner-up flows and whether the top two
            are close enough to ask the seller which one they mean.
        """
        if not isinstance(text, str):
            text = str(text)
        question = prepare_question(text)
        if not question.strip():
            return MatchResult(flow=None, confidence=0.0)
        if garbage_share(text) > self.settings.max_garbage_share:
            return MatchResult(flow=None, confidence=1.0)
        scores = self._scores(question)
        ranked = sorted(self._flow_indices, key=lambda i: scores[i], reverse=True)
        best, runner_up = ranked[0], ranked[1]
        best_score = float(scores[best])
        out_of_scope_score = 1.0 - sum(float(scores[i]) for i in self._flow_indices)
        settings = self.settings
        if out_of_scope_score >= best_score or best_score < settings.min_confidence:
            alternatives = self._alternatives(scores, ranked)
            plausible = best_score >= settings.min_plausible and bool(alternatives)
            return MatchResult(
                flow=None,
                confidence=round(1.0 - best_score, 4),
                alternatives=alternatives,
                certainty="unsure" if plausible else "none",
            )
        runner_up_score = float(scores[runner_up])
        close = (
            runner_up_score >= settings.close_min_runner_up
            and runner_up_score >= settings.close_ratio * best_score
        )
        return MatchResult(
            flow=self.classes[best],
            confidence=round(best_score, 4),
            alternatives=self._alternatives(scores, ranked[1:]),
            close=close,
            certainty="unsure" if close else "sure",
        )

    def _alternatives(self, scores: NDArray[np.float64], ranked: list[int]) -> list[Alternative]:
        return [
            Alternative(flow=self.classes[i], confidence=round(float(scores[i]), 4))
            for i in ranked[: self.settings.max_alternatives]
            if scores[i] >= self.settings.min_alternative
        ]

    def _scores(self, question: str) -> NDArray[np.float64]:
        features = self._vectorizer.transform([question])
        logits = np.asarray(features @ self._coef).ravel() + self._intercept
        logits -= logits.max()
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(), dtype=np.float64)


_GARBAGE_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})


def garbage_share(text: str) -> float:
    """The share of the (start of the) text that is control, surrogate, private-use or unassigned
    code points or U+FFFD, the marks a binary paste leaves; ordinary whitespace does not count."""
    sample = text[:MAX_QUESTION_CHARS]
    visible = [char for char in sample if not char.isspace()]
    if not visible:
        return 0.0
    bad = sum(1 for char in visible if char == "\ufffd" or unicodedata.category(char) in _GARBAGE_CATEGORIES)
    return bad / len(visible)


def prepare_question(text: str) -> str:
    """What the model sees: the start of the text, normalized, entities replaced by placeholders.

    NFKC folds full-width letters and punctuation (ＳＫＵ，) into their usual forms; control
    characters from binary pastes become spaces.
    """
    if not isinstance(text, str):
        text = str(text)
    text = unicodedata.normalize("NFKC", text[:MAX_QUESTION_CHARS])
    text = "".join(" " if unicodedata.category(char) in _GARBAGE_CATEGORIES else char for char in text)
    return mask_entities(text, PLACEHOLDERS)
