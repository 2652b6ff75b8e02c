"""Repositories: typed data access that speaks in domain records, one ``Transaction`` per operation."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    distinct,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from casework.domain import (
    OPEN_STATUSES,
    Area,
    AreaLevel,
    Channel,
    Conflict,
    Consent,
    ConsentPurpose,
    Feedback,
    Household,
    Invite,
    NeedReport,
    NotFound,
    OnCall,
    Organisation,
    OutboxAlert,
    OutboxStatus,
    Person,
    Referral,
    ReferralStatus,
    Role,
    ServiceType,
    Ticket,
    TicketEvent,
    TicketStatus,
    Urgency,
    VulnerabilityTag,
    WorkerGroup,
)
from storage.models import (
    AreaRow,
    Base,
    ConsentRow,
    DialogStateRow,
    FeedbackRow,
    HouseholdRow,
    InviteRow,
    LeaseRow,
    NeedReportRow,
    OnCallRow,
    OrganisationRow,
    OutboxRow,
    OutgoingRow,
    PersonRow,
    ProcessedUpdateRow,
    ReferralRow,
    TicketEventRow,
    TicketRow,
    TicketSequenceRow,
    WorkerGroupRow,
    organisation_service_types,
    person_areas,
    person_service_types,
)

TICKET_REFERENCE_PREFIX = "SA"


@functools.cache
def _insert_or_nothing(table: Table, dialect: str) -> Any:
    """The statement, built once per table: reused with new values, it is neither built nor given its
    cache key again (both cost more than running it on SQLite)."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing()


class _Repository:
    def __init__(self, session: AsyncSession, dialect: str, core: AsyncConnection | AsyncSession) -> None:
        self._session = session
        self._dialect = dialect
        # Where the hottest Core statements go: the transaction's connection, without the ORM
        # session's bookkeeping around them, when the unit of work has one (the session otherwise).
        self._core = core

    async def _insert_ignoring_conflict(self, table: Table, values: dict[str, Any]) -> bool:
        """Insert a row unless a unique key already has it; True when the row is new."""
        result = await self._core.execute(_insert_or_nothing(table, self._dialect), values)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _add_unique(self, row: Base, conflict: str) -> None:
        """Insert the row in a savepoint; a unique-key clash undoes only it and raises ``Conflict``.

        The row is added inside the savepoint: one added before it would be flushed by the outer
        transaction, and its failure would undo everything done there.
        """
        try:
            async with self._session.begin_nested():
                self._session.add(row)
                await self._session.flush()
        except IntegrityError:
            raise Conflict(conflict) from None


def _area(row: AreaRow) -> Area:
    located = None
    if row.latitude is not None and row.longitude is not None:
        located = (row.latitude, row.longitude)
    return Area(
        id=row.id,
        code=row.code,
        name=row.name,
        name_en=row.name_en,
        level=row.level,
        parent_id=row.parent_id,
        location=located,
    )


class AreaRepository(_Repository):
    async def add(
        self,
        *,
        code: str,
        name: str,
        level: AreaLevel,
        name_en: str = "",
        parent_id: int | None = None,
        location: tuple[float, float] | None = None,
    ) -> Area:
        latitude, longitude = location or (None, None)
        row = AreaRow(
            code=code,
            name=name,
            name_en=name_en,
            level=level,
            parent_id=parent_id,
            latitude=latitude,
            longitude=longitude,
        )
        await self._add_unique(row, f"an area with code '{code}' already exists")
        return _area(row)

    async def upsert(
        self,
        *,
        code: str,
        name: str,
        level: AreaLevel,
        name_en: str = "",
        parent_id: int | None = None,
        location: tuple[float, float] | None = None,
    ) -> tuple[Area, bool]:
        """Create the area or update the one with this code; True in the pair when it was created. An
        update without a location keeps the one stored."""
        row = await self._session.scalar(select(AreaRow).where(AreaRow.code == code))
        if row is None:
            area = await self.add(
                code=code, name=name, level=level, name_en=name_en, parent_id=parent_id, location=location
            )
            return area, True
        row.name, row.name_en, row.level, row.parent_id = name, name_en, level, parent_id
        if location is not None:
            row.latitude, row.longitude = location
        await self._session.flush()
        return _area(row), False

    async def get(self, area_id: int) -> Area | None:
        row = await self._session.get(AreaRow, area_id)
        return _area(row) if row else None

    async def by_code(self, code: str) -> Area | None:
        row = await self._session.scalar(select(AreaRow).where(AreaRow.code == code))
        return _area(row) if row else None

    async def list_all(self) -> list[Area]:
        rows = await self._session.scalars(select(AreaRow).order_by(AreaRow.parent_id, AreaRow.id))
        return [_area(row) for row in rows]

    async def children(self, parent_id: int | None) -> list[Area]:
        condition = AreaRow.parent_id.is_(None) if parent_id is None else AreaRow.parent_id == parent_id
        rows = await self._session.scalars(select(AreaRow).where(condition).order_by(AreaRow.id))
        return [_area(row) for row in rows]

    async def ancestors(self, area_id: int) -> list[Area]:
        """The area itself first, then each parent up to the root."""
        chain: list[Area] = []
        current: int | None = area_id
        while current is not None and len(chain) < 16:
            area = await self.get(current)
            if area is None:
                break
            chain.append(area)
            current = area.parent_id
        return chain

    async def descendant_ids(self, area_id: int) -> set[int]:
        """The area and every area below it."""
        found = {area_id}
        frontier = [area_id]
        while frontier:
            rows = await self._session.scalars(select(AreaRow.id).where(AreaRow.parent_id.in_(frontier)))
            frontier = [child for child in rows if child not in found]
            found.update(frontier)
        return found

    async def count(self) -> int:
        return await self._session.scalar(select(func.count()).select_from(AreaRow)) or 0

    async def any_located(self) -> bool:
        """Whether any area without areas below it has a location."""
        return bool(
            await self._session.scalar(select(select(AreaRow.id).where(self._located_leaves()).exists()))
        )

    async def located_leaves_within(self, south: float, north: float, west: float, east: float) -> list[Area]:
        """Areas without areas below them whose location lies in the box (west ≤ east; the caller splits
        a box across the antimeridian)."""
        rows = await self._session.scalars(
            select(AreaRow)
            .where(
                self._located_leaves(),
                AreaRow.latitude.between(south, north),
                AreaRow.longitude.between(west, east),
            )
            .order_by(AreaRow.id)
        )
        return [_area(row) for row in rows]

    @staticmethod
    def _located_leaves() -> ColumnElement[bool]:
        child = aliased(AreaRow)
        return and_(
            AreaRow.latitude.is_not(None),
            AreaRow.longitude.is_not(None),
            ~select(child.id).where(child.parent_id == AreaRow.id).exists(),
        )


