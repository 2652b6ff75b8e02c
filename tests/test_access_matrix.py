"""The authorisation matrix: every role x every operation x the relationships that matter.

``MATRIX`` below is the whole policy, written down as a social-work service needs it (the roles in
ARCHITECTURE.md, the rules in ``casework/access.py``'s docstring). Each cell is one test case, with an id
such as ``social_worker-outside_area-claim-forbidden``.

The principles the table follows:

- an inactive account does nothing at all, whatever its role;
- the person who reported a need may follow its status; only the household (a recipient) rates the
  service: not the volunteer, worker, supervisor or admin who reported it on the household's behalf,
  and never staff who did not report it (the satisfaction figures are the household's voice);
- a social worker acts inside the areas they serve (an area covers everything below it); working the
  case (note, visit, resolve, close, reopen) and talking with the person (message, and contact: their
  phone in full) is for the worker who holds it; holding a case - however
  it came to the worker, a referral from another area included - lets the worker see it and work it,
  and a case an agency accepted on referral is held by that agency, so its workers work it too
  (claiming a case one already holds changes nothing, so it is not refused);
- a referral is answered and completed by the worker or agency it is addressed to;
- staff a crisis was escalated to outside their areas (the on-call list) may read it and say they are
  on it ("ack"), nothing more;
- only social workers hold cases (``assign`` gives tickets to active social workers only), so a
  supervisor or admin neither claims a ticket nor accepts a referral addressed to someone else (which
  would move the case to them); otherwise supervisors act on every ticket in their areas, admins
  everywhere;
- a finished case is reviewed against the supervision rubric (督导) by a supervisor of its areas or
  an admin, never by a social worker, the one who had it included.

Rows marked ``# the code disagrees`` are where ``casework.access.check`` does otherwise today; those
cases fail until the rule is settled.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from casework.access import Forbidden, Operation, check, covers
from casework.domain import (
    Channel,
    Identity,
    Person,
    Referral,
    ReferralStatus,
    Role,
    ServiceType,
    Ticket,
    TicketStatus,
    Urgency,
)

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)

# The ticket's area chain: its community, then the street above, then the district above that.
DISTRICT = 10
STREET = 20
COMMUNITY = 30
AREA_CHAIN = (COMMUNITY, STREET, DISTRICT)
SIBLING_COMMUNITY = 31  # same street, another community: does not cover the ticket
OTHER_DISTRICT = 11  # unrelated

ACTOR = 1  # the person acting in every case
OTHER_WORKER = 2  # a colleague who may hold the ticket or have sent the referral
OTHER_REPORTER = 3  # whoever reported the need when the actor did not
REFERRAL_TARGET = 4  # the worker a referral is addressed to when it is not the actor
TASK_VOLUNTEER = 5  # the volunteer the household's plan gave a task to when it is not the actor
AGENCY = 70  # the actor's organisation
OTHER_AGENCY = 71

COLUMNS = {
    "view": Operation.VIEW,
    "status": Operation.STATUS,
    "claim": Operation.CLAIM,
    "note": Operation.NOTE,
    "visit": Operation.VISIT,
    "resolve": Operation.RESOLVE,
    "close": Operation.CLOSE,
    "reopen": Operation.REOPEN,
    "refer": Operation.REFER,
    "respond": Operation.RESPOND_REFERRAL,
    "complete": Operation.COMPLETE_REFERRAL,
    "assign": Operation.ASSIGN,
    "rate": Operation.RATE,
    "ack": Operation.ACKNOWLEDGE,
    "message": Operation.MESSAGE,
    "contact": Operation.CONTACT,
    "assess": Operation.ASSESS,
    "read_file": Operation.READ_FILE,
    "read_plan": Operation.READ_PLAN,
    "task": Operation.TASK,
    "supervise": Operation.SUPERVISE,
}

# yes = allowed, no = forbidden. The situations are defined in SITUATIONS below.
MATRIX = """
                        view status claim note visit resolve close reopen refer respond complete assign rate ack message contact assess read_file read_plan task supervise
recipient
  reporter              no   yes    no    no   no    no      no    no     no    no      no       no     yes  no  no      no      no     no        yes       no  no
  not_reporter          no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
  inactive_reporter     no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
