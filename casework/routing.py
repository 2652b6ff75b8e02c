"""Who hears about a new ticket: the area's workers for its service type, least loaded first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from enum import StrEnum

from casework.domain import OPEN_STATUSES, Channel, Person, Role, ServiceType, Ticket, WorkerGroup
from casework.unit_of_work import Transaction

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
    return Route(
        candidates=tuple(ranked),
        alerted=tuple(candidate.worker for candidate in ranked[:alerted]) if group is None else (),
        group=group,
    )


# --- crises -------------------------------------------------------------------------------------------


class CrisisReach(StrEnum):
    """Whom a step of a crisis's alerts reaches, as the person in danger is told it."""

    STAFF = "staff"  # social workers or supervisors of the area or an area above it
    ON_CALL = "on_call"  # the on-call list
    NOBODY = "nobody"  # no one can be alerted: the person has the hotlines alone


@dataclass(frozen=True, slots=True)
class CrisisStep:
    """One step up the ladder a crisis climbs until someone acknowledges it."""

    reach: CrisisReach
    area_id: int | None  # the area whose staff this step alerts; None for the on-call list and admins
    people: tuple[Person, ...]
    group: WorkerGroup | None = None


CRISIS_STAFF_ROLES = (Role.SOCIAL_WORKER, Role.SUPERVISOR)


def reachable(person: Person, channel: Channel | None = None) -> bool:
    """Whether an alert can be delivered to the person: active, with a chat to send it to on
    ``channel``, the channel alerts go out on (on any channel, when none is named)."""
    accounts = [identity for identity in person.identities if channel in (None, identity.channel)]
    return person.active and any(identity.chat_id is not None for identity in accounts)


async def crisis_steps(
    tx: Transaction, area_id: int, local_time: time, channel: Channel | None = None
) -> list[CrisisStep]:
    """The steps a crisis in ``area_id`` climbs: the staff of the nearest area that has any (with every
    supervisor above it at once), then the staff of each area further up that has any, then whoever
    on the on-call list is on duty at ``local_time``, then the admins. Nobody is alerted twice, and
    a step with nobody reachable (on ``channel``, the channel alerts go out on) is left out, so an
    unstaffed community goes straight to the next."""
    chain = await area_chain(tx, area_id)
    staff = [
        person
        for role in CRISIS_STAFF_ROLES
        for person in await tx.people.find(role=role, area_ids=chain)
        if reachable(person, channel)
    ]
    alerted: set[int] = set()
    steps: list[CrisisStep] = []
    for area in chain:
        group = await tx.groups.nearest([area])
        people = [person for person in staff if area in person.area_ids and person.id not in alerted]
        if not steps and (people or group):
            # The first step reaches the supervisors of every area above too, as any critical ticket does.
            people += [
                person
                for person in staff
                if person.role is Role.SUPERVISOR and person.id not in alerted and person not in people
            ]
        if people or group:
            steps.append(CrisisStep(CrisisReach.STAFF, area, tuple(people), group))
            alerted |= {person.id for person in people}
    on_duty = [
        entry
        for entry in await tx.on_call.list_all()
        if (entry.area_id is None or entry.area_id in chain) and entry.on_duty(local_time)
    ]
    on_call = []
    for entry in on_duty:
        person = await tx.people.get(entry.person_id)
        if person is not None and reachable(person, channel) and person.id not in alerted:
            on_call.append(person)
            alerted.add(person.id)
    if on_call:
        steps.append(CrisisStep(CrisisReach.ON_CALL, None, tuple(on_call)))
    admins = [
        person
        for person in await tx.people.find(role=Role.ADMIN)
        if reachable(person, channel) and person.id not in alerted
    ]
    if admins:
        steps.append(CrisisStep(CrisisReach.STAFF, None, tuple(admins)))
    return steps
