"""Talking with the person a case is about: what the worker who has it may know of reaching them, and
messages both ways through the bot.

The worker who holds a case (or a supervisor of its area) sees the way to reach the person that the
person chose, their phone number masked until shown (each showing is written to the trail), and the
household's address and situation. They write to the person through the bot, and propose a time for
the home visit that the person confirms or not; what the person writes, once a worker took up the
case or wrote to them (for ``THREAD_OPEN_FOR``, the case not closed), goes to the case and to whoever
answers for it. Every message, both ways, is on the trail. Someone who did not agree to be contacted
is written to through the bot only: their number is never shown. An anonymous reporter who asked to be
answered is written to through the link the case keeps, never shown to staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from casework import disclosure
from casework.access import Operation
from casework.core import CaseworkCore, Operations, person_name
from casework.domain import (
    AlertKind,
    Conflict,
    ConsentPurpose,
    ContactWay,
    Household,
    NotFound,
    Person,
    Refusal,
    Ticket,
    TicketAction,
    TicketStatus,
    given_words,
)
from casework.lifecycle import Step, allows
from casework.unit_of_work import Transaction

# How long after the last message of a case the person's words still go to it rather than to intake.
THREAD_OPEN_FOR = timedelta(days=7)
MESSAGE_CHARS = 2000
# How soon after an anonymous report its reporter may ask to be answered (the question follows it).
ANSWER_ASKED_WITHIN = timedelta(hours=1)
# The notices after which what the person says goes to the case: a worker took it up (and told them
# to say here whatever they want to tell), or wrote to them.
THREAD_OPENERS = (AlertKind.CASE_CLAIMED, AlertKind.CASE_MESSAGE, AlertKind.VISIT_PROPOSED)
VISIT_EVENTS = frozenset(
    {TicketAction.VISIT_PROPOSED, TicketAction.VISIT_CONFIRMED, TicketAction.VISIT_REFUSED}
)


class Signature(StrEnum):
    """How a worker's message to the person is signed."""

    WORKER = "worker"  # the worker's display name (and their agency, if any)
    AGENCY = "agency"  # only the agency's name, or "the social worker" when they have none


