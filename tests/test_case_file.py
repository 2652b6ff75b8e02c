"""The household's case file through the casework, on SQLite and PostgreSQL: assessments kept as
versions, the plan's goals and reviews, volunteers' tasks, one file per household across its tickets,
what falls due (reminders), who reads what, and what an erasure leaves."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from casework import assessment_form
from casework.access import Forbidden
from casework.case_file import NewGoal
from casework.domain import (
    Conflict,
    Goal,
    GoalOwner,
    GoalStatus,
    InvalidInput,
    NotFound,
    Progress,
    Refusal,
    ServiceType,
    TicketAction,
    TicketStatus,
    Urgency,
)
from casework.people import People
from tests.assessments import answers
from tests.casework_world import World

ADDRESS = "光明社区幸福路12号3栋201"


async def held_case(world: World, *, address: str = ADDRESS) -> int:
    """A case of the resident's household, claimed by wang."""
    ticket = (await world.casework.open_ticket(world.report(household_address=address))).ticket
    await world.casework.claim(world.people["wang"], ticket.id)
    return ticket.id


async def volunteer_task(world: World, ticket_id: int) -> Goal:
    """wang gives the volunteer a task on the plan of the case's household."""
    return await world.casework.add_goal(
        world.people["wang"],
        ticket_id,
        NewGoal(
            ServiceType.SOCIAL_INTEGRATION,
            "陪同老人去医院复诊",
            owner=GoalOwner.VOLUNTEER,
            owner_person_id=world.people["volunteer"].id,
            due_on=date(2026, 12, 20),
        ),
    )


async def trail(world: World, ticket_id: int) -> list[tuple[TicketAction, str | None]]:
    async with world.database.transaction() as tx:
        return [(event.action, event.note) for event in await tx.tickets.events(ticket_id)]


# --- assessments ------------------------------------------------------------------------------------


async def test_each_assessment_is_a_new_version_and_the_earlier_stays_readable(world: World) -> None:
    wang = world.people["wang"]
    ticket_id = await held_case(world)
    first = await world.casework.record_assessment(wang, ticket_id, answers(risk="high"))
    world.clock.advance(timedelta(days=30))
    second = await world.casework.record_assessment(
        wang, ticket_id, answers(risk="low", income_adequacy="tight")
    )
    assert (first.version, second.version) == (1, 2)
    on_file = await world.casework.case_file(wang, ticket_id)
    assert on_file is not None
    assert [a.version for a in on_file.assessments] == [1, 2]
    assert on_file.assessments[0].answers["income_adequacy"] == "not_enough"  # never overwritten
    assert on_file.assessments[0].risk == "high"
    assert on_file.latest is not None
    assert on_file.latest.risk == "low"
    assert on_file.latest.needs["resource_linking"] == "high"
    assert on_file.latest.recorded_by_id == wang.id
    assert on_file.names[wang.id] == "wang"
    assert on_file.reassess_by == second.recorded_at + world.casework.policy.reassess_after
    assessed = [
        (action, note) for action, note in await trail(world, ticket_id) if action is TicketAction.ASSESSED
    ]
    assert assessed == [(TicketAction.ASSESSED, "v1"), (TicketAction.ASSESSED, "v2")]
    async with world.database.transaction() as tx:
        ticket = await tx.tickets.get(ticket_id)
    assert ticket is not None
    assert ticket.status is TicketStatus.IN_PROGRESS
    assert world.follow_ups.scheduled[f"reassessment:{on_file.household.id}"] == (
        second.recorded_at + world.casework.policy.reassess_after
    )


async def test_an_assessment_must_answer_the_form(world: World) -> None:
    wang = world.people["wang"]
    ticket_id = await held_case(world)
    incomplete = answers()
    del incomplete["housing"]
    with pytest.raises(InvalidInput) as missing:
        await world.casework.record_assessment(wang, ticket_id, incomplete)
    assert missing.value.code is Refusal.ASSESSMENT_MISSING_ANSWER
    assert missing.value.arguments == {"question": "housing"}
    for wrong in (
        answers(housing="castle"),
        answers(income_sources=["lottery"]),
        answers(needs={"resource_linking": "high"}),  # every service type rated
        answers(members=[{"relationship": "self"}]),  # each member's age too
        answers(shoe_size="42"),  # nothing the form does not ask
    ):
        with pytest.raises(InvalidInput):
            await world.casework.record_assessment(wang, ticket_id, wrong)
    # Optional answers may be left out; the skipped ones are not kept.
    kept = await world.casework.record_assessment(
        wang, ticket_id, answers(risk_reasons="", health_needs=[], notes=None)
    )
    assert "risk_reasons" not in kept.answers
    assert "health_needs" not in kept.answers
    assessed = [note for action, note in await trail(world, ticket_id) if action is TicketAction.ASSESSED]
    assert assessed == ["v1"]


