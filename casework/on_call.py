"""The crisis on-call list, and who a crisis in each area can reach (``needsbot oncall``, ``health``,
``areas list``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

from casework import routing
from casework.domain import WORKER_ROLES, Area, Channel, InvalidInput, NotFound, OnCall, Person, Refusal
from casework.unit_of_work import UnitOfWork

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_hours(text: str) -> tuple[time, time]:
    """``08:00-20:00`` (a day shift), ``20:00-08:00`` (overnight) or ``00:00-24:00`` (all day)."""
    found = _HOURS.match(text)
    if found is None:
        raise InvalidInput(Refusal.ON_CALL_HOURS_FORMAT, hours=text)
    hours_from, minutes_from, hours_until, minutes_until = (int(part) for part in found.groups())
    if hours_until == 24 and minutes_until == 0:
        hours_until = 0
    try:
        start, end = time(hours_from, minutes_from), time(hours_until, minutes_until)
    except ValueError:
        raise InvalidInput(Refusal.ON_CALL_HOURS_RANGE, hours=text) from None
    return start, end


def hours_label(entry: OnCall) -> str:
    if entry.from_time == entry.until_time:
        return "00:00-24:00"
    return f"{entry.from_time:%H:%M}-{entry.until_time:%H:%M}"


@dataclass(frozen=True, slots=True)
class OnCallEntry:
    entry: OnCall
    person: Person
    area: Area | None


async def add(
    database: UnitOfWork,
    *,
    person_id: int,
    hours: str,
    now: datetime,
    area_code: str | None = None,
    channel: Channel | None = None,
) -> OnCallEntry:
    """Put a member of staff on the on-call list; they must be reachable by the bot to be of use, on
    ``channel`` when alerts go out on one."""
    start, end = parse_hours(hours)
    async with database.transaction() as tx:
        person = await tx.people.get(person_id)
        if person is None or not person.active:
            raise NotFound(Refusal.PERSON_NOT_ACTIVE, person_id=person_id)
        if person.role not in WORKER_ROLES:
            raise InvalidInput(Refusal.ON_CALL_STAFF_ONLY)
        if not routing.reachable(person, channel):
            raise InvalidInput(Refusal.ON_CALL_UNREACHABLE, person_id=person_id)
        area = None
        if area_code is not None:
            area = await tx.areas.by_code(area_code)
            if area is None:
                raise NotFound(Refusal.AREA_UNKNOWN_CODE, code=area_code)
        entry = await tx.on_call.add(
            person_id=person.id, area_id=area.id if area else None, from_time=start, until_time=end, now=now
        )
        return OnCallEntry(entry, person, area)


async def entries(database: UnitOfWork) -> list[OnCallEntry]:
    async with database.transaction() as tx:
        found = []
        for entry in await tx.on_call.list_all():
            person = await tx.people.get(entry.person_id)
            assert person is not None  # the list's rows go with their person
            area = await tx.areas.get(entry.area_id) if entry.area_id is not None else None
            found.append(OnCallEntry(entry, person, area))
        return found


async def remove(database: UnitOfWork, on_call_id: int) -> None:
    async with database.transaction() as tx:
        if not await tx.on_call.remove(on_call_id):
            raise NotFound(Refusal.ON_CALL_ENTRY_NOT_FOUND, entry_id=on_call_id)


@dataclass(frozen=True, slots=True)
class Coverage:
    """Who a crisis in one area would reach now: the staff of it and the areas above, the on-call
    list, the admins."""

    area: Area
    staff: int
    on_call: int
    admins: int

    @property
    def nobody(self) -> bool:
        return not (self.staff or self.on_call or self.admins)


async def coverage(database: UnitOfWork, local: time, channel: Channel | None = None) -> list[Coverage]:
    """Each area's coverage, in the area list's order, counting only people reachable on ``channel``
    when alerts go out on one."""
    async with database.transaction() as tx:
        found = []
        for area in await tx.areas.list_all():
            steps = await routing.crisis_steps(tx, area.id, local, channel)
            found.append(
                Coverage(
                    area=area,
                    staff=sum(
                        len(step.people) + (step.group is not None)
                        for step in steps
                        if step.reach is routing.CrisisReach.STAFF and step.area_id is not None
                    ),
                    on_call=sum(
                        len(step.people) for step in steps if step.reach is routing.CrisisReach.ON_CALL
                    ),
                    admins=sum(
                        len(step.people)
                        for step in steps
                        if step.reach is routing.CrisisReach.STAFF and step.area_id is None
                    ),
                )
            )
        return found
