"""The channel updates already handled (so a re-delivery changes nothing)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, delete

from casework.domain import Channel
from storage.models import ProcessedUpdateRow
from storage.repositories.base import Repository

_updates: Table = ProcessedUpdateRow.__table__  # type: ignore[assignment]


class ProcessedUpdateRepository(Repository):
    async def record(self, *, channel: Channel, update_id: int, now: datetime) -> bool:
        """True the first time an update is seen; False for a re-delivery.

        Called in the same transaction as the update's effects, so a crash before commit leaves the
        update unrecorded and its redelivery is handled in full."""
        values = {"channel": channel.value, "update_id": update_id, "processed_at": now}
        return await self._insert_ignoring_conflict(_updates, values)

    async def prune(self, *, older_than: datetime) -> int:
        result = await self._session.execute(
            delete(ProcessedUpdateRow).where(ProcessedUpdateRow.processed_at < older_than)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
