"""Replacing a person's name and phone numbers in stored text (erasure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Scrub = Callable[[str], str]


def scrub_column(row: Any, name: str, scrub: Scrub) -> bool:
    """Erasure: one text column of an ORM row passed through ``scrub``; True when it changed."""
    text = getattr(row, name)
    if text is None:
        return False
    scrubbed = scrub(text)
    if scrubbed == text:
        return False
    setattr(row, name, scrubbed)
    return True


def scrub_json(value: Any, scrub: Scrub) -> Any:
    """Erasure: every string in a JSON value passed through ``scrub``."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_json(item, scrub) for item in value]
    if isinstance(value, dict):
        return {key: scrub_json(item, scrub) for key, item in value.items()}
    return value
