"""A fitted tf-idf + linear pipeline's arithmetic for one message, without scikit-learn's per-call
checks: ``predict_proba`` on a single message spends most of its time validating input. The intent
model and the risk model each turn the decision into probabilities their own way."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion


class LinearDecision:
    """The decision function of a linear model over a union of tf-idf blocks (sublinear tf, l2)."""

    def __init__(self, features: FeatureUnion, coef: np.ndarray, intercept: np.ndarray) -> None:
        self._blocks: list[tuple[TfidfVectorizer, int]] = []
        offset = 0
        for _, vectorizer in features.transformer_list:
            self._blocks.append((vectorizer, offset))
            offset += len(vectorizer.vocabulary_)
        self._weights = np.ascontiguousarray(coef.T, dtype=np.float64)
        self._intercept = np.asarray(intercept, dtype=np.float64)
        self._analyzers: list[Callable[[str], list[str]]] = []

    # The analyzers are closures, which do not pickle: they are rebuilt on first use.
    def __getstate__(self) -> dict[str, object]:
        return {key: value for key, value in self.__dict__.items() if key != "_analyzers"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._analyzers = []

    def decision(self, text: str) -> np.ndarray:
        if not self._analyzers:
            self._analyzers = [vectorizer.build_analyzer() for vectorizer, _ in self._blocks]
        decision = self._intercept.copy()
        for (vectorizer, offset), analyze in zip(self._blocks, self._analyzers, strict=True):
            counts = Counter(term for term in analyze(text) if term in vectorizer.vocabulary_)
            if not counts:
                continue
            columns = np.fromiter(
                (vectorizer.vocabulary_[term] for term in counts), dtype=np.intp, count=len(counts)
            )
            values = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
            values *= vectorizer.idf_[columns]
            values /= np.sqrt(values @ values)
            decision += values @ self._weights[columns + offset]
        return decision


WORD_PATTERN = r"(?u)\b[a-z][a-z']+\b"  # English words; Chinese is read by the character n-grams


def text_features(
    preprocessor: Callable[[str], str], char_ngrams: tuple[int, int], dtype: type[np.floating[Any]]
) -> FeatureUnion:
    """The features both models read: character n-grams within word boundaries (no segmenter needed
    for Chinese) and English words and word pairs, each tf-idf with sublinear term frequency."""
    return FeatureUnion(
        [
            (
                "characters",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=char_ngrams,
                    sublinear_tf=True,
                    preprocessor=preprocessor,
                    dtype=dtype,
                ),
            ),
            (
                "words",
                TfidfVectorizer(
                    analyzer="word",
                    token_pattern=WORD_PATTERN,
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                    preprocessor=preprocessor,
                    dtype=dtype,
                ),
            ),
        ]
    )


def store_model(model: object, model_dir: Path, file_name: str) -> None:
    """Write a trained model beside its place, then rename: a reader never sees half a model."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=model_dir, suffix=".tmp", delete=False) as handle:
        joblib.dump(model, handle)
    Path(handle.name).replace(model_dir / file_name)
