"""An administrator's work on the directory, as a person rather than as the command line's operator:
people and their accounts, invites, areas imported from a file (seen before they change anything),
agencies, the crisis on-call list, and the log of what staff did. Each operation checks the actor is
an active admin and then does what the command line does (``directory``, ``on_call``), so the rules
of each live in one place."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from casework import directory
from casework import on_call as rota
from casework.access import Forbidden
from casework.core import Operations
from casework.directory import DirectoryFile, ImportPreview, ImportSummary, IssuedInvite
from casework.domain import (
    OPEN_STATUSES,
    WORKER_ROLES,
    Area,
    Conflict,
    InvalidInput,
    Invite,
    NotFound,
    Organisation,
    Person,
    Refusal,
    Role,
    ServiceType,
    StaffEvent,
    StaffLogEntry,
    TicketAction,
    TicketEvent,
)
from casework.unit_of_work import Transaction

# The roles an admin gives here; a recipient's account becomes staff only by an invite.
ASSIGNABLE_ROLES = frozenset(
    {Role.VOLUNTEER, Role.SOCIAL_WORKER, Role.SUPERVISOR, Role.EVALUATOR, Role.ADMIN}
)


@dataclass(frozen=True, slots=True)
class Activity:
    """One thing a member of staff did, from the staff log (signing in and out) or a ticket's trail."""

    at: datetime
    person_id: int | None
    action: str  # a StaffEvent's or a TicketAction's value
    ticket_id: int | None
    detail: str


