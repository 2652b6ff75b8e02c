"""Policy answers from the knowledge base in ``nlu/knowledge``, each with its citation.

A question is cut into terms by the field dictionary (``nlu/policy_terms.py``): synonyms fold to one
concept (公租房, 廉租房 → ~housing), other Chinese stays as character bigrams, English words are
stemmed. Each entry scores by a blend of two views of the same terms: the TF-IDF cosine of the
question with its closest phrasing (either language) or, a little less, its answer; and a logistic
regression over entries trained on all the phrasings, which learns which terms tell apart entries
that share a programme (who may apply vs how to apply). Beside the entries stands one more class,
"none": questions near the field that no entry answers (``knowledge/out_of_scope.yml``: ordinary
pensions, hukou transfers, marriage registration, ...), scored by the same two views; a question that
names social assistance itself (低保, 救助, dibao) is never given to "none". The answer is
sure only when the best entry scores high enough, stands clear of the next entry and of "none", and
the question says more than a programme's name; otherwise it says it is not sure, so the dialog can
offer to pass the question to a person.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

from casework.domain import InvalidInput, Refusal
from nlu.language import detect_language, is_cjk, normalise
from nlu.policy_terms import CONCEPT, Lexicon

KNOWLEDGE_FILE = Path(__file__).resolve().parent / "knowledge" / "policy.yml"
OUT_OF_SCOPE_FILE = Path(__file__).resolve().parent / "knowledge" / "out_of_scope.yml"
# Chosen on tests/data/policy_dev.yml, policy_dev2.yml and policy_v1.yml together: a lower margin
# answers more but is wrongly sure more often on dev2, a higher one leaves right answers unsure.
DEFAULT_CONFIDENCE = 0.25
DEFAULT_MARGIN = 0.1
ANSWER_WEIGHT = 0.7  # an answer that mentions the words counts less than a phrasing of the question
POOLED_SHARE = 0.2  # how much of a score comes from all of an entry's texts together
CONCEPT_WEIGHT = 1.5  # a field concept says more about which entry is meant than a stray bigram
CLASSIFIER_SHARE = 0.5  # how much of a score comes from the classifier's probability
CLASSIFIER_C = 10.0  # little regularisation: each entry has only a dozen phrasings to learn from
# "None" has about fifteen times an entry's phrasings; each weighs less, so it does not crowd out
# the entries.
NONE_WEIGHT = 0.5
# The eight kinds of assistance: a question naming only one of them asks nothing in particular.
PROGRAMMES = frozenset(
    CONCEPT + name
    for name in ("dibao", "tekun", "disaster", "medical", "education", "housing", "employment", "temporary")
)

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
        raise InvalidInput(Refusal.POLICY_TEXTS_TOO_FEW, where=where, at_least=at_least)
    return tuple(str(v).strip() for v in value if str(v).strip())


def _entry(raw: Any, index: int) -> PolicyEntry:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise InvalidInput(Refusal.POLICY_ENTRY_NEEDS_ID, number=index)
    where = f"entry '{raw['id']}'"
    questions = raw.get("questions") or {}
    answer = raw.get("answer") or {}
    source = raw.get("source") or {}
    note = raw.get("local_note") or {}
    if not source.get("document") or not (source.get("articles") or source.get("section")):
        raise InvalidInput(Refusal.POLICY_ENTRY_NEEDS_SOURCE, entry=str(raw["id"]))
    for language in ("zh", "en"):
        if not str(answer.get(language, "")).strip() or not str(note.get(language, "")).strip():
            raise InvalidInput(Refusal.POLICY_ENTRY_NEEDS_ANSWER, entry=str(raw["id"]), language=language)
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


@dataclass(frozen=True, slots=True)
class OutOfScope:
    """Questions near the field that no entry answers, and the words that put a question in the field."""

    questions: tuple[str, ...]
    field_words: tuple[str, ...]

    @classmethod
    def load(cls, path: Path = OUT_OF_SCOPE_FILE) -> OutOfScope:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("topics"), dict):
            raise InvalidInput(Refusal.POLICY_TOPICS_SHAPE, file=path.name)
        questions: list[str] = []
        for topic, raw in document["topics"].items():
            if not isinstance(raw, dict):
                raise InvalidInput(Refusal.POLICY_TOPIC_NEEDS_QUESTIONS, file=path.name, topic=str(topic))
            for language in ("zh", "en"):
                questions.extend(_texts(raw.get(language), f"{path.name} {topic}.{language}"))
        field_words = _texts(document.get("in_field"), f"{path.name} in_field")
        return cls(questions=tuple(questions), field_words=field_words)


def _any_word(words: Sequence[str]) -> re.Pattern[str]:
    """Chinese words match anywhere (救助 in 医疗救助), English ones as whole words."""
    alternatives = [
        re.escape(form) if any(is_cjk(character) for character in form) else rf"\b{re.escape(form)}\b"
        for form in (normalise(word) for word in words)
    ]
    return re.compile("|".join(alternatives) if alternatives else r"(?!)")


class PolicyKnowledgeBase:
    def __init__(
        self,
        entries: list[PolicyEntry],
        *,
        out_of_scope: OutOfScope | None = None,
        confidence: float = DEFAULT_CONFIDENCE,
        margin: float = DEFAULT_MARGIN,
        lexicon: Lexicon | None = None,
    ) -> None:
        if not entries:
            raise InvalidInput(Refusal.POLICY_NO_ENTRIES)
        ids = [entry.id for entry in entries]
        if len(set(ids)) != len(ids):
            raise InvalidInput(
                Refusal.POLICY_ENTRY_IDS_TWICE, ids=", ".join(sorted({i for i in ids if ids.count(i) > 1}))
            )
        self.entries = entries
        self.confidence = confidence
        self.margin = margin
        self.lexicon = lexicon or Lexicon.load()
        documents: list[Counter[str]] = []
        owners: list[int] = []
        weights: list[float] = []  # how much a text's cosine counts: an answer less than a phrasing
        for position, entry in enumerate(entries):
            phrasings = [question for questions in entry.questions.values() for question in questions]
            for text, weight in [
                *((question, 1.0) for question in phrasings),
                *((answer, ANSWER_WEIGHT) for answer in entry.answer.values()),
            ]:
                documents.append(Counter(self.lexicon.terms(text)))
                owners.append(position)
                weights.append(weight)
        # The questions no entry answers belong to one more owner, "none", after the entries.
        self._none = len(entries)
        out_of_scope = out_of_scope or OutOfScope(questions=(), field_words=())
        self._in_field = _any_word(out_of_scope.field_words)
        for text in out_of_scope.questions:
            documents.append(Counter(self.lexicon.terms(text)))
            owners.append(self._none)
            weights.append(1.0)
        # One more text per entry, all of its texts together: a paraphrase that takes its words from
        # two phrasings still finds the entry. It ranks by blending with the closest text.
        self._pooled_from = len(documents)
        for position in range(len(entries)):
            documents.append(sum((documents[n] for n, o in enumerate(owners) if o == position), Counter()))
        # Inverse document frequency over all the texts; a term never seen weighs as the rarest.
        frequency: Counter[str] = Counter(term for document in documents for term in document)
        count = len(documents)
        self._idf = {term: math.log((1 + count) / (1 + seen)) + 1.0 for term, seen in frequency.items()}
        self._unseen_idf = math.log(1 + count) + 1.0
        self._owners = owners
        self._weights = weights
        # By term, the texts that hold it with the term's share of the text's unit vector.
        self._postings: dict[str, list[tuple[int, float]]] = {}
        for number, document in enumerate(documents):
            vector = self._vector(document)
            for term, value in vector.items():
                self._postings.setdefault(term, []).append((number, value))
        samples = [
            NONE_WEIGHT if owner == self._none else weight
            for owner, weight in zip(owners, weights, strict=True)
        ]
        self._train_classifier(documents[: self._pooled_from], owners, samples)

    def _train_classifier(
        self, documents: list[Counter[str]], owners: list[int], weights: list[float]
    ) -> None:
        """Entry and "none" probabilities from the same unit TF-IDF vectors, kept as plain arrays for a
        fast look-up."""
        self._columns: dict[str, int] = {}
        for document in documents:
            for term in document:
                self._columns.setdefault(term, len(self._columns))
        self._coefficients: np.ndarray[Any, np.dtype[np.float64]] | None = None
        classes = len(set(owners))
        self._intercepts = np.zeros(classes)
        if classes < 2:
            return
        rows, columns, values = [], [], []
        for row, document in enumerate(documents):
            for term, value in self._vector(document).items():
                rows.append(row)
                columns.append(self._columns[term])
                values.append(value)
        features = csr_matrix((values, (rows, columns)), shape=(len(documents), len(self._columns)))
        model = LogisticRegression(C=CLASSIFIER_C, solver="saga", tol=1e-3, max_iter=1000, random_state=0)
        model.fit(features, owners, sample_weight=weights)
        # Rows in owner order, "none" last; a two-class model has one row of coefficients for the second.
        coefficients = np.asarray(model.coef_, dtype=np.float64)
        intercepts = np.asarray(model.intercept_, dtype=np.float64)
        if coefficients.shape[0] == 1:
            coefficients = np.vstack([np.zeros_like(coefficients), coefficients])
            intercepts = np.concatenate([[0.0], intercepts])
        self._coefficients = np.ascontiguousarray(coefficients.T)  # a term's column is a row: fast to sum
        self._intercepts = intercepts

    def _probabilities(self, vector: dict[str, float], *, in_field: bool = False) -> list[float]:
        """The probability of each entry, then of "none" (0 when no question is out of scope, or when
        the question is in the field: then the entries share all of it)."""
        if self._coefficients is None:
            return [1.0] * len(self.entries) + [0.0]
        logits = self._intercepts.copy()
        for term, value in vector.items():
            column = self._columns.get(term)
            if column is not None:
                logits += value * self._coefficients[column]
        logits = np.exp(logits - logits.max())
        if in_field:
            logits[self._none :] = 0.0
        probabilities = [float(p) for p in logits / logits.sum()]
        return probabilities if len(probabilities) > len(self.entries) else [*probabilities, 0.0]

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        """Sublinear term frequency times idf, concepts weighted up, scaled to unit length."""
        vector = {
            term: (1.0 + math.log(times))
            * self._idf.get(term, self._unseen_idf)
            * (CONCEPT_WEIGHT if term.startswith(CONCEPT) else 1.0)
            for term, times in counts.items()
        }
        length = math.sqrt(sum(value * value for value in vector.values()))
        return {term: value / length for term, value in vector.items()} if length else {}

    def scores(self, question: str) -> list[float]:
        """Each entry's score: its cosine with the question blended with the classifier's probability."""
        vector = self._vector(Counter(self.lexicon.terms(question)))
        return self._scores(vector, in_field=self.names_the_field(question))[: len(self.entries)]

    def names_the_field(self, question: str) -> bool:
        """Whether the question names social assistance or an emergency itself (低保, 救助, dibao)."""
        return bool(self._in_field.search(normalise(question)))

    def _scores(self, vector: dict[str, float], *, in_field: bool = False) -> list[float]:
        """The entries' scores, then the score of "none": the same blend over the out-of-scope questions,
        taking the closest of them (they share no answer, so there is nothing to pool). A question in
        the field is for an entry or for nobody, so "none" scores 0 for it."""
        if not vector:
            return [0.0] * (len(self.entries) + 1)
        best = [0.0] * (len(self.entries) + 1)
        sums: dict[int, float] = {}
        for term, value in vector.items():
            for number, weight in self._postings.get(term, ()):
                sums[number] = sums.get(number, 0.0) + value * weight
        pooled = [0.0] * len(self.entries)
        for number, total in sums.items():
            if number >= self._pooled_from:
                pooled[number - self._pooled_from] = total
                continue
            owner = self._owners[number]
            best[owner] = max(best[owner], total * self._weights[number])
        pooled.append(best[self._none])
        if in_field:
            best[self._none] = pooled[self._none] = 0.0
        return [
            (1 - CLASSIFIER_SHARE) * ((1 - POOLED_SHARE) * closest + POOLED_SHARE * whole)
            + CLASSIFIER_SHARE * probability
            for closest, whole, probability in zip(
                best, pooled, self._probabilities(vector, in_field=in_field), strict=True
            )
        ]

    @classmethod
    def load(
        cls, path: Path = KNOWLEDGE_FILE, out_of_scope: Path | None = OUT_OF_SCOPE_FILE
    ) -> PolicyKnowledgeBase:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
            raise InvalidInput(Refusal.POLICY_KNOWLEDGE_SHAPE, file=path.name)
        return cls(
            [_entry(raw, index) for index, raw in enumerate(document["entries"], start=1)],
            out_of_scope=OutOfScope.load(out_of_scope) if out_of_scope else None,
        )

    def ask(self, question: str, language: str | None = None, *, limit: int = 3) -> PolicyAnswer:
        if not question.strip():
            raise InvalidInput(Refusal.POLICY_QUESTION_EMPTY)
        language = language or detect_language(question)
        terms = self.lexicon.terms(question)
        # A question that names the field itself (「养老金还能吃低保吗」) asks where it meets another one,
        # which is what the entries answer; "none" stands in only for the other field alone.
        *scores, none = self._scores(self._vector(Counter(terms)), in_field=self.names_the_field(question))
        order = sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)[:limit]
        matches = tuple(PolicyMatch(self.entries[i], scores[i]) for i in order if scores[i] > 0)
        # Sure only of a close match that stands clear of the next entry and of "none": two entries
        # nearly level means the question could be either, an entry level with "none" means it may be
        # about something no entry answers, and a wrong answer at full confidence misleads.
        runner_up = max(matches[1].score if len(matches) > 1 else 0.0, none)
        confident = bool(matches) and matches[0].score >= self.confidence
        confident = confident and matches[0].score - runner_up >= self.margin
        # A programme's name alone (「低保」, "dibao") asks nothing in particular: any one of its entries
        # would be a guess, so it is a question for the overview or a person, not a confident answer.
        confident = confident and not (len(set(terms)) == 1 and terms[0] in PROGRAMMES)
        return PolicyAnswer(question=question, language=language, matches=matches, confident=confident)
