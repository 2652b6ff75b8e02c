"""Workers' groups registered for an area."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    delete,
    or_,
    select,
)

from casework.domain import WorkerGroup
from storage.models import WorkerGroupRow
from storage.repositories.base import Repository, from_row


def _group(row: WorkerGroupRow) -> WorkerGroup:
    return from_row(WorkerGroup, row)


class WorkerGroupRepository(Repository):
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
        return await self._added(row, _group)

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
