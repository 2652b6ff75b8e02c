"""How well the policy knowledge base answers a labelled set of questions.

The set is YAML: ``answerable: [{text, lang, expected: entry-id}]`` and ``unanswerable: [{text, lang}]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from casework.domain import InvalidInput, Refusal
from nlu.policy import PolicyKnowledgeBase


@dataclass(frozen=True, slots=True)
class PolicyCase:
    text: str
    language: str | None
    expected: str | None  # None: no entry answers it, the right reply is "not sure"


@dataclass(frozen=True, slots=True)
class PolicyEvaluation:
    answerable: int
    unanswerable: int
    top1_accuracy: float  # the expected entry ranked first, sure or not
    right_and_sure: float  # ranked first and answered with confidence
    wrong_and_confident: float  # share of answerable questions answered confidently with another entry
    unsure_on_unanswerable: float
    p50_ms: float
    misses: list[tuple[str, str, str, bool]] = field(default_factory=list)  # text, expected, got, sure


def load_policy_cases(path: Path) -> list[PolicyCase]:
    if not path.exists():
        raise InvalidInput(Refusal.FILE_MISSING, file=str(path))
    document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not (document.get("answerable") or document.get("unanswerable")):
        raise InvalidInput(Refusal.POLICY_CASES_SHAPE, file=path.name)
    cases = []
    for key in ("answerable", "unanswerable"):
        for number, raw in enumerate(document.get(key) or [], start=1):
            if not isinstance(raw, dict) or not str(raw.get("text", "")).strip():
                raise InvalidInput(Refusal.POLICY_CASE_NEEDS_TEXT, file=path.name, section=key, number=number)
            if key == "answerable" and not raw.get("expected"):
                raise InvalidInput(
                    Refusal.POLICY_CASE_NEEDS_EXPECTED, file=path.name, section=key, number=number
                )
            cases.append(
                PolicyCase(
                    text=str(raw["text"]),
                    language=raw.get("lang"),
                    expected=str(raw["expected"]) if key == "answerable" else None,
                )
            )
    return cases


def evaluate_policy(knowledge: PolicyKnowledgeBase, cases: list[PolicyCase]) -> PolicyEvaluation:
    known = {entry.id for entry in knowledge.entries}
    unknown = sorted({case.expected for case in cases if case.expected and case.expected not in known})
    if unknown:
        raise InvalidInput(Refusal.POLICY_CASES_UNKNOWN_ENTRIES, entries=", ".join(unknown))
    answerable = [case for case in cases if case.expected]
    unanswerable = [case for case in cases if not case.expected]
    top1 = right_sure = wrong_sure = unsure = 0
    misses: list[tuple[str, str, str, bool]] = []
    latencies = []
    for case in cases:
        started = time.perf_counter()
        answer = knowledge.ask(case.text, case.language)
        latencies.append(time.perf_counter() - started)
        got = answer.best.entry.id if answer.best else "-"
        if case.expected is None:
            unsure += not answer.confident
            if answer.confident:
                misses.append((case.text, "(not sure)", got, True))
            continue
        if got == case.expected:
            top1 += 1
            right_sure += answer.confident
        else:
            wrong_sure += answer.confident
        if got != case.expected or not answer.confident:
            misses.append((case.text, case.expected, got, answer.confident))
    latencies.sort()
    return PolicyEvaluation(
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        top1_accuracy=top1 / max(len(answerable), 1),
        right_and_sure=right_sure / max(len(answerable), 1),
        wrong_and_confident=wrong_sure / max(len(answerable), 1),
        unsure_on_unanswerable=unsure / max(len(unanswerable), 1),
        p50_ms=latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        misses=misses,
    )
