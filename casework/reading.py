"""Reading cases: one case in full (the read is written to its trail), a ticket's status, a ticket by
its reference, a person's own reports, the queues of open tickets; and, for the command line, the
ticket list of an area and a case read by its reference."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from casework.access import Forbidden, Operation
from casework.core import Operations, covered_areas
from casework.deadlines import SlaState
from casework.domain import (
    OPEN_STATUSES,
    WORKER_ROLES,
    Area,
    Feedback,
    Household,
    NeedReport,
    NotFound,
    Organisation,
    Person,
    Referral,
    Refusal,
    Role,
    SupervisionReview,
    Ticket,
    TicketAction,
    TicketEvent,
    TicketStatus,
)
from casework.unit_of_work import Transaction, UnitOfWork


@dataclass(frozen=True, slots=True)
class TicketView:
    """One case in full, as its read found it: where it is, who has it, what was reported, its trail,
    referrals and ratings."""

    ticket: Ticket
    area_path: tuple[Area, ...]  # from the top of the tree down to the ticket's area
    assignee: Person | None
    organisation: Organisation | None
    reports: tuple[NeedReport, ...]
    events: tuple[TicketEvent, ...]
    referrals: tuple[Referral, ...]
    feedback: tuple[Feedback, ...]
    household: Household | None = None  # the address and situation a report gave
    supervision: tuple[SupervisionReview, ...] = ()  # supervisors' reviews of the finished case (督导)


@dataclass(frozen=True, slots=True)
class QueueItem:
    ticket: Ticket
    area: Area
    sla: SlaState


@dataclass(frozen=True, slots=True)
class TicketRow:
    ticket: Ticket
    area: Area
    assignee: Person | None


class Reading(Operations):
    """What a person may read of cases, each read checked against who they are."""

    async def view(self, actor: Person, ticket_id: int) -> TicketView:
        """The case in full; the read is written to the ticket's audit trail."""
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.VIEW, ticket_id)
            return await _read(tx, ticket, reader_id=actor.id, via=None, now=self.clock.now())

    async def status(self, actor: Person, ticket_id: int) -> Ticket:
        """Reference, status and deadlines only: what a reporter (or a volunteer) may see."""
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.STATUS, ticket_id)
            return ticket

    async def by_reference(self, reference: str) -> Ticket:
        """The ticket with this reference, for the command line (no actor's access is checked): a
        person's lookup goes through ``readable_by_reference``."""
        async with self.database.transaction() as tx:
            ticket = await tx.tickets.by_reference(reference)
            if ticket is None:
                raise NotFound(Refusal.TICKET_UNKNOWN_REFERENCE, reference=reference)
            return ticket

    async def readable_by_reference(self, actor: Person, reference: str) -> Ticket:
        """The ticket with this reference, if ``actor`` may read the case. One they may not read is
        refused exactly as one that does not exist, so that nobody learns by asking that a case exists."""
        async with self.database.transaction() as tx:
            ticket = await tx.tickets.by_reference(reference)
            if ticket is not None:
                try:
                    ticket, _ = await self.core.checked(tx, actor, Operation.VIEW, ticket.id)
                except Forbidden:
                    ticket = None
            if ticket is None:
                raise NotFound(Refusal.TICKET_UNKNOWN_REFERENCE, reference=reference)
            return ticket

    async def reported_by(self, actor: Person) -> list[Ticket]:
        """The tickets the person reported, whose stage they may follow. A report of theirs that joined
        a case someone else opened does not make that case theirs: they are told nothing of it
        (``disclosure``: the case's reference and status are not theirs to read)."""
        async with self.database.transaction() as tx:
            tickets = await tx.tickets.find(reporter_id=actor.id)
        return [ticket for ticket in reversed(tickets) if ticket.reporter_id == actor.id]

    async def awaiting_rating(self, actor: Person) -> list[Ticket]:
        """The person's own finished cases (resolved or closed) they have not rated, newest first: only
        the household rates the service (``access.Operation.RATE``), so nothing for anyone else."""
        if actor.role is not Role.RECIPIENT:
            return []
        async with self.database.transaction() as tx:
            finished = await tx.tickets.find(
                reporter_id=actor.id, statuses={TicketStatus.RESOLVED, TicketStatus.CLOSED}
            )
            unrated = [
                ticket
                for ticket in finished
                if ticket.reporter_id == actor.id
                and not any(
                    feedback.person_id == actor.id for feedback in await tx.tickets.feedback(ticket.id)
                )
            ]
        return list(reversed(unrated))

    async def queue(self, actor: Person, *, only_overdue: bool = False) -> list[QueueItem]:
        """Open tickets in the actor's areas (and, for a worker, service types): breached first."""
        if actor.role not in WORKER_ROLES:
            raise Forbidden(Refusal.QUEUE_STAFF_ONLY)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            area_ids = await covered_areas(tx, actor)
            kinds = actor.service_types if actor.role is Role.SOCIAL_WORKER else None
            tickets = await tx.tickets.listing(statuses=OPEN_STATUSES, area_ids=area_ids, service_types=kinds)
            areas = {area.id: area for area in await tx.areas.list_all()}
        items = [
            QueueItem(ticket, areas[ticket.area_id], self.policy.state(ticket, now)) for ticket in tickets
        ]
        if only_overdue:
            items = [item for item in items if item.sla is SlaState.BREACHED]
        return sorted(items, key=lambda item: self.policy.queue_order(item.ticket, now))

    async def mine(self, actor: Person) -> list[QueueItem]:
        now = self.clock.now()
        async with self.database.transaction() as tx:
            tickets = await tx.tickets.listing(statuses=OPEN_STATUSES, assignee_id=actor.id)
            areas = {area.id: area for area in await tx.areas.list_all()}
        items = [
            QueueItem(ticket, areas[ticket.area_id], self.policy.state(ticket, now)) for ticket in tickets
        ]
        return sorted(items, key=lambda item: self.policy.queue_order(item.ticket, now))


