"""Policy answers from the knowledge base in ``nlu/knowledge``, each with its citation.

Retrieval compares character n-grams of the question with every phrasing of every entry (both
languages) and with the answers; an entry scores by its best match. Below a threshold the answer
says it is not sure, so the dialog can offer to pass the question to a person.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from casework.domain import InvalidInput
from nlu.language import detect_language, normalise

KNOWLEDGE_FILE = Path(__file__).resolve().parent / "knowledge" / "policy.yml"
DEFAULT_CONFIDENCE = 0.3
STRONG_MATCH = 0.45
ANSWER_WEIGHT = 0.8  # an answer that mentions the words counts a little less than a phrasing of the question

_CHINESE_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ARTICLE = re.compile(r"^第([零一二两三四五六七八九十百]+)条$")


def chinese_number(text: str) -> int:
    """十 → 10, 二十三 → 23, 一百零五 → 105: enough for article numbers."""
    total, current = 0, 0
    for character in text:
        if character == "百":
            total += (current or 1) * 100
            current = 0
        elif character == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = _CHINESE_DIGITS[character]
    return total + current


_WORD = re.compile(r"[a-z]{3,}")
# Words every assistance question shares; they say nothing of which help is meant.
_COMMON = frozenset({"help", "get", "can", "apply", "assistance", "need", "want", "know"})


def _content_words(text: str) -> set[str]:
    """English words that carry meaning (no stop words), folded to a crude stem."""
    words = _WORD.findall(text.lower())
    return {word.rstrip("s") for word in words if word not in ENGLISH_STOP_WORDS and word not in _COMMON}


@dataclass(frozen=True, slots=True)
class Citation:
    document: str
    document_en: str
    articles: tuple[str, ...]
    section: str

    def render(self, language: str) -> str:
        if language == "en":
            numbers = []
            for article in self.articles:
                match = _ARTICLE.match(article)
                numbers.append(str(chinese_number(match.group(1))) if match else article)
            where = ""
            if numbers:
                where = f", Article{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}"
            elif self.section:
                where = f", {self.section}"
            return f"{self.document_en or self.document}{where}"
        where = "、".join(self.articles) if self.articles else self.section
        return f"《{self.document}》{where}"


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    id: str
    topic: str
    questions: dict[str, tuple[str, ...]]
    answer: dict[str, str]
    citation: Citation
    local_note: dict[str, str]

    def answer_in(self, language: str) -> str:
        return self.answer.get(language) or self.answer["zh"]

    def note_in(self, language: str) -> str:
        return self.local_note.get(language) or self.local_note["zh"]


@dataclass(frozen=True, slots=True)
class PolicyMatch:
    entry: PolicyEntry
    score: float


@dataclass(frozen=True, slots=True)
class PolicyAnswer:
    question: str
    language: str
    matches: tuple[PolicyMatch, ...]
    confident: bool

    @property
    def best(self) -> PolicyMatch | None:
        return self.matches[0] if self.matches else None


def _texts(value: Any, where: str, *, at_least: int = 1) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len([v for v in value if str(v).strip()]) < at_least:
        raise InvalidInput(f"{where}: needs at least {at_least} text(s)")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _entry(raw: Any, index: int) -> PolicyEntry:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise InvalidInput(f"entries[{index}]: needs an id")
    where = f"entry '{raw['id']}'"
    questions = raw.get("questions") or {}
    answer = raw.get("answer") or {}
    source = raw.get("source") or {}
    note = raw.get("local_note") or {}
    if not source.get("document") or not (source.get("articles") or source.get("section")):
        raise InvalidInput(f"{where}: needs a source document and an article or section")
    for language in ("zh", "en"):
        if not str(answer.get(language, "")).strip() or not str(note.get(language, "")).strip():
            raise InvalidInput(f"{where}: needs an answer and a local note in {language}")
    return PolicyEntry(
        id=str(raw["id"]),
        topic=str(raw.get("topic", "")),
        questions={
            language: _texts(questions.get(language), f"{where} questions.{language}")
            for language in ("zh", "en")
        },
        answer={language: str(answer[language]).strip() for language in ("zh", "en")},
        citation=Citation(
            document=str(source["document"]),
            document_en=str(source.get("document_en", "")),
            articles=tuple(str(article) for article in source.get("articles") or ()),
            section=str(source.get("section") or ""),
        ),
        local_note={language: str(note[language]).strip() for language in ("zh", "en")},
    )


class PolicyKnowledgeBase:
    def __init__(self, entries: list[PolicyEntry], *, confidence: float = DEFAULT_CONFIDENCE) -> None:
        if not entries:
            raise InvalidInput("the knowledge base has no entries")
        ids = [entry.id for entry in entries]
        if len(set(ids)) != len(ids):
            raise InvalidInput("knowledge base entry ids must be unique")
        self.entries = entries
        self.confidence = confidence
        documents: list[str] = []
        owners: list[int] = []
        weights: list[float] = []
        for position, entry in enumerate(entries):
            for phrasings in entry.questions.values():
                for question in phrasings:
                    documents.append(question)
                    owners.append(position)
                    weights.append(1.0)
            for answer in entry.answer.values():
                documents.append(answer)
                owners.append(position)
                weights.append(ANSWER_WEIGHT)
        vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, preprocessor=normalise
        )
        matrix = vectorizer.fit_transform(documents)
        self.vectorizer = vectorizer  # fitted; _similarities does its sums for one question directly
        # By n-gram, one row each: a question's few n-grams pick their rows (see _similarities).
        self._by_gram = matrix.T.tocsr()
        self._analyze = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self._documents = len(documents)
        self._owners = np.asarray(owners)
        self._entry_words = {
            entry.id: _content_words(" ".join([*entry.questions["en"], entry.answer["en"]]))
            for entry in entries
        }
        self._weights = np.asarray(weights, dtype=np.float64)

    @classmethod
    def load(cls, path: Path = KNOWLEDGE_FILE) -> PolicyKnowledgeBase:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
            raise InvalidInput(f"{path.name}: expected a mapping with an 'entries' list")
        return cls([_entry(raw, index) for index, raw in enumerate(document["entries"], start=1)])

    def _similarities(self, question: str) -> np.ndarray:
        """The cosine similarity of the question with every document: what the fitted vectorizer's
        ``transform`` and a product with the document matrix give, summed straight from the question's
        n-grams (``transform`` spends a few milliseconds checking its input for one short question)."""
        counts = Counter(gram for gram in self._analyze(question) if gram in self._vocabulary)
        if not counts:
            return np.zeros(self._documents)
        grams = np.fromiter((self._vocabulary[gram] for gram in counts), dtype=np.intp, count=len(counts))
        values = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        values *= self._idf[grams]
        values /= np.sqrt(values @ values)
        return np.asarray(values @ self._by_gram[grams]).ravel()

    def ask(self, question: str, language: str | None = None, *, limit: int = 3) -> PolicyAnswer:
        if not question.strip():
            raise InvalidInput("there is no question to answer")
        language = language or detect_language(question)
        similarities = self._similarities(question) * self._weights
        best = np.zeros(len(self.entries))
        np.maximum.at(best, self._owners, similarities)
        order = np.argsort(best)[::-1][:limit]
        matches = tuple(PolicyMatch(self.entries[i], float(best[i])) for i in order if best[i] > 0)
        confident = bool(matches) and matches[0].score >= self.confidence
        if confident and detect_language(question) == "en":
            # Letters match by chance in English: also ask for words of substance in common, two of
            # them, or one with a close match ("parking policy for my building" is not capacity building).
            shared = _content_words(question) & self._entry_words[matches[0].entry.id]
            confident = len(shared) >= 2 or (len(shared) == 1 and matches[0].score >= STRONG_MATCH)
        return PolicyAnswer(question=question, language=language, matches=matches, confident=confident)
