"""Test doubles of the casework's ports: a notifier and follow-ups that remember what they were asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from casework.domain import OutboxAlert
from casework.notify import NotifierError, Recipient, Undelivered


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
            raise NotifierError(Undelivered.REFUSED, "by the recording notifier", permanent=self.permanent)

    def events_for(self, label: str) -> list[str]:
        return [alert.event for alert, recipient in self.sent if recipient.label == label]


@dataclass(slots=True)
class RecordingFollowUps:
    scheduled: dict[str, datetime] = field(default_factory=dict)

    def home_visit_due(self, ticket_id: int, at: datetime) -> None:
        self.scheduled[f"home_visit:{ticket_id}"] = at

    def survey_due(self, ticket_id: int, at: datetime) -> None:
        self.scheduled[f"survey:{ticket_id}"] = at

    def cancel(self, ticket_id: int) -> None:
        for key in [key for key in self.scheduled if key.endswith(f":{ticket_id}")]:
            if key.startswith(("home_visit:", "survey:")):
                del self.scheduled[key]

    def reassessment_due(self, household_id: int, at: datetime) -> None:
        self.scheduled[f"reassessment:{household_id}"] = at

    def review_due(self, household_id: int, at: datetime) -> None:
        self.scheduled[f"review:{household_id}"] = at
