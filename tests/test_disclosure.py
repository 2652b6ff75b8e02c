"""What each recipient may read about a ticket: every alert kind x every recipient relation.

``MATRIX`` below is the policy written down (ARCHITECTURE.md: a volunteer "sees that the report was
received and taken up, not the case details"), independently of ``casework.disclosure``'s own table:

- workers and supervisors read what they need to act on the case;
- the person a ticket is about hears how their own case goes (reference, status, service, area, and
  whether they agreed to be contacted), never what staff wrote (outcome, notes, names);
- a volunteer who flagged someone else's household sees the stage only: which case and its status,
  never the outcome, notes, names or words about the needs;
- someone the ticket does not name (an anonymous reporter, or one whose report joined a case someone
  else opened) is told nothing about the case, but for a worker's answer to an anonymous reporter who
  asked for one (the conversation writes to nobody else);
- only the household is asked to rate the service; only supervisors get reports and delivery failures;
- a worker's message reaches the person the case is about (not a volunteer who flagged it, nor an
  anonymous reporter) with the case's reference and who signed it, nothing else of the case; the
  person's reply reaches staff with the case;
- a volunteer given a task from a household's plan reads the task (what, by when, the address),
  nothing of the case; what falls due on the household's file reaches staff only.

The second half drives real cases on SQLite and PostgreSQL and reads what reached each reporter.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from casework import disclosure
from casework.disclosure import Relation
from casework.domain import OutboxAlert, OutboxStatus, Urgency
from casework.follow_ups import FollowUpWork
from dialogs.alerts import alert_reply
from dialogs.catalog import Catalog
from tests.casework_world import World

OUTCOME = "已转介精神专科医院住院治疗；儿子的赌债由街道协调分期"  # what a worker wrote: never the reporter's
REFERRAL_REASON = "儿子欠债，老人情绪崩溃"
WORKER_NAME = "王芳"

# One payload with every field any alert carries, and one field nobody has given a part yet.
FULL_PAYLOAD: dict[str, Any] = {
    "ticket": {
        "id": 7,
        "reference": "SA-20261130-0007",
        "service_type": "psychological_support",
        "urgency": "critical",
        "status": "resolved",
        "area": "光明社区",
        "area_en": "Guangming",
        "summary": "志愿者代报 · elder_alone · 独居",
    },
    "reason": "critical",
    "level": 2,
    "step": 1,
    "reach": "on_call",
    "edit_of": 3,
    "kept": True,
    "agency": "阳光社会工作服务中心",
    "accepted": True,
    "linked": ["SA-20261129-0002"],
    "holder": WORKER_NAME,
    "by": WORKER_NAME,
    "referral": {"id": 5, "reason": REFERRAL_REASON, "from": WORKER_NAME, "by": "阳光社工"},
    "outcome": OUTCOME,
    "contact": True,
    "report": {"area": "和平街道", "figures": {"scope": {"label": "2026-W49"}}},
    "supervision": {"score": 75, "scores": {"kept_informed": 1}, "comment": "结案前再回访一次"},
    "improvement": {
        "by": "李督导",
        "id": 3,
        "agency": "阳光社工",
        "what": "按时上报服务记录",
        "due_on": "2027-01-01",
    },
    "failed": {"alert": 9, "event": "case_claimed", "reason": "blocked by the user"},
    "message_key": "flow.reminder",
    "words": "下周二上午我来家里看看，方便吗？",
    "sender": WORKER_NAME,
    "when": "周二上午十点",
    "suits": True,
    "task": {
        "id": 4,
        "number": 2,
        "title": "陪同老人去医院复诊",
        "due_on": "2026-12-20",
        "address": "幸福路12号",
    },
    "version": 2,
    "crisis": True,
    "due": "2026-12-20",
    "phone": "13812345678",  # no part: reaches nobody
}

TICKET = {f"ticket.{name}" for name in FULL_PAYLOAD["ticket"]}
CASE = TICKET | {
    "reason",
    "level",
    "step",
    "reach",
    "edit_of",
    "kept",
    "linked",
    "holder",
    "by",
    "referral.id",
    "referral.reason",
    "referral.from",
    "referral.by",
    "outcome",
}
STAGE = {"ticket.id", "ticket.reference", "ticket.status"}
STAFF_REPORTED = STAGE | {"ticket.service_type", "ticket.urgency", "ticket.area", "ticket.area_en"}
OWN = STAFF_REPORTED | {"contact"}
CONVERSATION = {"words", "sender", "when", "suits"}  # what a worker and the person write each other
SETS: dict[str, set[str] | None] = {
    "-": None,  # not sent at all
    "case": CASE,
    "own": OWN,
    "stage": STAGE,
    "staff_reported": STAFF_REPORTED,
    "report": {"report"},
    "failure": {"ticket.id", "ticket.reference", "failed"},
    "message": {"message_key"},
    "words_to": {"ticket.id", "ticket.reference"} | CONVERSATION,
    "own_agency": OWN | {"agency", "accepted"},
    "own_words": OWN | CONVERSATION,
    "staff_words_to": STAFF_REPORTED | CONVERSATION,
    "case_words": CASE | CONVERSATION,
    # a supervisor's review of a finished case (督导), for staff of the case
    "case_supervision": CASE | {"supervision"},
    # an improvement asked of an agency, for its staff: nothing of any case
    "improvement": {"improvement"},
    # what falls due on the household's file, with the case
    "case_file": CASE | {"version", "crisis", "due"},
    # a volunteer's task (what, by when, the address): nothing of the case around it
    "task": {"task"},
    "case_task": CASE | {"task"},
}

COLUMNS = ("subject", "volunteer", "anonymous", "worker", "supervisor", "evaluator")
MATRIX = """
                     subject volunteer anonymous worker         supervisor evaluator
