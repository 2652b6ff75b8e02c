"""Alerts leave the casework through a ``Notifier``: Telegram, the console, or a recording for tests.

An alert's payload is plain data (the event, the ticket's reference, service type, urgency, area and
a short summary, and what the recipient may do); each channel renders it in the recipient's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from casework.domain import OutboxAlert, Person


class Undelivered(StrEnum):
    """Why an alert was not delivered: the notice to the supervisors words it in their language."""

    BLOCKED = "blocked"  # the person blocked the bot or left the chat
    REFUSED = "refused"  # the channel refused this message for good
    RATE_LIMITED = "rate_limited"
    NO_CHAT = "no_chat"  # the person has no chat with the bot on this channel
    NOTHING_TO_EDIT = "nothing_to_edit"  # the alert it replaces was not delivered on this channel
    NOT_ENROLLED = "not_enrolled"  # erased or deactivated since the alert was queued
    FAILED = "failed"  # the network, or the channel's own trouble


class NotifierError(Exception):
    """Delivery failed, for ``why`` (``detail`` says more, for the log and the outbox row only).
    ``permanent`` when retrying cannot help (the person blocked the bot, say)."""

    def __init__(self, why: Undelivered, detail: str = "", *, permanent: bool = False) -> None:
        super().__init__(f"{why}: {detail}" if detail else why.value)
        self.why = why
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
