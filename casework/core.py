"""What every casework operation shares: the actor checked against the ticket, the lifecycle step
taken, the people told (alerts queued in the same commit, cut by ``disclosure``), and what is done
once the change is committed. The operations themselves live by group: ``opening``, ``working``,
``referral``, ``reading`` and ``follow_ups``; ``service.Casework`` puts them together."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol

from casework import disclosure, routing
from casework.access import ALERTED_MAY, Forbidden, Operation, check
from casework.clock import Clock
from casework.deadlines import DeadlinePolicy
from casework.domain import (
    OPEN_STATUSES,
    AlertKind,
    Channel,
    Conflict,
    NotFound,
    OutboxAlert,
    Person,
    Referral,
    Refusal,
    Role,
    Ticket,
    TicketAction,
    TicketEvent,
    Urgency,
)
from casework.lifecycle import LIFECYCLE, Step, starts_from
from casework.routing import CrisisReach
from casework.unit_of_work import Transaction, UnitOfWork


class FollowUps(Protocol):
    """Reminders that fall due later: the scheduler keeps them across restarts."""

    def home_visit_due(self, ticket_id: int, at: datetime) -> None: ...

    def survey_due(self, ticket_id: int, at: datetime) -> None: ...

    def cancel(self, ticket_id: int) -> None: ...

    def reassessment_due(self, household_id: int, at: datetime) -> None: ...

    def review_due(self, household_id: int, at: datetime) -> None: ...


class CaseworkCore:
    """The database, clock and deadlines every operation works with, and the steps they share."""

    def __init__(
        self,
        database: UnitOfWork,
        clock: Clock,
        policy: DeadlinePolicy,
        *,
        follow_ups: FollowUps,
        timezone: tzinfo,
        on_alerts_queued: Callable[[], None] | None = None,
        alert_channel: Channel | None = None,
    ) -> None:
        self.timezone = timezone  # the day in a ticket reference is the local day
        # Where alerts go out: a crisis step counts only staff with an account there (any account
        # when None, as in the console, where every account is shown its alerts).
        self.alert_channel = alert_channel
        self.database = database
        self.clock = clock
        self.policy = policy
        self.follow_ups = follow_ups
        self._on_alerts_queued = on_alerts_queued or (lambda: None)

    # --- the actor and the ticket -----------------------------------------------------------------

    async def ticket(self, tx: Transaction, ticket_id: int) -> Ticket:
        ticket = await tx.tickets.get(ticket_id)
        if ticket is None:
            raise NotFound(Refusal.TICKET_NOT_FOUND, ticket_id=ticket_id)
        return ticket

    async def checked(
        self,
        tx: Transaction,
        actor: Person,
        operation: Operation,
        ticket_id: int,
        referral: Referral | None = None,
    ) -> tuple[Ticket, list[int]]:
        """The ticket and its area chain, if ``actor`` may do ``operation`` on it (else ``Forbidden``)."""
        ticket = await self.ticket(tx, ticket_id)
        chain = await routing.area_chain(tx, ticket.area_id)
        try:
            check(actor, operation, ticket, chain, referral)
        except Forbidden:
            # Someone a crisis was escalated to (on call, say) may see it and say they are on it.
            if operation not in ALERTED_MAY or not await _was_alerted(tx, ticket.id, actor.id):
                raise
            check(actor, operation, ticket, chain, referral, alerted=True)
        return ticket, chain

    async def take_step(
        self,
        tx: Transaction,
        step: Step,
        ticket: Ticket,
        actor: Person,
        *,
        refusal: Refusal,
        action: TicketAction | None = None,
        note: str | None = None,
        **fields: Any,
    ) -> Ticket:
        """Take ``step`` as the lifecycle table says: the status it leaves, if the ticket is still in a
        status ``actor`` may take it from (else ``refusal``, with the ticket's reference and status),
        and its event on the trail (``action`` when it words it otherwise)."""
        move = LIFECYCLE[step]
        assert move.leaves is not None
        moved = await tx.tickets.transition(
            ticket.id,
            to_status=move.leaves,
            now=self.clock.now(),
            expected=starts_from(step, actor),
            **fields,
        )
        if moved is None:
            raise Conflict(refusal, reference=ticket.reference, status=ticket.status)
        await tx.tickets.add_event(
            ticket_id=ticket.id,
            action=action or move.event,
            actor_id=actor.id,
            from_status=ticket.status,
            to_status=move.leaves,
            note=note,
            now=self.clock.now(),
        )
        return moved

    # --- telling people ---------------------------------------------------------------------------

    async def card(self, tx: Transaction, ticket: Ticket) -> dict[str, Any]:
        """What an alert says about a ticket: enough to decide, nothing that identifies the household."""
        area = await tx.areas.get(ticket.area_id)
        return {
            "ticket": {
                "id": ticket.id,
                "reference": ticket.reference,
                "service_type": ticket.service_type.value,
                "urgency": ticket.urgency.value,
                "status": ticket.status.value,
                "area": area.name if area else "",
                "area_en": area.name_en if area else "",
                "summary": ticket.summary,
            }
        }

    async def tell(
        self,
        tx: Transaction,
        ticket: Ticket,
        event: AlertKind,
        people: Iterable[Person | int | None],
        *,
        extra: dict[str, Any] | None = None,
        round_key: str = "",
    ) -> int:
        """Alert each of ``people`` (a person, or their id) of the ticket; how many were queued."""
        card = {**await self.card(tx, ticket), **(extra or {})}
        queued = 0
        for each in people:
            person = each if isinstance(each, Person) or each is None else await tx.people.get(each)
            if person is None:
                continue
            queued += await self.queue_alert(
                tx, event, card, ticket=ticket, person=person, key_suffix=round_key
            )
        return queued

    async def queue_alert(
        self,
        tx: Transaction,
        event: AlertKind,
        payload: dict[str, Any],
        *,
        ticket: Ticket | None,
        person: Person | None = None,
        chat_id: int | None = None,
        key_suffix: str = "",
    ) -> bool:
        """Queue one alert, cut to what its recipient may read of the ticket (``disclosure``, the one
        place that decides it). False when the recipient gets no such alert, or had it already."""
        told = disclosure.payload_for(event, disclosure.relation_to(person, ticket), payload)
        if told is None:
            return False
        alert = await tx.outbox.queue(
            event=event,
            payload=told,
            now=self.clock.now(),
            ticket_id=ticket.id if ticket is not None else None,
            recipient_person_id=person.id if person is not None else None,
            recipient_chat_id=chat_id,
            key_suffix=key_suffix,
        )
        return alert is not None

    @staticmethod
    async def supervisors_or_admins(tx: Transaction, chain: list[int]) -> list[Person]:
        return await routing.supervisors_of(tx, chain) or await tx.people.find(role=Role.ADMIN)

    async def answering_for(self, tx: Transaction, ticket: Ticket) -> list[Person | int | None]:
        """Who answers for the case now: the worker who holds it, else the area's supervisors (or,
        with none, the admins)."""
        if ticket.assignee_id is not None:
            return [ticket.assignee_id]
        return list(await self.supervisors_or_admins(tx, await routing.area_chain(tx, ticket.area_id)))

    async def announce(
        self, tx: Transaction, ticket: Ticket, round_key: str = "", *, besides: Person | None = None
    ) -> CrisisReach | None:
        """Alert the area's group or its least-loaded workers, or nobody's supervisors; a critical
        ticket starts up its crisis ladder instead (``alert_crisis``) and says whom it reached.
        ``besides``: someone not to alert as a worker of the area (who just declined the case)."""
        if ticket.urgency is Urgency.CRITICAL:
            return await self.alert_crisis(tx, ticket, 0, round_key=round_key)
        route = await routing.route(tx, ticket)
        card = await self.card(tx, ticket)
        if route.group is not None:
            await self.queue_alert(
                tx,
                AlertKind.TICKET_OPENED,
                card,
                ticket=ticket,
                chat_id=route.group.chat_id,
                key_suffix=round_key,
            )
        alerted = [person for person in route.alerted if besides is None or person.id != besides.id]
        await self.tell(tx, ticket, AlertKind.TICKET_OPENED, alerted, round_key=round_key)
        if route.nobody:
            chain = await routing.area_chain(tx, ticket.area_id)
            supervisors = await self.supervisors_or_admins(tx, chain)
            await self.tell(
                tx,
                ticket,
                AlertKind.TICKET_ESCALATED,
                supervisors,
                extra={"reason": "no_worker"},
                round_key=round_key,
            )
        return None

    async def alert_crisis(
        self, tx: Transaction, ticket: Ticket, step: int, *, round_key: str = ""
    ) -> CrisisReach:
        """Alert one step of the crisis ladder (``routing.crisis_steps``) and write it to the trail.

        The first step's workers get the ordinary new-ticket alert, with Claim, and its supervisors
        the escalation; later steps get a crisis alert. Each alert carries "I'm on it"."""
        now = self.clock.now()
        local = now.astimezone(self.timezone).time()
        steps = await routing.crisis_steps(tx, ticket.area_id, local, self.alert_channel)
        if step >= len(steps):
            if step == 0:
                await tx.tickets.add_event(ticket_id=ticket.id, action=TicketAction.CRISIS_UNREACHED, now=now)
            return CrisisReach.NOBODY
        chosen = steps[step]
        linked = [other.reference for other in await linked_tickets(tx, ticket)]
        extra: dict[str, Any] = {
            "reason": "critical",
            "step": step,
            "reach": chosen.reach.value,
            "linked": linked,
        }
        if chosen.area_id is not None and step == 0:  # the area's own staff: the ordinary alerts
            if chosen.group is not None:
                await self.queue_alert(
                    tx,
                    AlertKind.TICKET_OPENED,
                    {**await self.card(tx, ticket), **extra},
                    ticket=ticket,
                    chat_id=chosen.group.chat_id,
                    key_suffix=round_key,
                )
            workers = [person for person in chosen.people if person.role is Role.SOCIAL_WORKER]
            others = [person for person in chosen.people if person.role is not Role.SOCIAL_WORKER]
            await self.tell(tx, ticket, AlertKind.TICKET_OPENED, workers, extra=extra, round_key=round_key)
            await self.tell(tx, ticket, AlertKind.TICKET_ESCALATED, others, extra=extra, round_key=round_key)
        else:
            await self.tell(
                tx, ticket, AlertKind.CRISIS_ALERT, chosen.people, extra=extra, round_key=f"#crisis{step}"
            )
        where = await tx.areas.get(chosen.area_id) if chosen.area_id is not None else None
        await tx.tickets.add_event(
            ticket_id=ticket.id,
            action=TicketAction.CRISIS_ALERTED,
            note=f"step {step}: {chosen.reach.value}"
            + (f" · {where.name}" if where else "")
            + f" · {len(chosen.people) + (chosen.group is not None)}",
            now=now,
        )
        return chosen.reach

    # --- once committed ---------------------------------------------------------------------------

    def committed(self) -> None:
        """Wake the alert relay once the alerts queued are committed."""
        self.database.after_commit(self._on_alerts_queued)

    def later(self, schedule: Callable[..., None], *args: Any) -> None:
        """Schedule follow-up work once the change that calls for it is committed."""
        self.database.after_commit(functools.partial(schedule, *args))


def person_name(person: Person | None) -> str:
    """How an alert or a refusal names a member of staff."""
    if person is None:
        return "—"
    return person.display_name or f"#{person.id}"


async def covered_areas(tx: Transaction, actor: Person) -> set[int] | None:
    """The areas ``actor`` works in and every area below them; None, every area, for an admin."""
    if actor.role is Role.ADMIN:
        return None
    area_ids: set[int] = set()
    for area_id in actor.area_ids:
        area_ids |= await tx.areas.descendant_ids(area_id)
    return area_ids


async def linked_tickets(tx: Transaction, ticket: Ticket) -> list[Ticket]:
    """The same person's other open tickets, which a crisis ticket is read beside: a resident's own
    (a volunteer's or worker's other reports are about other households)."""
    reporter = await tx.people.get(ticket.reporter_id) if ticket.reporter_id is not None else None
    if reporter is None or reporter.role is not Role.RECIPIENT:
        return []
    return [
        other
        for other in await tx.tickets.find(statuses=OPEN_STATUSES, reporter_id=ticket.reporter_id)
        if other.id != ticket.id
    ]


async def _was_alerted(tx: Transaction, ticket_id: int, person_id: int) -> bool:
    return any(
        alert.recipient_person_id == person_id and is_crisis_alert(alert)
        for alert in await tx.outbox.for_ticket(ticket_id)
    )


def is_crisis_alert(alert: OutboxAlert) -> bool:
    """An alert of a step of a crisis's ladder (``CaseworkCore.alert_crisis``)."""
    return alert.payload.get("reason") == "critical" and alert.event in (
        AlertKind.TICKET_OPENED,
        AlertKind.TICKET_ESCALATED,
        AlertKind.CRISIS_ALERT,
    )


