"""The web console under staff at work: p50 and p95 of the queue page, the case page, the case file's
page and the report page with 10 staff at once, over 100,000 tickets on PostgreSQL (the target: p95
under 300 ms for the queue, case and case file pages).

    .venv/bin/python -m bench.web [--tickets 100000] [--staff 10] [--rounds 20] [--sqlite]

The district of ``bench.indicators`` is filled (four streets of five communities, tickets over two
years, their trails, referrals and ratings; the recent ones still open), and ten supervisors of the
district sign in. The console runs as ``needsbot web`` in a process of its own, as it is deployed;
each supervisor, at once with the others, opens the district's queue, then one of its open cases, then
one's case file, then the evaluation of last month, ``--rounds`` times. Times are wall-clock from
request to the last byte, measured by the staff's HTTP client in this process. A warm-up round is not
counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.common import percentile
from bench.indicators import NOW, fill
from casework.clock import SystemClock
from casework.domain import OPEN_STATUSES, Role
from casework.staff_sign_in import StaffSignIn
from storage import Database, create_database
from storage.migrate import upgrade
from storage.models import TicketRow
from tests.services import TEST_POSTGRES_URL, free_port, reachable, scratch_postgres_database

PAGES = ("queue", "case", "file", "report")
TARGET_P95_MS = 300


async def prepare(url: str, tickets: int, staff: int) -> tuple[list[str], list[int]]:
    """The district filled, ``staff`` supervisors of it signed in: their session tokens, and the ids of
    the open tickets."""
    upgrade(url)
    database: Database = create_database(url)
    try:
        started = time.perf_counter()
        await fill(database, tickets)
        print(f"filled {tickets:,} tickets in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        sign_in = StaffSignIn(database, SystemClock())
        tokens = []
        async with database.transaction() as tx:
            district = await tx.areas.by_code("bench-d")
            assert district is not None
            supervisors = [
                await tx.people.add(
                    now=NOW - timedelta(days=30),
                    display_name=f"督导{number}",
                    role=Role.SUPERVISOR,
                    area_ids=[district.id],
                )
                for number in range(staff)
            ]
        for supervisor in supervisors:
            tokens.append((await sign_in.redeem_link(await sign_in.issue_link(supervisor))).token)
        async with database.engine.connect() as connection:
            open_ids = list(
                await connection.scalars(
                    select(TicketRow.id).where(TicketRow.status.in_([s.value for s in OPEN_STATUSES]))
                )
            )
        return tokens, open_ids
    finally:
        await database.dispose()


async def wait_until_up(base: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.returncode is not None:
                raise RuntimeError(f"needsbot web stopped ({process.returncode})")
            try:
                await client.get(f"{base}/signin")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError("needsbot web did not start")


async def work(
    base: str, token: str, open_ids: list[int], rounds: int, seed: int, pages: tuple[str, ...]
) -> dict[str, list[float]]:
    """One supervisor's rounds: the queue, a case, a case file, the report (those of ``pages``); each
    page's times in seconds."""
    rng = random.Random(seed)
    times: dict[str, list[float]] = {page: [] for page in pages}
    paths: dict[str, Callable[[], str]] = {
        "queue": lambda: "/queue/team",
        "case": lambda: f"/case/{rng.choice(open_ids)}",
        "file": lambda: f"/case/{rng.choice(open_ids)}/file",
        "report": lambda: "/reports?period=last-month",
    }
    async with httpx.AsyncClient(base_url=base, cookies={"needsbot_session": token}, timeout=60) as client:
        for number in range(rounds + 1):
            for page, path in ((page, paths[page]()) for page in pages):
                started = time.perf_counter()
                response = await client.get(path)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code}")
                if number:  # the first round warms up
                    times[page].append(elapsed)
    return times


async def measure(
    url: str, tickets: int, staff: int, rounds: int, pages: tuple[str, ...] = PAGES, workers: int = 1
) -> dict[str, list[float]]:
    tokens, open_ids = await prepare(url, tickets, staff)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": "",
        "WEB_PORT": str(port),
        "WEB_BASE_URL": base,
        "LOG_LEVEL": "WARNING",
    }
    needsbot = Path(sys.executable).parent / "needsbot"
    with tempfile.TemporaryDirectory() as folder:
        process = await asyncio.create_subprocess_exec(
            str(needsbot),
            "web",
            "--workers",
            str(workers),
            env=environment,
            cwd=folder,
            stdout=asyncio.subprocess.DEVNULL,
        )
        try:
            await wait_until_up(base, process)
            found = await asyncio.gather(
                *(work(base, token, open_ids, rounds, seed, pages) for seed, token in enumerate(tokens))
            )
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
    return {page: [t for times in found for t in times[page]] for page in pages}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--staff", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sqlite", action="store_true", help="a scratch SQLite file instead of PostgreSQL")
    parser.add_argument("--workers", type=int, default=1, help="needsbot web --workers")
    parser.add_argument(
        "--pages", default=",".join(PAGES), help="which pages each round opens, of queue,case,file,report"
    )
    arguments = parser.parse_args()
    pages = tuple(page for page in PAGES if page in arguments.pages.split(","))
    if arguments.sqlite:
        with tempfile.TemporaryDirectory() as folder:
            store = "SQLite"
            times = asyncio.run(
                measure(
                    f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}",
                    arguments.tickets,
                    arguments.staff,
                    arguments.rounds,
                    pages,
                    arguments.workers,
                )
            )
    else:
        if not reachable(TEST_POSTGRES_URL, 5432):
            sys.exit("PostgreSQL is not reachable (TEST_POSTGRES_URL); --sqlite runs without it")
        store = "PostgreSQL"
        with scratch_postgres_database(prefix="needsbot_bench") as url:
            times = asyncio.run(
                measure(url, arguments.tickets, arguments.staff, arguments.rounds, pages, arguments.workers)
            )
    print(
        f"{store}, {arguments.tickets:,} tickets, {arguments.staff} staff at once, {arguments.rounds} rounds"
    )
    for page in pages:
        samples = times[page]
        p50, p95 = percentile(samples, 0.5) * 1000, percentile(samples, 0.95) * 1000
        verdict = (
            ""
            if page == "report"
            else ("  within" if p95 < TARGET_P95_MS else "  OVER") + f" {TARGET_P95_MS} ms"
        )
        print(f"  {page:<7} n={len(samples):<4} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms{verdict}")


if __name__ == "__main__":
    main()
