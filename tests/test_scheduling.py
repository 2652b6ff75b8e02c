"""The scheduler: jobs kept in the database across restarts, run by one process at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from sqlalchemy import create_engine, select, text

from casework import jobs
from casework.clock import SystemClock
from casework.domain import Channel, TicketStatus
from casework.scheduling import (
    JOB_TABLE,
    LeaseLeadership,
    RedisLeadership,
    ScheduledFollowUps,
    SchedulerRunner,
    build_scheduler,
    install_recurring_jobs,
    job_store_url,
    sync_database_url,
)
from storage import Database
from storage.models import OutgoingRow, ProcessedUpdateRow
from storage.repositories import Outgoing
from tests.casework_world import World, build_world
from tests.conftest import _emptied
from tests.services import TEST_REDIS_URL, drop_connections, reachable, unavailable


@pytest.fixture
async def world(database: Database) -> World:
    async with database.engine.begin() as connection:
        await connection.execute(text(f"DROP TABLE IF EXISTS {JOB_TABLE}"))
    built = await build_world(database)
    jobs.install(built.work)
    return built


def _scheduler(database: Database) -> AsyncIOScheduler:
    return build_scheduler(database.engine.url.render_as_string(hide_password=False), UTC)


async def _wait_for(condition_seconds: float, check: object) -> None:
    deadline = asyncio.get_running_loop().time() + condition_seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///var/x.sqlite3", "sqlite:///var/x.sqlite3"),
        ("postgresql+asyncpg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
    ],
)
def test_the_job_store_reaches_the_same_database_synchronously(url: str, expected: str) -> None:
    assert sync_database_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///var/needsbot.sqlite3", "sqlite:///var/needsbot-jobs.sqlite3"),
        ("sqlite+aiosqlite:////tmp/a.b/db", "sqlite:////tmp/a.b/db-jobs"),
        ("sqlite+aiosqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+asyncpg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
    ],
)
def test_sqlite_jobs_live_beside_the_database(url: str, expected: str) -> None:
    assert job_store_url(url) == expected


async def test_one_process_holds_the_lease_until_it_lets_go_or_it_expires(world: World) -> None:
    clock = SystemClock()
    first = LeaseLeadership(world.database, clock, ttl=timedelta(seconds=1))
    second = LeaseLeadership(world.database, clock, ttl=timedelta(seconds=1))
    assert await first.hold()
    assert not await second.hold()
    assert await first.hold()  # renewing
    await first.release()
    assert await second.hold()
    await asyncio.sleep(1.2)  # the holder stopped renewing: the lease expires
    assert await first.hold()
    assert not await second.hold()


@pytest.mark.postgres
async def test_a_runner_whose_lease_cannot_be_renewed_pauses_then_leads_again(postgres_url: str) -> None:
    database = await _emptied(postgres_url)
    runner = SchedulerRunner(_scheduler(database), LeaseLeadership(database, SystemClock()))
    try:
        assert await runner.step()
        assert runner.scheduler.state == STATE_RUNNING
        assert await drop_connections(postgres_url)  # the database restarted under it
        assert not await runner.step()  # the renewal failed: paused, not stopped
        assert runner.scheduler.state == STATE_PAUSED
        assert await runner.step()  # on new connections, leading again
        assert runner.scheduler.state == STATE_RUNNING
    finally:
        await runner.shutdown()
        await database.dispose()


class _FailsOnce:
    """Leadership whose first renewal fails in a way nobody foresaw."""

    def __init__(self) -> None:
        self.failed = False

    async def hold(self) -> bool:
        if not self.failed:
            self.failed = True
            raise RuntimeError("unforeseen")
        return True

    async def release(self) -> None:
        pass


async def test_a_runner_outlives_a_failed_step(world: World) -> None:
    runner = SchedulerRunner(_scheduler(world.database), _FailsOnce(), renew_every=timedelta(milliseconds=50))
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))

    async def leading() -> bool:
        return bool(runner.scheduler.state == STATE_RUNNING)

    try:
        await _wait_for(5, leading)
        assert not running.done()
        assert runner.leading
    finally:
        stop.set()
        await running


async def test_a_reminder_that_fell_due_while_no_scheduler_ran_fires_once_after_restart(world: World) -> None:
    wang = world.people["wang"]
    ticket = (await world.casework.open_ticket(world.report(needs_home_visit=True))).ticket
    await world.casework.claim(wang, ticket.id)

    # A bot process that does not lead schedules the reminder, then stops.
    bot = SchedulerRunner(_scheduler(world.database), LeaseLeadership(world.database, SystemClock()))
    bot.start_paused()
    ScheduledFollowUps(bot.scheduler).home_visit_due(
        ticket.id, datetime.now(UTC) + timedelta(milliseconds=300)
    )
    await bot.shutdown()
    await asyncio.sleep(0.6)  # it falls due while nothing runs

    # Two processes come back; one leads and runs what was missed.
    runners = [
        SchedulerRunner(_scheduler(world.database), LeaseLeadership(world.database, SystemClock()))
        for _ in range(2)
    ]
    leading = [await runner.step() for runner in runners]
    assert sorted(leading) == [False, True]

    async def reminded() -> bool:
        return bool(await world.outbox("home_visit_due"))

    await _wait_for(10, reminded)
    for runner in runners:
        await runner.step()
    await asyncio.sleep(0.3)
    for runner in runners:
        await runner.shutdown()
    assert await world.outbox("home_visit_due") == [("home_visit_due", wang.id, None)]
    store = create_engine(job_store_url(str(world.database.engine.url.render_as_string(hide_password=False))))
    with store.connect() as connection:
        left = connection.execute(text(f"SELECT id FROM {JOB_TABLE}"))  # noqa: S608 - a constant
        job_ids = {row[0] for row in left}
    store.dispose()
    assert f"home_visit:{ticket.id}" not in job_ids
    assert {"sweep_deadlines", "weekly_digest", "prune_processed_updates"} <= job_ids


async def test_a_cancelled_follow_up_never_fires(world: World) -> None:
    wang = world.people["wang"]
    ticket = (await world.casework.open_ticket(world.report(needs_home_visit=True))).ticket
    runner = SchedulerRunner(_scheduler(world.database), LeaseLeadership(world.database, SystemClock()))
    await runner.step()
    follow_ups = ScheduledFollowUps(runner.scheduler)
    await world.casework.claim(wang, ticket.id)
    follow_ups.home_visit_due(ticket.id, datetime.now(UTC) + timedelta(milliseconds=400))
    follow_ups.cancel(ticket.id)
    follow_ups.cancel(ticket.id)  # cancelling twice is harmless
    await asyncio.sleep(0.8)
    await runner.shutdown()
    assert await world.outbox("home_visit_due") == []


async def test_the_recurring_sweep_escalates_overdue_tickets(world: World) -> None:
    await world.casework.open_ticket(world.report())
    world.clock.advance(timedelta(days=2))
    runner = SchedulerRunner(_scheduler(world.database), LeaseLeadership(world.database, SystemClock()))
    await runner.step()
    runner.scheduler.modify_job("sweep_deadlines", next_run_time=datetime.now(UTC))

    async def escalated() -> bool:
        return bool(await world.outbox("ticket_escalated"))

    await _wait_for(10, escalated)
    await runner.shutdown()
    assert len(await world.outbox("ticket_escalated")) == 1
    ticket = (await world.casework.queue(world.people["chief"]))[0].ticket
    assert ticket.status is TicketStatus.NEW
    assert ticket.escalation_level == 2


async def test_the_handled_updates_are_pruned_by_a_recurring_job(world: World) -> None:
    runner = SchedulerRunner(_scheduler(world.database), LeaseLeadership(world.database, SystemClock()))
    runner.start_paused()
    try:
        install_recurring_jobs(runner.scheduler)
        job = runner.scheduler.get_job("prune_processed_updates")
        assert job is not None
        assert job.func is jobs.prune_processed_updates
        assert job.trigger.interval <= timedelta(days=1)  # Telegram redelivers within 24 hours
    finally:
        await runner.shutdown()

    now = world.clock.now()
    ages = {
        1: timedelta(days=30),
        2: timedelta(days=7, minutes=1),
        3: timedelta(days=6, hours=23),
        4: timedelta(0),
    }
    async with world.database.transaction() as tx:
        for update_id, age in ages.items():
            assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=update_id, now=now - age)
        messages = [Outgoing("sent long ago"), Outgoing("sent yesterday"), Outgoing("still waiting")]
        await tx.outgoing.add(messages, channel=Channel.TELEGRAM, chat_id=5, update_id=1, now=now - ages[1])
    async with world.database.transaction() as tx:
        long_ago, yesterday, _ = await tx.outgoing.waiting(channel=Channel.TELEGRAM, chat_id=5)
        assert long_ago.id is not None
        assert yesterday.id is not None
        await tx.outgoing.done(long_ago.id, now=now - ages[2])
        await tx.outgoing.done(yesterday.id, now=now - timedelta(days=1))
    await jobs.prune_processed_updates()
    async with world.database.transaction() as tx:
        left = set(await tx.session.scalars(select(ProcessedUpdateRow.update_id)))
        texts = set(await tx.session.scalars(select(OutgoingRow.text)))
    assert left == {3, 4}  # a week is kept, what is older goes
    assert texts == {"sent yesterday", "still waiting"}  # and the messages sent as long ago
    async with world.database.transaction() as tx:  # a pruned update is one nobody will deliver again
        assert not await tx.updates.record(channel=Channel.TELEGRAM, update_id=3, now=now)


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    if not reachable(TEST_REDIS_URL, 6379):
        unavailable(f"Redis at {TEST_REDIS_URL}")
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    await client.delete("needsbot:scheduler:leader")
    try:
        yield client
    finally:
        await client.delete("needsbot:scheduler:leader")
        await client.aclose()


@pytest.mark.redis
async def test_with_redis_one_process_holds_the_leader_lock(redis_client: aioredis.Redis) -> None:
    first = RedisLeadership(redis_client, ttl=timedelta(seconds=1))
    second = RedisLeadership(redis_client, ttl=timedelta(seconds=1))
    assert await first.hold()
    assert not await second.hold()
    assert await first.hold()
    await first.release()
    assert await second.hold()
    await asyncio.sleep(1.2)  # not renewed: the lock times out
    assert await first.hold()
    assert not await second.hold()
    await first.release()
