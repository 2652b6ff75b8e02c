"""The one place that chooses implementations from the settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.settings import NluBackend, Settings
from casework import jobs
from casework.clock import SystemClock
from casework.deadlines import DeadlinePolicy
from casework.notify import Notifier
from casework.people import People
from casework.relay import AlertDelivery, OutboxRelay, RedisStreamRelay
from casework.scheduling import (
    Leadership,
    LeaseLeadership,
    RedisLeadership,
    ScheduledFollowUps,
    SchedulerRunner,
    build_scheduler,
    process_identity,
)
from casework.service import Casework, FollowUps, FollowUpWork
from dialogs.app import build_engine
from dialogs.catalog import Catalog
from dialogs.engine import DialogEngine, Services
from dialogs.messages import Reply
from dialogs.state import DialogStore, MemoryLocks, PersonLocks
from nlu import embedded
from nlu.crisis import CrisisScreener
from nlu.policy import PolicyKnowledgeBase
from nlu.rasa_client import RasaClassifier
from nlu.understanding import EmbeddedClassifier, IntentClassifier, ParseAssembler
from storage import Database
from storage.dialog_state import RedisDialogStore, RedisLocks, SqlDialogStore, redis_client


def build_screener(settings: Settings) -> CrisisScreener:
    """The crisis screen: lexicon rules and the risk model kept beside the embedded model."""
    return CrisisScreener.load(model_dir=settings.nlu_model_dir)


def build_embedded_classifier(
    settings: Settings, screener: CrisisScreener | None = None
) -> EmbeddedClassifier:
    assembler = ParseAssembler(
        screener or build_screener(settings), default_language=settings.default_language.value
    )
    return EmbeddedClassifier(embedded.load_or_train(settings.nlu_model_dir), assembler)


def build_classifier(
    settings: Settings, backend: NluBackend | None = None, screener: CrisisScreener | None = None
) -> IntentClassifier:
    local = build_embedded_classifier(settings, screener)
    if (backend or settings.nlu_backend) is NluBackend.RASA:
        return RasaClassifier(settings.rasa_url, local, local.assembler, timeout=settings.rasa_timeout)
    return local


def build_knowledge_base() -> PolicyKnowledgeBase:
    return PolicyKnowledgeBase.load()


# --- casework ---------------------------------------------------------------------------------------

clock = SystemClock()


def build_deadline_policy(settings: Settings) -> DeadlinePolicy:
    return DeadlinePolicy.load(settings.deadlines_file) if settings.deadlines_file else DeadlinePolicy.load()


def build_casework(
    settings: Settings,
    database: Database,
    *,
    follow_ups: FollowUps,
    on_alerts_queued: Callable[[], None] | None = None,
) -> Casework:
    return Casework(
        database,
        clock,
        build_deadline_policy(settings),
        timezone=settings.tz,
        follow_ups=follow_ups,
        on_alerts_queued=on_alerts_queued,
    )


@asynccontextmanager
async def casework_for_a_command(settings: Settings, database: Database) -> AsyncIterator[Casework]:
    """Casework for one command-line change: its follow-ups (a survey after a close, a visit reminder
    after an assignment) go into the shared job store, for whichever process runs the scheduler."""
    scheduler = build_scheduler(settings.database_url, settings.tz)
    scheduler.start(paused=True)
    try:
        yield build_casework(settings, database, follow_ups=ScheduledFollowUps(scheduler))
    finally:
        scheduler.shutdown(wait=False)


@dataclass
class CaseworkServices:
    """The casework with its scheduler and alert relay running in this process."""

    casework: Casework
    runner: SchedulerRunner
    relay: OutboxRelay | RedisStreamRelay | None
    _stop: asyncio.Event
    _tasks: list[asyncio.Task[None]]
    redis: aioredis.Redis | None

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.redis is not None:
            await self.redis.aclose()


async def start_casework_services(
    settings: Settings, database: Database, *, notifier: Notifier | None = None, run_relay: bool = True
) -> CaseworkServices:
    """Start the scheduler (paused until this process leads) and, given a notifier, the alert relay.

    With ``REDIS_URL`` the leader lock and the alert stream live in Redis; without it the lease is a
    database row and the relay reads the outbox table directly.
    """
    client = redis_client(settings.redis_url) if settings.redis_url else None
    scheduler = build_scheduler(settings.database_url, settings.tz)
    leadership: Leadership = RedisLeadership(client) if client else LeaseLeadership(database, clock)
    runner = SchedulerRunner(scheduler, leadership)
    runner.start_paused()
    relay: OutboxRelay | RedisStreamRelay | None = None
    if run_relay and notifier is not None:
        delivery = AlertDelivery(database, notifier, clock)
        relay = (
            RedisStreamRelay(client, delivery, consumer=process_identity())
            if client
            else OutboxRelay(delivery)
        )
    casework = build_casework(
        settings,
        database,
        follow_ups=ScheduledFollowUps(scheduler),
        on_alerts_queued=relay.wake if relay is not None else None,
    )
    jobs.install(FollowUpWork(casework))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(runner.run(stop))]
    if relay is not None:
        tasks.append(asyncio.create_task(relay.run(stop)))
    return CaseworkServices(casework, runner, relay, stop, tasks, client)


# --- conversations ----------------------------------------------------------------------------------


@dataclass
class Conversation:
    """Everything a channel needs: the dialog engine and the running casework services under it."""

    engine: DialogEngine
    catalog: Catalog
    casework: CaseworkServices
    nlu: IntentClassifier

    async def stop(self) -> None:
        await self.casework.stop()
        await self.nlu.aclose()


async def start_conversation(settings: Settings, database: Database, notifier: Notifier) -> Conversation:
    casework = await start_casework_services(settings, database, notifier=notifier)
    client = casework.redis
    # One screener for the dialogs and the NLU: a message is screened once, its result cached.
    screener = build_screener(settings)
    classifier = build_classifier(settings, screener=screener)
    catalog = Catalog.load()
    people = People(database, clock)
    services = Services(
        nlu=classifier,
        screener=screener,
        knowledge=build_knowledge_base(),
        casework=casework.casework,
        people=people,
        catalog=catalog,
        clock=clock,
    )
    store: DialogStore
    locks: PersonLocks
    if client is not None:
        store = RedisDialogStore(client, database)
        locks = RedisLocks(store)  # a turn's state travels with its person's lock
    else:
        store, locks = SqlDialogStore(database), MemoryLocks()
    engine = build_engine(
        services,
        store,
        locks,
        default_language=settings.default_language.value,
        remind_after=settings.dialog_remind_after,
        expire_after=settings.dialog_expire_after,
    )

    async def outbound(key: str, replies: list[Reply], language: str) -> None:
        _, _, user_id = key.partition(":")
        for reply in replies:
            await people.message(int(user_id), reply.key, now_suffix=clock.now().isoformat())
        if casework.relay is not None:
            casework.relay.wake()

    jobs.install_dialog_sweep(lambda: engine.sweep_abandoned(outbound))
    return Conversation(engine=engine, catalog=catalog, casework=casework, nlu=classifier)