# --- what the crisis ladder wrote on the trail ------------------------------------------------------

CRISIS_LADDER = frozenset({TicketAction.CRISIS_ALERTED, TicketAction.CRISIS_UNREACHED})
_CRISIS_NOTE = re.compile(r"^step (\d+): (\w+)(?: · (.*?))? · (\d+)$")


@dataclass(frozen=True, slots=True)
class CrisisStepNote:
    """What a ``crisis_alerted`` trail event recorded: the ladder's step (from 0), whom it reached,
    the area whose staff those were (none for the on-call list or the admins), and how many were
    alerted (an area's group counts as one)."""

    step: int
    reach: CrisisReach
    area: str
    alerted: int


def crisis_step_note(event: TicketEvent) -> CrisisStepNote | None:
    """The step a ``crisis_alerted`` event recorded (``CaseworkCore.alert_crisis`` writes it)."""
    found = _CRISIS_NOTE.match(event.note or "") if event.action is TicketAction.CRISIS_ALERTED else None
    if found is None or found.group(2) not in set(CrisisReach):
        return None
    return CrisisStepNote(
        int(found.group(1)), CrisisReach(found.group(2)), found.group(3) or "", int(found.group(4))
    )


def reached_so_far(events: Iterable[TicketEvent]) -> CrisisReach:
    """Whom a crisis's alerts have reached, by its trail: the on-call list once it got that far."""
    reached = CrisisReach.NOBODY
    for event in events:
        step = crisis_step_note(event)
        if step is not None and reached is not CrisisReach.ON_CALL:
            reached = step.reach
        if event.action in (TicketAction.CLAIMED, TicketAction.ASSIGNED, TicketAction.ACKNOWLEDGED):
            return CrisisReach.STAFF
    return reached


class Operations:
    """A group of casework operations (opening, working, referral …) on the core they share, with
    its database, clock and deadlines at hand."""

    def __init__(self, core: CaseworkCore) -> None:
        self.core = core
        self.database = core.database
        self.clock = core.clock
        self.policy = core.policy
