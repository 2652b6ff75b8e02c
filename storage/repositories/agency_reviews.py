"""Agencies' evaluations in three voices and the improvement actions raised for them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

from sqlalchemy import select

from casework.domain import (
    ActionStatus,
    AgencyCriterion,
    AgencyEvaluation,
    ImprovementAction,
    Voice,
)
from storage.models import AgencyEvaluationRow, ImprovementActionRow
from storage.repositories.base import Repository, from_row


def _evaluation(row: AgencyEvaluationRow) -> AgencyEvaluation:
    return from_row(
        AgencyEvaluation,
        row,
        scores={AgencyCriterion(name): int(value) for name, value in row.scores.items()},
    )


def _action(row: ImprovementActionRow) -> ImprovementAction:
    return from_row(ImprovementAction, row)


class AgencyReviewRepository(Repository):
    async def add_evaluation(
        self,
        *,
        organisation_id: int,
        period: str,
        period_start: date,
        period_end: date,
        voice: Voice,
        by_id: int | None,
        scores: Mapping[AgencyCriterion, int],
        comment: str | None,
        now: datetime,
    ) -> AgencyEvaluation:
        row = AgencyEvaluationRow(
            organisation_id=organisation_id,
            period=period,
            period_start=period_start,
            period_end=period_end,
            voice=voice,
            by_id=by_id,
            scores={criterion.value: score for criterion, score in scores.items()},
            comment=comment,
            created_at=now,
        )
        return await self._added(row, _evaluation)

    async def evaluations(
        self, *, organisation_ids: Iterable[int] | None = None, overlapping: tuple[date, date] | None = None
    ) -> list[AgencyEvaluation]:
        """The evaluations of these agencies (all when None) whose period overlaps the days given (the
        first and the last), the first first."""
        query = select(AgencyEvaluationRow).order_by(AgencyEvaluationRow.id)
        if organisation_ids is not None:
            query = query.where(AgencyEvaluationRow.organisation_id.in_(list(organisation_ids)))
        if overlapping is not None:
            first, last = overlapping
            query = query.where(
                AgencyEvaluationRow.period_start <= last, AgencyEvaluationRow.period_end >= first
            )
        return [_evaluation(row) for row in await self._session.scalars(query)]

    async def add_action(
        self,
        *,
        organisation_id: int,
        what: str,
        due_on: date,
        raised_by_id: int | None,
        raised_in: str,
        now: datetime,
    ) -> ImprovementAction:
        row = ImprovementActionRow(
            organisation_id=organisation_id,
            what=what,
            due_on=due_on,
            raised_by_id=raised_by_id,
            raised_in=raised_in,
            status=ActionStatus.OPEN,
            created_at=now,
        )
        return await self._added(row, _action)

    async def action(self, action_id: int) -> ImprovementAction | None:
        row = await self._session.get(ImprovementActionRow, action_id)
        return _action(row) if row is not None else None

    async def actions(
        self, *, organisation_ids: Iterable[int] | None = None, raised_before: datetime | None = None
    ) -> list[ImprovementAction]:
        """The improvement actions of these agencies (all when None), raised before the time given, the
        first first."""
        query = select(ImprovementActionRow).order_by(ImprovementActionRow.id)
        if organisation_ids is not None:
            query = query.where(ImprovementActionRow.organisation_id.in_(list(organisation_ids)))
        if raised_before is not None:
            query = query.where(ImprovementActionRow.created_at < raised_before)
        return [_action(row) for row in await self._session.scalars(query)]

    async def close_action(
        self, action_id: int, *, note: str | None, now: datetime
    ) -> ImprovementAction | None:
        """Mark the action done; None when it is not open (done already, or gone)."""
        row = await self._session.get(ImprovementActionRow, action_id, with_for_update=True)
        if row is None or row.status is not ActionStatus.OPEN:
            return None
        row.status = ActionStatus.DONE
        row.done_at = now
        row.done_note = note
        await self._session.flush()
        return _action(row)
