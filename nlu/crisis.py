"""Crisis screening: every message gets an urgency of normal, high or critical, independent of intent.

The lexicon and the hotline numbers live in ``nlu/data``; this module only applies them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from casework.domain import Urgency
from nlu.language import fold
from nlu.types import Screening

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
    if isinstance(section, dict):
        return [str(pattern) for patterns in section.values() for pattern in patterns or []]
    return [str(pattern) for pattern in section or []]


class CrisisScreener:
    def __init__(self, lexicon: dict[str, Any], hotlines: list[Hotline]) -> None:
        self._idioms = _one_of(_patterns(lexicon.get("idioms")))
        self._critical = {kind: _each(_patterns(section)) for kind, section in lexicon["critical"].items()}
        self._high = _each(_patterns(lexicon.get("high")))
        self.hotlines = hotlines
        # A message is screened where a dialog first sees it and again by the NLU parse of it.
        self.screen = functools.lru_cache(maxsize=256)(self._screen)

    @classmethod
    def load(cls, crisis_file: Path = CRISIS_FILE, hotlines_file: Path = HOTLINES_FILE) -> CrisisScreener:
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
        return cls(lexicon, hotlines)

    def _screen(self, text: str) -> Screening:
        folded = fold(text).lower().translate(_DOTTED_I)
        if self._idioms is not None:
            # Blank figures of speech out with a separator, so what stood around them does not join.
            folded = self._idioms.sub(" | ", folded)
        kinds = tuple(
            kind
            for kind, patterns in self._critical.items()
            if any(pattern.search(folded) for pattern in patterns)
        )
        if kinds:
            return Screening(Urgency.CRITICAL, kinds)
        if any(pattern.search(folded) for pattern in self._high):
            return Screening(Urgency.HIGH)
        return Screening(Urgency.NORMAL)

    def hotlines_for(self, kinds: tuple[str, ...] | list[str]) -> list[Hotline]:
        """The numbers for these kinds of danger, most specific first, each once."""
        wanted = set(kinds)
        chosen = [hotline for hotline in self.hotlines if hotline.kinds & wanted]
        return sorted(chosen, key=lambda hotline: len(hotline.kinds))
