"""Alert latency from ticket commit to the Notifier's send, with Redis and without, and tickets opened
per second on SQLite and PostgreSQL (each opening routes the ticket and queues its alerts).

The casework and the relay are built as the bot builds them (``bot.bootstrap``), with a notifier that
notes the time and follow-ups kept in memory; with Redis, its alert stream is on database 13 (flushed
first and afterwards).

    .venv/bin/python -m bench.alerts [--tickets 300] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from bench.common import percentile, stores
from bot.bootstrap import Needsbot, bootstrap
from bot.settings import load_settings
from casework.domain import AreaLevel, OutboxAlert, Role, ServiceType
from casework.notify import Notifier, Recipient
from casework.opening import NewReport
from storage.migrate import upgrade
from tests.doubles import RecordingFollowUps
from tests.reports import rent_need
from tests.services import reachable

REDIS_URL = "redis://127.0.0.1:6379/13"


@dataclass
class TimingNotifier:
    """Notes when each ticket's first alert reached it."""

    arrived: dict[int, float] = field(default_factory=dict)

    async def send(self, alert: OutboxAlert, recipient: Recipient) -> dict[str, Any]:
        if alert.ticket_id is not None:
            self.arrived.setdefault(alert.ticket_id, time.perf_counter())
        return {"message": alert.id}

    async def edit(self, delivered: dict[str, Any], alert: OutboxAlert, recipient: Recipient) -> None:
        return None


def build(url: str, redis_url: str | None, notifier: Notifier | None = None) -> Needsbot:
    """The casework (and, given a notifier, the alert relay) as the bot builds them."""
    settings = load_settings(database_url=url, redis_url=redis_url, log_level="WARNING")
    return bootstrap(settings, conversations=False, notifier=notifier, follow_ups=RecordingFollowUps())


async def flushed(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def prepare(needsbot: Needsbot) -> tuple[int, int]:
    upgrade(needsbot.settings.database_url)
    now = datetime.now(UTC)
    async with needsbot.database.transaction() as tx:
        area = await tx.areas.add(
            code=f"bench-{uuid.uuid4().hex[:8]}", name="基准区", level=AreaLevel.DISTRICT
        )
        reporter = await tx.people.add(now=now, role=Role.RECIPIENT)
        for number in range(3):
            await tx.people.add(
                now=now,
                display_name=f"worker {number}",
                role=Role.SOCIAL_WORKER,
                area_ids=[area.id],
                service_types=[ServiceType.RESOURCE_LINKING],
            )
    return area.id, reporter.id


def report(area_id: int, reporter_id: int) -> NewReport:
    return rent_need(
        area_id,
        reporter_id=reporter_id,
        summary="房租困难",
    )


async def opening_rate(url: str, tickets: int) -> float:
    needsbot = build(url, None)
    try:
        area_id, reporter_id = await prepare(needsbot)
        started = time.perf_counter()
        for _ in range(tickets):
            await needsbot.casework.open_ticket(report(area_id, reporter_id))
        return tickets / (time.perf_counter() - started)
    finally:
        await needsbot.stop()


async def alert_latency(url: str, tickets: int, rate: float, redis_url: str | None) -> list[float]:
    """Only the relay runs (not the scheduler's turn): the latency is the relay's."""
    if redis_url is not None:
        await flushed(redis_url)
    notifier = TimingNotifier()
    needsbot = build(url, redis_url, notifier)
    relay = needsbot.relay
    assert relay is not None
    stop = asyncio.Event()
    running: asyncio.Task[None] | None = None
    committed: dict[int, float] = {}
    try:
        area_id, reporter_id = await prepare(needsbot)
        running = asyncio.create_task(relay.run(stop))
        for _ in range(tickets):
            opened = await needsbot.casework.open_ticket(report(area_id, reporter_id))
            committed[opened.ticket.id] = time.perf_counter()
            await asyncio.sleep(1 / rate)
        deadline = time.perf_counter() + 30
        while len(notifier.arrived) < len(committed) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        if running is not None:
            await running
        await needsbot.stop()
        if redis_url is not None:
            await flushed(redis_url)
    return [notifier.arrived[ticket] - at for ticket, at in committed.items() if ticket in notifier.arrived]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument(
        "--rate", type=float, default=20, help="tickets opened per second while measuring latency"
    )
    arguments = parser.parse_args()

    redis_url = REDIS_URL if reachable(REDIS_URL, 6379) else None
    with stores() as found:
        print(f"{'store':<11} {'relay':<13} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'delivered':>10}")
        for store, url in found.items():
            for relay_name, relay_url in (("outbox table", None), ("Redis stream", redis_url)):
                if relay_name == "Redis stream" and relay_url is None:
                    continue
                latencies = asyncio.run(alert_latency(url, arguments.tickets, arguments.rate, relay_url))
                print(
                    f"{store:<11} {relay_name:<13} {percentile(latencies, 0.5) * 1000:>8.1f} "
                    f"{percentile(latencies, 0.95) * 1000:>8.1f} {percentile(latencies, 0.99) * 1000:>8.1f} "
                    f"{len(latencies):>5}/{arguments.tickets}"
                )
        rates = {store: asyncio.run(opening_rate(url, arguments.tickets)) for store, url in found.items()}
        for store, opened in rates.items():
            print(f"tickets opened per second, {store}: {opened:.0f}")
        if len(rates) == 2:
            print(f"PostgreSQL / SQLite: {rates['PostgreSQL'] / rates['SQLite']:.2f}")


if __name__ == "__main__":
    main()
