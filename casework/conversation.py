"""Talking with the person a case is about: what the worker who has it may know of reaching them, and
messages both ways through the bot.

The worker who holds a case (or a supervisor of its area) sees the way to reach the person that the
person chose, their phone number masked until shown (each showing is written to the trail), and the
household's address and situation. They write to the person through the bot; the person's answer,
while the case is open and a worker's message to them is recent, goes to the case and to its worker.
Every message, both ways, is on the trail. Someone who did not agree to be contacted is written to
through the bot only: their number is never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from casework import disclosure, routing
from casework.access import Operation
from casework.core import CaseworkCore, person_name
from casework.domain import (
    AlertKind,
    Conflict,
    ConsentPurpose,
    ContactWay,
    Household,
    InvalidInput,
    NotFound,
    Person,
    Refusal,
    Ticket,
    TicketAction,
    TicketStatus,
)
from casework.unit_of_work import Transaction

# How long after the last message of a case the person's words still go to it rather than to intake.
THREAD_OPEN_FOR = timedelta(days=7)
MESSAGE_CHARS = 2000
# The notices after which what the person says goes to the case: a worker took it up (and told them
# to say here whatever they want to tell), or wrote to them.
THREAD_OPENERS = (AlertKind.CASE_CLAIMED, AlertKind.CASE_MESSAGE)


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

    reachable: bool  # the bot has someone to write to (the reporter of a named case)
    consented: bool  # the person agreed to be contacted
    way: ContactWay | None  # how they asked to be reached, if they were asked
    phone_masked: str | None  # only when they agreed to be contacted and gave a number
    household: Household | None  # the address and situation a report gave


class Conversation:
    """The case conversation, each step one transaction checked against who takes it."""

    def __init__(self, core: CaseworkCore, *, sign_as: Signature = Signature.WORKER) -> None:
        self.core = core
        self.database = core.database
        self.clock = core.clock
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
        words = text.strip()[:MESSAGE_CHARS]
        if not words:
            raise InvalidInput(Refusal.MESSAGE_NEEDS_WORDS)
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
        async with self.database.transaction() as tx:
            for alert in await tx.outbox.latest_to(person.id, events=THREAD_OPENERS, since=since):
                ticket = await tx.tickets.get(alert.ticket_id) if alert.ticket_id is not None else None
                if (
                    ticket is not None
                    and ticket.reporter_id == person.id
                    and ticket.status is not TicketStatus.CLOSED
                ):
                    return ticket
        return None

    async def reply(self, person: Person, ticket_id: int, text: str) -> Ticket:
        """The person's words back on their own case: on its trail, and to the worker who has it (the
        area's supervisors when nobody holds it)."""
        words = text.strip()[:MESSAGE_CHARS]
        if not words:
            raise InvalidInput(Refusal.MESSAGE_NEEDS_WORDS)
        async with self.database.transaction() as tx:
            ticket = await self.core.ticket(tx, ticket_id)
            if ticket.reporter_id != person.id:
                raise NotFound(Refusal.TICKET_NOT_FOUND, ticket_id=ticket_id)
            now = self.clock.now()
            # No actor: the trail says the words came from the person the case is about, and names
            # nobody to the staff who read it beyond what the case already does.
            event = await tx.tickets.add_event(
                ticket_id=ticket.id, action=TicketAction.MESSAGE_RECEIVED, note=words, now=now
            )
            readers: list[Person | int | None] = [ticket.assignee_id]
            if ticket.assignee_id is None:
                chain = await routing.area_chain(tx, ticket.area_id)
                readers = list(await self.core.supervisors_or_admins(tx, chain))
            await self.core.tell(
                tx,
                ticket,
                AlertKind.CASE_REPLY,
                readers,
                extra={"words": words},
                round_key=f"#reply{event.id}",
            )
        self.core.committed()
        return ticket

    # --- the pieces ---------------------------------------------------------------------------------

    async def _contact(self, tx: Transaction, ticket: Ticket) -> CaseContact:
        person = await self._addressee(tx, ticket)
        consented = person is not None and await self._consented(tx, person)
        reports = await tx.reports.for_ticket(ticket.id)
        way = next((report.contact for report in reversed(reports) if report.contact is not None), None)
        household = await tx.households.get(ticket.household_id) if ticket.household_id is not None else None
        phone = person.phone if person is not None and consented else None
        return CaseContact(
            reachable=person is not None,
            consented=consented,
            way=way,
            phone_masked=masked(phone) if phone else None,
            household=household,
        )

    @staticmethod
    async def _addressee(tx: Transaction, ticket: Ticket) -> Person | None:
        """Whom the bot writes to about the case: its reporter, when the case names one and they may
        be written to about it (``disclosure``: the person it is about, not a volunteer who flagged
        someone else's household)."""
        person = await tx.people.get(ticket.reporter_id) if ticket.reporter_id is not None else None
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
