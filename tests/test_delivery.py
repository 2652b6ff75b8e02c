"""Delivery through crashes: the bot as its own process (``needsbot run``), killed with SIGKILL at the
worst moments and started again, against the Bot API fake over HTTP.

Long polling runs on SQLite with everything in process; the webhook on PostgreSQL with Redis for
dialog state, locks and the alert stream, as in production.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from casework import directory
from casework.domain import OutboxStatus, Role
from storage import Database, create_database
from storage.models import OutboxRow
from tests.conftest import _emptied
from tests.services import TEST_REDIS_URL, flushed_test_redis, reachable, unavailable
from tests.telegram_fake import BotApiFake
from tests.test_telegram import MODEL_DIR, SECRET, Account, file_report, fragment, free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class BotProcess:
    """``needsbot run`` as its own process, its output in a file."""

    environment: dict[str, str]
    log: Path
    process: asyncio.subprocess.Process | None = None

    async def start(self, fake: BotApiFake, *, ready_on: str) -> None:
        """Start it and return once it receives updates (its first ``ready_on`` call to the fake)."""
        seen = len([call for call in fake.calls if call.method == ready_on])
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", env=self.environment, cwd=ROOT, stdout=out, stderr=out
            )

        def ready() -> bool:
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError(f"the bot exited: {self.log.read_text()[-3000:]}")
            return len([call for call in fake.calls if call.method == ready_on]) > seen

        await fake.wait_for(ready, timeout=90)

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.process = None

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                await self.kill()
        self.process = None


@dataclass
class Deployment:
    mode: str
    fake: BotApiFake
    database: Database
    environment: dict[str, str]
    log_dir: Path
    bots: list[BotProcess] = field(default_factory=list)

    @property
    def ready_on(self) -> str:
        return "setWebhook" if self.mode == "webhook" else "getUpdates"

    async def start_bot(self) -> BotProcess:
        bot = BotProcess(self.environment, self.log_dir / f"bot-{len(self.bots)}.log")
        self.bots.append(bot)
        await bot.start(self.fake, ready_on=self.ready_on)
        return bot


@pytest.fixture(params=["polling", pytest.param("webhook", marks=[pytest.mark.postgres, pytest.mark.redis])])
async def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    mode: str = request.param
    environment = {**os.environ, "NLU_MODEL_DIR": str(MODEL_DIR), "LOG_LEVEL": "INFO"}
    if mode == "webhook":
        url = request.getfixturevalue("postgres_url")
        database = await _emptied(url)
        await flushed_test_redis()
        port = free_port()
        environment |= {
            "REDIS_URL": TEST_REDIS_URL,
            "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/hook",
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_LISTEN": "127.0.0.1",
            "WEBHOOK_PORT": str(port),
        }
    else:
        url = request.getfixturevalue("sqlite_url")
        database = create_database(url)
        environment.pop("REDIS_URL", None)
        environment.pop("WEBHOOK_URL", None)
    await directory.load_demo_if_empty(database, now=datetime.now(UTC))
    async with BotApiFake() as fake:
        environment |= {
            "DATABASE_URL": url,
            "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_API_BASE_URL": fake.base_url.removesuffix("/bot"),
        }
        deployment = Deployment(mode, fake, database, environment, tmp_path)
        try:
            yield deployment
        finally:
            for bot in deployment.bots:
                await bot.stop()
            await database.dispose()


async def test_a_reply_whose_turn_committed_before_a_crash_is_sent_once_after_the_restart(
    deployment: Deployment,
) -> None:
    """Killed after the turn's commit, while its reply was on its way: the restarted bot sends it, once,
    from the table of waiting replies when the dead process's claim on it has run out."""
    fake = deployment.fake
    bot = await deployment.start_bot()
    hold = fake.hold("sendMessage", chat_id=651)
    fake.message(651, "/help")
    await asyncio.wait_for(hold.arrived.wait(), 60)  # committed: the reply is being sent
    await bot.kill()
    hold.release()
    assert fake.sent_to(651) == []
    await deployment.start_bot()
    [reply] = await fake.wait_sent(651, 1, timeout=60)
    assert fragment("help.menu") in reply.text
    await asyncio.sleep(2)  # room for a second copy to show up
    assert len(fake.sent_to(651)) == 1


# --- two workers behind a load balancer ---------------------------------------------------------------

HAPROXY_CONFIG = """
global
    maxconn 256
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1
frontend webhook
    bind 127.0.0.1:{port}
    default_backend workers
backend workers
    balance roundrobin
{servers}
"""