ticket_opened        -       -         -         case           case  -
ticket_taken         -       -         -         case           case  -
ticket_escalated     -       -         -         case           case  -
ticket_assigned      -       -         -         case           case  -
crisis_alert         -       -         -         case           case  -
crisis_acknowledged  -       -         -         case           case  -
referral_requested   -       -         -         case           case  -
referral_accepted    -       -         -         case           case  -
referral_declined    -       -         -         case           case  -
referral_unattended  -       -         -         case           case  -
referral_completed   -       -         -         case           case  -
home_visit_due       -       -         -         case           case  -
alert_undeliverable  -       -         -         -              failure  -
weekly_digest        -       -         -         -              report  -
monthly_report       -       -         -         -              report  report
case_claimed         own     stage     -         staff_reported staff_reported  -
case_acknowledged    own     stage     -         staff_reported staff_reported  -
case_visited         own     stage     -         staff_reported staff_reported  -
case_resolved        own_words stage   -         staff_reported staff_reported  -
case_closed          own     stage     -         staff_reported staff_reported  -
satisfaction_survey  own     -         -         -              -  -
report_joined        own     stage     -         staff_reported staff_reported  -
dialog_message       message message   message   message        message  message
case_message         words_to -        words_to  staff_words_to staff_words_to  -
case_reply           -       -         -         case_words     case_words  -
reporter_erased      -       -         -         case           case  -
visit_proposed       words_to -        -         staff_words_to staff_words_to  -
visit_answered       -       -         -         case_words     case_words  -
case_referred        own_agency -      -         staff_reported staff_reported  -
case_referral_answered own_agency -     -        staff_reported staff_reported  -
reassessment_due     -       -         -         case_file      case_file  -
review_due           -       -         -         case_file      case_file  -
task_given           -       task      task      -              -  -
task_done            -       -         -         case_task      case_task  -
case_supervised      -       -         -         case_supervision case_supervision  -
improvement_raised   -       -         -         improvement    -                -
"""


def parse_matrix() -> dict[tuple[str, Relation], set[str] | None]:
    header, *rows = [line.split() for line in MATRIX.strip().splitlines()]
    assert tuple(header) == COLUMNS
    return {
        (row[0], Relation(column)): SETS[cell]
        for row in rows
        for column, cell in zip(COLUMNS, row[1:], strict=True)
    }


CELLS = parse_matrix()
KINDS = sorted({kind for kind, _ in CELLS})


def paths(payload: dict[str, Any]) -> set[str]:
    """The fields a payload carries, nested ones as "ticket.reference" (its kind and audience aside)."""
    found: set[str] = set()
    for key, value in payload.items():
        if key in ("event", "audience"):
            continue
        if key in ("ticket", "referral") and isinstance(value, dict):
            found |= {f"{key}.{name}" for name in value}
        else:
            found.add(key)
    return found


def test_the_table_has_a_rule_for_every_alert_kind_and_every_relation() -> None:
    assert set(disclosure.KINDS) == set(KINDS)
    assert len(CELLS) == len(KINDS) * len(Relation)
    with pytest.raises(ValueError, match="no disclosure rule"):
        disclosure.allowed("ticket_gossip", Relation.WORKER)


@pytest.mark.parametrize(
    ("kind", "relation"),
    [pytest.param(kind, relation, id=f"{kind}-{relation.value}") for kind, relation in CELLS],
)
def test_disclosure_matrix(kind: str, relation: Relation) -> None:
    expected = CELLS[(kind, relation)]
    told = disclosure.payload_for(kind, relation, FULL_PAYLOAD)
    if expected is None:
        assert told is None
        return
    assert told is not None
    assert (told["event"], told["audience"]) == (kind, relation.value)
    assert paths(told) == expected
    for path in expected:  # what is kept is kept as it was
        head, _, name = path.partition(".")
        assert (told[head][name] if name else told[head]) == (
            FULL_PAYLOAD[head][name] if name else FULL_PAYLOAD[head]
        )


@pytest.mark.parametrize("kind", KINDS)
def test_a_volunteer_never_reads_outcome_notes_names_or_needs(kind: str) -> None:
    told = disclosure.payload_for(kind, Relation.VOLUNTEER, FULL_PAYLOAD)
    if told is None:
        return
    if kind == "task_given":  # a task the household's plan gave them: the task alone
        assert paths(told) == {"task"}
        return
    assert paths(told) <= STAGE | {"message_key"}
    words = json.dumps(told, ensure_ascii=False)
    for secret in (OUTCOME, REFERRAL_REASON, WORKER_NAME, "elder_alone", "13812345678"):
        assert secret not in words


@pytest.mark.parametrize("kind", KINDS)
def test_an_anonymous_reporter_is_told_nothing_about_a_case(kind: str) -> None:
    told = disclosure.payload_for(kind, Relation.ANONYMOUS, FULL_PAYLOAD)
    if kind == "dialog_message":  # a message of their own conversation, about no case
        assert told is not None
        assert paths(told) == {"message_key"}
    elif kind == "case_message":  # a worker's answer, when they asked to be answered: its words only
        assert told is not None
        assert paths(told) == {"ticket.id", "ticket.reference"} | CONVERSATION
    elif kind == "task_given":  # to a volunteer, about no ticket: the task alone
        assert told is not None
        assert paths(told) == {"task"}
    else:
        assert told is None


# --- what real cases send to whoever reported them --------------------------------------------------


async def alerts_to(world: World, person_id: int) -> list[OutboxAlert]:
    found: list[OutboxAlert] = []
    async with world.database.transaction() as tx:
        for status in OutboxStatus:
            found += await tx.outbox.with_status(status, limit=10_000)
    return sorted((alert for alert in found if alert.recipient_person_id == person_id), key=lambda a: a.id)


def rendered(alert: OutboxAlert) -> str:
    catalog = Catalog.load()
    return "\n".join(catalog.render(alert_reply(alert, language), language) for language in ("zh", "en"))


async def completed_referral(world: World, reporter: str) -> int:
    """A ticket ``reporter`` opened, claimed by wang, referred to the agency, which completes it."""
    wang, member = world.people["wang"], world.people["agency_worker"]
    ticket = (
        await world.casework.open_ticket(
            world.report(reporter_id=world.people[reporter].id, on_behalf=reporter == "volunteer")
        )
    ).ticket
    await world.casework.claim(wang, ticket.id)
    await world.casework.add_note(wang, ticket.id, REFERRAL_REASON)
    referral = await world.casework.refer(
        wang, ticket.id, reason=REFERRAL_REASON, to_organisation_id=world.agency.id
    )
    await world.casework.respond_to_referral(member, referral.id, accept=True)
    await world.casework.complete_referral(member, referral.id, OUTCOME)
    return ticket.id


async def test_a_volunteer_hears_a_completed_referral_of_their_flag_without_its_outcome(world: World) -> None:
    ticket_id = await completed_referral(world, "volunteer")
    told = await alerts_to(world, world.people["volunteer"].id)
    for alert in told:
        assert OUTCOME not in json.dumps(alert.payload, ensure_ascii=False)
        text = rendered(alert)
        assert OUTCOME not in text
        assert REFERRAL_REASON not in text
    assert [alert.event for alert in told] == ["case_claimed", "case_resolved"]
    for alert in told:
        assert paths(alert.payload) <= STAGE
        assert alert_reply(alert, "zh").key == f"alert.volunteer.{alert.event}"
    # The worker who referred it reads the outcome.
    [to_referrer] = [
        alert
        for alert in await alerts_to(world, world.people["wang"].id)
        if alert.event == "referral_completed"
    ]
    assert to_referrer.payload["outcome"] == OUTCOME
    assert to_referrer.ticket_id == ticket_id


async def test_the_household_hears_its_case_is_resolved_but_not_what_staff_wrote(world: World) -> None:
    await completed_referral(world, "resident")
    told = await alerts_to(world, world.people["resident"].id)
    assert [alert.event for alert in told] == [
        "case_claimed",
        "case_referred",
        "case_referral_answered",
        "case_resolved",
    ]
    for alert in told:
        assert paths(alert.payload) <= OWN | {"agency", "accepted"}
        assert OUTCOME not in rendered(alert)
        assert REFERRAL_REASON not in rendered(alert)


@pytest.mark.parametrize(("reporter", "relation"), [("resident", "subject"), ("volunteer", "volunteer")])
async def test_every_alert_a_reporter_gets_over_a_case_carries_only_what_the_table_allows(
    world: World, reporter: str, relation: str
) -> None:
    wang = world.people["wang"]
    person = world.people[reporter]
    on_behalf = reporter == "volunteer"
    # A crisis someone says "I'm on it" to; an ordinary case claimed, visited, resolved, closed, surveyed.
    crisis = (
        await world.casework.open_ticket(
            world.report(reporter_id=person.id, on_behalf=on_behalf, urgency=Urgency.CRITICAL)
        )
    ).ticket
    await world.casework.acknowledge(world.people["chief"], crisis.id)
    ticket = (
        await world.casework.open_ticket(world.report(reporter_id=person.id, on_behalf=on_behalf))
    ).ticket
    await world.casework.claim(wang, ticket.id)
    await world.casework.add_note(wang, ticket.id, REFERRAL_REASON)
    await world.casework.record_visit(wang, ticket.id, "见到老人，情绪低落")
    await world.casework.resolve(wang, ticket.id, OUTCOME)
    await world.casework.close(wang, ticket.id)
    await FollowUpWork(world.casework).send_survey(ticket.id)

    told = await alerts_to(world, person.id)
    expected_events = ["case_acknowledged", "case_claimed", "case_visited", "case_resolved", "case_closed"]
    if reporter == "resident":
        expected_events.append("satisfaction_survey")
    assert [alert.event for alert in told] == expected_events
    for alert in told:
        allowed = CELLS[(alert.event, Relation(relation))]
        assert allowed is not None
        assert paths(alert.payload) <= allowed, alert.event
        assert alert.payload["audience"] == relation
        text = rendered(alert)
        for secret in (OUTCOME, REFERRAL_REASON, "情绪低落", "wang", "chief"):
            assert secret not in text


async def test_a_workers_group_reads_the_whole_card(world: World) -> None:
    async with world.database.transaction() as tx:
        await tx.groups.register(
            area_id=world.areas["s1"], chat_id=-100777, title="社工群", now=world.clock.now()
        )
    await world.casework.open_ticket(world.report())
    async with world.database.transaction() as tx:
        [alert] = await tx.outbox.with_status(OutboxStatus.PENDING)
    assert (alert.event, alert.recipient_chat_id) == ("ticket_opened", -100777)
    assert alert.payload["ticket"]["summary"] == "房租困难"
    assert alert.payload["audience"] == "worker"
