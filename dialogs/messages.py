"""What a flow says: message keys with arguments and buttons, rendered by each channel from the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Button:
    """A choice. ``label`` is a catalog key, or literal text when ``literal`` (an area's own name)."""

    label: str
    value: str
    args: dict[str, Any] = field(default_factory=dict, hash=False)
    literal: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    key: str
    args: dict[str, Any] = field(default_factory=dict, hash=False)
    buttons: tuple[tuple[Button, ...], ...] = ()

    @property
    def flat_buttons(self) -> list[Button]:
        return [button for row in self.buttons for button in row]


def rows(buttons: list[Button], per_row: int = 2) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row))
