"""Signing staff in to the web console: one-time links, passwords, lockout, sessions that end; on
SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from casework.domain import Channel, Refusal, StaffEvent
from casework.staff_sign_in import (
    IDLE_AFTER,
    LOCK_AFTER_FAILURES,
    LOCKED_FOR,
    SESSION_LASTS,
    SignInRefused,
    StaffSignIn,
)
from tests.casework_world import World

PASSWORD = "correct horse battery"


@pytest.fixture
def sign_in(world: World) -> StaffSignIn:
    return StaffSignIn(world.database, world.clock)


async def test_a_link_signs_a_worker_in_once(world: World, sign_in: StaffSignIn) -> None:
    token = await sign_in.issue_link(world.people["wang"])
    signed = await sign_in.redeem_link(token)
    assert signed.person.id == world.people["wang"].id
    assert signed.session.via == "link"
    person, session = await sign_in.current(signed.token)
    assert (person.id, session.id) == (world.people["wang"].id, signed.session.id)
    with pytest.raises(SignInRefused) as refused:
        await sign_in.redeem_link(token)
    assert refused.value.code is Refusal.WEB_LINK_SPENT


async def test_a_link_expires_after_ten_minutes(world: World, sign_in: StaffSignIn) -> None:
    token = await sign_in.issue_link(world.people["chief"])
    world.clock.advance(timedelta(minutes=10, seconds=1))
    with pytest.raises(SignInRefused):
        await sign_in.redeem_link(token)


@pytest.mark.parametrize("name", ["resident", "volunteer"])
async def test_residents_and_volunteers_get_no_link(world: World, sign_in: StaffSignIn, name: str) -> None:
    with pytest.raises(SignInRefused) as refused:
        await sign_in.issue_link(world.people[name])
    assert refused.value.code is Refusal.WEB_STAFF_ONLY


async def test_a_password_set_from_a_session_signs_in_by_its_login_name(
    world: World, sign_in: StaffSignIn
) -> None:
    wang = world.people["wang"]
    login = await sign_in.set_password(wang, PASSWORD, login="Wang.Fang")
    assert login == "wang.fang"
    signed = await sign_in.sign_in("WANG.fang ", PASSWORD)
    assert signed.person.id == wang.id
    assert signed.person.identity_on(Channel.WEB) is not None
    # The login name stays; the password can change.
    assert await sign_in.set_password(signed.person, PASSWORD + "!", login="other") == "wang.fang"
    with pytest.raises(SignInRefused):
        await sign_in.sign_in("wang.fang", PASSWORD)
    assert (await sign_in.sign_in("wang.fang", PASSWORD + "!")).person.id == wang.id


async def test_passwords_and_login_names_are_checked(world: World, sign_in: StaffSignIn) -> None:
    with pytest.raises(Exception, match=r"web\.password_short"):
        await sign_in.set_password(world.people["wang"], "short", login="wang")
    with pytest.raises(Exception, match=r"web\.login_form"):
        await sign_in.set_password(world.people["wang"], PASSWORD, login="王 芳")
    await sign_in.set_password(world.people["wang"], PASSWORD, login="wang")
    with pytest.raises(Exception, match=r"web\.login_taken"):
        await sign_in.set_password(world.people["li"], PASSWORD, login="WANG")


async def test_six_wrong_passwords_lock_the_account_for_thirty_minutes(
    world: World, sign_in: StaffSignIn
) -> None:
    await sign_in.set_password(world.people["chief"], PASSWORD, login="chief")
    for _ in range(LOCK_AFTER_FAILURES - 1):
        with pytest.raises(SignInRefused) as refused:
            await sign_in.sign_in("chief", "wrong password")
        assert refused.value.code is Refusal.WEB_BAD_SIGN_IN
    with pytest.raises(SignInRefused) as refused:
        await sign_in.sign_in("chief", "wrong password")
    assert refused.value.code is Refusal.WEB_LOCKED
    assert refused.value.arguments == {"minutes": 30}
    # Locked: even the right password is refused until the time is up.
    world.clock.advance(LOCKED_FOR - timedelta(minutes=1))
    with pytest.raises(SignInRefused) as refused:
        await sign_in.sign_in("chief", PASSWORD)
    assert refused.value.code is Refusal.WEB_LOCKED
    world.clock.advance(timedelta(minutes=1))
    assert (await sign_in.sign_in("chief", PASSWORD)).person.id == world.people["chief"].id
    events = [entry.event for entry in await sign_in.log(person_id=world.people["chief"].id)]
    assert events.count(StaffEvent.SIGN_IN_FAILED) == LOCK_AFTER_FAILURES + 1
    assert StaffEvent.LOCKED_OUT in events
    assert events[0] is StaffEvent.SIGNED_IN


async def test_a_right_password_starts_the_count_of_wrong_ones_again(
    world: World, sign_in: StaffSignIn
) -> None:
    await sign_in.set_password(world.people["chief"], PASSWORD, login="chief")
    for _ in range(2):
        for _ in range(LOCK_AFTER_FAILURES - 1):
            with pytest.raises(SignInRefused):
                await sign_in.sign_in("chief", "wrong password")
        await sign_in.sign_in("chief", PASSWORD)


async def test_an_unknown_login_name_is_refused_as_a_wrong_password(sign_in: StaffSignIn) -> None:
    with pytest.raises(SignInRefused) as refused:
        await sign_in.sign_in("nobody", PASSWORD)
    assert refused.value.code is Refusal.WEB_BAD_SIGN_IN
    [entry] = await sign_in.log()
    assert (entry.person_id, entry.event, entry.detail) == (None, StaffEvent.SIGN_IN_FAILED, "unknown login")


async def test_a_session_ends_after_fifteen_idle_minutes(world: World, sign_in: StaffSignIn) -> None:
    signed = await sign_in.redeem_link(await sign_in.issue_link(world.people["wang"]))
    world.clock.advance(IDLE_AFTER - timedelta(seconds=1))
    await sign_in.current(signed.token)  # a request keeps it alive
    world.clock.advance(IDLE_AFTER - timedelta(seconds=1))
    await sign_in.current(signed.token)
    world.clock.advance(IDLE_AFTER)
    with pytest.raises(SignInRefused) as refused:
        await sign_in.current(signed.token)
    assert refused.value.code is Refusal.WEB_SESSION_ENDED
    world.clock.advance(-IDLE_AFTER)  # ended stays ended
    with pytest.raises(SignInRefused):
        await sign_in.current(signed.token)


async def test_requests_close_together_write_the_session_once(world: World, sign_in: StaffSignIn) -> None:
    signed = await sign_in.redeem_link(await sign_in.issue_link(world.people["wang"]))
    seen = []
    for step in (timedelta(seconds=10), timedelta(seconds=10), timedelta(seconds=15)):
        world.clock.advance(step)
        _, session = await sign_in.current(signed.token)
        seen.append(session.last_seen_at)
    _, session = await sign_in.current(signed.token)
    start = signed.session.last_seen_at
    assert seen[:2] == [start, start]  # within TOUCH_AFTER: not written
    assert session.last_seen_at == start + timedelta(seconds=35)  # written by the third
    world.clock.advance(IDLE_AFTER - timedelta(seconds=1))  # idle counts from the last written
    await sign_in.current(signed.token)


async def test_a_session_ends_after_twelve_hours_however_busy(world: World, sign_in: StaffSignIn) -> None:
    signed = await sign_in.redeem_link(await sign_in.issue_link(world.people["wang"]))
    busy = timedelta(minutes=10)
    for _ in range(int(SESSION_LASTS / busy) - 1):
        world.clock.advance(busy)
        await sign_in.current(signed.token)
    world.clock.advance(busy)
    with pytest.raises(SignInRefused):
        await sign_in.current(signed.token)


async def test_revoking_signs_a_person_out_everywhere(world: World, sign_in: StaffSignIn) -> None:
    wang = world.people["wang"]
    first = await sign_in.redeem_link(await sign_in.issue_link(wang))
    second = await sign_in.redeem_link(await sign_in.issue_link(wang))
    other = await sign_in.redeem_link(await sign_in.issue_link(world.people["li"]))
    assert await sign_in.revoke(wang.id) == 2
    for signed in (first, second):
        with pytest.raises(SignInRefused):
            await sign_in.current(signed.token)
    await sign_in.current(other.token)
    await sign_in.sign_out(other.session)
    with pytest.raises(SignInRefused):
        await sign_in.current(other.token)


async def test_a_session_ends_when_its_person_is_no_longer_staff(world: World, sign_in: StaffSignIn) -> None:
    signed = await sign_in.redeem_link(await sign_in.issue_link(world.people["wang"]))
    async with world.database.transaction() as tx:
        await tx.people.update(world.people["wang"].id, active=False)
    with pytest.raises(SignInRefused):
        await sign_in.current(signed.token)


async def test_the_store_keeps_no_token_nor_password(world: World, sign_in: StaffSignIn) -> None:
    token = await sign_in.issue_link(world.people["wang"])
    signed = await sign_in.redeem_link(token)
    await sign_in.set_password(signed.person, PASSWORD, login="wang")
    from sqlalchemy import text

    async with world.database.engine.connect() as connection:
        for table in ("staff_sign_in_links", "staff_sessions", "staff_passwords", "staff_log"):
            rows = (await connection.execute(text(f"SELECT * FROM {table}"))).all()  # noqa: S608
            flat = " ".join(str(value) for row in rows for value in row)
            for secret in (token, signed.token, PASSWORD):
                assert secret not in flat