class Administration(Operations):
    """What an admin does: people and their roles, invites, areas, agencies, the on-call list, and
    reading the staff activity log."""

    @staticmethod
    def check(actor: Person) -> None:
        if not actor.active or actor.role is not Role.ADMIN:
            raise Forbidden(Refusal.ADMIN_ONLY)

    # --- people -----------------------------------------------------------------------------------

    async def people(self, actor: Person, *, role: Role | None = None) -> list[Person]:
        self.check(actor)
        async with self.database.transaction(savepoint=False) as tx:
            return await tx.people.find(role=role, active_only=False)

    async def set_active(self, actor: Person, person_id: int, active: bool) -> Person:
        """Close a person's account (their sessions end with it) or open it again; not one's own, and
        not while they hold open cases: nobody's case is left with someone who can no longer work it."""
        self.check(actor)
        if person_id == actor.id:
            raise Conflict(Refusal.ADMIN_NOT_YOURSELF)
        async with self.database.transaction() as tx:
            if await tx.people.get(person_id) is None:
                raise NotFound(Refusal.PERSON_NOT_FOUND, person_id=person_id)
            if not active and await _holds_open_cases(tx, person_id):
                raise Conflict(Refusal.STAFF_CLOSING_HOLDS_CASES)
            person = await tx.people.update(person_id, active=active)
            now = self.clock.now()
            if not active:
                await tx.staff.end_all(person_id, now=now)
            event = StaffEvent.ACCOUNT_OPENED if active else StaffEvent.ACCOUNT_CLOSED
            await tx.staff.log(person_id, event, f"by #{actor.id}", now=now)
            return person

    async def set_staff(self, actor: Person, person_id: int, role: Role, area_ids: Iterable[int]) -> Person:
        """A member of staff's (or a volunteer's) role and areas, changed; not one's own. Someone who
        reported a need becomes staff only by an invite they redeem themselves, and everyone but an
        admin works in one area at least. The change is in the activity log, with who made it."""
        self.check(actor)
        if person_id == actor.id:
            raise Conflict(Refusal.ADMIN_NOT_YOURSELF)
        areas = sorted(set(area_ids))
        if role not in ASSIGNABLE_ROLES:
            raise InvalidInput(Refusal.STAFF_BY_INVITE)
        if not areas and role is not Role.ADMIN:
            raise InvalidInput(Refusal.STAFF_NEEDS_AREA, role=role)
        async with self.database.transaction() as tx:
            person = await tx.people.get(person_id)
            if person is None:
                raise NotFound(Refusal.PERSON_NOT_FOUND, person_id=person_id)
            if person.role not in ASSIGNABLE_ROLES:
                raise Conflict(Refusal.STAFF_BY_INVITE)
            if role not in WORKER_ROLES and await _holds_open_cases(tx, person.id):
                raise Conflict(Refusal.STAFF_HOLDS_CASES, role=role)
            codes = []
            for area_id in areas:
                area = await tx.areas.get(area_id)
                if area is None:
                    raise NotFound(Refusal.AREA_NOT_FOUND, area_id=area_id)
                codes.append(area.code)
            await tx.people.update(person_id, role=role)
            changed = await tx.people.set_areas(person_id, areas)
            detail = f"by #{actor.id}: {person.role.value} → {role.value}; {', '.join(codes) or '-'}"
            await tx.staff.log(person_id, StaffEvent.STAFF_CHANGED, detail[:200], now=self.clock.now())
            return changed

    # --- invites ----------------------------------------------------------------------------------

    async def invites(self, actor: Person) -> list[Invite]:
        """The invites not used yet, expired ones among them (they say so)."""
        self.check(actor)
        async with self.database.transaction(savepoint=False) as tx:
            return await tx.invites.find()

    async def invite(
        self,
        actor: Person,
        *,
        role: Role,
        area_code: str,
        valid_for: timedelta,
        organisation_name: str | None = None,
    ) -> IssuedInvite:
        self.check(actor)
        return await directory.create_invite(
            self.database,
            role=role,
            area_code=area_code,
            now=self.clock.now(),
            valid_for=valid_for,
            organisation_name=organisation_name,
            created_by_id=actor.id,
        )

    async def revoke_invite(self, actor: Person, invite_id: int) -> None:
        """An unused invite ends now; one used already cannot be taken back (close the account)."""
        self.check(actor)
        async with self.database.transaction() as tx:
            if not await tx.invites.revoke(invite_id, now=self.clock.now()):
                raise Conflict(Refusal.INVITE_SPENT)

    # --- areas and agencies ---------------------------------------------------------------------

    async def preview_areas(self, actor: Person, file: DirectoryFile, *, move: bool = False) -> ImportPreview:
        self.check(actor)
        return await directory.preview_directory(self.database, file, move=move)

    async def import_areas(self, actor: Person, file: DirectoryFile, *, move: bool = False) -> ImportSummary:
        self.check(actor)
        return await directory.import_directory(self.database, file, now=self.clock.now(), move=move)

    async def agencies(self, actor: Person) -> list[Organisation]:
        self.check(actor)
        async with self.database.transaction(savepoint=False) as tx:
            return await tx.organisations.list_all()

    async def add_agency(
        self,
        actor: Person,
        *,
        name: str,
        contact: str = "",
        service_types: Iterable[ServiceType] = (),
        area_codes: Iterable[str] = (),
    ) -> Organisation:
        self.check(actor)
        return await directory.add_organisation(
            self.database,
            name=name,
            now=self.clock.now(),
            contact=contact,
            service_types=service_types,
            area_codes=area_codes,
        )

    # --- the crisis on-call list ----------------------------------------------------------------

    async def on_call(self, actor: Person) -> list[rota.OnCallEntry]:
        self.check(actor)
        return await rota.entries(self.database)

    async def unreached(self, actor: Person) -> list[Area]:
        """The areas where a crisis reported now would reach nobody: no staff of the area or above it,
        nobody on call, no admin (counting only people the alerts' channel reaches)."""
        self.check(actor)
        local = self.clock.now().astimezone(self.core.timezone).time()
        coverage = await rota.coverage(self.database, local, self.core.alert_channel)
        return [item.area for item in coverage if item.nobody]

    async def add_on_call(
        self, actor: Person, *, person_id: int, hours: str, area_code: str | None = None
    ) -> rota.OnCallEntry:
        self.check(actor)
        return await rota.add(
            self.database,
            person_id=person_id,
            hours=hours,
            now=self.clock.now(),
            area_code=area_code,
            channel=self.core.alert_channel,
        )

    async def remove_on_call(self, actor: Person, entry_id: int) -> None:
        self.check(actor)
        await rota.remove(self.database, entry_id)

    # --- what staff did -------------------------------------------------------------------------

    async def activity(
        self,
        actor: Person,
        *,
        person_id: int | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[Activity]:
        """Signing in and out, and what was done to tickets (reads among it), newest first, narrowed by
        person, action and time."""
        self.check(actor)
        staff_event = next((event for event in StaffEvent if event.value == action), None)
        ticket_action = next((done for done in TicketAction if done.value == action), None)
        found: list[Activity] = []
        async with self.database.transaction(savepoint=False) as tx:
            if action is None or staff_event is not None:
                entries = await tx.staff.entries(
                    person_id=person_id, event=staff_event, since=since, until=until, limit=limit
                )
                found += [_from_log(entry) for entry in entries]
            if action is None or ticket_action is not None:
                events = await tx.tickets.activity(
                    actor_id=person_id, action=ticket_action, since=since, until=until, limit=limit
                )
                found += [_from_trail(event) for event in events]
        found.sort(key=lambda done: done.at, reverse=True)
        return found[:limit]


def _from_log(entry: StaffLogEntry) -> Activity:
    return Activity(entry.at, entry.person_id, entry.event.value, None, entry.detail)


def _from_trail(event: TicketEvent) -> Activity:
    return Activity(event.created_at, event.actor_id, event.action.value, event.ticket_id, "")


async def _holds_open_cases(tx: Transaction, person_id: int) -> bool:
    return bool(await tx.tickets.find(assignee_id=person_id, statuses=OPEN_STATUSES, limit=1))