def masked(phone: str) -> str:
    """``138****5678``: enough to recognise a number, not to dial it."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


@dataclass(frozen=True, slots=True)
class CaseContact:
    """What the worker who has a case may know of reaching the person it is about."""

    reachable: bool  # the bot has someone to write to (the reporter of a named case, or one who asked)
    anonymous: bool  # the case names nobody: its reporter, if reachable, asked to be answered
    consented: bool  # the person agreed to be contacted
    way: ContactWay | None  # how they asked to be reached, if they were asked
    phone_masked: str | None  # only when they agreed to be contacted and gave a number
    household: Household | None  # the address and situation a report gave


class Conversation(Operations):
    """The case conversation, each step one transaction checked against who takes it."""

    def __init__(self, core: CaseworkCore, *, sign_as: Signature = Signature.WORKER) -> None:
        super().__init__(core)
        self.sign_as = sign_as

    async def contact(self, actor: Person, ticket_id: int) -> CaseContact:
        """How the person may be reached, for the worker who has the case (or a supervisor)."""
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.CONTACT, ticket_id)
            return await self._contact(tx, ticket)

    async def show_phone(self, actor: Person, ticket_id: int) -> str:
        """The person's phone number in full, the showing written to the trail; refused when they did
        not agree to be contacted or gave no number."""
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.CONTACT, ticket_id)
            person = await self._addressee(tx, ticket)
            if person is None or person.phone is None or not await self._consented(tx, person):
                raise Conflict(Refusal.PHONE_NOT_SHARED, reference=ticket.reference)
            await tx.tickets.add_event(
                ticket_id=ticket.id, action=TicketAction.PHONE_SHOWN, actor_id=actor.id, now=self.clock.now()
            )
            return person.phone

    async def message_person(self, actor: Person, ticket_id: int, text: str) -> Ticket:
        """A worker's words to the person, delivered in their chat under the case's reference."""
        words = given_words(text, Refusal.MESSAGE_NEEDS_WORDS, at_most=MESSAGE_CHARS)
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.MESSAGE, ticket_id)
            if ticket.status is TicketStatus.CLOSED:
                raise Conflict(Refusal.MESSAGE_CASE_CLOSED, reference=ticket.reference)
            person = await self._addressee(tx, ticket)
            if person is None:
                raise Conflict(Refusal.MESSAGE_NOBODY, reference=ticket.reference)
            now = self.clock.now()
            event = await tx.tickets.add_event(
                ticket_id=ticket.id, action=TicketAction.MESSAGE_SENT, actor_id=actor.id, note=words, now=now
            )
            await self.core.tell(
                tx,
                ticket,
                AlertKind.CASE_MESSAGE,
                [person],
                extra={"words": words, "sender": await self._signature(tx, actor)},
                round_key=f"#message{event.id}",
            )
        self.core.committed()
        return ticket

    async def open_thread(self, person: Person) -> Ticket | None:
        """The case the person's words go to: their own case, not closed, that a worker took up or
        wrote to them about within ``THREAD_OPEN_FOR`` (the latest such, when there are several)."""
        since = self.clock.now() - THREAD_OPEN_FOR
        async with self.database.transaction(savepoint=False) as tx:
            for alert in await tx.outbox.latest_to(person.id, events=THREAD_OPENERS, since=since):
                ticket = await tx.tickets.get(alert.ticket_id) if alert.ticket_id is not None else None
                if (
                    ticket is not None
                    and await self._is_theirs(tx, ticket, person)
                    and ticket.status is not TicketStatus.CLOSED
                ):
                    return ticket
        return None

    async def reply(self, person: Person, ticket_id: int, text: str) -> Ticket:
        """The person's words back on their own case: on its trail, and to the worker who has it (the
        area's supervisors when nobody holds it)."""
        words = given_words(text, Refusal.MESSAGE_NEEDS_WORDS, at_most=MESSAGE_CHARS)
        async with self.database.transaction() as tx:
            ticket = await self.core.ticket(tx, ticket_id)
            if not await self._is_theirs(tx, ticket, person):
                raise NotFound(Refusal.TICKET_NOT_FOUND, ticket_id=ticket_id)
            now = self.clock.now()
            # No actor: the trail says the words came from the person the case is about, and names
            # nobody to the staff who read it beyond what the case already does.
            event = await tx.tickets.add_event(
                ticket_id=ticket.id, action=TicketAction.MESSAGE_RECEIVED, note=words, now=now
            )
            await self.core.tell(
                tx,
                ticket,
                AlertKind.CASE_REPLY,
                await self.core.answering_for(tx, ticket),
                extra={"words": words},
                round_key=f"#reply{event.id}",
            )
        self.core.committed()
        return ticket

    async def propose_visit(self, actor: Person, ticket_id: int, when: str) -> Ticket:
        """The worker proposes a time for the home visit; the person is asked whether it suits them."""
        when = given_words(when, Refusal.VISIT_NEEDS_TIME, at_most=200)
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.VISIT, ticket_id)
            if not allows(Step.VISIT, ticket, actor):
                raise Conflict(Refusal.TICKET_NOT_OPEN, reference=ticket.reference, status=ticket.status)
            person = await self._addressee(tx, ticket)
            told = disclosure.relation_to(person, ticket)
            if person is None or not disclosure.allowed(AlertKind.VISIT_PROPOSED, told):
                raise Conflict(Refusal.MESSAGE_NOBODY, reference=ticket.reference)
            event = await tx.tickets.add_event(
                ticket_id=ticket.id,
                action=TicketAction.VISIT_PROPOSED,
                actor_id=actor.id,
                note=when,
                now=self.clock.now(),
            )
            await self.core.tell(
                tx,
                ticket,
                AlertKind.VISIT_PROPOSED,
                [person],
                extra={"when": when, "sender": await self._signature(tx, actor)},
                round_key=f"#visit{event.id}",
            )
        self.core.committed()
        return ticket

    async def answer_visit(self, person: Person, ticket_id: int, *, suits: bool) -> Ticket:
        """The person's answer to the visit time proposed last: on the trail, and to whoever answers for
        the case; refused when no proposal waits for an answer."""
        async with self.database.transaction() as tx:
            ticket = await self.core.ticket(tx, ticket_id)
            if not await self._is_theirs(tx, ticket, person):
                raise NotFound(Refusal.TICKET_NOT_FOUND, ticket_id=ticket_id)
            visits = [event for event in await tx.tickets.events(ticket.id) if event.action in VISIT_EVENTS]
            if not visits or visits[-1].action is not TicketAction.VISIT_PROPOSED or not ticket.is_open:
                raise Conflict(Refusal.VISIT_NOT_PROPOSED, reference=ticket.reference)
            when = visits[-1].note or ""
            answer = TicketAction.VISIT_CONFIRMED if suits else TicketAction.VISIT_REFUSED
            event = await tx.tickets.add_event(
                ticket_id=ticket.id, action=answer, note=when, now=self.clock.now()
            )
            await self.core.tell(
                tx,
                ticket,
                AlertKind.VISIT_ANSWERED,
                await self.core.answering_for(tx, ticket),
                extra={"when": when, "suits": suits},
                round_key=f"#visit{event.id}",
            )
        self.core.committed()
        return ticket

    async def answer_anonymously(self, person: Person, ticket_id: int) -> None:
        """The anonymous reporter of a case just opened asks to be answered through the bot: the case
        keeps whom to write to, never shown to staff, who read only that it can be answered."""
        async with self.database.transaction() as tx:
            ticket = await self.core.ticket(tx, ticket_id)
            just_opened = self.clock.now() - ticket.created_at <= ANSWER_ASKED_WITHIN
            if ticket.reporter_id is not None or not just_opened or await tx.tickets.reply_to(ticket.id):
                raise Conflict(Refusal.TICKET_CHANGED, reference=ticket.reference)
            await tx.tickets.set_reply_to(ticket.id, person.id)

    # --- the pieces ---------------------------------------------------------------------------------

    @staticmethod
    async def _is_theirs(tx: Transaction, ticket: Ticket, person: Person) -> bool:
        """The person's own case: they reported it, or reported it anonymously and asked for answers."""
        if ticket.reporter_id is not None:
            return ticket.reporter_id == person.id
        return await tx.tickets.reply_to(ticket.id) == person.id

    async def _contact(self, tx: Transaction, ticket: Ticket) -> CaseContact:
        person = await self._addressee(tx, ticket)
        consented = person is not None and await self._consented(tx, person)
        reports = await tx.reports.for_ticket(ticket.id)
        way = next((report.contact for report in reversed(reports) if report.contact is not None), None)
        household = await tx.households.get(ticket.household_id) if ticket.household_id is not None else None
        phone = person.phone if person is not None and consented and ticket.reporter_id else None
        return CaseContact(
            reachable=person is not None,
            anonymous=ticket.reporter_id is None,
            consented=consented,
            way=way,
            phone_masked=masked(phone) if phone else None,
            household=household,
        )

    @staticmethod
    async def _addressee(tx: Transaction, ticket: Ticket) -> Person | None:
        """Whom the bot writes to about the case: its reporter, when the case names one and they may
        be written to about it (``disclosure``: the person it is about, not a volunteer who flagged
        someone else's household); for an anonymous case, its reporter if they asked to be answered
        (whom the case keeps without naming them to staff)."""
        person_id = (
            ticket.reporter_id if ticket.reporter_id is not None else await tx.tickets.reply_to(ticket.id)
        )
        person = await tx.people.get(person_id) if person_id is not None else None
        if person is None or not disclosure.allowed(
            AlertKind.CASE_MESSAGE, disclosure.relation_to(person, ticket)
        ):
            return None
        return person

    @staticmethod
    async def _consented(tx: Transaction, person: Person) -> bool:
        return ConsentPurpose.CONTACT_ME in await tx.consents.active(person.id)

    async def _signature(self, tx: Transaction, actor: Person) -> str:
        """How the message is signed: the worker's name and agency, or the agency's alone."""
        agency = (
            await tx.organisations.get(actor.organisation_id) if actor.organisation_id is not None else None
        )
        if self.sign_as is Signature.AGENCY:
            return agency.name if agency is not None else ""
        name = person_name(actor)
        return f"{name} · {agency.name}" if agency is not None else name
