"""Opening a case: a need as the conversation gathered it becomes a ticket, or joins the open ticket
of the same household (found by its address) or of the same situation; a more urgent report raises
the ticket's urgency, and a crisis starts up its ladder of alerts."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapidfuzz import fuzz

from casework import routing
from casework.core import Operations, linked_tickets
from casework.domain import (
    AlertKind,
    Channel,
    Conflict,
    ContactWay,
    InvalidInput,
    NeedReport,
    NotFound,
    Refusal,
    ServiceType,
    Ticket,
    TicketAction,
    TicketStatus,
    Urgency,
    VulnerabilityTag,
)
from casework.routing import CrisisReach
from casework.unit_of_work import Transaction

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
    contact: ContactWay | None = None  # how the reporter asked to be reached, when asked


@dataclass(frozen=True, slots=True)
class Opened:
    ticket: Ticket
    report: NeedReport
    joined_existing: bool
    # For a crisis: whom its first alerts reached (what the person may truthfully be told).
    reach: CrisisReach | None = None


def normalised_address(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(character for character in folded if character.isalnum())


def same_household(a: str, b: str) -> bool:
    """Two addresses of one household: the same but for spacing, punctuation, the start left out (the
    street before the building) or a slip of the pen, and never other numbers (3栋2单元101 is not
    3栋2单元102)."""
    left, right = normalised_address(a), normalised_address(b)
    if not left or not right or not _numbers_agree(left, right):
        return False
    return left in right or right in left or fuzz.ratio(left, right) >= ADDRESS_SIMILARITY


def _numbers_agree(left: str, right: str) -> bool:
    """The numbers of one address end the other's: the same door, told with or without its street."""
    shorter, longer = sorted((re.findall(r"\d+", left), re.findall(r"\d+", right)), key=len)
    return longer[len(longer) - len(shorter) :] == shorter


def more_urgent(new: Urgency, old: Urgency) -> bool:
    return new.rank > old.rank