def test_the_form_marks_health_disability_and_minors_sensitive() -> None:
    form = assessment_form.default()
    assert {"members", "health_needs", "care_needs", "schooling", "psychological_state"} <= form.sensitive
    assert "income_sources" not in form.sensitive
    assert form.clean(answers()) == form.clean(form.clean(answers()))  # what is kept passes again


def test_a_malformed_form_is_refused_saying_where(tmp_path: Path) -> None:
    broken = tmp_path / "assessment.yml"
    broken.write_text(
        "version: 1\nsections:\n  - key: a\n    questions:\n      - key: q\n        kind: choice\n"
    )
    with pytest.raises(InvalidInput) as refused:
        assessment_form.load(broken)
    assert refused.value.code is Refusal.ASSESSMENT_FORM_SHAPE
    assert refused.value.arguments["where"] == "a.1.options"


async def test_only_the_holder_records_and_the_case_must_be_open(world: World) -> None:
    ticket_id = await held_case(world)
    for name in ("li", "zhou", "volunteer", "resident"):
        with pytest.raises(Forbidden):
            await world.casework.record_assessment(world.people[name], ticket_id, answers())
    wang = world.people["wang"]
    await world.casework.resolve(wang, ticket_id, "已链接临时救助")
    with pytest.raises(Conflict):
        await world.casework.record_assessment(wang, ticket_id, answers())


async def test_who_may_read_the_file(world: World) -> None:
    wang = world.people["wang"]
    ticket_id = await held_case(world)
    await world.casework.record_assessment(wang, ticket_id, answers())
    await world.casework.add_goal(wang, ticket_id, NewGoal(ServiceType.RESOURCE_LINKING, "申请临时救助"))
    for name in ("wang", "li", "chief", "admin"):  # the holder, a worker of the area, its supervisor
        assert await world.casework.case_file(world.people[name], ticket_id) is not None
    await world.casework.case_file(world.people["li"], ticket_id, in_full=True)  # the answers read
    reads = [note for action, note in await trail(world, ticket_id) if action is TicketAction.READ]
    assert reads == ["file"]
    for name in ("zhou", "chief2", "volunteer", "resident", "neighbour"):
        with pytest.raises(Forbidden):
            await world.casework.case_file(world.people[name], ticket_id)
    # The household follows its own plan, in plain words; a volunteer who flagged it does not.
    goals = await world.casework.plan_of(world.people["resident"], ticket_id)
    assert [goal.title for goal in goals] == ["申请临时救助"]
    for name in ("volunteer", "neighbour", "zhou"):
        with pytest.raises(Forbidden):
            await world.casework.plan_of(world.people[name], ticket_id)


async def test_a_case_without_an_address_gets_its_household_with_the_first_record(world: World) -> None:
    wang = world.people["wang"]
    ticket = (await world.casework.open_ticket(world.report())).ticket
    await world.casework.claim(wang, ticket.id)
    assert await world.casework.case_file(wang, ticket.id) is None
    await world.casework.record_assessment(wang, ticket.id, answers())
    on_file = await world.casework.case_file(wang, ticket.id)
    assert on_file is not None
    assert on_file.household.area_id == world.areas["c1"]


# --- the plan, reviews, tasks -----------------------------------------------------------------------