volunteer
  task_holder           no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        yes  no
  inactive_task_holder  no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
  reporter              no   yes    no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
  not_reporter          no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
  inactive_reporter     no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
social_worker
  in_community          yes  yes    yes   no   no    no      no    no     yes   no      no       no     no   yes no      no      no     yes       yes       no  no
  in_street             yes  yes    yes   no   no    no      no    no     yes   no      no       no     no   yes no      no      no     yes       yes       no  no
  in_district           yes  yes    yes   no   no    no      no    no     yes   no      no       no     no   yes no      no      no     yes       yes       no  no
  outside_area          no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
  assignee              yes  yes    yes   yes  yes   yes     yes   yes    yes   no      no       no     no   yes yes     yes     yes    yes       yes       no  no
  other_assignee        yes  yes    yes   no   no    no      no    no     no    no      no       no     no   yes no      no      no     yes       yes       no  no
  outside_area_assignee yes  yes    yes   yes  yes   yes     yes   yes    yes   no      no       no     no   yes yes     yes     yes    yes       yes       no  no
  outside_area_org_case yes  yes    yes   yes  yes   yes     yes   yes    yes   yes     yes      no     no   yes yes     yes     yes    yes       yes       no  no
  referral_to_me        no   no     no    no   no    no      no    no     no    yes     yes      no     no   no  no      no      no     no        no        no  no
  referral_to_my_org    no   no     no    no   no    no      no    no     no    yes     yes      no     no   no  no      no      no     no        no        no  no
  referral_to_other_org yes  yes    yes   no   no    no      no    no     yes   no      no       no     no   yes no      no      no     yes       yes       no  no
  # the code disagrees: it lets a worker who reported a household rate the service
  outside_area_reporter no   yes    no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
  unaffiliated          yes  yes    yes   no   no    no      no    no     yes   no      no       no     no   yes no      no      no     yes       yes       no  no
  unaffiliated_outside  no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
  inactive_assignee     no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
  alerted_outside_area  yes  yes    no    no   no    no      no    no     no    no      no       no     no   yes no      no      no     no        no        no  no
supervisor
  # the code disagrees on claim and respond (in these three rows): it lets a supervisor take the case
  in_community          yes  yes    no    yes  yes   yes     yes   yes    yes   no      yes      yes    no   yes yes     yes     yes    yes       yes       no  yes
  in_street             yes  yes    no    yes  yes   yes     yes   yes    yes   no      yes      yes    no   yes yes     yes     yes    yes       yes       no  yes
  in_district           yes  yes    no    yes  yes   yes     yes   yes    yes   no      yes      yes    no   yes yes     yes     yes    yes       yes       no  yes
  outside_area          no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
  # the code disagrees on claim
  referral_to_my_org    yes  yes    no    yes  yes   yes     yes   yes    yes   yes     yes      yes    no   yes yes     yes     yes    yes       yes       no  yes
  # the code disagrees on rate
  outside_area_reporter no   yes    no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
  inactive              no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
  alerted_outside_area  yes  yes    no    no   no    no      no    no     no    no      no       no     no   yes no      no      no     no        no        no  no
evaluator
  # a third-party evaluator reads the evaluation of its areas (casework.indicators), never a case
  in_district           no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no   no
  reporter              no   yes    no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no   no
admin
  # the code disagrees on claim, respond and rate (in both rows): it allows an admin everything
  no_areas              yes  yes    no    yes  yes   yes     yes   yes    yes   no      yes      yes    no   yes yes     yes     yes    yes       yes       no  yes
  reporter              yes  yes    no    yes  yes   yes     yes   yes    yes   no      yes      yes    no   yes yes     yes     yes    yes       yes       no  yes
  inactive              no   no     no    no   no    no      no    no     no    no      no       no     no   no  no      no      no     no        no        no  no