class Opening(Operations):
    """Opening a case, and adding to one: a report, a household, a raised urgency."""

    async def open_ticket(self, report: NewReport) -> Opened:
        """Record the report; join the household's open ticket when there is one, else open and route one."""
        if not report.text.strip():
            raise InvalidInput(Refusal.REPORT_NEEDS_WORDS)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            area = await tx.areas.get(report.area_id)
            if area is None:
                raise NotFound(Refusal.AREA_NOT_FOUND, area_id=report.area_id)
            submitted = await self._submitted_before(tx, report)
            if submitted is not None:
                return submitted
            existing = await self._household_ticket(tx, report, now)
            household_id = existing.household_id if existing else None
            if existing is None and (
                report.household_address or report.vulnerability_tags or report.household_size
            ):
                household_id = await self._household_on_file(
                    tx, report, area.id
                ) or await self._add_household(tx, report, area.id, now)
            if existing is not None:
                opened = await self._joined(tx, report, existing, household_id, now)
            else:
                opened = await self._open_new(tx, report, household_id, now)
            await self._crisis_on_file(tx, opened.ticket)
        self.core.committed()
        return opened

    async def add_report(self, ticket_id: int, report: NewReport) -> Opened:
        """Add a report to a ticket already open for the same situation (an urgent ticket opened the
        moment a volunteer described danger, say): its household is recorded if the ticket had none."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket = await self.core.ticket(tx, ticket_id)
            if not ticket.is_open:
                raise Conflict(Refusal.TICKET_NOT_OPEN, reference=ticket.reference, status=ticket.status)
            household_id = ticket.household_id
            if household_id is None and (report.household_address or report.vulnerability_tags):
                household_id = await self._add_household(tx, report, report.area_id, now)
                updated = await tx.tickets.update_fields(
                    ticket.id, now=now, household_id=household_id, needs_home_visit=True
                )
                assert updated is not None
                ticket = updated
            opened = await self._joined(tx, report, ticket, household_id, now)
            await self._crisis_on_file(tx, opened.ticket)
        self.core.committed()
        return opened

    async def _joined(
        self, tx: Transaction, report: NewReport, ticket: Ticket, household_id: int | None, now: datetime
    ) -> Opened:
        """The report filed on a ticket already open, on its trail; the ticket's urgency raised to the
        report's when that is higher."""
        saved = await self._filed(tx, report, ticket, household_id, now)
        await tx.tickets.add_event(
            ticket_id=ticket.id, action=TicketAction.REPORT_JOINED, actor_id=report.reporter_id, now=now
        )
        reach = None
        if more_urgent(report.urgency, ticket.urgency):
            ticket, reach = await self._raise_urgency(tx, ticket, report.urgency)
        return Opened(ticket=ticket, report=saved, joined_existing=True, reach=reach)

    async def _filed(
        self, tx: Transaction, report: NewReport, ticket: Ticket, household_id: int | None, now: datetime
    ) -> NeedReport:
        """The report recorded as one of the ticket's."""
        return await tx.reports.add(
            text=report.text,
            language=report.language,
            intent=report.intent,
            confidence=report.confidence,
            service_type=report.service_type,
            urgency=report.urgency,
            channel=report.channel,
            reporter_id=report.reporter_id,
            on_behalf=report.on_behalf,
            anonymous=report.anonymous,
            submission_key=report.submission_key,
            contact=report.contact,
            household_id=household_id,
            ticket_id=ticket.id,
            now=now,
        )

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
    async def _household_on_file(tx: Transaction, report: NewReport, area_id: int) -> int | None:
        """The household of the area this address is already known as (a case of theirs before), whose
        case file a new case carries on: what the report says of it is added to what was known."""
        if not report.household_address.strip():
            return None
        for household in await tx.households.in_area(area_id):
            if same_household(household.address, report.household_address):
                await tx.households.merge_situation(
                    household.id, size=report.household_size, vulnerability_tags=report.vulnerability_tags
                )
                return household.id
        return None

    async def _crisis_on_file(self, tx: Transaction, ticket: Ticket) -> None:
        """A crisis of a household that has been assessed: its assessment falls due again soon after."""
        if ticket.urgency is not Urgency.CRITICAL or ticket.household_id is None:
            return
        if await tx.case_files.assessments(ticket.household_id):
            self.core.later(
                self.core.follow_ups.reassessment_due,
                ticket.household_id,
                self.clock.now() + self.policy.reassess_after_crisis,
            )

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
        reference = await tx.tickets.next_reference(now.astimezone(self.core.timezone).date())
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
        saved = await self._filed(tx, report, ticket, household_id, now)
        await tx.tickets.add_event(
            ticket_id=ticket.id,
            action=TicketAction.OPENED,
            actor_id=ticket.reporter_id,
            to_status=TicketStatus.NEW,
            now=now,
        )
        reach = await self.core.announce(tx, ticket)
        if ticket.urgency is Urgency.CRITICAL:
            await self._link_others(tx, ticket, now)
        return Opened(ticket=ticket, report=saved, joined_existing=False, reach=reach)

    async def _link_others(self, tx: Transaction, ticket: Ticket, now: datetime) -> None:
        """A crisis ticket and the same person's other open tickets name each other on their trails."""
        for other in await linked_tickets(tx, ticket):
            await tx.tickets.add_event(
                ticket_id=ticket.id, action=TicketAction.LINKED, note=other.reference, now=now
            )
            await tx.tickets.add_event(
                ticket_id=other.id, action=TicketAction.LINKED, note=ticket.reference, now=now
            )

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
        await tx.tickets.add_event(
            ticket_id=ticket.id, action=TicketAction.URGENCY_RAISED, note=urgency.value, now=now
        )
        if urgency is not Urgency.CRITICAL:
            return updated, None
        if updated.assignee_id is not None:
            # Someone has the case already: they, and the supervisors, hear that it is now a crisis.
            chain = await routing.area_chain(tx, ticket.area_id)
            supervisors = await self.core.supervisors_or_admins(tx, chain)
            await self.core.tell(
                tx,
                updated,
                AlertKind.TICKET_ESCALATED,
                [updated.assignee_id, *supervisors],
                extra={"reason": "critical"},
                round_key="#urgent",
            )
            return updated, CrisisReach.STAFF
        reach = await self.core.alert_crisis(tx, updated, 0, round_key="#urgent")
        await self._link_others(tx, updated, now)
        return updated, reach
