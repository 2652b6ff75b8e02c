"""Messages turns wrote for their chats, sent once their turn committed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, or_, select, update

from casework.domain import Channel
from storage.models import OutgoingRow
from storage.repositories.base import Repository, from_row

_outgoing_table: Table = OutgoingRow.__table__  # type: ignore[assignment]

# The statements every turn runs, built once and run with new values: building one and giving it its
# cache key took most of the time of running it (bench/README.md).
_t = _outgoing_table.c
_WAITING_FIRST = (
    select(_t.id)
    .where(_t.done_at.is_(None), _t.channel == bindparam("channel"), _t.chat_id == bindparam("chat_id"))
    .limit(1)
)
_ADD = insert(_outgoing_table).returning(_t.id, sort_by_parameter_order=True)
_SENT = (
    update(_outgoing_table)
    .where(_t.id.in_(bindparam("ids", expanding=True)))
    .values(
        done_at=bindparam("at"),
        claimed_until=None,
        refused=bindparam("is_refused"),
        last_error=bindparam("why"),
        attempts=_t.attempts + 1,
    )
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for a chat, as the channel sends it: new (text, or a file with a caption), or an edit of
    one of its messages."""

    text: str  # with a file, its caption
    markup: dict[str, Any] | None = None
    edits_message_id: int | None = None
    id: int | None = None  # once stored
    attempts: int = 0
    file_name: str | None = None  # a file sent with the text as its caption
    file_kind: str | None = None  # how the channel shows it ("photo", "document")
    file_content: bytes | None = None


def _outgoing(row: OutgoingRow) -> Outgoing:
    return from_row(Outgoing, row)


class OutgoingRepository(Repository):
    """Messages turns wrote for their chats, each sent once its turn committed (``outgoing_messages``)."""

    async def add(
        self,
        messages: Sequence[Outgoing],
        *,
        channel: Channel,
        chat_id: int,
        update_id: int | None,
        now: datetime,
        claim_until: datetime | None = None,
    ) -> list[Outgoing]:
        """Store the messages; with ``claim_until``, also take them for one try at sending (as ``claim``
        does) unless an earlier message for the chat still waits, which they must follow. The messages
        claimed, with their ids: the caller sends them once the transaction commits."""
        claim = claim_until is not None and not await self._anything_waiting(channel, chat_id)
        rows = [
            {
                "channel": channel,
                "chat_id": chat_id,
                "update_id": update_id,
                "edits_message_id": message.edits_message_id,
                "text": message.text,
                "markup": message.markup,
                "file_name": message.file_name,
                "file_kind": message.file_kind,
                "file_content": message.file_content,
                "created_at": now,
                "attempts": 0,
                "claimed_until": claim_until if claim else None,
            }
            for message in messages
        ]
        if not rows:
            return []
        ids = await self._core.execute(_ADD, rows)
        if not claim:
            return []
        return [replace(message, id=id_) for message, id_ in zip(messages, ids.scalars(), strict=True)]

    async def _anything_waiting(self, channel: Channel, chat_id: int) -> bool:
        found = await self._core.execute(_WAITING_FIRST, {"channel": channel, "chat_id": chat_id})
        return found.first() is not None

    async def waiting(self, *, channel: Channel, chat_id: int) -> list[Outgoing]:
        """The chat's messages not sent yet, oldest first."""
        rows = await self._session.scalars(
            select(OutgoingRow)
            .where(
                OutgoingRow.done_at.is_(None),
                OutgoingRow.channel == channel,
                OutgoingRow.chat_id == chat_id,
            )
            .order_by(OutgoingRow.id)
        )
        return [_outgoing(row) for row in rows]

    async def claim(self, message_id: int, *, now: datetime, until: datetime) -> bool:
        """Take the message for one try at sending it until ``until``: False when another process has
        it, when it is done, or when it is not due yet."""
        result = await self._session.execute(
            update(OutgoingRow)
            .where(
                OutgoingRow.id == message_id,
                OutgoingRow.done_at.is_(None),
                or_(OutgoingRow.claimed_until.is_(None), OutgoingRow.claimed_until <= now),
                or_(OutgoingRow.next_attempt_at.is_(None), OutgoingRow.next_attempt_at <= now),
            )
            .execution_options(synchronize_session=False)
            .values(claimed_until=until)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def done(self, message_ids: Sequence[int], *, now: datetime, refused: str | None = None) -> None:
        """Sent; or, with ``refused`` (why), refused for good by the channel and not tried again."""
        why = refused[:200] if refused else None
        await self._core.execute(
            _SENT, {"ids": list(message_ids), "at": now, "is_refused": refused is not None, "why": why}
        )

    async def retry_at(self, message_id: int, *, at: datetime, error: str) -> None:
        """Not sent this time (a flood limit, the network): tried again from ``at``."""
        await self._session.execute(
            update(OutgoingRow)
            .where(OutgoingRow.id == message_id, OutgoingRow.done_at.is_(None))
            .execution_options(synchronize_session=False)
            .values(
                claimed_until=None,
                next_attempt_at=at,
                last_error=error[:200],
                attempts=OutgoingRow.attempts + 1,
            )
        )

    async def release(self, message_id: int) -> None:
        """Let go of a claimed message that was not tried: any sender may take it."""
        await self._session.execute(
            update(OutgoingRow)
            .where(OutgoingRow.id == message_id, OutgoingRow.done_at.is_(None))
            .execution_options(synchronize_session=False)
            .values(claimed_until=None)
        )

    async def chats_waiting(
        self, *, channel: Channel, written_before: datetime, now: datetime, limit: int = 100
    ) -> list[int]:
        """Chats with a message written before ``written_before``, not sent, due and not being sent."""
        rows = await self._session.scalars(
            select(OutgoingRow.chat_id)
            .where(
                OutgoingRow.done_at.is_(None),
                OutgoingRow.channel == channel,
                OutgoingRow.created_at < written_before,
                or_(OutgoingRow.claimed_until.is_(None), OutgoingRow.claimed_until <= now),
                or_(OutgoingRow.next_attempt_at.is_(None), OutgoingRow.next_attempt_at <= now),
            )
            .group_by(OutgoingRow.chat_id)
            .order_by(func.min(OutgoingRow.id))
            .limit(limit)
        )
        return list(rows)

    async def forget_chat(self, *, channel: Channel, chat_id: int) -> int:
        """Every message for the chat, sent or not (the person's data is erased)."""
        result = await self._session.execute(
            delete(OutgoingRow).where(OutgoingRow.channel == channel, OutgoingRow.chat_id == chat_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def prune(self, *, older_than: datetime) -> int:
        """Messages done before ``older_than``."""
        result = await self._session.execute(delete(OutgoingRow).where(OutgoingRow.done_at < older_than))
        return int(result.rowcount)  # type: ignore[attr-defined]
