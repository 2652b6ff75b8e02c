"""Casework operations on SQLite and PostgreSQL: opening, routing, claiming, referral, deadlines."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from casework.access import Forbidden
from casework.clock import SystemClock
from casework.deadlines import DeadlinePolicy, SlaState
from casework.domain import (
    AlertKind,
    AreaLevel,
    Channel,
    Conflict,
    Identity,
    InvalidInput,
    NotFound,
    OutboxAlert,
    OutboxStatus,
    ReferralStatus,
    Refusal,
    Role,
    ServiceType,
    TicketAction,
    TicketStatus,
    Urgency,
    VulnerabilityTag,
)
from casework.indicators import Report
from casework.notify import Recipient
from casework.opening import same_household
from casework.people import ERASED, People
from casework.relay import AlertDelivery, OutboxRelay
from casework.working import AlreadyClaimed
from dialogs.alerts import alert_reply
from dialogs.catalog import Catalog
from dialogs.messages import ReportPart
from dialogs.state import DialogState
from storage import Database
from storage.dialog_state import SqlDialogStore
from storage.models import DialogStateRow, FeedbackRow, OutgoingRow
from storage.repositories import Outgoing
from tests.casework_world import World


async def test_a_new_ticket_alerts_the_three_least_loaded_workers_of_its_area_and_service(
    world: World,
) -> None:
    # li already carries a case, so sun (district-wide) takes the third place.
    busy = await world.casework.open_ticket(world.report())
    await world.casework.claim(world.people["li"], busy.ticket.id)

    opened = await world.casework.open_ticket(world.report(household_address="光明路3号"))
    ticket = opened.ticket
    assert ticket.reference.startswith("SA-20261130-")
    assert ticket.status is TicketStatus.NEW
    first_round, second_round = [
        {person for _, person, _ in alerts}
        for alerts in (
            (await world.outbox("ticket_opened"))[:3],
            (await world.outbox("ticket_opened"))[3:],
        )
    ]
    assert first_round == world.who("wang", "li", "zhao")  # equal load: the longest enrolled first
    assert second_round == world.who("wang", "zhao", "sun")
    assert world.who("zhou", "wu", "agency_worker").isdisjoint(first_round | second_round)
    assert await world.outbox("ticket_escalated") == []


async def test_the_deadlines_follow_the_urgency(world: World) -> None:
    normal = (await world.casework.open_ticket(world.report())).ticket
    critical = (await world.casework.open_ticket(world.report(urgency=Urgency.CRITICAL, area="c2"))).ticket
    assert normal.claim_deadline == normal.created_at + timedelta(hours=24)
    assert normal.resolve_deadline == normal.created_at + timedelta(days=7)
    assert critical.claim_deadline == critical.created_at + timedelta(minutes=15)


async def test_a_critical_ticket_reaches_the_areas_supervisor_at_once(world: World) -> None:
    await world.casework.open_ticket(world.report(urgency=Urgency.CRITICAL))
    escalated = await world.outbox("ticket_escalated")
    assert {person for _, person, _ in escalated} == world.who("chief")


async def test_a_registered_workers_group_is_alerted_instead_of_single_workers(world: World) -> None:
    async with world.database.transaction() as tx:
        await tx.groups.register(
            area_id=world.areas["s1"], chat_id=-100555, title="和平街道社工群", now=world.clock.now()
        )
    await world.casework.open_ticket(world.report())
    assert await world.outbox("ticket_opened") == [("ticket_opened", None, -100555)]


async def test_with_no_worker_for_the_service_the_supervisor_hears(world: World) -> None:
    await world.casework.open_ticket(world.report(service_type=ServiceType.SOCIAL_INTEGRATION))
    assert await world.outbox("ticket_opened") == []
    assert {p for _, p, _ in await world.outbox("ticket_escalated")} == world.who("chief")


async def test_a_second_report_of_the_same_household_joins_its_open_ticket(world: World) -> None:
    first = await world.casework.open_ticket(world.report(household_address="光明路 12 号 3 单元"))
    again = await world.casework.open_ticket(
        world.report(
            household_address="光明路12号3单元", reporter_id=world.people["volunteer"].id, on_behalf=True
        )
    )
    assert again.joined_existing
    assert again.ticket.id == first.ticket.id
    other_house = await world.casework.open_ticket(world.report(household_address="幸福街88号"))
    assert not other_house.joined_existing
    other_area = await world.casework.open_ticket(
        world.report(area="c2", household_address="光明路12号3单元")
    )
    assert not other_area.joined_existing
    world.clock.advance(timedelta(days=31))
    much_later = await world.casework.open_ticket(world.report(household_address="光明路12号3单元"))
    assert not much_later.joined_existing


async def test_a_critical_report_joining_a_ticket_raises_its_urgency(world: World) -> None:
    first = await world.casework.open_ticket(world.report(household_address="光明路5号"))
    joined = await world.casework.open_ticket(
        world.report(household_address="光明路5号", urgency=Urgency.CRITICAL)
    )
    assert joined.ticket.id == first.ticket.id
    assert joined.ticket.urgency is Urgency.CRITICAL
    assert joined.ticket.claim_deadline == first.ticket.created_at + timedelta(minutes=15)
    assert {p for _, p, _ in await world.outbox("ticket_escalated")} == world.who("chief")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("光明路12号", "光明路 12 号", True),
        ("3单元401", "光明路12号3单元401", True),
        ("光明路12号", "幸福街8号", False),
        ("光明路12号3单元401", "光明路12号3单元402", False),  # the door next to it
        ("光明路12号3单元401", "光明路21号3单元401", False),
        ("", "x", False),
    ],
)
def test_addresses_are_matched_loosely(a: str, b: str, same: bool) -> None:
    assert same_household(a, b) is same


async def test_the_first_claim_wins_and_the_others_alerts_say_who_has_it(world: World) -> None:
    ticket = (await world.casework.open_ticket(world.report())).ticket
    claimed = await world.casework.claim(world.people["zhao"], ticket.id)
    assert claimed.status is TicketStatus.ASSIGNED
    assert claimed.assignee_id == world.people["zhao"].id
    with pytest.raises(AlreadyClaimed) as refused:
        await world.casework.claim(world.people["wang"], ticket.id)
    assert (refused.value.code, refused.value.arguments) == (Refusal.CLAIM_TAKEN, {"holder": "zhao"})
    taken = await world.outbox("ticket_taken")
    assert {p for _, p, _ in taken} == world.who("wang", "li")
    assert await world.outbox("case_claimed") == [("case_claimed", world.people["resident"].id, None)]
    again = await world.casework.claim(world.people["zhao"], ticket.id)
    assert again.assignee_id == world.people["zhao"].id


async def test_two_workers_pressing_claim_at_once_get_one_winner(world: World) -> None:
    ticket = (await world.casework.open_ticket(world.report())).ticket
    outcomes = await asyncio.gather(
        world.casework.claim(world.people["wang"], ticket.id),
        world.casework.claim(world.people["li"], ticket.id),
        return_exceptions=True,
    )
    winners = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    losers = [outcome for outcome in outcomes if isinstance(outcome, AlreadyClaimed)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert losers[0].holder == ("wang" if winners[0].assignee_id == world.people["wang"].id else "li")
    async with world.database.transaction() as tx:
        events = [event.action for event in await tx.tickets.events(ticket.id)]
    assert events.count(TicketAction.CLAIMED) == 1


async def test_claiming_a_ticket_that_needs_a_visit_schedules_the_reminder(world: World) -> None:
    ticket = (
        await world.casework.open_ticket(
            world.report(vulnerability_tags=frozenset({VulnerabilityTag.ELDER_ALONE}))
        )
    ).ticket
    assert ticket.needs_home_visit
    await world.casework.claim(world.people["wang"], ticket.id)
    assert world.follow_ups.scheduled[f"home_visit:{ticket.id}"] == world.clock.now() + timedelta(days=1)
    await world.casework.record_visit(world.people["wang"], ticket.id, "已入户")
    assert f"home_visit:{ticket.id}" not in world.follow_ups.scheduled
    assert not await world.work.remind_home_visit(ticket.id)


async def test_a_case_is_worked_resolved_closed_and_reopened(world: World) -> None:
    wang = world.people["wang"]
    ticket = (await world.casework.open_ticket(world.report())).ticket
    await world.casework.claim(wang, ticket.id)
    noted = await world.casework.add_note(wang, ticket.id, "已联系房东")
    assert noted.status is TicketStatus.IN_PROGRESS
    with pytest.raises(InvalidInput):
        await world.casework.resolve(wang, ticket.id, "  ")
    with pytest.raises(Conflict, match=Refusal.CLOSE_RESOLVE_FIRST):
        await world.casework.close(wang, ticket.id)
    resolved = await world.casework.resolve(wang, ticket.id, "申请了临时救助，房租已补上")
    assert resolved.outcome == "申请了临时救助，房租已补上"
    closed = await world.casework.close(wang, ticket.id)
    assert closed.status is TicketStatus.CLOSED
    assert closed.closed_at == world.clock.now()
    assert world.follow_ups.scheduled[f"survey:{ticket.id}"] == world.clock.now() + timedelta(days=1)
    with pytest.raises(Conflict):
        await world.casework.add_note(wang, ticket.id, "再补一句")
    reopened = await world.casework.reopen(wang, ticket.id, "房东又要涨租")
    assert reopened.status is TicketStatus.REOPENED
    assert reopened.assignee_id == wang.id
    with pytest.raises(Conflict):
        await world.casework.reopen(wang, ticket.id, "again")
    told = [event for event, person, _ in await world.outbox() if person == world.people["resident"].id]
    assert told == ["case_claimed", "case_resolved", "case_closed"]


async def test_a_supervisor_may_close_an_open_ticket_but_a_worker_may_not(world: World) -> None:
    ticket = (await world.casework.open_ticket(world.report())).ticket
    with pytest.raises(Forbidden):
        await world.casework.close(world.people["wang"], ticket.id)
    closed = await world.casework.close(world.people["chief"], ticket.id, "重复报告")
    assert closed.status is TicketStatus.CLOSED


async def test_a_supervisor_assigns_and_reassigns_within_the_area(world: World) -> None:
    ticket = (await world.casework.open_ticket(world.report())).ticket
    chief = world.people["chief"]
    assigned = await world.casework.assign(chief, ticket.id, world.people["li"].id)
    assert assigned.assignee_id == world.people["li"].id
    moved = await world.casework.assign(chief, ticket.id, world.people["wang"].id)
    assert moved.assignee_id == world.people["wang"].id
    assert {p for _, p, _ in await world.outbox("ticket_assigned")} == world.who("li", "wang")
    with pytest.raises(InvalidInput, match=Refusal.ASSIGN_WORKER_OUTSIDE_AREA):
        await world.casework.assign(chief, ticket.id, world.people["zhou"].id)
    with pytest.raises(Forbidden):
        await world.casework.assign(world.people["wang"], ticket.id, world.people["li"].id)
    with pytest.raises(Forbidden):
        await world.casework.assign(world.people["chief2"], ticket.id, world.people["li"].id)


async def test_a_referral_to_a_worker_is_accepted_and_moves_the_case(world: World) -> None:
    wang, zhou = world.people["wang"], world.people["zhou"]
    ticket = (await world.casework.open_ticket(world.report())).ticket
    await world.casework.claim(wang, ticket.id)
    referral = await world.casework.refer(wang, ticket.id, reason="对方街道有专门项目", to_person_id=zhou.id)
    assert referral.status is ReferralStatus.PENDING
    assert (await world.casework.status(wang, ticket.id)).status is TicketStatus.REFERRED
    assert ("referral_requested", zhou.id, None) in await world.outbox()
    with pytest.raises(Conflict, match=Refusal.REFER_UNDER_WAY):
        await world.casework.refer(wang, ticket.id, reason="again", to_person_id=world.people["li"].id)
    with pytest.raises(Forbidden):
        await world.casework.respond_to_referral(world.people["li"], referral.id, accept=True)
    accepted = await world.casework.respond_to_referral(zhou, referral.id, accept=True)
    assert accepted.status is ReferralStatus.ACCEPTED
    ticket_now = await world.casework.status(zhou, ticket.id)
    assert ticket_now.assignee_id == zhou.id
    assert ticket_now.status is TicketStatus.ASSIGNED
    with pytest.raises(Conflict):
        await world.casework.respond_to_referral(zhou, referral.id, accept=False, reason="changed my mind")


async def test_a_declined_referral_returns_the_case_to_the_worker_who_had_it_with_the_reason(
    world: World,
) -> None:
    """The worker who held the case (and had visited) keeps it: it is not thrown back to the queue,
    and nobody, the decliner least of all, is alerted of it as a new ticket."""
    wang, zhou = world.people["wang"], world.people["zhou"]
    ticket = (await world.casework.open_ticket(world.report())).ticket
    await world.casework.claim(wang, ticket.id)
    await world.casework.record_visit(wang, ticket.id)
    opened_alerts = len(await world.outbox("ticket_opened"))
    referral = await world.casework.refer(wang, ticket.id, reason="对方更合适", to_person_id=zhou.id)
    with pytest.raises(InvalidInput):
        await world.casework.respond_to_referral(zhou, referral.id, accept=False)
    declined = await world.casework.respond_to_referral(
        zhou, referral.id, accept=False, reason="本月个案已满"
    )
    assert declined.reason == "本月个案已满"
    back = await world.casework.status(world.people["chief"], ticket.id)
    assert back.status is TicketStatus.ASSIGNED
    assert back.assignee_id == wang.id
    assert back.visited_at is not None
    async with world.database.transaction() as tx:
        told = await tx.outbox.for_ticket(ticket.id, event=AlertKind.REFERRAL_DECLINED)
    assert [alert.recipient_person_id for alert in told] == [wang.id]
    assert told[0].payload["referral"]["reason"] == "本月个案已满"
    assert len(await world.outbox("ticket_opened")) == opened_alerts
    # The worker works it on: a note, and another referral.
    await world.casework.add_note(wang, ticket.id, "再联系其他机构")
    await world.casework.refer(wang, ticket.id, reason="换一位社工", to_person_id=world.people["li"].id)


async def test_a_declined_referral_from_the_queue_goes_back_to_the_queue_without_the_decliner(
    world: World,
) -> None:
    wang, zhou = world.people["wang"], world.people["zhou"]
    ticket = (await world.casework.open_ticket(world.report())).ticket
    opened_alerts = len(await world.outbox("ticket_opened"))
    referral = await world.casework.refer(wang, ticket.id, reason="对方更合适", to_person_id=zhou.id)
    await world.casework.respond_to_referral(zhou, referral.id, accept=False, reason="本月个案已满")
    back = await world.casework.status(world.people["chief"], ticket.id)
    assert back.status is TicketStatus.NEW
    assert back.assignee_id is None
    told = {p for e, p, _ in await world.outbox("referral_declined")}
    assert told == world.who("wang", "chief")
    announced_again = [p for _, p, _ in await world.outbox("ticket_opened")][opened_alerts:]
    assert announced_again
    assert zhou.id not in announced_again


async def test_the_person_hears_which_agency_their_case_went_to_and_its_answer(world: World) -> None:
    wang, member, resident = world.people["wang"], world.people["agency_worker"], world.people["resident"]
    first = (await world.casework.open_ticket(world.report())).ticket
    await world.casework.claim(wang, first.id)
    referral = await world.casework.refer(
        wang, first.id, reason="需要就业培训", to_organisation_id=world.agency.id
    )
    await world.casework.respond_to_referral(member, referral.id, accept=True)
    second = (await world.casework.open_ticket(world.report(text="孩子上学的费用没着落"))).ticket
    await world.casework.claim(wang, second.id)
    declined = await world.casework.refer(
        wang, second.id, reason="需要助学", to_organisation_id=world.agency.id
    )
    await world.casework.respond_to_referral(member, declined.id, accept=False, reason="不在服务范围")
    async with world.database.transaction() as tx:
        told = [
            (alert.ticket_id, alert.event.value, alert.payload.get("agency"), alert.payload.get("accepted"))
            for ticket in (first, second)
            for alert in await tx.outbox.for_ticket(ticket.id)
            if alert.recipient_person_id == resident.id and alert.event.value.startswith("case_referr")
        ]
        reasons = [
            alert.payload
            for alert in await tx.outbox.for_ticket(second.id)
            if alert.recipient_person_id == resident.id
        ]
    agency = world.agency.name
    assert told == [
        (first.id, "case_referred", agency, None),
        (first.id, "case_referral_answered", agency, True),
        (second.id, "case_referred", agency, None),
        (second.id, "case_referral_answered", agency, False),
    ]
    assert "不在服务范围" not in str(reasons)  # the agency's reason is staff's, not the person's


async def test_a_referral_to_an_agency_is_completed_with_its_outcome(world: World) -> None:
    wang, member = world.people["wang"], world.people["agency_worker"]
    ticket = (await world.casework.open_ticket(world.report())).ticket
    await world.casework.claim(wang, ticket.id)
    referral = await world.casework.refer(
        wang, ticket.id, reason="需要就业培训", to_organisation_id=world.agency.id
    )
    assert ("referral_requested", member.id, None) in await world.outbox()
    with pytest.raises(Conflict, match=Refusal.REFERRAL_NOT_ACCEPTED):
        await world.casework.complete_referral(member, referral.id, "done")
    await world.casework.respond_to_referral(member, referral.id, accept=True)
    view = await world.casework.view(member, ticket.id)
    assert view.organisation is not None
    assert view.organisation.id == world.agency.id
    completed = await world.casework.complete_referral(member, referral.id, "已推荐参加家政培训并就业")
    assert completed.status is ReferralStatus.COMPLETED
    resolved = await world.casework.status(wang, ticket.id)
    assert resolved.status is TicketStatus.RESOLVED
    assert resolved.outcome == "已推荐参加家政培训并就业"
    # The referrer reads the outcome; the household hears that its case is resolved, as after resolve.
    assert {p for _, p, _ in await world.outbox("referral_completed")} == world.who("wang")
    assert {p for _, p, _ in await world.outbox("case_resolved")} == world.who("resident")


async def test_reading_a_case_is_written_to_its_trail_and_limited_to_the_area(world: World) -> None:
    ticket = (await world.casework.open_ticket(world.report())).ticket
    view = await world.casework.view(world.people["li"], ticket.id)
    assert view.reports[0].text == "家里房租交不起了"
    assert world.casework.policy.state(view.ticket, world.clock.now()) is SlaState.ON_TRACK
    with pytest.raises(Forbidden):
        await world.casework.view(world.people["zhou"], ticket.id)
    with pytest.raises(Forbidden):
        await world.casework.view(world.people["resident"], ticket.id)
    async with world.database.transaction() as tx:
        reads = [e for e in await tx.tickets.events(ticket.id) if e.action == "read"]
    assert [read.actor_id for read in reads] == [world.people["li"].id]


async def test_a_volunteer_sees_the_status_of_their_own_reports_only(world: World) -> None:
    volunteer = world.people["volunteer"]
    flagged = (
        await world.casework.open_ticket(world.report(reporter_id=volunteer.id, on_behalf=True))
    ).ticket
    other = (await world.casework.open_ticket(world.report(area="c2"))).ticket
    assert (await world.casework.status(volunteer, flagged.id)).reference == flagged.reference
    assert flagged.needs_home_visit
    with pytest.raises(Forbidden):
        await world.casework.view(volunteer, flagged.id)
    with pytest.raises(Forbidden):
        await world.casework.status(volunteer, other.id)
    assert [t.id for t in await world.casework.reported_by(volunteer)] == [flagged.id]


async def test_an_anonymous_report_keeps_no_reporter(world: World) -> None:
    opened = await world.casework.open_ticket(world.report(anonymous=True))
    assert opened.ticket.reporter_id is None
    assert opened.report.reporter_id is None


async def test_queues_put_breached_tickets_first_and_respect_areas_and_services(world: World) -> None:
    old = (await world.casework.open_ticket(world.report())).ticket
    world.clock.advance(timedelta(hours=23))
    urgent = (await world.casework.open_ticket(world.report(urgency=Urgency.HIGH, area="c2"))).ticket
    world.clock.advance(timedelta(hours=3, minutes=30))  # 7/8 of its four hours to be claimed
    elsewhere = (await world.casework.open_ticket(world.report(area="c3"))).ticket
    queue = await world.casework.queue(world.people["wang"])
    assert [item.ticket.id for item in queue] == [old.id, urgent.id]
    assert queue[0].sla is SlaState.BREACHED
    assert queue[1].sla is SlaState.AT_RISK
    assert elsewhere.id not in [item.ticket.id for item in queue]
    assert [item.ticket.id for item in await world.casework.queue(world.people["wu"])] == []
    overdue = await world.casework.queue(world.people["chief"], only_overdue=True)
    assert [item.ticket.id for item in overdue] == [old.id]
    everything = await world.casework.queue(world.people["admin"])
    assert {item.ticket.id for item in everything} == {old.id, urgent.id, elsewhere.id}
    with pytest.raises(Forbidden):
        await world.casework.queue(world.people["resident"])


async def test_an_unclaimed_ticket_is_escalated_at_its_deadline_and_again_at_twice_it(world: World) -> None:
    critical = (await world.casework.open_ticket(world.report(urgency=Urgency.CRITICAL))).ticket
    claimed = (await world.casework.open_ticket(world.report(urgency=Urgency.CRITICAL, area="c2"))).ticket
    await world.casework.claim(world.people["wang"], claimed.id)
    at_open = len(await world.outbox("ticket_escalated"))
    world.clock.advance(timedelta(minutes=14))
    assert await world.work.escalate_overdue() == 0
    world.clock.advance(timedelta(minutes=2))
    assert await world.work.escalate_overdue() == 1
    assert await world.work.escalate_overdue() == 0
    world.clock.advance(timedelta(minutes=15))
    assert await world.work.escalate_overdue() == 1
    world.clock.advance(timedelta(hours=5))
    assert await world.work.escalate_overdue() == 0
    escalations = (await world.outbox("ticket_escalated"))[at_open:]
    assert escalations == [("ticket_escalated", world.people["chief"].id, None)] * 2
    async with world.database.transaction() as tx:
        ticket = await tx.tickets.get(critical.id)
    assert ticket is not None
    assert ticket.escalation_level == 2


async def test_a_deadline_missed_while_nothing_ran_escalates_once_at_the_level_reached(world: World) -> None:
    await world.casework.open_ticket(world.report())
    world.clock.advance(timedelta(days=3))
    assert await world.work.escalate_overdue() == 1
    assert await world.work.escalate_overdue() == 0
    assert len(await world.outbox("ticket_escalated")) == 1


def test_the_sla_state_moves_from_on_track_to_at_risk_to_breached() -> None:
    policy = DeadlinePolicy.load()
    from tests.casework_world import START

    claim_by, resolve_by = policy.deadlines(Urgency.NORMAL, ServiceType.RESOURCE_LINKING, START)
    from casework.domain import Ticket

    ticket = Ticket(
        id=1,
        reference="SA-20261130-0001",
        service_type=ServiceType.RESOURCE_LINKING,
        urgency=Urgency.NORMAL,
        status=TicketStatus.NEW,
        area_id=1,
        household_id=None,
        reporter_id=None,
        assignee_id=None,
        organisation_id=None,
        summary="",
        outcome=None,
        claim_deadline=claim_by,
        resolve_deadline=resolve_by,
        created_at=START,
        updated_at=START,
    )
    assert policy.state(ticket, START + timedelta(hours=17)) is SlaState.ON_TRACK
    assert policy.state(ticket, START + timedelta(hours=19)) is SlaState.AT_RISK
    assert policy.state(ticket, START + timedelta(hours=24)) is SlaState.BREACHED
    policy_advocacy = policy.deadlines(Urgency.NORMAL, ServiceType.POLICY_ADVOCACY, START)[1]
    assert policy_advocacy == START + timedelta(days=14)


async def test_the_home_visit_reminder_and_the_survey_go_out_once(world: World) -> None:
    resident = world.people["resident"]
    wang = world.people["wang"]
    ticket = (await world.casework.open_ticket(world.report(needs_home_visit=True))).ticket
    assert not await world.work.remind_home_visit(ticket.id)  # nobody holds it yet
    await world.casework.claim(wang, ticket.id)
    assert await world.work.remind_home_visit(ticket.id)
    assert not await world.work.remind_home_visit(ticket.id)
    assert not await world.work.send_survey(ticket.id)  # not closed yet
    await world.casework.resolve(wang, ticket.id, "已解决")
    await world.casework.close(wang, ticket.id)
    assert await world.work.send_survey(ticket.id)
    assert not await world.work.send_survey(ticket.id)
    assert await world.outbox("home_visit_due") == [("home_visit_due", wang.id, None)]
    assert await world.outbox("satisfaction_survey") == [("satisfaction_survey", resident.id, None)]


async def test_the_reporter_rates_a_finished_ticket_once(world: World) -> None:
    resident, wang = world.people["resident"], world.people["wang"]
    ticket = (await world.casework.open_ticket(world.report())).ticket
    with pytest.raises(Conflict):
        await world.casework.rate(resident, ticket.id, 5)
    await world.casework.claim(wang, ticket.id)
    await world.casework.resolve(wang, ticket.id, "已解决")
    with pytest.raises(Forbidden):
        await world.casework.rate(world.people["neighbour"], ticket.id, 5)
    with pytest.raises(InvalidInput):
        await world.casework.rate(resident, ticket.id, 6)
    feedback = await world.casework.rate(resident, ticket.id, 4, "社工很耐心")
    assert feedback.rating == 4
    with pytest.raises(Conflict):
        await world.casework.rate(resident, ticket.id, 5)
    await world.casework.close(wang, ticket.id)
    assert not await world.work.send_survey(ticket.id)  # rated already


async def test_each_supervisor_is_sent_the_weekly_report_of_each_area_they_supervise(world: World) -> None:
    await world.casework.open_ticket(world.report())
    await world.casework.open_ticket(world.report(area="c3", urgency=Urgency.CRITICAL))
    world.clock.advance(timedelta(days=7))  # the Monday after: last week's report
    assert await world.work.send_reports(AlertKind.WEEKLY_DIGEST, "last-week") == 2
    assert await world.work.send_reports(AlertKind.WEEKLY_DIGEST, "last-week") == 0  # once a period
    async with world.database.transaction() as tx:
        alerts = {
            alert.recipient_person_id: alert
            for alert in await tx.outbox.with_status(OutboxStatus.PENDING)
            if alert.event == "weekly_digest"
        }
    assert set(alerts) == world.who("chief", "chief2")
    chief, chief2 = alerts[world.people["chief"].id], alerts[world.people["chief2"].id]
    assert chief.payload["report"]["area"] == "和平街道"
    figures = Report.from_plain(chief.payload["report"]["figures"])
    assert figures.scope.label == "2026-W49"
    assert figures.sections["response"]["cases"] == 1
    assert figures.sections["caseload"]["unclaimed"] == 1
    assert Report.from_plain(chief2.payload["report"]["figures"]).sections["crisis"]["crises"] == 1
    reply = alert_reply(chief, "zh")
    text = Catalog.load().render(reply, "zh")
    assert text.startswith("🗓 每周服务评估报告\n📊 和平街道 · 2026-W49\n新工单 1 张")
    assert [file.part for file in reply.files] == list(ReportPart)


async def test_the_monthly_report_goes_to_evaluators_too_with_small_figures_left_out(world: World) -> None:
    async with world.database.transaction() as tx:
        evaluator = await tx.people.add(
            now=world.clock.now(),
            identity=Identity(Channel.TELEGRAM, "7002"),
            display_name="第三方评估",
            role=Role.EVALUATOR,
            area_ids=[world.areas["s1"]],
        )
    await world.casework.open_ticket(world.report())
    world.clock.advance(timedelta(days=7))
    assert await world.work.send_reports(AlertKind.WEEKLY_DIGEST, "last-week") == 2  # supervisors only
    assert await world.work.send_reports(AlertKind.MONTHLY_REPORT, "last-month", to_evaluators=True) == 3
    async with world.database.transaction() as tx:
        (alert,) = [
            alert
            for alert in await tx.outbox.with_status(OutboxStatus.PENDING)
            if alert.recipient_person_id == evaluator.id
        ]
    assert alert.event == "monthly_report"
    figures = Report.from_plain(alert.payload["report"]["figures"])
    assert figures.sections["response"]["cases"] == "suppressed"  # one case
    text = Catalog.load().render(alert_reply(alert, "zh"), "zh")
    assert "新工单 少于 5 张" in text
    assert "suppressed" not in text


async def test_the_monthly_report_counts_the_month_before(world: World) -> None:
    await world.casework.open_ticket(world.report())  # 30 November
    world.clock.advance(timedelta(days=1))
    await world.casework.open_ticket(world.report())  # 1 December: next month's
    assert await world.work.send_reports(AlertKind.MONTHLY_REPORT, "last-month") == 2
    async with world.database.transaction() as tx:
        (alert,) = [
            alert
            for alert in await tx.outbox.with_status(OutboxStatus.PENDING)
            if alert.event == "monthly_report" and alert.recipient_person_id == world.people["chief"].id
        ]
    figures = Report.from_plain(alert.payload["report"]["figures"])
    assert (figures.scope.label, figures.sections["response"]["cases"]) == ("2026-11", 1)
    text = Catalog.load().render(alert_reply(alert, "en"), "en")
    assert text.startswith("🗓 Monthly service-evaluation report\n📊 ")


def test_a_weekly_digest_queued_before_the_reports_still_reads() -> None:
    digest = {"week": "2026-W48", "opened": 3, "closed": 1, "open": 5, "breached": 0, "critical_open": 1}
    alert = OutboxAlert(
        1, "k", 2, None, None, AlertKind.WEEKLY_DIGEST, {"digest": {**digest, "average_rating": None}}
    )
    text = Catalog.load().render(alert_reply(alert, "zh"), "zh")
    assert "本周（2026-W48）辖区概况" in text
    assert "平均满意度：-" in text


async def test_alerts_reach_the_notifier_through_the_relay(world: World) -> None:
    ticket = (await world.casework.open_ticket(world.report())).ticket
    assert await world.relay.run_once() == 3
    await world.casework.claim(world.people["wang"], ticket.id)
    await world.relay.run_once()
    assert [alert.event for alert, _ in world.notifier.sent].count(AlertKind.TICKET_OPENED) == 3
    edited = {recipient.person.id for _, _, recipient in world.notifier.edited if recipient.person}
    assert edited == world.who("li", "zhao")
    assert "case_claimed" in world.notifier.events_for(f"person:{world.people['resident'].id}")


async def test_a_report_that_joined_someone_elses_ticket_does_not_make_it_the_reporters(world: World) -> None:
    # The household's own case: a volunteer's flag of the same address joins it, and the volunteer is
    # not given that case to follow (its reference and stage are not theirs to read).
    first = await world.casework.open_ticket(world.report(household_address="光明路9号"))
    volunteer = world.people["volunteer"]
    joined = await world.casework.open_ticket(
        world.report(household_address="光明路9号", reporter_id=volunteer.id, on_behalf=True)
    )
    assert joined.joined_existing
    assert await world.casework.reported_by(volunteer) == []
    with pytest.raises(Forbidden):
        await world.casework.status(volunteer, first.ticket.id)
    assert [ticket.id for ticket in await world.casework.reported_by(world.people["resident"])] == [
        first.ticket.id
    ]
    assert [ticket.id for ticket in await world.casework.reported_by(world.people["neighbour"])] == []

    # A volunteer's second flag of a household they flagged themselves joins their own case.
    own = await world.casework.open_ticket(
        world.report(household_address="光明路11号", reporter_id=volunteer.id, on_behalf=True)
    )
    again = await world.casework.open_ticket(
        world.report(household_address="光明路11号", reporter_id=volunteer.id, on_behalf=True)
    )
    assert again.joined_existing
    assert [ticket.id for ticket in await world.casework.reported_by(volunteer)] == [own.ticket.id]


# --- finding the community from a shared location -----------------------------------------------------


async def test_a_shared_location_finds_the_nearest_community_within_reach(database: Database) -> None:
    async with database.transaction() as tx:
        district = await tx.areas.add(code="d", name="区", level=AreaLevel.DISTRICT, location=(30.54, 114.33))
        street = await tx.areas.add(
            code="s", name="街道", level=AreaLevel.STREET, parent_id=district.id, location=(30.5401, 114.3301)
        )
        near = await tx.areas.add(
            code="a",
            name="甲社区",
            level=AreaLevel.COMMUNITY,
            parent_id=street.id,
            location=(30.556, 114.315),
        )
        await tx.areas.add(
            code="b",
            name="乙社区",
            level=AreaLevel.COMMUNITY,
            parent_id=street.id,
            location=(30.528, 114.345),
        )
        await tx.areas.add(code="c", name="丙社区", level=AreaLevel.COMMUNITY, parent_id=street.id)
        edge = await tx.areas.add(code="e", name="东端", level=AreaLevel.DISTRICT, location=(64.7, 179.995))
    people = People(database, SystemClock())
    assert await people.locates_areas()

    found = await people.nearest_area(30.5545, 114.3165)
    assert found is not None
    assert found.area.id == near.id
    assert found.area.location == (30.556, 114.315)
    assert 200 < found.metres < 230

    # The street and district have locations too, and lie nearer, but only areas with nothing below
    # them can be chosen.
    between = await people.nearest_area(30.5401, 114.3301)
    assert between is not None
    assert between.area.code == "b"
    assert await people.nearest_area(39.9042, 116.4074) is None  # Beijing, far from all
    assert await people.nearest_area(30.556, 114.315 + 0.04, reach_metres=3000) is None  # 3.8 km east
    # Across the antimeridian: the box wraps round to the other side.
    wrapped = await people.nearest_area(64.7, -179.995)
    assert wrapped is not None
    assert wrapped.area.id == edge.id
    assert wrapped.metres < 600
    with pytest.raises(InvalidInput):
        await people.nearest_area(91, 0)


async def test_an_update_without_a_location_keeps_the_stored_one(database: Database) -> None:
    async with database.transaction() as tx:
        await tx.areas.add(code="d", name="区", level=AreaLevel.DISTRICT, location=(30.5, 114.3))
        area, created = await tx.areas.upsert(code="d", name="新区", level=AreaLevel.DISTRICT)
        assert not created
        assert area.name == "新区"
        assert area.location == (30.5, 114.3)
        area, _ = await tx.areas.upsert(
            code="d", name="新区", level=AreaLevel.DISTRICT, location=(31.0, 121.4)
        )
        assert area.location == (31.0, 121.4)


# --- who may look a case up by its reference --------------------------------------------------------


async def test_a_reference_one_may_not_read_is_refused_as_if_no_such_case_existed(world: World) -> None:
    ticket = (await world.casework.open_ticket(world.report())).ticket
    unknown = "SA-20261130-9999"
    for outsider in ("zhou", "chief2", "volunteer", "neighbour"):
        with pytest.raises(NotFound) as exists:
            await world.casework.readable_by_reference(world.people[outsider], ticket.reference)
        with pytest.raises(NotFound) as missing:
            await world.casework.readable_by_reference(world.people[outsider], unknown)
        assert str(exists.value).replace(ticket.reference, "<ref>") == str(missing.value).replace(
            unknown, "<ref>"
        )
    for insider in ("li", "chief", "admin"):
        found = await world.casework.readable_by_reference(world.people[insider], ticket.reference.lower())
        assert found.id == ticket.id


# --- workers' groups ---------------------------------------------------------------------------------


def telegram_id(world: World, name: str) -> int:
    account = world.people[name].identity_on(Channel.TELEGRAM)
    assert account is not None
    assert account.chat_id is not None
    return account.chat_id


async def test_only_a_supervisor_whose_areas_cover_a_group_may_unregister_or_move_it(world: World) -> None:
    people = People(world.database, world.clock)
    chief, chief2 = telegram_id(world, "chief"), telegram_id(world, "chief2")  # 和平街道, 新华街道
    group = await people.register_group(chief, chat_id=-100900, title="光明社工群", area_name="光明社区")
    assert group.area_id == world.areas["c1"]

    # A supervisor of another street may neither stop the group nor take it for their own area.
    with pytest.raises(Forbidden):
        await people.unregister_group(chief2, chat_id=-100900)
    with pytest.raises(Forbidden):
        await people.register_group(chief2, chat_id=-100900, title="抢来的群", area_name="幸福社区")
    with pytest.raises(Forbidden):
        await people.register_group(chief2, chat_id=-100900, title="抢来的群", area_name="")  # their own area
    area = await people.group_area(-100900)
    assert area is not None
    assert area.id == world.areas["c1"]
    # A social worker of the area sets up nothing.
    with pytest.raises(Forbidden):
        await people.unregister_group(telegram_id(world, "wang"), chat_id=-100900)

    # Their own area's group is theirs; the covering supervisor moves theirs within their areas and
    # stops it; an administrator may stop any.
    await people.register_group(chief2, chat_id=-100901, title="幸福社工群", area_name="幸福社区")
    moved = await people.register_group(chief, chat_id=-100900, title="和平里社工群", area_name="和平里社区")
    assert moved.area_id == world.areas["c2"]
    assert await people.unregister_group(chief, chat_id=-100900)
    assert not await people.unregister_group(chief, chat_id=-100900)
    assert await people.unregister_group(telegram_id(world, "admin"), chat_id=-100901)


# --- erasure -----------------------------------------------------------------------------------------


class ChatNotifier:
    """Delivers as Telegram does: the delivery reference names the chat and the message."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, alert: OutboxAlert, recipient: Recipient) -> dict[str, Any]:
        self.sent += 1
        return {"chat_id": recipient.chat_id, "message_id": self.sent}

    async def edit(self, delivered: dict[str, Any], alert: OutboxAlert, recipient: Recipient) -> None:
        pass


