"""The service's indicators over a synthetic district: the time to compute the full indicator set for a
month and for a year, for one district and for every area, and the ratio to a naive version that
reads every case of the database and picks the period's in Python.

    .venv/bin/python -m bench.indicators [--tickets 100000] [--sqlite-tickets 10000] [--skip-postgres]

The district (four streets of five communities) has tickets spread over the two years before now,
each with its trail (opened, claimed, a note, often a visit, resolved, closed), a crisis's "I'm on it",
referrals and ratings, written in bulk.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text

from casework import indicators
from casework.domain import OPEN_STATUSES, AreaLevel, Ticket, TicketStatus
from casework.indicators import COUNTED, CaseHistory, Mark, Scope
from storage import Database, create_database
from storage.migrate import upgrade
from storage.models import FeedbackRow, NeedReportRow, ReferralRow, TicketEventRow, TicketRow
from storage.repositories.base import from_row
from storage.repositories.reports import _report
from storage.repositories.tickets import _event, _feedback, _referral
from tests.services import TEST_POSTGRES_URL, reachable, scratch_postgres_database

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
KINDS = (
    "social_integration",
    "capacity_building",
    "psychological_support",
    "resource_linking",
    "policy_advocacy",
)
BATCH = 5_000


async def fill(database: Database, tickets: int) -> dict[str, Any]:
    """The district and its tickets; the district's code."""
    rng = random.Random(20261204)
    async with database.transaction() as tx:
        district = await tx.areas.add(code="bench-d", name="基准区", level=AreaLevel.DISTRICT)
        communities = []
        for street_number in range(4):
            street = await tx.areas.add(
                code=f"bench-s{street_number}",
                name=f"街道{street_number}",
                level=AreaLevel.STREET,
                parent_id=district.id,
            )
            for number in range(5):
                community = await tx.areas.add(
                    code=f"bench-c{street_number}{number}",
                    name=f"社区{street_number}{number}",
                    level=AreaLevel.COMMUNITY,
                    parent_id=street.id,
                )
                communities.append(community.id)
        agency = await tx.organisations.add(
            name="基准社工", area_ids=[district.id], now=NOW - timedelta(days=800)
        )
        worker = await tx.people.add(now=NOW - timedelta(days=800), display_name="基准社工")
    span = timedelta(days=730).total_seconds()
    rows: dict[str, list[dict[str, Any]]] = {
        "tickets": [],
        "events": [],
        "referrals": [],
        "feedback": [],
        "reports": [],
    }
    async with database.engine.begin() as connection:

        async def flush() -> None:
            for table, values in (
                (TicketRow, rows["tickets"]),
                (TicketEventRow, rows["events"]),
                (ReferralRow, rows["referrals"]),
                (FeedbackRow, rows["feedback"]),
                (NeedReportRow, rows["reports"]),
            ):
                if values:
                    await connection.execute(insert(table), values)
                    values.clear()

        for number in range(1, tickets + 1):
            opened = NOW - timedelta(seconds=rng.random() * span)
            critical = rng.random() < 0.05
            claimed = opened + timedelta(minutes=rng.expovariate(1 / (8 if critical else 300)))
            resolved = claimed + timedelta(hours=rng.expovariate(1 / 60))
            closed = resolved + timedelta(hours=rng.expovariate(1 / 24))
            status = TicketStatus.CLOSED if closed < NOW else TicketStatus.IN_PROGRESS
            rows["tickets"].append(
                {
                    "id": number,
                    "reference": f"SA-B-{number:07d}",
                    "service_type": rng.choice(KINDS),
                    "urgency": "critical" if critical else "normal",
                    "status": status.value,
                    "area_id": rng.choice(communities),
                    "assignee_id": worker.id,
                    "summary": "",
                    "claim_deadline": opened + timedelta(minutes=15 if critical else 1440),
                    "resolve_deadline": opened + timedelta(days=3 if critical else 7),
                    "created_at": opened,
                    "updated_at": opened,
                    "needs_home_visit": False,
                    "escalation_level": 0,
                }
            )
            trail = [("opened", opened), ("claimed", claimed), ("note", claimed + timedelta(minutes=30))]
            if critical:
                trail.insert(1, ("acknowledged", opened + timedelta(minutes=rng.expovariate(1 / 6))))
            if rng.random() < 0.6:
                trail.append(("visited", claimed + timedelta(hours=rng.uniform(2, 72))))
            if status is TicketStatus.CLOSED:
                trail += [("resolved", resolved), ("closed", closed)]
            rows["events"] += [
                {"ticket_id": number, "action": action, "created_at": at}
                for action, at in sorted(trail, key=lambda t: t[1])
            ]
            if rng.random() < 0.1:
                rows["referrals"].append(
                    {
                        "ticket_id": number,
                        "to_organisation_id": agency.id,
                        "status": "completed" if status is TicketStatus.CLOSED else "pending",
                        "reason": "",
                        "created_at": claimed,
                        "responded_at": claimed + timedelta(hours=4)
                        if status is TicketStatus.CLOSED
                        else None,
                        "completed_at": resolved if status is TicketStatus.CLOSED else None,
                    }
                )
            if status is TicketStatus.CLOSED and rng.random() < 0.3:
                rows["feedback"].append(
                    {"ticket_id": number, "rating": rng.randint(1, 5), "created_at": closed}
                )
            rows["reports"].append(
                {
                    "text": "",
                    "language": "zh",
                    "intent": "need_resource_linking",
                    "confidence": 0.9,
                    "urgency": "critical" if critical else "normal",
                    "channel": "telegram",
                    "ticket_id": number,
                    "on_behalf": rng.random() < 0.1,
                    "anonymous": False,
                    "created_at": opened,
                }
            )
            if number % BATCH == 0:
                await flush()
        await flush()
    if database.engine.dialect.name == "postgresql":  # the planner's statistics, as autovacuum keeps them
        async with database.engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
    return {"district": "bench-d"}


