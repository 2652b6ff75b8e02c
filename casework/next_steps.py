"""What a person may do next on a case they are reading, in the order a worker looks for it.

The lifecycle says which steps the ticket's status allows, ``access`` whether this person may take them
on this case; this puts the two together with what the case itself holds (a referral waiting for an
answer, a person who can be reached, a household file with open goals). The chat's buttons and the web
console's come from here, so both offer the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from casework import lifecycle
from casework.access import Forbidden, Operation, check
from casework.conversation import CaseContact
from casework.domain import Person, Referral, ReferralStatus, Ticket, TicketStatus
from casework.lifecycle import allows
from casework.reading import TicketView


class NextStep(StrEnum):
    ACCEPT_REFERRAL = "accept_referral"  # on the pending referral
    DECLINE_REFERRAL = "decline_referral"  # on the pending referral
    CLAIM = "claim"
    NOTE = "note"
    VISITED = "visited"
    PROPOSE_VISIT = "propose_visit"
    REFER = "refer"
    COMPLETE = "complete"  # on the accepted referral: its outcome resolves the case
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    ASSIGN = "assign"
    SUPERVISE = "supervise"
    MESSAGE = "message"
    SHOW_PHONE = "show_phone"
    # The household's case file: read it; record an assessment, a goal, a review.
    FILE = "file"
    ASSESS = "assess"
    ADD_GOAL = "add_goal"
    REVIEW = "review"


@dataclass(frozen=True, slots=True)
class Offer:
    """A step offered, and what it is taken on: the ticket, or the referral it concerns."""

    step: NextStep
    subject_id: int


def may(
    person: Person, operation: Operation, ticket: Ticket, chain: list[int], referral: Referral | None = None
) -> bool:
    """Whether ``access`` lets ``person`` do ``operation`` on the ticket (of this area chain)."""
    try:
        check(person, operation, ticket, chain, referral)
    except Forbidden:
        return False
    return True


def offers(
    person: Person,
    view: TicketView,
    contact: CaseContact | None = None,
    *,
    file_kept: bool = False,
    open_goals: bool = False,
) -> list[Offer]:
    """The steps ``person`` may take now on the case ``view`` shows. ``contact`` is how the person can
    be reached, when the reader may know it; ``file_kept`` says the household's file holds something,
    ``open_goals`` that its plan has goals still open."""
    ticket = view.ticket
    chain = [area.id for area in view.area_path]
    pending = next((r for r in view.referrals if r.status is ReferralStatus.PENDING), None)
    under_way = any(r.status in (ReferralStatus.PENDING, ReferralStatus.ACCEPTED) for r in view.referrals)
    taken = next(
        (
            r
            for r in view.referrals
            if r.status is ReferralStatus.ACCEPTED
            and may(person, Operation.COMPLETE_REFERRAL, ticket, chain, r)
        ),
        None,
    )

    def can(step: lifecycle.Step) -> bool:  # the ticket's status allows it, and this person may
        return allows(step, ticket, person) and may(
            person, lifecycle.LIFECYCLE[step].operation, ticket, chain
        )

    life = lifecycle.Step
    found: list[Offer] = []

    def offer(step: NextStep, subject_id: int = ticket.id) -> None:
        found.append(Offer(step, subject_id))

    if pending is not None and may(person, Operation.RESPOND_REFERRAL, ticket, chain, pending):
        offer(NextStep.ACCEPT_REFERRAL, pending.id)
        offer(NextStep.DECLINE_REFERRAL, pending.id)
    if can(life.CLAIM) and ticket.assignee_id is None:
        offer(NextStep.CLAIM)
    if can(life.NOTE):
        offer(NextStep.NOTE)
    if can(life.VISIT) and ticket.visited_at is None:
        offer(NextStep.VISITED)
        if contact is not None and contact.reachable and not contact.anonymous:
            offer(NextStep.PROPOSE_VISIT)
    if can(life.REFER) and not under_way:
        offer(NextStep.REFER)
    if allows(life.COMPLETE, ticket, person) and taken is not None:
        offer(NextStep.COMPLETE, taken.id)
    elif can(life.RESOLVE):
        offer(NextStep.RESOLVE)
    if can(life.CLOSE):
        offer(NextStep.CLOSE)
    if can(life.REOPEN):
        offer(NextStep.REOPEN)
    if can(life.ASSIGN):
        offer(NextStep.ASSIGN)
    if can(life.SUPERVISE):
        offer(NextStep.SUPERVISE)
    if contact is not None and contact.reachable and ticket.status is not TicketStatus.CLOSED:
        offer(NextStep.MESSAGE)
    if contact is not None and contact.phone_masked:
        offer(NextStep.SHOW_PHONE)
    if file_kept:
        offer(NextStep.FILE)
    found += file_offers(person, ticket, chain, open_goals=open_goals)
    return found


def file_offers(person: Person, ticket: Ticket, chain: list[int], *, open_goals: bool) -> list[Offer]:
    """What ``person`` may record to the household's file now: the holder, while the case is open (the
    lifecycle's assess, plan and review)."""
    life = lifecycle.Step

    def can(step: lifecycle.Step) -> bool:
        return allows(step, ticket, person) and may(
            person, lifecycle.LIFECYCLE[step].operation, ticket, chain
        )

    found = []
    if can(life.ASSESS):
        found.append(Offer(NextStep.ASSESS, ticket.id))
    if can(life.PLAN):
        found.append(Offer(NextStep.ADD_GOAL, ticket.id))
    if can(life.REVIEW) and open_goals:
        found.append(Offer(NextStep.REVIEW, ticket.id))
    return found
