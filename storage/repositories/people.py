"""People: residents, volunteers and staff, with their areas and service types."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
)

from casework.domain import (
    Channel,
    Conflict,
    Identity,
    NotFound,
    Person,
    Refusal,
    Role,
    ServiceType,
)
from storage.models import (
    AreaRow,
    DialogStateRow,
    IdentityRow,
    PersonRow,
    person_areas,
    person_service_types,
)
from storage.repositories.base import Repository

_people = PersonRow.__table__
_identities = IdentityRow.__table__
_found = _identities.alias("found")
# The separator written into the SQL: given as a string, it would be a parameter rendered into the
# statement anew on every execution (string aggregation takes its separator as a literal).
_COMMA: Any = literal_column("','")


_CHANNEL_ORDER = {channel: place for place, channel in enumerate(Channel)}


def _account_label(channel: Channel) -> str:
    return f"{channel.value}_account"


# The person behind one account, with every account of theirs: one column a channel (at most one
# account each), so no ids are joined into text that would need taking apart again.
# A person's columns with their areas, service types and accounts (one column a channel, at most one
# account each), so no ids are joined into text that would need taking apart again.
_PERSON_COLUMNS = (
    _people.c.id,
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
    *(
        select(_identities.c.external_id)
        .where(_identities.c.person_id == _people.c.id, _identities.c.channel == channel)
        .scalar_subquery()
        .label(_account_label(channel))
        for channel in Channel
    ),
)
# The person behind one account, with every account of theirs.
_PERSON_BY_IDENTITY = (
    select(*_PERSON_COLUMNS)
    .select_from(_people.join(_found, _found.c.person_id == _people.c.id))
    .where(_found.c.channel == bindparam("channel"), _found.c.external_id == bindparam("external_id"))
)
_PEOPLE_BY_ID = select(*_PERSON_COLUMNS).where(_people.c.id.in_(bindparam("ids", expanding=True)))


def _found_person(found: Any) -> Person:
    """A person from a row of ``_PERSON_BY_IDENTITY``."""
    areas, kinds = found.area_ids, found.service_types
    return _person(
        found,
        (int(part) for part in areas.split(",")) if areas else (),
        (ServiceType(part) for part in kinds.split(",")) if kinds else (),
        (
            Identity(channel, account)
            for channel in Channel
            if (account := getattr(found, _account_label(channel))) is not None
        ),
    )


def _person(
    row: Any, area_ids: Iterable[int], kinds: Iterable[ServiceType], identities: Iterable[Identity]
) -> Person:
    """A person from their columns: a ``PersonRow``, or a result row with the same names."""
    return Person(
        id=row.id,
        display_name=row.display_name,
        language=row.language,
        role=row.role,
        organisation_id=row.organisation_id,
        area_ids=frozenset(area_ids),
        service_types=frozenset(kinds),
        active=row.active,
        phone=row.phone,
        created_at=row.created_at,
        identities=tuple(sorted(identities, key=lambda identity: _CHANNEL_ORDER[identity.channel])),
    )


class PersonRepository(Repository):
    async def _to_domain(self, row: PersonRow, kinds: Iterable[ServiceType] | None = None) -> Person:
        if kinds is None:
            kinds = await self._session.scalars(
                select(person_service_types.c.service_type).where(person_service_types.c.person_id == row.id)
            )
        return _person(
            row,
            (area.id for area in row.areas),
            kinds,
            (Identity(account.channel, account.external_id) for account in row.identities),
        )

    async def _row(self, person_id: int) -> PersonRow:
        row = await self._session.get(PersonRow, person_id)
        if row is None:
            raise NotFound(Refusal.PERSON_NOT_FOUND, person_id=person_id)
        return row

    async def add(
        self,
        *,
        now: datetime,
        identity: Identity | None = None,
        display_name: str = "",
        language: str = "zh",
        role: Role = Role.RECIPIENT,
        organisation_id: int | None = None,
        area_ids: Iterable[int] = (),
        service_types: Iterable[ServiceType] = (),
        phone: str | None = None,
    ) -> Person:
        """A new person, with their account on a channel when they come from one (``identity``)."""
        if identity is not None and await self.by_identity(identity.channel, identity.external_id):
            raise Conflict(Refusal.ACCOUNT_TAKEN)
        row = PersonRow(
            display_name=display_name,
            language=language,
            role=role,
            organisation_id=organisation_id,
            phone=phone,
            active=True,
            created_at=now,
        )
        row.identities = (
            [IdentityRow(channel=identity.channel, external_id=identity.external_id, created_at=now)]
            if identity is not None
            else []
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

    async def add_identity(self, person_id: int, identity: Identity, *, now: datetime) -> Person:
        """Give the person an account on another channel; ``Conflict`` when the account is someone
        else's, or the person has one on that channel already."""
        row = await self._row(person_id)
        if identity.channel in {account.channel for account in row.identities} or await self.by_identity(
            identity.channel, identity.external_id
        ):
            raise Conflict(Refusal.ACCOUNT_TAKEN)
        row.identities.append(
            IdentityRow(channel=identity.channel, external_id=identity.external_id, created_at=now)
        )
        await self._session.flush()
        return await self._to_domain(row)

    async def get(self, person_id: int) -> Person | None:
        row = await self._session.get(PersonRow, person_id)
        return await self._to_domain(row) if row else None

    async def by_identity(self, channel: Channel, external_id: str) -> Person | None:
        """The person behind an account on a channel. One statement: the person's columns with their
        areas, service types and accounts. No ORM object is loaded, so nothing here touches what the
        session holds."""
        found = (
            await self._core.execute(_PERSON_BY_IDENTITY, {"channel": channel, "external_id": external_id})
        ).first()
        return _found_person(found) if found is not None else None

    async def many(self, person_ids: Iterable[int]) -> dict[int, Person]:
        """The people of these ids there are, in one statement, read as they are stored: for reading
        (what this transaction changed and has not flushed is not seen)."""
        ids = sorted(set(person_ids))
        if not ids:
            return {}
        found = await self._core.execute(_PEOPLE_BY_ID, {"ids": ids})
        return {row.id: _found_person(row) for row in found}

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
        row.identities = []  # nobody is found behind their accounts any more
        row.display_name = ""
        row.phone = None
        row.active = False
        row.erased_at = now
        row.areas = []
        await self._session.flush()

    async def forget_dialog_states(self, keys: Sequence[str]) -> int:
        """Erasure: the person's conversation state, kept by account ("telegram:<id>")."""
        if not keys:
            return 0
        result = await self._session.execute(delete(DialogStateRow).where(DialogStateRow.key.in_(list(keys))))
        return int(result.rowcount)  # type: ignore[attr-defined]