"""


@dataclass(frozen=True, slots=True)
class Situation:
    """How the actor stands to the ticket and to the referral on it."""

    areas: frozenset[int] = frozenset()
    organisation: int | None = None  # the actor's agency
    reporter: bool = False  # the actor reported the need
    assignee: int | None = None  # who holds the ticket
    ticket_organisation: int | None = None  # the agency that accepted a referral of the ticket
    referred_to_person: int | None = REFERRAL_TARGET  # the referral answered/completed in those columns
    referred_to_organisation: int | None = None
    active: bool = True
    alerted: bool = False  # a crisis on the ticket was escalated to the actor (on call, say)
    task_owner: bool = False  # the household's plan gave the actor a task (every plan here has one)


IN_COMMUNITY = frozenset({COMMUNITY})
IN_STREET = frozenset({STREET})
IN_DISTRICT = frozenset({DISTRICT})
OUTSIDE = frozenset({SIBLING_COMMUNITY, OTHER_DISTRICT})

SITUATIONS: dict[tuple[Role, str], Situation] = {
    # A recipient is the household; a volunteer flags a household on its behalf.
    (Role.RECIPIENT, "reporter"): Situation(reporter=True),
    (Role.RECIPIENT, "not_reporter"): Situation(),
    (Role.RECIPIENT, "inactive_reporter"): Situation(reporter=True, active=False),
    # A volunteer the household's plan gave a task to (a visit, accompanying someone), who did not report it.
    (Role.VOLUNTEER, "task_holder"): Situation(areas=IN_COMMUNITY, task_owner=True),
    (Role.VOLUNTEER, "inactive_task_holder"): Situation(areas=IN_COMMUNITY, task_owner=True, active=False),
    (Role.VOLUNTEER, "reporter"): Situation(areas=IN_COMMUNITY, reporter=True),
    (Role.VOLUNTEER, "not_reporter"): Situation(areas=IN_COMMUNITY),
    (Role.VOLUNTEER, "inactive_reporter"): Situation(areas=IN_COMMUNITY, reporter=True, active=False),
    # Social workers: an unassigned ticket unless said otherwise; the referral is to someone else.
    (Role.SOCIAL_WORKER, "in_community"): Situation(areas=IN_COMMUNITY, organisation=AGENCY),
    (Role.SOCIAL_WORKER, "in_street"): Situation(areas=IN_STREET, organisation=AGENCY),
    (Role.SOCIAL_WORKER, "in_district"): Situation(areas=IN_DISTRICT, organisation=AGENCY),
    (Role.SOCIAL_WORKER, "outside_area"): Situation(areas=OUTSIDE, organisation=AGENCY),
    # On the on-call list, say: a crisis outside one's areas was escalated to one.
    (Role.SOCIAL_WORKER, "alerted_outside_area"): Situation(areas=OUTSIDE, organisation=AGENCY, alerted=True),
    (Role.SOCIAL_WORKER, "assignee"): Situation(areas=IN_COMMUNITY, organisation=AGENCY, assignee=ACTOR),
    (Role.SOCIAL_WORKER, "other_assignee"): Situation(
        areas=IN_COMMUNITY, organisation=AGENCY, assignee=OTHER_WORKER
    ),
    # Holds the case from outside its area: accepted a referral from a worker of another area.
    (Role.SOCIAL_WORKER, "outside_area_assignee"): Situation(
        areas=OUTSIDE, organisation=AGENCY, assignee=ACTOR
    ),
    # The worker's agency accepted a referral of the case (the referring worker still holds it).
    (Role.SOCIAL_WORKER, "outside_area_org_case"): Situation(
        areas=OUTSIDE,
        organisation=AGENCY,
        assignee=OTHER_WORKER,
        ticket_organisation=AGENCY,
        referred_to_person=None,
        referred_to_organisation=AGENCY,
    ),
    # A referral from another area waits for this worker's (or agency's) answer.
    (Role.SOCIAL_WORKER, "referral_to_me"): Situation(
        areas=OUTSIDE, organisation=AGENCY, assignee=OTHER_WORKER, referred_to_person=ACTOR
    ),
    (Role.SOCIAL_WORKER, "referral_to_my_org"): Situation(
        areas=OUTSIDE,
        organisation=AGENCY,
        assignee=OTHER_WORKER,
        referred_to_person=None,
        referred_to_organisation=AGENCY,
    ),
    # In the area, but the referral went to another agency.
    (Role.SOCIAL_WORKER, "referral_to_other_org"): Situation(
        areas=IN_COMMUNITY,
        organisation=AGENCY,
        referred_to_person=None,
        referred_to_organisation=OTHER_AGENCY,
    ),
    # Flagged a household in another area, as a volunteer would.
    (Role.SOCIAL_WORKER, "outside_area_reporter"): Situation(
        areas=OUTSIDE, organisation=AGENCY, reporter=True
    ),
    # No agency, on a ticket no agency holds, with a referral to a person: "no agency" matches nothing.
    (Role.SOCIAL_WORKER, "unaffiliated"): Situation(areas=IN_COMMUNITY),
    (Role.SOCIAL_WORKER, "unaffiliated_outside"): Situation(areas=OUTSIDE),
    (Role.SOCIAL_WORKER, "inactive_assignee"): Situation(
        areas=IN_COMMUNITY, organisation=AGENCY, assignee=ACTOR, referred_to_person=ACTOR, active=False
    ),
    # Supervisors: the ticket is held by a worker; the referral is to someone else.
    (Role.SUPERVISOR, "in_community"): Situation(areas=IN_COMMUNITY, assignee=OTHER_WORKER),
    (Role.SUPERVISOR, "in_street"): Situation(areas=IN_STREET, assignee=OTHER_WORKER),
    (Role.SUPERVISOR, "in_district"): Situation(areas=IN_DISTRICT, assignee=OTHER_WORKER),
    (Role.SUPERVISOR, "outside_area"): Situation(areas=OUTSIDE, assignee=OTHER_WORKER),
    (Role.SUPERVISOR, "alerted_outside_area"): Situation(areas=OUTSIDE, alerted=True),
    (Role.SUPERVISOR, "referral_to_my_org"): Situation(
        areas=IN_DISTRICT,
        organisation=AGENCY,
        assignee=OTHER_WORKER,
        referred_to_person=None,
        referred_to_organisation=AGENCY,
    ),
    (Role.SUPERVISOR, "outside_area_reporter"): Situation(areas=OUTSIDE, reporter=True),
    (Role.SUPERVISOR, "inactive"): Situation(areas=IN_DISTRICT, assignee=OTHER_WORKER, active=False),
    # Evaluators are given areas to evaluate, not cases.
    (Role.EVALUATOR, "in_district"): Situation(areas=IN_DISTRICT, assignee=OTHER_WORKER),
    (Role.EVALUATOR, "reporter"): Situation(areas=IN_DISTRICT, assignee=OTHER_WORKER, reporter=True),
    # Admins serve no area of their own.
    (Role.ADMIN, "no_areas"): Situation(assignee=OTHER_WORKER),
    (Role.ADMIN, "reporter"): Situation(assignee=OTHER_WORKER, reporter=True),
    (Role.ADMIN, "inactive"): Situation(assignee=OTHER_WORKER, reporter=True, active=False),
}


@dataclass(frozen=True, slots=True)
class Case:
    role: Role
    situation: str
    operation: Operation
    allowed: bool

    @property
    def id(self) -> str:
        outcome = "allowed" if self.allowed else "forbidden"
        return f"{self.role.value}-{self.situation}-{self.operation.value}-{outcome}"


def parse_matrix(text: str) -> list[Case]:
    lines = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    header, rows = lines[0].split(), lines[1:]
    assert header == list(COLUMNS), header
    cases: list[Case] = []
    role: Role | None = None
    for line in rows:
        cells = line.split()
        if len(cells) == 1:
            role = Role(cells[0])
            continue
        assert role is not None, line
        assert len(cells) == 1 + len(header), line
        name, marks = cells[0], cells[1:]
        assert set(marks) <= {"yes", "no"}, line
        cases.extend(
            Case(role, name, COLUMNS[column], mark == "yes")
            for column, mark in zip(header, marks, strict=True)
        )
    return cases


CASES = parse_matrix(MATRIX)


def person(role: Role, situation: Situation) -> Person:
    return Person(
        id=ACTOR,
        display_name=f"the {role.value}",
        language="zh",
        role=role,
        organisation_id=situation.organisation,
        area_ids=situation.areas,
        service_types=frozenset(ServiceType) if role is Role.SOCIAL_WORKER else frozenset(),
        active=situation.active,
        phone=None,
        created_at=NOW,
        identities=(Identity(Channel.CONSOLE, "900001"),),
    )


def ticket(situation: Situation) -> Ticket:
    return Ticket(
        id=500,
        reference="20261129-0001",
        service_type=ServiceType.RESOURCE_LINKING,
        urgency=Urgency.NORMAL,
        status=TicketStatus.NEW if situation.assignee is None else TicketStatus.IN_PROGRESS,
        area_id=COMMUNITY,
        household_id=600,
        reporter_id=ACTOR if situation.reporter else OTHER_REPORTER,
        assignee_id=situation.assignee,
        organisation_id=situation.ticket_organisation,
        summary="an elder living alone cannot pay for heating",
        outcome=None,
        claim_deadline=None,
        resolve_deadline=None,
        created_at=NOW,
        updated_at=NOW,
    )


def referral(situation: Situation) -> Referral:
    return Referral(
        id=700,
        ticket_id=500,
        from_person_id=OTHER_WORKER,
        to_person_id=situation.referred_to_person,
        to_organisation_id=situation.referred_to_organisation,
        status=ReferralStatus.PENDING,
        reason="needs the heating allowance from the street office",
        outcome=None,
        created_at=NOW,
        responded_at=None,
        completed_at=None,
    )


def test_the_matrix_covers_every_role_and_operation() -> None:
    assert set(COLUMNS.values()) == set(Operation)
    assert {case.role for case in CASES} == set(Role)
    rows = {(case.role, case.situation) for case in CASES}
    assert rows == set(SITUATIONS)
    assert len(CASES) == len(rows) * len(Operation)
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_access_matrix(case: Case) -> None:
    situation = SITUATIONS[(case.role, case.situation)]
    on_referral = case.operation in (Operation.RESPOND_REFERRAL, Operation.COMPLETE_REFERRAL)
    arguments = (
        person(case.role, situation),
        case.operation,
        ticket(situation),
        list(AREA_CHAIN),
        referral(situation) if on_referral else None,  # what the service passes
    )
    # The task in the "task" column: the actor's, or another volunteer's.
    task_owner_id = ACTOR if situation.task_owner else TASK_VOLUNTEER
    if case.allowed:
        check(*arguments, alerted=situation.alerted, task_owner_id=task_owner_id)
    else:
        with pytest.raises(Forbidden):
            check(*arguments, alerted=situation.alerted, task_owner_id=task_owner_id)


@pytest.mark.parametrize(
    ("areas", "chain", "expected"),
    [
        pytest.param({COMMUNITY}, AREA_CHAIN, True, id="community_worker-community_ticket-covers"),
        pytest.param({STREET}, AREA_CHAIN, True, id="street_worker-community_ticket-covers"),
        pytest.param({DISTRICT}, AREA_CHAIN, True, id="district_worker-community_ticket-covers"),
        pytest.param({STREET}, (STREET, DISTRICT), True, id="street_worker-street_ticket-covers"),
        pytest.param({OTHER_DISTRICT, STREET}, AREA_CHAIN, True, id="one_of_several_areas-covers"),
        pytest.param({SIBLING_COMMUNITY}, AREA_CHAIN, False, id="sibling_community-does_not_cover"),
        pytest.param({OTHER_DISTRICT}, AREA_CHAIN, False, id="other_district-does_not_cover"),
        pytest.param(
            {COMMUNITY}, (STREET, DISTRICT), False, id="community_worker-street_ticket-does_not_cover"
        ),
        pytest.param(set(), AREA_CHAIN, False, id="no_areas-does_not_cover"),
        pytest.param({COMMUNITY}, (), False, id="empty_chain-does_not_cover"),
    ],
)
def test_covers(areas: set[int], chain: Collection[int], expected: bool) -> None:
    worker = person(Role.SOCIAL_WORKER, Situation(areas=frozenset(areas)))
    assert covers(worker, chain) is expected
    assert covers(worker, list(chain)) is expected
    assert covers(worker, frozenset(chain)) is expected
