"""An administrator's work as a person: only admins, and the same rules as the command line's; on
SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from casework.access import Forbidden
from casework.directory import Change, hash_invite_code, parse_directory_yaml
from casework.domain import (
    AreaLevel,
    Conflict,
    InvalidInput,
    NotFound,
    Refusal,
    Role,
    StaffEvent,
    TicketAction,
)
from casework.staff_sign_in import StaffSignIn, token_hash
from tests.casework_world import World

FILE = """areas:
  - {code: s1, name: 和平街道（新）, level: street, parent: d}
  - {code: c1, name: 光明社区, level: community, parent: s2}
  - {code: s9, name: 东湖街道, level: street, parent: d}
organisations:
  - {name: 阳光社工, service_types: [resource_linking], areas: [s1]}
  - {name: 东湖社工, service_types: [psychological_support], areas: [s9]}
"""


@pytest.mark.parametrize("name", ["wang", "chief", "resident", "volunteer"])
async def test_only_an_admin_administers(world: World, name: str) -> None:
    administration = world.casework.administration
    with pytest.raises(Forbidden) as refused:
        await administration.people(world.people[name])
    assert refused.value.code is Refusal.ADMIN_ONLY
    with pytest.raises(Forbidden):
        await administration.invite(
            world.people[name], role=Role.SOCIAL_WORKER, area_code="s1", valid_for=timedelta(days=1)
        )
    with pytest.raises(Forbidden):
        await administration.activity(world.people[name])


async def test_a_preview_says_what_an_import_would_change_and_changes_nothing(world: World) -> None:
    admin = world.people["admin"]
    administration = world.casework.administration
    preview = await administration.preview_areas(admin, parse_directory_yaml(FILE))
    changes = {change.record.code: change.change for change in preview.areas}
    assert changes == {"s1": Change.RENAMED, "c1": Change.MOVED, "s9": Change.NEW}
    assert preview.new_organisations == ["东湖社工"]
    assert preview.known_organisations == ["阳光社工"]
    assert [problem.code for problem in preview.problems] == [Refusal.DIRECTORY_MOVES]  # c1, unasked
    async with world.database.transaction() as tx:
        assert await tx.areas.by_code("s9") is None
    moved = await administration.preview_areas(admin, parse_directory_yaml(FILE), move=True)
    assert moved.problems == []
    summary = await administration.import_areas(admin, parse_directory_yaml(FILE), move=True)
    assert (summary.areas_created, summary.areas_updated, summary.organisations_created) == (1, 2, 1)
    again = await administration.preview_areas(admin, parse_directory_yaml(FILE))
    assert {change.change for change in again.areas} == {Change.UNCHANGED}


async def test_an_invite_is_revoked_once_and_a_used_one_not_at_all(world: World) -> None:
    admin = world.people["admin"]
    administration = world.casework.administration
    issued = await administration.invite(
        admin, role=Role.SOCIAL_WORKER, area_code="s1", valid_for=timedelta(days=1)
    )
    assert issued.invite.id in {invite.id for invite in await administration.invites(admin)}
    await administration.revoke_invite(admin, issued.invite.id)
    async with world.database.transaction() as tx:
        revoked = await tx.invites.by_hash(hash_invite_code(issued.code))
    assert revoked is not None
    assert revoked.expires_at <= world.clock.now()
    with pytest.raises(InvalidInput):
        await administration.invite(admin, role=Role.RECIPIENT, area_code="s1", valid_for=timedelta(days=1))


async def test_closing_an_account_ends_its_sessions_but_not_ones_own(world: World) -> None:
    admin = world.people["admin"]
    sign_in = StaffSignIn(world.database, world.clock)
    signed = await sign_in.redeem_link(await sign_in.issue_link(world.people["wang"]))
    closed = await world.casework.administration.set_active(admin, world.people["wang"].id, False)
    assert not closed.active
    async with world.database.transaction() as tx:
        session = await tx.staff.session(token_hash(signed.token))
    assert session is not None
    assert session.ended_at is not None
    with pytest.raises(Conflict):
        await world.casework.administration.set_active(admin, admin.id, False)


async def test_the_activity_log_puts_signing_in_beside_what_was_done_to_tickets(world: World) -> None:
    admin, wang = world.people["admin"], world.people["wang"]
    sign_in = StaffSignIn(world.database, world.clock)
    await sign_in.redeem_link(await sign_in.issue_link(wang))
    world.clock.advance(timedelta(minutes=1))
    opened = await world.casework.open_ticket(world.report("c1"))
    world.clock.advance(timedelta(minutes=1))
    await world.casework.claim(wang, opened.ticket.id)
    administration = world.casework.administration
    everything = await administration.activity(admin, person_id=wang.id)
    assert [entry.action for entry in everything] == [
        TicketAction.CLAIMED.value,
        StaffEvent.SIGNED_IN.value,
        StaffEvent.LINK_ISSUED.value,
    ]
    claims = await administration.activity(admin, action=TicketAction.CLAIMED.value)
    assert [(entry.person_id, entry.ticket_id) for entry in claims] == [(wang.id, opened.ticket.id)]
    later = await administration.activity(admin, since=world.clock.now())
    assert [entry.action for entry in later] == [TicketAction.CLAIMED.value]


async def test_an_admin_changes_a_workers_role_and_areas_and_the_log_says_who(world: World) -> None:
    admin = world.people["admin"]
    wang = world.people["wang"]
    administration = world.casework.administration
    changed = await administration.set_staff(
        admin, wang.id, Role.SUPERVISOR, [world.areas["s1"], world.areas["s2"]]
    )
    assert changed.role is Role.SUPERVISOR
    assert changed.area_ids == {world.areas["s1"], world.areas["s2"]}
    await administration.set_active(admin, wang.id, False)
    logged = await administration.activity(admin, person_id=wang.id)
    assert [(entry.action, entry.detail) for entry in logged] == [
        (StaffEvent.ACCOUNT_CLOSED.value, f"by #{admin.id}"),
        (StaffEvent.STAFF_CHANGED.value, f"by #{admin.id}: social_worker → supervisor; s1, s2"),
    ]


async def test_a_change_to_staff_is_refused_for_a_resident_oneself_or_without_an_area(world: World) -> None:
    admin = world.people["admin"]
    administration = world.casework.administration
    s1 = world.areas["s1"]
    refusals = []
    for person, role, areas in [
        ("resident", Role.SOCIAL_WORKER, [s1]),  # a recipient becomes staff by an invite only
        ("wang", Role.RECIPIENT, [s1]),
        ("admin", Role.SOCIAL_WORKER, [s1]),
        ("wang", Role.SOCIAL_WORKER, []),
        ("wang", Role.SOCIAL_WORKER, [999_999]),
    ]:
        with pytest.raises((Conflict, InvalidInput, NotFound)) as refused:
            await administration.set_staff(admin, world.people[person].id, role, areas)
        refusals.append(refused.value.code)
    assert refusals == [
        Refusal.STAFF_BY_INVITE,
        Refusal.STAFF_BY_INVITE,
        Refusal.ADMIN_NOT_YOURSELF,
        Refusal.STAFF_NEEDS_AREA,
        Refusal.AREA_NOT_FOUND,
    ]
    ticket = (await world.casework.open_ticket(world.report("c1"))).ticket
    await world.casework.claim(world.people["wang"], ticket.id)
    with pytest.raises(Conflict) as holding:  # a case of theirs would be left with nobody to work it
        await administration.set_staff(admin, world.people["wang"].id, Role.VOLUNTEER, [s1])
    assert holding.value.code is Refusal.STAFF_HOLDS_CASES
    with pytest.raises(Conflict) as closing:  # nor with an account closed
        await administration.set_active(admin, world.people["wang"].id, False)
    assert closing.value.code is Refusal.STAFF_CLOSING_HOLDS_CASES
    with pytest.raises(Forbidden):
        await administration.set_staff(world.people["chief"], world.people["wang"].id, Role.ADMIN, [])
    async with world.database.transaction() as tx:
        wang = await tx.people.get(world.people["wang"].id)
    assert wang is not None
    assert (wang.role, wang.area_ids, wang.active) == (
        Role.SOCIAL_WORKER,
        world.people["wang"].area_ids,
        True,
    )


async def test_the_admin_is_told_which_areas_a_crisis_would_reach_nobody_now(world: World) -> None:
    administration = world.casework.administration
    async with world.database.transaction() as tx:
        await tx.areas.add(code="west", name="城西区", level=AreaLevel.DISTRICT)
        # A second admin with no chat the alerts could reach.
        second = await tx.people.add(now=world.clock.now(), display_name="admin2", role=Role.ADMIN)
    assert await administration.unreached(second) == []  # the first admin reaches every area
    await administration.set_active(second, world.people["admin"].id, False)
    assert [area.code for area in await administration.unreached(second)] == ["west"]
    await administration.add_on_call(second, person_id=world.people["chief"].id, hours="00:00-24:00")
    assert await administration.unreached(second) == []
    with pytest.raises(Forbidden):
        await administration.unreached(world.people["chief"])
