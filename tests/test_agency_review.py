"""Agencies evaluated in three voices (三方评价), weighed together with the households' ratings and
supervisors' reviews of their cases, and the improvement actions raised for them. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from casework import indicators
from casework.access import Forbidden
from casework.domain import (
    AgencyCriterion,
    Channel,
    Conflict,
    Criterion,
    Identity,
    InvalidInput,
    Met,
    OutboxStatus,
    Person,
    Role,
    Voice,
)
from casework.indicators import Weights
from dialogs.alerts import alert_reply
from dialogs.catalog import Catalog
from tests.casework_world import World


def scored(score: int) -> dict[AgencyCriterion, int]:
    return dict.fromkeys(AgencyCriterion, score)


async def _evaluator(world: World, area: str = "s1") -> Person:
    async with world.database.transaction() as tx:
        return await tx.people.add(
            now=world.clock.now(),
            identity=Identity(Channel.TELEGRAM, "7100"),
            display_name="第三方评估",
            role=Role.EVALUATOR,
            area_ids=[world.areas[area]],
        )


def test_the_weights_weigh_the_voices_a_period_has() -> None:
    weights = Weights.load()
    assert weights.weights == {
        "recipients": 0.3,
        "supervision": 0.2,
        "self": 0.1,
        "supervisor": 0.2,
        "evaluator": 0.2,
    }
    every = {"recipients": 80.0, "supervision": 100.0, "self": 100.0, "supervisor": 60.0, "evaluator": 80.0}
    # 0.3 × 80 + 0.2 × 100 + 0.1 × 100 + 0.2 × 60 + 0.2 × 80 = 24 + 20 + 10 + 12 + 16
    assert weights.composite(every) == 82.0
    # without the households' and the supervisors' reviews: (10 + 12 + 16) / 0.5
    assert weights.composite({**every, "recipients": None, "supervision": None}) == 76.0
    assert weights.composite(dict.fromkeys(every)) is None


def test_a_weights_file_names_every_voice_and_no_negative_weight(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yml"
    missing.write_text("recipients: 1\nself: 1\n")
    with pytest.raises(ValueError, match="name each of"):
        Weights.load(missing)
    negative = tmp_path / "negative.yml"
    negative.write_text("recipients: -1\nsupervision: 1\nself: 1\nsupervisor: 1\nevaluator: 1\n")
    with pytest.raises(ValueError, match="at least 0"):
        Weights.load(negative)
    only_households = tmp_path / "households.yml"
    only_households.write_text("recipients: 1\nsupervision: 0\nself: 0\nsupervisor: 0\nevaluator: 0\n")
    assert Weights.load(only_households).composite({"recipients": 90.0, "self": 20.0}) == 90.0


async def test_the_three_voices_evaluate_the_agencies_they_may(world: World) -> None:
    reviews = world.casework.agency_reviews
    agency = world.agency
    evaluator = await _evaluator(world)
    own = await reviews.evaluate(world.people["agency_worker"], agency.id, "this-quarter", scored(5))
    chief = await reviews.evaluate(
        world.people["chief"], agency.id, "this-quarter", scored(3), " 记录需完善 "
    )
    third = await reviews.evaluate(evaluator, agency.id, "last-month", scored(4))
    assert [(e.voice, e.score, e.period) for e in (own, chief, third)] == [
        (Voice.SELF, 100.0, "2026-Q4"),
        (Voice.SUPERVISOR, 60.0, "2026-Q4"),
        (Voice.EVALUATOR, 80.0, "2026-10"),
    ]
    assert (own.period_start, own.period_end) == (date(2026, 10, 1), date(2026, 12, 31))
    assert chief.comment == "记录需完善"
    assert [a.name for a in await reviews.agencies_for(world.people["chief"])] == ["阳光社工"]
    assert await reviews.agencies_for(world.people["chief2"]) == []  # it serves another street
    with pytest.raises(Forbidden):
        await reviews.evaluate(world.people["chief2"], agency.id, "this-month", scored(3))
    with pytest.raises(Forbidden):  # a worker of no agency speaks for none
        await reviews.evaluate(world.people["wang"], agency.id, "this-month", scored(3))
    with pytest.raises(InvalidInput):
        await reviews.evaluate(
            world.people["chief"], agency.id, "this-month", {**scored(3), AgencyCriterion.IMPACT: 6}
        )


async def test_the_report_puts_the_voices_side_by_side_and_weighs_them(world: World) -> None:
    """One case held by the agency (referred, accepted, resolved, closed), rated 4 by the household and
    reviewed fully by a supervisor; the agency's own, a supervisor's and an evaluator's evaluations."""
    wang, agency_worker, chief = world.people["wang"], world.people["agency_worker"], world.people["chief"]
    ticket = (await world.casework.open_ticket(world.report())).ticket
    await world.casework.claim(wang, ticket.id)
    referral = await world.casework.refer(
        wang, ticket.id, reason="需要专业机构", to_organisation_id=world.agency.id
    )
    await world.casework.respond_to_referral(agency_worker, referral.id, accept=True)
    await world.casework.complete_referral(agency_worker, referral.id, "已链接临时救助")
    await world.casework.close(wang, ticket.id)
    await world.casework.rate(world.people["resident"], ticket.id, 4)
    await world.casework.supervise(chief, ticket.id, dict.fromkeys(Criterion, Met.FULLY))
    reviews = world.casework.agency_reviews
    await reviews.evaluate(agency_worker, world.agency.id, "this-month", scored(5))
    await reviews.evaluate(chief, world.agency.id, "this-quarter", scored(2))
    await reviews.evaluate(chief, world.agency.id, "this-quarter", scored(3))  # the later one counts
    await reviews.evaluate(await _evaluator(world), world.agency.id, "this-month", scored(4))

    async def report(suppress_below: int = 0) -> indicators.Report:
        return await world.indicators_report(
            "2026-11", "s1", later=timedelta(hours=1), suppress_below=suppress_below
        )

    agency = (await report()).sections["agencies"][str(world.agency.id)]
    assert {key: agency[key] for key in ("cases", "ratings", "reviews")} == {
        "cases": 1,
        "ratings": 1,
        "reviews": 1,
    }
    assert {voice: agency[voice] for voice in Weights.VOICES} == {
        "recipients": 80.0,
        "supervision": 100.0,
        "self": 100.0,
        "supervisor": 60.0,
        "evaluator": 80.0,
    }
    assert agency["composite"] == 82.0
    # Outside the supervisor's area one household's rating is too few to show, and so is all it weighs in.
    shared = (await report(suppress_below=5)).sections["agencies"][str(world.agency.id)]
    assert shared["ratings"] == shared["recipients"] == shared["composite"] == indicators.SUPPRESSED
    assert shared["improvements"] == {"open": 0, "overdue": 0, "done": 0}  # they count no people


