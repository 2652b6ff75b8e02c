"""The lifecycle table walked against what the casework does and what the worker's buttons offer.

For each step and each status a ticket can be in, the step is taken through ``Casework`` from that
status: it must go through exactly when the table lets it start there, leave the status the table says,
and write the table's event to the trail. The case view's buttons never offer a step the table refuses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from casework.case_file import NewGoal
from casework.domain import (
    Conflict,
    Criterion,
    GoalOwner,
    Met,
    Person,
    Progress,
    ServiceType,
    Ticket,
    TicketStatus,
)
from casework.lifecycle import LIFECYCLE, WORK_BEGINS, Step, allows, starts_from
from dialogs.engine import Ctx
from dialogs.flows.worker import next_steps
from tests.assessments import answers
from tests.casework_world import World

# Each step as a person takes it through the casework: who (a name in the world) and the call.
Taking = tuple[str, Callable[[World, Person, int], Awaitable[Any]]]
TAKEN_BY: dict[Step, Taking] = {
    Step.CLAIM: ("wang", lambda w, p, t: w.casework.claim(p, t)),
    Step.ASSIGN: ("chief", lambda w, p, t: w.casework.assign(p, t, w.people["li"].id)),
    Step.NOTE: ("wang", lambda w, p, t: w.casework.add_note(p, t, "打电话确认了情况")),
    Step.VISIT: ("wang", lambda w, p, t: w.casework.record_visit(p, t)),
    Step.REFER: (
        "wang",
        lambda w, p, t: w.casework.refer(p, t, reason="需要专业服务", to_person_id=w.people["li"].id),
    ),
    Step.RESOLVE: ("wang", lambda w, p, t: w.casework.resolve(p, t, "已链接临时救助")),
    Step.CLOSE: ("wang", lambda w, p, t: w.casework.close(p, t)),
    Step.REOPEN: ("wang", lambda w, p, t: w.casework.reopen(p, t, "情况有变化")),
    Step.ASSESS: ("wang", lambda w, p, t: w.casework.record_assessment(p, t, answers())),
    Step.PLAN: (
        "wang",
        lambda w, p, t: w.casework.add_goal(p, t, NewGoal(ServiceType.RESOURCE_LINKING, "申请临时救助")),
    ),
    Step.REVIEW: ("wang", lambda w, p, t: _review(w, p, t)),
    Step.SUPERVISE: (
        "chief",
        lambda w, p, t: w.casework.supervise(p, t, dict.fromkeys(Criterion, Met.FULLY), "记录完整"),
    ),
}


async def _review(world: World, person: Person, ticket_id: int) -> Any:
    """A review of a plan with one goal, set on the case for it (in the goal's own transaction, as a
    goal set on the case's earlier days would be)."""
    ticket = await world.casework.status(person, ticket_id)
    async with world.database.transaction() as tx:
        household = await tx.households.add(area_id=ticket.area_id, now=world.clock.now())
        await tx.tickets.update_fields(ticket_id, now=world.clock.now(), household_id=household.id)
        goal = await tx.case_files.add_goal(
            household_id=household.id,
            ticket_id=ticket_id,
            service_type=ServiceType.RESOURCE_LINKING,
            title="申请临时救助",
            owner=GoalOwner.WORKER,
            now=world.clock.now(),
        )
    return await world.casework.record_review(
        person, ticket_id, {goal.id: Progress.BETTER}, next_review_on=None
    )


# The same steps by a supervisor, where the table gives supervisors more.
BY_SUPERVISOR: dict[Step, Taking] = {
    Step.CLOSE: ("chief", lambda w, p, t: w.casework.close(p, t, "重复的工单"))
}
BUTTONS = {
    "claim": Step.CLAIM,
    "assign": Step.ASSIGN,
    "note": Step.NOTE,
    "visited": Step.VISIT,
    "refer": Step.REFER,
    "resolve": Step.RESOLVE,
    "complete": Step.COMPLETE,
    "close": Step.CLOSE,
    "reopen": Step.REOPEN,
    "assess": Step.ASSESS,
    "add_goal": Step.PLAN,
    "review": Step.REVIEW,
    "supervise": Step.SUPERVISE,
}


async def _ticket_in(world: World, status: TicketStatus, *, assignee: Person | None) -> Ticket:
    """A fresh ticket of 光明社区 put straight into ``status`` (as if its life had led there)."""
    ticket = (await world.casework.open_ticket(world.report())).ticket
    async with world.database.transaction() as tx:
        moved = await tx.tickets.transition(
            ticket.id,
            to_status=status,
            now=world.clock.now(),
            assignee_id=assignee.id if assignee is not None else None,
        )
    assert moved is not None
    return moved


@pytest.mark.parametrize("status", list(TicketStatus))
@pytest.mark.parametrize("step", [*TAKEN_BY, *(f"supervisor:{step}" for step in BY_SUPERVISOR)])
async def test_each_step_goes_through_exactly_from_the_statuses_the_table_gives(
    world: World, step: Step | str, status: TicketStatus
) -> None:
    if isinstance(step, str) and step.startswith("supervisor:"):
        step = Step(step.removeprefix("supervisor:"))
        name, take = BY_SUPERVISOR[step]
    else:
        step = Step(step)
        name, take = TAKEN_BY[step]
    actor = world.people[name]
    # A claim needs a case nobody holds; every other step is taken on wang's case.
    ticket = await _ticket_in(world, status, assignee=None if step is Step.CLAIM else world.people["wang"])
    move = LIFECYCLE[step]
    try:
        await take(world, actor, ticket.id)
    except Conflict:
        assert status not in starts_from(step, actor), f"{step} refused from {status}"
        return
    assert status in starts_from(step, actor), f"{step} went through from {status}"
    async with world.database.transaction() as tx:
        after = await tx.tickets.get(ticket.id)
        events = await tx.tickets.events(ticket.id)
    assert after is not None
    expected = move.leaves if move.leaves is not None else WORK_BEGINS.get(status, status)
    assert after.status is expected
    actions = {event.action for event in events}
    assert move.event in actions or (step is Step.ASSIGN and "reassigned" in actions)


async def _referred_case_in(
    world: World, status: TicketStatus, *, accepted: bool, held: bool = True
) -> tuple[Ticket, int]:
    """wang's case (or, unless ``held``, a case of the queue) referred by wang to li (and accepted by
    li, if ``accepted``), then put into ``status``."""
    wang, li = world.people["wang"], world.people["li"]
    if held:
        ticket = await _ticket_in(world, TicketStatus.ASSIGNED, assignee=wang)
    else:
        ticket = await _ticket_in(world, TicketStatus.NEW, assignee=None)
    referral = await world.casework.refer(wang, ticket.id, reason="需要专业服务", to_person_id=li.id)
    if accepted:
        await world.casework.respond_to_referral(li, referral.id, accept=True)
    async with world.database.transaction() as tx:
        moved = await tx.tickets.transition(ticket.id, to_status=status, now=world.clock.now())
    assert moved is not None
    return moved, referral.id


@pytest.mark.parametrize("status", list(TicketStatus))
@pytest.mark.parametrize("step", [Step.ACCEPT, Step.DECLINE, Step.RETURN, Step.COMPLETE])
async def test_a_referrals_steps_go_through_exactly_from_the_statuses_the_table_gives(
    world: World, step: Step, status: TicketStatus
) -> None:
    """A declined referral returns a case its worker referred to them (RETURN), one referred from the
    queue to the queue (DECLINE)."""
    li = world.people["li"]
    ticket, referral_id = await _referred_case_in(
        world, status, accepted=step is Step.COMPLETE, held=step is not Step.DECLINE
    )
    move = LIFECYCLE[step]
    try:
        if step is Step.COMPLETE:
            await world.casework.complete_referral(li, referral_id, "已入户并链接资源")
        else:
            await world.casework.respond_to_referral(
                li,
                referral_id,
                accept=step is Step.ACCEPT,
                reason="" if step is Step.ACCEPT else "人手不够",
            )
    except Conflict:
        assert status not in starts_from(step, li), f"{step} refused from {status}"
        return
    assert status in starts_from(step, li), f"{step} went through from {status}"
    async with world.database.transaction() as tx:
        after = await tx.tickets.get(ticket.id)
        events = await tx.tickets.events(ticket.id)
    assert after is not None
    assert after.status is move.leaves
    assert events[-1].action == move.event


@pytest.mark.parametrize("status", list(TicketStatus))
async def test_the_case_views_buttons_never_offer_a_step_the_table_refuses(
    world: World, status: TicketStatus
) -> None:
    for name in ("wang", "chief", "li"):
        person = world.people[name]
        ticket = await _ticket_in(world, status, assignee=world.people["wang"] if name != "li" else None)
        view = await world.casework.view(person, ticket.id)
        ctx = cast(Ctx, SimpleNamespace(person=person))
        for button in next_steps(ctx, view):
            action = button.value.split(":", 1)[0].lstrip("!")
            step = BUTTONS.get(action)
            if step is not None:
                assert allows(step, view.ticket, person), f"{name} offered {action} on a {status} case"


def test_every_step_has_an_event_and_someone_who_may_take_it() -> None:
    for step, move in LIFECYCLE.items():
        assert move.event, step
        assert move.roles, step
        assert move.starts_from, step
        assert move.leaves is None or move.leaves in TicketStatus
