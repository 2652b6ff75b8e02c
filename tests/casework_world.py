"""A small district with workers, supervisors and residents, for casework tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.bootstrap import bootstrap
from casework import indicators
from casework.clock import ManualClock
from casework.domain import (
    AreaLevel,
    Channel,
    Identity,
    Organisation,
    OutboxStatus,
    Person,
    Role,
    ServiceType,
)
from casework.follow_ups import FollowUpWork
from casework.opening import NewReport
from casework.relay import OutboxRelay
from casework.service import Casework
from storage import Database
from tests.conftest import settings_for
from tests.doubles import RecordingFollowUps, RecordingNotifier
from tests.reports import rent_need

START = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, a Monday


@dataclass
class World:
    database: Database
    clock: ManualClock
    casework: Casework
    follow_ups: RecordingFollowUps
    work: FollowUpWork
    notifier: RecordingNotifier
    relay: OutboxRelay
    areas: dict[str, int]
    people: dict[str, Person]
    agency: Organisation

    def report(self, area: str = "c1", **fields: object) -> NewReport:
        resident = self.people["resident"].id
        given = {"text": "家里房租交不起了", "summary": "房租困难", "reporter_id": resident} | fields
        return rent_need(self.areas[area], **given)

    async def outbox(self, event: str | None = None) -> list[tuple[str, int | None, int | None]]:
        """(event, recipient person, recipient chat) of every queued alert, oldest first."""
        rows = []
        async with self.database.transaction() as tx:
            for status in OutboxStatus:
                rows += await tx.outbox.with_status(status, limit=10_000)
        rows.sort(key=lambda alert: alert.id)
        return [
            (alert.event, alert.recipient_person_id, alert.recipient_chat_id)
            for alert in rows
            if event is None or alert.event == event
        ]

    def who(self, *names: str) -> set[int]:
        return {self.people[name].id for name in names}

    async def indicators_report(
        self, period: str, area: str, *, later: timedelta = timedelta(0), suppress_below: int = 0
    ) -> indicators.Report:
        """The indicators of the area coded ``area`` for ``period``, reported ``later`` than the clock
        says now, in the casework's time zone."""
        return await indicators.report(
            self.database,
            period_text=period,
            now=self.clock.now() + later,
            timezone=self.casework.core.timezone,
            area_code=area,
            suppress_below=suppress_below,
        )


async def build_world(database: Database) -> World:
    clock = ManualClock(START)
    now = clock.now()
    async with database.transaction() as tx:
        district = await tx.areas.add(code="d", name="城东区", level=AreaLevel.DISTRICT)
        s1 = await tx.areas.add(code="s1", name="和平街道", level=AreaLevel.STREET, parent_id=district.id)
        s2 = await tx.areas.add(code="s2", name="新华街道", level=AreaLevel.STREET, parent_id=district.id)
        c1 = await tx.areas.add(code="c1", name="光明社区", level=AreaLevel.COMMUNITY, parent_id=s1.id)
        c2 = await tx.areas.add(code="c2", name="和平里社区", level=AreaLevel.COMMUNITY, parent_id=s1.id)
        c3 = await tx.areas.add(code="c3", name="幸福社区", level=AreaLevel.COMMUNITY, parent_id=s2.id)
        agency = await tx.organisations.add(
            name="阳光社工", service_types=[ServiceType.RESOURCE_LINKING], area_ids=[s1.id], now=now
        )
        areas = {"d": district.id, "s1": s1.id, "s2": s2.id, "c1": c1.id, "c2": c2.id, "c3": c3.id}
        both = [ServiceType.RESOURCE_LINKING, ServiceType.PSYCHOLOGICAL_SUPPORT]
        specs: dict[str, dict[str, object]] = {
            "wang": {"role": Role.SOCIAL_WORKER, "areas": [s1.id], "kinds": both},
            "li": {"role": Role.SOCIAL_WORKER, "areas": [s1.id], "kinds": [ServiceType.RESOURCE_LINKING]},
            "zhao": {"role": Role.SOCIAL_WORKER, "areas": [c1.id], "kinds": [ServiceType.RESOURCE_LINKING]},
            "sun": {
                "role": Role.SOCIAL_WORKER,
                "areas": [district.id],
                "kinds": [ServiceType.RESOURCE_LINKING],
            },
            "zhou": {"role": Role.SOCIAL_WORKER, "areas": [s2.id], "kinds": both},
            "wu": {"role": Role.SOCIAL_WORKER, "areas": [s1.id], "kinds": [ServiceType.POLICY_ADVOCACY]},
            "agency_worker": {
                "role": Role.SOCIAL_WORKER,
                "areas": [s1.id],
                "kinds": [ServiceType.CAPACITY_BUILDING],
                "organisation": agency.id,
            },
            "chief": {"role": Role.SUPERVISOR, "areas": [s1.id], "kinds": []},
            "chief2": {"role": Role.SUPERVISOR, "areas": [s2.id], "kinds": []},
            "admin": {"role": Role.ADMIN, "areas": [], "kinds": []},
            "resident": {"role": Role.RECIPIENT, "areas": [], "kinds": []},
            "neighbour": {"role": Role.RECIPIENT, "areas": [], "kinds": []},
            "volunteer": {"role": Role.VOLUNTEER, "areas": [c1.id], "kinds": []},
        }
        people = {}
        for number, (name, spec) in enumerate(specs.items(), start=1):
            people[name] = await tx.people.add(
                now=now,
                identity=Identity(Channel.TELEGRAM, str(1000 + number)),
                display_name=name,
                role=spec["role"],  # type: ignore[arg-type]
                area_ids=spec["areas"],  # type: ignore[arg-type]
                service_types=spec["kinds"],  # type: ignore[arg-type]
                organisation_id=spec.get("organisation"),  # type: ignore[arg-type]
            )
    follow_ups = RecordingFollowUps()
    notifier = RecordingNotifier()
    parts = bootstrap(
        settings_for(database),
        conversations=False,
        database=database,
        clock=clock,
        notifier=notifier,
        follow_ups=follow_ups,
    )
    assert isinstance(parts.relay, OutboxRelay)
    return World(
        database=database,
        clock=clock,
        casework=parts.casework,
        follow_ups=follow_ups,
        work=parts.jobs.follow_ups,
        notifier=notifier,
        relay=parts.relay,
        areas=areas,
        people=people,
        agency=agency,
    )
