"""The web console's sign-in links, staff passwords, sessions and log."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from casework.domain import StaffCredentials, StaffEvent, StaffLogEntry, StaffSession
from storage.models import StaffLinkRow, StaffLogRow, StaffPasswordRow, StaffSessionRow
from storage.repositories.base import Repository, from_row


def _staff_session(row: StaffSessionRow) -> StaffSession:
    return from_row(StaffSession, row)


class StaffAccessRepository(Repository):
    async def add_link(self, *, token_hash: str, person_id: int, expires_at: datetime, now: datetime) -> None:
        self._session.add(
            StaffLinkRow(token_hash=token_hash, person_id=person_id, expires_at=expires_at, created_at=now)
        )
        await self._session.flush()

    async def use_link(self, token_hash: str, *, now: datetime) -> int | None:
        """Spend the link: whose it was, or None when it is unknown, used or expired. One statement, so
        two browsers racing with the same link cannot both win."""
        return await self._session.scalar(
            update(StaffLinkRow)
            .where(
                StaffLinkRow.token_hash == token_hash,
                StaffLinkRow.used_at.is_(None),
                StaffLinkRow.expires_at > now,
            )
            .values(used_at=now)
            .returning(StaffLinkRow.person_id)
        )

    async def credentials(self, person_id: int) -> StaffCredentials | None:
        row = await self._session.get(StaffPasswordRow, person_id, populate_existing=True)
        return from_row(StaffCredentials, row) if row is not None else None

    async def set_password(self, person_id: int, password_hash: str, *, now: datetime) -> None:
        row = await self._session.get(StaffPasswordRow, person_id)
        if row is None:
            self._session.add(StaffPasswordRow(person_id=person_id, password_hash=password_hash, set_at=now))
        else:
            row.password_hash, row.set_at, row.failures, row.locked_until = password_hash, now, 0, None
        await self._session.flush()

    async def failed(
        self, person_id: int, *, now: datetime, lock_after: int, lock_for: timedelta
    ) -> datetime | None:
        """Count one more wrong password; at ``lock_after`` in a row the account locks until the time
        returned (and the count starts again)."""
        failures = await self._session.scalar(
            update(StaffPasswordRow)
            .where(StaffPasswordRow.person_id == person_id)
            .values(failures=StaffPasswordRow.failures + 1)
            .returning(StaffPasswordRow.failures)
        )
        if failures is None or failures < lock_after:
            return None
        until = now + lock_for
        await self._session.execute(
            update(StaffPasswordRow)
            .where(StaffPasswordRow.person_id == person_id)
            .values(failures=0, locked_until=until)
        )
        return until

    async def succeeded(self, person_id: int) -> None:
        await self._session.execute(
            update(StaffPasswordRow)
            .where(StaffPasswordRow.person_id == person_id)
            .values(failures=0, locked_until=None)
        )

    async def add_session(
        self, *, token_hash: str, person_id: int, csrf_token: str, via: str, now: datetime
    ) -> StaffSession:
        row = StaffSessionRow(
            token_hash=token_hash,
            person_id=person_id,
            csrf_token=csrf_token,
            via=via,
            created_at=now,
            last_seen_at=now,
        )
        return await self._added(row, _staff_session)

    async def session(self, token_hash: str) -> StaffSession | None:
        row = await self._session.scalar(
            select(StaffSessionRow).where(StaffSessionRow.token_hash == token_hash)
        )
        return _staff_session(row) if row is not None else None

    async def touch(self, session_id: int, *, now: datetime) -> None:
        await self._session.execute(
            update(StaffSessionRow).where(StaffSessionRow.id == session_id).values(last_seen_at=now)
        )

    async def end(self, session_id: int, *, now: datetime) -> None:
        await self._session.execute(
            update(StaffSessionRow)
            .where(StaffSessionRow.id == session_id, StaffSessionRow.ended_at.is_(None))
            .values(ended_at=now)
        )

    async def end_all(self, person_id: int, *, now: datetime) -> int:
        result = await self._session.execute(
            update(StaffSessionRow)
            .where(StaffSessionRow.person_id == person_id, StaffSessionRow.ended_at.is_(None))
            .values(ended_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def log(self, person_id: int | None, event: StaffEvent, detail: str, *, now: datetime) -> None:
        self._session.add(StaffLogRow(person_id=person_id, event=event, detail=detail[:200], at=now))
        await self._session.flush()

    async def entries(
        self,
        *,
        person_id: int | None,
        event: StaffEvent | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[StaffLogEntry]:
        query = select(StaffLogRow).order_by(StaffLogRow.at.desc(), StaffLogRow.id.desc()).limit(limit)
        if person_id is not None:
            query = query.where(StaffLogRow.person_id == person_id)
        if event is not None:
            query = query.where(StaffLogRow.event == event)
        if since is not None:
            query = query.where(StaffLogRow.at >= since)
        if until is not None:
            query = query.where(StaffLogRow.at < until)
        return [from_row(StaffLogEntry, row) for row in await self._session.scalars(query)]
