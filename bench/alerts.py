"""Alert latency from ticket commit to the Notifier's send, with Redis and without, and tickets opened
per second on SQLite and PostgreSQL (each opening routes the ticket and queues its alerts).

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
from casework.clock import SystemClock
from casework.deadlines import DeadlinePolicy
from casework.domain import AreaLevel, Channel, OutboxAlert, Role, ServiceType, Urgency
from casework.notify import Recipient
from casework.relay import AlertDelivery, OutboxRelay, RedisStreamRelay
from casework.service import Casework, NewReport
from storage import Database, create_database
from storage.migrate import upgrade
from tests.doubles import RecordingFollowUps
from tests.services import TEST_REDIS_URL, reachable


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


async def prepare(url: str) -> tuple[Database, int, int]:
    upgrade(url)
    database = create_database(url)
    now = datetime.now(UTC)
    async with database.transaction() as tx:
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
    return database, area.id, reporter.id


def report(area_id: int, reporter_id: int) -> NewReport:
    return NewReport(
        text="房租交不起了",
        language="zh",
        intent="need_resource_linking",
        confidence=0.9,
        service_type=ServiceType.RESOURCE_LINKING,
        urgency=Urgency.NORMAL,
        area_id=area_id,
        channel=Channel.CONSOLE,
        reporter_id=reporter_id,
        summary="房租困难",
    )


async def opening_rate(url: str, tickets: int) -> float:
    database, area_id, reporter_id = await prepare(url)
    try:
        casework = Casework(database, SystemClock(), DeadlinePolicy.load(), follow_ups=RecordingFollowUps())
        started = time.perf_counter()
        for _ in range(tickets):
            await casework.open_ticket(report(area_id, reporter_id))
        return tickets / (time.perf_counter() - started)
    finally:
        await database.dispose()


async def alert_latency(url: str, tickets: int, rate: float, redis_url: str | None) -> list[float]:
    database, area_id, reporter_id = await prepare(url)
    notifier = TimingNotifier()
    delivery = AlertDelivery(database, notifier, SystemClock())
    client = aioredis.Redis.from_url(redis_url) if redis_url else None
    stream = f"needsbot:bench:{uuid.uuid4().hex}"
    relay: OutboxRelay | RedisStreamRelay
    if client is not None:
        relay = RedisStreamRelay(client, delivery, consumer="bench", stream=stream)
        await relay.ensure_group()
    else:
        relay = OutboxRelay(delivery)
    casework = Casework(
        database,
        SystemClock(),
        DeadlinePolicy.load(),
        follow_ups=RecordingFollowUps(),
        on_alerts_queued=relay.wake,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    committed: dict[int, float] = {}
    try:
        for _ in range(tickets):
            opened = await casework.open_ticket(report(area_id, reporter_id))
            committed[opened.ticket.id] = time.perf_counter()
            await asyncio.sleep(1 / rate)
        deadline = time.perf_counter() + 30
        while len(notifier.arrived) < len(committed) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
        if client is not None:
            await client.delete(stream)
            await client.aclose()
        await database.dispose()
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

    redis_url = TEST_REDIS_URL if reachable(TEST_REDIS_URL, 6379) else None
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
