"""Casework operations: each is one transaction that changes the ticket, writes its audit trail and
queues its alerts in the same commit (the outbox), after checking the actor may do it."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol

from rapidfuzz import fuzz

from casework import disclosure, routing
from casework.access import ALERTED_MAY, Forbidden, Operation, check
from casework.clock import Clock
from casework.deadlines import DeadlinePolicy, SlaState
from casework.domain import (
    OPEN_STATUSES,
    Area,
    Channel,
    Conflict,
    ConsentPurpose,
    Feedback,
    InvalidInput,
    NeedReport,
    NotFound,
    Organisation,
    OutboxAlert,
    Person,
    Referral,
    ReferralStatus,
    Role,
    ServiceType,
    Ticket,
    TicketEvent,
    TicketStatus,
    Urgency,
    VulnerabilityTag,
)
from casework.lifecycle import LIFECYCLE, WORK_BEGINS, Step, allows, starts_from
from casework.routing import CrisisReach
from storage import Database
from storage.repositories import Transaction

DUPLICATE_WINDOW = timedelta(days=30)
ADDRESS_SIMILARITY = 85  # rapidfuzz ratio (0-100) at which two addresses are taken to be one household
VISIT_TAGS = frozenset(
    {
        VulnerabilityTag.ELDER_ALONE,
        VulnerabilityTag.DISABILITY,
        VulnerabilityTag.LEFT_BEHIND_CHILD,
        VulnerabilityTag.SERIOUS_ILLNESS,
    }
)


class AlreadyClaimed(Conflict):
    def __init__(self, holder: str) -> None:
        super().__init__(f"{holder} already has this ticket")
        self.holder = holder


class FollowUps(Protocol):
    """Reminders that fall due later: the scheduler keeps them across restarts."""

    def home_visit_due(self, ticket_id: int, at: datetime) -> None: ...

    def survey_due(self, ticket_id: int, at: datetime) -> None: ...

    def cancel(self, ticket_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class NewReport:
    """A need as the conversation gathered it."""

    text: str
    language: str
    intent: str
    confidence: float
    service_type: ServiceType
    urgency: Urgency
    area_id: int
    channel: Channel
    summary: str = ""
    reporter_id: int | None = None
    anonymous: bool = False
    on_behalf: bool = False
    household_address: str = ""
    household_size: int | None = None
    vulnerability_tags: frozenset[VulnerabilityTag] = frozenset()
    needs_home_visit: bool | None = None
    # The conversation's key for this one submission: sent again, it finds what the first opened.
    submission_key: str | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    ticket: Ticket
    report: NeedReport
    joined_existing: bool
    # For a crisis: whom its first alerts reached (what the person may truthfully be told).
    reach: CrisisReach | None = None


@dataclass(frozen=True, slots=True)
class Acknowledged:
    ticket: Ticket
    by: str  # who acknowledged first: the actor, or whoever was before them
    first: bool


@dataclass(frozen=True, slots=True)
class TicketView:
    ticket: Ticket
    area_path: tuple[Area, ...]
    sla: SlaState
    assignee: Person | None
    organisation: Organisation | None
    reports: tuple[NeedReport, ...]
    events: tuple[TicketEvent, ...]
    referrals: tuple[Referral, ...]
    feedback: tuple[Feedback, ...]


@dataclass(frozen=True, slots=True)
class Target:
    """Someone a ticket can go to: a worker (with their open load) or an agency."""

    kind: str  # "person" or "agency"
    id: int
    name: str
    load: int | None


@dataclass(frozen=True, slots=True)
class QueueItem:
    ticket: Ticket
    area: Area
    sla: SlaState


def normalised_address(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(character for character in folded if character.isalnum())


def same_household(a: str, b: str) -> bool:
    left, right = normalised_address(a), normalised_address(b)
    if not left or not right:
        return False
    return left in right or right in left or fuzz.ratio(left, right) >= ADDRESS_SIMILARITY


def _person_name(person: Person | None) -> str:
    if person is None:
        return "—"
    return person.display_name or f"#{person.id}"


class Casework:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        policy: DeadlinePolicy,
        *,
        follow_ups: FollowUps,
        timezone: tzinfo = UTC,
        on_alerts_queued: Callable[[], None] | None = None,
    ) -> None:
        self.timezone = timezone  # the day in a ticket reference is the local day
        self.database = database
        self.clock = clock
        self.policy = policy
        self.follow_ups = follow_ups
        self._on_alerts_queued = on_alerts_queued or (lambda: None)

    # --- shared steps ---------------------------------------------------------------------------

    async def _ticket(self, tx: Transaction, ticket_id: int) -> Ticket:
        ticket = await tx.tickets.get(ticket_id)
        if ticket is None:
            raise NotFound(f"no ticket {ticket_id}")
        return ticket

    async def _checked(
        self,
        tx: Transaction,
        actor: Person,
        operation: Operation,
        ticket_id: int,
        referral: Referral | None = None,
    ) -> tuple[Ticket, list[int]]:
        ticket = await self._ticket(tx, ticket_id)
        chain = await routing.area_chain(tx, ticket.area_id)
        try:
            check(actor, operation, ticket, chain, referral)
        except Forbidden:
            # Someone a crisis was escalated to (on call, say) may see it and say they are on it.
            if operation not in ALERTED_MAY or not await self._was_alerted(tx, ticket.id, actor.id):
                raise
            check(actor, operation, ticket, chain, referral, alerted=True)
        return ticket, chain

    @staticmethod
    async def _was_alerted(tx: Transaction, ticket_id: int, person_id: int) -> bool:
        return any(
            alert.recipient_person_id == person_id and _is_crisis_alert(alert)
            for alert in await tx.outbox.for_ticket(ticket_id)
        )

    async def _card(self, tx: Transaction, ticket: Ticket) -> dict[str, Any]:
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

    async def _tell(
        self,
        tx: Transaction,
        ticket: Ticket,
        event: str,
        people: Iterable[Person | int | None],
        *,
        extra: dict[str, Any] | None = None,
        round_key: str = "",
    ) -> int:
        card = {**await self._card(tx, ticket), **(extra or {})}
        queued = 0
        for each in people:
            person = each if isinstance(each, Person) or each is None else await tx.people.get(each)
            if person is None:
                continue
            queued += await self._queue(tx, event, card, ticket=ticket, person=person, key_suffix=round_key)
        return queued

    async def _queue(
        self,
        tx: Transaction,
        event: str,
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

    async def _supervisors_or_admins(self, tx: Transaction, chain: list[int]) -> list[Person]:
        return await routing.supervisors_of(tx, chain) or await tx.people.find(role=Role.ADMIN)

    async def _announce(self, tx: Transaction, ticket: Ticket, round_key: str = "") -> CrisisReach | None:
        """Alert the area's group or its least-loaded workers, or nobody's supervisors; a critical
        ticket starts up its crisis ladder instead (``_alert_crisis``) and says whom it reached."""
        if ticket.urgency is Urgency.CRITICAL:
            return await self._alert_crisis(tx, ticket, 0, round_key=round_key)
        route = await routing.route(tx, ticket)
        card = await self._card(tx, ticket)
        if route.group is not None:
            await self._queue(
                tx, "ticket_opened", card, ticket=ticket, chat_id=route.group.chat_id, key_suffix=round_key
            )
        await self._tell(tx, ticket, "ticket_opened", route.alerted, round_key=round_key)
        if route.nobody:
            chain = await routing.area_chain(tx, ticket.area_id)
            supervisors = await self._supervisors_or_admins(tx, chain)
            await self._tell(
                tx,
                ticket,
                "ticket_escalated",
                supervisors,
                extra={"reason": "no_worker"},
                round_key=round_key,
            )
        return None

    async def _alert_crisis(
        self, tx: Transaction, ticket: Ticket, step: int, *, round_key: str = ""
    ) -> CrisisReach:
        """Alert one step of the crisis ladder (``routing.crisis_steps``) and write it to the trail.

        The first step's workers get the ordinary new-ticket alert, with Claim, and its supervisors
        the escalation; later steps get a crisis alert. Each alert carries "I'm on it"."""
        now = self.clock.now()
        steps = await routing.crisis_steps(tx, ticket.area_id, now.astimezone(self.timezone).time())
        if step >= len(steps):
            if step == 0:
                await tx.tickets.add_event(ticket_id=ticket.id, action="crisis_unreached", now=now)
            return CrisisReach.NOBODY
        chosen = steps[step]
        linked = [other.reference for other in await self._linked_tickets(tx, ticket)]
        extra: dict[str, Any] = {
            "reason": "critical",
            "step": step,
            "reach": chosen.reach.value,
            "linked": linked,
        }
        if chosen.area_id is not None and step == 0:  # the area's own staff: the ordinary alerts
            if chosen.group is not None:
                await self._queue(
                    tx,
                    "ticket_opened",
                    {**await self._card(tx, ticket), **extra},
                    ticket=ticket,
                    chat_id=chosen.group.chat_id,
                    key_suffix=round_key,
                )
            workers = [person for person in chosen.people if person.role is Role.SOCIAL_WORKER]
            others = [person for person in chosen.people if person.role is not Role.SOCIAL_WORKER]
            await self._tell(tx, ticket, "ticket_opened", workers, extra=extra, round_key=round_key)
            await self._tell(tx, ticket, "ticket_escalated", others, extra=extra, round_key=round_key)
        else:
            await self._tell(
                tx, ticket, "crisis_alert", chosen.people, extra=extra, round_key=f"#crisis{step}"
            )
        where = await tx.areas.get(chosen.area_id) if chosen.area_id is not None else None
        await tx.tickets.add_event(
            ticket_id=ticket.id,
            action="crisis_alerted",
            note=f"step {step}: {chosen.reach.value}"
            + (f" · {where.name}" if where else "")
            + f" · {len(chosen.people) + (chosen.group is not None)}",
            now=now,
        )
        return chosen.reach

    @staticmethod
    async def _linked_tickets(tx: Transaction, ticket: Ticket) -> list[Ticket]:
        """The same person's other open tickets, which a crisis ticket is read beside: a resident's
        own (a volunteer's or worker's other reports are about other households)."""
        reporter = await tx.people.get(ticket.reporter_id) if ticket.reporter_id is not None else None
        if reporter is None or reporter.role is not Role.RECIPIENT:
            return []
        return [
            other
            for other in await tx.tickets.find(statuses=OPEN_STATUSES, reporter_id=ticket.reporter_id)
            if other.id != ticket.id
        ]

    async def _tell_claimed(self, tx: Transaction, ticket: Ticket) -> None:
        """The reporter hears a worker has the case; that the worker will contact them only when they
        agreed to be contacted."""
        if ticket.reporter_id is None:
            return
        contact = ConsentPurpose.CONTACT_ME in await tx.consents.active(ticket.reporter_id)
        await self._tell(tx, ticket, "case_claimed", [ticket.reporter_id], extra={"contact": contact})

    async def _mark_taken(self, tx: Transaction, ticket: Ticket, holder: Person) -> None:
        """Edit the new-ticket alerts others received so they say who has it."""
        card = await self._card(tx, ticket)
        for alert in await tx.outbox.for_ticket(ticket.id, event="ticket_opened"):
            if alert.recipient_person_id == holder.id:
                continue
            recipient = (
                await tx.people.get(alert.recipient_person_id)
                if alert.recipient_person_id is not None
                else None
            )
            if alert.recipient_person_id is not None and recipient is None:
                continue
            await self._queue(
                tx,
                "ticket_taken",
                {**card, "edit_of": alert.id, "holder": _person_name(holder)},
                ticket=ticket,
                person=recipient,
                chat_id=alert.recipient_chat_id,
                key_suffix=f"#{alert.id}",
            )

    async def _step(
        self,
        tx: Transaction,
        step: Step,
        ticket: Ticket,
        actor: Person,
        *,
        refusal: str,
        action: str | None = None,
        note: str | None = None,
        **fields: Any,
    ) -> Ticket:
        """Take ``step`` as the lifecycle table says: the status it leaves, if the ticket is still in a
        status ``actor`` may take it from, and its event on the trail (``action`` when it words it
        otherwise)."""
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
            raise Conflict(refusal)
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

    async def _work_begins(self, tx: Transaction, ticket: Ticket) -> Ticket:
        """A case just assigned moves on to "in progress" with the first work done on it."""
        begun = WORK_BEGINS.get(ticket.status)
        if begun is None:
            return ticket
        moved = await tx.tickets.transition(
            ticket.id, to_status=begun, now=self.clock.now(), expected={ticket.status}
        )
        return moved or ticket

    def _committed(self) -> None:
        self.database.after_commit(self._on_alerts_queued)

    def _later(self, schedule: Callable[..., None], *args: Any) -> None:
        """Schedule follow-up work once the change that calls for it is committed."""
        self.database.after_commit(functools.partial(schedule, *args))

    # --- opening ----------------------------------------------------------------------------------

    async def open_ticket(self, report: NewReport) -> Opened:
        """Record the report; join the household's open ticket when there is one, else open and route one."""
        if not report.text.strip():
            raise InvalidInput("a report needs some words")
        now = self.clock.now()
        async with self.database.transaction() as tx:
            area = await tx.areas.get(report.area_id)
            if area is None:
                raise NotFound(f"no area {report.area_id}")
            submitted = await self._submitted_before(tx, report)
            if submitted is not None:
                return submitted
            existing = await self._household_ticket(tx, report, now)
            household_id = existing.household_id if existing else None
            if existing is None and (
                report.household_address or report.vulnerability_tags or report.household_size
            ):
                household_id = await self._add_household(tx, report, area.id, now)
            if existing is not None:
                saved = await tx.reports.add(**self._report_fields(report, now), household_id=household_id)
                await tx.reports.attach_to_ticket(saved.id, existing.id)
                await tx.tickets.add_event(
                    ticket_id=existing.id, action="report_joined", actor_id=report.reporter_id, now=now
                )
                ticket = existing
                reach = None
                if _more_urgent(report.urgency, existing.urgency):
                    ticket, reach = await self._raise_urgency(tx, existing, report.urgency)
                opened = Opened(ticket=ticket, report=saved, joined_existing=True, reach=reach)
            else:
                opened = await self._open_new(tx, report, household_id, now)
        self._committed()
        return opened

    @staticmethod
    async def _submitted_before(tx: Transaction, report: NewReport) -> Opened | None:
        """What the same submission opened before, when it is sent again (its conversation lost the
        state that recorded it, as when the dialog store failed after the commit)."""
        if report.submission_key is None:
            return None
        saved = await tx.reports.by_submission_key(report.submission_key)
        ticket = await tx.tickets.get(saved.ticket_id) if saved and saved.ticket_id else None
        if saved is None or ticket is None:
            return None
        return Opened(ticket=ticket, report=saved, joined_existing=False, reach=None)

    @staticmethod
    async def _add_household(tx: Transaction, report: NewReport, area_id: int, now: datetime) -> int:
        household = await tx.households.add(
            area_id=area_id,
            address=report.household_address.strip(),
            size=report.household_size,
            vulnerability_tags=report.vulnerability_tags,
            now=now,
        )
        return household.id

    async def add_report(self, ticket_id: int, report: NewReport) -> Opened:
        """Add a report to a ticket already open for the same situation (an urgent ticket opened the
        moment a volunteer described danger, say): its household is recorded if the ticket had none."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket = await self._ticket(tx, ticket_id)
            if not ticket.is_open:
                raise Conflict(f"ticket {ticket.reference} is {ticket.status.value}")
            household_id = ticket.household_id
            if household_id is None and (report.household_address or report.vulnerability_tags):
                household_id = await self._add_household(tx, report, report.area_id, now)
                updated = await tx.tickets.update_fields(
                    ticket.id, now=now, household_id=household_id, needs_home_visit=True
                )
                assert updated is not None
                ticket = updated
            saved = await tx.reports.add(**self._report_fields(report, now), household_id=household_id)
            await tx.reports.attach_to_ticket(saved.id, ticket.id)
            await tx.tickets.add_event(
                ticket_id=ticket.id, action="report_joined", actor_id=report.reporter_id, now=now
            )
            reach = None
            if _more_urgent(report.urgency, ticket.urgency):
                ticket, reach = await self._raise_urgency(tx, ticket, report.urgency)
        self._committed()
        return Opened(ticket=ticket, report=saved, joined_existing=True, reach=reach)

    def _report_fields(self, report: NewReport, now: datetime) -> dict[str, Any]:
        return {
            "text": report.text,
            "language": report.language,
            "intent": report.intent,
            "confidence": report.confidence,
            "service_type": report.service_type,
            "urgency": report.urgency,
            "channel": report.channel,
            "reporter_id": report.reporter_id,
            "on_behalf": report.on_behalf,
            "anonymous": report.anonymous,
            "submission_key": report.submission_key,
            "now": now,
        }

    async def _household_ticket(self, tx: Transaction, report: NewReport, now: datetime) -> Ticket | None:
        if not report.household_address.strip():
            return None
        for ticket in await tx.tickets.open_in_area(report.area_id, since=now - DUPLICATE_WINDOW):
            household = await tx.households.get(ticket.household_id) if ticket.household_id else None
            if household is not None and same_household(household.address, report.household_address):
                return ticket
        return None

    async def _open_new(
        self, tx: Transaction, report: NewReport, household_id: int | None, now: datetime
    ) -> Opened:
        claim_by, resolve_by = self.policy.deadlines(report.urgency, report.service_type, now)
        needs_visit = report.needs_home_visit
        if needs_visit is None:
            needs_visit = (
                report.on_behalf
                or bool(report.vulnerability_tags & VISIT_TAGS)
                or report.urgency is not Urgency.NORMAL
            )
        reference = await tx.tickets.next_reference(now.astimezone(self.timezone).date())
        ticket = await tx.tickets.add(
            reference=reference,
            service_type=report.service_type,
            urgency=report.urgency,
            area_id=report.area_id,
            summary=report.summary[:500],
            household_id=household_id,
            reporter_id=None if report.anonymous else report.reporter_id,
            claim_deadline=claim_by,
            resolve_deadline=resolve_by,
            now=now,
        )
        if needs_visit:
            updated = await tx.tickets.update_fields(ticket.id, now=now, needs_home_visit=True)
            assert updated is not None
            ticket = updated
        saved = await tx.reports.add(**self._report_fields(report, now), household_id=household_id)
        await tx.reports.attach_to_ticket(saved.id, ticket.id)
        await tx.tickets.add_event(
            ticket_id=ticket.id,
            action="opened",
            actor_id=ticket.reporter_id,
            to_status=TicketStatus.NEW,
            now=now,
        )
        reach = await self._announce(tx, ticket)
        if ticket.urgency is Urgency.CRITICAL:
            await self._link_others(tx, ticket, now)
        return Opened(ticket=ticket, report=saved, joined_existing=False, reach=reach)

    async def _link_others(self, tx: Transaction, ticket: Ticket, now: datetime) -> None:
        """A crisis ticket and the same person's other open tickets name each other on their trails."""
        for other in await self._linked_tickets(tx, ticket):
            await tx.tickets.add_event(ticket_id=ticket.id, action="linked", note=other.reference, now=now)
            await tx.tickets.add_event(ticket_id=other.id, action="linked", note=ticket.reference, now=now)

    async def _raise_urgency(
        self, tx: Transaction, ticket: Ticket, urgency: Urgency
    ) -> tuple[Ticket, CrisisReach | None]:
        now = self.clock.now()
        claim_by, resolve_by = self.policy.deadlines(urgency, ticket.service_type, ticket.created_at)
        updated = await tx.tickets.transition(
            ticket.id,
            to_status=ticket.status,
            now=now,
            urgency=urgency,
            claim_deadline=min(claim_by, ticket.claim_deadline or claim_by),
            resolve_deadline=min(resolve_by, ticket.resolve_deadline or resolve_by),
        )
        assert updated is not None
        await tx.tickets.add_event(ticket_id=ticket.id, action="urgency_raised", note=urgency.value, now=now)
        if urgency is not Urgency.CRITICAL:
            return updated, None
        if updated.assignee_id is not None:
            # Someone has the case already: they, and the supervisors, hear that it is now a crisis.
            chain = await routing.area_chain(tx, ticket.area_id)
            supervisors = await self._supervisors_or_admins(tx, chain)
            await self._tell(
                tx,
                updated,
                "ticket_escalated",
                [updated.assignee_id, *supervisors],
                extra={"reason": "critical"},
                round_key="#urgent",
            )
            return updated, CrisisReach.STAFF
        reach = await self._alert_crisis(tx, updated, 0, round_key="#urgent")
        await self._link_others(tx, updated, now)
        return updated, reach

    # --- crises ---------------------------------------------------------------------------------

    async def acknowledge(self, actor: Person, ticket_id: int) -> Acknowledged:
        """ "I'm on it" on a crisis alert: the ladder stops climbing, the others alerted hear who has
        it, and the reporter that a person has seen it. A second press names whoever was first."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self._checked(tx, actor, Operation.ACKNOWLEDGE, ticket_id)
            earlier = next(
                (event for event in await tx.tickets.events(ticket.id) if event.action == "acknowledged"),
                None,
            )
            if earlier is not None:
                holder = await tx.people.get(earlier.actor_id) if earlier.actor_id else None
                return Acknowledged(ticket=ticket, by=_person_name(holder), first=False)
            if not ticket.is_open:
                raise Conflict(f"ticket {ticket.reference} is {ticket.status.value}")
            await tx.tickets.add_event(ticket_id=ticket.id, action="acknowledged", actor_id=actor.id, now=now)
            alerted = {
                alert.recipient_person_id
                for alert in await tx.outbox.for_ticket(ticket.id)
                if _is_crisis_alert(alert) and alert.recipient_person_id not in (None, actor.id)
            }
            extra = {"by": _person_name(actor)}
            await self._tell(tx, ticket, "crisis_acknowledged", sorted(alerted), extra=extra)
            await self._tell(tx, ticket, "case_acknowledged", [ticket.reporter_id])
        self._committed()
        return Acknowledged(ticket=ticket, by=_person_name(actor), first=True)

    async def locate_crisis(self, actor: Person, ticket_id: int, area_id: int) -> CrisisReach:
        """The person in a crisis says where they are: their ticket moves to that area, and the staff
        there are alerted as its first step was (the ladder climbs on from there)."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket = await self._ticket(tx, ticket_id)
            if ticket.reporter_id != actor.id:
                raise Forbidden("this ticket is not yours")
            area = await tx.areas.get(area_id)
            if area is None:
                raise NotFound(f"no area {area_id}")
            if not ticket.is_open or ticket.area_id == area.id or ticket.assignee_id is not None:
                return _reached_so_far(await tx.tickets.events(ticket.id))
            moved = await tx.tickets.update_fields(ticket.id, now=now, area_id=area.id)
            assert moved is not None
            await tx.tickets.add_event(
                ticket_id=ticket.id, action="area_given", actor_id=actor.id, note=area.name, now=now
            )
            reach = await self._alert_crisis(tx, moved, 0, round_key=f"#area{area.id}")
            if reach is CrisisReach.NOBODY:
                reach = _reached_so_far(await tx.tickets.events(ticket.id))
        self._committed()
        return reach

    # --- claiming and assigning -----------------------------------------------------------------

    async def claim(self, actor: Person, ticket_id: int) -> Ticket:
        """First claim wins; a later one raises ``AlreadyClaimed`` naming who has it."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self._checked(tx, actor, Operation.CLAIM, ticket_id)
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
                current = await self._ticket(tx, ticket_id)
                if current.assignee_id == actor.id:
                    return current
                holder = await tx.people.get(current.assignee_id) if current.assignee_id else None
                raise AlreadyClaimed(_person_name(holder) if holder else "someone")
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
        if claimed.needs_home_visit and claimed.visited_at is None:
            self._later(self.follow_ups.home_visit_due, claimed.id, now + self.policy.home_visit_after)
        self._committed()
        return claimed

    async def assign(self, actor: Person, ticket_id: int, worker_id: int) -> Ticket:
        """A supervisor gives the ticket to a worker of its area (or moves it to another)."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, chain = await self._checked(tx, actor, Operation.ASSIGN, ticket_id)
            if actor.role not in (Role.SUPERVISOR, Role.ADMIN):
                raise Forbidden("only a supervisor assigns tickets")
            worker = await tx.people.get(worker_id)
            if worker is None or worker.role is not Role.SOCIAL_WORKER or not worker.active:
                raise InvalidInput("tickets are assigned to active social workers")
            if not worker.area_ids & set(chain):
                raise InvalidInput(f"{_person_name(worker)} does not work in this ticket's area")
            if not ticket.is_open:
                raise Conflict(f"ticket {ticket.reference} is {ticket.status.value}")
            assigned = await self._step(
                tx,
                Step.ASSIGN,
                ticket,
                actor,
                action="reassigned" if ticket.assignee_id else None,
                refusal=f"ticket {ticket.reference} changed meanwhile; try again",
                note=f"to #{worker.id}",
                assignee_id=worker.id,
            )
            await self._tell(tx, assigned, "ticket_assigned", [worker], round_key=f"#{now.isoformat()}")
            await self._mark_taken(tx, assigned, worker)
            if ticket.assignee_id is None:
                await self._tell_claimed(tx, assigned)
        if assigned.needs_home_visit and assigned.visited_at is None:
            self._later(self.follow_ups.home_visit_due, assigned.id, now + self.policy.home_visit_after)
        self._committed()
        return assigned

    # --- working the case -----------------------------------------------------------------------

    async def add_note(self, actor: Person, ticket_id: int, note: str) -> Ticket:
        note = note.strip()
        if not note:
            raise InvalidInput("a note needs some words")
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self._checked(tx, actor, Operation.NOTE, ticket_id)
            if not allows(Step.NOTE, ticket, actor):
                raise Conflict(f"ticket {ticket.reference} is {ticket.status.value}; reopen it first")
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
            ticket, _ = await self._checked(tx, actor, Operation.VISIT, ticket_id)
            if not allows(Step.VISIT, ticket, actor):
                raise Conflict(f"ticket {ticket.reference} is {ticket.status.value}")
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
            await self._tell(tx, updated, "case_visited", [updated.reporter_id])
        self._later(self.follow_ups.cancel, ticket_id)
        self._committed()
        return updated

    async def resolve(self, actor: Person, ticket_id: int, outcome: str) -> Ticket:
        outcome = outcome.strip()
        if not outcome:
            raise InvalidInput("say what was done: a resolution needs an outcome")
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self._checked(tx, actor, Operation.RESOLVE, ticket_id)
            resolved = await self._step(
                tx,
                Step.RESOLVE,
                ticket,
                actor,
                refusal=f"ticket {ticket.reference} is {ticket.status.value} and cannot be resolved",
                note=outcome[:4000],
                outcome=outcome[:4000],
            )
            await self._tell(
                tx, resolved, "case_resolved", [resolved.reporter_id], round_key=f"#{now.isoformat()}"
            )
        self._committed()
        return resolved

    async def close(self, actor: Person, ticket_id: int, note: str = "") -> Ticket:
        """Close a resolved ticket; a supervisor may also close an open one (a duplicate, say)."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self._checked(tx, actor, Operation.CLOSE, ticket_id)
            if ticket.is_open and not allows(Step.CLOSE, ticket, actor):
                raise Conflict(f"resolve ticket {ticket.reference} with its outcome before closing it")
            closed = await self._step(
                tx,
                Step.CLOSE,
                ticket,
                actor,
                refusal=f"ticket {ticket.reference} is {ticket.status.value} and cannot be closed",
                note=note.strip() or None,
            )
            await self._tell(tx, closed, "case_closed", [closed.reporter_id], round_key=f"#{now.isoformat()}")
        self._later(self.follow_ups.cancel, ticket_id)
        if closed.reporter_id is not None:
            self._later(self.follow_ups.survey_due, closed.id, now + self.policy.survey_after)
        self._committed()
        return closed

    async def reopen(self, actor: Person, ticket_id: int, reason: str) -> Ticket:
        reason = reason.strip()
        if not reason:
            raise InvalidInput("say why the ticket is reopened")
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self._checked(tx, actor, Operation.REOPEN, ticket_id)
            _, resolve_by = self.policy.deadlines(ticket.urgency, ticket.service_type, now)
            reopened = await self._step(
                tx,
                Step.REOPEN,
                ticket,
                actor,
                refusal=f"ticket {ticket.reference} is {ticket.status.value}; only finished tickets reopen",
                note=reason[:4000],
                resolve_deadline=resolve_by,
            )
            if reopened.assignee_id is None:
                await self._announce(tx, reopened, round_key=f"#{now.isoformat()}")
        self._committed()
        return reopened

    # --- referral (转介) -------------------------------------------------------------------------

    async def refer(
        self,
        actor: Person,
        ticket_id: int,
        *,
        reason: str,
        to_person_id: int | None = None,
        to_organisation_id: int | None = None,
    ) -> Referral:
        if (to_person_id is None) == (to_organisation_id is None):
            raise InvalidInput("refer to one worker or one agency")
        if not reason.strip():
            raise InvalidInput("a referral needs a reason")
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, chain = await self._checked(tx, actor, Operation.REFER, ticket_id)
            if not ticket.is_open:
                raise Conflict(f"ticket {ticket.reference} is {ticket.status.value}")
            if await tx.tickets.pending_referral(ticket.id):
                raise Conflict(f"ticket {ticket.reference} already has a referral under way")
            recipients: list[Person] = []
            if to_person_id is not None:
                target = await tx.people.get(to_person_id)
                if target is None or target.role is not Role.SOCIAL_WORKER or not target.active:
                    raise InvalidInput("referrals go to active social workers or to agencies")
                if target.id == actor.id:
                    raise InvalidInput("a referral goes to someone else")
                recipients = [target]
            else:
                assert to_organisation_id is not None
                organisation = await tx.organisations.get(to_organisation_id)
                if organisation is None or not organisation.active:
                    raise NotFound(f"no active agency {to_organisation_id}")
                recipients = [
                    person
                    for person in await tx.people.find(role=Role.SOCIAL_WORKER)
                    if person.organisation_id == organisation.id
                ]
            referral = await tx.tickets.add_referral(
                ticket_id=ticket.id,
                from_person_id=actor.id,
                to_person_id=to_person_id,
                to_organisation_id=to_organisation_id,
                reason=reason.strip()[:2000],
                now=now,
            )
            referred = await self._step(
                tx,
                Step.REFER,
                ticket,
                actor,
                refusal=f"ticket {ticket.reference} changed meanwhile; try again",
                note=reason.strip()[:2000],
            )
            extra = {"referral": {"id": referral.id, "reason": referral.reason, "from": _person_name(actor)}}
            await self._tell(
                tx, referred, "referral_requested", recipients, extra=extra, round_key=f"#{referral.id}"
            )
            if not recipients:
                supervisors = await self._supervisors_or_admins(tx, chain)
                await self._tell(
                    tx, referred, "referral_unattended", supervisors, extra=extra, round_key=f"#{referral.id}"
                )
        self._committed()
        return referral

    async def respond_to_referral(
        self, actor: Person, referral_id: int, *, accept: bool, reason: str = ""
    ) -> Referral:
        """The target accepts (the ticket moves to them) or declines (it returns to the queue)."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            referral = await tx.tickets.get_referral(referral_id)
            if referral is None:
                raise NotFound(f"no referral {referral_id}")
            ticket, chain = await self._checked(
                tx, actor, Operation.RESPOND_REFERRAL, referral.ticket_id, referral
            )
            if not accept and not reason.strip():
                raise InvalidInput("say why the referral is declined")
            answered = await tx.tickets.set_referral_status(
                referral.id,
                to_status=ReferralStatus.ACCEPTED if accept else ReferralStatus.DECLINED,
                now=now,
                expected={ReferralStatus.PENDING},
                reason=None if accept else reason.strip()[:2000],
            )
            if answered is None:
                raise Conflict("this referral has been answered already")
            fields: dict[str, Any]
            if not accept:  # back to the queue
                step, fields = Step.DECLINE, {"assignee_id": None, "organisation_id": None}
            elif referral.to_person_id is not None:  # the worker takes the case over
                step, fields = Step.ACCEPT, {"assignee_id": actor.id}
            else:  # the agency works it; the referring worker still manages it
                step, fields = Step.ACCEPT_FOR_AGENCY, {"organisation_id": referral.to_organisation_id}
            action = LIFECYCLE[step].event
            moved = await self._step(
                tx,
                step,
                ticket,
                actor,
                refusal=f"ticket {ticket.reference} changed meanwhile",
                note=None if accept else reason.strip()[:2000],
                **fields,
            )
            extra = {"referral": {"id": referral.id, "reason": answered.reason, "by": _person_name(actor)}}
            await self._tell(
                tx, moved, action, [referral.from_person_id], extra=extra, round_key=f"#{referral.id}"
            )
            if not accept:
                supervisors = await self._supervisors_or_admins(tx, chain)
                await self._tell(tx, moved, action, supervisors, extra=extra, round_key=f"#{referral.id}")
                await self._announce(tx, moved, round_key=f"#declined{referral.id}")
        self._committed()
        return answered

    async def complete_referral(self, actor: Person, referral_id: int, outcome: str) -> Referral:
        """The agency or worker that took the referral reports back; the outcome resolves the ticket."""
        outcome = outcome.strip()
        if not outcome:
            raise InvalidInput("say what was done")
        now = self.clock.now()
        async with self.database.transaction() as tx:
            referral = await tx.tickets.get_referral(referral_id)
            if referral is None:
                raise NotFound(f"no referral {referral_id}")
            ticket, _ = await self._checked(
                tx, actor, Operation.COMPLETE_REFERRAL, referral.ticket_id, referral
            )
            completed = await tx.tickets.set_referral_status(
                referral.id,
                to_status=ReferralStatus.COMPLETED,
                now=now,
                expected={ReferralStatus.ACCEPTED},
                outcome=outcome[:4000],
            )
            if completed is None:
                raise Conflict("only an accepted referral can be completed")
            resolved = await self._step(
                tx,
                Step.COMPLETE,
                ticket,
                actor,
                refusal=f"ticket {ticket.reference} is {ticket.status.value}",
                note=outcome[:4000],
                outcome=outcome[:4000],
            )
            # The referrer reads the outcome; the reporter hears that the case is resolved, as after
            # ``resolve`` (what staff wrote is never theirs to read: ``disclosure``).
            extra = {"outcome": outcome[:1000]}
            await self._tell(
                tx,
                resolved,
                "referral_completed",
                [referral.from_person_id],
                extra=extra,
                round_key=f"#{referral.id}",
            )
            await self._tell(
                tx, resolved, "case_resolved", [resolved.reporter_id], round_key=f"#referral{referral.id}"
            )
        self._committed()
        return completed

    # --- reading ----------------------------------------------------------------------------------

    async def view(self, actor: Person, ticket_id: int) -> TicketView:
        """The case in full; the read is written to the ticket's audit trail."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self._checked(tx, actor, Operation.VIEW, ticket_id)
            await tx.tickets.add_event(ticket_id=ticket.id, action="read", actor_id=actor.id, now=now)
            return TicketView(
                ticket=ticket,
                area_path=tuple(reversed(await tx.areas.ancestors(ticket.area_id))),
                sla=self.policy.state(ticket, now),
                assignee=await tx.people.get(ticket.assignee_id) if ticket.assignee_id else None,
                organisation=await tx.organisations.get(ticket.organisation_id)
                if ticket.organisation_id
                else None,
                reports=tuple(await tx.reports.for_ticket(ticket.id)),
                events=tuple(await tx.tickets.events(ticket.id)),
                referrals=tuple(await tx.tickets.referrals(ticket.id)),
                feedback=tuple(await tx.tickets.feedback(ticket.id)),
            )

    async def status(self, actor: Person, ticket_id: int) -> Ticket:
        """Reference, status and deadlines only: what a reporter (or a volunteer) may see."""
        async with self.database.transaction() as tx:
            ticket, _ = await self._checked(tx, actor, Operation.STATUS, ticket_id)
            return ticket

    async def referral_targets(self, actor: Person, ticket_id: int, *, limit: int = 12) -> list[Target]:
        """Whom the actor may refer the ticket to: other workers covering its area who offer its service
        (least loaded first), then active agencies serving the area or above that offer it."""
        async with self.database.transaction() as tx:
            ticket, chain = await self._checked(tx, actor, Operation.REFER, ticket_id)
            workers = await routing.candidates(tx, ticket.service_type, chain)
            agencies = await tx.organisations.list_all(active_only=True)
        targets = [
            Target("person", c.worker.id, _person_name(c.worker), c.open_tickets)
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
            referral = await tx.tickets.get_referral(referral_id)
            if referral is None:
                raise NotFound(f"no referral {referral_id}")
            await self._checked(tx, actor, operation, referral.ticket_id, referral)
            return referral

    async def referral_under_way(self, ticket_id: int) -> bool:
        """A referral pending, or accepted and not completed: a ticket has one at a time."""
        async with self.database.transaction() as tx:
            return await tx.tickets.pending_referral(ticket_id) is not None

    async def assignable_workers(self, actor: Person, ticket_id: int, *, limit: int = 12) -> list[Target]:
        """The active social workers of the ticket's area: those offering its service first, least loaded."""
        async with self.database.transaction() as tx:
            ticket, chain = await self._checked(tx, actor, Operation.ASSIGN, ticket_id)
            workers = await tx.people.find(role=Role.SOCIAL_WORKER, area_ids=chain)
            loads = await tx.tickets.open_counts_by_assignee([w.id for w in workers], OPEN_STATUSES)
        ranked = sorted(
            workers, key=lambda w: (ticket.service_type not in w.service_types, loads.get(w.id, 0), w.id)
        )
        return [
            Target("person", w.id, _person_name(w), loads.get(w.id, 0))
            for w in ranked
            if w.id != ticket.assignee_id
        ][:limit]

    async def by_reference(self, reference: str) -> Ticket:
        """The ticket with this reference, for the command line (no actor's access is checked): a
        person's lookup goes through ``readable_by_reference``."""
        async with self.database.transaction() as tx:
            ticket = await tx.tickets.by_reference(reference)
            if ticket is None:
                raise NotFound(f"no ticket with reference '{reference}'")
            return ticket

    async def readable_by_reference(self, actor: Person, reference: str) -> Ticket:
        """The ticket with this reference, if ``actor`` may read the case. One they may not read is
        refused exactly as one that does not exist, so that nobody learns by asking that a case exists."""
        async with self.database.transaction() as tx:
            ticket = await tx.tickets.by_reference(reference)
            if ticket is not None:
                try:
                    ticket, _ = await self._checked(tx, actor, Operation.VIEW, ticket.id)
                except Forbidden:
                    ticket = None
            if ticket is None:
                raise NotFound(f"no ticket with reference '{reference}'")
            return ticket

    async def reported_by(self, actor: Person) -> list[Ticket]:
        """The tickets the person reported, whose stage they may follow. A report of theirs that joined
        a case someone else opened does not make that case theirs: they are told nothing of it
        (``disclosure``: the case's reference and status are not theirs to read)."""
        async with self.database.transaction() as tx:
            tickets = await tx.tickets.find(reporter_id=actor.id)
        return [ticket for ticket in reversed(tickets) if ticket.reporter_id == actor.id]

    async def queue(self, actor: Person, *, only_overdue: bool = False) -> list[QueueItem]:
        """Open tickets in the actor's areas (and, for a worker, service types): breached first."""
        if actor.role not in (Role.SOCIAL_WORKER, Role.SUPERVISOR, Role.ADMIN):
            raise Forbidden("queues are for workers and supervisors")
        now = self.clock.now()
        async with self.database.transaction() as tx:
            area_ids: set[int] | None = None
            if actor.role is not Role.ADMIN:
                area_ids = set()
                for area_id in actor.area_ids:
                    area_ids |= await tx.areas.descendant_ids(area_id)
            kinds = actor.service_types if actor.role is Role.SOCIAL_WORKER else None
            tickets = await tx.tickets.find(
                statuses=OPEN_STATUSES, area_ids=area_ids, service_types=kinds, limit=1000
            )
            areas = {area.id: area for area in await tx.areas.list_all()}
        items = [
            QueueItem(ticket, areas[ticket.area_id], self.policy.state(ticket, now)) for ticket in tickets
        ]
        if only_overdue:
            items = [item for item in items if item.sla is SlaState.BREACHED]
        return sorted(items, key=lambda item: self.policy.queue_order(item.ticket, now))

    async def mine(self, actor: Person) -> list[QueueItem]:
        now = self.clock.now()
        async with self.database.transaction() as tx:
            tickets = await tx.tickets.find(statuses=OPEN_STATUSES, assignee_id=actor.id)
            areas = {area.id: area for area in await tx.areas.list_all()}
        items = [
            QueueItem(ticket, areas[ticket.area_id], self.policy.state(ticket, now)) for ticket in tickets
        ]
        return sorted(items, key=lambda item: self.policy.queue_order(item.ticket, now))

    # --- evaluation -------------------------------------------------------------------------------

    async def rate(self, actor: Person, ticket_id: int, rating: int, comment: str = "") -> Feedback:
        if not 1 <= rating <= 5:
            raise InvalidInput("a rating is a whole number from 1 to 5")
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, _ = await self._checked(tx, actor, Operation.RATE, ticket_id)
            if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
                raise Conflict("a ticket is rated once it is resolved or closed")
            feedback = await tx.tickets.add_feedback(
                ticket_id=ticket.id,
                rating=rating,
                comment=comment.strip()[:2000] or None,
                person_id=actor.id,
                now=now,
            )
            await tx.tickets.add_event(
                ticket_id=ticket.id, action="rated", actor_id=actor.id, note=str(rating), now=now
            )
        return feedback

    async def comment_on_rating(self, actor: Person, ticket_id: int, comment: str) -> Feedback:
        """Add the words that go with a rating already given."""
        comment = comment.strip()[:2000]
        if not comment:
            raise InvalidInput("a comment needs some words")
        async with self.database.transaction() as tx:
            ticket, _ = await self._checked(tx, actor, Operation.RATE, ticket_id)
            feedback = await tx.tickets.set_feedback_comment(
                ticket_id=ticket.id, person_id=actor.id, comment=comment
            )
            if feedback is None:
                raise Conflict("rate the service first")
            return feedback


