"""Response deadlines per urgency and service type, and where each ticket stands against them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from casework.directory import parse_duration
from casework.domain import InvalidInput, Refusal, ServiceType, Ticket, TicketStatus, Urgency

DEADLINES_FILE = Path(__file__).resolve().parent / "data" / "deadlines.yml"


class SlaState(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"


SLA_ORDER = {SlaState.BREACHED: 0, SlaState.AT_RISK: 1, SlaState.ON_TRACK: 2}
# A "review" band came after the other three: a deadlines file written before it gets this one.
REVIEW_DEFAULTS = {"claim": timedelta(hours=1), "resolve": timedelta(days=3)}
_URGENCIES = ", ".join(Urgency)


def _table(raw: Any, where: str) -> dict[Urgency, timedelta]:
    if not isinstance(raw, dict):
        raise InvalidInput(Refusal.DEADLINES_NOT_A_TABLE, where=where)
    table = {}
    for key, value in raw.items():
        try:
            urgency = Urgency(str(key))
        except ValueError:
            raise InvalidInput(
                Refusal.DEADLINES_UNKNOWN_URGENCY, where=where, key=str(key), urgencies=_URGENCIES
            ) from None
        table[urgency] = parse_duration(str(value))
    return table


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    claim: dict[Urgency, timedelta]
    resolve: dict[Urgency, timedelta]
    overrides: dict[ServiceType, dict[str, dict[Urgency, timedelta]]] = field(default_factory=dict)
    at_risk_after: float = 0.75
    home_visit_after: timedelta = timedelta(days=1)
    survey_after: timedelta = timedelta(days=1)
    # An unacknowledged crisis is alerted one step further up after this long.
    crisis_realert_after: timedelta = timedelta(minutes=10)
    # The case file: a household is assessed again this long after its last assessment while a case
    # of theirs is open, or this long after a crisis of theirs; a plan is first reviewed this long
    # after it is set.
    reassess_after: timedelta = timedelta(days=90)
    reassess_after_crisis: timedelta = timedelta(days=7)
    review_every: timedelta = timedelta(days=28)

    @classmethod
    def load(cls, path: Path = DEADLINES_FILE) -> DeadlinePolicy:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise InvalidInput(
                Refusal.FILE_UNREADABLE, file=str(path), problem=type(error).__name__
            ) from None
        claim = _table(raw.get("claim"), "claim")
        resolve = _table(raw.get("resolve"), "resolve")
        for name, table in (("claim", claim), ("resolve", resolve)):
            table.setdefault(Urgency.REVIEW, REVIEW_DEFAULTS[name])
            missing = set(Urgency) - set(table)
            if missing:
                raise InvalidInput(
                    Refusal.DEADLINES_MISSING, table=name, urgencies=", ".join(sorted(missing))
                )
        overrides: dict[ServiceType, dict[str, dict[Urgency, timedelta]]] = {}
        for key, tables in (raw.get("service_types") or {}).items():
            try:
                kind = ServiceType(str(key))
            except ValueError:
                raise InvalidInput(
                    Refusal.SERVICE_TYPE_UNKNOWN,
                    where="service_types",
                    value=str(key),
                    service_types=", ".join(ServiceType),
                ) from None
            overrides[kind] = {
                name: _table(table, f"service_types.{key}.{name}") for name, table in tables.items()
            }
        at_risk = float(raw.get("at_risk_after", 0.75))
        if not 0 < at_risk < 1:
            raise InvalidInput(Refusal.DEADLINES_AT_RISK_RANGE, value=at_risk)
        return cls(
            claim=claim,
            resolve=resolve,
            overrides=overrides,
            at_risk_after=at_risk,
            home_visit_after=parse_duration(str(raw.get("home_visit_after", "1d"))),
            survey_after=parse_duration(str(raw.get("survey_after", "1d"))),
            crisis_realert_after=parse_duration(str(raw.get("crisis_realert_after", "10m"))),
            reassess_after=parse_duration(str(raw.get("reassess_after", "90d"))),
            reassess_after_crisis=parse_duration(str(raw.get("reassess_after_crisis", "7d"))),
            review_every=parse_duration(str(raw.get("review_every", "28d"))),
        )

    def _limit(self, name: str, urgency: Urgency, service_type: ServiceType) -> timedelta:
        override = self.overrides.get(service_type, {}).get(name, {})
        if urgency in override:
            return override[urgency]
        return (self.claim if name == "claim" else self.resolve)[urgency]

    def deadlines(
        self, urgency: Urgency, service_type: ServiceType, opened_at: datetime
    ) -> tuple[datetime, datetime]:
        """When the ticket must be claimed by, and resolved by."""
        return (
            opened_at + self._limit("claim", urgency, service_type),
            opened_at + self._limit("resolve", urgency, service_type),
        )

    def _state(self, start: datetime, deadline: datetime, now: datetime) -> SlaState:
        if now >= deadline:
            return SlaState.BREACHED
        if now >= start + (deadline - start) * self.at_risk_after:
            return SlaState.AT_RISK
        return SlaState.ON_TRACK

    def state(self, ticket: Ticket, now: datetime) -> SlaState:
        """On track, at risk or breached: against the claim deadline until claimed, then resolution."""
        if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            finished = ticket.resolved_at or ticket.closed_at or now
            if ticket.resolve_deadline is not None and finished > ticket.resolve_deadline:
                return SlaState.BREACHED
            return SlaState.ON_TRACK
        if (
            ticket.assignee_id is None
            and ticket.organisation_id is None
            and ticket.claim_deadline is not None
        ):
            return self._state(ticket.created_at, ticket.claim_deadline, now)
        if ticket.resolve_deadline is not None:
            return self._state(ticket.created_at, ticket.resolve_deadline, now)
        return SlaState.ON_TRACK

    def queue_order(self, ticket: Ticket, now: datetime) -> tuple[int, int, datetime, int]:
        """Breached first, then at risk; within each, the most urgent, then the oldest."""
        return (
            SLA_ORDER[self.state(ticket, now)],
            -ticket.urgency.rank,
            ticket.created_at,
            ticket.id,
        )
