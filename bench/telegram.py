"""Messages per second and round-trip latency through the real python-telegram-bot stack, for the full
needsbot bot and for a bare echo bot in the same run, each talking HTTP to the Bot API fake
(``tests.telegram_fake``) by long polling; and the ratio of the two rates (the floor is 0.4).

A round trip runs from the moment the fake queues a resident's message for ``getUpdates`` to the
moment it receives the bot's first ``sendMessage`` answering it: the first one to that chat after the
update was handed to the bot (the full bot may answer one message with several; only the first
counts). Simulated residents talk at once, each sending its next message when the previous one was
answered; the full bot's residents are new, so their first message is answered with the welcome and
the consent questions, which they answer by typing "是" / "yes" before asking for help and about
policies. Both bots stay up side by side (the idle one waiting on its long poll) and rounds alternate
between them, new residents each round, so a passing load on the machine falls on both alike. The first
six rounds of each are a warm-up at the measured load, not counted: the first NLU parses, and each
bot's pool of Bot API connections settled (connections a burst opened stand idle afterwards, and
httpcore looks over every one on every request until httpx closes it after 5 s idle; the echo bot's
rate rises by a third once that has happened, some 10 s into a run). Each bot's median measured round
is printed with every measured round's rate. The ratio is the median of the rounds' ratios, each full
round over the echo round right after it: the machine's speed drifts by more than the difference
measured (within one run the echo bot alone has ranged from 150 to 440 messages a second, on another
day from 270 to 560), and a pair of neighbouring rounds sees the same machine. The ratio of the two
median rounds, which may come from different stretches of the run, is printed beside it.

The full bot sends through its own Bot API client (``bot.telegram_http``, aiohttp), the echo bot
through PTB's default (httpx), as a bare PTB bot would; ``--echo-aiohttp`` gives the echo bot the full
bot's client, to see the bots' own work apart from the client's.

Telegram's flood limits are lifted for both bots: the full bot runs with
``TelegramLimits(overall_per_second=1e6, group_per_minute=1e6, chat_burst=0)``, the echo bot has no
rate limiter. With the limits both would be capped at about 30 messages a second and the ratio would
say nothing. The fake and the bot share one process and one event loop, for both bots alike.

The full bot's store is a temporary SQLite file unless ``--postgres`` (a scratch PostgreSQL database);
``--redis`` keeps dialog state, locks and the alert stream in Redis (db 14, flushed first). The NLU
model is the one in ``var/nlu`` (trained there first when missing, about 20 s, not measured).

    .venv/bin/python -m bench.telegram [--users 20] [--messages 10] [--rounds 7] [--postgres] [--redis]
        [--echo-aiohttp]
    .venv/bin/python -m bench.telegram --clients   # a sendMessage's cost through each Bot API client
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import logging
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

from bench.common import percentile
from bot.bootstrap import Needsbot, bootstrap
from bot.settings import load_settings
from bot.telegram_bot import serve
from bot.telegram_delivery import TelegramLimits
from bot.telegram_http import AiohttpRequest
from casework.directory import load_demo_if_empty
from storage import create_database
from storage.migrate import upgrade
from tests.services import TEST_POSTGRES_URL, reachable, scratch_postgres_database
from tests.telegram_fake import BotApiFake, Call

REDIS_URL = "redis://127.0.0.1:6379/14"
MODEL_DIR = Path(__file__).resolve().parent.parent / "var" / "nlu"

# A resident's turns: a need (answered with the welcome and consent questions), consent typed, the need
# flow left, a policy question, the policy and help menus, another need, left again.
SCRIPTS: dict[str, list[str]] = {
    "zh": [
        "我家房租交不起了，能帮帮我吗",
        "是",
        "是",
        "是",
        "/cancel",
        "低保怎么申请",
        "/policy",
        "/help",
        "孩子上学的费用没着落",
        "/cancel",
    ],
    "en": [
        "I need help paying my rent",
        "yes",
        "yes",
        "yes",
        "/cancel",
        "How do I apply for the minimum living allowance?",
        "/policy",
        "/help",
        "How can my child get help with school fees?",
        "/cancel",
    ],
}
WARM_UP_ROUNDS = 6  # per bot, at the measured load, not counted (see above: the pools settle)


def unlimited() -> TelegramLimits:
    """The full bot's limiter with Telegram's flood limits lifted (its retries of failures kept)."""
    return TelegramLimits(overall_per_second=1e6, group_per_minute=1e6, chat_burst=0)


class TimedFake(BotApiFake):
    """The Bot API fake, also noting when each update was first handed to the bot and when each
    ``sendMessage`` arrived, chat by chat."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered: dict[int, float] = {}
        self.sends: dict[int, list[float]] = {}
        self._waiting: dict[int, asyncio.Event] = {}
        self.on_handed_over.append(self._note_handed_over)
        self.on_call.append(self._note_call)

    def _note_handed_over(self, update: dict[str, Any]) -> None:
        self.delivered.setdefault(int(update["update_id"]), time.monotonic())

    def _note_call(self, call: Call) -> None:
        if call.method != "sendMessage":
            return
        chat_id = int(call.params["chat_id"])
        self.sends.setdefault(chat_id, []).append(call.at)
        waiting = self._waiting.pop(chat_id, None)
        if waiting is not None:
            waiting.set()

    async def answer(self, chat_id: int, update_id: int, patience: float) -> float | None:
        """When the first ``sendMessage`` to the chat after the update was handed to the bot arrived;
        None when none came within ``patience`` seconds."""
        deadline = time.monotonic() + patience
        while True:
            delivered = self.delivered.get(update_id)
            sends = self.sends.get(chat_id, [])
            if delivered is not None:
                index = bisect.bisect_left(sends, delivered)
                if index < len(sends):
                    return sends[index]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            waiting = self._waiting.setdefault(chat_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiting.wait(), remaining)


