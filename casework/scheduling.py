"""APScheduler 3 for deadlines, reminders and follow-ups: jobs persist in the database, and only the
process holding the scheduler lease runs them.

Every process opens its scheduler paused, so follow-ups it schedules are written to the shared job
store. One process at a time holds the lease (a row in the database, or a Redis lock) and runs its
scheduler; if it stops, another takes the lease when it expires and runs what fell due meanwhile. A
scheduler runs the stored jobs with its own process's services (``JobExecutor``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

import redis.asyncio as aioredis
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING, STATE_STOPPED
from redis.exceptions import LockError, RedisError
from sqlalchemy.exc import SQLAlchemyError

from casework import jobs
from casework.clock import Clock
from casework.jobs import JobServices
from casework.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
LEASE_NAME = "scheduler"

# Misfire grace, on purpose: a reminder or survey that fell due while no scheduler ran is still worth
# sending days later; a report a day late is still read, later than that it is not; the deadline
# sweep always runs, once, however many minutes were missed (coalesce).
REMINDER_GRACE = timedelta(days=3)
SURVEY_GRACE = timedelta(days=7)
REPORT_GRACE = timedelta(days=1)
SWEEP_EVERY = timedelta(minutes=1)
DIALOG_SWEEP_EVERY = timedelta(minutes=5)
PRUNE_EVERY = timedelta(hours=6)


def sync_database_url(url: str) -> str:
    """The job store uses a blocking engine: the same database through a synchronous driver."""
    if url.startswith("sqlite+aiosqlite"):
        return url.replace("sqlite+aiosqlite", "sqlite", 1)
    if url.startswith("postgresql+asyncpg"):
        return url.replace("postgresql+asyncpg", "postgresql+psycopg", 1)
    return url


def job_store_url(database_url: str) -> str:
    """Where the jobs are kept: the same PostgreSQL database; for SQLite, a file beside the database.

    APScheduler writes its jobs through a blocking driver on the event loop. In a SQLite file shared
    with the bot, such a write could wait on a write lock held by one of the bot's own transactions,
    which cannot commit while the loop is blocked: the loop would stand still until SQLite gave up.
    """
    url = sync_database_url(database_url)
    head, separator, path = url.partition(":///")
    if head == "sqlite" and separator and path and path != ":memory:":
        stem, dot, suffix = path.rpartition(".")
        return f"{head}:///{stem}-jobs.{suffix}" if dot and "/" not in suffix else f"{url}-jobs"
    return url


def build_scheduler(database_url: str, timezone: tzinfo) -> AsyncIOScheduler:
    """A scheduler over the shared job store. It runs jobs once given its process's services
    (``SchedulerRunner``); until then it can only keep them."""
    return AsyncIOScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(
                url=job_store_url(database_url),
                tablename=JOB_TABLE,
                # Its own few connections, used a few times a minute: each checked before use, so a
                # database restart is not met as a failed job or a failed resumption.
                engine_options={"pool_pre_ping": True},
            )
        },
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(REMINDER_GRACE.total_seconds()),
        },
        timezone=timezone,
    )


def open_job_store(scheduler: AsyncIOScheduler) -> None:
    """Open the job store, paused, so that follow-ups scheduled are written to it; no job runs yet."""
    if scheduler.state == STATE_STOPPED:
        scheduler.start(paused=True)


class _WithServices:
    """A stored job as the executor hands it to APScheduler's ``run_coroutine_job``: its function
    given the services first; its id, arguments, grace time and name those of the job."""

    def __init__(self, job: Job, services: JobServices) -> None:
        self._job = job
        self.func = functools.partial(job.func, services)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class JobExecutor(AsyncIOExecutor):  # type: ignore[misc]
    """Runs each stored job on the event loop with this process's services as its first argument.

    An executor is APScheduler's own extension point for how a job is called (``_do_submit_job``);
    the stored reference and arguments stay as they are, so jobs stored by any earlier version run."""

    def __init__(self, services: JobServices) -> None:
        super().__init__()
        self.services = services

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        super()._do_submit_job(_WithServices(job, self.services), run_times)


def install_recurring_jobs(scheduler: AsyncIOScheduler) -> None:
    scheduler.add_job(
        jobs.sweep_deadlines,
        "interval",
        seconds=int(SWEEP_EVERY.total_seconds()),
        id="sweep_deadlines",
        replace_existing=True,
        misfire_grace_time=None,
    )
    scheduler.add_job(
        jobs.expire_dialogs,
        "interval",
        seconds=int(DIALOG_SWEEP_EVERY.total_seconds()),
        id="expire_dialogs",
        replace_existing=True,
        misfire_grace_time=None,
    )
    scheduler.add_job(
        jobs.prune_processed_updates,
        "interval",
        seconds=int(PRUNE_EVERY.total_seconds()),
        id="prune_processed_updates",
        replace_existing=True,
        misfire_grace_time=None,
    )
    scheduler.add_job(
        jobs.weekly_digest,
        "cron",
        day_of_week="mon",
        hour=9,
        id="weekly_digest",
        replace_existing=True,
        misfire_grace_time=int(REPORT_GRACE.total_seconds()),
    )
    scheduler.add_job(
        jobs.monthly_report,
        "cron",
        day=1,
        hour=9,
        id="monthly_report",
        replace_existing=True,
        misfire_grace_time=int(REPORT_GRACE.total_seconds()),
    )


class ScheduledFollowUps:
    """``FollowUps`` kept in the scheduler's job store, one job per ticket and kind (the store opened
    on first use, so a process that never schedules one never opens it)."""

    def __init__(self, scheduler: AsyncIOScheduler) -> None:
        self.scheduler = scheduler

    def home_visit_due(self, ticket_id: int, at: datetime) -> None:
        self._once(jobs.home_visit_reminder, f"home_visit:{ticket_id}", ticket_id, at, REMINDER_GRACE)

    def survey_due(self, ticket_id: int, at: datetime) -> None:
        self._once(jobs.satisfaction_survey, f"survey:{ticket_id}", ticket_id, at, SURVEY_GRACE)

    def reassessment_due(self, household_id: int, at: datetime) -> None:
        self._once(
            jobs.reassessment_reminder, f"reassessment:{household_id}", household_id, at, REMINDER_GRACE
        )

    def review_due(self, household_id: int, at: datetime) -> None:
        self._once(jobs.review_reminder, f"review:{household_id}", household_id, at, REMINDER_GRACE)

    def _once(
        self, job: jobs.JobFunction[[int]], job_id: str, subject: int, at: datetime, grace: timedelta
    ) -> None:
        """One job of its kind a ticket (or a household's file): the latest set replaces the one before."""
        open_job_store(self.scheduler)
        self.scheduler.add_job(
            job,
            "date",
            run_date=at,
            args=[subject],
            id=job_id,
            replace_existing=True,
            misfire_grace_time=int(grace.total_seconds()),
        )

    def cancel(self, ticket_id: int) -> None:
        open_job_store(self.scheduler)
        for kind in ("home_visit", "survey"):
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(f"{kind}:{ticket_id}")


class Leadership(Protocol):
    async def hold(self) -> bool:
        """Take or renew leadership; True while this process has it."""

    async def release(self) -> None: ...


def process_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseLeadership:
    """Leadership as a lease row in the database (works on SQLite and PostgreSQL alike)."""

    def __init__(self, database: UnitOfWork, clock: Clock, *, ttl: timedelta = timedelta(seconds=30)) -> None:
        self.database = database
        self.clock = clock
        self.ttl = ttl
        self.holder = process_identity()

    async def hold(self) -> bool:
        now = self.clock.now()
        try:
            async with self.database.transaction() as tx:
                return await tx.leases.acquire(LEASE_NAME, holder=self.holder, until=now + self.ttl, now=now)
        except (SQLAlchemyError, OSError) as error:  # the database away: lead again once it answers
            log.warning("scheduler leadership lost (%s)", type(error).__name__)
            return False

    async def release(self) -> None:
        async with self.database.transaction() as tx:
            await tx.leases.release(LEASE_NAME, holder=self.holder)


class RedisLeadership:
    """Leadership as a Redis lock with a timeout, renewed while held."""

    def __init__(self, client: aioredis.Redis, *, ttl: timedelta = timedelta(seconds=30)) -> None:
        self._lock = client.lock("needsbot:scheduler:leader", timeout=ttl.total_seconds(), blocking=False)

    async def hold(self) -> bool:
        try:
            if await self._lock.owned():
                await self._lock.reacquire()
                return True
            return bool(await self._lock.acquire(blocking=False))
        except (LockError, RedisError, OSError) as error:
            log.warning("scheduler leadership lost (%s)", type(error).__name__)
            return False

    async def release(self) -> None:
        try:
            if await self._lock.owned():
                await self._lock.release()
        except (LockError, RedisError, OSError):
            pass


class SchedulerRunner:
    """Runs the scheduler, its jobs given ``services``, while this process leads; keeps it paused
    otherwise. The scheduler is handed to it before it is opened."""

    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        leadership: Leadership,
        services: JobServices,
        *,
        renew_every: timedelta = timedelta(seconds=10),
    ) -> None:
        scheduler.add_executor(JobExecutor(services), "default")
        self.scheduler = scheduler
        self.leadership = leadership
        self.services = services
        self.renew_every = renew_every
        self.leading = False

    def start_paused(self) -> None:
        """Open the job store so follow-ups can be scheduled, without running any job yet."""
        open_job_store(self.scheduler)

    async def step(self) -> bool:
        self.start_paused()
        leading = await self.leadership.hold()
        if leading and self.scheduler.state == STATE_PAUSED:
            install_recurring_jobs(self.scheduler)
            self.scheduler.resume()
            log.info("this process now runs the scheduler")
        elif not leading and self.scheduler.state == STATE_RUNNING:
            self.scheduler.pause()
            log.info("another process runs the scheduler now")
        self.leading = leading
        return leading

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.step()
                except Exception:  # no deadlines or reminders until the bot restarts: try again instead
                    log.exception("scheduler step failed; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.renew_every.total_seconds())
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        if self.scheduler.state != STATE_STOPPED:
            self.scheduler.shutdown(wait=False)
        if self.leading:
            await self.leadership.release()
            self.leading = False
