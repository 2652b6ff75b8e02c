"""Reading Rasa-format NLU training data (``version: "3.1"`` YAML) without Rasa itself."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from casework.domain import InvalidInput, Refusal
from nlu.types import Entity

RASA_PROJECT = Path(__file__).resolve().parent / "rasa"
TRAINING_DATA = RASA_PROJECT / "data" / "nlu.yml"

_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+?)\](?:\((?P<short>[^)]+)\)|(?P<json>\{[^}]*\}))")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    entities: tuple[Entity, ...] = ()


@dataclass(slots=True)
class TrainingData:
    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)  # variant (lower case) → canonical value
    fingerprint: str = ""

    @property
    def intents(self) -> list[str]:
        return sorted({example.intent for example in self.examples})

    def texts_and_labels(self) -> tuple[list[str], list[str]]:
        return [example.text for example in self.examples], [example.intent for example in self.examples]


def parse_annotated(line: str, where: str) -> tuple[str, tuple[Entity, ...]]:
    """``我要交[房租](resource)`` → plain text and its entities with character offsets."""
    plain: list[str] = []
    entities: list[Entity] = []
    position = 0
    cursor = 0
    for match in _ANNOTATION.finditer(line):
        before = line[cursor : match.start()]
        plain.append(before)
        position += len(before)
        surface = match.group("text")
        if match.group("json"):
            try:
                spec = json.loads(match.group("json"))
            except json.JSONDecodeError:
                raise InvalidInput(
                    Refusal.RASA_ANNOTATION_NOT_JSON, where=where, annotation=match.group(0)
                ) from None
            if not isinstance(spec, dict) or "entity" not in spec:
                raise InvalidInput(Refusal.RASA_ANNOTATION_NO_ENTITY, where=where, annotation=match.group(0))
            name, value = str(spec["entity"]), str(spec.get("value", surface))
        else:
            name, _, value = match.group("short").partition(":")
            value = value or surface
        entities.append(
            Entity(entity=name, value=value, start=position, end=position + len(surface), text=surface)
        )
        plain.append(surface)
        position += len(surface)
        cursor = match.end()
    plain.append(line[cursor:])
    return "".join(plain), tuple(entities)


def _example_lines(block: Any, where: str) -> list[str]:
    if isinstance(block, str):
        lines = []
        for raw in block.splitlines():
            stripped = raw.strip()
            if not stripped:
                continue
            if not stripped.startswith("- "):
                raise InvalidInput(Refusal.RASA_EXAMPLE_LINE, where=where, line=stripped)
            lines.append(stripped[2:].strip())
        return lines
    if isinstance(block, list):
        return [str(item["text"]).strip() if isinstance(item, dict) else str(item).strip() for item in block]
    raise InvalidInput(Refusal.RASA_EXAMPLES_NOT_BLOCK, where=where)


def load_training_data(paths: Iterable[Path]) -> TrainingData:
    data = TrainingData()
    digest = hashlib.sha256()
    for path in paths:
        try:
            content = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidInput(
                Refusal.FILE_UNREADABLE, file=str(path), problem=type(error).__name__
            ) from None
        digest.update(content.encode())
        try:
            document = yaml.safe_load(content)
        except yaml.YAMLError:
            raise InvalidInput(Refusal.FILE_NOT_YAML, file=str(path)) from None
        if not isinstance(document, dict) or not isinstance(document.get("nlu"), list):
            raise InvalidInput(Refusal.RASA_NOT_NLU_DATA, file=str(path))
        for index, item in enumerate(document["nlu"], start=1):
            where = f"{path.name}: nlu[{index}]"
            if not isinstance(item, dict):
                raise InvalidInput(Refusal.RASA_ITEM_NOT_MAPPING, where=where)
            if "intent" in item:
                intent = str(item["intent"])
                for line in _example_lines(item.get("examples", ""), where):
                    text, entities = parse_annotated(line, where)
                    data.examples.append(Example(text=text, intent=intent, entities=entities))
            elif "synonym" in item:
                canonical = str(item["synonym"])
                for line in _example_lines(item.get("examples", ""), where):
                    data.synonyms[line.lower()] = canonical
    for example in data.examples:
        for entity in example.entities:
            if entity.value != entity.text:
                data.synonyms.setdefault(entity.text.lower(), entity.value)
    data.fingerprint = digest.hexdigest()
    return data


def load_project_data() -> TrainingData:
    return load_training_data([TRAINING_DATA])
