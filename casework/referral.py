"""Referral (转介): a worker passes a case to another worker or to an agency, who accepts it (the case
moves to them) or declines it (back to the worker who referred it, or to the queue when it came from
there), and completes it with its outcome (the case is resolved); whom a case can be referred to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from casework import routing
from casework.access import Operation
from casework.core import Operations, person_name
from casework.domain import (
    OPEN_GOALS,
    AlertKind,
    Conflict,
    GoalStatus,
    InvalidInput,
    NotFound,
    Organisation,
    Person,
    Referral,
    ReferralStatus,
    Refusal,
    Role,
    Ticket,
    TicketAction,
    given_words,
)
from casework.lifecycle import Step
from casework.unit_of_work import Transaction


@dataclass(frozen=True, slots=True)
class Target:
    """Someone a ticket can go to: a worker (with their open load) or an agency."""

    kind: str  # "person" or "agency"
    id: int
    name: str
    load: int | None


class Referrals(Operations):
    """Referring a case, answering a referral, completing it."""

    async def refer(
        self,
        actor: Person,
        ticket_id: int,
        *,
        reason: str,
        to_person_id: int | None = None,
        to_organisation_id: int | None = None,
        goal_id: int | None = None,
    ) -> Referral:
        """Refer the case; ``goal_id``: the goal of the household's plan it is raised for, which moves on
        with it (under way once accepted, achieved once completed)."""
        if (to_person_id is None) == (to_organisation_id is None):
            raise InvalidInput(Refusal.REFER_ONE_TARGET)
        reason = given_words(reason, Refusal.REFER_NEEDS_REASON, at_most=2000)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, chain = await self.core.checked(tx, actor, Operation.REFER, ticket_id)
            if not ticket.is_open:
                raise Conflict(Refusal.TICKET_NOT_OPEN, reference=ticket.reference, status=ticket.status)
            if await tx.tickets.pending_referral(ticket.id):
                raise Conflict(Refusal.REFER_UNDER_WAY, reference=ticket.reference)
            if goal_id is not None:
                goal = await tx.case_files.goal(goal_id)
                if goal is None or goal.household_id != ticket.household_id or not goal.is_open:
                    raise NotFound(Refusal.GOAL_NOT_FOUND, goal_id=goal_id)
            recipients: list[Person] = []
            agency: Organisation | None = None
            if to_person_id is not None:
                target = await tx.people.get(to_person_id)
                if target is None or target.role is not Role.SOCIAL_WORKER or not target.active:
                    raise InvalidInput(Refusal.REFER_ACTIVE_TARGETS_ONLY)
                if target.id == actor.id:
                    raise InvalidInput(Refusal.REFER_TO_SELF)
                recipients = [target]
            else:
                assert to_organisation_id is not None
                agency = await tx.organisations.get(to_organisation_id)
                if agency is None or not agency.active:
                    raise NotFound(Refusal.AGENCY_NOT_FOUND, organisation_id=to_organisation_id)
                recipients = [
                    person
                    for person in await tx.people.find(role=Role.SOCIAL_WORKER)
                    if person.organisation_id == agency.id
                ]
            referral = await tx.tickets.add_referral(
                ticket_id=ticket.id,
                from_person_id=actor.id,
                to_person_id=to_person_id,
                to_organisation_id=to_organisation_id,
                reason=reason,
                goal_id=goal_id,
                now=now,
            )
            referred = await self.core.take_step(
                tx,
                Step.REFER,
                ticket,
                actor,
                refusal=Refusal.TICKET_CHANGED,
                note=reason,
            )
            extra = {"referral": {"id": referral.id, "reason": referral.reason, "from": person_name(actor)}}
            await self.core.tell(
                tx,
                referred,
                AlertKind.REFERRAL_REQUESTED,
                recipients,
                extra=extra,
                round_key=f"#{referral.id}",
            )
            if agency is not None:
                await self.core.tell(
                    tx,
                    referred,
                    AlertKind.CASE_REFERRED,
                    [referred.reporter_id],
                    extra={"agency": agency.name},
                    round_key=f"#{referral.id}",
                )
            if not recipients:
                supervisors = await self.core.supervisors_or_admins(tx, chain)
                await self.core.tell(
                    tx,
                    referred,
                    AlertKind.REFERRAL_UNATTENDED,
                    supervisors,
                    extra=extra,
                    round_key=f"#{referral.id}",
                )
        self.core.committed()
        return referral

    async def respond_to_referral(
        self, actor: Person, referral_id: int, *, accept: bool, reason: str = ""
    ) -> Referral:
        """The target accepts (the ticket moves to them) or declines: the case goes back, with the
        reason, to the worker who had it and referred it, or to the queue when it came from there (its
        workers alerted again, the one who declined it aside)."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            referral, ticket, chain = await self._checked(tx, actor, Operation.RESPOND_REFERRAL, referral_id)
            if not accept and not reason.strip():
                raise InvalidInput(Refusal.DECLINE_NEEDS_REASON)
            answered = await tx.tickets.set_referral_status(
                referral.id,
                to_status=ReferralStatus.ACCEPTED if accept else ReferralStatus.DECLINED,
                now=now,
                expected={ReferralStatus.PENDING},
                reason=None if accept else reason.strip()[:2000],
            )
            if answered is None:
                raise Conflict(Refusal.REFERRAL_ANSWERED)
            fields: dict[str, Any]
            if not accept and ticket.assignee_id is not None:  # back to the worker who referred it
                step, fields = Step.RETURN, {}
            elif not accept:  # back to the queue
                step, fields = Step.DECLINE, {"assignee_id": None, "organisation_id": None}
            elif referral.to_person_id is not None:  # the worker takes the case over
                step, fields = Step.ACCEPT, {"assignee_id": actor.id}
            else:  # the agency works it; the referring worker still manages it
                step, fields = Step.ACCEPT_FOR_AGENCY, {"organisation_id": referral.to_organisation_id}
            told = AlertKind.REFERRAL_ACCEPTED if accept else AlertKind.REFERRAL_DECLINED
            moved = await self.core.take_step(
                tx,
                step,
                ticket,
                actor,
                refusal=Refusal.TICKET_CHANGED,
                note=None if accept else reason.strip()[:2000],
                **fields,
            )
            if accept:
                await self._goal_moves(tx, referral, moved, GoalStatus.UNDER_WAY, actor)
            extra = {"referral": {"id": referral.id, "reason": answered.reason, "by": person_name(actor)}}
            await self.core.tell(
                tx, moved, told, [referral.from_person_id], extra=extra, round_key=f"#{referral.id}"
            )
            if referral.to_organisation_id is not None:
                agency = await tx.organisations.get(referral.to_organisation_id)
                await self.core.tell(
                    tx,
                    moved,
                    AlertKind.CASE_REFERRAL_ANSWERED,
                    [moved.reporter_id],
                    extra={"agency": agency.name if agency else "", "accepted": accept},
                    round_key=f"#{referral.id}",
                )
            if step is Step.DECLINE:
                supervisors = await self.core.supervisors_or_admins(tx, chain)
                await self.core.tell(tx, moved, told, supervisors, extra=extra, round_key=f"#{referral.id}")
                await self.core.announce(tx, moved, round_key=f"#declined{referral.id}", besides=actor)
        self.core.committed()
        return answered

    async def complete_referral(self, actor: Person, referral_id: int, outcome: str) -> Referral:
        """The agency or worker that took the referral reports back; the outcome resolves the ticket."""
        outcome = given_words(outcome, Refusal.OUTCOME_NEEDED, at_most=4000)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            referral, ticket, _ = await self._checked(tx, actor, Operation.COMPLETE_REFERRAL, referral_id)
            completed = await tx.tickets.set_referral_status(
                referral.id,
                to_status=ReferralStatus.COMPLETED,
                now=now,
                expected={ReferralStatus.ACCEPTED},
                outcome=outcome,
            )
            if completed is None:
                raise Conflict(Refusal.REFERRAL_NOT_ACCEPTED)
            resolved = await self.core.take_step(
                tx,
                Step.COMPLETE,
                ticket,
                actor,
                refusal=Refusal.RESOLVE_NOT_NOW,
                note=outcome,
                outcome=outcome,
            )
            await self._goal_moves(tx, referral, resolved, GoalStatus.ACHIEVED, actor)
            # The referrer reads the outcome; the reporter hears that the case is resolved, as after
            # ``resolve`` (what staff wrote is never theirs to read: ``disclosure``).
            extra = {"outcome": outcome[:1000]}
            await self.core.tell(
                tx,
                resolved,
                AlertKind.REFERRAL_COMPLETED,
                [referral.from_person_id],
                extra=extra,
                round_key=f"#{referral.id}",
            )
            await self.core.tell(
                tx,
                resolved,
                AlertKind.CASE_RESOLVED,
                [resolved.reporter_id],
                round_key=f"#referral{referral.id}",
            )
        self.core.committed()
        return completed

    async def _goal_moves(
        self, tx: Transaction, referral: Referral, ticket: Ticket, status: GoalStatus, actor: Person
    ) -> None:
        """The plan's goal a referral was raised for moves on with it: under way once the referral is
        accepted (when it had not begun), achieved once it is completed; the trail says so."""
        if referral.goal_id is None:
            return
        expected = OPEN_GOALS if status is GoalStatus.ACHIEVED else {GoalStatus.PLANNED}
        moved = await tx.case_files.set_goal_status(
            referral.goal_id, status=status, now=self.clock.now(), expected=expected
        )
        if moved is not None:
            await tx.tickets.add_event(
                ticket_id=ticket.id,
                action=TicketAction.GOAL_CHANGED,
                actor_id=actor.id,
                note=moved.change_note,
                now=self.clock.now(),
            )

    # --- whom to, and which referral ----------------------------------------------------------------

    async def referral_targets(self, actor: Person, ticket_id: int, *, limit: int = 12) -> list[Target]:
        """Whom the actor may refer the ticket to: other workers covering its area who offer its service
        (least loaded first), then active agencies serving the area or above that offer it."""
        async with self.database.transaction() as tx:
            ticket, chain = await self.core.checked(tx, actor, Operation.REFER, ticket_id)
            workers = await routing.candidates(tx, ticket.service_type, chain)
            agencies = await tx.organisations.list_all(active_only=True)
        targets = [
            Target("person", c.worker.id, person_name(c.worker), c.open_tickets)
            for c in workers
            if c.worker.id not in (actor.id, ticket.assignee_id)
        ]
        targets += [
            Target("agency", agency.id, agency.name, None)
            for agency in agencies
            if agency.area_ids & set(chain)
            and ticket.service_type in agency.service_types
            and agency.id != actor.organisation_id
        ]
        return targets[:limit]

    async def referral_for(self, actor: Person, referral_id: int, operation: Operation) -> Referral:
        """The referral, if ``actor`` may answer (RESPOND_REFERRAL) or complete (COMPLETE_REFERRAL) it."""
        async with self.database.transaction() as tx:
            referral, _, _ = await self._checked(tx, actor, operation, referral_id)
            return referral

    async def _checked(
        self, tx: Transaction, actor: Person, operation: Operation, referral_id: int
    ) -> tuple[Referral, Ticket, list[int]]:
        """The referral, its ticket and the ticket's area chain, if ``actor`` may do ``operation``."""
        referral = await tx.tickets.get_referral(referral_id)
        if referral is None:
            raise NotFound(Refusal.REFERRAL_NOT_FOUND, referral_id=referral_id)
        ticket, chain = await self.core.checked(tx, actor, operation, referral.ticket_id, referral)
        return referral, ticket, chain

    async def referral_under_way(self, ticket_id: int) -> bool:
        """A referral pending, or accepted and not completed: a ticket has one at a time."""
        async with self.database.transaction() as tx:
            return await tx.tickets.pending_referral(ticket_id) is not None
