"""Tickets, their trail, referrals and ratings."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Select,
    func,
    or_,
    select,
    update,
)

from casework.domain import (
    OPEN_STATUSES,
    Criterion,
    Feedback,
    Met,
    Referral,
    ReferralStatus,
    Refusal,
    ServiceType,
    SupervisionReview,
    Ticket,
    TicketAction,
    TicketEvent,
    TicketStatus,
    Urgency,
)
from storage.models import (
    FeedbackRow,
    NeedReportRow,
    ReferralRow,
    SupervisionRow,
    TicketEventRow,
    TicketRow,
    TicketSequenceRow,
)
from storage.repositories.base import TICKET_REFERENCE_PREFIX, Repository, from_row
from storage.repositories.scrub import Scrub, scrub_column

# The two finishing moves keep their time on the ticket, where deadlines and digests read it; every
# other move's time is on the trail (``ticket_events``).
_TICKET_TIMESTAMP_FOR_STATUS: dict[TicketStatus, str] = {
    TicketStatus.RESOLVED: "resolved_at",
    TicketStatus.CLOSED: "closed_at",
}


def _ticket(row: TicketRow) -> Ticket:
    return from_row(Ticket, row)


# A ticket's columns in the order of ``Ticket``'s fields: a row of them makes the record as it is.
_TICKET_FIELDS = tuple(TicketRow.__table__.c[field.name] for field in dataclasses.fields(Ticket))


def _found(
    query: Select[Any],
    *,
    statuses: Iterable[TicketStatus] | None = None,
    area_ids: Iterable[int] | None = None,
    service_types: Iterable[ServiceType] | None = None,
    urgencies: Iterable[Urgency] | None = None,
    reporter_id: int | None = None,
    assignee_id: int | None = None,
    household_id: int | None = None,
) -> Select[Any]:
    """``query`` over the tickets narrowed as asked, oldest first."""
    query = query.order_by(TicketRow.created_at, TicketRow.id)
    if household_id is not None:
        query = query.where(TicketRow.household_id == household_id)
    if statuses is not None:
        query = query.where(TicketRow.status.in_(list(statuses)))
    if urgencies is not None:
        query = query.where(TicketRow.urgency.in_(list(urgencies)))
    if area_ids is not None:
        query = query.where(TicketRow.area_id.in_(list(area_ids)))
    if service_types is not None:
        query = query.where(TicketRow.service_type.in_(list(service_types)))
    if reporter_id is not None:
        # Tickets the person opened, and tickets a report of theirs joined.
        joined = select(NeedReportRow.ticket_id).where(
            NeedReportRow.reporter_id == reporter_id, NeedReportRow.ticket_id.is_not(None)
        )
        query = query.where(or_(TicketRow.reporter_id == reporter_id, TicketRow.id.in_(joined)))
    if assignee_id is not None:
        query = query.where(TicketRow.assignee_id == assignee_id)
    return query


# What a ticket holds a list of, each in a row that names the ticket.
_OnTicket = TypeVar("_OnTicket", TicketEventRow, ReferralRow, FeedbackRow, SupervisionRow)


def _on_ticket(model: type[_OnTicket], ticket_id: int) -> Select[_OnTicket]:
    """The ticket's rows of ``model``, oldest first."""
    return select(model).where(model.ticket_id == ticket_id).order_by(model.id)


def _event(row: TicketEventRow) -> TicketEvent:
    return from_row(TicketEvent, row, action=TicketAction(row.action))


def _referral(row: ReferralRow) -> Referral:
    return from_row(Referral, row)


def _feedback(row: FeedbackRow) -> Feedback:
    return from_row(Feedback, row)


def supervision_review(row: SupervisionRow) -> SupervisionReview:
    return from_row(
        SupervisionReview, row, scores={Criterion(name): Met(value) for name, value in row.scores.items()}
    )