class FollowUpWork:
    """What the scheduler's jobs do: each step is idempotent, so a job that runs twice alerts once."""

    def __init__(self, casework: Casework) -> None:
        self.casework = casework

    async def escalate_overdue(self) -> int:
        """Alert the supervisors of every ticket unclaimed at its deadline, and again at twice it."""
        casework = self.casework
        now = casework.clock.now()
        escalated = 0
        async with casework.database.transaction() as tx:
            for ticket in await tx.tickets.unclaimed_past(now):
                assert ticket.claim_deadline is not None
                window = ticket.claim_deadline - ticket.created_at
                level = 2 if now >= ticket.claim_deadline + window else 1
                if ticket.escalation_level >= level or not await tx.tickets.raise_escalation(
                    ticket.id, to_level=level, now=now
                ):
                    continue
                chain = await routing.area_chain(tx, ticket.area_id)
                supervisors = await casework._supervisors_or_admins(tx, chain)
                await tx.tickets.add_event(
                    ticket_id=ticket.id, action="escalated", note=f"level {level}", now=now
                )
                extra = {"reason": "unclaimed", "level": level}
                await casework._tell(
                    tx, ticket, "ticket_escalated", supervisors, extra=extra, round_key=f"#{level}"
                )
                escalated += 1
        if escalated:
            casework._committed()
        return escalated

    async def escalate_crises(self) -> int:
        """Alert the next step of every crisis nobody has acknowledged (or claimed) within the
        re-alert time of its last step; one that reached nobody tries its first step again."""
        casework = self.casework
        now = casework.clock.now()
        climbed = 0
        async with casework.database.transaction() as tx:
            crises = await tx.tickets.find(statuses=OPEN_STATUSES, urgencies=[Urgency.CRITICAL], limit=10_000)
            for ticket in crises:
                if ticket.assignee_id is not None or ticket.organisation_id is not None:
                    continue
                events = await tx.tickets.events(ticket.id)
                if any(event.action == "acknowledged" for event in events):
                    continue
                ladder = [event for event in events if event.action in ("crisis_alerted", "crisis_unreached")]
                last = ladder[-1] if ladder else None
                if (
                    now - (last.created_at if last else ticket.created_at)
                    < casework.policy.crisis_realert_after
                ):
                    continue
                step = _crisis_step(last) + 1 if last is not None and last.action == "crisis_alerted" else 0
                if await casework._alert_crisis(tx, ticket, step) is not CrisisReach.NOBODY or step == 0:
                    climbed += 1
        if climbed:
            casework._committed()
        return climbed

    async def remind_home_visit(self, ticket_id: int) -> bool:
        casework = self.casework
        async with casework.database.transaction() as tx:
            ticket = await tx.tickets.get(ticket_id)
            if (
                ticket is None
                or not ticket.is_open
                or not ticket.needs_home_visit
                or ticket.visited_at is not None
            ):
                return False
            queued = await casework._tell(tx, ticket, "home_visit_due", [ticket.assignee_id])
        casework._committed()
        return queued > 0

    async def send_survey(self, ticket_id: int) -> bool:
        casework = self.casework
        async with casework.database.transaction() as tx:
            ticket = await tx.tickets.get(ticket_id)
            if ticket is None or ticket.status is not TicketStatus.CLOSED or ticket.reporter_id is None:
                return False
            reporter = await tx.people.get(ticket.reporter_id)
            if (
                reporter is None
                or reporter.role is not Role.RECIPIENT
                or await tx.tickets.feedback(ticket.id)
            ):
                return False
            queued = await casework._tell(tx, ticket, "satisfaction_survey", [reporter])
        casework._committed()
        return queued > 0

    async def prune_processed_updates(self, keep: timedelta) -> int:
        """Forget the updates handled longer ago than ``keep`` (a channel redelivers within a day), and
        the messages sent for them as long ago; how many updates."""
        casework = self.casework
        older_than = casework.clock.now() - keep
        async with casework.database.transaction() as tx:
            await tx.outgoing.prune(older_than=older_than)
            return await tx.updates.prune(older_than=older_than)

    async def send_weekly_digests(self) -> int:
        """Each supervisor hears the week's figures for their areas."""
        casework = self.casework
        now = casework.clock.now()
        week = now.astimezone(casework.timezone).strftime("%G-W%V")
        sent = 0
        async with casework.database.transaction() as tx:
            for supervisor in await tx.people.find(role=Role.SUPERVISOR):
                area_ids: set[int] = set()
                for area_id in supervisor.area_ids:
                    area_ids |= await tx.areas.descendant_ids(area_id)
                tickets = await tx.tickets.find(area_ids=area_ids, limit=100_000)
                since = now - timedelta(days=7)
                open_tickets = [ticket for ticket in tickets if ticket.is_open]
                ratings = [
                    feedback.rating
                    for ticket in tickets
                    if ticket.closed_at and ticket.closed_at >= since
                    for feedback in await tx.tickets.feedback(ticket.id)
                ]
                digest = {
                    "week": week,
                    "opened": sum(ticket.created_at >= since for ticket in tickets),
                    "closed": sum(bool(ticket.closed_at and ticket.closed_at >= since) for ticket in tickets),
                    "open": len(open_tickets),
                    "breached": sum(casework.policy.state(t, now) is SlaState.BREACHED for t in open_tickets),
                    "critical_open": sum(ticket.urgency is Urgency.CRITICAL for ticket in open_tickets),
                    "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
                }
                sent += await casework._queue(
                    tx,
                    "weekly_digest",
                    {"digest": digest},
                    ticket=None,
                    person=supervisor,
                    key_suffix=f"#{week}",
                )
        if sent:
            casework._committed()
        return sent


def _is_crisis_alert(alert: OutboxAlert) -> bool:
    """An alert of a step of a crisis's ladder (``Casework._alert_crisis``)."""
    return alert.payload.get("reason") == "critical" and alert.event in (
        "ticket_opened",
        "ticket_escalated",
        "crisis_alert",
    )


_CRISIS_STEP = re.compile(r"step (\d+): (\w+)")


def _crisis_step(event: TicketEvent) -> int:
    """The ladder step a ``crisis_alerted`` trail event recorded."""
    found = _CRISIS_STEP.match(event.note or "")
    return int(found.group(1)) if found else 0


def _reached_so_far(events: Iterable[TicketEvent]) -> CrisisReach:
    """Whom a crisis's alerts have reached, by its trail: the on-call list once it got that far."""
    reached = CrisisReach.NOBODY
    for event in events:
        found = _CRISIS_STEP.match(event.note or "") if event.action == "crisis_alerted" else None
        if found and reached is not CrisisReach.ON_CALL:
            reached = CrisisReach(found.group(2))
        if event.action in ("claimed", "assigned", "acknowledged"):
            return CrisisReach.STAFF
    return reached


def _more_urgent(new: Urgency, old: Urgency) -> bool:
    return new.rank > old.rank
