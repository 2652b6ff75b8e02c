"""What the service's evaluation reads: the cases opened in a period, each with its whole trail,
referrals, ratings and reports, and the case files of their households; in a few queries whatever the
number of cases (each of its parts selected by the same filter, not by a list of ids)."""

from __future__ import annotations

import dataclasses
import itertools
import operator
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select

from casework.domain import (
    Assessment,
    ConsentPurpose,
    Feedback,
    Goal,
    NeedReport,
    Referral,
    SupervisionReview,
    Ticket,
    TicketAction,
)
from casework.indicators import COUNTED, CaseHistory, Mark
from storage.models import (
    AssessmentRow,
    ConsentRow,
    FeedbackRow,
    GoalRow,
    NeedReportRow,
    ReferralRow,
    SupervisionRow,
    TicketEventRow,
    TicketRow,
)
from storage.repositories.base import D, Repository, from_row
from storage.repositories.tickets import supervision_review

ACTIONS = {action.value: action for action in TicketAction}  # faster than TicketAction(value) a row


class EvaluationRepository(Repository):
    async def cases(
        self,
        *,
        opened_from: datetime,
        opened_until: datetime,
        area_ids: Iterable[int] | None = None,
    ) -> list[CaseHistory]:
        """Every case opened in [``opened_from``, ``opened_until``) in the areas given (all when None),
        with its trail, referrals, ratings and reports, oldest first. Read as plain rows, without the
        ORM's bookkeeping: a year of a district is hundreds of thousands of them."""
        chosen = _chosen(TicketRow.id, opened_from, opened_until, area_ids)
        tickets = await self._records(
            Ticket, TicketRow, TicketRow.id.in_(chosen), TicketRow.created_at, TicketRow.id
        )
        events = await self._trails(chosen)
        referrals = await self._of_cases(Referral, ReferralRow, chosen)
        feedback = await self._of_cases(Feedback, FeedbackRow, chosen)
        reports = await self._of_cases(NeedReport, NeedReportRow, chosen)
        supervision: defaultdict[int, list[SupervisionReview]] = defaultdict(list)
        for row in await self._session.scalars(
            select(SupervisionRow).where(SupervisionRow.ticket_id.in_(chosen)).order_by(SupervisionRow.id)
        ):
            supervision[row.ticket_id].append(supervision_review(row))
        reporters = _chosen(TicketRow.reporter_id, opened_from, opened_until, area_ids)
        keeping = set(
            (
                await self._core.execute(
                    select(ConsentRow.person_id).where(
                        ConsentRow.person_id.in_(reporters),
                        ConsentRow.purpose == ConsentPurpose.STORE_REPORT,
                        ConsentRow.withdrawn_at.is_(None),
                    )
                )
            ).scalars()
        )
        return [
            CaseHistory(
                ticket=ticket,
                events=events.get(ticket.id, ()),
                referrals=tuple(referrals[ticket.id]),
                feedback=tuple(feedback[ticket.id]),
                reports=tuple(reports[ticket.id]),
                supervision=tuple(supervision[ticket.id]),
                words_kept=ticket.reporter_id in keeping,
            )
            for ticket in tickets
        ]

    async def _trails(self, chosen: Select[Any]) -> dict[int, tuple[Mark, ...]]:
        """The chosen cases' trails, of the events some figure counts, in order, by case."""
        t = TicketEventRow.__table__.c
        result = await self._core.execute(
            select(t.ticket_id, t.action, t.created_at, t.note)
            .where(t.ticket_id.in_(chosen), t.action.in_([action.value for action in COUNTED]))
            .order_by(t.ticket_id, t.id)
        )
        return {
            ticket_id: tuple(Mark(ACTIONS[action], at, note) for _, action, at, note in rows)
            for ticket_id, rows in itertools.groupby(result.all(), key=operator.itemgetter(0))
        }

    async def _of_cases(self, kind: type[D], model: Any, chosen: Select[Any]) -> defaultdict[int, list[D]]:
        """What ``model``'s table holds of the chosen cases, as ``kind``, by case, in order."""
        found: defaultdict[int, list[D]] = defaultdict(list)
        for record in await self._records(kind, model, model.ticket_id.in_(chosen), model.id):
            found[record.ticket_id].append(record)  # type: ignore[attr-defined]
        return found

    async def _records(self, kind: type[D], model: Any, where: Any, *order: Any) -> list[D]:
        """The rows of ``model``'s table that ``where`` picks, in ``order``, as ``kind`` (a domain
        dataclass whose every field is a column of the same name), made straight from the row."""
        table = model.__table__
        columns = [table.c[field.name] for field in dataclasses.fields(kind)]
        result = await self._core.execute(select(*columns).where(where).order_by(*order))
        return [kind(*row) for row in result.all()]

    async def files(
        self,
        *,
        opened_from: datetime,
        opened_until: datetime,
        area_ids: Iterable[int] | None = None,
    ) -> tuple[list[Assessment], list[Goal]]:
        """The assessments and plan goals of the households of the same cases (``cases``)."""
        ids = _chosen(TicketRow.household_id, opened_from, opened_until, area_ids)
        assessments = [
            from_row(Assessment, row, answers={}, needs=dict(row.needs))
            for row in await self._session.scalars(
                select(AssessmentRow)
                .where(AssessmentRow.household_id.in_(ids))
                .order_by(AssessmentRow.household_id, AssessmentRow.version)
            )
        ]
        goals = [
            from_row(Goal, row)
            for row in await self._session.scalars(
                select(GoalRow).where(GoalRow.household_id.in_(ids)).order_by(GoalRow.id)
            )
        ]
        return assessments, goals


# The people who withdrew their consent to be counted in statistics (and did not give it again): the
# evaluation leaves their cases out.
_LEFT_OUT = (
    select(ConsentRow.person_id)
    .where(ConsentRow.purpose == ConsentPurpose.STATISTICS, ConsentRow.withdrawn_at.is_not(None))
    .except_(
        select(ConsentRow.person_id).where(
            ConsentRow.purpose == ConsentPurpose.STATISTICS, ConsentRow.withdrawn_at.is_(None)
        )
    )
)


def _chosen(
    column: Any, opened_from: datetime, opened_until: datetime, area_ids: Iterable[int] | None
) -> Select[Any]:
    """``column`` of the cases opened in the period in the areas given, but those of people who
    withdrew their consent to statistics: a subquery, not a list."""
    chosen = select(column).where(
        TicketRow.created_at >= opened_from,
        TicketRow.created_at < opened_until,
        or_(TicketRow.reporter_id.is_(None), TicketRow.reporter_id.not_in(_LEFT_OUT)),
    )
    if area_ids is not None:
        chosen = chosen.where(TicketRow.area_id.in_(list(area_ids)))
    return chosen
