"""Who may do what to a ticket.

A worker acts only inside the areas they serve (an area covers everything below it); a volunteer
sees only the status of tickets they reported; a recipient only their own; supervisors act on every
ticket in their areas and admins everywhere.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from casework.domain import WORKER_ROLES, DomainError, Person, Referral, Refusal, Role, Ticket


class Forbidden(DomainError):
    """The actor may not do this (their role, their areas, the case not being theirs)."""


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
    MESSAGE = "message"  # write to the person through the bot
    CONTACT = "contact"  # see how to reach the person (their phone in full)
    ASSESS = "assess"  # record to the household's case file: an assessment, the plan, a review
    READ_FILE = "read_file"  # read the case file: the assessments (sensitive answers too) and the plan
    READ_PLAN = "read_plan"  # the plan's goals in plain words: the household follows its own plan
    TASK = "task"  # a volunteer's task from the plan: see it, with the household's address; mark it done
    SUPERVISE = "supervise"  # review a finished case against the supervision rubric (督导)


# What staff may do on a ticket outside their areas when a crisis on it was escalated to them.
ALERTED_MAY = frozenset({Operation.VIEW, Operation.STATUS, Operation.ACKNOWLEDGE})


# What the assigned worker may do that another worker of the area may not.
ASSIGNEE_ONLY = frozenset(
    {
        Operation.NOTE,
        Operation.VISIT,
        Operation.RESOLVE,
        Operation.CLOSE,
        Operation.REOPEN,
        Operation.MESSAGE,
        Operation.CONTACT,
        Operation.ASSESS,
    }
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
    task_owner_id: int | None = None,
) -> None:
    """Raise ``Forbidden`` unless ``actor`` may perform ``operation`` on ``ticket``.

    ``area_chain`` is the ticket's area and every area above it; ``alerted`` says a crisis on the
    ticket was escalated to the actor (the on-call list reaches beyond one's areas); ``task_owner_id``
    is whom the plan's task in question was given to (``Operation.TASK``).
    """
    if not actor.active:
        raise Forbidden(Refusal.ACCOUNT_INACTIVE)
    if operation is Operation.TASK:
        # A task is its volunteer's alone: the task and the address, never the case around it.
        if task_owner_id is not None and task_owner_id == actor.id:
            return
        raise Forbidden(Refusal.TASK_NOT_YOURS)
    if operation is Operation.READ_PLAN and ticket.reporter_id == actor.id and actor.role is Role.RECIPIENT:
        return  # the household follows its own plan (not whoever flagged it)
    if operation is Operation.RATE:
        # Ratings measure the service from the side of the household that received it.
        if ticket.reporter_id == actor.id and actor.role is Role.RECIPIENT:
            return
        raise Forbidden(Refusal.RATE_HOUSEHOLD_ONLY)
    if operation is Operation.RESPOND_REFERRAL:
        # Accepting moves the case to whoever accepts: nobody answers for the addressee.
        if referral is not None and _addressed_to(actor, referral):
            return
        raise Forbidden(Refusal.REFERRAL_NOT_ADDRESSED)
    if operation is Operation.CLAIM and actor.role is not Role.SOCIAL_WORKER:
        raise Forbidden(Refusal.CLAIM_SOCIAL_WORKERS_ONLY)
    if operation is Operation.SUPERVISE and actor.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden(Refusal.SUPERVISION_SUPERVISORS_ONLY)
    if actor.role is Role.ADMIN:
        return
    if operation is Operation.STATUS and ticket.reporter_id == actor.id:
        return
    if actor.role not in WORKER_ROLES:
        raise Forbidden(Refusal.TICKET_NOT_YOURS)
    if alerted and operation in ALERTED_MAY:
        return
    if actor.role is Role.SUPERVISOR:
        if covers(actor, area_chain):
            return
        raise Forbidden(Refusal.TICKET_OUTSIDE_AREAS)
    # A social worker.
    if operation is Operation.COMPLETE_REFERRAL:
        if referral is not None and _addressed_to(actor, referral):
            return
        raise Forbidden(Refusal.REFERRAL_NOT_ADDRESSED)
    if operation is Operation.ASSIGN:
        raise Forbidden(Refusal.ASSIGN_SUPERVISOR_ONLY)
    if ticket.assignee_id == actor.id or _holds_referral(actor, ticket):
        return  # the worker who has the case works it, wherever a referral brought it from
    if not covers(actor, area_chain):
        raise Forbidden(Refusal.TICKET_OUTSIDE_AREAS)
    if operation in ASSIGNEE_ONLY:
        raise Forbidden(Refusal.TICKET_ASSIGNEE_ONLY)
    if operation is Operation.REFER and ticket.assignee_id is not None:
        raise Forbidden(Refusal.REFER_ASSIGNEE_ONLY)


def _addressed_to(actor: Person, referral: Referral) -> bool:
    if referral.to_person_id == actor.id:
        return True
    return referral.to_organisation_id is not None and referral.to_organisation_id == actor.organisation_id


def _holds_referral(actor: Person, ticket: Ticket) -> bool:
    return ticket.organisation_id is not None and ticket.organisation_id == actor.organisation_id