async def naive(database: Database, period_text: str) -> indicators.Report:
    """The same figures, every case of the database read and the period's picked in Python."""
    start, end, label = indicators.period(period_text, today=NOW.astimezone(ZONE).date(), timezone=ZONE)
    async with database.transaction() as tx:
        session = tx.session
        tickets = [from_row(Ticket, row) for row in await session.scalars(select(TicketRow))]
        events = [
            _event(row) for row in await session.scalars(select(TicketEventRow).order_by(TicketEventRow.id))
        ]
        referrals = [_referral(row) for row in await session.scalars(select(ReferralRow))]
        feedback = [_feedback(row) for row in await session.scalars(select(FeedbackRow))]
        reports = [_report(row) for row in await session.scalars(select(NeedReportRow))]
    chosen = [ticket for ticket in tickets if start <= ticket.created_at < end]
    cases = [
        CaseHistory(
            ticket=ticket,
            events=tuple(
                Mark(event.action, event.created_at, event.note)
                for event in events
                if event.ticket_id == ticket.id and event.action in COUNTED
            ),
            referrals=tuple(r for r in referrals if r.ticket_id == ticket.id),
            feedback=tuple(f for f in feedback if f.ticket_id == ticket.id),
            reports=tuple(r for r in reports if r.ticket_id == ticket.id),
        )
        for ticket in chosen[:200]  # per ticket, a scan of everything: 200 cases are enough to time it
    ]
    per_case = len(chosen) / max(len(cases), 1)
    report = indicators.evaluate(
        cases,
        Scope(start, end, label),
        open_now=[t for t in tickets if t.status in OPEN_STATUSES],
        now=NOW,
    )
    report.sections["_scaled_by"] = {"factor": per_case}
    return report


async def timed(work: Callable[[], Awaitable[Any]], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        best = min(best, time.perf_counter() - started)
    return best


async def measure(url: str, tickets: int) -> dict[str, float]:
    upgrade(url)
    database = create_database(url)
    try:
        started = time.perf_counter()
        await fill(database, tickets)
        filled = time.perf_counter() - started

        def run(period_text: str, area_code: str | None) -> Callable[[], Awaitable[Any]]:
            return lambda: indicators.report(
                database, period_text=period_text, now=NOW, timezone=ZONE, area_code=area_code
            )

        month = await timed(run("2026-11", "bench-d"))
        year = await timed(run("2025-12-01..2026-11-30", "bench-d"))
        every_area = await timed(run("2026-11", None))
        started = time.perf_counter()
        scaled = await naive(database, "2026-11")
        naive_month = (time.perf_counter() - started) * scaled.sections["_scaled_by"]["factor"]
        return {
            "fill s": filled,
            "month, district s": month,
            "year, district s": year,
            "month, every area s": every_area,
            "naive month s (scaled)": naive_month,
            "naive / ours": naive_month / month,
        }
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets on PostgreSQL")
    parser.add_argument("--sqlite-tickets", type=int, default=10_000, help="tickets on SQLite")
    parser.add_argument("--skip-postgres", action="store_true")
    arguments = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        results[f"SQLite, {arguments.sqlite_tickets:,} tickets"] = asyncio.run(
            measure(url, arguments.sqlite_tickets)
        )
    if not arguments.skip_postgres and reachable(TEST_POSTGRES_URL, 5432):
        with scratch_postgres_database(prefix="needsbot_bench") as url:
            results[f"PostgreSQL, {arguments.tickets:,} tickets"] = asyncio.run(
                measure(url, arguments.tickets)
            )
    for store, figures in results.items():
        print(store)
        for name, value in figures.items():
            print(f"  {name:<24} {value:10.3f}")


if __name__ == "__main__":
    main()