@dataclass
class Resident:
    user_id: int
    language: str
    texts: list[str]


@dataclass
class Result:
    bot: str
    messages: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0
    processor_seconds: float = 0.0  # this process's own, the fake's and the idle bot's included

    @property
    def processor_ms(self) -> float:
        """Processor time a message, in ms."""
        return self.processor_seconds * 1000 / self.messages if self.messages else 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds > 0 else 0.0


def residents(first_id: int, count: int, turns: int) -> list[Resident]:
    """Residents alternating Chinese and English, each with ``turns`` messages of its script."""
    people = []
    for number in range(count):
        language = "zh" if number % 2 == 0 else "en"
        texts = list(itertools.islice(itertools.cycle(SCRIPTS[language]), turns))
        people.append(Resident(first_id + number, language, texts))
    return people


async def converse(
    fake: TimedFake, resident: Resident, patience: float, answers: list[tuple[float, float]]
) -> int:
    """The resident's messages one by one, each sent once the previous was answered; (queued,
    answered) times go to ``answers``. Returns how many went unanswered (the resident gives up at the
    first)."""
    for number, text in enumerate(resident.texts):
        update_id = fake.message(resident.user_id, text, language_code=resident.language)
        queued = time.monotonic()
        answered = await fake.answer(resident.user_id, update_id, patience)
        if answered is None:
            return len(resident.texts) - number
        answers.append((queued, answered))
    return 0


async def talk(fake: TimedFake, people: Sequence[Resident], patience: float, bot: str) -> Result:
    """All residents at once; the seconds run from the start to the last answer."""
    answers: list[tuple[float, float]] = []
    started, processor = time.monotonic(), time.process_time()
    unanswered = await asyncio.gather(*(converse(fake, person, patience, answers) for person in people))
    finished = max((answered for _, answered in answers), default=time.monotonic())
    processor = time.process_time() - processor
    return Result(
        bot=bot,
        messages=sum(len(person.texts) for person in people),
        seconds=finished - started,
        latencies=[answered - queued for queued, answered in answers],
        unanswered=sum(unanswered),
        processor_seconds=processor,
    )


@contextlib.asynccontextmanager
async def echo_bot(client: str) -> AsyncIterator[TimedFake]:
    """A bare PTB bot answering every text with itself, nothing behind it; its Bot API client PTB's
    default (httpx) or, ``client="aiohttp"``, the full bot's."""
    fake = TimedFake()
    async with fake:
        builder = (
            ApplicationBuilder()
            .token(fake.token)
            .base_url(fake.base_url)
            .base_file_url(fake.base_file_url)
            .concurrent_updates(True)
        )
        if client == "aiohttp":
            builder = builder.request(AiohttpRequest(connections=8)).get_updates_request(AiohttpRequest())
        application = builder.build()

        async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            message = update.effective_message
            if message is not None and message.text:
                await context.bot.send_message(message.chat.id, message.text)

        application.add_handler(MessageHandler(filters.TEXT, echo))
        updater = application.updater
        assert updater is not None
        await application.initialize()
        await updater.start_polling(poll_interval=0, timeout=1)
        await application.start()
        try:
            yield fake
        finally:
            await updater.stop()
            await application.stop()
            await application.shutdown()


