"""What each recipient may read about a ticket: one table, by alert kind and the recipient's relation
to the ticket. Every alert the casework queues passes through ``payload_for``, and the dialogs ask
``allowed`` before they tell someone about a case (a flag that joined a case already open, say).

The rule of thumb: workers and supervisors read what they need to act; the
person the ticket is about hears how their own case goes, never what staff wrote about it; a
volunteer sees the stage of a household they flagged, never the case (no outcome, notes, names or
words about the needs); someone the ticket does not name (an anonymous reporter, or one whose report
joined a case someone else opened) is told nothing about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from casework.domain import Person, Role, Ticket


class Relation(StrEnum):
    """Who the recipient is to the ticket."""

    SUBJECT = "subject"  # the person the ticket is about: it is their own report
    VOLUNTEER = "volunteer"  # a volunteer who flagged someone else's household
    ANONYMOUS = "anonymous"  # a reporter the ticket does not name: anonymous, or joined to another's case
    WORKER = "worker"  # a social worker, or a workers' group chat
    SUPERVISOR = "supervisor"  # a supervisor or an administrator
    EVALUATOR = "evaluator"  # a third-party evaluator: the reports, nothing of any case


class Part(StrEnum):
    """What an alert's payload can carry, in kinds that are allowed or refused together."""

    REFERENCE = "reference"  # which ticket: its id and reference
    STATUS = "status"  # the ticket's status
    SERVICE = "service"  # its service type and urgency
    AREA = "area"  # the area it is in
    NEEDS = "needs"  # words about the needs: the alert summary, the person's other tickets
    OUTCOME = "outcome"  # what a worker wrote was done
    NOTES = "notes"  # what staff wrote: referral and decline reasons
    NAMES = "names"  # who works the case: holder, acknowledger, referrer
    HANDLING = "handling"  # how staff route it: escalation reason and level, crisis step, edits
    CONTACT = "contact"  # whether the reporter agreed to be contacted
    DIGEST = "digest"  # a supervisor's report: an area's figures over a period, nobody's words
    FAILURE = "failure"  # which alert could not be delivered, and why
    MESSAGE = "message"  # a catalog message for the person themselves
    AGENCY = "agency"  # the agency a case was referred to, and whether it took the case up
    CONVERSATION = "conversation"  # the words a worker and the person write to each other, and the sender
    TASK = "task"  # a task a plan gave a volunteer: its words, due date and the household's address
    FILE = "file"  # what falls due on the household's case file: which assessment, since a crisis, when
    SUPERVISION = "supervision"  # a supervisor's review of the case: the scores and the comment
    IMPROVEMENT = "improvement"  # an improvement an evaluation asks of an agency: what, by when, who asks


# Where each part sits in a payload (``CaseworkCore.card`` and the extras of each alert).
TICKET_FIELDS: Mapping[str, Part] = {
    "id": Part.REFERENCE,
    "reference": Part.REFERENCE,
    "status": Part.STATUS,
    "service_type": Part.SERVICE,
    "urgency": Part.SERVICE,
    "area": Part.AREA,
    "area_en": Part.AREA,
    "summary": Part.NEEDS,
}
REFERRAL_FIELDS: Mapping[str, Part] = {
    "id": Part.HANDLING,
    "reason": Part.NOTES,
    "from": Part.NAMES,
    "by": Part.NAMES,
}
TOP_FIELDS: Mapping[str, Part] = {
    "reason": Part.HANDLING,
    "level": Part.HANDLING,
    "step": Part.HANDLING,
    "reach": Part.HANDLING,
    "edit_of": Part.HANDLING,
    "kept": Part.HANDLING,
    "agency": Part.AGENCY,
    "accepted": Part.AGENCY,
    "when": Part.CONVERSATION,
    "suits": Part.CONVERSATION,
    "linked": Part.NEEDS,
    "holder": Part.NAMES,
    "by": Part.NAMES,
    "outcome": Part.OUTCOME,
    "contact": Part.CONTACT,
    "report": Part.DIGEST,
    "failed": Part.FAILURE,
    "message_key": Part.MESSAGE,
    "words": Part.CONVERSATION,
    "sender": Part.CONVERSATION,
    "task": Part.TASK,
    "version": Part.FILE,
    "crisis": Part.FILE,
    "due": Part.FILE,
    "supervision": Part.SUPERVISION,
    "improvement": Part.IMPROVEMENT,
}
NESTED_FIELDS: Mapping[str, Mapping[str, Part]] = {"ticket": TICKET_FIELDS, "referral": REFERRAL_FIELDS}

