"""The embedded classifier: scikit-learn on character n-grams, trained from the Rasa training data.

No segmenter is needed (character n-grams carry Chinese well) and no TensorFlow. The trained model is
stored beside a fingerprint of the data it came from and rebuilt only when the data changes.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from nlu.language import normalise
from nlu.linear import LinearDecision, store_model, text_features
from nlu.training_data import TrainingData, load_project_data
from nlu.types import Classification, Entity, Intent, IntentScore

log = logging.getLogger(__name__)

MODEL_FORMAT = 2  # bump when the features, the estimator or the stored scorer change
MODEL_FILE = "embedded.joblib"
MAX_CLASSIFIED_CHARACTERS = 2000


def build_pipeline() -> Pipeline:
    features = text_features(normalise, (1, 4), np.float32)
    classifier = CalibratedClassifierCV(
        LinearSVC(C=0.5, class_weight="balanced"), method="sigmoid", cv=5, ensemble=False
    )
    return Pipeline([("features", features), ("classifier", classifier)])


class Gazetteer:
    """Entities found by the surface forms annotated in the training data, synonyms mapped."""

    def __init__(self, forms: dict[str, tuple[str, str]]) -> None:
        self.forms = forms  # surface (lower case) → (entity, canonical value)
        alternatives = []
        for surface in sorted(forms, key=len, reverse=True):
            escaped = re.escape(surface)
            if surface.isascii():
                escaped = rf"(?<![a-z]){escaped}(?![a-z])"
            alternatives.append(escaped)
        self._pattern = re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None

    @classmethod
    def from_training_data(cls, data: TrainingData) -> Gazetteer:
        forms: dict[str, tuple[str, str]] = {}
        entity_of_value: dict[str, str] = {}
        for example in data.examples:
            for entity in example.entities:
                forms.setdefault(entity.text.lower(), (entity.entity, entity.value))
                entity_of_value.setdefault(entity.value.lower(), entity.entity)
        for variant, canonical in data.synonyms.items():
            kind = entity_of_value.get(canonical.lower())
            if kind is not None:
                forms.setdefault(variant, (kind, canonical))
        return cls(forms)

    def find(self, text: str) -> tuple[Entity, ...]:
        if self._pattern is None:
            return ()
        found = []
        for match in self._pattern.finditer(text):
            kind, value = self.forms[match.group(0).lower()]
            found.append(
                Entity(entity=kind, value=value, start=match.start(), end=match.end(), text=match.group(0))
            )
        return tuple(found)


class CompiledScorer(LinearDecision):
    """The fitted pipeline's probabilities for one message: the linear decision, then the per-class
    sigmoid calibration and its normalisation, done directly (``nlu.linear``), which keeps a parse
    well under a millisecond. Tested to agree with the pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        calibrated = pipeline.named_steps["classifier"].calibrated_classifiers_[0]
        estimator = calibrated.estimator
        super().__init__(pipeline.named_steps["features"], estimator.coef_, estimator.intercept_)
        self._slopes = np.array([calibrator.a_ for calibrator in calibrated.calibrators])
        self._offsets = np.array([calibrator.b_ for calibrator in calibrated.calibrators])

    def probabilities(self, text: str) -> np.ndarray:
        probabilities = 1.0 / (1.0 + np.exp(self._slopes * self.decision(text) + self._offsets))
        total = probabilities.sum()
        if total == 0:
            return np.full_like(probabilities, 1.0 / len(probabilities))
        return probabilities / total  # type: ignore[no-any-return]


@dataclass(slots=True)
class EmbeddedModel:
    pipeline: Pipeline
    scorer: CompiledScorer
    labels: tuple[Intent, ...]
    gazetteer: Gazetteer
    fingerprint: str
    format: int = MODEL_FORMAT
    sklearn_version: str = sklearn.__version__

    @classmethod
    def train(cls, data: TrainingData) -> EmbeddedModel:
        texts, labels = data.texts_and_labels()
        pipeline = build_pipeline()
        pipeline.fit(texts, labels)
        classes = tuple(Intent(label) for label in pipeline.classes_)
        return cls(
            pipeline, CompiledScorer(pipeline), classes, Gazetteer.from_training_data(data), data.fingerprint
        )

    def classify(self, text: str) -> Classification:
        clipped = text[:MAX_CLASSIFIED_CHARACTERS]
        probabilities = self.scorer.probabilities(clipped)
        order = np.argsort(probabilities)[::-1]
        ranking = tuple(IntentScore(self.labels[index], float(probabilities[index])) for index in order)
        return Classification(ranking=ranking, entities=self.gazetteer.find(clipped))

    def is_current(self, fingerprint: str) -> bool:
        return (
            self.format == MODEL_FORMAT
            and self.sklearn_version == sklearn.__version__
            and self.fingerprint == fingerprint
        )


def load_or_train(model_dir: Path, data: TrainingData | None = None) -> EmbeddedModel:
    """The stored model when it was trained from this data; otherwise train it now and store it."""
    data = data or load_project_data()
    path = model_dir / MODEL_FILE
    if path.exists():
        try:
            stored = joblib.load(path)
        except Exception as error:  # a damaged or foreign file is replaced, never trusted
            log.warning("stored embedded model unreadable (%s); retraining", type(error).__name__)
        else:
            if isinstance(stored, EmbeddedModel) and stored.is_current(data.fingerprint):
                return stored
    return train_and_store(model_dir, data)


def train_and_store(model_dir: Path, data: TrainingData | None = None) -> EmbeddedModel:
    data = data or load_project_data()
    started = time.perf_counter()
    model = EmbeddedModel.train(data)
    store_model(model, model_dir, MODEL_FILE)
    log.info(
        "trained the embedded model on %d examples in %.1f s",
        len(data.examples),
        time.perf_counter() - started,
    )
    return model
