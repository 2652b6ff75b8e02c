"""The scheduler: jobs kept in the database across restarts, run by one process at a time."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import create_engine, select, text

from casework import jobs
from casework.case_file import NewGoal
from casework.clock import SystemClock
from casework.domain import Channel, ServiceType, TicketStatus
from casework.jobs import JobServices
from casework.scheduling import (
    JOB_TABLE,
    JobExecutor,
    Leadership,
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
from tests.assessments import answers
from tests.casework_world import World, build_world
from tests.conftest import _emptied
from tests.services import TEST_REDIS_URL, drop_connections, reachable, unavailable


@pytest.fixture
async def world(database: Database) -> World:
    async with database.engine.begin() as connection:
        await connection.execute(text(f"DROP TABLE IF EXISTS {JOB_TABLE}"))
    return await build_world(database)


def _scheduler(database: Database) -> AsyncIOScheduler:
    return build_scheduler(database.engine.url.render_as_string(hide_password=False), UTC)


def _runner(world: World, leadership: Leadership | None = None, **options: Any) -> SchedulerRunner:
    """A process's scheduler: its jobs run with the world's services, its leadership a lease row."""
    return SchedulerRunner(
        _scheduler(world.database),
        leadership or LeaseLeadership(world.database, SystemClock()),
        JobServices(world.work),
        **options,
    )


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
    world = await build_world(database)
    runner = _runner(world)
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
    runner = _runner(world, _FailsOnce(), renew_every=timedelta(milliseconds=50))
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
    bot = _runner(world)
    bot.start_paused()
    ScheduledFollowUps(bot.scheduler).home_visit_due(
        ticket.id, datetime.now(UTC) + timedelta(milliseconds=300)
    )
    await bot.shutdown()
    await asyncio.sleep(0.6)  # it falls due while nothing runs

    # Two processes come back; one leads and runs what was missed.
    runners = [_runner(world) for _ in range(2)]
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
    assert {"sweep_deadlines", "weekly_digest", "monthly_report", "prune_processed_updates"} <= job_ids


async def test_the_case_files_reminders_survive_a_restart(world: World) -> None:
    """A household's reassessment and its plan's review, scheduled by a process that then stops, are
    run by whichever process leads next: each worker reminder once."""
    wang = world.people["wang"]
    ticket = (await world.casework.open_ticket(world.report(household_address="幸福路12号"))).ticket
    await world.casework.claim(wang, ticket.id)
    await world.casework.record_assessment(wang, ticket.id, answers())
    await world.casework.add_goal(wang, ticket.id, NewGoal(ServiceType.RESOURCE_LINKING, "申请临时救助"))
    on_file = await world.casework.case_file(wang, ticket.id)
    assert on_file is not None
    world.clock.advance(world.casework.policy.reassess_after)  # both have fallen due for the casework

    bot = _runner(world)
    bot.start_paused()
    follow_ups = ScheduledFollowUps(bot.scheduler)
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    follow_ups.reassessment_due(on_file.household.id, soon)
    follow_ups.review_due(on_file.household.id, soon)
    await bot.shutdown()
    await asyncio.sleep(0.6)

    runner = _runner(world)
    assert await runner.step()

    async def reminded() -> bool:
        return bool(await world.outbox("reassessment_due")) and bool(await world.outbox("review_due"))

    try:
        await _wait_for(10, reminded)
    finally:
        await runner.shutdown()
    assert await world.outbox("reassessment_due") == [("reassessment_due", wang.id, None)]
    assert await world.outbox("review_due") == [("review_due", wang.id, None)]


async def test_a_reminder_stored_by_an_earlier_version_runs_as_it_was_stored(world: World) -> None:
    """A job row as APScheduler pickled it before jobs were given their services (the reference
    ``casework.jobs:home_visit_reminder`` and the ticket id): it runs, and reminds the worker."""
    wang = world.people["wang"]
    ticket = (await world.casework.open_ticket(world.report(needs_home_visit=True))).ticket
    await world.casework.claim(wang, ticket.id)
    due = datetime.now(UTC) - timedelta(seconds=1)
    stored = {
        "version": 1,
        "id": f"home_visit:{ticket.id}",
        "func": "casework.jobs:home_visit_reminder",
        "trigger": DateTrigger(run_date=due),
        "executor": "default",
        "args": (ticket.id,),
        "kwargs": {},
        "name": "home_visit_reminder",
        "misfire_grace_time": int(timedelta(days=3).total_seconds()),
        "coalesce": True,
        "max_instances": 1,
        "next_run_time": due,
    }
    runner = _runner(world)
    runner.start_paused()  # the job table, as every earlier version made it
    store = create_engine(job_store_url(world.database.engine.url.render_as_string(hide_password=False)))
    with store.begin() as connection:
        connection.execute(
            text(f"INSERT INTO {JOB_TABLE} (id, next_run_time, job_state) VALUES (:id, :at, :state)"),  # noqa: S608
            {"id": stored["id"], "at": due.timestamp(), "state": pickle.dumps(stored)},
        )
    store.dispose()

    async def reminded() -> bool:
        return bool(await world.outbox("home_visit_due"))

    try:
        assert await runner.step()
        await _wait_for(10, reminded)
    finally:
        await runner.shutdown()
    assert await world.outbox("home_visit_due") == [("home_visit_due", wang.id, None)]


async def test_each_scheduler_runs_its_jobs_with_the_services_it_was_given(world: World) -> None:
    """Two schedulers in one process (as in a test, or a bench): neither's jobs reach the other's
    services, and nothing is installed in the jobs' module."""
    swept: list[str] = []

    def sweep(name: str) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            swept.append(name)
            return 0

        return run

    schedulers = []
    for name in ("first", "second"):
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_executor(JobExecutor(JobServices(world.work, sweep(name))), "default")
        scheduler.add_job(jobs.expire_dialogs, "date", run_date=datetime.now(UTC), id="expire_dialogs")
        scheduler.start()
        schedulers.append(scheduler)

    async def both() -> bool:
        return len(swept) == 2

    try:
        await _wait_for(5, both)
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=False)
    assert sorted(swept) == ["first", "second"]


async def test_a_cancelled_follow_up_never_fires(world: World) -> None:
    wang = world.people["wang"]
    ticket = (await world.casework.open_ticket(world.report(needs_home_visit=True))).ticket
    runner = _runner(world)
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
    runner = _runner(world)
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
    runner = _runner(world)
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
        await tx.outgoing.done([long_ago.id], now=now - ages[2])
        await tx.outgoing.done([yesterday.id], now=now - timedelta(days=1))
    await jobs.prune_processed_updates(JobServices(world.work))
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
