"""The service's indicators on a small trail built by hand, every figure worked out by hand below, on
SQLite and PostgreSQL; the periods a report can name; the small cells a report that leaves the area
leaves out; and `needsbot report indicators`.

The trail (all in 光明社区, November 2026; T0 is Monday 2 November, 09:00 in Shanghai):

- A, normal, resource linking, the resident's household H: claimed after 2 h (deadline 24 h), a note
  after 3 h, visited after 26 h, assessed after 50 h, a goal set after 51 h, resolved after 5 days
  (deadline 7), closed after 6; rated 5.
- B, critical, psychological support: "I'm on it" after 6 min, claimed after 20 min (deadline 15).
- C, critical, psychological support, opened T0 + 2 days: the ladder's second step after 10 min, "I'm
  on it" after 25, claimed after 40; resolved after 2 days (deadline 3), reopened, resolved again.
- D, normal, resource linking, opened T0 + 3 days: never claimed (deadline 24 h).
- E, normal, capacity building, flagged by a volunteer for household H, opened T0 + 4 days: claimed
  after 30 h, a message after 31 h, referred to the agency after 31 h, accepted 4 h later, completed
  (and so resolved) after 5 days.
- F, opened in October and closed: outside the period.

Household H has two assessments (needs 3 + 2, then 1: less needed by 4) and three goals (one achieved,
one under way, one dropped). The report is read at T0 + 10 days.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from casework import indicators
from casework.domain import (
    AreaLevel,
    Channel,
    ConsentPurpose,
    GoalOwner,
    GoalStatus,
    InvalidInput,
    ReferralStatus,
    Role,
    ServiceType,
    TicketAction,
    TicketStatus,
    Urgency,
)
from casework.indicators import Durations, Share
from storage import Database
from tests.cli_runner import Needsbot
from tests.reports import store_report

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


async def build(database: Database) -> dict[str, int]:
    """The trail above; the ids of what the tests name."""
    ids: dict[str, int] = {}
    async with database.transaction() as tx:
        district = await tx.areas.add(code="d", name="城东区", level=AreaLevel.DISTRICT)
        street = await tx.areas.add(code="s1", name="和平街道", level=AreaLevel.STREET, parent_id=district.id)
        community = await tx.areas.add(
            code="c1", name="光明社区", level=AreaLevel.COMMUNITY, parent_id=street.id
        )
        other = await tx.areas.add(code="s2", name="新华街道", level=AreaLevel.STREET, parent_id=district.id)
        agency = await tx.organisations.add(name="阳光社工", area_ids=[street.id], now=T0 - 30 * DAY)
        worker = await tx.people.add(
            now=T0 - 30 * DAY, display_name="王", role=Role.SOCIAL_WORKER, area_ids=[street.id]
        )
        resident = await tx.people.add(now=T0 - 30 * DAY, display_name="居民")
        volunteer = await tx.people.add(now=T0 - 30 * DAY, display_name="楼长", role=Role.VOLUNTEER)
        household = await tx.households.add(area_id=community.id, address="光明路12号", now=T0 - 30 * DAY)
        ids.update(district=district.id, street=street.id, community=community.id, other=other.id)
        ids.update(agency=agency.id, worker=worker.id, household=household.id)
        number = 0

        async def case(
            opened: datetime,
            urgency: Urgency,
            kind: ServiceType,
            trail: list[tuple[timedelta, TicketAction, str | None]],
            *,
            status: TicketStatus,
            reporter_id: int | None = resident.id,
            household_id: int | None = None,
            on_behalf: bool = False,
            claimed: bool = True,
        ) -> int:
            nonlocal number
            number += 1
            claim_within, resolve_within = {
                Urgency.NORMAL: (DAY, 7 * DAY),
                Urgency.CRITICAL: (15 * MIN, 3 * DAY),
            }[urgency]
            ticket = await tx.tickets.add(
                reference=f"SA-TEST-{number:04d}",
                service_type=kind,
                urgency=urgency,
                area_id=community.id,
                household_id=household_id,
                reporter_id=reporter_id,
                claim_deadline=opened + claim_within,
                resolve_deadline=opened + resolve_within,
                now=opened,
            )
            await tx.tickets.transition(
                ticket.id, to_status=status, now=opened, assignee_id=worker.id if claimed else None
            )
            await tx.tickets.add_event(ticket_id=ticket.id, action=TicketAction.OPENED, now=opened)
            for after, action, note in trail:
                await tx.tickets.add_event(
                    ticket_id=ticket.id, action=action, actor_id=worker.id, note=note, now=opened + after
                )
            await store_report(
                tx,
                opened,
                text="…",
                urgency=urgency,
                reporter_id=reporter_id,
                household_id=household_id,
                ticket_id=ticket.id,
                on_behalf=on_behalf,
            )
            return ticket.id

        ids["A"] = await case(
            T0,
            Urgency.NORMAL,
            ServiceType.RESOURCE_LINKING,
            [
                (2 * HOUR, TicketAction.CLAIMED, None),
                (3 * HOUR, TicketAction.NOTE, "电话联系了"),
                (26 * HOUR, TicketAction.VISITED, None),
                (50 * HOUR, TicketAction.ASSESSED, "v1"),
                (51 * HOUR, TicketAction.GOAL_SET, "#1"),
                (5 * DAY, TicketAction.RESOLVED, None),
                (6 * DAY, TicketAction.CLOSED, None),
            ],
            status=TicketStatus.CLOSED,
            household_id=household.id,
        )
        await tx.tickets.add_feedback(
            ticket_id=ids["A"], rating=5, person_id=resident.id, comment="王社工很耐心", now=T0 + 7 * DAY
        )
        await tx.consents.record(
            person_id=resident.id, answers={ConsentPurpose.STORE_REPORT: True}, notice_version="v1", now=T0
        )
        ids["B"] = await case(
            T0 + HOUR,
            Urgency.CRITICAL,
            ServiceType.PSYCHOLOGICAL_SUPPORT,
            [
                (0 * MIN, TicketAction.CRISIS_ALERTED, "step 0: staff · 光明社区 · 2"),
                (6 * MIN, TicketAction.ACKNOWLEDGED, None),
                (20 * MIN, TicketAction.CLAIMED, None),
            ],
            status=TicketStatus.ASSIGNED,
        )
        ids["C"] = await case(
            T0 + 2 * DAY,
            Urgency.CRITICAL,
            ServiceType.PSYCHOLOGICAL_SUPPORT,
            [
                (0 * MIN, TicketAction.CRISIS_ALERTED, "step 0: staff · 光明社区 · 2"),
                (10 * MIN, TicketAction.CRISIS_ALERTED, "step 1: staff · 和平街道 · 3"),
                (25 * MIN, TicketAction.ACKNOWLEDGED, None),
                (40 * MIN, TicketAction.CLAIMED, None),
                (2 * DAY, TicketAction.RESOLVED, None),
                (2 * DAY + 12 * HOUR, TicketAction.REOPENED, None),
                (3 * DAY + HOUR, TicketAction.RESOLVED, None),
            ],
            status=TicketStatus.RESOLVED,
        )
        ids["D"] = await case(
            T0 + 3 * DAY,
            Urgency.NORMAL,
            ServiceType.RESOURCE_LINKING,
            [],
            status=TicketStatus.NEW,
            claimed=False,
        )
        ids["E"] = await case(
            T0 + 4 * DAY,
            Urgency.NORMAL,
            ServiceType.CAPACITY_BUILDING,
            [
                (30 * HOUR, TicketAction.CLAIMED, None),
                (31 * HOUR, TicketAction.MESSAGE_SENT, "您好"),
                (31 * HOUR, TicketAction.REFERRED, "需要技能培训"),
                (35 * HOUR, TicketAction.REFERRAL_ACCEPTED, None),
                (5 * DAY, TicketAction.REFERRAL_COMPLETED, "已报名培训"),
            ],
            status=TicketStatus.RESOLVED,
            reporter_id=volunteer.id,
            household_id=household.id,
            on_behalf=True,
        )
        referral = await tx.tickets.add_referral(
            ticket_id=ids["E"],
            from_person_id=worker.id,
            to_organisation_id=agency.id,
            reason="需要技能培训",
            now=T0 + 4 * DAY + 31 * HOUR,
        )
        await tx.tickets.set_referral_status(
            referral.id,
            to_status=ReferralStatus.ACCEPTED,
            now=T0 + 4 * DAY + 35 * HOUR,
            expected={ReferralStatus.PENDING},
        )
        await tx.tickets.set_referral_status(
            referral.id,
            to_status=ReferralStatus.COMPLETED,
            now=T0 + 9 * DAY,
            expected={ReferralStatus.ACCEPTED},
        )
        ids["F"] = await case(
            T0 - 20 * DAY,
            Urgency.NORMAL,
            ServiceType.RESOURCE_LINKING,
            [
                (HOUR, TicketAction.CLAIMED, None),
                (DAY, TicketAction.RESOLVED, None),
                (2 * DAY, TicketAction.CLOSED, None),
            ],
            status=TicketStatus.CLOSED,
        )
        await tx.case_files.add_assessment(
            household_id=household.id,
            form_version="test",
            answers={},
            risk="medium",
            needs={"resource_linking": "high", "social_integration": "medium"},
            now=T0 + 50 * HOUR,
        )
        await tx.case_files.add_assessment(
            household_id=household.id,
            form_version="test",
            answers={},
            risk="low",
            needs={"resource_linking": "low"},
            now=T0 + 8 * DAY,
        )
        for title, status in (
            ("申请临时救助", GoalStatus.ACHIEVED),
            ("技能培训", GoalStatus.UNDER_WAY),
            ("心理疏导", GoalStatus.DROPPED),
        ):
            goal = await tx.case_files.add_goal(
                household_id=household.id,
                service_type=ServiceType.RESOURCE_LINKING,
                title=title,
                owner=GoalOwner.WORKER,
                now=T0 + 51 * HOUR,
            )
            if status is not GoalStatus.PLANNED:
                await tx.case_files.set_goal_status(
                    goal.id,
                    status=status,
                    now=T0 + 6 * DAY,
                    expected={GoalStatus.PLANNED},
                    drop_reason="不需要了" if status is GoalStatus.DROPPED else None,
                )
    return ids


async def november(database: Database, **cuts: object) -> indicators.Report:
    from zoneinfo import ZoneInfo

    return await indicators.report(
        database,
        period_text="2026-11",
        now=NOW,
        timezone=ZoneInfo("Asia/Shanghai"),
        **cuts,  # type: ignore[arg-type]
    )


async def test_every_indicator_on_a_trail_worked_out_by_hand(database: Database) -> None:
    ids = await build(database)
    figures = (await november(database, area_code="d")).sections

    response = figures["response"]
    assert response["cases"] == 5  # F was opened in October
    # claims after 20, 40, 120 and 1800 minutes: the median between 40 and 120; p90 seven tenths of
    # the way from 120 to 1800
    assert response["time_to_claim"] == Durations(4, 80.0, 1296.0, 1800.0)
    # contact: A's note after 180 minutes, E's message after 1860
    assert response["time_to_contact"] == Durations(2, 1020.0, 1692.0, 1860.0)
    assert response["claimed_in_time"] == Share(1, 5)  # only A; B and C past their 15 minutes
    assert response["breached"] == Share(4, 5)  # all but A
    assert response["by_urgency"] == {
        "normal": {"claimed_in_time": Share(1, 3), "breached": Share(2, 3)},
        "critical": {"claimed_in_time": Share(0, 2), "breached": Share(2, 2)},
    }

    crisis = figures["crisis"]
    assert crisis["crises"] == 2
    assert crisis["time_to_acknowledge"] == Durations(2, 15.5, 23.1, 25.0)  # 6 and 25 minutes
    assert crisis["acknowledged_within_10_minutes"] == Share(1, 2)
    assert crisis["escalated"] == Share(1, 2)  # C needed the ladder's second step

    resolution = figures["resolution"]
    # A after 5 days, C after 2 (its first resolution), E's completed referral after 5
    assert resolution["time_to_resolve"] == Durations(3, 7200.0, 7200.0, 7200.0)
    assert resolution["time_to_close"] == Durations(1, 8640.0, 8640.0, 8640.0)
    assert resolution["resolved_in_time"] == Share(3, 5)
    assert resolution["reopened"] == Share(1, 3)  # C

    files = figures["case_files"]
    assert files["visited"] == Share(1, 4)  # of the four claimed: A
    assert files["assessed"] == Share(1, 4)
    assert files["claim_to_visit"] == Durations(1, 1440.0, 1440.0, 1440.0)
    assert files["claim_to_assessment"] == Durations(1, 2880.0, 2880.0, 2880.0)
    assert files["plans_set"] == Share(1, 4)
    assert files["reviewed"] == Share(0, 1)
    assert files["goals_achieved"] == Share(1, 2)  # the dropped goal is not counted
    assert files["need_change"] == {"households": 1, "median": -4, "less_needed": 1, "more_needed": 0}

    referral = figures["referral"]
    assert referral["referrals"] == 1
    assert referral["per_case"] == 0.2
    assert referral["accepted"] == Share(1, 1)
    assert referral["time_to_answer"] == Durations(1, 240.0, 240.0, 240.0)
    assert referral["completed_within_30_days"] == Share(1, 1)
    assert referral["declined"] == 0
    assert referral["by_agency"] == {str(ids["agency"]): 1}

    satisfaction = figures["satisfaction"]
    # asked: the finished cases a household reported itself (A and C; E was a volunteer's flag)
    assert satisfaction["response_rate"] == Share(1, 2)
    assert satisfaction["mean"] == 5
    assert satisfaction["four_or_five"] == Share(1, 1)
    assert satisfaction["by_service_type"] == {"resource_linking": {"ratings": 1, "mean": 5}}
    assert satisfaction["by_agency"] == {}  # A was rated; no agency held it
    assert satisfaction["comments"] == ["王社工很耐心"]  # the resident agreed that their report be kept

    caseload = figures["caseload"]  # now: B held by the worker, D unclaimed for 7 days
    assert caseload["workers_by_open_cases"] == {"0-9": 1, "10-19": 0, "20+": 0}
    assert caseload["unclaimed"] == 1
    assert caseload["unclaimed_age"] == Durations(1, 10080.0, 10080.0, 10080.0)

    needs = figures["needs"]
    assert needs["by_service_type"] == {
        "capacity_building": 1,
        "psychological_support": 2,
        "resource_linking": 2,
    }
    assert needs["by_urgency"] == {"critical": 2, "normal": 3}
    assert needs["by_area"] == {str(ids["community"]): 5}
    assert needs["volunteer_flagged"] == Share(1, 5)
    assert needs["repeat_households"] == 1  # H: A and E


async def test_a_report_kept_as_json_reads_back_the_same_and_without_words_quotes_nobody(
    database: Database,
) -> None:
    """A scheduled report travels in an alert as JSON: read back, every figure is the same; the copy
    kept in the alert has nobody's words."""
    await build(database)
    report = await november(database)
    again = indicators.Report.from_plain(json.loads(json.dumps(report.as_plain())))
    assert again == report
    bare = report.without_words()
    assert bare.sections["satisfaction"]["comments"] == []
    assert report.sections["satisfaction"]["comments"] == ["王社工很耐心"]  # the report itself unchanged
    assert {**bare.sections, "satisfaction": None} == {**report.sections, "satisfaction": None}


