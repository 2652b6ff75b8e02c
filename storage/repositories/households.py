"""Households a report is about."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from casework.domain import (
    Household,
    VulnerabilityTag,
)
from storage.models import HouseholdRow
from storage.repositories.base import Repository, from_row


def _household(row: HouseholdRow) -> Household:
    tags = frozenset(VulnerabilityTag(tag) for tag in row.vulnerability_tags)
    return from_row(Household, row, vulnerability_tags=tags)


class HouseholdRepository(Repository):
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
        return await self._added(row, _household)

    async def get(self, household_id: int) -> Household | None:
        row = await self._session.get(HouseholdRow, household_id)
        return _household(row) if row else None

    async def in_area(self, area_id: int) -> list[Household]:
        rows = await self._session.scalars(
            select(HouseholdRow).where(HouseholdRow.area_id == area_id).order_by(HouseholdRow.id)
        )
        return [_household(row) for row in rows]

    async def merge_situation(
        self, household_id: int, *, size: int | None, vulnerability_tags: Iterable[VulnerabilityTag]
    ) -> None:
        """What a later report says of a household already on file: its size when given, and its
        situation's tags added to those known."""
        row = await self._session.get(HouseholdRow, household_id)
        if row is None:
            return
        if size is not None:
            row.size = size
        row.vulnerability_tags = sorted(
            set(row.vulnerability_tags) | {VulnerabilityTag(tag).value for tag in vulnerability_tags}
        )
        await self._session.flush()