@contextlib.asynccontextmanager
async def full_bot(
    arguments: argparse.Namespace, url: str, redis_url: str | None
) -> AsyncIterator[TimedFake]:
    """The whole bot as ``needsbot run`` builds and runs it: dialog engine, NLU, casework, storage,
    scheduler, relay."""
    if redis_url is not None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await client.flushdb()
        finally:
            await client.aclose()
    upgrade(url)
    database = create_database(url)
    try:
        await load_demo_if_empty(database, now=datetime.now(UTC))
        fake = TimedFake()
        async with fake:
            settings = load_settings(
                database_url=url,
                redis_url=redis_url,
                telegram_bot_token=fake.token,
                telegram_api_base_url=fake.base_url.removesuffix("/bot"),
                webhook_url=None,
                nlu_backend="embedded",
                nlu_model_dir=arguments.model_dir,
                log_level="WARNING",
            )
            stop = asyncio.Event()
            started: asyncio.Future[Needsbot] = asyncio.get_running_loop().create_future()
            needsbot = bootstrap(settings, telegram=True, database=database, telegram_limits=unlimited())
            serving = asyncio.create_task(serve(needsbot, stop, started=started))
            try:
                watched: set[asyncio.Future[Any]] = {serving, started}
                await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                if not started.done():
                    raise RuntimeError("the bot stopped before it was running")
                yield fake
            finally:
                stop.set()
                await serving
    finally:
        await database.dispose()


async def rounds(arguments: argparse.Namespace, url: str, redis_url: str | None) -> dict[str, list[Result]]:
    """Both bots running side by side, rounds alternating between them with new residents every round,
    so a passing load on the machine falls on both alike; the first ``WARM_UP_ROUNDS`` of each are not
    counted."""
    results: dict[str, list[Result]] = {"full": [], "echo": []}
    echo_client = "aiohttp" if arguments.echo_aiohttp else "httpx"
    async with full_bot(arguments, url, redis_url) as full, echo_bot(echo_client) as echo:
        fakes = {"full": full, "echo": echo}
        for number in range(WARM_UP_ROUNDS + arguments.rounds):
            for bot, fake in fakes.items():
                people = residents(1_000 + number * arguments.users, arguments.users, arguments.messages)
                result = await talk(fake, people, arguments.timeout, bot)
                if number >= WARM_UP_ROUNDS:
                    results[bot].append(result)
    return results