def test_the_collector_is_paused_while_a_report_reads_and_runs_again_after() -> None:
    import gc

    assert gc.isenabled()
    with indicators.collector_paused():
        assert not gc.isenabled()
        with indicators.collector_paused():  # another report at the same time
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first report still reads
    assert gc.isenabled()
    with pytest.raises(RuntimeError), indicators.collector_paused():
        raise RuntimeError("the database went away")
    assert gc.isenabled()


def test_every_event_a_figure_asks_about_is_read_with_the_trail() -> None:
    """The evaluation reads only the trail events in ``COUNTED``: an event a figure names but the list
    left out would never be seen, and the figure would quietly read zero."""
    import re

    named = set(re.findall(r"TicketAction\.([A-Z_]+)", Path(indicators.__file__).read_text()))
    assert {TicketAction[name] for name in named} <= indicators.COUNTED
    for span in indicators.SPANS:
        assert span.start | span.end <= indicators.COUNTED


async def test_a_report_is_cut_by_area_service_type_worker_and_agency(database: Database) -> None:
    ids = await build(database)
    assert (await november(database, area_code="s2")).sections["response"]["cases"] == 0
    assert (await november(database, area_code="c1")).sections["response"]["cases"] == 5
    crisis_only = await november(database, service_type="psychological_support")
    assert crisis_only.sections["response"]["cases"] == 2
    assert (await november(database, worker_id=ids["worker"])).sections["response"]["cases"] == 4
    assert (await november(database, organisation_id=ids["agency"])).sections["response"]["cases"] == 1
    with pytest.raises(InvalidInput):
        await november(database, service_type="haircuts")