# --- the command line's reads (an operator's: no actor's access is checked) ------------------------


async def list_tickets(
    database: UnitOfWork,
    *,
    statuses: Iterable[TicketStatus] | None = None,
    area_code: str | None = None,
    limit: int = 200,
) -> list[TicketRow]:
    """Tickets in an area and everything below it, oldest first."""
    async with database.transaction() as tx:
        area_ids = await area_and_below(tx, area_code) if area_code is not None else None
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


async def area_and_below(tx: Transaction, code: str) -> set[int]:
    """The area of this code and every area below it."""
    area = await tx.areas.by_code(code)
    if area is None:
        raise NotFound(Refusal.AREA_UNKNOWN_CODE, code=code)
    return await tx.areas.descendant_ids(area.id)


async def ticket_details(
    database: UnitOfWork, reference: str, *, now: datetime, reader_id: int | None, via: str
) -> TicketView:
    """Everything about one ticket; the read itself is written to the ticket's audit trail, with the
    way it was read (``via``)."""
    async with database.transaction() as tx:
        ticket = await tx.tickets.by_reference(reference)
        if ticket is None:
            raise NotFound(Refusal.TICKET_UNKNOWN_REFERENCE, reference=reference)
        return await _read(tx, ticket, reader_id=reader_id, via=via, now=now)


async def _read(
    tx: Transaction, ticket: Ticket, *, reader_id: int | None, via: str | None, now: datetime
) -> TicketView:
    """The case in full, its read written to its trail first (so the trail read shows it)."""
    await tx.tickets.add_event(
        ticket_id=ticket.id, action=TicketAction.READ, actor_id=reader_id, note=via, now=now
    )
    return TicketView(
        ticket=ticket,
        area_path=tuple(reversed(await tx.areas.ancestors(ticket.area_id))),
        assignee=await tx.people.get(ticket.assignee_id) if ticket.assignee_id is not None else None,
        organisation=(
            await tx.organisations.get(ticket.organisation_id) if ticket.organisation_id is not None else None
        ),
        reports=tuple(await tx.reports.for_ticket(ticket.id)),
        events=tuple(await tx.tickets.events(ticket.id)),
        referrals=tuple(await tx.tickets.referrals(ticket.id)),
        feedback=tuple(await tx.tickets.feedback(ticket.id)),
        household=await tx.households.get(ticket.household_id) if ticket.household_id is not None else None,
        supervision=tuple(await tx.tickets.supervision(ticket.id)),
    )
