"""Supervision (督导): a supervisor reviews a finished case against the rubric; the worker who had it
hears the scores and the comment; the score is one of the service's indicators. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from casework import indicators
from casework.access import Forbidden
from casework.domain import (
    Conflict,
    Criterion,
    InvalidInput,
    Met,
    OutboxStatus,
    Ticket,
    TicketAction,
)
from casework.indicators import Share
from dialogs.alerts import alert_reply
from dialogs.catalog import Catalog
from tests.casework_world import World

# assessment fully, plan partly, kept informed fully, outcome not recorded: 5 of 8, 62.5 → 62%
MIXED = {
    Criterion.ASSESSMENT_DONE: Met.FULLY,
    Criterion.PLAN_FOLLOWED: Met.PARTLY,
    Criterion.KEPT_INFORMED: Met.FULLY,
    Criterion.OUTCOME_RECORDED: Met.NOT,
}
FULL = dict.fromkeys(Criterion, Met.FULLY)


async def _finished(world: World) -> Ticket:
    """A case of 光明社区 that wang claimed, resolved and closed."""
    wang = world.people["wang"]
    ticket = (await world.casework.open_ticket(world.report())).ticket
    await world.casework.claim(wang, ticket.id)
    await world.casework.resolve(wang, ticket.id, "已链接临时救助")
    await world.casework.close(wang, ticket.id)
    return ticket


async def test_a_supervisor_reviews_a_finished_case_and_its_worker_hears_it(world: World) -> None:
    ticket = await _finished(world)
    chief = world.people["chief"]
    review = await world.casework.supervise(chief, ticket.id, MIXED, "  结案前应再回访一次  ")
    assert (review.score, review.comment) == (62, "结案前应再回访一次")
    async with world.database.transaction() as tx:
        events = await tx.tickets.events(ticket.id)
        alerts = [
            a for a in await tx.outbox.with_status(OutboxStatus.PENDING) if a.event == "case_supervised"
        ]
    supervised = [event for event in events if event.action is TicketAction.SUPERVISED]
    assert [(event.actor_id, event.note) for event in supervised] == [(chief.id, "62%")]  # never the comment
    assert [alert.recipient_person_id for alert in alerts] == [world.people["wang"].id]
    text = Catalog.load().render(alert_reply(alerts[0], "zh"), "zh")
    assert "chief 对您负责的" in text
    assert "62%" in text
    assert "评估：做到 · 计划：部分做到 · 知情：做到 · 结果：未做到" in text
    assert "意见：结案前应再回访一次" in text
    # The worker reads the reviews of their case; a later review is kept beside the first.
    await world.casework.supervise(chief, ticket.id, FULL)
    reviews = await world.casework.supervision_of(world.people["wang"], ticket.id)
    assert [r.score for r in reviews] == [62, 100]


async def test_only_a_supervisor_of_the_area_reviews_and_only_a_finished_case(world: World) -> None:
    ticket = await _finished(world)
    with pytest.raises(Forbidden) as refused:
        await world.casework.supervise(world.people["wang"], ticket.id, FULL)  # the worker who had it
    assert refused.value.code == "supervision.supervisors_only"
    with pytest.raises(Forbidden):
        await world.casework.supervise(world.people["chief2"], ticket.id, FULL)  # another street's
    with pytest.raises(InvalidInput) as unscored:
        await world.casework.supervise(
            world.people["chief"], ticket.id, {Criterion.ASSESSMENT_DONE: Met.FULLY}
        )
    assert unscored.value.code == "supervision.scores"
    open_case = (await world.casework.open_ticket(world.report())).ticket
    with pytest.raises(Conflict) as unfinished:
        await world.casework.supervise(world.people["chief"], open_case.id, FULL)
    assert unfinished.value.code == "supervision.unfinished"
    await world.casework.supervise(world.people["admin"], ticket.id, FULL)  # an admin anywhere
    async with world.database.transaction() as tx:
        assert len(await tx.tickets.supervision(ticket.id)) == 1


async def test_the_supervision_indicators_count_each_cases_latest_review(world: World) -> None:
    """Three finished cases and an open one: the first reviewed twice (62%, then 100%: the latest
    counts), the second once (62%), the third not at all; the open one is not asked about."""
    chief = world.people["chief"]
    first, second, _third = [await _finished(world) for _ in range(3)]
    await world.casework.open_ticket(world.report())
    await world.casework.supervise(chief, first.id, MIXED)
    await world.casework.supervise(chief, first.id, FULL)
    await world.casework.supervise(chief, second.id, MIXED)

    async def report(suppress_below: int = 0) -> indicators.Report:
        return await world.indicators_report(
            "this-month", "c1", later=timedelta(minutes=1), suppress_below=suppress_below
        )

    supervision = (await report()).sections["supervision"]
    assert supervision["reviewed"] == Share(2, 3)
    assert supervision["reviews"] == 2
    assert supervision["median_score"] == 81.0  # the median of 100 and 62
    assert supervision["fully_met"] == {
        "assessment_done": Share(2, 2),
        "plan_followed": Share(1, 2),
        "kept_informed": Share(2, 2),
        "outcome_recorded": Share(1, 2),
    }
    # In a report that leaves the supervisor's area, two reviews are too few: the median goes with them.
    shared = (await report(suppress_below=5)).sections["supervision"]
    assert shared["reviews"] == shared["median_score"] == indicators.SUPPRESSED
    assert shared["fully_met"]["plan_followed"] == indicators.SUPPRESSED
