"""Need reports, as people made them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    select,
    update,
)

from casework.domain import (
    Channel,
    NeedReport,
    ServiceType,
    Urgency,
)
from storage.models import NeedReportRow
from storage.repositories.base import Repository, from_row


def _report(row: NeedReportRow) -> NeedReport:
    return from_row(NeedReport, row)


class NeedReportRepository(Repository):
    async def add(
        self,
        *,
        text: str,
        language: str,
        intent: str,
        confidence: float,
        urgency: Urgency,
        channel: Channel,
        now: datetime,
        service_type: ServiceType | None = None,
        reporter_id: int | None = None,
        household_id: int | None = None,
        ticket_id: int | None = None,
        on_behalf: bool = False,
        anonymous: bool = False,
        submission_key: str | None = None,
    ) -> NeedReport:
        row = NeedReportRow(
            text=text,
            language=language,
            intent=intent,
            confidence=confidence,
            service_type=service_type,
            urgency=urgency,
            reporter_id=None if anonymous else reporter_id,
            household_id=household_id,
            ticket_id=ticket_id,
            on_behalf=on_behalf,
            anonymous=anonymous,
            channel=channel,
            created_at=now,
            submission_key=submission_key,
        )
        self._session.add(row)
        await self._session.flush()
        return _report(row)

    async def by_submission_key(self, key: str) -> NeedReport | None:
        row = await self._session.scalar(select(NeedReportRow).where(NeedReportRow.submission_key == key))
        return _report(row) if row else None

    async def get(self, report_id: int) -> NeedReport | None:
        row = await self._session.get(NeedReportRow, report_id)
        return _report(row) if row else None

    async def attach_to_ticket(self, report_id: int, ticket_id: int) -> None:
        await self._session.execute(
            update(NeedReportRow).where(NeedReportRow.id == report_id).values(ticket_id=ticket_id)
        )

    async def for_ticket(self, ticket_id: int) -> list[NeedReport]:
        rows = await self._session.scalars(
            select(NeedReportRow).where(NeedReportRow.ticket_id == ticket_id).order_by(NeedReportRow.id)
        )
        return [_report(row) for row in rows]

    async def by_reporter(self, reporter_id: int) -> list[NeedReport]:
        rows = await self._session.scalars(
            select(NeedReportRow).where(NeedReportRow.reporter_id == reporter_id).order_by(NeedReportRow.id)
        )
        return [_report(row) for row in rows]

    async def redact_by_reporter(self, reporter_id: int) -> int:
        """Blank the words of every report the person made, keeping labels for statistics."""
        result = await self._session.execute(
            update(NeedReportRow)
            .where(NeedReportRow.reporter_id == reporter_id)
            .values(text="", reporter_id=None, anonymous=True)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
