"""Need reports, as people made them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    or_,
    select,
    update,
)

from casework.domain import (
    Channel,
    ContactWay,
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
        contact: ContactWay | None = None,
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
            contact=contact,
        )
        return await self._added(row, _report)

    async def by_submission_key(self, key: str) -> NeedReport | None:
        row = await self._session.scalar(select(NeedReportRow).where(NeedReportRow.submission_key == key))
        return _report(row) if row else None

    async def get(self, report_id: int) -> NeedReport | None:
        row = await self._session.get(NeedReportRow, report_id)
        return _report(row) if row else None

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

    async def redact_by_reporter(self, reporter_id: int, *, keep_words_of: Sequence[int] = ()) -> int:
        """Erasure: blank the words of every report the person made about themselves, keeping labels for
        statistics, and unlink them from all. A report made on someone else's behalf (a volunteer's
        flag) keeps its words, which are about that household, as does a report on one of the tickets
        ``keep_words_of`` (a crisis the words are needed for); how many reports were blanked."""
        mine = NeedReportRow.reporter_id == reporter_id
        kept = or_(NeedReportRow.on_behalf, NeedReportRow.ticket_id.in_(list(keep_words_of)))
        result = await self._session.execute(
            update(NeedReportRow).where(mine, ~kept).values(text="", reporter_id=None, anonymous=True)
        )
        await self._session.execute(
            update(NeedReportRow).where(mine).values(reporter_id=None, anonymous=True)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