class OrganisationRepository(_Repository):
    async def _to_domain(self, row: OrganisationRow) -> Organisation:
        kinds = await self._session.scalars(
            select(organisation_service_types.c.service_type).where(
                organisation_service_types.c.organisation_id == row.id
            )
        )
        return Organisation(
            id=row.id,
            name=row.name,
            contact=row.contact,
            service_types=frozenset(kinds),
            area_ids=frozenset(area.id for area in row.areas),
            active=row.active,
        )

    async def add(
        self,
        *,
        name: str,
        now: datetime,
        contact: str = "",
        service_types: Iterable[ServiceType] = (),
        area_ids: Iterable[int] = (),
    ) -> Organisation:
        if await self._session.scalar(select(OrganisationRow.id).where(OrganisationRow.name == name)):
            raise Conflict(f"an organisation named '{name}' already exists")
        areas = list(await self._session.scalars(select(AreaRow).where(AreaRow.id.in_(list(area_ids)))))
        row = OrganisationRow(name=name, contact=contact, active=True, created_at=now, areas=areas)
        self._session.add(row)
        await self._session.flush()
        kinds = sorted(set(service_types))
        if kinds:
            await self._session.execute(
                insert(organisation_service_types),
                [{"organisation_id": row.id, "service_type": kind} for kind in kinds],
            )
        return await self._to_domain(row)

    async def get(self, organisation_id: int) -> Organisation | None:
        row = await self._session.get(OrganisationRow, organisation_id)
        return await self._to_domain(row) if row else None

    async def by_name(self, name: str) -> Organisation | None:
        row = await self._session.scalar(select(OrganisationRow).where(OrganisationRow.name == name))
        return await self._to_domain(row) if row else None

    async def list_all(self, *, active_only: bool = False) -> list[Organisation]:
        query = select(OrganisationRow).order_by(OrganisationRow.id)
        if active_only:
            query = query.where(OrganisationRow.active.is_(True))
        return [await self._to_domain(row) for row in await self._session.scalars(query)]

    async def count(self) -> int:
        return await self._session.scalar(select(func.count()).select_from(OrganisationRow)) or 0


# Built once: a statement object is reused with new parameters, so it is neither built nor given its
# cache key again on every turn (both cost more than running it on SQLite).
_people = PersonRow.__table__
# The separator written into the SQL: given as a string, it would be a parameter rendered into the
# statement anew on every execution (string aggregation takes its separator as a literal).
_COMMA: Any = literal_column("','")
_PERSON_BY_TELEGRAM_ID = select(
    _people.c.id,
    _people.c.telegram_user_id,
    _people.c.display_name,
    _people.c.language,
    _people.c.role,
    _people.c.organisation_id,
    _people.c.active,
    _people.c.phone,
    _people.c.created_at,
    select(func.aggregate_strings(cast(person_areas.c.area_id, String), _COMMA))
    .where(person_areas.c.person_id == _people.c.id)
    .scalar_subquery()
    .label("area_ids"),
    select(func.aggregate_strings(person_service_types.c.service_type, _COMMA))
    .where(person_service_types.c.person_id == _people.c.id)
    .scalar_subquery()
    .label("service_types"),
).where(_people.c.telegram_user_id == bindparam("telegram_user_id"))


def _found_person(found: Any) -> Person:
    """A person from a row of ``_PERSON_BY_TELEGRAM_ID``."""
    areas, kinds = found.area_ids, found.service_types
    return _person(
        found,
        (int(part) for part in areas.split(",")) if areas else (),
        (ServiceType(part) for part in kinds.split(",")) if kinds else (),
    )


def _person(row: Any, area_ids: Iterable[int], kinds: Iterable[ServiceType]) -> Person:
    """A person from their columns: a ``PersonRow``, or a result row with the same names."""
    return Person(
        id=row.id,
        telegram_user_id=row.telegram_user_id,
        display_name=row.display_name,
        language=row.language,
        role=row.role,
        organisation_id=row.organisation_id,
        area_ids=frozenset(area_ids),
        service_types=frozenset(kinds),
        active=row.active,
        phone=row.phone,
        created_at=row.created_at,
    )


class PersonRepository(_Repository):
    def __init__(self, session: AsyncSession, dialect: str, core: AsyncConnection | AsyncSession) -> None:
        super().__init__(session, dialect, core)
        # People read ahead by another statement of this transaction (see ProcessedUpdateRepository),
        # by Telegram id, each for the next lookup of them; a write to anyone drops them all.
        self._read_ahead: dict[int, Person | None] = {}

    def read_ahead(self, telegram_user_id: int, person: Person | None) -> None:
        """The person (or nobody) behind a Telegram id, as another statement of this transaction
        read them: the next ``by_telegram_id`` for them answers with it instead of a query."""
        self._read_ahead[telegram_user_id] = person

    async def _to_domain(self, row: PersonRow, kinds: Iterable[ServiceType] | None = None) -> Person:
        if kinds is None:
            kinds = await self._session.scalars(
                select(person_service_types.c.service_type).where(person_service_types.c.person_id == row.id)
            )
        return _person(row, (area.id for area in row.areas), kinds)

    async def _row(self, person_id: int) -> PersonRow:
        self._read_ahead.clear()  # about to be changed
        row = await self._session.get(PersonRow, person_id)
        if row is None:
            raise NotFound(f"no person with id {person_id}")
        return row

    async def add(
        self,
        *,
        now: datetime,
        telegram_user_id: int | None = None,
        display_name: str = "",
        language: str = "zh",
        role: Role = Role.RECIPIENT,
        organisation_id: int | None = None,
        area_ids: Iterable[int] = (),
        service_types: Iterable[ServiceType] = (),
        phone: str | None = None,
    ) -> Person:
        if telegram_user_id is not None and await self.by_telegram_id(telegram_user_id):
            raise Conflict("this Telegram account is already registered")
        self._read_ahead.clear()
        row = PersonRow(
            telegram_user_id=telegram_user_id,
            display_name=display_name,
            language=language,
            role=role,
            organisation_id=organisation_id,
            phone=phone,
            active=True,
            created_at=now,
        )
        wanted = list(area_ids)
        if wanted:
            row.areas = list(await self._session.scalars(select(AreaRow).where(AreaRow.id.in_(wanted))))
        else:
            row.areas = []  # nothing to look up (a resident's first message)
        self._session.add(row)
        await self._session.flush()
        kinds = sorted({ServiceType(kind) for kind in service_types})
        await self._add_service_types(row.id, kinds)  # a new person has none to replace
        return await self._to_domain(row, kinds)

    async def get(self, person_id: int) -> Person | None:
        row = await self._session.get(PersonRow, person_id)
        return await self._to_domain(row) if row else None

    async def by_telegram_id(self, telegram_user_id: int) -> Person | None:
        """One statement (none when the person was read ahead): the person's columns with their areas
        and service types aggregated. No ORM object is loaded, so nothing here touches what the
        session holds."""
        if telegram_user_id in self._read_ahead:
            return self._read_ahead.pop(telegram_user_id)
        found = (
            await self._core.execute(_PERSON_BY_TELEGRAM_ID, {"telegram_user_id": telegram_user_id})
        ).first()
        return _found_person(found) if found is not None else None

    async def update(
        self,
        person_id: int,
        *,
        display_name: str | None = None,
        language: str | None = None,
        role: Role | None = None,
        organisation_id: int | None = None,
        phone: str | None = None,
        active: bool | None = None,
    ) -> Person:
        row = await self._row(person_id)
        if display_name is not None:
            row.display_name = display_name
        if language is not None:
            row.language = language
        if role is not None:
            row.role = role
        if organisation_id is not None:
            row.organisation_id = organisation_id
        if phone is not None:
            row.phone = phone
        if active is not None:
            row.active = active
        await self._session.flush()
        return await self._to_domain(row)

    async def set_areas(self, person_id: int, area_ids: Iterable[int]) -> Person:
        row = await self._row(person_id)
        row.areas = list(await self._session.scalars(select(AreaRow).where(AreaRow.id.in_(list(area_ids)))))
        await self._session.flush()
        return await self._to_domain(row)

    async def set_service_types(self, person_id: int, service_types: Iterable[ServiceType]) -> None:
        self._read_ahead.clear()
        await self._session.execute(
            delete(person_service_types).where(person_service_types.c.person_id == person_id)
        )
        await self._add_service_types(person_id, sorted(set(service_types)))

    async def _add_service_types(self, person_id: int, kinds: list[ServiceType]) -> None:
        if kinds:
            await self._session.execute(
                insert(person_service_types),
                [{"person_id": person_id, "service_type": kind} for kind in kinds],
            )

    async def find(
        self, *, role: Role | None = None, area_ids: Iterable[int] | None = None, active_only: bool = True
    ) -> list[Person]:
        query = select(PersonRow).order_by(PersonRow.id)
        if role is not None:
            query = query.where(PersonRow.role == role)
        if active_only:
            query = query.where(PersonRow.active.is_(True))
        if area_ids is not None:
            query = query.where(
                PersonRow.id.in_(
                    select(person_areas.c.person_id).where(person_areas.c.area_id.in_(list(area_ids)))
                )
            )
        rows = list(await self._session.scalars(query))
        # Everyone's service types in one query, not one query a person.
        kinds: dict[int, list[ServiceType]] = {row.id: [] for row in rows}
        if rows:
            pairs = await self._session.execute(
                select(person_service_types.c.person_id, person_service_types.c.service_type).where(
                    person_service_types.c.person_id.in_(list(kinds))
                )
            )
            for person_id, kind in pairs.all():
                kinds[person_id].append(kind)
        return [await self._to_domain(row, kinds[row.id]) for row in rows]

    async def erase(self, person_id: int, now: datetime) -> None:
        """Remove what identifies the person; the row stays so anonymised case records keep their shape."""
        row = await self._row(person_id)
        row.telegram_user_id = None
        row.display_name = ""
        row.phone = None
        row.active = False
        row.erased_at = now
        row.areas = []
        await self._session.flush()

    async def forget_dialog_states(self, keys: Sequence[str]) -> int:
        """Erasure: the person's conversation state, kept by channel key ("telegram:<id>")."""
        if not keys:
            return 0
        result = await self._session.execute(delete(DialogStateRow).where(DialogStateRow.key.in_(list(keys))))
        return int(result.rowcount)  # type: ignore[attr-defined]


