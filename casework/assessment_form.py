"""The household assessment's form: its questions, read from ``casework/data/assessment.yml`` (an agency
adapts the file, not the code), and the check that a set of answers fits it.

The form says what is asked and which answers are allowed; the catalogs word every question and
option in both languages (``assessment.q.<key>``, ``assessment.option.<key>.<option>``); the chat
walks the questions in order (``dialogs/flows/casefile.py``); ``Form.clean`` is what the casework
accepts."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from casework.domain import InvalidInput, QuestionKey, Refusal, ServiceType

ASSESSMENT_FILE = Path(__file__).parent / "data" / "assessment.yml"
TEXT_CHARS = 1000  # a free-text answer is a few words, not a report
GROUP_LIMIT = 20  # members of one household


class Kind(StrEnum):
    CHOICE = "choice"  # one of the options
    MULTI = "multi"  # any of the options
    TEXT = "text"  # a few words
    GROUP = "group"  # repeated: one set of ``fields`` per item (a household member)
    RATINGS = "ratings"  # one option per service type


@dataclass(frozen=True, slots=True)
class Question:
    key: str
    kind: Kind
    section: str
    options: tuple[str, ...] = ()
    fields: tuple[Question, ...] = ()
    optional: bool = False
    sensitive: bool = False

    def clean(self, answer: Any) -> Any:
        """The answer as it is kept; ``InvalidInput`` when it does not fit the question."""
        bad = InvalidInput(Refusal.ASSESSMENT_BAD_ANSWER, question=QuestionKey(self.key))
        if self.kind is Kind.CHOICE:
            if answer not in self.options:
                raise bad
            return answer
        if self.kind is Kind.MULTI:
            if not isinstance(answer, list | tuple) or not set(answer) <= set(self.options):
                raise bad
            if not answer and not self.optional:
                raise InvalidInput(Refusal.ASSESSMENT_MISSING_ANSWER, question=QuestionKey(self.key))
            return [option for option in self.options if option in answer]  # the form's order, once each
        if self.kind is Kind.TEXT:
            if not isinstance(answer, str):
                raise bad
            return answer.strip()[:TEXT_CHARS]
        if self.kind is Kind.RATINGS:
            if not isinstance(answer, Mapping) or set(answer) != {kind.value for kind in ServiceType}:
                raise bad
            if not set(answer.values()) <= set(self.options):
                raise bad
            return {kind.value: answer[kind.value] for kind in ServiceType}
        # A group: a list of items, each answering the group's fields.
        if not isinstance(answer, list | tuple) or len(answer) > GROUP_LIMIT:
            raise bad
        if not answer and not self.optional:
            raise InvalidInput(Refusal.ASSESSMENT_MISSING_ANSWER, question=QuestionKey(self.key))
        items = []
        for item in answer:
            if not isinstance(item, Mapping):
                raise bad
            try:
                items.append(_clean_all(self.fields, item))
            except InvalidInput as error:  # the member's field is named by the group's words
                raise type(error)(error.code, question=QuestionKey(self.key)) from None
        return items


@dataclass(frozen=True, slots=True)
class Form:
    version: str
    questions: tuple[Question, ...]
    risk: str  # the question whose answer is the household's risk rating
    needs: str  # the ratings of what each service type is needed

    def question(self, key: str) -> Question:
        return next(question for question in self.questions if question.key == key)

    @property
    def sensitive(self) -> frozenset[str]:
        """The questions whose answers are sensitive (health, disability, minors)."""
        return frozenset(question.key for question in self.questions if question.sensitive)

    def clean(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """The answers as they are kept: each checked against its question, every question not
        optional answered, nothing the form does not ask. ``InvalidInput`` names the question."""
        return _clean_all(self.questions, answers)


def _clean_all(questions: tuple[Question, ...], answers: Mapping[str, Any]) -> dict[str, Any]:
    known = {question.key for question in questions}
    stray = next((key for key in answers if key not in known), None)
    if stray is not None:
        raise InvalidInput(Refusal.ASSESSMENT_BAD_ANSWER, question=str(stray))
    kept: dict[str, Any] = {}
    for question in questions:
        answer = answers.get(question.key)
        if answer is None or answer == "":
            if not question.optional:
                raise InvalidInput(Refusal.ASSESSMENT_MISSING_ANSWER, question=QuestionKey(question.key))
            continue
        cleaned = question.clean(answer)
        if cleaned not in ("", []):
            kept[question.key] = cleaned
    return kept


@functools.cache
def default() -> Form:
    """The form of ``casework/data/assessment.yml``, read once."""
    return load(ASSESSMENT_FILE)


def load(path: Path = ASSESSMENT_FILE) -> Form:
    """The form the file describes; ``InvalidInput`` saying where it is malformed."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput(Refusal.FILE_UNREADABLE, file=str(path), problem=type(error).__name__) from None
    except yaml.YAMLError:
        raise InvalidInput(Refusal.FILE_NOT_YAML, file=str(path)) from None

    def shape(where: str) -> InvalidInput:
        return InvalidInput(Refusal.ASSESSMENT_FORM_SHAPE, file=str(path), where=where)

    if not isinstance(raw, Mapping) or not isinstance(raw.get("sections"), list):
        raise shape("sections")
    questions: list[Question] = []
    for number, section in enumerate(raw["sections"], start=1):
        if not isinstance(section, Mapping) or not isinstance(section.get("questions"), list):
            raise shape(f"sections[{number}]")
        name = str(section.get("key") or f"section_{number}")
        questions.extend(
            _question(item, name, f"{name}.{index}", shape)
            for index, item in enumerate(section["questions"], start=1)
        )
    keys = [question.key for question in questions]
    twice = next((key for key in keys if keys.count(key) > 1), None)
    if twice is not None:
        raise shape(twice)
    form = Form(
        version=str(raw.get("version") or "1"),
        questions=tuple(questions),
        risk=str(raw.get("risk", "")),
        needs=str(raw.get("needs", "")),
    )
    if form.risk not in keys or form.question(form.risk).kind is not Kind.CHOICE:
        raise shape("risk")
    if form.needs not in keys or form.question(form.needs).kind is not Kind.RATINGS:
        raise shape("needs")
    return form


def _question(raw: Any, section: str, where: str, shape: Any) -> Question:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("key"), str):
        raise shape(where)
    try:
        kind = Kind(str(raw.get("kind")))
    except ValueError:
        raise shape(f"{where}.kind") from None
    options = tuple(str(option) for option in raw.get("options") or ())
    if kind in (Kind.CHOICE, Kind.MULTI, Kind.RATINGS) and not options:
        raise shape(f"{where}.options")
    fields: tuple[Question, ...] = ()
    if kind is Kind.GROUP:
        if not isinstance(raw.get("fields"), list) or not raw["fields"]:
            raise shape(f"{where}.fields")
        fields = tuple(
            _question(field, section, f"{where}.fields.{index}", shape)
            for index, field in enumerate(raw["fields"], start=1)
        )
        if any(field.kind not in (Kind.CHOICE, Kind.MULTI) for field in fields):
            raise shape(f"{where}.fields")
    return Question(
        key=raw["key"],
        kind=kind,
        section=section,
        options=options,
        fields=fields,
        optional=bool(raw.get("optional", False)),
        sensitive=bool(raw.get("sensitive", False)),
    )
