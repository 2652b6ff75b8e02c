"""The life of a ticket in one table.

For each step a case can take (claim, assign, note, visit, refer, accept, decline, return, complete,
resolve, close, reopen, the case file's assess, plan and review, and a supervisor's review of a
finished case), the statuses it may start from, the status it leaves the ticket in, the event it
writes to the ticket's trail and who may take it.
``Casework`` applies the table; the worker's buttons come from it (``allows``);
``tests/test_lifecycle.py`` walks it against both. Whether a person may act on this particular case
(their areas, the case being theirs) is ``casework.access``'s to say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from casework.access import Operation
from casework.domain import OPEN_STATUSES, WORKER_ROLES, Person, Role, Ticket, TicketAction, TicketStatus


class Step(StrEnum):
    CLAIM = "claim"
    ASSIGN = "assign"
    NOTE = "note"
    VISIT = "visit"
    REFER = "refer"
    ACCEPT = "accept"  # a worker takes a case referred to them over
    ACCEPT_FOR_AGENCY = "accept_for_agency"  # an agency works it; the referring worker still manages it
    DECLINE = "decline"  # a referral from the queue declined: back to the queue
    RETURN = "return"  # a referral declined: back to the worker who had the case and referred it
    COMPLETE = "complete"  # the referral's outcome resolves the case
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    # The household's case file, kept while the case is open.
    ASSESS = "assess"
    PLAN = "plan"  # a goal of the service plan set, or its status changed
    REVIEW = "review"
    # Supervision (督导): a supervisor reviews a finished case against a short rubric.
    SUPERVISE = "supervise"


@dataclass(frozen=True, slots=True)
class Move:
    operation: Operation  # the access rule that applies too
    starts_from: frozenset[TicketStatus]
    leaves: TicketStatus | None  # None: the status stays (but see ``WORK_BEGINS``)
    event: TicketAction  # what the trail records
    roles: frozenset[Role]
    supervisors_also_from: frozenset[TicketStatus] = frozenset()  # a supervisor's or admin's further statuses


SUPERVISING = frozenset({Role.SUPERVISOR, Role.ADMIN})
WORKING = frozenset({TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS, TicketStatus.REOPENED})
FINISHED = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})
# A note, a home visit or a record to the case file on a case just assigned means work on it has begun.
WORK_BEGINS: Mapping[TicketStatus, TicketStatus] = MappingProxyType(
    {TicketStatus.ASSIGNED: TicketStatus.IN_PROGRESS}
)

_S = TicketStatus
LIFECYCLE: Mapping[Step, Move] = MappingProxyType(
    {
        Step.CLAIM: Move(
            Operation.CLAIM,
            frozenset({_S.NEW, _S.REOPENED}),
            _S.ASSIGNED,
            TicketAction.CLAIMED,
            frozenset({Role.SOCIAL_WORKER}),
        ),
        # "reassigned" on the trail when the case had a worker already.
        Step.ASSIGN: Move(Operation.ASSIGN, OPEN_STATUSES, _S.ASSIGNED, TicketAction.ASSIGNED, SUPERVISING),
        Step.NOTE: Move(Operation.NOTE, OPEN_STATUSES, None, TicketAction.NOTE, WORKER_ROLES),
        Step.VISIT: Move(Operation.VISIT, OPEN_STATUSES, None, TicketAction.VISITED, WORKER_ROLES),
        Step.REFER: Move(Operation.REFER, OPEN_STATUSES, _S.REFERRED, TicketAction.REFERRED, WORKER_ROLES),
        Step.ACCEPT: Move(
            Operation.RESPOND_REFERRAL,
            frozenset({_S.REFERRED}),
            _S.ASSIGNED,
            TicketAction.REFERRAL_ACCEPTED,
            WORKER_ROLES,
        ),
        Step.ACCEPT_FOR_AGENCY: Move(
            Operation.RESPOND_REFERRAL,
            frozenset({_S.REFERRED}),
            _S.REFERRED,
            TicketAction.REFERRAL_ACCEPTED,
            WORKER_ROLES,
        ),
        Step.DECLINE: Move(
            Operation.RESPOND_REFERRAL,
            frozenset({_S.REFERRED}),
            _S.NEW,
            TicketAction.REFERRAL_DECLINED,
            WORKER_ROLES,
        ),
        Step.RETURN: Move(
            Operation.RESPOND_REFERRAL,
            frozenset({_S.REFERRED}),
            _S.ASSIGNED,
            TicketAction.REFERRAL_DECLINED,
            WORKER_ROLES,
        ),
        Step.COMPLETE: Move(
            Operation.COMPLETE_REFERRAL,
            WORKING | {_S.REFERRED},
            _S.RESOLVED,
            TicketAction.REFERRAL_COMPLETED,
            WORKER_ROLES,
        ),
        Step.RESOLVE: Move(
            Operation.RESOLVE, WORKING | {_S.REFERRED}, _S.RESOLVED, TicketAction.RESOLVED, WORKER_ROLES
        ),
        # A supervisor may also close a case still open (a duplicate, say).
        Step.CLOSE: Move(
            Operation.CLOSE,
            frozenset({_S.RESOLVED}),
            _S.CLOSED,
            TicketAction.CLOSED,
            WORKER_ROLES,
            supervisors_also_from=OPEN_STATUSES,
        ),
        Step.REOPEN: Move(Operation.REOPEN, FINISHED, _S.REOPENED, TicketAction.REOPENED, WORKER_ROLES),
        Step.ASSESS: Move(Operation.ASSESS, OPEN_STATUSES, None, TicketAction.ASSESSED, WORKER_ROLES),
        Step.PLAN: Move(Operation.ASSESS, OPEN_STATUSES, None, TicketAction.GOAL_SET, WORKER_ROLES),
        Step.REVIEW: Move(Operation.ASSESS, OPEN_STATUSES, None, TicketAction.REVIEWED, WORKER_ROLES),
        Step.SUPERVISE: Move(Operation.SUPERVISE, FINISHED, None, TicketAction.SUPERVISED, SUPERVISING),
    }
)


def starts_from(step: Step, actor: Person) -> frozenset[TicketStatus]:
    """The statuses ``actor`` may take ``step`` from (none when their role may not take it)."""
    move = LIFECYCLE[step]
    if actor.role not in move.roles:
        return frozenset()
    if actor.role in SUPERVISING:
        return move.starts_from | move.supervisors_also_from
    return move.starts_from


def allows(step: Step, ticket: Ticket, actor: Person) -> bool:
    """Whether the ticket's status lets ``actor`` take ``step`` now."""
    return ticket.status in starts_from(step, actor)