Scrub = Callable[[str], str]


def _scrub_column(row: Any, name: str, scrub: Scrub) -> bool:
    """Erasure: one text column of an ORM row passed through ``scrub``; True when it changed."""
    text = getattr(row, name)
    if text is None:
        return False
    scrubbed = scrub(text)
    if scrubbed == text:
        return False
    setattr(row, name, scrubbed)
    return True


def _scrub_json(value: Any, scrub: Scrub) -> Any:
    """Erasure: every string in a JSON value passed through ``scrub``."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrub_json(item, scrub) for item in value]
    if isinstance(value, dict):
        return {key: _scrub_json(item, scrub) for key, item in value.items()}
    return value


def _household(row: HouseholdRow) -> Household:
    return Household(
        id=row.id,
        area_id=row.area_id,
        address=row.address,
        size=row.size,
        vulnerability_tags=frozenset(VulnerabilityTag(tag) for tag in row.vulnerability_tags),
        created_at=row.created_at,
    )


class HouseholdRepository(_Repository):
    async def add(
        self,
        *,
        area_id: int,
        now: datetime,
        address: str = "",
        size: int | None = None,
        vulnerability_tags: Iterable[VulnerabilityTag] = (),
    ) -> Household:
        row = HouseholdRow(
            area_id=area_id,
            address=address,
            size=size,
            vulnerability_tags=sorted({VulnerabilityTag(tag).value for tag in vulnerability_tags}),
            created_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        return _household(row)

    async def get(self, household_id: int) -> Household | None:
        row = await self._session.get(HouseholdRow, household_id)
        return _household(row) if row else None

    async def in_area(self, area_id: int) -> list[Household]:
        rows = await self._session.scalars(
            select(HouseholdRow).where(HouseholdRow.area_id == area_id).order_by(HouseholdRow.id)
        )
        return [_household(row) for row in rows]


def _report(row: NeedReportRow) -> NeedReport:
    return NeedReport(
        id=row.id,
        text=row.text,
        language=row.language,
        intent=row.intent,
        confidence=row.confidence,
        service_type=row.service_type,
        urgency=row.urgency,
        reporter_id=row.reporter_id,
        household_id=row.household_id,
        ticket_id=row.ticket_id,
        on_behalf=row.on_behalf,
        anonymous=row.anonymous,
        channel=row.channel,
        created_at=row.created_at,
    )


class NeedReportRepository(_Repository):
    async def add(
        self,
        *,
        text: str,
        language: str,
        intent: str,
        confidence: float,
        urgency: Urgency,
        channel: Channel,
        now: datetime,
        service_type: ServiceType | None = None,
        reporter_id: int | None = None,
        household_id: int | None = None,
        ticket_id: int | None = None,
        on_behalf: bool = False,
        anonymous: bool = False,
        submission_key: str | None = None,
    ) -> NeedReport:
        row = NeedReportRow(
            text=text,
            language=language,
            intent=intent,
            confidence=confidence,
            service_type=service_type,
            urgency=urgency,
            reporter_id=None if anonymous else reporter_id,
            household_id=household_id,
            ticket_id=ticket_id,
            on_behalf=on_behalf,
            anonymous=anonymous,
            channel=channel,
            created_at=now,
            submission_key=submission_key,
        )
        self._session.add(row)
        await self._session.flush()
        return _report(row)

    async def by_submission_key(self, key: str) -> NeedReport | None:
        row = await self._session.scalar(select(NeedReportRow).where(NeedReportRow.submission_key == key))
        return _report(row) if row else None

    async def get(self, report_id: int) -> NeedReport | None:
        row = await self._session.get(NeedReportRow, report_id)
        return _report(row) if row else None

    async def attach_to_ticket(self, report_id: int, ticket_id: int) -> None:
        await self._session.execute(
            update(NeedReportRow).where(NeedReportRow.id == report_id).values(ticket_id=ticket_id)
        )

    async def for_ticket(self, ticket_id: int) -> list[NeedReport]:
        rows = await self._session.scalars(
            select(NeedReportRow).where(NeedReportRow.ticket_id == ticket_id).order_by(NeedReportRow.id)
        )
        return [_report(row) for row in rows]

    async def by_reporter(self, reporter_id: int) -> list[NeedReport]:
        rows = await self._session.scalars(
            select(NeedReportRow).where(NeedReportRow.reporter_id == reporter_id).order_by(NeedReportRow.id)
        )
        return [_report(row) for row in rows]

    async def redact_by_reporter(self, reporter_id: int) -> int:
        """Blank the words of every report the person made, keeping labels for statistics."""
        result = await self._session.execute(
            update(NeedReportRow)
            .where(NeedReportRow.reporter_id == reporter_id)
            .values(text="", reporter_id=None, anonymous=True)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


_TICKET_TIMESTAMP_FOR_STATUS: dict[TicketStatus, str] = {
    TicketStatus.ASSIGNED: "assigned_at",
    TicketStatus.IN_PROGRESS: "in_progress_at",
    TicketStatus.REFERRED: "referred_at",
    TicketStatus.RESOLVED: "resolved_at",
    TicketStatus.CLOSED: "closed_at",
    TicketStatus.REOPENED: "reopened_at",
}


def _ticket(row: TicketRow) -> Ticket:
    return Ticket(
        id=row.id,
        reference=row.reference,
        service_type=row.service_type,
        urgency=row.urgency,
        status=row.status,
        area_id=row.area_id,
        household_id=row.household_id,
        reporter_id=row.reporter_id,
        assignee_id=row.assignee_id,
        organisation_id=row.organisation_id,
        summary=row.summary,
        outcome=row.outcome,
        claim_deadline=row.claim_deadline,
        resolve_deadline=row.resolve_deadline,
        created_at=row.created_at,
        updated_at=row.updated_at,
        assigned_at=row.assigned_at,
        in_progress_at=row.in_progress_at,
        referred_at=row.referred_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        reopened_at=row.reopened_at,
        visited_at=row.visited_at,
        needs_home_visit=row.needs_home_visit,
        escalation_level=row.escalation_level,
    )


def _event(row: TicketEventRow) -> TicketEvent:
    return TicketEvent(
        id=row.id,
        ticket_id=row.ticket_id,
        actor_id=row.actor_id,
        action=row.action,
        from_status=row.from_status,
        to_status=row.to_status,
        note=row.note,
        created_at=row.created_at,
    )


def _referral(row: ReferralRow) -> Referral:
    return Referral(
        id=row.id,
        ticket_id=row.ticket_id,
        from_person_id=row.from_person_id,
        to_person_id=row.to_person_id,
        to_organisation_id=row.to_organisation_id,
        status=row.status,
        reason=row.reason,
        outcome=row.outcome,
        created_at=row.created_at,
        responded_at=row.responded_at,
        completed_at=row.completed_at,
    )


def _feedback(row: FeedbackRow) -> Feedback:
    return Feedback(
        id=row.id,
        ticket_id=row.ticket_id,
        person_id=row.person_id,
        rating=row.rating,
        comment=row.comment,
        created_at=row.created_at,
    )


class TicketRepository(_Repository):
    async def next_reference(self, day: date) -> str:
        """Allocate the next readable reference of the day, e.g. ``SA-20261129-0042``.

        The counter row is locked by the update until the transaction ends, so two concurrent
        openings never get the same number.
        """
        await self._insert_ignoring_conflict(TicketSequenceRow.__table__, {"day": day, "last_value": 0})  # type: ignore[arg-type]
        value = await self._session.scalar(
            update(TicketSequenceRow)
            .where(TicketSequenceRow.day == day)
            .values(last_value=TicketSequenceRow.last_value + 1)
            .returning(TicketSequenceRow.last_value)
        )
        return f"{TICKET_REFERENCE_PREFIX}-{day:%Y%m%d}-{value:04d}"

    async def add(
        self,
        *,
        reference: str,
        service_type: ServiceType,
        urgency: Urgency,
        area_id: int,
        now: datetime,
        summary: str = "",
        household_id: int | None = None,
        reporter_id: int | None = None,
        claim_deadline: datetime | None = None,
        resolve_deadline: datetime | None = None,
    ) -> Ticket:
        row = TicketRow(
            reference=reference,
            service_type=service_type,
            urgency=urgency,
            status=TicketStatus.NEW,
            area_id=area_id,
            household_id=household_id,
            reporter_id=reporter_id,
            summary=summary,
            claim_deadline=claim_deadline,
            resolve_deadline=resolve_deadline,
            created_at=now,
            updated_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        return _ticket(row)

    async def get(self, ticket_id: int) -> Ticket | None:
        row = await self._session.get(TicketRow, ticket_id, populate_existing=True)
        return _ticket(row) if row else None

    async def by_reference(self, reference: str) -> Ticket | None:
        row = await self._session.scalar(
            select(TicketRow).where(TicketRow.reference == reference.strip().upper())
        )
        return _ticket(row) if row else None

    async def find(
        self,
        *,
        statuses: Iterable[TicketStatus] | None = None,
        area_ids: Iterable[int] | None = None,
        service_types: Iterable[ServiceType] | None = None,
        urgencies: Iterable[Urgency] | None = None,
        reporter_id: int | None = None,
        assignee_id: int | None = None,
        limit: int = 200,
    ) -> list[Ticket]:
        query = select(TicketRow).order_by(TicketRow.created_at, TicketRow.id).limit(limit)
        if statuses is not None:
            query = query.where(TicketRow.status.in_(list(statuses)))
        if urgencies is not None:
            query = query.where(TicketRow.urgency.in_(list(urgencies)))
        if area_ids is not None:
            query = query.where(TicketRow.area_id.in_(list(area_ids)))
        if service_types is not None:
            query = query.where(TicketRow.service_type.in_(list(service_types)))
        if reporter_id is not None:
            # Tickets the person opened, and tickets a report of theirs joined.
            joined = select(NeedReportRow.ticket_id).where(
                NeedReportRow.reporter_id == reporter_id, NeedReportRow.ticket_id.is_not(None)
            )
            query = query.where(or_(TicketRow.reporter_id == reporter_id, TicketRow.id.in_(joined)))
        if assignee_id is not None:
            query = query.where(TicketRow.assignee_id == assignee_id)
        return [_ticket(row) for row in await self._session.scalars(query)]

    async def open_counts_by_assignee(
        self, assignee_ids: Iterable[int], statuses: Iterable[TicketStatus]
    ) -> dict[int, int]:
        ids = list(assignee_ids)
        if not ids:
            return {}
        rows = await self._session.execute(
            select(TicketRow.assignee_id, func.count())
            .where(TicketRow.assignee_id.in_(ids), TicketRow.status.in_(list(statuses)))
            .group_by(TicketRow.assignee_id)
        )
        return {int(assignee): int(count) for assignee, count in rows.all() if assignee is not None}

    async def unclaimed_past(self, now: datetime) -> list[Ticket]:
        """Open tickets nobody holds whose claim deadline has passed, oldest deadline first."""
        rows = await self._session.scalars(
            select(TicketRow)
            .where(
                TicketRow.status.in_([TicketStatus.NEW, TicketStatus.REOPENED]),
                TicketRow.assignee_id.is_(None),
                TicketRow.organisation_id.is_(None),
                TicketRow.claim_deadline.is_not(None),
                TicketRow.claim_deadline <= now,
            )
            .order_by(TicketRow.claim_deadline, TicketRow.id)
        )
        return [_ticket(row) for row in rows]

    async def raise_escalation(self, ticket_id: int, *, to_level: int, now: datetime) -> bool:
        """Record that the ticket was escalated to ``to_level``; False when it already was."""
        result = await self._session.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket_id, TicketRow.escalation_level < to_level)
            .values(escalation_level=to_level, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def update_fields(self, ticket_id: int, *, now: datetime, **fields: Any) -> Ticket | None:
        """Change fields that are not a status transition (visit, home-visit need, summary, the area a
        person in a crisis said they are in)."""
        allowed = {"visited_at", "needs_home_visit", "summary", "household_id", "escalation_level", "area_id"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot set {sorted(unknown)} directly")
        await self._session.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket_id)
            .values(updated_at=now, **fields)
            .execution_options(synchronize_session=False)
        )
        return await self.get(ticket_id)

    async def open_for_household(self, household_id: int, since: datetime) -> list[Ticket]:
        rows = await self._session.scalars(
            select(TicketRow)
            .where(
                TicketRow.household_id == household_id,
                TicketRow.status.in_(list(OPEN_STATUSES)),
                TicketRow.created_at >= since,
            )
            .order_by(TicketRow.id)
        )
        return [_ticket(row) for row in rows]

    async def transition(
        self,
        ticket_id: int,
        *,
        to_status: TicketStatus,
        now: datetime,
        expected: Iterable[TicketStatus] | None = None,
        require_unassigned: bool = False,
        **fields: Any,
    ) -> Ticket | None:
        """Move the ticket to ``to_status`` atomically, only if it is still in one of ``expected``.

        Returns the updated ticket, or None when the condition no longer held (someone else acted
        first). The status's own timestamp is set alongside.
        """
        allowed = {
            "assignee_id",
            "organisation_id",
            "outcome",
            "claim_deadline",
            "resolve_deadline",
            "urgency",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot set {sorted(unknown)} through a transition")
        values: dict[str, Any] = {"status": to_status, "updated_at": now, **fields}
        stamp = _TICKET_TIMESTAMP_FOR_STATUS.get(to_status)
        if stamp:
            values[stamp] = now
        statement = update(TicketRow).where(TicketRow.id == ticket_id)
        if expected is not None:
            statement = statement.where(TicketRow.status.in_(list(expected)))
        if require_unassigned:
            statement = statement.where(TicketRow.assignee_id.is_(None))
        result = await self._session.execute(
            statement.values(**values).execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.get(ticket_id)

    async def add_event(
        self,
        *,
        ticket_id: int,
        action: str,
        now: datetime,
        actor_id: int | None = None,
        from_status: TicketStatus | None = None,
        to_status: TicketStatus | None = None,
        note: str | None = None,
    ) -> TicketEvent:
        row = TicketEventRow(
            ticket_id=ticket_id,
            actor_id=actor_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
            created_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        return _event(row)

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        rows = await self._session.scalars(
            select(TicketEventRow).where(TicketEventRow.ticket_id == ticket_id).order_by(TicketEventRow.id)
        )
        return [_event(row) for row in rows]

    async def open_in_area(self, area_id: int, since: datetime) -> list[Ticket]:
        rows = await self._session.scalars(
            select(TicketRow)
            .where(
                TicketRow.area_id == area_id,
                TicketRow.status.in_(list(OPEN_STATUSES)),
                TicketRow.created_at >= since,
                TicketRow.household_id.is_not(None),
            )
            .order_by(TicketRow.id)
        )
        return [_ticket(row) for row in rows]

    async def add_referral(
        self,
        *,
        ticket_id: int,
        now: datetime,
        from_person_id: int | None = None,
        to_person_id: int | None = None,
        to_organisation_id: int | None = None,
        reason: str | None = None,
    ) -> Referral:
        if to_person_id is None and to_organisation_id is None:
            raise ValueError("a referral goes to a person or an organisation")
        row = ReferralRow(
            ticket_id=ticket_id,
            from_person_id=from_person_id,
            to_person_id=to_person_id,
            to_organisation_id=to_organisation_id,
            status=ReferralStatus.PENDING,
            reason=reason,
            created_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        return _referral(row)

    async def get_referral(self, referral_id: int) -> Referral | None:
        row = await self._session.get(ReferralRow, referral_id, populate_existing=True)
        return _referral(row) if row else None

    async def set_referral_status(
        self,
        referral_id: int,
        *,
        to_status: ReferralStatus,
        now: datetime,
        expected: Iterable[ReferralStatus],
        reason: str | None = None,
        outcome: str | None = None,
    ) -> Referral | None:
        values: dict[str, Any] = {"status": to_status}
        if to_status in (ReferralStatus.ACCEPTED, ReferralStatus.DECLINED, ReferralStatus.WITHDRAWN):
            values["responded_at"] = now
        if to_status is ReferralStatus.COMPLETED:
            values["completed_at"] = now
        if reason is not None:
            values["reason"] = reason
        if outcome is not None:
            values["outcome"] = outcome
        result = await self._session.execute(
            update(ReferralRow)
            .where(ReferralRow.id == referral_id, ReferralRow.status.in_(list(expected)))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.get_referral(referral_id)

    async def pending_referral(self, ticket_id: int) -> Referral | None:
        row = await self._session.scalar(
            select(ReferralRow)
            .where(
                ReferralRow.ticket_id == ticket_id,
                ReferralRow.status.in_([ReferralStatus.PENDING, ReferralStatus.ACCEPTED]),
            )
            .order_by(ReferralRow.id.desc())
            .limit(1)
        )
        return _referral(row) if row else None

    async def referrals(self, ticket_id: int) -> list[Referral]:
        rows = await self._session.scalars(
            select(ReferralRow).where(ReferralRow.ticket_id == ticket_id).order_by(ReferralRow.id)
        )
        return [_referral(row) for row in rows]

    async def add_feedback(
        self,
        *,
        ticket_id: int,
        rating: int,
        now: datetime,
        person_id: int | None = None,
        comment: str | None = None,
    ) -> Feedback:
        if not 1 <= rating <= 5:
            raise ValueError("a rating is a whole number from 1 to 5")
        row = FeedbackRow(
            ticket_id=ticket_id, person_id=person_id, rating=rating, comment=comment, created_at=now
        )
        await self._add_unique(row, "this ticket has already been rated")
        return _feedback(row)

    async def redact_feedback_by(self, person_id: int) -> int:
        """Blank the comments the person left with their ratings (the ratings stay, for the statistics)."""
        result = await self._session.execute(
            update(FeedbackRow).where(FeedbackRow.person_id == person_id).values(comment=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def set_feedback_comment(self, *, ticket_id: int, person_id: int, comment: str) -> Feedback | None:
        row = await self._session.scalar(
            select(FeedbackRow).where(FeedbackRow.ticket_id == ticket_id, FeedbackRow.person_id == person_id)
        )
        if row is None:
            return None
        row.comment = comment
        await self._session.flush()
        return _feedback(row)

    async def feedback(self, ticket_id: int) -> list[Feedback]:
        rows = await self._session.scalars(
            select(FeedbackRow).where(FeedbackRow.ticket_id == ticket_id).order_by(FeedbackRow.id)
        )
        return [_feedback(row) for row in rows]

    async def linked_to_person(self, person_id: int) -> list[int]:
        """Erasure: the tickets that concern the person: reported by them, holding a report of theirs,
        held by them, or with something they did on the trail."""
        found: set[int] = set()
        for query in (
            select(TicketRow.id).where(
                or_(TicketRow.reporter_id == person_id, TicketRow.assignee_id == person_id)
            ),
            select(NeedReportRow.ticket_id).where(
                NeedReportRow.reporter_id == person_id, NeedReportRow.ticket_id.is_not(None)
            ),
            select(TicketEventRow.ticket_id).where(TicketEventRow.actor_id == person_id),
        ):
            found.update(
                ticket_id for ticket_id in await self._session.scalars(query) if ticket_id is not None
            )
        return sorted(found)

    async def scrub_texts(self, ticket_ids: Sequence[int], scrub: Scrub) -> int:
        """Erasure: what staff wrote on these tickets (trail notes, outcomes, referral reasons and
        outcomes) passed through ``scrub``, which keeps the text but what identifies the person; how
        many texts changed."""
        if not ticket_ids:
            return 0
        ids = list(ticket_ids)
        changed = 0
        for event in await self._session.scalars(
            select(TicketEventRow).where(TicketEventRow.ticket_id.in_(ids), TicketEventRow.note.is_not(None))
        ):
            changed += _scrub_column(event, "note", scrub)
        for ticket in await self._session.scalars(
            select(TicketRow).where(TicketRow.id.in_(ids), TicketRow.outcome.is_not(None))
        ):
            changed += _scrub_column(ticket, "outcome", scrub)
        for referral in await self._session.scalars(
            select(ReferralRow).where(ReferralRow.ticket_id.in_(ids))
        ):
            changed += _scrub_column(referral, "reason", scrub) + _scrub_column(referral, "outcome", scrub)
        await self._session.flush()
        return changed


def _consent(row: ConsentRow) -> Consent:
    return Consent(
        id=row.id,
        person_id=row.person_id,
        purpose=row.purpose,
        notice_version=row.notice_version,
        granted_at=row.granted_at,
        withdrawn_at=row.withdrawn_at,
    )


_consents = ConsentRow.__table__
_PURPOSES_ANSWERED = select(func.count(distinct(_consents.c.purpose))).where(
    _consents.c.person_id == bindparam("person_id")
)


class ConsentRepository(_Repository):
    async def grant(
        self, *, person_id: int, purpose: ConsentPurpose, notice_version: str, now: datetime
    ) -> Consent:
        """Record consent; an active consent for the same purpose is withdrawn first, then granted anew
        (``record`` with one answer). Returns the consent as kept."""
        await self.record(
            person_id=person_id, answers={purpose: True}, notice_version=notice_version, now=now
        )
        return (await self.active(person_id))[purpose]

    async def record(
        self,
        *,
        person_id: int,
        answers: Mapping[ConsentPurpose, bool],
        notice_version: str,
        now: datetime,
    ) -> None:
        """Each answer as a consent given now, a refusal as one withdrawn the moment it was given (the
        record shows the question was put and declined); what was active for these purposes is
        withdrawn first. Two statements, however many answers."""
        if not answers:
            return
        await self._withdraw(person_id, list(answers), now)
        await self._session.execute(
            insert(ConsentRow).execution_options(render_nulls=True),  # one batch, refusals and all
            [
                {
                    "person_id": person_id,
                    "purpose": purpose,
                    "notice_version": notice_version,
                    "granted_at": now,
                    "withdrawn_at": None if granted else now,
                }
                for purpose, granted in answers.items()
            ],
        )

    async def withdraw(self, *, person_id: int, purpose: ConsentPurpose, now: datetime) -> int:
        return await self._withdraw(person_id, [purpose], now)

    async def _withdraw(self, person_id: int, purposes: list[ConsentPurpose], now: datetime) -> int:
        result = await self._session.execute(
            update(ConsentRow)
            .where(
                ConsentRow.person_id == person_id,
                ConsentRow.purpose.in_(purposes),
                ConsentRow.withdrawn_at.is_(None),
            )
            .values(withdrawn_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def active(self, person_id: int) -> dict[ConsentPurpose, Consent]:
        rows = await self._session.scalars(
            select(ConsentRow).where(ConsentRow.person_id == person_id, ConsentRow.withdrawn_at.is_(None))
        )
        return {row.purpose: _consent(row) for row in rows}

    async def purposes_answered(self, person_id: int) -> int:
        """For how many purposes the person answered the consent question (a consent granted or
        refused is kept, withdrawn or not)."""
        return int(await self._session.scalar(_PURPOSES_ANSWERED, {"person_id": person_id}) or 0)

    async def history(self, person_id: int) -> list[Consent]:
        rows = await self._session.scalars(
            select(ConsentRow).where(ConsentRow.person_id == person_id).order_by(ConsentRow.id)
        )
        return [_consent(row) for row in rows]


def _invite(row: InviteRow) -> Invite:
    return Invite(
        id=row.id,
        role=row.role,
        area_id=row.area_id,
        organisation_id=row.organisation_id,
        expires_at=row.expires_at,
        created_at=row.created_at,
        used_by_id=row.used_by_id,
        used_at=row.used_at,
    )


class InviteRepository(_Repository):
    async def add(
        self,
        *,
        code_hash: str,
        role: Role,
        area_id: int,
        expires_at: datetime,
        now: datetime,
        organisation_id: int | None = None,
        created_by_id: int | None = None,
    ) -> Invite:
        row = InviteRow(
            code_hash=code_hash,
            role=role,
            area_id=area_id,
            organisation_id=organisation_id,
            created_by_id=created_by_id,
            expires_at=expires_at,
            created_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        return _invite(row)

    async def by_hash(self, code_hash: str) -> Invite | None:
        row = await self._session.scalar(select(InviteRow).where(InviteRow.code_hash == code_hash))
        return _invite(row) if row else None

    async def redeem(self, invite_id: int, *, person_id: int, now: datetime) -> bool:
        """Mark the invite used by this person; False when it was used already or has expired."""
        result = await self._session.execute(
            update(InviteRow)
            .where(InviteRow.id == invite_id, InviteRow.used_by_id.is_(None), InviteRow.expires_at > now)
            .values(used_by_id=person_id, used_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def find(self, *, include_used: bool = False) -> list[Invite]:
        query = select(InviteRow).order_by(InviteRow.id)
        if not include_used:
            query = query.where(InviteRow.used_by_id.is_(None))
        return [_invite(row) for row in await self._session.scalars(query)]


_updates: Table = ProcessedUpdateRow.__table__  # type: ignore[assignment]
_recorded = (
    postgresql.insert(_updates)
    .values({name: bindparam(name) for name in ("channel", "update_id", "processed_at")})
    .on_conflict_do_nothing()
    .returning(_updates.c.update_id)
    .cte("recorded")
)
_sender = _PERSON_BY_TELEGRAM_ID.subquery("sender")
# PostgreSQL runs a data-modifying WITH clause once, whatever the query reads of it: the update is
# recorded (or found recorded), and the row says which, with the sender's columns (NULL for nobody).
_RECORD_READING_SENDER = select(exists(select(_recorded.c.update_id)).label("new"), _sender).select_from(
    select(literal(1).label("one")).subquery("one").outerjoin(_sender, true())
)


class ProcessedUpdateRepository(_Repository):
    def __init__(
        self,
        session: AsyncSession,
        dialect: str,
        core: AsyncConnection | AsyncSession,
        people: PersonRepository,
    ) -> None:
        super().__init__(session, dialect, core)
        self._people = people

    async def record(
        self, *, channel: Channel, update_id: int, now: datetime, sender: int | None = None
    ) -> bool:
        """True the first time an update is seen; False for a re-delivery.

        Called in the same transaction as the update's effects, so a crash before commit leaves the
        update unrecorded and its redelivery is handled in full. With ``sender``, the Telegram id of
        the person it comes from, PostgreSQL reads that person in the same statement, for this
        transaction's next lookup of them (``PersonRepository.by_telegram_id``): one round trip a
        turn fewer.
        """
        values = {"channel": channel.value, "update_id": update_id, "processed_at": now}
        if sender is None or self._dialect != "postgresql":
            return await self._insert_ignoring_conflict(_updates, values)
        found = (
            await self._core.execute(_RECORD_READING_SENDER, {**values, "telegram_user_id": sender})
        ).one()
        self._people.read_ahead(sender, _found_person(found) if found.id is not None else None)
        return bool(found.new)

    async def prune(self, *, older_than: datetime) -> int:
        result = await self._session.execute(
            delete(ProcessedUpdateRow).where(ProcessedUpdateRow.processed_at < older_than)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for a chat, as the channel sends it: new, or an edit of one of its messages."""

    text: str
    markup: dict[str, Any] | None = None
    edits_message_id: int | None = None
    id: int | None = None  # once stored
    attempts: int = 0


