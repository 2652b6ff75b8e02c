"""Alerts leave the casework through a ``Notifier``: Telegram, the console, or a recording for tests.

An alert's payload is plain data (the event, the ticket's reference, service type, urgency, area and
a short summary, and what the recipient may do); each channel renders it in the recipient's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from casework.domain import OutboxAlert, Person


class NotifierError(Exception):
    """Delivery failed. ``permanent`` when retrying cannot help (the person blocked the bot, say)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Recipient:
    person: Person | None
    chat_id: int | None
    language: str

    @property
    def label(self) -> str:
        """How logs name the recipient: an id, never a name."""
        return f"person:{self.person.id}" if self.person is not None else f"chat:{self.chat_id}"


class Notifier(Protocol):
    async def send(self, alert: OutboxAlert, recipient: Recipient) -> dict[str, Any]:
        """Deliver the alert; return where it went, so it can be edited later."""

    async def edit(self, delivered: dict[str, Any], alert: OutboxAlert, recipient: Recipient) -> None:
        """Replace an alert already delivered (at ``delivered``) with this one's content."""


@dataclass(slots=True)
class RecordingNotifier:
    """Keeps what it was asked to deliver; optionally fails the first ``fail_times`` attempts."""

    sent: list[tuple[OutboxAlert, Recipient]] = field(default_factory=list)
    edited: list[tuple[dict[str, Any], OutboxAlert, Recipient]] = field(default_factory=list)
    fail_times: int = 0
    permanent: bool = False

    async def send(self, alert: OutboxAlert, recipient: Recipient) -> dict[str, Any]:
        self._maybe_fail()
        self.sent.append((alert, recipient))
        return {"message": len(self.sent), "recipient": recipient.label}

    async def edit(self, delivered: dict[str, Any], alert: OutboxAlert, recipient: Recipient) -> None:
        self._maybe_fail()
        self.edited.append((delivered, alert, recipient))

    def _maybe_fail(self) -> None:
        if self.fail_times > 0:
            self.fail_times -= 1
            raise NotifierError("refused by the recording notifier", permanent=self.permanent)

    def events_for(self, label: str) -> list[str]:
        return [alert.event for alert, recipient in self.sent if recipient.label == label]
