"""Crisis screening: every message gets an urgency of normal, high, review or critical, whatever its
intent.

Two readers look at each message, after figures of speech are blanked out of it: the lexicon rules,
organised by concept (``nlu/data/crisis.yml``), and, when one was trained, the learned risk model
(``nlu/risk.py``). Recall comes first: a message is critical when a rule fires a critical concept or
the model is sure enough of one; it goes to review, for a person to look at within the hour, when the
model is unsure and no rule fired. The hotline numbers live in ``nlu/data/hotlines.yml``.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from casework.domain import Urgency
from nlu import risk
from nlu.language import fold
from nlu.types import CrisisSignal, Screening

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
CRISIS_FILE = DATA / "crisis.yml"
HOTLINES_FILE = DATA / "hotlines.yml"


@dataclass(frozen=True, slots=True)
class Hotline:
    id: str
    number: str
    name: dict[str, str]
    kinds: frozenset[str]

    def label(self, language: str) -> str:
        return self.name.get(language) or self.name["zh"]


# Lower case as case-blind matching sees it: "İ" lower-cases to "i" with a combining dot, "ı" stays.
_DOTTED_I = str.maketrans({"\u0131": "i", "\u0307": None})


def _lower_case(patterns: list[str]) -> list[str]:
    """The patterns, which match lower-cased text: case-blind matching (``re.IGNORECASE``) folds the
    case of every character compared and makes screening two to three times slower."""
    for pattern in patterns:
        letters = re.sub(r"\\.", "", pattern)  # escapes such as \W or \S keep their meaning
        if letters != letters.lower():
            raise ValueError(f"crisis patterns are written in lower case: {pattern!r}")
    return patterns


def _one_of(patterns: list[str]) -> re.Pattern[str] | None:
    """One expression matching where any of the patterns does (the first listed winning)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{pattern})" for pattern in _lower_case(patterns)))