def _outgoing(row: OutgoingRow) -> Outgoing:
    return Outgoing(row.text, row.markup, row.edits_message_id, row.id, row.attempts)


class OutgoingRepository(_Repository):
    """Messages turns wrote for their chats, each sent once its turn committed (``outgoing_messages``)."""

    async def add(
        self,
        messages: Sequence[Outgoing],
        *,
        channel: Channel,
        chat_id: int,
        update_id: int | None,
        now: datetime,
    ) -> None:
        for message in messages:
            self._session.add(
                OutgoingRow(
                    channel=channel,
                    chat_id=chat_id,
                    update_id=update_id,
                    edits_message_id=message.edits_message_id,
                    text=message.text,
                    markup=message.markup,
                    created_at=now,
                    attempts=0,
                )
            )

    async def waiting(self, *, channel: Channel, chat_id: int) -> list[Outgoing]:
        """The chat's messages not sent yet, oldest first."""
        rows = await self._session.scalars(
            select(OutgoingRow)
            .where(
                OutgoingRow.done_at.is_(None),
                OutgoingRow.channel == channel,
                OutgoingRow.chat_id == chat_id,
            )
            .order_by(OutgoingRow.id)
        )
        return [_outgoing(row) for row in rows]

    async def claim(self, message_id: int, *, now: datetime, until: datetime) -> bool:
        """Take the message for one try at sending it until ``until``: False when another process has
        it, when it is done, or when it is not due yet."""
        result = await self._session.execute(
            update(OutgoingRow)
            .where(
                OutgoingRow.id == message_id,
                OutgoingRow.done_at.is_(None),
                or_(OutgoingRow.claimed_until.is_(None), OutgoingRow.claimed_until <= now),
                or_(OutgoingRow.next_attempt_at.is_(None), OutgoingRow.next_attempt_at <= now),
            )
            .values(claimed_until=until)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def done(self, message_id: int, *, now: datetime, refused: str | None = None) -> None:
        """Sent; or, with ``refused`` (why), refused for good by the channel and not tried again."""
        await self._session.execute(
            update(OutgoingRow)
            .where(OutgoingRow.id == message_id)
            .values(
                done_at=now,
                claimed_until=None,
                refused=refused is not None,
                last_error=refused[:200] if refused else None,
                attempts=OutgoingRow.attempts + 1,
            )
        )

    async def retry_at(self, message_id: int, *, at: datetime, error: str) -> None:
        """Not sent this time (a flood limit, the network): tried again from ``at``."""
        await self._session.execute(
            update(OutgoingRow)
            .where(OutgoingRow.id == message_id, OutgoingRow.done_at.is_(None))
            .values(
                claimed_until=None,
                next_attempt_at=at,
                last_error=error[:200],
                attempts=OutgoingRow.attempts + 1,
            )
        )

    async def chats_waiting(
        self, *, channel: Channel, written_before: datetime, now: datetime, limit: int = 100
    ) -> list[int]:
        """Chats with a message written before ``written_before``, not sent, due and not being sent."""
        rows = await self._session.scalars(
            select(OutgoingRow.chat_id)
            .where(
                OutgoingRow.done_at.is_(None),
                OutgoingRow.channel == channel,
                OutgoingRow.created_at < written_before,
                or_(OutgoingRow.claimed_until.is_(None), OutgoingRow.claimed_until <= now),
                or_(OutgoingRow.next_attempt_at.is_(None), OutgoingRow.next_attempt_at <= now),
            )
            .group_by(OutgoingRow.chat_id)
            .order_by(func.min(OutgoingRow.id))
            .limit(limit)
        )
        return list(rows)

    async def forget_chat(self, *, channel: Channel, chat_id: int) -> int:
        """Every message for the chat, sent or not (the person's data is erased)."""
        result = await self._session.execute(
            delete(OutgoingRow).where(OutgoingRow.channel == channel, OutgoingRow.chat_id == chat_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def prune(self, *, older_than: datetime) -> int:
        """Messages done before ``older_than``."""
        result = await self._session.execute(delete(OutgoingRow).where(OutgoingRow.done_at < older_than))
        return int(result.rowcount)  # type: ignore[attr-defined]


def _alert(row: OutboxRow) -> OutboxAlert:
    return OutboxAlert(
        id=row.id,
        idempotency_key=row.idempotency_key,
        recipient_person_id=row.recipient_person_id,
        recipient_chat_id=row.recipient_chat_id,
        ticket_id=row.ticket_id,
        payload=dict(row.payload),
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
        event=row.event,
        published_at=row.published_at,
        delivery_ref=dict(row.delivery_ref) if row.delivery_ref is not None else None,
    )


class OutboxRepository(_Repository):
    async def add(
        self,
        *,
        idempotency_key: str,
        payload: dict[str, Any],
        now: datetime,
        recipient_person_id: int | None = None,
        recipient_chat_id: int | None = None,
        ticket_id: int | None = None,
        event: str = "",
    ) -> OutboxAlert | None:
        """Queue an alert in the caller's transaction; None when the same key was queued before."""
        if recipient_person_id is None and recipient_chat_id is None:
            raise ValueError("an alert needs a recipient person or chat")
        created = await self._insert_ignoring_conflict(
            OutboxRow.__table__,  # type: ignore[arg-type]
            {
                "idempotency_key": idempotency_key,
                "recipient_person_id": recipient_person_id,
                "recipient_chat_id": recipient_chat_id,
                "ticket_id": ticket_id,
                "event": event or str(payload.get("event", "")),
                "payload": payload,
                "status": OutboxStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        )
        return await self.by_key(idempotency_key) if created else None

    async def queue(
        self,
        *,
        event: str,
        payload: dict[str, Any],
        now: datetime,
        ticket_id: int | None,
        recipient_person_id: int | None = None,
        recipient_chat_id: int | None = None,
        key_suffix: str = "",
    ) -> OutboxAlert | None:
        """Queue an alert keyed by (ticket, recipient, event): queuing the same one again does nothing."""
        recipient = f"p{recipient_person_id}" if recipient_person_id is not None else f"c{recipient_chat_id}"
        key = f"t{ticket_id if ticket_id is not None else '-'}:{recipient}:{event}{key_suffix}"
        return await self.add(
            idempotency_key=key,
            payload={"event": event, **payload},
            now=now,
            recipient_person_id=recipient_person_id,
            recipient_chat_id=recipient_chat_id,
            ticket_id=ticket_id,
            event=event,
        )

    async def by_key(self, idempotency_key: str) -> OutboxAlert | None:
        row = await self._session.scalar(
            select(OutboxRow)
            .where(OutboxRow.idempotency_key == idempotency_key)
            .execution_options(populate_existing=True)
        )
        return _alert(row) if row else None

    async def get(self, alert_id: int) -> OutboxAlert | None:
        row = await self._session.get(OutboxRow, alert_id, populate_existing=True)
        return _alert(row) if row else None

    async def due(self, *, now: datetime, limit: int = 100) -> list[OutboxAlert]:
        rows = await self._session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.status == OutboxStatus.PENDING,
                or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now),
            )
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(limit)
        )
        return [_alert(row) for row in rows]

    async def mark_sent(self, alert_id: int, *, now: datetime) -> bool:
        result = await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == alert_id, OutboxRow.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.SENT, sent_at=now, attempts=OutboxRow.attempts + 1, last_error=None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def mark_failed(
        self, alert_id: int, *, error: str, retry_at: datetime | None
    ) -> OutboxAlert | None:
        """Count a failed attempt; with no ``retry_at`` the alert becomes undeliverable.

        A retried alert is due for publication again at ``retry_at``.
        """
        status = OutboxStatus.PENDING if retry_at is not None else OutboxStatus.UNDELIVERABLE
        await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == alert_id, OutboxRow.status == OutboxStatus.PENDING)
            .values(
                status=status,
                attempts=OutboxRow.attempts + 1,
                last_error=error[:500],
                next_attempt_at=retry_at,
                published_at=None,
            )
        )
        return await self.get(alert_id)

    async def claim_for_delivery(
        self, alert_id: int, *, now: datetime, until: datetime
    ) -> OutboxAlert | None:
        """Take the alert for one delivery attempt until ``until``; None when it is not due or not pending.

        Two relays racing for the same alert: one update matches, the other finds it no longer due.
        """
        result = await self._session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id == alert_id,
                OutboxRow.status == OutboxStatus.PENDING,
                or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now),
            )
            .values(next_attempt_at=until)
        )
        return await self.get(alert_id) if result.rowcount else None  # type: ignore[attr-defined]

    async def postpone(self, alert_id: int, *, until: datetime) -> None:
        """Try again later without counting an attempt (it waits on another alert)."""
        await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == alert_id, OutboxRow.status == OutboxStatus.PENDING)
            .values(next_attempt_at=until, published_at=None)
        )

    async def close_without_sending(self, alert_id: int, *, reason: str, now: datetime) -> None:
        """Nothing is left to deliver (an edit of an alert that never arrived, say)."""
        await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == alert_id, OutboxRow.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.SENT, sent_at=now, last_error=reason[:500], delivery_ref={})
        )

    async def unpublished(
        self, *, now: datetime, stale_before: datetime | None = None, limit: int = 200
    ) -> list[OutboxAlert]:
        """Pending alerts due now that are not in the stream: never published, or published before
        ``stale_before`` and still not delivered (the stream lost them, or a consumer died with them)."""
        in_stream: ColumnElement[bool] = OutboxRow.published_at.is_(None)
        if stale_before is not None:
            in_stream = or_(in_stream, OutboxRow.published_at < stale_before)
        rows = await self._session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.status == OutboxStatus.PENDING,
                in_stream,
                or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now),
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        return [_alert(row) for row in rows]

    async def mark_published(self, alerts: Iterable[OutboxAlert], *, now: datetime) -> None:
        """Record that these alerts, as read, went into the stream. A row that a delivery attempt
        changed in the meantime (failed, postponed, sent) keeps what that attempt wrote."""
        for alert in alerts:
            unchanged_time = (
                OutboxRow.next_attempt_at == alert.next_attempt_at
                if alert.next_attempt_at is not None
                else OutboxRow.next_attempt_at.is_(None)
            )
            await self._session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == alert.id,
                    OutboxRow.status == OutboxStatus.PENDING,
                    OutboxRow.attempts == alert.attempts,
                    unchanged_time,
                )
                .values(published_at=now)
            )

    async def record_delivery(self, alert_id: int, *, ref: dict[str, Any], now: datetime) -> bool:
        """Mark the alert sent with where it went (so it can be edited later); False if already sent."""
        result = await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == alert_id, OutboxRow.status == OutboxStatus.PENDING)
            .values(
                status=OutboxStatus.SENT,
                sent_at=now,
                attempts=OutboxRow.attempts + 1,
                last_error=None,
                delivery_ref=ref,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def for_ticket(self, ticket_id: int, *, event: str | None = None) -> list[OutboxAlert]:
        query = select(OutboxRow).where(OutboxRow.ticket_id == ticket_id).order_by(OutboxRow.id)
        if event is not None:
            query = query.where(OutboxRow.event == event)
        return [_alert(row) for row in await self._session.scalars(query)]

    async def forget_recipient(self, *, person_id: int, chat_id: int | None) -> int:
        """Erasure: the alerts addressed to the person keep no chat id, neither where they were
        delivered (``delivery_ref``) nor the chat they were addressed to; one addressed only to their
        own chat (``chat_id``) is addressed to the person (erased) instead."""
        result = await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.recipient_person_id == person_id)
            .values(recipient_chat_id=None, delivery_ref=null())
        )
        changed = int(result.rowcount)  # type: ignore[attr-defined]
        if chat_id is not None:
            result = await self._session.execute(
                update(OutboxRow)
                .where(OutboxRow.recipient_chat_id == chat_id, OutboxRow.recipient_person_id.is_(None))
                .values(recipient_person_id=person_id, recipient_chat_id=None, delivery_ref=null())
            )
            changed += int(result.rowcount)  # type: ignore[attr-defined]
        return changed

    async def scrub_payloads(self, ticket_ids: Sequence[int], scrub: Scrub) -> int:
        """Erasure: every text in the alerts of these tickets passed through ``scrub``; how many changed."""
        if not ticket_ids:
            return 0
        changed = 0
        for row in await self._session.scalars(
            select(OutboxRow).where(OutboxRow.ticket_id.in_(list(ticket_ids)))
        ):
            scrubbed = _scrub_json(row.payload, scrub)
            if scrubbed != row.payload:
                row.payload = scrubbed
                changed += 1
        await self._session.flush()
        return changed

    async def with_status(self, status: OutboxStatus, *, limit: int = 200) -> list[OutboxAlert]:
        rows = await self._session.scalars(
            select(OutboxRow).where(OutboxRow.status == status).order_by(OutboxRow.id).limit(limit)
        )
        return [_alert(row) for row in rows]


