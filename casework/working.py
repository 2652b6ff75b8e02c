"""Working a case, as the worker who has it does: "I'm on it" on a crisis and where it is, claiming
(or a supervisor assigning), notes, the home visit, resolving, closing, reopening; and the rating the
household gives the service once it is done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from casework.access import Forbidden, Operation
from casework.core import Operations, covered_areas, is_crisis_alert, person_name, reached_so_far
from casework.domain import (
    OPEN_STATUSES,
    AlertKind,
    Conflict,
    ConsentPurpose,
    Feedback,
    InvalidInput,
    NotFound,
    Person,
    Refusal,
    Role,
    Ticket,
    TicketAction,
    TicketStatus,
    Urgency,
    given_words,
)
from casework.lifecycle import LIFECYCLE, WORK_BEGINS, Step, allows, starts_from
from casework.referral import Target
from casework.routing import CrisisReach
from casework.unit_of_work import Transaction


class AlreadyClaimed(Conflict):
    """Someone else has the ticket: ``holder`` names them (this refusal must), None when unknown."""

    def __init__(self, holder: str | None) -> None:
        if holder is None:
            super().__init__(Refusal.CLAIM_TAKEN_BY_SOMEONE)
        else:
            super().__init__(Refusal.CLAIM_TAKEN, holder=holder)
        self.holder = holder


@dataclass(frozen=True, slots=True)
class Acknowledged:
    ticket: Ticket
    by: str  # who acknowledged first: the actor, or whoever was before them
    first: bool


class Working(Operations):
    """The steps of working a case, each one transaction checked against who takes it."""

    # --- a crisis: on it, and where it is ------------------------------------------------------------

    async def acknowledge(self, actor: Person, ticket_id: int) -> Acknowledged:
        """ "I'm on it" on a crisis alert: the ladder stops climbing, the others alerted hear who has
        it, and the reporter that a person has seen it. A second press names whoever was first."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.ACKNOWLEDGE, ticket_id)
            earlier = next(
                (
                    event
                    for event in await tx.tickets.events(ticket.id)
                    if event.action is TicketAction.ACKNOWLEDGED
                ),
                None,
            )
            if earlier is not None:
                holder = await tx.people.get(earlier.actor_id) if earlier.actor_id else None
                return Acknowledged(ticket=ticket, by=person_name(holder), first=False)
            if not ticket.is_open:
                raise Conflict(Refusal.TICKET_NOT_OPEN, reference=ticket.reference, status=ticket.status)
            await tx.tickets.add_event(
                ticket_id=ticket.id, action=TicketAction.ACKNOWLEDGED, actor_id=actor.id, now=now
            )
            alerted = {
                alert.recipient_person_id
                for alert in await tx.outbox.for_ticket(ticket.id)
                if is_crisis_alert(alert) and alert.recipient_person_id not in (None, actor.id)
            }
            extra = {"by": person_name(actor)}
            await self.core.tell(tx, ticket, AlertKind.CRISIS_ACKNOWLEDGED, sorted(alerted), extra=extra)
            await self.core.tell(tx, ticket, AlertKind.CASE_ACKNOWLEDGED, [ticket.reporter_id])
        self.core.committed()
        return Acknowledged(ticket=ticket, by=person_name(actor), first=True)

    async def locate_crisis(self, actor: Person, ticket_id: int, area_id: int) -> CrisisReach:
        """The person in a crisis says where they are: their ticket moves to that area, and the staff
        there are alerted as its first step was (the ladder climbs on from there)."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket = await self.core.ticket(tx, ticket_id)
            if ticket.reporter_id != actor.id:
                raise Forbidden(Refusal.TICKET_NOT_YOURS)
            area = await tx.areas.get(area_id)
            if area is None:
                raise NotFound(Refusal.AREA_NOT_FOUND, area_id=area_id)
            if not ticket.is_open or ticket.area_id == area.id or ticket.assignee_id is not None:
                return reached_so_far(await tx.tickets.events(ticket.id))
            moved = await tx.tickets.update_fields(ticket.id, now=now, area_id=area.id)
            assert moved is not None
            await tx.tickets.add_event(
                ticket_id=ticket.id,
                action=TicketAction.AREA_GIVEN,
                actor_id=actor.id,
                note=area.name,
                now=now,
            )
            reach = await self.core.alert_crisis(tx, moved, 0, round_key=f"#area{area.id}")
            if reach is CrisisReach.NOBODY:
                reach = reached_so_far(await tx.tickets.events(ticket.id))
        self.core.committed()
        return reach

    # --- claiming and assigning -------------------------------------------------------------------

    async def claim(self, actor: Person, ticket_id: int) -> Ticket:
        """First claim wins; a later one raises ``AlreadyClaimed`` naming who has it."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.CLAIM, ticket_id)
            move = LIFECYCLE[Step.CLAIM]
            assert move.leaves is not None
            claimed = await tx.tickets.transition(
                ticket.id,
                to_status=move.leaves,
                now=now,
                expected=starts_from(Step.CLAIM, actor),
                require_unassigned=True,
                assignee_id=actor.id,
            )
            if claimed is None:
                current = await self.core.ticket(tx, ticket_id)
                if current.assignee_id == actor.id:
                    return current
                holder = await tx.people.get(current.assignee_id) if current.assignee_id else None
                raise AlreadyClaimed(person_name(holder) if holder else None)
            await tx.tickets.add_event(
                ticket_id=ticket.id,
                action=move.event,
                actor_id=actor.id,
                from_status=ticket.status,
                to_status=move.leaves,
                now=now,
            )
            await self._mark_taken(tx, claimed, actor)
            await self._tell_claimed(tx, claimed)
        self._visit_due_later(claimed, now)
        self.core.committed()
        return claimed

    async def assign(self, actor: Person, ticket_id: int, worker_id: int) -> Ticket:
        """A supervisor gives the ticket to a worker of its area (or moves it to another)."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, chain = await self.core.checked(tx, actor, Operation.ASSIGN, ticket_id)
            if actor.role not in (Role.SUPERVISOR, Role.ADMIN):
                raise Forbidden(Refusal.ASSIGN_SUPERVISOR_ONLY)
            worker = await tx.people.get(worker_id)
            if worker is None or worker.role is not Role.SOCIAL_WORKER or not worker.active:
                raise InvalidInput(Refusal.ASSIGN_ACTIVE_SOCIAL_WORKERS)
            if not worker.area_ids & set(chain):
                raise InvalidInput(Refusal.ASSIGN_WORKER_OUTSIDE_AREA, reference=ticket.reference)
            if not ticket.is_open:
                raise Conflict(Refusal.TICKET_NOT_OPEN, reference=ticket.reference, status=ticket.status)
            assigned = await self.core.take_step(
                tx,
                Step.ASSIGN,
                ticket,
                actor,
                action=TicketAction.REASSIGNED if ticket.assignee_id else None,
                refusal=Refusal.TICKET_CHANGED,
                note=f"to #{worker.id}",
                assignee_id=worker.id,
            )
            await self.core.tell(
                tx, assigned, AlertKind.TICKET_ASSIGNED, [worker], round_key=f"#{now.isoformat()}"
            )
            await self._mark_taken(tx, assigned, worker)
            if ticket.assignee_id is None:
                await self._tell_claimed(tx, assigned)
        self._visit_due_later(assigned, now)
        self.core.committed()
        return assigned

    async def assignable_workers(self, actor: Person, ticket_id: int, *, limit: int = 12) -> list[Target]:
        """The active social workers of the ticket's area: those offering its service first, least loaded."""
        async with self.database.transaction() as tx:
            ticket, chain = await self.core.checked(tx, actor, Operation.ASSIGN, ticket_id)
            workers = await tx.people.find(role=Role.SOCIAL_WORKER, area_ids=chain)
            loads = await tx.tickets.open_counts_by_assignee([w.id for w in workers], OPEN_STATUSES)
        ranked = sorted(
            workers, key=lambda w: (ticket.service_type not in w.service_types, loads.get(w.id, 0), w.id)
        )
        return [
            Target("person", w.id, person_name(w), loads.get(w.id, 0))
            for w in ranked
            if w.id != ticket.assignee_id
        ][:limit]

    async def team(self, actor: Person) -> list[Target]:
        """The active social workers of a supervisor's areas (everywhere, for an admin), least loaded
        first: whom the supervisor may give tickets to (each assignment is still checked on its own)."""
        if actor.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise Forbidden(Refusal.ASSIGN_SUPERVISOR_ONLY)
        async with self.database.transaction() as tx:
            area_ids = await covered_areas(tx, actor)
            workers = await tx.people.find(role=Role.SOCIAL_WORKER, area_ids=area_ids)
            loads = await tx.tickets.open_counts_by_assignee([w.id for w in workers], OPEN_STATUSES)
        ranked = sorted(workers, key=lambda w: (loads.get(w.id, 0), w.id))
        return [Target("person", w.id, person_name(w), loads.get(w.id, 0)) for w in ranked]

    def _visit_due_later(self, ticket: Ticket, taken_at: datetime) -> None:
        """A ticket taken that needs a home visit it has not had is followed up when the visit is due."""
        if ticket.needs_home_visit and ticket.visited_at is None:
            self.core.later(
                self.core.follow_ups.home_visit_due, ticket.id, taken_at + self.policy.home_visit_after
            )

    async def _tell_claimed(self, tx: Transaction, ticket: Ticket) -> None:
        """The reporter hears a worker has the case; that the worker will contact them only when they
        agreed to be contacted."""
        if ticket.reporter_id is None:
            return
        contact = ConsentPurpose.CONTACT_ME in await tx.consents.active(ticket.reporter_id)
        await self.core.tell(
            tx, ticket, AlertKind.CASE_CLAIMED, [ticket.reporter_id], extra={"contact": contact}
        )

    async def _mark_taken(self, tx: Transaction, ticket: Ticket, holder: Person) -> None:
        """Edit the new-ticket alerts others received so they say who has it."""
        card = await self.core.card(tx, ticket)
        for alert in await tx.outbox.for_ticket(ticket.id, event=AlertKind.TICKET_OPENED):
            if alert.recipient_person_id == holder.id:
                continue
            recipient = (
                await tx.people.get(alert.recipient_person_id)
                if alert.recipient_person_id is not None
                else None
            )
            if alert.recipient_person_id is not None and recipient is None:
                continue
            await self.core.queue_alert(
                tx,
                AlertKind.TICKET_TAKEN,
                {**card, "edit_of": alert.id, "holder": person_name(holder)},
                ticket=ticket,
                person=recipient,
                chat_id=alert.recipient_chat_id,
                key_suffix=f"#{alert.id}",
            )

    # --- working the case: notes, the home visit, resolving, closing, reopening -------------------

    async def add_note(self, actor: Person, ticket_id: int, note: str) -> Ticket:
        note = given_words(note, Refusal.NOTE_NEEDS_WORDS)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.NOTE, ticket_id)
            if not allows(Step.NOTE, ticket, actor):
                raise Conflict(Refusal.NOTE_REOPEN_FIRST, reference=ticket.reference, status=ticket.status)
            ticket = await self._work_begins(tx, ticket)
            await tx.tickets.add_event(
                ticket_id=ticket.id,
                action=LIFECYCLE[Step.NOTE].event,
                actor_id=actor.id,
                note=note[:4000],
                now=now,
            )
        return ticket

    async def record_visit(self, actor: Person, ticket_id: int, note: str = "") -> Ticket:
        """The home visit (建档访视) took place."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.VISIT, ticket_id)
            if not allows(Step.VISIT, ticket, actor):
                raise Conflict(Refusal.TICKET_NOT_OPEN, reference=ticket.reference, status=ticket.status)
            visited = await tx.tickets.update_fields(ticket.id, now=now, visited_at=now)
            assert visited is not None
            updated = await self._work_begins(tx, visited)
            await tx.tickets.add_event(
                ticket_id=ticket.id,
                action=LIFECYCLE[Step.VISIT].event,
                actor_id=actor.id,
                note=note.strip() or None,
                now=now,
            )
            await self.core.tell(tx, updated, AlertKind.CASE_VISITED, [updated.reporter_id])
        self.core.later(self.core.follow_ups.cancel, ticket_id)
        self.core.committed()
        return updated

    async def resolve(self, actor: Person, ticket_id: int, outcome: str, *, tell_person: str = "") -> Ticket:
        """Resolve the case with its outcome for the record; the person hears it is resolved, with
        ``tell_person`` (the outcome in plain words the worker chose for them) when given, which the
        trail keeps as a message to them."""
        outcome = given_words(outcome, Refusal.OUTCOME_NEEDED)
        words = tell_person.strip()[:2000]
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.RESOLVE, ticket_id)
            resolved = await self.core.take_step(
                tx,
                Step.RESOLVE,
                ticket,
                actor,
                refusal=Refusal.RESOLVE_NOT_NOW,
                note=outcome[:4000],
                outcome=outcome[:4000],
            )
            if words:
                await tx.tickets.add_event(
                    ticket_id=ticket.id,
                    action=TicketAction.MESSAGE_SENT,
                    actor_id=actor.id,
                    note=words,
                    now=now,
                )
            await self.core.tell(
                tx,
                resolved,
                AlertKind.CASE_RESOLVED,
                [resolved.reporter_id],
                extra={"words": words} if words else None,
                round_key=f"#{now.isoformat()}",
            )
        self.core.committed()
        return resolved

    async def close(self, actor: Person, ticket_id: int, note: str = "") -> Ticket:
        """Close a resolved ticket; a supervisor may also close an open one (a duplicate, say)."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.CLOSE, ticket_id)
            if ticket.is_open and not allows(Step.CLOSE, ticket, actor):
                raise Conflict(Refusal.CLOSE_RESOLVE_FIRST, reference=ticket.reference)
            closed = await self.core.take_step(
                tx,
                Step.CLOSE,
                ticket,
                actor,
                refusal=Refusal.CLOSE_NOT_NOW,
                note=note.strip() or None,
            )
            await self.core.tell(
                tx, closed, AlertKind.CASE_CLOSED, [closed.reporter_id], round_key=f"#{now.isoformat()}"
            )
        self.core.later(self.core.follow_ups.cancel, ticket_id)
        if closed.reporter_id is not None:
            self.core.later(self.core.follow_ups.survey_due, closed.id, now + self.policy.survey_after)
        self.core.committed()
        return closed

    async def reopen(self, actor: Person, ticket_id: int, reason: str) -> Ticket:
        reason = given_words(reason, Refusal.REOPEN_NEEDS_REASON)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.REOPEN, ticket_id)
            _, resolve_by = self.policy.deadlines(ticket.urgency, ticket.service_type, now)
            reopened = await self.core.take_step(
                tx,
                Step.REOPEN,
                ticket,
                actor,
                refusal=Refusal.REOPEN_NOT_FINISHED,
                note=reason[:4000],
                resolve_deadline=resolve_by,
            )
            if reopened.assignee_id is None:
                await self.core.announce(tx, reopened, round_key=f"#{now.isoformat()}")
        self.core.committed()
        return reopened

    async def _work_begins(self, tx: Transaction, ticket: Ticket) -> Ticket:
        """A case just assigned moves on to "in progress" with the first work done on it."""
        begun = WORK_BEGINS.get(ticket.status)
        if begun is None:
            return ticket
        moved = await tx.tickets.transition(
            ticket.id, to_status=begun, now=self.clock.now(), expected={ticket.status}
        )
        return moved or ticket

    # --- the person erases their data ----------------------------------------------------------------

    async def settle_for_erasure(self, person: Person) -> frozenset[int]:
        """Before the person's data is erased: each open case of theirs is closed, its holder (or the
        area's supervisors) told why; a crisis stays open instead, keeping the words it needs to protect
        the person's life and health (PIPL Art. 13(4)), and its holder is told they can no longer reach
        them. Returns the tickets whose report words are kept. A volunteer's flags are the households'
        cases, not theirs: they stay as they are."""
        if person.role is not Role.RECIPIENT:
            return frozenset()
        now = self.clock.now()
        kept: set[int] = set()
        async with self.database.transaction() as tx:
            for ticket in await tx.tickets.find(reporter_id=person.id, statuses=OPEN_STATUSES):
                if ticket.urgency is Urgency.CRITICAL:
                    kept.add(ticket.id)
                    await tx.tickets.add_event(
                        ticket_id=ticket.id, action=TicketAction.KEPT_THROUGH_ERASURE, now=now
                    )
                    settled = ticket
                else:
                    closed = await tx.tickets.transition(
                        ticket.id, to_status=TicketStatus.CLOSED, now=now, expected={ticket.status}
                    )
                    if closed is None:
                        continue
                    await tx.tickets.add_event(
                        ticket_id=ticket.id,
                        action=TicketAction.CLOSED_BY_ERASURE,
                        from_status=ticket.status,
                        to_status=TicketStatus.CLOSED,
                        now=now,
                    )
                    settled = closed
                    self.core.later(self.core.follow_ups.cancel, ticket.id)
                await self.core.tell(
                    tx,
                    settled,
                    AlertKind.REPORTER_ERASED,
                    await self.core.answering_for(tx, ticket),
                    extra={"kept": ticket.id in kept},
                )
        self.core.committed()
        return frozenset(kept)

    # --- the household rates the service (服务评价) -------------------------------------------------

    async def rate(self, actor: Person, ticket_id: int, rating: int, comment: str = "") -> Feedback:
        if not 1 <= rating <= 5:
            raise InvalidInput(Refusal.RATING_OUT_OF_RANGE)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.RATE, ticket_id)
            if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
                raise Conflict(Refusal.RATE_NOT_FINISHED)
            feedback = await tx.tickets.add_feedback(
                ticket_id=ticket.id,
                rating=rating,
                comment=comment.strip()[:2000] or None,
                person_id=actor.id,
                now=now,
            )
            await tx.tickets.add_event(
                ticket_id=ticket.id, action=TicketAction.RATED, actor_id=actor.id, note=str(rating), now=now
            )
        return feedback

    async def comment_on_rating(self, actor: Person, ticket_id: int, comment: str) -> Feedback:
        """Add the words that go with a rating already given."""
        comment = given_words(comment, Refusal.COMMENT_NEEDS_WORDS, at_most=2000)
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.RATE, ticket_id)
            feedback = await tx.tickets.set_feedback_comment(
                ticket_id=ticket.id, person_id=actor.id, comment=comment
            )
            if feedback is None:
                raise Conflict(Refusal.COMMENT_RATE_FIRST)
            return feedback
