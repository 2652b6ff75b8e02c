"""Invites by which staff and volunteers enrol."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    select,
    update,
)

from casework.domain import (
    Invite,
    Role,
)
from storage.models import (
    InviteRow,
)
from storage.repositories.base import Repository, from_row


def _invite(row: InviteRow) -> Invite:
    return from_row(Invite, row)


class InviteRepository(Repository):
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
        return await self._added(row, _invite)

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

    async def revoke(self, invite_id: int, *, now: datetime) -> bool:
        """End an unused invite now; False when it was used (or is unknown)."""
        result = await self._session.execute(
            update(InviteRow)
            .where(InviteRow.id == invite_id, InviteRow.used_by_id.is_(None))
            .values(expires_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def find(self, *, include_used: bool = False) -> list[Invite]:
        query = select(InviteRow).order_by(InviteRow.id)
        if not include_used:
            query = query.where(InviteRow.used_by_id.is_(None))
        return [_invite(row) for row in await self._session.scalars(query)]
