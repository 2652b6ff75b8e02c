"""The terms a policy question is compared by: field words and their synonyms folded to one concept.

Chinese is cut by forward maximum matching against the field dictionary (``nlu/knowledge/terms.yml``
and the Jieba user dictionary ``nlu/rasa/jieba/userdict.txt``); what no dictionary word covers is
kept as character bigrams, so an unknown word still counts, and counts against a match. English words
are lower-cased and stemmed by a few suffix rules, then matched as phrases against the same concepts,
so 公租房, 廉租房 and "public housing" all become the one term ``~housing``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from casework.domain import InvalidInput, Refusal
from nlu.language import is_cjk, normalise

TERMS_FILE = Path(__file__).resolve().parent / "knowledge" / "terms.yml"
USER_DICTIONARY = Path(__file__).resolve().parent / "rasa" / "jieba" / "userdict.txt"
CONCEPT = "~"  # concept terms start with it, so they never collide with a word or a bigram
_STOP = "stop"  # the concept of words that say nothing of which help is meant

_RUN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]+")
_MAX_PHRASE_WORDS = 4


def stem(word: str) -> str:
    """A crude English stem: enough that "applying", "applied" and "applies" meet "apply"."""
    for suffix, replacement in (
        ("ies", "y"),
        ("ied", "y"),
        ("ying", "y"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + replacement
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]  # "stopp" → "stop", "planned" → "plan"
    return word


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Chinese surface forms → term, English stemmed phrases → term, and English words to drop."""

    chinese: dict[str, str]
    english: dict[tuple[str, ...], str]
    longest: int

    @classmethod
    def load(cls, path: Path = TERMS_FILE, user_dictionary: Path = USER_DICTIONARY) -> Lexicon:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("concepts"), dict):
            raise InvalidInput(Refusal.POLICY_TERMS_SHAPE, file=path.name)
        chinese: dict[str, str] = {}
        if user_dictionary.exists():
            for line in user_dictionary.read_text(encoding="utf-8").splitlines():
                word = normalise(line.split()[0]) if line.strip() else ""
                if len(word) > 1 and all(is_cjk(character) for character in word):
                    chinese[word] = word
        english: dict[tuple[str, ...], str] = {}
        for concept, forms in document["concepts"].items():
            if not isinstance(forms, list) or not forms:
                raise InvalidInput(Refusal.POLICY_TERMS_CONCEPT_WORDS, file=path.name, concept=str(concept))
            term = "" if concept == _STOP else CONCEPT + str(concept)
            for form in forms:
                text = normalise(str(form))
                if any(is_cjk(character) for character in text):
                    chinese[text.replace(" ", "")] = term
                else:
                    english[tuple(stem(word) for word in text.split())] = term
        return cls(chinese=chinese, english=english, longest=max(len(form) for form in chinese))

    def terms(self, text: str) -> list[str]:
        """The terms of a text, in order, repeats kept (the caller counts them)."""
        found: list[str] = []
        for run in _RUN.findall(normalise(text)):
            if run[0].isascii():
                continue  # English words are gathered below, as phrases across the runs
            self._chinese_terms(run, found)
        words = [stem(word) for word in re.findall(r"[a-z]+|[0-9]+", normalise(text))]
        self._english_terms(words, found)
        return found

    def _chinese_terms(self, run: str, found: list[str]) -> None:
        position, unmatched = 0, ""
        while position < len(run):
            for length in range(min(self.longest, len(run) - position), 0, -1):
                term = self.chinese.get(run[position : position + length])
                if term is not None:
                    _bigrams(unmatched, found)
                    unmatched = ""
                    if term:
                        found.append(term)
                    position += length
                    break
            else:
                if is_cjk(run[position]):
                    unmatched += run[position]
                else:  # punctuation ends a stretch of characters
                    _bigrams(unmatched, found)
                    unmatched = ""
                position += 1
        _bigrams(unmatched, found)

    def _english_terms(self, words: list[str], found: list[str]) -> None:
        position = 0
        while position < len(words):
            for length in range(min(_MAX_PHRASE_WORDS, len(words) - position), 0, -1):
                term = self.english.get(tuple(words[position : position + length]))
                if term is not None:
                    if term:
                        found.append(term)
                    position += length
                    break
            else:
                if len(words[position]) >= 2:
                    found.append(words[position])
                position += 1


def _bigrams(stretch: str, found: list[str]) -> None:
    """Characters no dictionary word covers: their bigrams, or the character alone."""
    if len(stretch) == 1:
        found.append(stretch)
    found.extend(stretch[i : i + 2] for i in range(len(stretch) - 1))
