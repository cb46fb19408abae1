"""Question matching: a seller's words -> one of the eight flows, or none.

Character n-grams (1-4, within word boundaries) weighted by TF-IDF feed a multinomial logistic
regression. Character n-grams need no segmentation, so Chinese, English, misspellings and
mixed-script questions ("price没更新") share one model. They were kept by measurement: adding
word uni- and bigrams ("char+word") or Chinese words from a segmenter ("zh+char", rjieba)
gained 0.2 points of cross-validated accuracy for 1.6-2.2x the training time, and sentence embeddings
(all-MiniLM-L6-v2) were far worse on Chinese; see `bench/matching.py` and the README.

Out-of-scope questions are a class of their own: the model learns what the bot does not do
(labels, fees, throttling, suspension, small talk) instead of guessing from a low score alone.

Training needs scikit-learn; answering does not. A trained model is plain arrays (the
vocabulary, the IDF weights, the coefficients) that `knowledge.model_cache` stores on disk, so
a server starts without importing scikit-learn or training anything.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from knowledge.entities import mask_entities
from knowledge.loader import FLOW_IDS, KnowledgeBase

OUT_OF_SCOPE = "out_of_scope"
# Every label a question can have: a flow, or none of them.
LABELS: tuple[str, ...] = (*FLOW_IDS, OUT_OF_SCOPE)

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

# How the words of a question become features; bench/matching.py compares them.
Features = Literal["char", "char+word", "zh+char"]
FEATURES: tuple[Features, ...] = ("char", "char+word", "zh+char")
DEFAULT_FEATURES: Features = "char"

# A labelled question besides the knowledge files: (text, flow id or OUT_OF_SCOPE).
LabelledExample = tuple[str, str]


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
    """Decision thresholds, tuned by 5-fold cross-validation on the knowledge files
    (`bench/matching.py --tune`), never on the real-question set it reports."""

    # Below this the best flow is a guess: not "sure", at most "unsure" with choices.
    min_confidence: float = 0.3
    # Out of scope by the model, yet the best flow this likely: offer choices instead of a refusal.
    min_plausible: float = 0.3
    # Runner-up flows listed only from this probability up, at most `max_alternatives` of them.
    min_alternative: float = 0.08
    max_alternatives: int = 3
    # The runner-up at least this share of the best flow's probability asks a clarifying
    # question: the runner-up is then nearly always the flow the seller meant when the best is
    # wrong.
    close_ratio: float = 0.2
    # ... but only when the runner-up is itself a plausible answer.
    close_min_runner_up: float = 0.1
    # Text that is mostly control characters, replacement marks or private-use code points is a
    # binary paste, not a question.
    max_garbage_share: float = 0.3


@dataclass(frozen=True)
class TrainedModel:
    """What answering needs, as plain arrays: no scikit-learn object inside.

    `coef` has one row per vocabulary term and one column per class.
    """

    features: Features
    classes: list[str]
    vocabulary: dict[str, int]
    idf: NDArray[np.float64]
    coef: NDArray[np.float64]
    intercept: NDArray[np.float64]


class Matcher:
    """A trained question -> flow classifier. Build it with `Matcher.train` or from the cache."""

    def __init__(self, model: TrainedModel, settings: MatcherSettings | None = None) -> None:
        self.model = model
        self.settings = settings or MatcherSettings()
        self.classes: list[str] = list(model.classes)
        self._flow_indices = [i for i, label in enumerate(self.classes) if label != OUT_OF_SCOPE]
        self._analyze = analyzer(model.features)

    @classmethod
    def train(
        cls,
        kb: KnowledgeBase,
        *,
        exclude: Collection[str] = (),
        settings: MatcherSettings | None = None,
        extra: Iterable[LabelledExample] = (),
        features: Features = DEFAULT_FEATURES,
    ) -> Matcher:
        """Fit the model on every example of the knowledge base and the extra labelled examples.

        Args:
            kb: the loaded knowledge.
            exclude: example questions to leave out (held-out examples for measuring accuracy).
            settings: decision thresholds; the measured defaults otherwise.
            extra: more labelled questions (accepted examples from agents), (text, flow id or
                `OUT_OF_SCOPE`); labels that are neither are skipped.
            features: how questions become features (see `FEATURES`).

        Returns:
            The trained matcher.
        """
        questions, labels = training_set(kb, exclude=exclude, extra=extra)
        return cls(fit_model(questions, labels, features), settings)

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
            The matched flow or None, its confidence, the runner-up flows, whether the top two
            are close enough to ask which one the seller means, and how sure the answer is.
        """
        if not isinstance(text, str):
            text = str(text)
        question = prepare_question(text)
        if not question.strip():
            return MatchResult(flow=None, confidence=0.0)
        if garbage_share(text) > self.settings.max_garbage_share:
            return MatchResult(flow=None, confidence=1.0)
        return self.decide(self._scores(question))

    def decide(self, scores: NDArray[np.float64]) -> MatchResult:
        """The answer for one question's class probabilities (in the order of `classes`)."""
        ranked = sorted(self._flow_indices, key=lambda i: scores[i], reverse=True)
        best, runner_up = ranked[0], ranked[1]
        best_score = float(scores[best])
        out_of_scope_score = 1.0 - sum(float(scores[i]) for i in self._flow_indices)
        settings = self.settings
        if out_of_scope_score >= best_score or best_score < settings.min_confidence:
            alternatives = self._alternatives(scores, ranked)
            # A refusal only when "none of the flows" is itself the likeliest reading: a question
            # whose best flow still beats out-of-scope gets choices, however unsure.
            plausible = bool(alternatives) and (
                best_score >= settings.min_plausible or out_of_scope_score < best_score
            )
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
        model = self.model
        counts = Counter(
            index for term in self._analyze(question) if (index := model.vocabulary.get(term)) is not None
        )
        logits = model.intercept.copy()
        if counts:
            # The same weighting as TfidfVectorizer(sublinear_tf=True): (1 + log tf) * idf, then
            # unit length; only the question's own terms are touched.
            indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            weights = (1.0 + np.log(tf)) * model.idf[indices]
            weights /= math.sqrt(float(weights @ weights))
            logits += weights @ model.coef[indices]
        logits -= logits.max()
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(), dtype=np.float64)


