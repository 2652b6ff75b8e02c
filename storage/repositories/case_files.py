"""A household's case file: its assessments (one row a version), its plan's goals and the plan's reviews."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update

from casework.domain import (
    OPEN_GOALS,
    Assessment,
    Goal,
    GoalOwner,
    GoalStatus,
    Progress,
    Refusal,
    Review,
    ServiceType,
)
from storage.models import AssessmentRow, Base, GoalProgressRow, GoalRow, ReviewRow
from storage.repositories.base import Repository, from_row
from storage.repositories.scrub import Scrub, scrub_column


def _assessment(row: AssessmentRow) -> Assessment:
    return from_row(Assessment, row, answers=dict(row.answers), needs=dict(row.needs))


def _goal(row: GoalRow) -> Goal:
    return from_row(Goal, row)


class CaseFileRepository(Repository):
    async def _next_number(self, column: Any, household_id: int) -> int:
        found = await self._session.scalar(
            select(func.max(column)).where(column.table.c.household_id == household_id)
        )
        return int(found or 0) + 1

    async def _add_numbered(self, row: Base) -> None:
        """Insert a row numbered on its household's file; a number another transaction took first (two
        records to one file at once) is refused as a file changed meanwhile, to try again."""
        await self._add_unique(row, Refusal.FILE_CHANGED)

    # --- assessments -------------------------------------------------------------------------------

    async def add_assessment(
        self,
        *,
        household_id: int,
        form_version: str,
        answers: Mapping[str, Any],
        risk: str,
        needs: Mapping[str, str],
        now: datetime,
        recorded_by_id: int | None = None,
        ticket_id: int | None = None,
    ) -> Assessment:
        row = AssessmentRow(
            household_id=household_id,
            version=await self._next_number(AssessmentRow.version, household_id),
            form_version=form_version,
            answers=dict(answers),
            risk=risk,
            needs=dict(needs),
            recorded_by_id=recorded_by_id,
            ticket_id=ticket_id,
            recorded_at=now,
            erased=False,
        )
        await self._add_numbered(row)
        return _assessment(row)

    async def assessments(self, household_id: int) -> list[Assessment]:
        """Every version, the first first."""
        rows = await self._session.scalars(
            select(AssessmentRow)
            .where(AssessmentRow.household_id == household_id)
            .order_by(AssessmentRow.version)
        )
        return [_assessment(row) for row in rows]

    # --- the plan ---------------------------------------------------------------------------------

    async def add_goal(
        self,
        *,
        household_id: int,
        service_type: ServiceType,
        title: str,
        owner: GoalOwner,
        now: datetime,
        ticket_id: int | None = None,
        owner_person_id: int | None = None,
        owner_organisation_id: int | None = None,
        due_on: date | None = None,
        created_by_id: int | None = None,
    ) -> Goal:
        row = GoalRow(
            household_id=household_id,
            ticket_id=ticket_id,
            number=await self._next_number(GoalRow.number, household_id),
            service_type=service_type,
            title=title,
            owner=owner,
            owner_person_id=owner_person_id,
            owner_organisation_id=owner_organisation_id,
            due_on=due_on,
            status=GoalStatus.PLANNED,
            created_by_id=created_by_id,
            created_at=now,
            updated_at=now,
        )
        await self._add_numbered(row)
        return _goal(row)

    async def goal(self, goal_id: int) -> Goal | None:
        row = await self._session.get(GoalRow, goal_id)
        return _goal(row) if row else None

    async def goals(self, household_id: int) -> list[Goal]:
        rows = await self._session.scalars(
            select(GoalRow).where(GoalRow.household_id == household_id).order_by(GoalRow.number)
        )
        return [_goal(row) for row in rows]

    async def tasks_of(self, person_id: int) -> list[Goal]:
        """The open goals given to a volunteer as tasks, the soonest due first."""
        rows = await self._session.scalars(
            select(GoalRow)
            .where(
                GoalRow.owner == GoalOwner.VOLUNTEER,
                GoalRow.owner_person_id == person_id,
                GoalRow.status.in_(list(OPEN_GOALS)),
            )
            .order_by(GoalRow.due_on, GoalRow.id)
        )
        return [_goal(row) for row in rows]

    async def set_goal_status(
        self,
        goal_id: int,
        *,
        status: GoalStatus,
        now: datetime,
        expected: Iterable[GoalStatus],
        drop_reason: str | None = None,
    ) -> Goal | None:
        """Move the goal to ``status`` if it is still in one of ``expected``; None when it was not."""
        result = await self._session.execute(
            update(GoalRow)
            .where(GoalRow.id == goal_id, GoalRow.status.in_(list(expected)))
            .values(status=status, drop_reason=drop_reason, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        row = await self._session.get(GoalRow, goal_id, populate_existing=True)
        return _goal(row) if row else None

    # --- reviews ----------------------------------------------------------------------------------

    async def add_review(
        self,
        *,
        household_id: int,
        progress: Mapping[int, Progress],
        now: datetime,
        ticket_id: int | None = None,
        reviewed_by_id: int | None = None,
        next_review_on: date | None = None,
        note: str | None = None,
    ) -> Review:
        row = ReviewRow(
            household_id=household_id,
            ticket_id=ticket_id,
            reviewed_by_id=reviewed_by_id,
            reviewed_at=now,
            next_review_on=next_review_on,
            note=note,
        )
        self._session.add(row)
        await self._session.flush()
        self._session.add_all(
            GoalProgressRow(review_id=row.id, goal_id=goal_id, progress=value)
            for goal_id, value in progress.items()
        )
        await self._session.flush()
        return from_row(Review, row, progress=dict(progress))

    async def reviews(self, household_id: int) -> list[Review]:
        """Every review, the first first."""
        rows = list(
            await self._session.scalars(
                select(ReviewRow).where(ReviewRow.household_id == household_id).order_by(ReviewRow.id)
            )
        )
        progress: dict[int, dict[int, Progress]] = {row.id: {} for row in rows}
        if rows:
            for entry in await self._session.scalars(
                select(GoalProgressRow).where(GoalProgressRow.review_id.in_(list(progress)))
            ):
                progress[entry.review_id][entry.goal_id] = Progress(entry.progress)
        return [from_row(Review, row, progress=progress[row.id]) for row in rows]

    # --- erasure ----------------------------------------------------------------------------------

    async def erase_answers(self, household_ids: Sequence[int]) -> int:
        """The assessments of these households lose their answers; the risk rating and the needs per
        service type stay, for the service's figures. How many assessments."""
        if not household_ids:
            return 0
        result = await self._session.execute(
            update(AssessmentRow)
            .where(AssessmentRow.household_id.in_(list(household_ids)), AssessmentRow.erased.is_(False))
            .values(answers={}, erased=True)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def scrub_texts(self, household_ids: Sequence[int], scrub: Scrub) -> int:
        """What staff wrote in these files (goals, reasons, review notes) passed through ``scrub``."""
        if not household_ids:
            return 0
        ids = list(household_ids)
        changed = 0
        for goal in await self._session.scalars(select(GoalRow).where(GoalRow.household_id.in_(ids))):
            changed += scrub_column(goal, "title", scrub) + scrub_column(goal, "drop_reason", scrub)
        for review in await self._session.scalars(
            select(ReviewRow).where(ReviewRow.household_id.in_(ids), ReviewRow.note.is_not(None))
        ):
            changed += scrub_column(review, "note", scrub)
        await self._session.flush()
        return changed
