"""User-facing text: one catalog per language, one YAML file per flow, keyed by name.

Besides the flows' messages, the catalog words what the domain only names by code: a refusal (a
``DomainError``'s code and arguments, ``refusal.<code>``) and the fixed parts of a ticket's summary,
which is stored once, as codes, and read by workers of either language (``summary_part``)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from casework.domain import AreaLevel, DomainError, QuestionKey, Role, ServiceType, TicketStatus, Urgency
from dialogs.messages import Button, Reply

CATALOGS = Path(__file__).resolve().parent / "catalog"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LIST_SEPARATOR = {"zh": "、", "en": ", "}

# A refusal's arguments that are codes of the domain, and the words the catalog has for them.
WORDED_ARGUMENTS: dict[type[StrEnum], str] = {
    TicketStatus: "worker.status.{}",
    Urgency: "urgency.{}",
    ServiceType: "service.{}",
    Role: "role.{}",
    AreaLevel: "area_level.{}",
}
# Said when a refusal's code has no words (yet): that the step did not go through, and the code.
UNWORDED_REFUSAL = "error.refused"

# A ticket's summary is written once, for readers of either language: its parts joined by
# SUMMARY_SEPARATOR, each fixed part a code ("@tag=elder_alone", "@size=3"), the words a person gave
# (the entities heard in their message) as they wrote them. Kinds of code, and the words for each:
SUMMARY_SEPARATOR = " · "
SUMMARY_WORDS = {
    "size": "need.summary_size",  # the household's size
    "tag": "tag.{}",  # its situation (VulnerabilityTag)
    "on_behalf": "flag.summary_on_behalf",
    "knows": "flag.summary_knows.{}",  # whether the household knows a volunteer reported it
    "crisis": "summary.crisis.{}",  # a kind of danger the crisis screen heard
    "ask_policy": "summary.ask_policy",
    "policy_feedback": "summary.policy_feedback",
    "topic": "policy.topic.{}",  # the policy topic a question was about
}
_SUMMARY_CODE = re.compile(r"^@([a-z_]+)(?:=([\w.-]+))?$")


def summary_part(kind: str, value: str | int | None = None) -> str:
    """One fixed part of a ticket's summary, as stored: ``summary_part("tag", "elder_alone")``."""
    if kind not in SUMMARY_WORDS:
        raise ValueError(f"no words for summary parts of kind {kind!r}")
    return f"@{kind}" if value is None else f"@{kind}={value}"


def ticket_summary(*parts: str) -> str:
    """A ticket's summary as stored: its parts (``summary_part`` or a person's own words), in order."""
    return SUMMARY_SEPARATOR.join(part for part in parts if part)


@dataclass(frozen=True, slots=True)
class TicketSummary:
    """A stored ticket summary as a reply's argument: rendered in the language of whoever reads it."""

    stored: str
    then: str = ""  # text that follows it (the references of linked tickets, say)


@dataclass(frozen=True, slots=True)
class Words:
    """A catalog text as a reply's argument, worded in the language of whoever reads the reply."""

    key: str
    args: dict[str, Any] = field(default_factory=dict, hash=False)


class Catalog:
    def __init__(self, texts: dict[str, dict[str, str]]) -> None:
        self.texts = texts

    @classmethod
    def load(cls, folder: Path = CATALOGS) -> Catalog:
        texts: dict[str, dict[str, str]] = {}
        for language in LANGUAGES:
            merged: dict[str, str] = {}
            for path in sorted((folder / language).glob("*.yml")):
                entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                for key, value in entries.items():
                    if key in merged:
                        raise ValueError(f"catalog key {key!r} appears twice in {language}")
                    merged[str(key)] = str(value).rstrip("\n")
            texts[language] = merged
        return cls(texts)

    def text(self, key: str, language: str | None, /, **args: Any) -> str:
        table = self.texts.get(language or DEFAULT_LANGUAGE) or self.texts[DEFAULT_LANGUAGE]
        template = table.get(key) or self.texts[DEFAULT_LANGUAGE][key]
        return string.Formatter().vformat(template, (), _Args(args))

    def has(self, key: str) -> bool:
        return all(key in self.texts[language] for language in LANGUAGES)

    def _resolved(self, args: dict[str, Any], language: str) -> dict[str, Any]:
        """Arguments that are themselves catalog keys (a service type's label, say) are translated, and
        a ticket's summary is rendered."""
        return {name: self._resolved_one(value, language) for name, value in args.items()}

    def _resolved_one(self, value: Any, language: str) -> Any:
        if isinstance(value, TicketSummary):
            return self.summary(value.stored, language) + value.then
        if isinstance(value, Words):
            return self.text(value.key, language, **self._resolved(value.args, language))
        if isinstance(value, str) and value in self.texts[DEFAULT_LANGUAGE]:
            return self.text(value, language)
        return value

    def render(self, reply: Reply, language: str) -> str:
        return self.text(reply.key, language, **self._resolved(reply.args, language))

    def label(self, button: Button, language: str) -> str:
        if button.literal:
            return button.label
        return self.text(button.label, language, **self._resolved(button.args, language))

    # --- refusals ---------------------------------------------------------------------------------

    def refusal_reply(self, error: DomainError) -> Reply:
        """What a refusal says, as a reply: its code's words (``refusal.<code>``) with its arguments, a
        status or a role among them in words. Every channel words a refusal through this."""
        key = f"refusal.{error.code}"
        if not self.has(key):
            return Reply(UNWORDED_REFUSAL, {"reason": str(error)})
        return Reply(key, {name: _worded(value) for name, value in error.arguments.items()})

    def refusal(self, error: DomainError, language: str) -> str:
        """A refusal in words, in ``language`` (the command line reads it in English); one that sums up
        several problems, with each of them on a line of its own."""
        lines = [self.render(self.refusal_reply(error), language)]
        lines += [f"  - {self.refusal(problem, language)}" for problem in error.problems]
        return "\n".join(lines)

    # --- ticket summaries -------------------------------------------------------------------------

    def summary(self, stored: str, language: str) -> str:
        """A ticket's summary in ``language``: its codes in words, next codes of one kind as a list
        (独居老人、残疾), the person's words as they wrote them. A summary written before it held codes
        reads as it was written."""
        groups: list[tuple[str | None, list[str]]] = []
        for part in stored.split(SUMMARY_SEPARATOR):
            kind, words = self._summary_words(part, language)
            if kind is not None and groups and groups[-1][0] == kind:
                groups[-1][1].append(words)
            else:
                groups.append((kind, [words]))
        separator = LIST_SEPARATOR.get(language, LIST_SEPARATOR["en"])
        return SUMMARY_SEPARATOR.join(separator.join(words) for _, words in groups)

    def _summary_words(self, part: str, language: str) -> tuple[str | None, str]:
        """(the kind of code, its words), or (None, the part as written) for words of a person's own."""
        found = _SUMMARY_CODE.match(part)
        if found is None or found.group(1) not in SUMMARY_WORDS:
            return None, part
        kind, value = found.group(1), found.group(2) or ""
        key = SUMMARY_WORDS[kind].format(value)
        if not self.has(key):
            return kind, value or part  # a code of its own the catalog does not word yet
        return kind, self.text(key, language, n=value, mark="")


def _worded(value: Any) -> Any:
    """A refusal's argument as the catalog shows it: a code of the domain as the key of its words."""
    if isinstance(value, QuestionKey):
        return f"assessment.short.{value}"
    for kind, key in WORDED_ARGUMENTS.items():
        if isinstance(value, kind):
            return key.format(value.value)
    return value


class _Args(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