def training_set(
    kb: KnowledgeBase, *, exclude: Collection[str] = (), extra: Iterable[LabelledExample] = ()
) -> tuple[list[str], list[str]]:
    """The prepared questions and their labels: the knowledge files, then the extra examples."""
    excluded = set(exclude)
    known = {*kb.flows, OUT_OF_SCOPE}
    pairs = [(example, flow_id) for flow_id, flow in kb.flows.items() for example in flow.examples]
    pairs += [(example, OUT_OF_SCOPE) for example in kb.out_of_scope]
    pairs += [(text, label) for text, label in extra if label in known and text.strip()]
    kept = [(prepare_question(text), label) for text, label in pairs if text not in excluded]
    return [text for text, _ in kept], [label for _, label in kept]


def fit_model(questions: Sequence[str], labels: Sequence[str], features: Features) -> TrainedModel:
    """TF-IDF on the chosen features and a logistic regression, reduced to plain arrays."""
    # Imported here: answering questions (and so a server's start-up) never needs scikit-learn.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    vectorizer = TfidfVectorizer(
        analyzer=analyzer(features), sublinear_tf=True, dtype=np.float64, lowercase=False
    )
    matrix = vectorizer.fit_transform(questions)
    # newton-cg converges in a handful of iterations here (lbfgs needs ~40 and 10-50x the
    # time) and a high C keeps rare but decisive n-grams such as 裂图 or 刊登 strong.
    model = LogisticRegression(C=30.0, solver="newton-cg", max_iter=200)
    # One BLAS thread: the problem is small, and on a busy 2-core machine extra threads only
    # fight each other (measured 10x slower start-up).
    with threadpool_limits(limits=1):
        model.fit(matrix, list(labels))
    vocabulary = {str(term): int(index) for term, index in vectorizer.vocabulary_.items()}
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:
        # Two classes: scikit-learn keeps one row, P(second) = sigmoid(w.x + b), which is the
        # softmax of (0, w.x + b).
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros(1), intercept])
    return TrainedModel(
        features=features,
        classes=[str(label) for label in model.classes_],
        vocabulary=vocabulary,
        idf=np.asarray(vectorizer.idf_, dtype=np.float64),
        coef=np.ascontiguousarray(coef.T),
        intercept=intercept,
    )


# --- features ------------------------------------------------------------------------------------

# Latin words (with an inner apostrophe or dash), numbers, placeholders, and runs of Chinese.
_WORD = re.compile(r"⟦\w+⟧|[a-z0-9]+(?:['-][a-z0-9]+)*|[\u3400-\u4dbf\u4e00-\u9fff]+")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def char_grams(text: str) -> Iterator[str]:
    """Character 1-4-grams of each whitespace-separated word, padded with a space each side."""
    for word in text.split():
        padded = f" {word} "
        size = len(padded)
        for n in range(1, 5):
            if n > size:
                break
            for start in range(size - n + 1):
                yield padded[start : start + n]


def word_grams(words: Sequence[str]) -> Iterator[str]:
    """Word unigrams and bigrams, marked so they never collide with character n-grams."""
    for index, word in enumerate(words):
        yield "w:" + word
        if index:
            yield f"w:{words[index - 1]}_{word}"


def latin_words(text: str) -> list[str]:
    """The words of a question; a run of Chinese stays one token (character n-grams cover it)."""
    return _WORD.findall(text)


def segmented_words(text: str) -> list[str]:
    """The words of a question with Chinese runs cut into words by rjieba (jieba's dictionary)."""
    import rjieba  # an optional extra: only the "zh+char" features need it

    words: list[str] = []
    for token in _WORD.findall(text):
        if _CJK_RUN.match(token):
            words.extend(word for word in rjieba.cut(token) if word.strip())
        else:
            words.append(token)
    return words


def analyzer(features: Features) -> Callable[[str], list[str]]:
    """The function that turns a prepared question into its terms, for these features."""

    def char_only(text: str) -> list[str]:
        return list(char_grams(text))

    def char_and_words(text: str) -> list[str]:
        return [*char_grams(text), *word_grams(latin_words(text))]

    def char_and_segmented(text: str) -> list[str]:
        return [*char_grams(text), *word_grams(segmented_words(text))]

    choices: dict[str, Callable[[str], list[str]]] = {
        "char": char_only,
        "char+word": char_and_words,
        "zh+char": char_and_segmented,
    }
    return choices[features]


# --- preparing a question --------------------------------------------------------------------------

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
    characters from binary pastes become spaces; everything is lower case.
    """
    if not isinstance(text, str):
        text = str(text)
    text = unicodedata.normalize("NFKC", text[:MAX_QUESTION_CHARS])
    text = "".join(" " if unicodedata.category(char) in _GARBAGE_CATEGORIES else char for char in text)
    return " ".join(mask_entities(text, PLACEHOLDERS).lower().split())