NOTHING: frozenset[Part] = frozenset()
CASE = frozenset(
    {
        Part.REFERENCE,
        Part.STATUS,
        Part.SERVICE,
        Part.AREA,
        Part.NEEDS,
        Part.OUTCOME,
        Part.NOTES,
        Part.NAMES,
        Part.HANDLING,
    }
)
# How the reporter's own case goes, and whether they agreed to be contacted: never staff's words.
OWN_CASE = frozenset({Part.REFERENCE, Part.STATUS, Part.SERVICE, Part.AREA, Part.CONTACT})
STAGE = frozenset({Part.REFERENCE, Part.STATUS})  # which case and how far along it is, nothing else
STAFF_AS_REPORTER = frozenset({Part.REFERENCE, Part.STATUS, Part.SERVICE, Part.AREA})

_STAFF_ONLY = {
    Relation.SUBJECT: NOTHING,
    Relation.VOLUNTEER: NOTHING,
    Relation.ANONYMOUS: NOTHING,
    Relation.WORKER: CASE,
    Relation.SUPERVISOR: CASE,
}


def _staff_only_with(*parts: Part) -> Mapping[Relation, frozenset[Part]]:
    """As ``_STAFF_ONLY``, the case's workers and supervisors also told ``parts``."""
    told = CASE | set(parts)
    return {**_STAFF_ONLY, Relation.WORKER: told, Relation.SUPERVISOR: told}


_TO_REPORTER = {
    Relation.SUBJECT: OWN_CASE,
    Relation.VOLUNTEER: STAGE,
    Relation.ANONYMOUS: NOTHING,
    Relation.WORKER: STAFF_AS_REPORTER,
    Relation.SUPERVISOR: STAFF_AS_REPORTER,
}

# alert kind → relation → what it may carry. Nothing means the alert is not sent to that recipient.
_RULES: Mapping[str, Mapping[Relation, frozenset[Part]]] = {
    # staff's work on the case
    "ticket_opened": _STAFF_ONLY,
    "ticket_taken": _STAFF_ONLY,
    "ticket_escalated": _STAFF_ONLY,
    "ticket_assigned": _STAFF_ONLY,
    "crisis_alert": _STAFF_ONLY,
    "crisis_acknowledged": _STAFF_ONLY,
    "referral_requested": _STAFF_ONLY,
    "referral_accepted": _STAFF_ONLY,
    "referral_declined": _STAFF_ONLY,
    "referral_unattended": _STAFF_ONLY,
    "referral_completed": _STAFF_ONLY,  # the reporter hears ``case_resolved`` instead
    "home_visit_due": _STAFF_ONLY,
    "alert_undeliverable": {
        **_STAFF_ONLY,
        Relation.WORKER: NOTHING,
        Relation.SUPERVISOR: frozenset({Part.REFERENCE, Part.FAILURE}),
    },
    "weekly_digest": {**_STAFF_ONLY, Relation.WORKER: NOTHING, Relation.SUPERVISOR: frozenset({Part.DIGEST})},
    "monthly_report": {
        **_STAFF_ONLY,
        Relation.WORKER: NOTHING,
        Relation.SUPERVISOR: frozenset({Part.DIGEST}),
        Relation.EVALUATOR: frozenset({Part.DIGEST}),
    },
    # the reporter hears how the case goes
    "case_claimed": _TO_REPORTER,
    "case_acknowledged": _TO_REPORTER,
    "case_visited": _TO_REPORTER,
    # with the outcome in the plain words the worker chose for the person, if any
    "case_resolved": {**_TO_REPORTER, Relation.SUBJECT: OWN_CASE | {Part.CONVERSATION}},
    "case_closed": _TO_REPORTER,
    # only the household rates the service (``access.Operation.RATE``)
    "satisfaction_survey": {
        **_TO_REPORTER,
        Relation.VOLUNTEER: NOTHING,
        Relation.WORKER: NOTHING,
        Relation.SUPERVISOR: NOTHING,
    },
    # a report added to a case already open (what the flag flow may say of that case)
    "report_joined": _TO_REPORTER,
    # a message of the conversation for the person themselves
    "dialog_message": {relation: frozenset({Part.MESSAGE}) for relation in Relation},
    # the case conversation: a worker's words (and how they are signed) reach the person the case is
    # about under its reference, nothing more of the case; the person's words reach staff
    "case_message": {
        Relation.SUBJECT: frozenset({Part.REFERENCE, Part.CONVERSATION}),
        Relation.VOLUNTEER: NOTHING,  # the household is the subject, not whoever flagged it
        # an anonymous reporter who asked to be answered (``Conversation``: only they are written to)
        Relation.ANONYMOUS: frozenset({Part.REFERENCE, Part.CONVERSATION}),
        Relation.WORKER: STAFF_AS_REPORTER | {Part.CONVERSATION},
        Relation.SUPERVISOR: STAFF_AS_REPORTER | {Part.CONVERSATION},
    },
    # the person hears which agency their case went to and whether it took the case up (an agency is
    # no member of staff: its name is theirs to know); a volunteer hears nothing of where it went
    "case_referred": {
        **_TO_REPORTER,
        Relation.SUBJECT: OWN_CASE | {Part.AGENCY},
        Relation.VOLUNTEER: NOTHING,
    },
    "case_referral_answered": {
        **_TO_REPORTER,
        Relation.SUBJECT: OWN_CASE | {Part.AGENCY},
        Relation.VOLUNTEER: NOTHING,
    },
    # a home visit's time, proposed to the person the case is about and answered by them
    "visit_proposed": {
        Relation.SUBJECT: frozenset({Part.REFERENCE, Part.CONVERSATION}),
        Relation.VOLUNTEER: NOTHING,
        Relation.ANONYMOUS: NOTHING,
        Relation.WORKER: STAFF_AS_REPORTER | {Part.CONVERSATION},
        Relation.SUPERVISOR: STAFF_AS_REPORTER | {Part.CONVERSATION},
    },
    "visit_answered": _staff_only_with(Part.CONVERSATION),
    "reporter_erased": _STAFF_ONLY,
    # the household's case file falls due: for whoever answers for the case
    "reassessment_due": _staff_only_with(Part.FILE),
    "review_due": _staff_only_with(Part.FILE),
    # a volunteer's task: what, by when, where, and nothing of the case around it (it is sent about no
    # ticket, so the volunteer's relation is "anonymous" unless they flagged the household)
    "task_given": {
        Relation.SUBJECT: NOTHING,
        Relation.VOLUNTEER: frozenset({Part.TASK}),
        Relation.ANONYMOUS: frozenset({Part.TASK}),
        Relation.WORKER: NOTHING,
        Relation.SUPERVISOR: NOTHING,
    },
    # an improvement asked of an agency, for its staff (it is about no ticket)
    "improvement_raised": {
        **_STAFF_ONLY,
        Relation.WORKER: frozenset({Part.IMPROVEMENT}),
        Relation.SUPERVISOR: NOTHING,
    },
    # a supervisor's review of a finished case, for the worker who had it
    "case_supervised": _staff_only_with(Part.SUPERVISION, Part.NAMES),
    "task_done": _staff_only_with(Part.TASK),
    "case_reply": _staff_only_with(Part.CONVERSATION),
}
# An evaluator is sent what a rule names for them (the monthly report), nothing of any case.
DISCLOSURE: Mapping[str, Mapping[Relation, frozenset[Part]]] = {
    kind: {Relation.EVALUATOR: NOTHING, **rule} for kind, rule in _RULES.items()
}
KINDS = frozenset(DISCLOSURE)


