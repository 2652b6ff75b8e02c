"""A crisis always reaches a person: the staff of the nearest area that has any, then each area above,
then the on-call list, until someone says "I'm on it" or claims it; each step on the ticket's trail.
Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from casework import routing
from casework.domain import Channel, ConsentPurpose, Identity, Person, Role, ServiceType, Ticket, Urgency
from casework.opening import NewReport, Opened
from casework.routing import CrisisReach
from dialogs.alerts import alert_reply
from dialogs.messages import Reply
from dialogs.turn import Turn
from storage import Database
from tests.dialog_harness import Chat, Harness, build_harness
from tests.reports import rent_need

RESIDENT = 5001
COMMUNITY_WORKER = 301
STREET_WORKER = 302
DISTRICT_SUPERVISOR = 401
ON_CALL = 501


@pytest.fixture
async def harness(database: Database) -> Harness:
    return await build_harness(database)


async def open_crisis(harness: Harness, area: str = "c1", *, reporter: int | None = RESIDENT) -> Opened:
    reporter_id = None
    if reporter is not None:
        person, _ = await harness.people.identify(
            reporter, channel=Channel.CONSOLE, display_name="", language="zh"
        )
        reporter_id = person.id
    return await harness.casework.open_ticket(
        NewReport(
            text="我不想活了",
            language="zh",
            intent="need_psychological_support",
            confidence=0.9,
            service_type=ServiceType.PSYCHOLOGICAL_SUPPORT,
            urgency=Urgency.CRITICAL,
            area_id=harness.areas[area],
            channel=Channel.CONSOLE,
            reporter_id=reporter_id,
            anonymous=reporter is None,
        )
    )


async def open_rent_need(harness: Harness, reporter_id: int) -> Opened:
    """An ordinary need of the resident's, in 光明社区."""
    return await harness.casework.open_ticket(rent_need(harness.areas["c1"], reporter_id=reporter_id))


async def put_on_call(
    harness: Harness, user: int, *, area: str | None = None, hours: tuple[time, time] = (time(0), time(0))
) -> Person:
    person = await harness.enrol(user, Role.SOCIAL_WORKER, "c2")
    async with harness.database.transaction() as tx:
        await tx.on_call.add(
            person_id=person.id,
            area_id=harness.areas[area] if area else None,
            from_time=hours[0],
            until_time=hours[1],
            now=harness.clock.now(),
        )
    return person


async def press(chat: Chat, value: str) -> list[Reply]:
    """A button on an alert, pressed."""
    return await chat.send(Turn(channel="console", user_id=chat.user_id, button=value))


async def alerts_to(harness: Harness, person: Person) -> list[str]:
    await harness.relay.run_once()
    return harness.notifier.events_for(f"person:{person.id}")


async def trail(harness: Harness, ticket: Ticket) -> list[tuple[str, str]]:
    async with harness.database.transaction() as tx:
        return [(event.action, event.note or "") for event in await tx.tickets.events(ticket.id)]


async def test_a_crisis_in_a_staffed_community_reaches_its_worker_and_every_supervisor_above(
    harness: Harness,
) -> None:
    worker = await harness.enrol(COMMUNITY_WORKER, Role.SOCIAL_WORKER, "c1")
    supervisor = await harness.enrol(DISTRICT_SUPERVISOR, Role.SUPERVISOR, "d")
    opened = await open_crisis(harness)
    assert opened.reach is CrisisReach.STAFF
    assert await alerts_to(harness, worker) == ["ticket_opened"]
    assert await alerts_to(harness, supervisor) == ["ticket_escalated"]
    assert ("crisis_alerted", "step 0: staff · 光明社区 · 2") in await trail(harness, opened.ticket)


async def test_an_unstaffed_area_escalates_to_the_on_call_list(harness: Harness) -> None:
    on_call = await put_on_call(harness, ON_CALL)
    opened = await open_crisis(harness)
    assert opened.reach is CrisisReach.ON_CALL
    assert await alerts_to(harness, on_call) == ["crisis_alert"]
    assert ("crisis_alerted", "step 0: on_call · 1") in await trail(harness, opened.ticket)


async def test_on_call_for_another_area_or_off_duty_is_not_alerted(harness: Harness) -> None:
    await put_on_call(harness, ON_CALL, area="c2")
    await put_on_call(harness, ON_CALL + 1, hours=(time(8), time(9)))  # the clock reads 01:00
    opened = await open_crisis(harness)
    assert opened.reach is CrisisReach.NOBODY
    assert ("crisis_unreached", "") in await trail(harness, opened.ticket)


