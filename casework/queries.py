"""Read-side views of tickets for queues, the command line and reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from casework.domain import (
    Area,
    Feedback,
    NotFound,
    Organisation,
    Person,
    Referral,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from storage import Database


@dataclass(frozen=True, slots=True)
class TicketRow:
    ticket: Ticket
    area: Area
    assignee: Person | None


@dataclass(frozen=True, slots=True)
class TicketDetails:
    ticket: Ticket
    area_path: list[Area]
    assignee: Person | None
    organisation: Organisation | None
    reports: int
    events: list[TicketEvent]
    referrals: list[Referral]
    feedback: list[Feedback]


async def list_tickets(
    database: Database,
    *,
    statuses: Iterable[TicketStatus] | None = None,
    area_code: str | None = None,
    limit: int = 200,
) -> list[TicketRow]:
    """Tickets in an area and everything below it, oldest first."""
    async with database.transaction() as tx:
        area_ids: set[int] | None = None
        if area_code is not None:
            area = await tx.areas.by_code(area_code)
            if area is None:
                raise NotFound(f"no area with code '{area_code}'")
            area_ids = await tx.areas.descendant_ids(area.id)
        tickets = await tx.tickets.find(statuses=statuses, area_ids=area_ids, limit=limit)
        areas = {area.id: area for area in await tx.areas.list_all()}
        people: dict[int, Person | None] = {}
        rows = []
        for ticket in tickets:
            assignee = None
            if ticket.assignee_id is not None:
                if ticket.assignee_id not in people:
                    people[ticket.assignee_id] = await tx.people.get(ticket.assignee_id)
                assignee = people[ticket.assignee_id]
            rows.append(TicketRow(ticket=ticket, area=areas[ticket.area_id], assignee=assignee))
        return rows


async def ticket_details(
    database: Database, reference: str, *, now: datetime, reader_id: int | None, via: str
) -> TicketDetails:
    """Everything about one ticket; the read itself is written to the ticket's audit trail."""
    async with database.transaction() as tx:
        ticket = await tx.tickets.by_reference(reference)
        if ticket is None:
            raise NotFound(f"no ticket with reference '{reference}'")
        await tx.tickets.add_event(ticket_id=ticket.id, action="read", actor_id=reader_id, note=via, now=now)
        assignee = await tx.people.get(ticket.assignee_id) if ticket.assignee_id is not None else None
        organisation = (
            await tx.organisations.get(ticket.organisation_id) if ticket.organisation_id is not None else None
        )
        return TicketDetails(
            ticket=ticket,
            area_path=list(reversed(await tx.areas.ancestors(ticket.area_id))),
            assignee=assignee,
            organisation=organisation,
            reports=len(await tx.reports.for_ticket(ticket.id)),
            events=await tx.tickets.events(ticket.id),
            referrals=await tx.tickets.referrals(ticket.id),
            feedback=await tx.tickets.feedback(ticket.id),
        )