def _each(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
    """Each pattern compiled on its own. Searching them one by one is several times faster than
    searching their alternation: on its own, an expression skips ahead to where its first
    character occurs; an alternation of a hundred tries every branch at every position."""
    return tuple(re.compile(pattern) for pattern in _lower_case(patterns))


def _patterns(section: Any) -> list[str]:
    """The patterns of a section: a list, or lists by language (other keys, such as ``kind``, skipped)."""
    if isinstance(section, dict):
        return [
            str(pattern)
            for patterns in section.values()
            if isinstance(patterns, list)
            for pattern in patterns
        ]
    return [str(pattern) for pattern in section or []]


@dataclass(frozen=True, slots=True)
class Concept:
    """A critical concept of the lexicon, the coarse kind of danger it is, and its patterns."""

    name: str
    kind: str
    patterns: tuple[re.Pattern[str], ...]


class TextPreparation:
    """What both readers see: the text folded, lower-cased as case-blind matching would, and its
    figures of speech blanked out with a separator, so what stood around them does not join."""

    def __init__(self, idioms: list[str]) -> None:
        self._idioms = _one_of(idioms)
        # The model trained on prepared text depends on this: its fingerprint includes it.
        self.signature = "\n".join(idioms)

    def __call__(self, text: str) -> str:
        folded = fold(text).lower().translate(_DOTTED_I)
        if self._idioms is not None:
            folded = self._idioms.sub(" | ", folded)
        return folded


def text_preparation(crisis_file: Path = CRISIS_FILE) -> TextPreparation:
    """The screen's text preparation alone, for training the risk model on what the screen will see."""
    lexicon = yaml.safe_load(crisis_file.read_text(encoding="utf-8"))
    return TextPreparation(_patterns(lexicon.get("idioms")))


_rules_alone_logged = False


def _say_once_that_rules_work_alone(reason: str) -> None:
    global _rules_alone_logged
    if not _rules_alone_logged:
        _rules_alone_logged = True
        log.warning("crisis screen on lexicon rules alone: %s", reason)


class CrisisScreener:
    def __init__(
        self,
        lexicon: dict[str, Any],
        hotlines: list[Hotline],
        *,
        model: risk.RiskModel | None = None,
        thresholds: risk.Thresholds = risk.DEFAULT_THRESHOLDS,
    ) -> None:
        self.prepare = TextPreparation(_patterns(lexicon.get("idioms")))
        self.concepts = tuple(
            Concept(
                name,
                str(section.get("kind", name)) if isinstance(section, dict) else name,
                _each(_patterns(section)),
            )
            for name, section in lexicon["critical"].items()
        )
        self._kind_of = {concept.name: concept.kind for concept in self.concepts}
        self._high = _each(_patterns(lexicon.get("high")))
        self.hotlines = hotlines
        self.model = model
        self.thresholds = thresholds
        if model is None:
            _say_once_that_rules_work_alone("no risk model was given")
        # A message is screened where a dialog first sees it and again by the NLU parse of it.
        self.screen = functools.lru_cache(maxsize=256)(self._screen)

    @classmethod
    def load(
        cls,
        crisis_file: Path = CRISIS_FILE,
        hotlines_file: Path = HOTLINES_FILE,
        *,
        model_dir: Path | None = None,
        thresholds: risk.Thresholds = risk.DEFAULT_THRESHOLDS,
    ) -> CrisisScreener:
        """The screener from the data files; with ``model_dir``, the risk model kept there too,
        trained first when it is missing or stale (rules alone, said once in the log, if that fails)."""
        lexicon = yaml.safe_load(crisis_file.read_text(encoding="utf-8"))
        entries = yaml.safe_load(hotlines_file.read_text(encoding="utf-8"))["hotlines"]
        hotlines = [
            Hotline(
                id=entry["id"],
                number=str(entry["number"]),
                name=entry["name"],
                kinds=frozenset(entry["kinds"]),
            )
            for entry in entries
        ]
        model = None
        if model_dir is not None:
            prepare = TextPreparation(_patterns(lexicon.get("idioms")))
            try:
                model = risk.load_or_train(model_dir, prepare, prepare.signature)
            except Exception as error:  # the rules still screen; a missing model must not stop the bot
                _say_once_that_rules_work_alone(f"risk model unavailable ({type(error).__name__})")
        return cls(lexicon, hotlines, model=model, thresholds=thresholds)

    def kind_of(self, concept: str) -> str:
        return self._kind_of.get(concept, concept)

    def _screen(self, text: str) -> Screening:
        prepared = self.prepare(text)
        signals = [
            CrisisSignal(concept.name, concept.kind, "rules", 1.0)
            for concept in self.concepts
            if any(pattern.search(prepared) for pattern in concept.patterns)
        ]
        assessment = self.model.assess(prepared) if self.model is not None else None
        sure = assessment is not None and assessment.any_crisis >= self.thresholds.critical
        if sure and assessment is not None and all(s.concept != assessment.concept for s in signals):
            signals.append(self._model_signal(assessment))
        if signals:
            kinds = tuple(dict.fromkeys(signal.kind for signal in signals))
            return Screening(Urgency.CRITICAL, kinds, tuple(signals))
        if assessment is not None and assessment.any_crisis >= self.thresholds.review:
            # Unsure: no hotlines yet (kinds stay empty), but a person sees what the model suspects.
            return Screening(Urgency.REVIEW, (), (self._model_signal(assessment),))
        if any(pattern.search(prepared) for pattern in self._high):
            return Screening(Urgency.HIGH)
        return Screening(Urgency.NORMAL)

    def _model_signal(self, assessment: risk.Assessment) -> CrisisSignal:
        # The confidence is the model's probability that the message is a crisis at all, the figure
        # the thresholds apply to; the concept is the likeliest one.
        return CrisisSignal(
            assessment.concept, self.kind_of(assessment.concept), "model", round(assessment.any_crisis, 4)
        )

    def hotlines_for(self, kinds: tuple[str, ...] | list[str]) -> list[Hotline]:
        """The numbers for these kinds of danger, each once, in the data file's order (emergency
        numbers before the lines for one kind; see ``nlu/data/hotlines.yml``)."""
        wanted = set(kinds)
        return [hotline for hotline in self.hotlines if hotline.kinds & wanted]