async def test_an_improvement_is_raised_told_to_the_agency_tracked_and_done(world: World) -> None:
    reviews = world.casework.agency_reviews
    chief, agency_worker = world.people["chief"], world.people["agency_worker"]
    due = world.clock.now().date() + timedelta(days=14)
    with pytest.raises(Forbidden):  # the agency does not raise its own
        await reviews.raise_action(agency_worker, world.agency.id, "按时上报服务记录", due)
    with pytest.raises(InvalidInput):
        await reviews.raise_action(chief, world.agency.id, "  ", due)
    action, told = await reviews.raise_action(chief, world.agency.id, " 按时上报服务记录 ", due)
    assert (action.what, action.raised_in, told) == ("按时上报服务记录", "2026-11", 1)
    async with world.database.transaction() as tx:
        (alert,) = [
            a for a in await tx.outbox.with_status(OutboxStatus.PENDING) if a.event == "improvement_raised"
        ]
    assert alert.recipient_person_id == agency_worker.id
    text = Catalog.load().render(alert_reply(alert, "zh"), "zh")
    assert text.startswith("📌 chief 请 阳光社工 改进：按时上报服务记录")

    async def improvements() -> dict[str, object]:
        report = await world.indicators_report("this-month", "s1")
        figures: dict[str, object] = report.sections["agencies"][str(world.agency.id)]["improvements"]
        return figures

    assert await improvements() == {"open": 1, "overdue": 0, "done": 0}
    world.clock.advance(timedelta(days=15))
    assert (await improvements())["overdue"] == 1
    assert [(a.id, a.status.value) for a, _ in await reviews.actions_for(agency_worker)] == [
        (action.id, "open")
    ]
    with pytest.raises(Forbidden):
        await reviews.close_action(world.people["zhou"], action.id)
    done = await reviews.close_action(agency_worker, action.id, "已建立每周上报制度")
    assert (done.status.value, done.done_note) == ("done", "已建立每周上报制度")
    with pytest.raises(Conflict):
        await reviews.close_action(chief, action.id)
    assert await improvements() == {"open": 0, "overdue": 0, "done": 1}