async def test_small_cells_are_left_out_of_a_report_that_leaves_the_area(database: Database) -> None:
    await build(database)
    shared = (await november(database, suppress_below=5)).sections
    assert shared["response"]["cases"] == 5  # five people: shown
    assert shared["response"]["claimed_in_time"] == Share(1, 5)
    assert shared["crisis"]["time_to_acknowledge"] == indicators.SUPPRESSED  # two people
    assert shared["crisis"]["crises"] == indicators.SUPPRESSED
    assert shared["needs"]["by_service_type"]["capacity_building"] == indicators.SUPPRESSED
    assert shared["satisfaction"]["comments"] == []


@pytest.mark.parametrize(
    ("text", "first", "last", "label"),
    [
        ("2026-11", "2026-11-01", "2026-11-30", "2026-11"),
        ("2026-q4", "2026-10-01", "2026-12-31", "2026-Q4"),
        ("2026-W48", "2026-11-23", "2026-11-29", "2026-W48"),
        ("2026", "2026-01-01", "2026-12-31", "2026"),
        ("2026-11-03..2026-11-05", "2026-11-03", "2026-11-05", "2026-11-03..2026-11-05"),
        ("this-week", "2026-11-09", "2026-11-15", "2026-W46"),
        ("last-week", "2026-11-02", "2026-11-08", "2026-W45"),
        ("this-month", "2026-11-01", "2026-11-30", "2026-11"),
        ("last-month", "2026-10-01", "2026-10-31", "2026-10"),
        ("last-quarter", "2026-07-01", "2026-09-30", "2026-Q3"),
        ("last-year", "2025-01-01", "2025-12-31", "2025"),
    ],
)
def test_the_periods_a_report_can_name(text: str, first: str, last: str, label: str) -> None:
    """Each period's days, and its label: the days' own name, whenever it is read."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    start, end, named = indicators.period(text, today=NOW.astimezone(zone).date(), timezone=zone)
    assert start == datetime.fromisoformat(first).replace(tzinfo=zone)
    assert end == datetime.fromisoformat(last).replace(tzinfo=zone) + DAY
    assert named == label


@pytest.mark.parametrize("text", ["2026-13", "November", "2026-11-05..2026-11-01", "2026-Q5"])
def test_a_period_not_understood_is_refused(text: str) -> None:
    from zoneinfo import ZoneInfo

    with pytest.raises(InvalidInput):
        indicators.period(text, today=NOW.date(), timezone=ZoneInfo("Asia/Shanghai"))


def test_the_command_line_writes_the_indicators_as_json_and_csv(sqlite_url: str, tmp_path: Path) -> None:
    import asyncio

    from storage import create_database

    async def seed() -> None:
        database = create_database(sqlite_url)
        try:
            await build(database)
        finally:
            await database.dispose()

    needsbot = Needsbot(sqlite_url, tmp_path)
    asyncio.run(seed())
    shown = needsbot("report", "indicators", "--period", "2026-11", "--area", "d", "--format", "json")
    assert shown.exit_code == 0, shown.output
    sections = json.loads(shown.output)["sections"]
    assert sections["response"]["time_to_claim"] == {
        "count": 4,
        "median_minutes": 80.0,
        "p90_minutes": 1296.0,
        "max_minutes": 1800.0,
    }
    assert sections["crisis"]["acknowledged_within_10_minutes"] == {
        "numerator": 1,
        "denominator": 2,
        "share": 0.5,
    }
    table = needsbot("report", "indicators", "--period", "2026-11", "--format", "csv")
    assert table.exit_code == 0, table.output
    assert "response.time_to_claim,,4,80.0,1296.0,1800.0" in table.output
    charts = needsbot(
        "report",
        "indicators",
        "--period",
        "2026-11",
        "--format",
        "png",
        "--output-dir",
        str(tmp_path / "out"),
    )
    assert charts.exit_code == 0, charts.output
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "indicators-2026-11-needs.png",
        "indicators-2026-11-shares.png",
        "indicators-2026-11-times.png",
    ]
    book = needsbot(
        "report", "indicators", "--period", "2026-11", "--format", "xlsx", "--output-dir", str(tmp_path)
    )
    assert book.exit_code == 0, book.output
    assert (tmp_path / "indicators-2026-11.xlsx").stat().st_size > 0
    refused = needsbot("report", "indicators", "--period", "Nov")
    assert refused.exit_code != 0
    assert "could not read the period" in refused.output


async def test_the_workbook_has_a_sheet_a_dimension_and_the_definitions(database: Database) -> None:
    import io

    from openpyxl import load_workbook

    from bot import report_files

    await build(database)
    book = load_workbook(io.BytesIO(report_files.workbook(await november(database), "zh")))
    assert book.sheetnames[:9] == [
        "response",
        "crisis",
        "resolution",
        "case_files",
        "referral",
        "satisfaction",
        "supervision",
        "caseload",
        "needs",
    ]
    response = list(book["response"].iter_rows(values_only=True))
    assert response[0][:3] == ("指标", "数值", "个案数")
    assert ("response.time_to_claim", None, 4, 80, 1296, 1800, None, None, None) in response
    definitions = {row[0]: row[1] for row in book["指标定义"].iter_rows(values_only=True)}
    assert definitions["time_to_claim"] == indicators.TIME_TO_CLAIM.says


async def test_the_charts_draw_chinese_as_characters_not_boxes(database: Database) -> None:
    import warnings

    from matplotlib import pyplot

    from bot import report_files

    await build(database)
    report = await november(database)
    assert report_files.cjk_font() is not None, "no CJK font: install fonts-noto-cjk"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawn = report_files.charts(report, "zh")
    assert set(drawn) == {"needs", "times", "shares"}
    assert all(png.startswith(b"\x89PNG") for png in drawn.values())
    assert not [str(w.message) for w in caught if "missing from font" in str(w.message)]
    # Without the CJK font the same words are boxes, and matplotlib says so: the check above can fail.
    with warnings.catch_warnings(record=True) as boxes, pyplot.rc_context({"font.family": ["DejaVu Sans"]}):
        warnings.simplefilter("always")
        report_files._bars("资源链接", ["社会融入"], {"": [1]}, "工单数")
    assert [w for w in boxes if "missing from font" in str(w.message)]


async def test_policy_feedback_is_grouped_and_quotes_only_those_who_agreed(database: Database) -> None:
    """下情上达: two questions on 低保 nobody could answer and a complaint, in one community; only the
    words of the person who agreed that their report be kept are quoted."""
    async with database.transaction() as tx:
        area = await tx.areas.add(code="c9", name="光明社区", level=AreaLevel.COMMUNITY)
        agreed = await tx.people.add(now=T0, display_name="甲")
        await tx.consents.record(
            person_id=agreed.id, answers={ConsentPurpose.STORE_REPORT: True}, notice_version="v1", now=T0
        )
        declined = await tx.people.add(now=T0, display_name="乙")
        for number, (reporter, intent, summary, words) in enumerate(
            [
                (agreed, "ask_policy", "@ask_policy · @topic=dibao", "低保多久审批一次？"),
                (declined, "ask_policy", "@ask_policy · @topic=dibao", "我家的低保为什么停了"),
                (declined, "policy_feedback", "", "街道办事太慢"),
            ],
            start=1,
        ):
            ticket = await tx.tickets.add(
                reference=f"SA-P-{number}",
                service_type=ServiceType.POLICY_ADVOCACY,
                urgency=Urgency.NORMAL,
                area_id=area.id,
                summary=summary,
                reporter_id=reporter.id,
                now=T0 + number * HOUR,
            )
            await store_report(
                tx,
                T0 + number * HOUR,
                text=words,
                intent=intent,
                reporter_id=reporter.id,
                ticket_id=ticket.id,
            )
    policy = (await november(database)).sections["policy_feedback"]
    assert policy["cases"] == 3
    assert policy["groups"] == [
        {
            "kind": "question",
            "topic": "dibao",
            "area": str(area.id),
            "cases": 2,
            "examples": ["低保多久审批一次？"],
        },
        {"kind": "feedback", "topic": "", "area": str(area.id), "cases": 1, "examples": []},
    ]
    shared = (await november(database, suppress_below=2)).sections["policy_feedback"]
    assert [group["cases"] for group in shared["groups"]] == [2]  # the group of one is left out
    assert shared["groups"][0]["examples"] == []  # and nobody's words leave the supervisor's area
    bare = (await november(database)).without_words().sections["policy_feedback"]
    assert [(group["cases"], group["examples"]) for group in bare["groups"]] == [(2, []), (1, [])]


async def test_supervisors_read_their_own_areas_and_admins_every_area(database: Database) -> None:
    from casework.access import Forbidden
    from tests.casework_world import build_world

    world = await build_world(database)
    evaluation = world.casework.evaluation
    chief, admin, wang = world.people["chief"], world.people["admin"], world.people["wang"]
    assert [area.code for area in await evaluation.areas_for(chief)] == ["s1"]
    assert [area.code for area in await evaluation.areas_for(admin)] == ["d"]
    assert (await evaluation.report(chief, "this-month", world.areas["c1"])).sections["response"][
        "cases"
    ] == 0
    with pytest.raises(Forbidden):  # another street's community
        await evaluation.report(chief, "this-month", world.areas["c3"])
    await evaluation.report(admin, "this-month", world.areas["c3"])
    with pytest.raises(Forbidden):
        await evaluation.areas_for(wang)


async def test_the_cases_of_someone_who_withdrew_consent_to_statistics_are_left_out(
    database: Database,
) -> None:
    from casework.domain import ASKED_AT_START, ConsentPurpose
    from casework.people import People
    from tests.casework_world import build_world

    world = await build_world(database)
    await world.casework.open_ticket(world.report())  # the resident's
    await world.casework.open_ticket(world.report(reporter_id=world.people["neighbour"].id))
    await world.casework.open_ticket(world.report(reporter_id=None))  # anonymous: counted
    people = People(world.database, world.clock)
    resident = world.people["resident"].id
    await people.record_consents(resident, dict.fromkeys(ASKED_AT_START, True))

    async def cases() -> int:
        report = await world.casework.evaluation.report(
            world.people["chief"], "this-month", world.areas["s1"]
        )
        counted: int = report.sections["response"]["cases"]
        return counted

    assert await cases() == 3
    await people.count_in_statistics(resident, False)
    assert await cases() == 2
    assert await people.consent_asked(resident)  # leaving the statistics asks no question again
    await people.count_in_statistics(resident, True)
    assert await cases() == 3
    async with world.database.transaction() as tx:
        answers = [
            c.purpose for c in await tx.consents.history(resident) if c.purpose is ConsentPurpose.STATISTICS
        ]
    assert len(answers) == 2  # each answer kept


async def test_a_third_party_evaluator_reads_its_areas_with_every_small_figure_left_out(
    database: Database,
) -> None:
    from casework.access import Forbidden
    from casework.domain import Identity, Role
    from tests.casework_world import build_world

    world = await build_world(database)
    async with world.database.transaction() as tx:
        evaluator = await tx.people.add(
            now=world.clock.now(),
            identity=Identity(Channel.TELEGRAM, "7001"),
            display_name="第三方评估",
            role=Role.EVALUATOR,
            area_ids=[world.areas["s1"]],
        )
    for _ in range(2):
        await world.casework.open_ticket(world.report())
    evaluation = world.casework.evaluation
    assert [area.code for area in await evaluation.areas_for(evaluator)] == ["s1"]
    theirs = await evaluation.report(evaluator, "this-month", world.areas["s1"])
    supervisors = await evaluation.report(world.people["chief"], "this-month", world.areas["s1"])
    assert supervisors.sections["response"]["cases"] == 2
    assert theirs.sections["response"]["cases"] == indicators.SUPPRESSED  # two people: too few
    assert theirs.suppressed_below == indicators.SHARED_SUPPRESS_BELOW
    from bot import report_files

    drawn = report_files.charts(theirs, "zh")  # the figures left out are no bars, and said so
    assert all(png.startswith(b"\x89PNG") for png in drawn.values())
    assert drawn["needs"] != report_files.charts(supervisors, "zh")["needs"]
    with pytest.raises(Forbidden):
        await evaluation.report(evaluator, "this-month", world.areas["c3"])  # not given to them
    with pytest.raises(Forbidden):  # and never a case
        await world.casework.view(evaluator, (await world.casework.open_ticket(world.report())).ticket.id)