async def test_goals_are_numbered_on_the_file_and_move_on(world: World) -> None:
    wang = world.people["wang"]
    ticket_id = await held_case(world)
    first = await world.casework.add_goal(
        wang, ticket_id, NewGoal(ServiceType.RESOURCE_LINKING, "  申请临时救助 ", due_on=date(2026, 12, 20))
    )
    second = await world.casework.add_goal(
        wang, ticket_id, NewGoal(ServiceType.PSYCHOLOGICAL_SUPPORT, "每周一次心理疏导，四周")
    )
    assert (first.number, second.number) == (1, 2)
    assert first.title == "申请临时救助"
    assert first.owner is GoalOwner.WORKER
    assert first.owner_person_id == wang.id
    assert first.status is GoalStatus.PLANNED
    started = await world.casework.set_goal_status(wang, first.id, GoalStatus.UNDER_WAY)
    assert started.status is GoalStatus.UNDER_WAY
    with pytest.raises(InvalidInput):
        await world.casework.set_goal_status(wang, second.id, GoalStatus.DROPPED)  # a reason, please
    dropped = await world.casework.set_goal_status(
        wang, second.id, GoalStatus.DROPPED, "对方已在医院接受治疗"
    )
    assert dropped.drop_reason == "对方已在医院接受治疗"
    with pytest.raises(Conflict) as finished:
        await world.casework.set_goal_status(wang, second.id, GoalStatus.ACHIEVED)
    assert finished.value.code is Refusal.GOAL_FINISHED
    with pytest.raises(InvalidInput):
        await world.casework.add_goal(wang, ticket_id, NewGoal(ServiceType.RESOURCE_LINKING, "   "))
    with pytest.raises(Forbidden):
        await world.casework.set_goal_status(world.people["li"], first.id, GoalStatus.ACHIEVED)
    changes = [note for action, note in await trail(world, ticket_id) if action is TicketAction.GOAL_CHANGED]
    assert changes == ["#1 under_way", "#2 dropped"]
    # The plan's first review is due some weeks after it was set: its reminder is scheduled.
    on_file = await world.casework.case_file(wang, ticket_id)
    assert on_file is not None
    expected = (
        (first.created_at + world.casework.policy.review_every).astimezone(world.casework.timezone).date()
    )
    assert on_file.next_review_on == expected
    assert f"review:{on_file.household.id}" in world.follow_ups.scheduled


async def test_a_review_records_progress_and_an_achieved_goal_is_achieved(world: World) -> None:
    wang = world.people["wang"]
    ticket_id = await held_case(world)
    rent = await world.casework.add_goal(
        wang, ticket_id, NewGoal(ServiceType.RESOURCE_LINKING, "申请临时救助")
    )
    talk = await world.casework.add_goal(
        wang, ticket_id, NewGoal(ServiceType.PSYCHOLOGICAL_SUPPORT, "心理疏导")
    )
    world.clock.advance(timedelta(days=14))
    next_on = (world.clock.now() + timedelta(days=28)).date()
    review = await world.casework.record_review(
        wang, ticket_id, {rent.id: Progress.ACHIEVED, talk.id: Progress.BETTER}, next_review_on=next_on
    )
    assert review.progress == {rent.id: Progress.ACHIEVED, talk.id: Progress.BETTER}
    on_file = await world.casework.case_file(wang, ticket_id)
    assert on_file is not None
    assert [(goal.number, goal.status) for goal in on_file.goals] == [
        (1, GoalStatus.ACHIEVED),
        (2, GoalStatus.UNDER_WAY),
    ]
    assert on_file.next_review_on == next_on
    assert on_file.reviews[-1].progress == review.progress
    with pytest.raises(Conflict) as changed:  # a goal already achieved is not reviewed again
        await world.casework.record_review(wang, ticket_id, {rent.id: Progress.SAME}, next_review_on=None)
    assert changed.value.code is Refusal.REVIEW_GOALS_CHANGED
    with pytest.raises(InvalidInput) as nothing:
        await world.casework.record_review(wang, ticket_id, {}, next_review_on=None)
    assert nothing.value.code is Refusal.REVIEW_NOTHING
    with pytest.raises(InvalidInput):
        await world.casework.record_review(
            wang, ticket_id, {talk.id: Progress.SAME}, next_review_on=world.clock.now().date()
        )
    await world.casework.record_review(wang, ticket_id, {talk.id: Progress.ACHIEVED}, next_review_on=None)
    with pytest.raises(Conflict):  # nothing left open to review
        await world.casework.record_review(wang, ticket_id, {talk.id: Progress.SAME}, next_review_on=None)
    finished = await world.casework.case_file(wang, ticket_id)
    assert finished is not None
    assert finished.next_review_on is None


async def test_a_volunteer_sees_only_their_task_and_the_address_and_marks_it_done(world: World) -> None:
    wang, volunteer = world.people["wang"], world.people["volunteer"]
    ticket_id = await held_case(world)
    await world.casework.record_assessment(wang, ticket_id, answers())
    task = await volunteer_task(world, ticket_id)
    given = await world.outbox("task_given")
    assert given == [("task_given", volunteer.id, None)]
    tasks = await world.casework.tasks(volunteer)
    assert [(t.goal.number, t.goal.title, t.address) for t in tasks] == [(1, "陪同老人去医院复诊", ADDRESS)]
    with pytest.raises(Forbidden):  # never the assessment, nor the case
        await world.casework.case_file(volunteer, ticket_id)
    with pytest.raises(Forbidden):
        await world.casework.view(volunteer, ticket_id)
    with pytest.raises(Forbidden):  # nobody else marks the volunteer's task done
        await world.casework.task_done(world.people["resident"], task.id)
    done = await world.casework.task_done(volunteer, task.id)
    assert done.goal.status is GoalStatus.ACHIEVED
    assert await world.casework.tasks(volunteer) == []
    assert await world.outbox("task_done") == [("task_done", wang.id, None)]
    assert (TicketAction.TASK_DONE, "#1") in await trail(world, ticket_id)
    with pytest.raises(Conflict):
        await world.casework.task_done(volunteer, task.id)
    # Only a volunteer of the household's area is given a task.
    outsider = world.people["zhou"]
    with pytest.raises(InvalidInput):
        await world.casework.add_goal(
            wang,
            ticket_id,
            NewGoal(
                ServiceType.SOCIAL_INTEGRATION, "上门", owner=GoalOwner.VOLUNTEER, owner_person_id=outsider.id
            ),
        )


