"""The crisis on-call list."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import (
    delete,
    select,
)

from casework.domain import OnCall
from storage.models import OnCallRow
from storage.repositories.base import Repository, from_row


def _on_call(row: OnCallRow) -> OnCall:
    return from_row(OnCall, row)


class OnCallRepository(Repository):
    async def add(
        self, *, person_id: int, area_id: int | None, from_time: time, until_time: time, now: datetime
    ) -> OnCall:
        row = OnCallRow(
            person_id=person_id, area_id=area_id, from_time=from_time, until_time=until_time, created_at=now
        )
        return await self._added(row, _on_call)

    async def list_all(self) -> list[OnCall]:
        return [
            _on_call(row) for row in await self._session.scalars(select(OnCallRow).order_by(OnCallRow.id))
        ]

    async def remove(self, on_call_id: int) -> bool:
        result = await self._session.execute(delete(OnCallRow).where(OnCallRow.id == on_call_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]
