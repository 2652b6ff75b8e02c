"""The alert outbox: alerts written with the change they announce, delivered after."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    null,
    or_,
    select,
    update,
)

from casework.domain import (
    AlertKind,
    OutboxAlert,
    OutboxStatus,
)
from storage.models import OutboxRow
from storage.repositories.base import Repository, from_row
from storage.repositories.scrub import Scrub, scrub_json


def _alert(row: OutboxRow) -> OutboxAlert:
    return from_row(
        OutboxAlert,
        row,
        payload=dict(row.payload),
        # Rows older than the event column name their kind in the payload only.
        event=AlertKind(row.event or str(row.payload.get("event", ""))),
        delivery_ref=dict(row.delivery_ref) if row.delivery_ref is not None else None,
    )


class OutboxRepository(Repository):
    async def add(
        self,
        *,
        idempotency_key: str,
        event: AlertKind,
        payload: dict[str, Any],
        now: datetime,
        recipient_person_id: int | None = None,
        recipient_chat_id: int | None = None,
        ticket_id: int | None = None,
    ) -> OutboxAlert | None:
        """Queue an alert in the caller's transaction; None when the same key was queued before."""
        if recipient_person_id is None and recipient_chat_id is None:
            raise ValueError("an alert needs a recipient person or chat")
        created = await self._insert_ignoring_conflict(
            OutboxRow.__table__,  # type: ignore[arg-type]
            {
                "idempotency_key": idempotency_key,
                "recipient_person_id": recipient_person_id,
                "recipient_chat_id": recipient_chat_id,
                "ticket_id": ticket_id,
                "event": str(event),
                "payload": payload,
                "status": OutboxStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        )
        return await self.by_key(idempotency_key) if created else None

    async def queue(
        self,
        *,
        event: AlertKind,
        payload: dict[str, Any],
        now: datetime,
        ticket_id: int | None,
        recipient_person_id: int | None = None,
        recipient_chat_id: int | None = None,
        key_suffix: str = "",
    ) -> OutboxAlert | None:
        """Queue an alert keyed by (ticket, recipient, event): queuing the same one again does nothing."""
        recipient = f"p{recipient_person_id}" if recipient_person_id is not None else f"c{recipient_chat_id}"
        key = f"t{ticket_id if ticket_id is not None else '-'}:{recipient}:{event}{key_suffix}"
        return await self.add(
            idempotency_key=key,
            payload={"event": event, **payload},
            now=now,
            recipient_person_id=recipient_person_id,
            recipient_chat_id=recipient_chat_id,
            ticket_id=ticket_id,
            event=event,
        )

    async def by_key(self, idempotency_key: str) -> OutboxAlert | None:
        row = await self._session.scalar(
            select(OutboxRow)
            .where(OutboxRow.idempotency_key == idempotency_key)
            .execution_options(populate_existing=True)
        )
        return _alert(row) if row else None

    async def get(self, alert_id: int) -> OutboxAlert | None:
        row = await self._session.get(OutboxRow, alert_id, populate_existing=True)
        return _alert(row) if row else None

    async def due(self, *, now: datetime, limit: int = 100) -> list[OutboxAlert]:
        rows = await self._session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.status == OutboxStatus.PENDING,
                or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now),
            )
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(limit)
        )
        return [_alert(row) for row in rows]

    async def mark_sent(self, alert_id: int, *, now: datetime) -> bool:
        result = await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == alert_id, OutboxRow.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.SENT, sent_at=now, attempts=OutboxRow.attempts + 1, last_error=None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def mark_failed(
        self, alert_id: int, *, error: str, retry_at: datetime | None
    ) -> OutboxAlert | None:
        """Count a failed attempt; with no ``retry_at`` the alert becomes undeliverable.

        A retried alert is due for publication again at ``retry_at``.
        """
        status = OutboxStatus.PENDING if retry_at is not None else OutboxStatus.UNDELIVERABLE
        await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == alert_id, OutboxRow.status == OutboxStatus.PENDING)
            .values(
                status=status,
                attempts=OutboxRow.attempts + 1,
                last_error=error[:500],
                next_attempt_at=retry_at,
                published_at=None,
            )
        )
        return await self.get(alert_id)

    async def claim_for_delivery(
        self, alert_id: int, *, now: datetime, until: datetime
    ) -> OutboxAlert | None:
        """Take the alert for one delivery attempt until ``until``; None when it is not due or not pending.

        Two relays racing for the same alert: one update matches, the other finds it no longer due.
        """
        result = await self._session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id == alert_id,
                OutboxRow.status == OutboxStatus.PENDING,
                or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now),
            )
            .values(next_attempt_at=until)
        )
        return await self.get(alert_id) if result.rowcount else None  # type: ignore[attr-defined]

    async def postpone(self, alert_id: int, *, until: datetime) -> None:
        """Try again later without counting an attempt (it waits on another alert)."""
        await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == alert_id, OutboxRow.status == OutboxStatus.PENDING)
            .values(next_attempt_at=until, published_at=None)
        )

    async def close_without_sending(self, alert_id: int, *, reason: str, now: datetime) -> None:
        """Nothing is left to deliver (an edit of an alert that never arrived, say)."""
        await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == alert_id, OutboxRow.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.SENT, sent_at=now, last_error=reason[:500], delivery_ref={})
        )

    async def unpublished(
        self, *, now: datetime, stale_before: datetime | None = None, limit: int = 200
    ) -> list[OutboxAlert]:
        """Pending alerts due now that are not in the stream: never published, or published before
        ``stale_before`` and still not delivered (the stream lost them, or a consumer died with them)."""
        in_stream: ColumnElement[bool] = OutboxRow.published_at.is_(None)
        if stale_before is not None:
            in_stream = or_(in_stream, OutboxRow.published_at < stale_before)
        rows = await self._session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.status == OutboxStatus.PENDING,
                in_stream,
                or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now),
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        return [_alert(row) for row in rows]

    async def mark_published(self, alerts: Iterable[OutboxAlert], *, now: datetime) -> None:
        """Record that these alerts, as read, went into the stream. A row that a delivery attempt
        changed in the meantime (failed, postponed, sent) keeps what that attempt wrote."""
        for alert in alerts:
            unchanged_time = (
                OutboxRow.next_attempt_at == alert.next_attempt_at
                if alert.next_attempt_at is not None
                else OutboxRow.next_attempt_at.is_(None)
            )
            await self._session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == alert.id,
                    OutboxRow.status == OutboxStatus.PENDING,
                    OutboxRow.attempts == alert.attempts,
                    unchanged_time,
                )
                .values(published_at=now)
            )

    async def record_delivery(self, alert_id: int, *, ref: dict[str, Any], now: datetime) -> bool:
        """Mark the alert sent with where it went (so it can be edited later); False if already sent."""
        result = await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == alert_id, OutboxRow.status == OutboxStatus.PENDING)
            .values(
                status=OutboxStatus.SENT,
                sent_at=now,
                attempts=OutboxRow.attempts + 1,
                last_error=None,
                delivery_ref=ref,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def for_ticket(self, ticket_id: int, *, event: AlertKind | None = None) -> list[OutboxAlert]:
        query = select(OutboxRow).where(OutboxRow.ticket_id == ticket_id).order_by(OutboxRow.id)
        if event is not None:
            query = query.where(OutboxRow.event == event)
        return [_alert(row) for row in await self._session.scalars(query)]

    async def latest_to(
        self, person_id: int, *, events: Sequence[AlertKind], since: datetime
    ) -> list[OutboxAlert]:
        """The alerts of these kinds queued for the person since ``since``, newest first."""
        query = (
            select(OutboxRow)
            .where(
                OutboxRow.recipient_person_id == person_id,
                OutboxRow.event.in_([str(event) for event in events]),
                OutboxRow.created_at >= since,
            )
            .order_by(OutboxRow.id.desc())
            .limit(20)
        )
        return [_alert(row) for row in await self._session.scalars(query)]

    async def sent_to(self, person_id: int, *, since: datetime) -> list[OutboxAlert]:
        """The alerts delivered to the person since ``since``, oldest first, whoever delivered them."""
        query = (
            select(OutboxRow)
            .where(
                OutboxRow.recipient_person_id == person_id,
                OutboxRow.status == OutboxStatus.SENT,
                OutboxRow.sent_at >= since,
            )
            .order_by(OutboxRow.sent_at, OutboxRow.id)
        )
        return [_alert(row) for row in await self._session.scalars(query)]

    async def forget_recipient(self, *, person_id: int, chat_id: int | None) -> int:
        """Erasure: the alerts addressed to the person keep no chat id, neither where they were
        delivered (``delivery_ref``) nor the chat they were addressed to; one addressed only to their
        own chat (``chat_id``) is addressed to the person (erased) instead."""
        result = await self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.recipient_person_id == person_id)
            .values(recipient_chat_id=None, delivery_ref=null())
        )
        changed = int(result.rowcount)  # type: ignore[attr-defined]
        if chat_id is not None:
            result = await self._session.execute(
                update(OutboxRow)
                .where(OutboxRow.recipient_chat_id == chat_id, OutboxRow.recipient_person_id.is_(None))
                .values(recipient_person_id=person_id, recipient_chat_id=None, delivery_ref=null())
            )
            changed += int(result.rowcount)  # type: ignore[attr-defined]
        return changed

    async def scrub_payloads(self, ticket_ids: Sequence[int], scrub: Scrub) -> int:
        """Erasure: every text in the alerts of these tickets passed through ``scrub``; how many changed."""
        if not ticket_ids:
            return 0
        changed = 0
        for row in await self._session.scalars(
            select(OutboxRow).where(OutboxRow.ticket_id.in_(list(ticket_ids)))
        ):
            scrubbed = scrub_json(row.payload, scrub)
            if scrubbed != row.payload:
                row.payload = scrubbed
                changed += 1
        await self._session.flush()
        return changed

    async def forget_replies(self, ticket_ids: Sequence[int], *, erased: str) -> int:
        """Erasure: the person's words carried by the reply alerts of these tickets replaced by
        ``erased``; how many alerts changed."""
        if not ticket_ids:
            return 0
        changed = 0
        for row in await self._session.scalars(
            select(OutboxRow).where(
                OutboxRow.ticket_id.in_(list(ticket_ids)), OutboxRow.event == AlertKind.CASE_REPLY
            )
        ):
            row.payload = {**row.payload, "words": erased}
            changed += 1
        await self._session.flush()
        return changed

    async def with_status(self, status: OutboxStatus, *, limit: int = 200) -> list[OutboxAlert]:
        rows = await self._session.scalars(
            select(OutboxRow).where(OutboxRow.status == status).order_by(OutboxRow.id).limit(limit)
        )
        return [_alert(row) for row in rows]
