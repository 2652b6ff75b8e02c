"""The channel updates already handled (so a re-delivery changes nothing)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    exists,
    literal,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from casework.domain import Channel
from storage.models import ProcessedUpdateRow
from storage.repositories.base import Repository
from storage.repositories.people import PERSON_BY_TELEGRAM_ID, PersonRepository, found_person

_updates: Table = ProcessedUpdateRow.__table__  # type: ignore[assignment]
_recorded = (
    postgresql.insert(_updates)
    .values({name: bindparam(name) for name in ("channel", "update_id", "processed_at")})
    .on_conflict_do_nothing()
    .returning(_updates.c.update_id)
    .cte("recorded")
)
_sender = PERSON_BY_TELEGRAM_ID.subquery("sender")
# PostgreSQL runs a data-modifying WITH clause once, whatever the query reads of it: the update is
# recorded (or found recorded), and the row says which, with the sender's columns (NULL for nobody).
_RECORD_READING_SENDER = select(exists(select(_recorded.c.update_id)).label("new"), _sender).select_from(
    select(literal(1).label("one")).subquery("one").outerjoin(_sender, true())
)


class ProcessedUpdateRepository(Repository):
    def __init__(
        self,
        session: AsyncSession,
        dialect: str,
        core: AsyncConnection | AsyncSession,
        people: PersonRepository,
    ) -> None:
        super().__init__(session, dialect, core)
        self._people = people

    async def record(
        self, *, channel: Channel, update_id: int, now: datetime, sender: int | None = None
    ) -> bool:
        """True the first time an update is seen; False for a re-delivery.

        Called in the same transaction as the update's effects, so a crash before commit leaves the
        update unrecorded and its redelivery is handled in full. With ``sender``, the Telegram id of
        the person it comes from, PostgreSQL reads that person in the same statement, for this
        transaction's next lookup of them (``PersonRepository.by_telegram_id``): one round trip a
        turn fewer.
        """
        values = {"channel": channel.value, "update_id": update_id, "processed_at": now}
        if sender is None or self._dialect != "postgresql":
            return await self._insert_ignoring_conflict(_updates, values)
        found = (
            await self._core.execute(_RECORD_READING_SENDER, {**values, "telegram_user_id": sender})
        ).one()
        self._people.read_ahead(sender, found_person(found) if found.id is not None else None)
        return bool(found.new)

    async def prune(self, *, older_than: datetime) -> int:
        result = await self._session.execute(
            delete(ProcessedUpdateRow).where(ProcessedUpdateRow.processed_at < older_than)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
