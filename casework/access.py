"""Who may do what to a ticket.

A worker acts only inside the areas they serve (an area covers everything below it); a volunteer
sees only the status of tickets they reported; a recipient only their own; supervisors act on every
ticket in their areas and admins everywhere.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from casework.domain import DomainError, Person, Referral, Role, Ticket


class Forbidden(DomainError):
    pass


class Operation(StrEnum):
    VIEW = "view"  # read the case details
    STATUS = "status"  # see reference, status and next step only
    CLAIM = "claim"
    NOTE = "note"
    VISIT = "visit"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    REFER = "refer"
    RESPOND_REFERRAL = "respond_referral"
    COMPLETE_REFERRAL = "complete_referral"
    ASSIGN = "assign"
    RATE = "rate"
    ACKNOWLEDGE = "acknowledge"  # "I'm on it" on a crisis alert


# What staff may do on a ticket outside their areas when a crisis on it was escalated to them.
ALERTED_MAY = frozenset({Operation.VIEW, Operation.STATUS, Operation.ACKNOWLEDGE})


WORKER_ROLES = frozenset({Role.SOCIAL_WORKER, Role.SUPERVISOR, Role.ADMIN})
# What the assigned worker may do that another worker of the area may not.
ASSIGNEE_ONLY = frozenset(
    {Operation.NOTE, Operation.VISIT, Operation.RESOLVE, Operation.CLOSE, Operation.REOPEN}
)


def covers(person: Person, area_chain: Collection[int]) -> bool:
    """True when one of the person's areas is the ticket's area or above it."""
    return bool(person.area_ids & set(area_chain))


def manages(actor: Person, area_chain: Collection[int]) -> bool:
    """Whether ``actor`` may set up the area whose chain this is (its workers' group, say): an admin
    anywhere, a supervisor when one of their areas is that area or above it (``covers``)."""
    if not actor.active:
        return False
    if actor.role is Role.ADMIN:
        return True
    return actor.role is Role.SUPERVISOR and covers(actor, area_chain)


def check(
    actor: Person,
    operation: Operation,
    ticket: Ticket,
    area_chain: Collection[int],
    referral: Referral | None = None,
    *,
    alerted: bool = False,
) -> None:
    """Raise ``Forbidden`` unless ``actor`` may perform ``operation`` on ``ticket``.

    ``area_chain`` is the ticket's area and every area above it; ``alerted`` says a crisis on the
    ticket was escalated to the actor (the on-call list reaches beyond one's areas).
    """
    if not actor.active:
        raise Forbidden("this account is not active")
    if operation is Operation.RATE:
        # Ratings measure the service from the side of the household that received it.
        if ticket.reporter_id == actor.id and actor.role is Role.RECIPIENT:
            return
        raise Forbidden("the household that was helped rates the service")
    if operation is Operation.RESPOND_REFERRAL:
        # Accepting moves the case to whoever accepts: nobody answers for the addressee.
        if referral is not None and _addressed_to(actor, referral):
            return
        raise Forbidden("this referral is not addressed to you")
    if operation is Operation.CLAIM and actor.role is not Role.SOCIAL_WORKER:
        raise Forbidden("social workers claim tickets; a supervisor assigns them")
    if actor.role is Role.ADMIN:
        return
    if operation is Operation.STATUS and ticket.reporter_id == actor.id:
        return
    if actor.role not in WORKER_ROLES:
        raise Forbidden("this ticket is not yours")
    if alerted and operation in ALERTED_MAY:
        return
    if actor.role is Role.SUPERVISOR:
        if covers(actor, area_chain):
            return
        raise Forbidden("this ticket is outside your areas")
    # A social worker.
    if operation is Operation.COMPLETE_REFERRAL:
        if referral is not None and _addressed_to(actor, referral):
            return
        raise Forbidden("this referral is not addressed to you")
    if operation is Operation.ASSIGN:
        raise Forbidden("only a supervisor assigns tickets")
    if ticket.assignee_id == actor.id or _holds_referral(actor, ticket):
        return  # the worker who has the case works it, wherever a referral brought it from
    if not covers(actor, area_chain):
        raise Forbidden("this ticket is outside your areas")
    if operation in ASSIGNEE_ONLY:
        raise Forbidden("only the worker who has this ticket can do that")
    if operation is Operation.REFER and ticket.assignee_id is not None:
        raise Forbidden("only the worker who has this ticket can refer it")


def _addressed_to(actor: Person, referral: Referral) -> bool:
    if referral.to_person_id == actor.id:
        return True
    return referral.to_organisation_id is not None and referral.to_organisation_id == actor.organisation_id


def _holds_referral(actor: Person, ticket: Ticket) -> bool:
    return ticket.organisation_id is not None and ticket.organisation_id == actor.organisation_id
