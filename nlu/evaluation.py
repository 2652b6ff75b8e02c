"""How well a classifier does on labelled data: accuracy, macro-F1, per-intent figures, confusions."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from nlu.embedded import EmbeddedModel
from nlu.training_data import TrainingData
from nlu.understanding import IntentClassifier


@dataclass(frozen=True, slots=True)
class IntentFigures:
    intent: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    examples: int
    accuracy: float
    macro_f1: float
    per_intent: tuple[IntentFigures, ...]
    confusions: tuple[tuple[str, str, int], ...]  # (true intent, predicted intent, count), most first
    fallback_rate: float = 0.0
    fold_macro_f1: tuple[float, ...] = field(default=())
    backends: dict[str, int] = field(default_factory=dict)  # which backend answered, how often

    @property
    def fold_spread(self) -> float:
        return statistics.pstdev(self.fold_macro_f1) if len(self.fold_macro_f1) > 1 else 0.0


def score(
    gold: Sequence[str], predicted: Sequence[str], *, fallbacks: int = 0, top_confusions: int = 10
) -> Evaluation:
    labels = sorted(set(gold) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    gold_labels = sorted(set(gold))
    per_intent = tuple(
        IntentFigures(label, float(p), float(r), float(f), int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        if label in gold_labels
    )
    confusions = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    return Evaluation(
        examples=len(gold),
        accuracy=sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0,
        macro_f1=float(f1_score(gold, predicted, labels=gold_labels, average="macro", zero_division=0)),
        per_intent=per_intent,
        confusions=tuple((g, p, n) for (g, p), n in confusions.most_common(top_confusions)),
        fallback_rate=fallbacks / len(gold) if gold else 0.0,
    )


async def evaluate_classifier(classifier: IntentClassifier, data: TrainingData) -> Evaluation:
    """The classifier's best intent for every example (a fallback parse still names its best guess)."""
    gold: list[str] = []
    predicted: list[str] = []
    fallbacks = 0
    backends: Counter[str] = Counter()
    for example in data.examples:
        parse = await classifier.parse(example.text)
        gold.append(example.intent)
        predicted.append(parse.top.intent.value)
        fallbacks += parse.is_fallback
        backends[parse.backend] += 1
    result = score(gold, predicted, fallbacks=fallbacks)
    return replace(result, backends=dict(backends))


def cross_validate(data: TrainingData, *, folds: int = 5, seed: int = 0) -> Evaluation:
    """Stratified k-fold on the training data with the embedded model; pooled figures plus each fold's."""
    texts, labels = data.texts_and_labels()
    predicted = [""] * len(texts)
    fold_scores = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_index, test_index in splitter.split(texts, labels):
        fold = TrainingData(examples=[data.examples[i] for i in train_index], synonyms=data.synonyms)
        model = EmbeddedModel.train(fold)
        fold_predicted = [model.classify(texts[i]).ranking[0].intent.value for i in test_index]
        for i, label in zip(test_index, fold_predicted, strict=True):
            predicted[i] = label
        fold_scores.append(
            float(f1_score([labels[i] for i in test_index], fold_predicted, average="macro", zero_division=0))
        )
    pooled = score(labels, predicted)
    return Evaluation(
        examples=pooled.examples,
        accuracy=pooled.accuracy,
        macro_f1=pooled.macro_f1,
        per_intent=pooled.per_intent,
        confusions=pooled.confusions,
        fold_macro_f1=tuple(fold_scores),
    )
