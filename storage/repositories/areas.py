"""Areas (the tree of districts, streets and communities) and their locations."""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    and_,
    func,
    literal,
    select,
)
from sqlalchemy.orm import aliased

from casework.domain import (
    Area,
    AreaLevel,
    Refusal,
)
from storage.models import AreaRow
from storage.repositories.base import Repository, from_row


def _area(row: AreaRow) -> Area:
    located = None
    if row.latitude is not None and row.longitude is not None:
        located = (row.latitude, row.longitude)
    return from_row(Area, row, location=located)


class AreaRepository(Repository):
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
        await self._add_unique(row, Refusal.AREA_EXISTS, code=code)
        return _area(row)

    async def upsert(
        self,
        *,
        code: str,
        name: str,
        level: AreaLevel,
        name_en: str | None = None,
        parent_id: int | None = None,
        location: tuple[float, float] | None = None,
    ) -> tuple[Area, bool]:
        """Create the area or update the one with this code; True in the pair when it was created. An
        update without an English name or a location keeps the one stored."""
        row = await self._session.scalar(select(AreaRow).where(AreaRow.code == code))
        if row is None:
            area = await self.add(
                code=code,
                name=name,
                level=level,
                name_en=name_en or "",
                parent_id=parent_id,
                location=location,
            )
            return area, True
        row.name, row.level, row.parent_id = name, level, parent_id
        if name_en is not None:
            row.name_en = name_en
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
        """The area itself first, then each parent up to the root: one statement, climbing the tree
        (at most 16 levels, should a parent ever point back down)."""
        chain = (
            select(AreaRow.id, AreaRow.parent_id, literal(0).label("depth"))
            .where(AreaRow.id == area_id)
            .cte("chain", recursive=True)
        )
        parent = aliased(AreaRow)
        chain = chain.union_all(
            select(parent.id, parent.parent_id, chain.c.depth + 1).where(
                parent.id == chain.c.parent_id, chain.c.depth < 15
            )
        )
        rows = await self._session.scalars(
            select(AreaRow).join(chain, AreaRow.id == chain.c.id).order_by(chain.c.depth)
        )
        return [_area(row) for row in rows]

    async def descendant_ids(self, area_id: int) -> set[int]:
        """The area and every area below it: one statement, down the tree (``UNION`` stops a loop)."""
        below = select(literal(area_id).label("id")).cte("below", recursive=True)
        below = below.union(select(AreaRow.id).where(AreaRow.parent_id == below.c.id))
        return {area_id, *await self._session.scalars(select(below.c.id))}

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
