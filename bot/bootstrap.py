"""The composition root: every implementation needsbot runs with, chosen from the settings and built
once, here.

``bootstrap`` builds them into a ``Needsbot``; ``Needsbot.start`` runs what runs in the background (this
process's turn at the scheduler, the delivery of alerts) and ``Needsbot.stop`` lets go of all of it. The
command line, ``needsbot run`` (Telegram or the console), the tests and the benchmarks all get their
parts from it; tests pass their fakes as keyword arguments.

The NLU and the Telegram front end are imported only when built: a command that changes a ticket needs
neither, and scikit-learn and python-telegram-bot take seconds to import.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import redis.asyncio as aioredis

from bot.settings import NluBackend, Settings
from casework.clock import Clock, SystemClock
from casework.core import FollowUps
from casework.deadlines import DeadlinePolicy
from casework.domain import Channel
from casework.follow_ups import FollowUpWork
from casework.indicators import Weights, default_weights
from casework.jobs import JobServices
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
from casework.service import Casework
from casework.staff_sign_in import StaffSignIn
from storage import Database, create_database
from storage.dialog_state import redis_client

if TYPE_CHECKING:
    from telegram.ext import Application, BaseRateLimiter

    from bot.telegram_front import TelegramFrontEnd
    from bot.telegram_ui import Renderer
    from dialogs.catalog import Catalog
    from dialogs.engine import DialogEngine
    from dialogs.state import DialogStore, PersonLocks
    from nlu.crisis import CrisisScreener
    from nlu.policy import PolicyKnowledgeBase
    from nlu.understanding import EmbeddedClassifier, IntentClassifier

T = TypeVar("T")
AlertRelay = OutboxRelay | RedisStreamRelay


# --- understanding ----------------------------------------------------------------------------------


def build_screener(settings: Settings) -> CrisisScreener:
    """The crisis screen: lexicon rules and the risk model kept beside the embedded model."""
    from nlu.crisis import CrisisScreener

    return CrisisScreener.load(model_dir=settings.nlu_model_dir)


def build_embedded_classifier(
    settings: Settings, screener: CrisisScreener | None = None
) -> EmbeddedClassifier:
    """The embedded intent model kept in ``NLU_MODEL_DIR`` (trained there first when missing)."""
    from nlu import embedded
    from nlu.understanding import EmbeddedClassifier, ParseAssembler

    assembler = ParseAssembler(
        screener or build_screener(settings), default_language=settings.default_language.value
    )
    return EmbeddedClassifier(embedded.load_or_train(settings.nlu_model_dir), assembler)


def build_classifier(
    settings: Settings, backend: NluBackend | None = None, screener: CrisisScreener | None = None
) -> IntentClassifier:
    """The intent classifier of ``backend`` (default: the settings'); Rasa's answered for by the embedded
    model whenever Rasa cannot answer."""
    from nlu.rasa_client import RasaClassifier

    local = build_embedded_classifier(settings, screener)
    if (backend or settings.nlu_backend) is NluBackend.RASA:
        return RasaClassifier(settings.rasa_url, local, local.assembler, timeout=settings.rasa_timeout)
    return local


def build_knowledge_base() -> PolicyKnowledgeBase:
    """The policy knowledge base that answers policy questions."""
    from nlu.policy import PolicyKnowledgeBase

    return PolicyKnowledgeBase.load()


def build_weights(settings: Settings) -> Weights:
    """How agencies' evaluations weigh each voice: ``EVALUATION_WEIGHTS``, or needsbot's own."""
    return Weights.load(settings.evaluation_weights) if settings.evaluation_weights else default_weights()


def build_deadline_policy(settings: Settings) -> DeadlinePolicy:
    """Claim and resolve deadlines: ``DEADLINES_FILE``, or the ones that come with needsbot."""
    return DeadlinePolicy.load(settings.deadlines_file) if settings.deadlines_file else DeadlinePolicy.load()


# --- what is built ----------------------------------------------------------------------------------


@dataclass
class Conversations:
    """The understanding and the dialogs over the casework: what a chat needs and a command does not."""

    catalog: Catalog
    screener: CrisisScreener
    nlu: IntentClassifier
    knowledge: PolicyKnowledgeBase
    store: DialogStore
    locks: PersonLocks
    engine: DialogEngine


@dataclass
class Needsbot:
    """Every part of one needsbot process, each built once (``bootstrap``)."""

    settings: Settings
    clock: Clock
    database: Database
    redis: aioredis.Redis | None
    deadlines: DeadlinePolicy
    follow_ups: FollowUps
    casework: Casework
    people: People
    staff_sign_in: StaffSignIn
    jobs: JobServices
    scheduler: SchedulerRunner
    notifier: Notifier | None
    relay: AlertRelay | None
    conversations: Conversations | None
    telegram: TelegramFrontEnd | None
    owns_database: bool
    _stop: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False, repr=False)

    async def start(self) -> None:
        """Run this process's background work: its turn at the scheduler (jobs run while it holds the
        lease) and, with a notifier, the delivery of alerts. A command does not start: the follow-ups it
        schedules are written to the job store for whichever process runs the scheduler."""
        self._stop.clear()
        self._tasks.append(asyncio.create_task(self.scheduler.run(self._stop)))
        if self.relay is not None:
            self._tasks.append(asyncio.create_task(self.relay.run(self._stop)))

    async def stop(self) -> None:
        """Stop the background work and let go of what was opened: the scheduler (and its lease), the
        NLU's connections, Redis, and the database when it was built here."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.scheduler.shutdown()
        if self.conversations is not None:
            await self.conversations.nlu.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        if self.owns_database:
            await self.database.dispose()