def _group(row: WorkerGroupRow) -> WorkerGroup:
    return WorkerGroup(id=row.id, area_id=row.area_id, chat_id=row.chat_id, title=row.title)


class WorkerGroupRepository(_Repository):
    async def register(
        self, *, area_id: int, chat_id: int, title: str, now: datetime, registered_by_id: int | None = None
    ) -> WorkerGroup:
        """Register the chat as the area's workers' group, replacing an earlier one of the area or chat."""
        await self._session.execute(
            delete(WorkerGroupRow).where(
                or_(WorkerGroupRow.area_id == area_id, WorkerGroupRow.chat_id == chat_id)
            )
        )
        row = WorkerGroupRow(
            area_id=area_id,
            chat_id=chat_id,
            title=title,
            registered_by_id=registered_by_id,
            registered_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        return _group(row)

    async def by_chat(self, chat_id: int) -> WorkerGroup | None:
        row = await self._session.scalar(select(WorkerGroupRow).where(WorkerGroupRow.chat_id == chat_id))
        return _group(row) if row else None

    async def nearest(self, area_chain: Sequence[int]) -> WorkerGroup | None:
        """The group of the nearest area in the chain (the area itself first) that has one."""
        if not area_chain:
            return None
        rows = {
            row.area_id: row
            for row in await self._session.scalars(
                select(WorkerGroupRow).where(WorkerGroupRow.area_id.in_(list(area_chain)))
            )
        }
        for area_id in area_chain:
            if area_id in rows:
                return _group(rows[area_id])
        return None

    async def unregister(self, chat_id: int) -> bool:
        result = await self._session.execute(delete(WorkerGroupRow).where(WorkerGroupRow.chat_id == chat_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _on_call(row: OnCallRow) -> OnCall:
    return OnCall(
        id=row.id,
        person_id=row.person_id,
        area_id=row.area_id,
        from_time=row.from_time,
        until_time=row.until_time,
    )


class OnCallRepository(_Repository):
    async def add(
        self, *, person_id: int, area_id: int | None, from_time: time, until_time: time, now: datetime
    ) -> OnCall:
        row = OnCallRow(
            person_id=person_id, area_id=area_id, from_time=from_time, until_time=until_time, created_at=now
        )
        self._session.add(row)
        await self._session.flush()
        return _on_call(row)

    async def list_all(self) -> list[OnCall]:
        return [
            _on_call(row) for row in await self._session.scalars(select(OnCallRow).order_by(OnCallRow.id))
        ]

    async def remove(self, on_call_id: int) -> bool:
        result = await self._session.execute(delete(OnCallRow).where(OnCallRow.id == on_call_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]


class LeaseRepository(_Repository):
    async def acquire(self, name: str, *, holder: str, until: datetime, now: datetime) -> bool:
        """Take or renew the lease; True when ``holder`` has it until ``until``."""
        await self._insert_ignoring_conflict(
            LeaseRow.__table__,  # type: ignore[arg-type]
            {"name": name, "holder": holder, "expires_at": until},
        )
        result = await self._session.execute(
            update(LeaseRow)
            .where(LeaseRow.name == name, or_(LeaseRow.holder == holder, LeaseRow.expires_at <= now))
            .values(holder=holder, expires_at=until)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, name: str, *, holder: str) -> None:
        await self._session.execute(delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.holder == holder))


class Transaction:
    """The repositories of one unit of work, all sharing one session and one database transaction."""

    def __init__(
        self, session: AsyncSession, dialect: str, connection: AsyncConnection | None = None
    ) -> None:
        self.session = session
        # Core statements on ``connection`` when given (the session joined to its transaction),
        # through the session otherwise.
        self.core: AsyncConnection | AsyncSession = connection if connection is not None else session
        core = self.core
        self.areas = AreaRepository(session, dialect, core)
        self.organisations = OrganisationRepository(session, dialect, core)
        self.people = PersonRepository(session, dialect, core)
        self.households = HouseholdRepository(session, dialect, core)
        self.reports = NeedReportRepository(session, dialect, core)
        self.tickets = TicketRepository(session, dialect, core)
        self.consents = ConsentRepository(session, dialect, core)
        self.invites = InviteRepository(session, dialect, core)
        self.updates = ProcessedUpdateRepository(session, dialect, core, self.people)
        self.outbox = OutboxRepository(session, dialect, core)
        self.outgoing = OutgoingRepository(session, dialect, core)
        self.groups = WorkerGroupRepository(session, dialect, core)
        self.on_call = OnCallRepository(session, dialect, core)
        self.leases = LeaseRepository(session, dialect, core)