async def test_a_referral_raised_for_a_goal_moves_it_on(world: World) -> None:
    wang, member = world.people["wang"], world.people["agency_worker"]
    ticket_id = await held_case(world)
    goal = await world.casework.add_goal(
        wang,
        ticket_id,
        NewGoal(
            ServiceType.RESOURCE_LINKING,
            "链接租房补贴",
            owner=GoalOwner.AGENCY,
            owner_organisation_id=world.agency.id,
        ),
    )
    assert goal.owner_organisation_id == world.agency.id
    other = await held_case(world, address="和平里5号")
    with pytest.raises(NotFound):  # a goal of another household's plan
        await world.casework.refer(
            wang, other, reason="需要专业机构", to_organisation_id=world.agency.id, goal_id=goal.id
        )
    referral = await world.casework.refer(
        wang, ticket_id, reason="需要专业机构", to_organisation_id=world.agency.id, goal_id=goal.id
    )
    assert referral.goal_id == goal.id
    await world.casework.respond_to_referral(member, referral.id, accept=True)
    assert (await world.casework.goal(wang, goal.id)).status is GoalStatus.UNDER_WAY
    await world.casework.complete_referral(member, referral.id, "补贴已申请下来")
    assert (await world.casework.goal(wang, goal.id)).status is GoalStatus.ACHIEVED
    changes = [note for action, note in await trail(world, ticket_id) if action is TicketAction.GOAL_CHANGED]
    assert changes == ["#1 under_way", "#1 achieved"]


# --- one file per household -------------------------------------------------------------------------


async def test_a_new_case_of_a_known_household_carries_its_file_on(world: World) -> None:
    wang, li = world.people["wang"], world.people["li"]
    first = await held_case(world)
    await world.casework.record_assessment(wang, first, answers())
    await world.casework.resolve(wang, first, "已链接临时救助")
    await world.casework.close(wang, first)
    world.clock.advance(timedelta(days=60))  # long after: no open case to join
    again = (
        await world.casework.open_ticket(world.report(household_address="光明社区 幸福路12号3栋201室"))
    ).ticket
    assert again.id != first
    await world.casework.claim(li, again.id)
    on_file = await world.casework.case_file(li, again.id)
    assert on_file is not None
    assert [a.version for a in on_file.assessments] == [1]
    # A neighbour's door is another household.
    next_door = (
        await world.casework.open_ticket(world.report(household_address="光明社区幸福路12号3栋202"))
    ).ticket
    assert next_door.household_id not in (None, again.household_id)


# --- what falls due ---------------------------------------------------------------------------------


async def test_the_reassessment_falls_due_after_the_set_time_or_sooner_after_a_crisis(world: World) -> None:
    wang = world.people["wang"]
    ticket_id = await held_case(world)
    recorded = await world.casework.record_assessment(wang, ticket_id, answers())
    household_id = (await world.casework.case_file(wang, ticket_id)).household.id  # type: ignore[union-attr]
    assert not await world.work.remind_reassessment(household_id)  # not yet
    world.clock.advance(world.casework.policy.reassess_after)
    assert await world.work.remind_reassessment(household_id)
    assert not await world.work.remind_reassessment(household_id)  # once
    assert await world.outbox("reassessment_due") == [("reassessment_due", wang.id, None)]

    # A crisis of the household: the assessment falls due soon after it.
    await world.casework.record_assessment(wang, ticket_id, answers())
    world.clock.advance(timedelta(days=1))
    crisis = await world.casework.open_ticket(
        world.report(household_address=ADDRESS, urgency=Urgency.CRITICAL, text="老人说不想活了")
    )
    assert crisis.ticket.household_id == household_id
    at = world.follow_ups.scheduled[f"reassessment:{household_id}"]
    assert at == world.clock.now() + world.casework.policy.reassess_after_crisis
    on_file = await world.casework.case_file(wang, ticket_id)
    assert on_file is not None
    assert on_file.reassess_for_crisis
    assert on_file.reassess_by == at
    world.clock.advance(world.casework.policy.reassess_after_crisis)
    assert await world.work.remind_reassessment(household_id)
    assert recorded.version == 1