async def test_an_unacknowledged_crisis_is_alerted_again_one_level_further_up(harness: Harness) -> None:
    community = await harness.enrol(COMMUNITY_WORKER, Role.SOCIAL_WORKER, "c1")
    street = await harness.enrol(STREET_WORKER, Role.SOCIAL_WORKER, "s1")
    on_call = await put_on_call(harness, ON_CALL)
    opened = await open_crisis(harness)
    assert await alerts_to(harness, street) == []
    harness.clock.advance(timedelta(minutes=9))
    assert await harness.work.escalate_crises() == 0  # not yet ten minutes
    harness.clock.advance(timedelta(minutes=1))
    assert await harness.work.escalate_crises() == 1
    assert await alerts_to(harness, street) == ["crisis_alert"]
    assert await alerts_to(harness, on_call) == []
    harness.clock.advance(timedelta(minutes=10))
    assert await harness.work.escalate_crises() == 1
    assert await alerts_to(harness, on_call) == ["crisis_alert"]
    harness.clock.advance(timedelta(minutes=10))
    assert await harness.work.escalate_crises() == 0  # the top: nobody further to alert
    steps = [note for action, note in await trail(harness, opened.ticket) if action == "crisis_alerted"]
    assert steps == ["step 0: staff · 光明社区 · 1", "step 1: staff · 和平街道 · 1", "step 2: on_call · 1"]
    assert await alerts_to(harness, community) == ["ticket_opened"]


async def test_i_am_on_it_stops_the_climb_and_tells_the_others_and_the_person(harness: Harness) -> None:
    community = await harness.enrol(COMMUNITY_WORKER, Role.SOCIAL_WORKER, "c1")
    supervisor = await harness.enrol(DISTRICT_SUPERVISOR, Role.SUPERVISOR, "d")
    street = await harness.enrol(STREET_WORKER, Role.SOCIAL_WORKER, "s1")
    opened = await open_crisis(harness)
    await harness.relay.run_once()
    worker_chat = harness.chat(COMMUNITY_WORKER)
    alert = next(alert for alert, _ in harness.notifier.sent if alert.recipient_person_id == community.id)
    assert alert.event == "ticket_opened"
    replies = await press(worker_chat, f"!on_it:{opened.ticket.id}")
    assert [reply.key for reply in replies] == ["worker.on_it.done"]
    harness.clock.advance(timedelta(minutes=30))
    assert await harness.work.escalate_crises() == 0
    assert await alerts_to(harness, street) == []
    assert "crisis_acknowledged" in await alerts_to(harness, supervisor)
    resident = await harness.people.known(RESIDENT, channel=Channel.CONSOLE)
    assert resident is not None
    assert "case_acknowledged" in await alerts_to(harness, resident)
    again = await press(harness.chat(DISTRICT_SUPERVISOR), f"!on_it:{opened.ticket.id}")
    assert [reply.key for reply in again] == ["worker.on_it.already"]
    assert ("acknowledged", "") in await trail(harness, opened.ticket)


async def test_a_claim_stops_the_climb_too(harness: Harness) -> None:
    await harness.enrol(COMMUNITY_WORKER, Role.SOCIAL_WORKER, "c1")
    street = await harness.enrol(STREET_WORKER, Role.SOCIAL_WORKER, "s1")
    opened = await open_crisis(harness)
    await press(harness.chat(COMMUNITY_WORKER), f"!claim:{opened.ticket.id}")
    harness.clock.advance(timedelta(minutes=30))
    assert await harness.work.escalate_crises() == 0
    assert await alerts_to(harness, street) == []


async def test_someone_on_call_outside_the_area_may_read_and_acknowledge_it_but_not_others(
    harness: Harness,
) -> None:
    on_call = await put_on_call(harness, ON_CALL)
    opened = await open_crisis(harness)
    view = await harness.casework.view(on_call, opened.ticket.id)
    assert view.ticket.id == opened.ticket.id
    assert (await harness.casework.acknowledge(on_call, opened.ticket.id)).first
    other = await open_crisis(harness, "c2", reporter=RESIDENT + 1)
    worker_elsewhere = await harness.enrol(COMMUNITY_WORKER, Role.SOCIAL_WORKER, "c1")
    replies = await press(harness.chat(COMMUNITY_WORKER), f"!on_it:{other.ticket.id}")
    assert [reply.key for reply in replies] == ["worker.forbidden"]
    assert worker_elsewhere.id != on_call.id


async def test_a_crisis_that_reached_nobody_is_tried_again_when_someone_comes_on_duty(
    harness: Harness,
) -> None:
    on_call = await put_on_call(harness, ON_CALL, hours=(time(1, 45), time(3)))  # the clock reads 01:00
    opened = await open_crisis(harness)
    assert opened.reach is CrisisReach.NOBODY
    harness.clock.advance(timedelta(minutes=30))
    assert await harness.work.escalate_crises() == 1  # tried, still nobody on duty
    assert await alerts_to(harness, on_call) == []
    harness.clock.advance(timedelta(minutes=35))
    assert await harness.work.escalate_crises() == 1
    assert await alerts_to(harness, on_call) == ["crisis_alert"]


