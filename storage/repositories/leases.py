"""Named leases (the scheduler's leader, without Redis)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    delete,
    or_,
    update,
)

from storage.models import LeaseRow
from storage.repositories.base import Repository


class LeaseRepository(Repository):
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