async def test_no_reminder_once_the_household_has_no_open_case(world: World) -> None:
    wang = world.people["wang"]
    ticket_id = await held_case(world)
    await world.casework.record_assessment(wang, ticket_id, answers())
    await world.casework.add_goal(wang, ticket_id, NewGoal(ServiceType.RESOURCE_LINKING, "申请临时救助"))
    household_id = (await world.casework.case_file(wang, ticket_id)).household.id  # type: ignore[union-attr]
    world.clock.advance(timedelta(days=29))
    assert await world.work.remind_review(household_id)
    assert await world.outbox("review_due") == [("review_due", wang.id, None)]
    await world.casework.resolve(wang, ticket_id, "已链接临时救助")
    world.clock.advance(world.casework.policy.reassess_after)
    assert not await world.work.remind_reassessment(household_id)
    assert not await world.work.remind_review(household_id)


# --- erasure ----------------------------------------------------------------------------------------


async def test_erasing_the_person_erases_the_answers_and_keeps_what_the_figures_need(world: World) -> None:
    wang, resident = world.people["wang"], world.people["resident"]
    ticket_id = await held_case(world)
    await world.casework.record_assessment(
        wang, ticket_id, answers(risk="high", risk_reasons="resident 独居")
    )
    await world.casework.add_goal(
        wang, ticket_id, NewGoal(ServiceType.RESOURCE_LINKING, "帮 resident 申请临时救助")
    )
    household_id = (await world.casework.case_file(wang, ticket_id)).household.id  # type: ignore[union-attr]
    await world.casework.settle_for_erasure(resident)
    await People(world.database, world.clock).erase(resident.id)
    on_file = await world.casework.case_files.for_operator(household_id)
    latest = on_file.latest
    assert latest is not None
    assert latest.erased
    assert latest.answers == {}
    assert latest.risk == "high"
    assert latest.needs["resource_linking"] == "high"
    assert "resident" not in on_file.goals[0].title


def test_every_question_and_option_of_the_form_is_worded_in_both_languages() -> None:
    from dialogs.catalog import Catalog

    catalog = Catalog.load()
    form = assessment_form.default()
    keys = []
    for question in form.questions:
        keys += [f"assessment.q.{question.key}", f"assessment.short.{question.key}"]
        keys.append(f"assessment.section.{question.section}")
        keys += [f"assessment.option.{question.key}.{option}" for option in question.options]
        for field in question.fields:
            keys.append(f"assessment.q.{question.key}.{field.key}")
            keys += [f"assessment.option.{question.key}.{field.key}.{option}" for option in field.options]
        if question.fields:
            keys += [f"casefile.assess.group.{question.key}", f"casefile.assess.add.{question.key}"]
    missing = [key for key in keys if not catalog.has(key)]
    assert missing == []


async def test_the_file_alerts_read_as_their_recipients_may_read_them(world: World) -> None:
    from dialogs.alerts import alert_reply
    from dialogs.catalog import Catalog

    catalog = Catalog.load()
    wang, volunteer = world.people["wang"], world.people["volunteer"]
    ticket_id = await held_case(world)
    await world.casework.record_assessment(wang, ticket_id, answers())
    goal = await volunteer_task(world, ticket_id)
    await world.casework.task_done(volunteer, goal.id)
    household_id = (await world.casework.case_file(wang, ticket_id)).household.id  # type: ignore[union-attr]
    world.clock.advance(world.casework.policy.reassess_after)
    assert await world.work.remind_reassessment(household_id)
    async with world.database.transaction() as tx:
        alerts = {
            alert.event.value: alert for alert in await tx.outbox.due(now=world.clock.now(), limit=1000)
        }
    reference = (await world.casework.status(wang, ticket_id)).reference

    def read(kind: str) -> str:
        return "\n".join(
            catalog.render(alert_reply(alerts[kind], language), language) for language in ("zh", "en")
        )

    task = read("task_given")
    assert "陪同老人去医院复诊" in task
    assert ADDRESS in task
    assert "2026-12-20" in task
    assert reference not in task  # nothing of the case around the task
    assert "wang" not in task
    assert "陪同老人去医院复诊" in read("task_done")
    assert "volunteer" in read("task_done")
    assert reference in read("reassessment_due")
    assert alerts["task_given"].ticket_id is None
