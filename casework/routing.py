"""Who hears about a new ticket: the area's workers for its service type, least loaded first."""

from __future__ import annotations

from dataclasses import dataclass

from casework.domain import OPEN_STATUSES, Person, Role, ServiceType, Ticket, Urgency, WorkerGroup
from storage.repositories import Transaction

ALERTED_WORKERS = 3


@dataclass(frozen=True, slots=True)
class Candidate:
    worker: Person
    open_tickets: int


@dataclass(frozen=True, slots=True)
class Route:
    candidates: tuple[Candidate, ...]  # every eligible worker, least loaded first
    alerted: tuple[Person, ...]  # who gets the alert when no group is registered
    group: WorkerGroup | None
    supervisors: tuple[Person, ...]

    @property
    def nobody(self) -> bool:
        return not self.alerted and self.group is None


async def area_chain(tx: Transaction, area_id: int) -> list[int]:
    """The area and every area above it, nearest first."""
    return [area.id for area in await tx.areas.ancestors(area_id)]


async def candidates(tx: Transaction, service_type: ServiceType, chain: list[int]) -> list[Candidate]:
    workers = await tx.people.find(role=Role.SOCIAL_WORKER, area_ids=chain)
    eligible = [worker for worker in workers if service_type in worker.service_types]
    loads = await tx.tickets.open_counts_by_assignee([worker.id for worker in eligible], OPEN_STATUSES)
    ranked = [Candidate(worker, loads.get(worker.id, 0)) for worker in eligible]
    return sorted(ranked, key=lambda candidate: (candidate.open_tickets, candidate.worker.id))


async def supervisors_of(tx: Transaction, chain: list[int]) -> list[Person]:
    return await tx.people.find(role=Role.SUPERVISOR, area_ids=chain)


async def route(tx: Transaction, ticket: Ticket, *, alerted: int = ALERTED_WORKERS) -> Route:
    chain = await area_chain(tx, ticket.area_id)
    ranked = await candidates(tx, ticket.service_type, chain)
    group = await tx.groups.nearest(chain)
    supervisors = await supervisors_of(tx, chain)
    return Route(
        candidates=tuple(ranked),
        alerted=tuple(candidate.worker for candidate in ranked[:alerted]) if group is None else (),
        group=group,
        supervisors=tuple(supervisors),
    )


def escalate_at_once(ticket: Ticket) -> bool:
    return ticket.urgency is Urgency.CRITICAL