async def test_an_anonymous_crisis_with_no_community_reaches_the_on_call_list(harness: Harness) -> None:
    on_call = await put_on_call(harness, ON_CALL)
    opened = await open_crisis(harness, "d", reporter=None)
    assert opened.ticket.reporter_id is None
    assert opened.reach is CrisisReach.ON_CALL
    assert await alerts_to(harness, on_call) == ["crisis_alert"]


async def test_a_crisis_ticket_names_the_same_persons_other_open_tickets(harness: Harness) -> None:
    await harness.enrol(COMMUNITY_WORKER, Role.SOCIAL_WORKER, "c1")
    resident, _ = await harness.people.identify(
        RESIDENT, channel=Channel.CONSOLE, display_name="", language="zh"
    )
    earlier = await open_rent_need(harness, resident.id)
    crisis = await open_crisis(harness)
    assert ("linked", earlier.ticket.reference) in await trail(harness, crisis.ticket)
    assert ("linked", crisis.ticket.reference) in await trail(harness, earlier.ticket)
    await harness.relay.run_once()
    crisis_alert = next(alert for alert, _ in harness.notifier.sent if alert.ticket_id == crisis.ticket.id)
    assert crisis_alert.payload["linked"] == [earlier.ticket.reference]


async def test_the_person_placing_their_crisis_moves_it_to_that_community_and_alerts_its_staff(
    harness: Harness,
) -> None:
    worker = await harness.enrol(COMMUNITY_WORKER, Role.SOCIAL_WORKER, "c1")
    opened = await open_crisis(harness, "d")
    assert opened.reach is CrisisReach.NOBODY
    resident = await harness.people.known(RESIDENT, channel=Channel.CONSOLE)
    assert resident is not None
    reach = await harness.casework.locate_crisis(resident, opened.ticket.id, harness.areas["c1"])
    assert reach is CrisisReach.STAFF
    assert await alerts_to(harness, worker) == ["ticket_opened"]
    assert ("area_given", "光明社区") in await trail(harness, opened.ticket)


@pytest.mark.parametrize(
    ("agreed", "key"), [(True, "alert.case_claimed"), (False, "alert.case_claimed_no_contact")]
)
async def test_a_claim_promises_contact_only_to_someone_who_agreed_to_it(
    harness: Harness, agreed: bool, key: str
) -> None:
    worker = await harness.enrol(COMMUNITY_WORKER, Role.SOCIAL_WORKER, "c1")
    resident, _ = await harness.people.identify(
        RESIDENT, channel=Channel.CONSOLE, display_name="", language="zh"
    )
    await harness.people.record_consents(
        resident.id, {ConsentPurpose.STORE_REPORT: True, ConsentPurpose.CONTACT_ME: agreed}
    )
    opened = await open_rent_need(harness, resident.id)
    await harness.casework.claim(worker, opened.ticket.id)
    await harness.relay.run_once()
    [told] = [alert for alert, _ in harness.notifier.sent if alert.recipient_person_id == resident.id]
    reply = alert_reply(told, "zh")
    assert reply.key == key
    assert ("会尽快联系您" in harness.catalog.text(reply.key, "zh", **reply.args)) is agreed


async def test_a_volunteers_crisis_report_is_not_linked_to_the_other_households_they_flagged(
    harness: Harness,
) -> None:
    volunteer = await harness.enrol(RESIDENT, Role.VOLUNTEER, "c1")
    await open_rent_need(harness, volunteer.id)  # another household the volunteer flagged
    crisis = await open_crisis(harness)
    assert crisis.ticket.reporter_id == volunteer.id
    assert [action for action, _ in await trail(harness, crisis.ticket) if action == "linked"] == []


# --- who counts as reachable ------------------------------------------------------------------------


def _staff(*identities: Identity, active: bool = True) -> Person:
    return Person(
        id=1,
        display_name="",
        language="zh",
        role=Role.SOCIAL_WORKER,
        organisation_id=None,
        area_ids=frozenset({1}),
        service_types=frozenset(ServiceType),
        active=active,
        phone=None,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        identities=identities,
    )


def test_a_worker_reachable_only_on_the_console_is_not_reachable_where_alerts_go_by_telegram() -> None:
    console_only = _staff(Identity(Channel.CONSOLE, "900003"))
    on_telegram = _staff(Identity(Channel.CONSOLE, "900003"), Identity(Channel.TELEGRAM, "42"))
    assert not routing.reachable(console_only, Channel.TELEGRAM)
    assert routing.reachable(on_telegram, Channel.TELEGRAM)
    assert routing.reachable(console_only)  # the console shows every account its alerts
    assert not routing.reachable(_staff(Identity(Channel.TELEGRAM, "operator")), Channel.TELEGRAM)
    assert not routing.reachable(_staff(Identity(Channel.TELEGRAM, "42"), active=False), Channel.TELEGRAM)