class TicketRepository(Repository):
    async def next_reference(self, day: date) -> str:
        """Allocate the next readable reference of the day, e.g. ``SA-20261129-0042``.

        The counter row is locked by the update until the transaction ends, so two concurrent
        openings never get the same number.
        """
        await self._insert_ignoring_conflict(TicketSequenceRow.__table__, {"day": day, "last_value": 0})  # type: ignore[arg-type]
        value = await self._session.scalar(
            update(TicketSequenceRow)
            .where(TicketSequenceRow.day == day)
            .values(last_value=TicketSequenceRow.last_value + 1)
            .returning(TicketSequenceRow.last_value)
        )
        return f"{TICKET_REFERENCE_PREFIX}-{day:%Y%m%d}-{value:04d}"

    async def add(
        self,
        *,
        reference: str,
        service_type: ServiceType,
        urgency: Urgency,
        area_id: int,
        now: datetime,
        summary: str = "",
        household_id: int | None = None,
        reporter_id: int | None = None,
        claim_deadline: datetime | None = None,
        resolve_deadline: datetime | None = None,
    ) -> Ticket:
        row = TicketRow(
            reference=reference,
            service_type=service_type,
            urgency=urgency,
            status=TicketStatus.NEW,
            area_id=area_id,
            household_id=household_id,
            reporter_id=reporter_id,
            summary=summary,
            claim_deadline=claim_deadline,
            resolve_deadline=resolve_deadline,
            created_at=now,
            updated_at=now,
        )
        return await self._added(row, _ticket)

    async def reply_to(self, ticket_id: int) -> int | None:
        """Whom the bot writes to about an anonymous case whose reporter asked to be answered."""
        return await self._session.scalar(select(TicketRow.reply_to_id).where(TicketRow.id == ticket_id))

    async def set_reply_to(self, ticket_id: int, person_id: int) -> None:
        await self._session.execute(
            update(TicketRow).where(TicketRow.id == ticket_id).values(reply_to_id=person_id)
        )

    async def forget_reply_to(self, person_id: int) -> list[int]:
        """Erasure: the anonymous cases that were to be answered to the person no longer are; which."""
        answered = TicketRow.reply_to_id == person_id
        tickets = list(await self._session.scalars(select(TicketRow.id).where(answered)))
        await self._session.execute(update(TicketRow).where(answered).values(reply_to_id=None))
        return tickets

    async def get(self, ticket_id: int) -> Ticket | None:
        row = await self._session.get(TicketRow, ticket_id, populate_existing=True)
        return _ticket(row) if row else None

    async def by_reference(self, reference: str) -> Ticket | None:
        row = await self._session.scalar(
            select(TicketRow).where(TicketRow.reference == reference.strip().upper())
        )
        return _ticket(row) if row else None

    async def find(
        self,
        *,
        statuses: Iterable[TicketStatus] | None = None,
        area_ids: Iterable[int] | None = None,
        service_types: Iterable[ServiceType] | None = None,
        urgencies: Iterable[Urgency] | None = None,
        reporter_id: int | None = None,
        assignee_id: int | None = None,
        household_id: int | None = None,
        limit: int = 200,
    ) -> list[Ticket]:
        query = _found(
            select(TicketRow),
            statuses=statuses,
            area_ids=area_ids,
            service_types=service_types,
            urgencies=urgencies,
            reporter_id=reporter_id,
            assignee_id=assignee_id,
            household_id=household_id,
        )
        return [_ticket(row) for row in await self._session.scalars(query.limit(limit))]

    async def listing(
        self,
        *,
        statuses: Iterable[TicketStatus] | None = None,
        area_ids: Iterable[int] | None = None,
        service_types: Iterable[ServiceType] | None = None,
        assignee_id: int | None = None,
        limit: int = 1000,
    ) -> list[Ticket]:
        """What ``find`` finds, read as rows rather than loaded as objects of the session: for reading
        a queue, where hundreds of tickets are listed and none of them is changed (loading each into
        the session costs several times what reading it does)."""
        query = _found(
            select(*_TICKET_FIELDS),
            statuses=statuses,
            area_ids=area_ids,
            service_types=service_types,
            assignee_id=assignee_id,
        )
        return [Ticket(*row) for row in await self._core.execute(query.limit(limit))]

    async def open_counts_by_assignee(
        self, assignee_ids: Iterable[int], statuses: Iterable[TicketStatus]
    ) -> dict[int, int]:
        ids = list(assignee_ids)
        if not ids:
            return {}
        rows = await self._session.execute(
            select(TicketRow.assignee_id, func.count())
            .where(TicketRow.assignee_id.in_(ids), TicketRow.status.in_(list(statuses)))
            .group_by(TicketRow.assignee_id)
        )
        return {int(assignee): int(count) for assignee, count in rows.all() if assignee is not None}

    async def unclaimed_past(self, now: datetime) -> list[Ticket]:
        """Open tickets nobody holds whose claim deadline has passed, oldest deadline first."""
        rows = await self._session.scalars(
            select(TicketRow)
            .where(
                TicketRow.status.in_([TicketStatus.NEW, TicketStatus.REOPENED]),
                TicketRow.assignee_id.is_(None),
                TicketRow.organisation_id.is_(None),
                TicketRow.claim_deadline.is_not(None),
                TicketRow.claim_deadline <= now,
            )
            .order_by(TicketRow.claim_deadline, TicketRow.id)
        )
        return [_ticket(row) for row in rows]

    async def raise_escalation(self, ticket_id: int, *, to_level: int, now: datetime) -> bool:
        """Record that the ticket was escalated to ``to_level``; False when it already was."""
        result = await self._session.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket_id, TicketRow.escalation_level < to_level)
            .values(escalation_level=to_level, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def update_fields(self, ticket_id: int, *, now: datetime, **fields: Any) -> Ticket | None:
        """Change fields that are not a status transition (visit, home-visit need, summary, the area a
        person in a crisis said they are in)."""
        allowed = {"visited_at", "needs_home_visit", "summary", "household_id", "escalation_level", "area_id"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot set {sorted(unknown)} directly")
        await self._session.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket_id)
            .values(updated_at=now, **fields)
            .execution_options(synchronize_session=False)
        )
        return await self.get(ticket_id)

    async def open_for_household(self, household_id: int, since: datetime) -> list[Ticket]:
        rows = await self._session.scalars(
            select(TicketRow)
            .where(
                TicketRow.household_id == household_id,
                TicketRow.status.in_(list(OPEN_STATUSES)),
                TicketRow.created_at >= since,
            )
            .order_by(TicketRow.id)
        )
        return [_ticket(row) for row in rows]

    async def transition(
        self,
        ticket_id: int,
        *,
        to_status: TicketStatus,
        now: datetime,
        expected: Iterable[TicketStatus] | None = None,
        require_unassigned: bool = False,
        **fields: Any,
    ) -> Ticket | None:
        """Move the ticket to ``to_status`` atomically, only if it is still in one of ``expected``.

        Returns the updated ticket, or None when the condition no longer held (someone else acted
        first). Resolving and closing also set ``resolved_at``/``closed_at``.
        """
        allowed = {
            "assignee_id",
            "organisation_id",
            "outcome",
            "claim_deadline",
            "resolve_deadline",
            "urgency",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot set {sorted(unknown)} through a transition")
        values: dict[str, Any] = {"status": to_status, "updated_at": now, **fields}
        stamp = _TICKET_TIMESTAMP_FOR_STATUS.get(to_status)
        if stamp:
            values[stamp] = now
        statement = update(TicketRow).where(TicketRow.id == ticket_id)
        if expected is not None:
            statement = statement.where(TicketRow.status.in_(list(expected)))
        if require_unassigned:
            statement = statement.where(TicketRow.assignee_id.is_(None))
        result = await self._session.execute(
            statement.values(**values).execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.get(ticket_id)

    async def add_event(
        self,
        *,
        ticket_id: int,
        action: TicketAction,
        now: datetime,
        actor_id: int | None = None,
        from_status: TicketStatus | None = None,
        to_status: TicketStatus | None = None,
        note: str | None = None,
    ) -> TicketEvent:
        row = TicketEventRow(
            ticket_id=ticket_id,
            actor_id=actor_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
            created_at=now,
        )
        return await self._added(row, _event)

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        rows = await self._session.scalars(_on_ticket(TicketEventRow, ticket_id))
        return [_event(row) for row in rows]

    async def activity(
        self,
        *,
        actor_id: int | None,
        action: TicketAction | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[TicketEvent]:
        """What was done to tickets, by whom and when, newest first (people's actions only)."""
        query = (
            select(TicketEventRow)
            .where(TicketEventRow.actor_id.is_not(None))
            .order_by(TicketEventRow.created_at.desc(), TicketEventRow.id.desc())
            .limit(limit)
        )
        if actor_id is not None:
            query = query.where(TicketEventRow.actor_id == actor_id)
        if action is not None:
            query = query.where(TicketEventRow.action == action)
        if since is not None:
            query = query.where(TicketEventRow.created_at >= since)
        if until is not None:
            query = query.where(TicketEventRow.created_at < until)
        return [_event(row) for row in await self._session.scalars(query)]

    async def open_in_area(self, area_id: int, since: datetime) -> list[Ticket]:
        rows = await self._session.scalars(
            select(TicketRow)
            .where(
                TicketRow.area_id == area_id,
                TicketRow.status.in_(list(OPEN_STATUSES)),
                TicketRow.created_at >= since,
                TicketRow.household_id.is_not(None),
            )
            .order_by(TicketRow.id)
        )
        return [_ticket(row) for row in rows]

    async def add_referral(
        self,
        *,
        ticket_id: int,
        now: datetime,
        from_person_id: int | None = None,
        to_person_id: int | None = None,
        to_organisation_id: int | None = None,
        reason: str | None = None,
        goal_id: int | None = None,
    ) -> Referral:
        if to_person_id is None and to_organisation_id is None:
            raise ValueError("a referral goes to a person or an organisation")
        row = ReferralRow(
            ticket_id=ticket_id,
            from_person_id=from_person_id,
            to_person_id=to_person_id,
            to_organisation_id=to_organisation_id,
            status=ReferralStatus.PENDING,
            reason=reason,
            created_at=now,
            goal_id=goal_id,
        )
        return await self._added(row, _referral)

    async def get_referral(self, referral_id: int) -> Referral | None:
        row = await self._session.get(ReferralRow, referral_id, populate_existing=True)
        return _referral(row) if row else None

    async def set_referral_status(
        self,
        referral_id: int,
        *,
        to_status: ReferralStatus,
        now: datetime,
        expected: Iterable[ReferralStatus],
        reason: str | None = None,
        outcome: str | None = None,
    ) -> Referral | None:
        values: dict[str, Any] = {"status": to_status}
        if to_status in (ReferralStatus.ACCEPTED, ReferralStatus.DECLINED, ReferralStatus.WITHDRAWN):
            values["responded_at"] = now
        if to_status is ReferralStatus.COMPLETED:
            values["completed_at"] = now
        if reason is not None:
            values["reason"] = reason
        if outcome is not None:
            values["outcome"] = outcome
        result = await self._session.execute(
            update(ReferralRow)
            .where(ReferralRow.id == referral_id, ReferralRow.status.in_(list(expected)))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.get_referral(referral_id)

    async def pending_referral(self, ticket_id: int) -> Referral | None:
        row = await self._session.scalar(
            select(ReferralRow)
            .where(
                ReferralRow.ticket_id == ticket_id,
                ReferralRow.status.in_([ReferralStatus.PENDING, ReferralStatus.ACCEPTED]),
            )
            .order_by(ReferralRow.id.desc())
            .limit(1)
        )
        return _referral(row) if row else None

    async def referrals(self, ticket_id: int) -> list[Referral]:
        rows = await self._session.scalars(_on_ticket(ReferralRow, ticket_id))
        return [_referral(row) for row in rows]

    async def add_feedback(
        self,
        *,
        ticket_id: int,
        rating: int,
        now: datetime,
        person_id: int | None = None,
        comment: str | None = None,
    ) -> Feedback:
        if not 1 <= rating <= 5:
            raise ValueError("a rating is a whole number from 1 to 5")
        row = FeedbackRow(
            ticket_id=ticket_id, person_id=person_id, rating=rating, comment=comment, created_at=now
        )
        await self._add_unique(row, Refusal.RATE_TWICE)
        return _feedback(row)

    async def redact_feedback_by(self, person_id: int) -> int:
        """Blank the comments the person left with their ratings (the ratings stay, for the statistics)."""
        result = await self._session.execute(
            update(FeedbackRow).where(FeedbackRow.person_id == person_id).values(comment=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def set_feedback_comment(self, *, ticket_id: int, person_id: int, comment: str) -> Feedback | None:
        row = await self._session.scalar(
            select(FeedbackRow).where(FeedbackRow.ticket_id == ticket_id, FeedbackRow.person_id == person_id)
        )
        if row is None:
            return None
        row.comment = comment
        await self._session.flush()
        return _feedback(row)

    async def feedback(self, ticket_id: int) -> list[Feedback]:
        rows = await self._session.scalars(_on_ticket(FeedbackRow, ticket_id))
        return [_feedback(row) for row in rows]

    async def add_supervision(
        self,
        *,
        ticket_id: int,
        supervisor_id: int,
        scores: Mapping[Criterion, Met],
        comment: str | None,
        now: datetime,
    ) -> SupervisionReview:
        row = SupervisionRow(
            ticket_id=ticket_id,
            supervisor_id=supervisor_id,
            scores={criterion.value: int(met) for criterion, met in scores.items()},
            comment=comment,
            created_at=now,
        )
        return await self._added(row, supervision_review)

    async def supervision(self, ticket_id: int) -> list[SupervisionReview]:
        """The supervisors' reviews of the case, the first first."""
        rows = await self._session.scalars(_on_ticket(SupervisionRow, ticket_id))
        return [supervision_review(row) for row in rows]

    async def linked_to_person(self, person_id: int) -> list[int]:
        """Erasure: the tickets that concern the person: reported by them, holding a report of theirs,
        held by them, or with something they did on the trail."""
        found: set[int] = set()
        for query in (
            select(TicketRow.id).where(
                or_(TicketRow.reporter_id == person_id, TicketRow.assignee_id == person_id)
            ),
            select(NeedReportRow.ticket_id).where(
                NeedReportRow.reporter_id == person_id, NeedReportRow.ticket_id.is_not(None)
            ),
            select(TicketEventRow.ticket_id).where(TicketEventRow.actor_id == person_id),
        ):
            found.update(
                ticket_id for ticket_id in await self._session.scalars(query) if ticket_id is not None
            )
        return sorted(found)

    async def forget_replies(self, ticket_ids: Sequence[int], *, erased: str) -> int:
        """Erasure: the person's own words in the conversation of these tickets (what they wrote back)
        replaced by ``erased``; how many."""
        if not ticket_ids:
            return 0
        result = await self._session.execute(
            update(TicketEventRow)
            .where(
                TicketEventRow.ticket_id.in_(list(ticket_ids)),
                TicketEventRow.action == TicketAction.MESSAGE_RECEIVED,
            )
            .values(note=erased)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def scrub_texts(self, ticket_ids: Sequence[int], scrub: Scrub) -> int:
        """Erasure: what staff wrote on these tickets (trail notes, outcomes, referral reasons and
        outcomes) passed through ``scrub``, which keeps the text but what identifies the person; how
        many texts changed."""
        if not ticket_ids:
            return 0
        ids = list(ticket_ids)
        changed = 0
        for event in await self._session.scalars(
            select(TicketEventRow).where(TicketEventRow.ticket_id.in_(ids), TicketEventRow.note.is_not(None))
        ):
            changed += scrub_column(event, "note", scrub)
        for ticket in await self._session.scalars(
            select(TicketRow).where(TicketRow.id.in_(ids), TicketRow.outcome.is_not(None))
        ):
            changed += scrub_column(ticket, "outcome", scrub)
        for referral in await self._session.scalars(
            select(ReferralRow).where(ReferralRow.ticket_id.in_(ids))
        ):
            changed += scrub_column(referral, "reason", scrub) + scrub_column(referral, "outcome", scrub)
        await self._session.flush()
        return changed