@dataclass
class LoadBalancer:
    """HAProxy from the machine's packages in front of the workers' webhook ports."""

    port: int
    config: Path
    process: asyncio.subprocess.Process | None = None

    @classmethod
    async def start(cls, worker_ports: list[int], directory: Path) -> LoadBalancer:
        haproxy = shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
        if haproxy is None:
            unavailable("haproxy (Debian package haproxy)")
        assert haproxy is not None
        servers = "\n".join(
            f"    server w{n} 127.0.0.1:{port} check inter 200ms fall 1 rise 2"
            for n, port in enumerate(worker_ports)
        )
        balancer = cls(free_port(), directory / "haproxy.cfg")
        balancer.config.write_text(HAPROXY_CONFIG.format(port=balancer.port, servers=servers))
        balancer.process = await asyncio.create_subprocess_exec(
            haproxy, "-db", "-f", str(balancer.config), stdout=asyncio.subprocess.DEVNULL
        )
        for _ in range(100):
            if reachable(f"http://127.0.0.1:{balancer.port}", balancer.port):
                return balancer
            await asyncio.sleep(0.05)
        raise AssertionError("haproxy did not start")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


@pytest.mark.postgres
@pytest.mark.redis
async def test_thirty_residents_report_through_two_workers_while_one_is_killed_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    """Production's shape: two ``needsbot run`` workers in webhook mode behind HAProxy, sharing
    PostgreSQL and Redis. Thirty residents file whole reports while one worker is killed (SIGKILL)
    twice and started again. Every report becomes exactly one ticket, every message is answered, and
    every alert reaches its worker once."""
    database = await _emptied(postgres_url)
    await flushed_test_redis()
    await directory.load_demo_if_empty(database, now=datetime.now(UTC))
    ports = [free_port(), free_port()]
    balancer = await LoadBalancer.start(ports, tmp_path)
    workers: list[BotProcess] = []
    try:
        async with BotApiFake() as fake:
            fake.webhook_retries = 300  # a minute, as Telegram goes on trying
            base = {
                **os.environ,
                "NLU_MODEL_DIR": str(MODEL_DIR),
                "DATABASE_URL": postgres_url,
                "REDIS_URL": TEST_REDIS_URL,
                "TELEGRAM_BOT_TOKEN": fake.token,
                "TELEGRAM_API_BASE_URL": fake.base_url.removesuffix("/bot"),
                "WEBHOOK_URL": f"http://127.0.0.1:{balancer.port}/telegram/hook",
                "WEBHOOK_SECRET": SECRET,
                "WEBHOOK_LISTEN": "127.0.0.1",
            }
            for n, port in enumerate(ports):
                worker = BotProcess({**base, "WEBHOOK_PORT": str(port)}, tmp_path / f"worker-{n}.log")
                await worker.start(fake, ready_on="setWebhook")
                workers.append(worker)

            staff = []
            for user_id in (9501, 9502):
                invite = await directory.create_invite(
                    database,
                    role=Role.SOCIAL_WORKER,
                    area_code="heping",
                    now=datetime.now(UTC),
                    valid_for=timedelta(days=1),
                )
                worker_account = Account(fake, user_id, patience=90)
                worker_account.say(f"/start {invite.code}")
                await worker_account.expect(fragment("enrol.done"))
                staff.append(worker_account)

            residents = [Account(fake, 7001 + n, patience=90) for n in range(30)]

            async def report(resident: Account) -> str:
                await resident.agree_to_everything()
                return await file_report(resident, "家里房租交不起了，房东催了好几次")

            async def chaos() -> None:
                victim = workers[0]
                for handled in (60, 200):

                    def reached(count: int = handled) -> bool:
                        return len(fake.webhook_responses) >= count

                    await fake.wait_for(reached, timeout=300)
                    await victim.kill()
                    await asyncio.sleep(1.0)
                    await victim.start(fake, ready_on="setWebhook")

            kills = asyncio.create_task(chaos())
            references = await asyncio.gather(*(report(resident) for resident in residents))
            await kills
            answers = Counter(fake.webhook_responses)
            print(f"webhook deliveries by status: {dict(answers)}")

            # Exactly one ticket per report, each resident's own.
            async with database.transaction() as tx:
                tickets = await tx.tickets.find()
            assert sorted(ticket.reference for ticket in tickets) == sorted(references)
            assert len(set(references)) == 30
            for resident, reference in zip(residents, references, strict=True):
                submitted = [m for m in fake.sent_to(resident.user_id) if reference in m.text]
                assert len(submitted) == 1, (resident.user_id, resident.transcript())

            # Every alert of a new ticket reaches each worker of the area once.
            async def all_sent() -> bool:
                pending = (
                    select(func.count())
                    .select_from(OutboxRow)
                    .where(OutboxRow.status == OutboxStatus.PENDING)
                )
                async with database.engine.connect() as connection:
                    return (await connection.scalar(pending)) == 0

            for _ in range(600):
                if await all_sent():
                    break
                await asyncio.sleep(0.2)
            assert await all_sent()
            for worker_account in staff:
                for reference in references:
                    alerts = [
                        m
                        for m in fake.sent_to(worker_account.user_id)
                        if reference in m.text and fragment("alert.ticket_opened") in m.text
                    ]
                    assert len(alerts) == 1, (worker_account.user_id, reference, len(alerts))
    finally:
        for worker in workers:
            await worker.stop()
        await balancer.stop()
        await database.dispose()