def median_round(results: list[Result]) -> Result:
    return sorted(results, key=lambda result: result.rate)[len(results) // 2]


async def client_cost(client: str, calls: int = 3_000, senders: int = 20) -> float:
    """Processor ms a ``sendMessage`` costs through one Bot API client (PTB's ``Bot`` over httpx or
    aiohttp, eight connections, a question's length of Chinese and an inline keyboard), the fake's
    side of each call included: ``calls`` calls from ``senders`` at once, after as many unmeasured."""
    async with BotApiFake() as fake:
        request = (
            AiohttpRequest(connections=8) if client == "aiohttp" else HTTPXRequest(connection_pool_size=8)
        )
        async with Bot(fake.token, base_url=fake.base_url, request=request) as bot:
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton("同意", callback_data="c" * 40),
                        InlineKeyboardButton("不同意", callback_data="d" * 40),
                    ]
                ]
            )
            text = "您好，我是社会救助小助手。为了帮您转给社工，我们需要记录您说的情况。" * 3

            async def sender(chat_id: int) -> None:
                for _ in range(calls // senders):
                    await bot.send_message(chat_id, text, reply_markup=markup)

            await asyncio.gather(*(sender(1_000 + number) for number in range(senders)))
            processor = time.process_time()
            await asyncio.gather(*(sender(1_000 + number) for number in range(senders)))
            return (time.process_time() - processor) * 1000 / (calls // senders * senders)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20, help="residents talking at once")
    parser.add_argument("--messages", type=int, default=10, help="messages each resident sends")
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database")
    parser.add_argument("--redis", action="store_true", help=f"dialog state in Redis ({REDIS_URL})")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="the embedded NLU model")
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for an answer")
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds per bot, alternating")
    parser.add_argument(
        "--echo-aiohttp", action="store_true", help="the echo bot on the full bot's Bot API client"
    )
    parser.add_argument(
        "--clients", action="store_true", help="only the cost of a sendMessage through each Bot API client"
    )
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if arguments.clients:
        for _ in range(2):  # alternating, as the machine drifts
            for client in ("httpx", "aiohttp"):
                print(f"{client:<8} {asyncio.run(client_cost(client)):.3f} processor ms a sendMessage")
        return
    if arguments.postgres and not reachable(TEST_POSTGRES_URL, 5432):
        parser.error(f"PostgreSQL at {TEST_POSTGRES_URL} is not reachable")
    if arguments.redis and not reachable(REDIS_URL, 6379):
        parser.error(f"Redis at {REDIS_URL} is not reachable")
    redis_url = REDIS_URL if arguments.redis else None
    if not (arguments.model_dir / "embedded.joblib").exists():
        print(f"(training the NLU model into {arguments.model_dir} first, about 20 s, not measured)")

    with contextlib.ExitStack() as stack:
        if arguments.postgres:
            url = stack.enter_context(scratch_postgres_database("needsbot_bench"))
            store = "PostgreSQL"
        else:
            folder = stack.enter_context(tempfile.TemporaryDirectory())
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
            store = "SQLite"
        measured = asyncio.run(rounds(arguments, url, redis_url))

    print(
        f"{arguments.users} residents × {arguments.messages} messages at once per bot; full bot on "
        f"{store}, Redis {'on' if redis_url else 'off'}"
    )
    print(
        "Bot API client: full bot aiohttp (bot.telegram_http), echo bot "
        + ("the same" if arguments.echo_aiohttp else "PTB's default (httpx)")
    )
    print(
        "Telegram's flood limits lifted for both bots (full: TelegramLimits(overall_per_second=1e6, "
        "group_per_minute=1e6, chat_burst=0); echo: no limiter)"
    )
    print(
        f"warm-up: {WARM_UP_ROUNDS} rounds per bot at the same load, not counted; then {arguments.rounds} "
        "rounds per bot, alternating; each bot's median round shown"
    )
    print(
        f"{'bot':<5} {'messages':>8} {'seconds':>8} {'msgs/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>7}"
        "   rounds msgs/s"
    )
    for bot, results in measured.items():
        result = median_round(results)
        every = " ".join(f"{each.rate:.0f}" for each in results)
        print(
            f"{bot:<5} {result.messages:>8} {result.seconds:>8.2f} {result.rate:>8.1f} "
            f"{percentile(result.latencies, 0.5) * 1000:>8.1f} "
            f"{percentile(result.latencies, 0.99) * 1000:>8.1f} {result.processor_ms:>7.2f}   {every}"
        )
        unanswered = sum(each.unanswered for each in results)
        if unanswered:
            print(f"      {unanswered} messages unanswered within {arguments.timeout:g} s")
    full, echo = (median_round(measured[bot]).rate for bot in ("full", "echo"))
    each = sorted(f.rate / e.rate for f, e in zip(measured["full"], measured["echo"], strict=True) if e.rate)
    paired = statistics.median(each) if each else float("nan")
    of_medians = full / echo if echo else float("nan")
    print(
        f"ratio full/echo: {paired:.2f} (median of the rounds' ratios, {each[0]:.2f}–{each[-1]:.2f}; "
        f"ratio of the median rounds {of_medians:.2f}; floor 0.4)"
    )
    cpu = sorted(
        e.processor_ms / f.processor_ms
        for f, e in zip(measured["full"], measured["echo"], strict=True)
        if f.processor_ms
    )
    if cpu:
        print(
            f"processor time a message, echo/full: {statistics.median(cpu):.2f} (median of the rounds' "
            f"ratios, {cpu[0]:.2f}–{cpu[-1]:.2f}; this process only, the database servers' not counted)"
        )


if __name__ == "__main__":
    main()