def relation_to(person: Person | None, ticket: Ticket | None) -> Relation:
    """The recipient's relation to the ticket; ``None`` for a chat with no person (a workers' group)."""
    if person is None or person.role is Role.SOCIAL_WORKER:
        return Relation.WORKER
    if person.role in (Role.SUPERVISOR, Role.ADMIN):
        return Relation.SUPERVISOR
    if person.role is Role.EVALUATOR:
        return Relation.EVALUATOR
    if ticket is None or ticket.reporter_id != person.id:
        return Relation.ANONYMOUS
    return Relation.VOLUNTEER if person.role is Role.VOLUNTEER else Relation.SUBJECT


def allowed(kind: str, relation: Relation) -> frozenset[Part]:
    """What an alert of ``kind`` may carry to a recipient in ``relation``; nothing: it is not sent."""
    try:
        return DISCLOSURE[kind][relation]
    except KeyError:
        raise ValueError(f"no disclosure rule for alert kind {kind!r}") from None


def payload_for(kind: str, relation: Relation, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The payload cut to what the recipient may read, or None when they get no such alert.

    Fields the table does not know are left out, so a new field reaches nobody until it is given a part.
    """
    parts = allowed(kind, relation)
    if not parts:
        return None
    kept: dict[str, Any] = {"event": kind, "audience": relation.value}
    for key, value in payload.items():
        nested = NESTED_FIELDS.get(key)
        if nested is not None:
            if value is None:  # says only that there is none (an alert about no ticket)
                kept[key] = None
            elif isinstance(value, Mapping):
                inner = {name: item for name, item in value.items() if nested.get(name) in parts}
                if inner:
                    kept[key] = inner
        elif TOP_FIELDS.get(key) in parts:
            kept[key] = value
    return kept