# --- building it ------------------------------------------------------------------------------------


def bootstrap(
    settings: Settings,
    *,
    conversations: bool = True,
    telegram: bool = False,
    web: bool = False,
    database: Database | None = None,
    clock: Clock | None = None,
    notifier: Notifier | None = None,
    follow_ups: FollowUps | None = None,
    catalog: Catalog | None = None,
    screener: CrisisScreener | None = None,
    classifier: IntentClassifier | None = None,
    knowledge: PolicyKnowledgeBase | None = None,
    dialog_store: DialogStore | None = None,
    locks: PersonLocks | None = None,
    telegram_limits: BaseRateLimiter[Any] | None = None,
) -> Needsbot:
    """Every part needsbot runs with, built from ``settings``; each keyword after ``telegram`` replaces
    the part of its name (a database given is the caller's to dispose of).

    ``conversations`` builds the NLU, the knowledge base and the dialog engine; ``telegram`` the
    Telegram front end (which needs them), whose notifier then delivers the alerts; ``web`` says the
    web console is served (``bot.web``), so that ``/web`` gives links to it. This process
    delivers alerts when it has a notifier; with ``REDIS_URL`` the alert stream, the dialog state, the
    per-person locks and the scheduler's leader lock live in Redis, without it in the database and in
    process.
    """
    if telegram and not conversations:
        raise ValueError("the Telegram front end needs the conversations")
    clock = clock or SystemClock()
    owns_database = database is None
    database = database or create_database(settings.database_url)
    client = redis_client(settings.redis_url) if settings.redis_url else None
    deadlines = build_deadline_policy(settings)
    if conversations and catalog is None:
        from dialogs.catalog import Catalog

        catalog = Catalog.load()

    application: Application[Any, Any, Any, Any, Any, Any] | None = None
    renderer: Renderer | None = None
    if telegram and catalog is not None:
        from bot.telegram_bot import build_application
        from bot.telegram_delivery import TelegramNotifier
        from bot.telegram_ui import CallbackSigner, Renderer

        if settings.telegram_bot_token is None:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        application = build_application(settings, limits=telegram_limits)
        renderer = Renderer(catalog, CallbackSigner.for_token(settings.telegram_bot_token.get_secret_value()))
        notifier = notifier or TelegramNotifier(application.bot, renderer)

    relay: AlertRelay | None = None
    if notifier is not None:
        delivery = AlertDelivery(database, notifier, clock)
        relay = (
            RedisStreamRelay(client, delivery, consumer=process_identity())
            if client
            else OutboxRelay(delivery)
        )
    scheduler = build_scheduler(settings.database_url, settings.tz)
    follow_ups = follow_ups or ScheduledFollowUps(scheduler)
    casework = Casework(
        database,
        clock,
        deadlines,
        timezone=settings.tz,
        follow_ups=follow_ups,
        on_alerts_queued=relay.wake if relay is not None else None,
        alert_channel=settings.alert_channel,
        sign_messages_as=settings.message_signature,
        weights=build_weights(settings),
    )
    people = People(database, clock)
    staff_sign_in = StaffSignIn(database, clock)

    talk: Conversations | None = None
    if conversations and catalog is not None:
        talk = _conversations(
            settings,
            database,
            client,
            clock,
            casework,
            people,
            catalog,
            screener=screener,
            classifier=classifier,
            knowledge=knowledge,
            dialog_store=dialog_store,
            locks=locks,
            web=staff_sign_in if web else None,
        )
    jobs = JobServices(
        FollowUpWork(casework),
        sweep_dialogs=_dialog_sweep(talk.engine, people, clock, relay) if talk is not None else None,
    )
    leadership: Leadership = RedisLeadership(client) if client else LeaseLeadership(database, clock)

    front: TelegramFrontEnd | None = None
    if application is not None and renderer is not None and talk is not None:
        from bot.telegram_delivery import ReplySender
        from bot.telegram_front import TelegramFrontEnd
        from bot.telegram_menus import CommandMenus

        front = TelegramFrontEnd(
            application,
            database,
            talk.engine,
            people,
            clock,
            renderer,
            CommandMenus(application, talk.catalog),
            ReplySender(application.bot, database, clock),
            settings.default_language.value,
        )
    return Needsbot(
        settings=settings,
        clock=clock,
        database=database,
        redis=client,
        deadlines=deadlines,
        follow_ups=follow_ups,
        casework=casework,
        people=people,
        staff_sign_in=staff_sign_in,
        jobs=jobs,
        scheduler=SchedulerRunner(scheduler, leadership, jobs),
        notifier=notifier,
        relay=relay,
        conversations=talk,
        telegram=front,
        owns_database=owns_database,
    )


