"""What a flow says: message keys with arguments and buttons, rendered by each channel from the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from casework.indicators import Report


@dataclass(frozen=True, slots=True)
class Button:
    """A choice. ``label`` is a catalog key, or literal text when ``literal`` (an area's own name)."""

    label: str
    value: str
    args: dict[str, Any] = field(default_factory=dict, hash=False)
    literal: bool = False


class ReportPart(StrEnum):
    """A file drawn from a report: a chart (a picture) or the workbook (a document)."""

    NEEDS_CHART = "needs"  # cases by service type
    TIMES_CHART = "times"  # how soon cases were taken up, answered and resolved
    SHARES_CHART = "shares"  # what share was on time, and rated well
    WORKBOOK = "workbook"


@dataclass(frozen=True, slots=True)
class ReportFile:
    """A file a reply carries: one part of a report, drawn by the channel in the reader's language."""

    report: Report = field(hash=False)
    part: ReportPart


@dataclass(frozen=True, slots=True)
class Reply:
    """What a flow says: a catalog key with its arguments, buttons under it, and files after it."""

    key: str
    args: dict[str, Any] = field(default_factory=dict, hash=False)
    buttons: tuple[tuple[Button, ...], ...] = ()
    files: tuple[ReportFile, ...] = ()

    @property
    def flat_buttons(self) -> list[Button]:
        return [button for row in self.buttons for button in row]


def rows(buttons: list[Button], per_row: int = 2) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row))
