"""User-facing text: one catalog per language, one YAML file per flow, keyed by name."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import yaml

from dialogs.messages import Button, Reply

CATALOGS = Path(__file__).resolve().parent / "catalog"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


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
        """Arguments that are themselves catalog keys (a service type's label, say) are translated."""
        return {
            name: self.text(value, language)
            if isinstance(value, str) and value in self.texts[DEFAULT_LANGUAGE]
            else value
            for name, value in args.items()
        }

    def render(self, reply: Reply, language: str) -> str:
        return self.text(reply.key, language, **self._resolved(reply.args, language))

    def label(self, button: Button, language: str) -> str:
        if button.literal:
            return button.label
        return self.text(button.label, language, **self._resolved(button.args, language))


class _Args(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
