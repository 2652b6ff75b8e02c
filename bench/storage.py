"""Storage throughput: tickets opened per second (reference, ticket, report, audit event in one
transaction) on SQLite and PostgreSQL, sequentially and with concurrent writers.

    .venv/bin/python -m bench.storage [--tickets 500] [--concurrency 8] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from casework.domain import AreaLevel, Channel, ServiceType, TicketAction, Urgency
from storage import Database, create_database
from storage.migrate import upgrade
from tests.reports import store_report
from tests.services import TEST_POSTGRES_URL, reachable, scratch_postgres_database


async def open_one(database: Database, area_id: int, number: int) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    async with database.transaction() as tx:
        reference = await tx.tickets.next_reference(now.date())
        ticket = await tx.tickets.add(
            reference=reference,
            service_type=ServiceType.RESOURCE_LINKING,
            urgency=Urgency.NORMAL,
            area_id=area_id,
            summary=f"bench {number}",
            now=now,
        )
        await store_report(tx, now, channel=Channel.CONSOLE, ticket_id=ticket.id)
        await tx.tickets.add_event(ticket_id=ticket.id, action=TicketAction.OPENED, now=now)
    return time.perf_counter() - started


async def measure(url: str, tickets: int, concurrency: int) -> dict[str, float]:
    upgrade(url)
    database = create_database(url)
    try:
        async with database.transaction() as tx:
            area = await tx.areas.add(code=f"bench-{time.time_ns()}", name="基准", level=AreaLevel.DISTRICT)
        started = time.perf_counter()
        latencies = [await open_one(database, area.id, n) for n in range(tickets)]
        sequential = tickets / (time.perf_counter() - started)

        queue = iter(range(tickets))

        async def worker() -> None:
            for number in queue:
                await open_one(database, area.id, number)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        concurrent = tickets / (time.perf_counter() - started)
        latencies.sort()
        return {
            "sequential/s": sequential,
            f"{concurrency} writers/s": concurrent,
            "p50 ms": statistics.median(latencies) * 1000,
            "p99 ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        }
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres", default=TEST_POSTGRES_URL, help="server for a scratch database")
    arguments = parser.parse_args()

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        results["SQLite"] = asyncio.run(measure(url, arguments.tickets, arguments.concurrency))
    scratch: AbstractContextManager[str | None] = nullcontext(None)
    if reachable(arguments.postgres, 5432):
        scratch = scratch_postgres_database("needsbot_bench")
    with scratch as pg_url:
        if pg_url:
            results["PostgreSQL"] = asyncio.run(measure(pg_url, arguments.tickets, arguments.concurrency))

    columns = list(next(iter(results.values())))
    print(f"{'store':<12}" + "".join(f"{column:>16}" for column in columns))
    for store, figures in results.items():
        print(f"{store:<12}" + "".join(f"{figures[column]:>16.1f}" for column in columns))
    if "PostgreSQL" in results:
        ratio = results["PostgreSQL"]["sequential/s"] / results["SQLite"]["sequential/s"]
        print(f"PostgreSQL / SQLite, sequential tickets per second: {ratio:.2f}")


if __name__ == "__main__":
    main()