async def all_alerts(world: World) -> list[OutboxAlert]:
    found: list[OutboxAlert] = []
    async with world.database.transaction() as tx:
        for status in OutboxStatus:
            found += await tx.outbox.with_status(status, limit=10_000)
    return found


async def test_erasure_leaves_no_name_phone_chat_id_or_conversation_state_behind(world: World) -> None:
    people = People(world.database, world.clock)
    wang = world.people["wang"]
    async with world.database.transaction() as tx:
        resident = await tx.people.update(world.people["resident"].id, display_name="张秀英 Zhang")
        resident = await tx.people.update(resident.id, phone="+8613812345678")
        # the console's demonstration account too
        resident = await tx.people.add_identity(
            resident.id, Identity(Channel.CONSOLE, "900001"), now=world.clock.now()
        )
    chat_id, wang_chat = telegram_id(world, "resident"), telegram_id(world, "wang")
    ticket = (await world.casework.open_ticket(world.report())).ticket
    await world.casework.claim(wang, ticket.id)
    await world.casework.add_note(
        wang, ticket.id, "张秀英说儿子欠了三万，手机 138 1234 5678，下周再联系张秀英。Mrs Zhang agreed."
    )
    await world.casework.refer(
        wang, ticket.id, reason="请直接联系张秀英：13812345678", to_organisation_id=world.agency.id
    )
    await world.casework.resolve(wang, ticket.id, "已链接临时救助，回访电话+86-13812345678")
    async with world.database.transaction() as tx:  # a message addressed to their chat alone
        await tx.outbox.queue(
            event=AlertKind.DIALOG_MESSAGE,
            payload={"message_key": "flow.reminder"},
            now=world.clock.now(),
            ticket_id=None,
            recipient_chat_id=chat_id,
        )
    await OutboxRelay(AlertDelivery(world.database, ChatNotifier(), world.clock)).run_once()
    store = SqlDialogStore(world.database)
    for key in (f"telegram:{chat_id}", "console:900001", f"telegram:{wang_chat}"):
        await store.save(key, DialogState(flow="need", state="describe", data={"text": "张秀英"}))
    before = await all_alerts(world)
    assert any((alert.delivery_ref or {}).get("chat_id") == chat_id for alert in before)
    async with world.database.transaction() as tx:  # the bot's messages to both, and the rating's words
        for channel, to in (
            (Channel.TELEGRAM, chat_id),
            (Channel.CONSOLE, 900_001),
            (Channel.TELEGRAM, wang_chat),
        ):
            await tx.outgoing.add(
                [Outgoing("张秀英，您的编号是 SA-1")],
                channel=channel,
                chat_id=to,
                update_id=1,
                now=world.clock.now(),
            )
        await tx.tickets.add_feedback(
            ticket_id=ticket.id,
            rating=4,
            person_id=resident.id,
            comment="我是张秀英，谢谢王社工",
            now=world.clock.now(),
        )

    await people.erase(resident.id)

    async with world.database.transaction() as tx:
        trail = {event.action: event.note for event in await tx.tickets.events(ticket.id)}
        kept = await tx.tickets.get(ticket.id)
        [referral] = await tx.tickets.referrals(ticket.id)
        dialog_keys = list(await tx.session.scalars(select(DialogStateRow.key)))
        messages_to = list(await tx.session.scalars(select(OutgoingRow.chat_id)))
        comments = list(await tx.session.scalars(select(FeedbackRow.comment)))
    assert messages_to == [wang_chat]
    assert comments == [None]
    assert referral.reason == f"请直接联系{ERASED}：{ERASED}"
    assert trail[TicketAction.REFERRED] == referral.reason
    assert trail[TicketAction.NOTE] == (
        f"{ERASED}说儿子欠了三万，手机 {ERASED}，下周再联系{ERASED}。Mrs {ERASED} agreed."
    )
    assert trail[TicketAction.RESOLVED] == f"已链接临时救助，回访电话{ERASED}"
    assert kept is not None
    assert kept.outcome == trail[TicketAction.RESOLVED]
    alerts = await all_alerts(world)
    theirs = [alert for alert in alerts if alert.recipient_person_id == resident.id]
    assert {alert.event for alert in theirs} == {
        "case_claimed",
        "case_referred",
        "case_resolved",
        "dialog_message",
    }
    assert all(alert.delivery_ref is None and alert.recipient_chat_id is None for alert in theirs)
    everything = json.dumps(
        [(a.payload, a.delivery_ref, a.recipient_chat_id) for a in alerts], ensure_ascii=False
    )
    for trace in (str(chat_id), "张秀英", "13812345678"):
        assert trace not in everything
    # Nobody else's deliveries or conversation are touched.
    assert all(
        (alert.delivery_ref or {}).get("chat_id") == wang_chat
        for alert in alerts
        if alert.recipient_person_id == wang.id
    )
    assert dialog_keys == [f"telegram:{wang_chat}"]


async def test_a_report_submitted_twice_with_one_key_opens_one_ticket(world: World) -> None:
    """A conversation whose state was lost after its submission committed (a crash before the state
    write, or the write refused) submits again with the same key: the ticket it opened comes back,
    nothing is opened or alerted twice; another key is another report."""
    first = await world.casework.open_ticket(world.report(submission_key="k1:resource_linking"))
    alerts = await world.outbox()
    again = await world.casework.open_ticket(world.report(submission_key="k1:resource_linking"))
    assert again.ticket.id == first.ticket.id
    assert again.report.id == first.report.id
    assert await world.outbox() == alerts
    other = await world.casework.open_ticket(world.report(submission_key="k2:resource_linking"))
    assert other.ticket.id != first.ticket.id
    async with world.database.transaction() as tx:
        assert len(await tx.tickets.find()) == 2