def _conversations(
    settings: Settings,
    database: Database,
    client: aioredis.Redis | None,
    clock: Clock,
    casework: Casework,
    people: People,
    catalog: Catalog,
    *,
    screener: CrisisScreener | None,
    classifier: IntentClassifier | None,
    knowledge: PolicyKnowledgeBase | None,
    dialog_store: DialogStore | None,
    locks: PersonLocks | None,
    web: StaffSignIn | None,
) -> Conversations:
    """The NLU and the dialog engine over ``casework``; without Redis the dialog state is kept in the
    database and the per-person locks in this process."""
    from bot.web import WebSignInLinks
    from dialogs.app import build_engine
    from dialogs.engine import Services
    from dialogs.state import MemoryLocks
    from storage.dialog_state import RedisDialogStore, RedisLocks, SqlDialogStore

    # One screener for the dialogs and the NLU: a message is screened once, its result cached.
    screener = screener or build_screener(settings)
    classifier = classifier or build_classifier(settings, screener=screener)
    knowledge = knowledge or build_knowledge_base()
    store = dialog_store or (RedisDialogStore(client, database) if client else SqlDialogStore(database))
    locks = locks or (RedisLocks(client) if client else MemoryLocks())
    services = Services(
        nlu=classifier,
        screener=screener,
        knowledge=knowledge,
        casework=casework,
        people=people,
        catalog=catalog,
        clock=clock,
        web=WebSignInLinks(web, settings.web_address) if web is not None else None,
    )
    engine = build_engine(
        services,
        store,
        locks,
        default_language=settings.default_language.value,
        remind_after=settings.dialog_remind_after,
        expire_after=settings.dialog_expire_after,
    )
    return Conversations(catalog, screener, classifier, knowledge, store, locks, engine)


def _dialog_sweep(
    engine: DialogEngine, people: People, clock: Clock, relay: AlertRelay | None
) -> Callable[[], Awaitable[int]]:
    """The scheduler's sweep of conversations left half-way: its reminders go out as messages."""
    from dialogs.messages import Reply

    async def outbound(key: str, replies: list[Reply], language: str) -> None:
        channel, _, user_id = key.partition(":")  # a dialog's key is its channel and account
        for reply in replies:
            await people.message(
                user_id, reply.key, now_suffix=clock.now().isoformat(), channel=Channel(channel)
            )
        if relay is not None:
            relay.wake()

    return lambda: engine.sweep_abandoned(outbound)


# --- for the command line ---------------------------------------------------------------------------


@asynccontextmanager
async def for_a_command(settings: Settings, database: Database) -> AsyncIterator[Needsbot]:
    """The parts a command works with: the casework and its clock, no NLU, no alert delivery. The
    follow-ups a command schedules (a survey after a close) go into the shared job store, for whichever
    process runs the scheduler; the command itself never runs it."""
    needsbot = bootstrap(settings, database=database, conversations=False)
    try:
        yield needsbot
    finally:
        await needsbot.stop()


def command(
    settings: Settings, work: Callable[[Needsbot], Awaitable[T]]
) -> Callable[[Database], Awaitable[T]]:
    """``work`` as a command runs it on its database (``run_with_database``): with a command's parts."""

    async def run(database: Database) -> T:
        async with for_a_command(settings, database) as needsbot:
            return await work(needsbot)

    return run
