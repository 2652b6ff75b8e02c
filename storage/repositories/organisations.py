"""Agencies (social work organisations) and the areas and service types they serve."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    func,
    insert,
    select,
)

from casework.domain import (
    Conflict,
    Organisation,
    Refusal,
    ServiceType,
)
from storage.models import (
    AreaRow,
    OrganisationRow,
    organisation_service_types,
)
from storage.repositories.base import Repository


class OrganisationRepository(Repository):
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
            raise Conflict(Refusal.ORGANISATION_EXISTS, name=name)
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
