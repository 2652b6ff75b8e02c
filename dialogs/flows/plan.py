"""The household's case file in the chat: the file read (the latest assessment, earlier versions, the
plan and its next review), goals set and moved on, reviews, and the volunteers' tasks.

Buttons on the case view and on alerts work outside any flow ("!file:42", "!goal_achieved:7"); the
steps that need words or choices run the "plan" flow, which ends after its one casework call (or,
setting goals, offers another). Volunteers list their tasks with /tasks and mark one done. Diagram:
plan.mmd."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from casework.access import Operation
from casework.case_file import CaseFile, NewGoal, VolunteerTask
from casework.domain import WORKER_ROLES, Goal, GoalOwner, GoalStatus, Progress, Role, ServiceType
from dialogs.catalog import Catalog
from dialogs.engine import END, Action, Command, Ctx, Flow, Step, action_button
from dialogs.flows.assessment import answer_lines
from dialogs.flows.common import cancel_button, cancelled, clipped, pressed_index, service_label
from dialogs.flows.worker import (
    area_chain,
    begin_task,
    file_steps,
    file_summary,
    moment,
    open_ticket,
    politely,
    view_button,
    words,
    worker_action,
)
from dialogs.messages import Button, rows

GOALS_SHOWN = 10
DUE_WEEKS = (1, 2, 4, 8)
REVIEW_WEEKS = (2, 4, 8)
_DAY = re.compile(r"^\s*(?:(\d{4})[-/.年])?\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?\s*$")


class S(StrEnum):
    SERVICE = "service"
    TITLE = "title"
    OWNER = "owner"
    AGENCY = "agency"
    VOLUNTEER = "volunteer"
    DUE = "due"
    MORE = "more"
    PROGRESS = "progress"
    NEXT_REVIEW = "next_review"
    DROP_REASON = "drop_reason"


class Task(StrEnum):
    GOAL = "goal"
    REVIEW = "review"
    DROP = "drop"


FIRST_STATE: dict[str, str] = {Task.GOAL: S.SERVICE, Task.REVIEW: S.PROGRESS, Task.DROP: S.DROP_REASON}


# --- the file read ----------------------------------------------------------------------------------


def day(when: date | None) -> str:
    return when.strftime("%Y-%m-%d") if when is not None else "-"


def goal_line(ctx: Ctx, the_file: CaseFile | None, goal: Goal) -> str:
    return goal_words(ctx.services.catalog, ctx.lang, the_file, goal)


def goal_words(catalog: Catalog, language: str, the_file: CaseFile | None, goal: Goal) -> str:
    """One goal: its number, words, service, owner, due date and status."""
    names = the_file.names if the_file is not None else {}
    if goal.owner is GoalOwner.AGENCY:
        owner = names.get(-(goal.owner_organisation_id or 0), "—")
    else:
        owner = names.get(goal.owner_person_id or 0, "—")
    return catalog.text(
        "casefile.goal_line",
        language,
        number=goal.number,
        title=goal.title,
        service=catalog.text(service_label(goal.service_type), language),
        owner=catalog.text(f"casefile.owner.{goal.owner.value}", language, name=owner),
        due=day(goal.due_on),
        status=catalog.text(f"casefile.goal.{goal.status.value}", language),
    )


async def recording_steps(ctx: Ctx, ticket_id: int, the_file: CaseFile | None) -> list[Button]:
    ticket = await ctx.services.casework.status(ctx.person, ticket_id)
    return file_steps(ctx, ticket, await area_chain(ctx, ticket.area_id), the_file)


async def show_file(ctx: Ctx, ticket_id: int) -> None:
    """The household's file: the latest assessment in full (sensitive answers marked), earlier versions,
    the plan's goals, the reviews, and what falls due."""
    the_file = await ctx.services.casework.case_file(ctx.person, ticket_id, in_full=True)
    if the_file is None or the_file.empty:
        ctx.say("casefile.file.empty", *rows(await recording_steps(ctx, ticket_id, the_file), 3))
        return
    the_form = ctx.services.casework.case_files.form
    latest = the_file.latest
    if latest is not None:
        earlier = [
            words(
                ctx,
                "casefile.file.version_line",
                version=a.version,
                when=moment(ctx, a.recorded_at),
                by=the_file.names.get(a.recorded_by_id or 0, "—"),
                risk=words(ctx, f"assessment.option.risk_level.{a.risk}"),
            )
            for a in the_file.assessments[:-1]
        ]
        ctx.say(
            "casefile.file.assessment",
            version=latest.version,
            when=moment(ctx, latest.recorded_at),
            by=the_file.names.get(latest.recorded_by_id or 0, "—"),
            answers=words(ctx, "casefile.file.erased")
            if latest.erased
            else answer_lines(ctx, the_form, latest.answers),
            earlier="\n".join(earlier) or "-",
        )
    goals = [goal_line(ctx, the_file, goal) for goal in the_file.goals[-GOALS_SHOWN:]] or [
        words(ctx, "casefile.file.no_goals")
    ]
    goal_buttons = [
        action_button("casefile.button.goal_n", "goal", goal.id, n=goal.number)
        for goal in the_file.open_goals
    ]
    last_review = the_file.reviews[-1] if the_file.reviews else None
    ctx.say(
        "casefile.file.plan",
        *rows(goal_buttons, 5),
        *rows(await recording_steps(ctx, ticket_id, the_file), 3),
        goals="\n".join(goals),
        reviewed=moment(ctx, last_review.reviewed_at) if last_review else "-",
        summary=file_summary(ctx, the_file),
    )


async def file_action(ctx: Ctx, ticket_id: int) -> None:
    await show_file(ctx, ticket_id)


# --- starting the steps that need words or choices --------------------------------------------------


async def assess(ctx: Ctx, ticket_id: int) -> None:
    await ctx.start("assessment", {"ticket_id": ticket_id})


async def add_goal(ctx: Ctx, ticket_id: int) -> None:
    found = await open_ticket(ctx, ticket_id, Operation.ASSESS)
    if found is not None:
        await ctx.start(
            "plan", {"task": Task.GOAL.value, "ticket_id": found.id, "reference": found.reference}
        )


async def review(ctx: Ctx, ticket_id: int) -> None:
    found = await open_ticket(ctx, ticket_id, Operation.ASSESS)
    if found is None:
        return
    the_file = await ctx.services.casework.case_file(ctx.person, ticket_id)
    goals = the_file.open_goals if the_file is not None else ()
    if not goals:
        ctx.say("refusal.review.no_open_goals")
        return
    await ctx.start(
        "plan",
        {
            "task": Task.REVIEW.value,
            "ticket_id": found.id,
            "reference": found.reference,
            "goals": [{"id": g.id, "number": g.number, "title": g.title} for g in goals],
            "progress": {},
            "at": 0,
        },
    )


# The button that moves a goal to each status (``Goal.moves`` says which are offered now).
GOAL_ACTIONS = {
    GoalStatus.UNDER_WAY: "goal_started",
    GoalStatus.ACHIEVED: "goal_achieved",
    GoalStatus.DROPPED: "goal_drop",
}


async def goal_view(ctx: Ctx, goal_id: int) -> None:
    """One goal, with what can be done to it now."""
    goal = await ctx.services.casework.goal(ctx.person, goal_id)
    ticket_id = goal.ticket_id or 0
    buttons = [
        action_button(f"casefile.button.{action}", action, goal.id)
        for action in (GOAL_ACTIONS[status] for status in goal.moves)
    ]
    if goal.is_open and goal.owner is GoalOwner.AGENCY:
        buttons.append(action_button("casefile.button.refer_goal", "refer_goal", goal.id))
    buttons.append(action_button("casefile.button.file", "file", ticket_id))
    the_file = await ctx.services.casework.case_file(ctx.person, ticket_id)
    ctx.say("casefile.goal.view", *rows(buttons, 2), line=goal_line(ctx, the_file, goal))


def goal_step(status: GoalStatus) -> Any:
    async def step(ctx: Ctx, goal_id: int) -> None:
        moved = await ctx.services.casework.set_goal_status(ctx.person, goal_id, status)
        ctx.say(
            "casefile.goal.moved",
            (action_button("casefile.button.file", "file", moved.ticket_id or 0),),
            number=moved.number,
            status=f"casefile.goal.{moved.status.value}",
        )

    return step


async def goal_drop(ctx: Ctx, goal_id: int) -> None:
    goal = await ctx.services.casework.goal(ctx.person, goal_id)
    ticket_id = goal.ticket_id or 0
    if not goal.is_open:
        ctx.say("refusal.goal.finished", number=goal.number, status=f"casefile.goal.{goal.status.value}")
        return
    await ctx.start(
        "plan", {"task": Task.DROP.value, "goal_id": goal.id, "number": goal.number, "ticket_id": ticket_id}
    )


async def refer_goal(ctx: Ctx, goal_id: int) -> None:
    """Refer the case to the agency a goal is for: the referral names the goal, which moves on with it."""
    goal = await ctx.services.casework.goal(ctx.person, goal_id)
    ticket_id = goal.ticket_id or 0
    the_file = await ctx.services.casework.case_file(ctx.person, ticket_id)
    found = await open_ticket(ctx, ticket_id, Operation.REFER)
    if found is None or the_file is None or goal.owner_organisation_id is None:
        return
    if await ctx.services.casework.referral_under_way(found.id):
        ctx.say("worker.refer.under_way", reference=found.reference)
        return
    target = {
        "kind": "agency",
        "id": goal.owner_organisation_id,
        "name": the_file.names.get(-goal.owner_organisation_id, "—"),
        "load": None,
    }
    await ctx.start(
        "worker",
        {
            "task": "refer_goal",
            "ticket_id": found.id,
            "reference": found.reference,
            "target": target,
            "goal_id": goal.id,
        },
    )


# --- a volunteer's tasks ----------------------------------------------------------------------------


def task_line(ctx: Ctx, task: VolunteerTask) -> str:
    return words(
        ctx,
        "casefile.task.line",
        number=task.goal.number,
        title=task.goal.title,
        due=day(task.goal.due_on),
        address=task.address or "-",
        area=task.area,
    )


async def tasks(ctx: Ctx, argument: str) -> None:
    if ctx.person.role is not Role.VOLUNTEER:
        ctx.say("casefile.task.volunteers_only")
        return
    found = await ctx.services.casework.tasks(ctx.person)
    if not found:
        ctx.say("casefile.task.none")
        return
    buttons = [
        action_button("casefile.button.task_done", "task_done", task.goal.id, n=task.goal.number)
        for task in found
    ]
    ctx.say("casefile.task.list", *rows(buttons, 2), lines="\n".join(task_line(ctx, task) for task in found))


async def task_done(ctx: Ctx, argument: str) -> None:
    try:
        goal_id = int(argument)
    except ValueError:
        ctx.say("button.expired")
        return
    with politely(ctx):
        done = await ctx.services.casework.task_done(ctx.person, goal_id)
        ctx.say("casefile.task.done", number=done.goal.number, title=done.goal.title)


# --- the flow: setting a goal -----------------------------------------------------------------------


async def ask_service(ctx: Ctx) -> None:
    buttons = [ctx.button(service_label(kind), f"type:{kind.value}") for kind in ServiceType]
    ctx.ask(
        "casefile.plan.ask_service",
        [*buttons, cancel_button(ctx)],
        per_row=2,
        reference=ctx.data["reference"],
    )


async def on_service(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    pressed = ctx.pressed or ""
    if not pressed.startswith("type:"):
        ctx.say("input.choose_button")
        return S.SERVICE
    ctx.data["service_type"] = ServiceType(pressed.removeprefix("type:")).value
    return S.TITLE


async def ask_title(ctx: Ctx) -> None:
    ctx.ask("casefile.plan.ask_title", [cancel_button(ctx)], service=service_label(ctx.data["service_type"]))


async def on_title(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    if not ctx.text:
        ctx.say("worker.need_words")
        return S.TITLE
    ctx.data["title"] = ctx.text[:200]
    return S.OWNER


async def ask_owner(ctx: Ctx) -> None:
    ctx.ask(
        "casefile.plan.ask_owner",
        [ctx.button(f"casefile.plan.owner.{owner.value}", owner.value) for owner in GoalOwner]
        + [cancel_button(ctx)],
        per_row=1,
    )


async def on_owner(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    casework = ctx.services.casework
    ticket_id = int(ctx.data["ticket_id"])
    if ctx.pressed == GoalOwner.WORKER.value:
        ctx.data["owner"] = GoalOwner.WORKER.value
        return S.DUE
    if ctx.pressed == GoalOwner.AGENCY.value:
        agencies = await casework.case_files.agencies_for(
            ctx.person, ticket_id, ServiceType(ctx.data["service_type"])
        )
        if not agencies:
            ctx.say("casefile.plan.no_agency")
            return S.OWNER
        ctx.data["choices"] = [{"id": t.id, "name": t.name} for t in agencies[:12]]
        return S.AGENCY
    if ctx.pressed == GoalOwner.VOLUNTEER.value:
        volunteers = await casework.volunteers_for(ctx.person, ticket_id)
        if not volunteers:
            ctx.say("casefile.plan.no_volunteer")
            return S.OWNER
        ctx.data["choices"] = [{"id": t.id, "name": t.name} for t in volunteers[:12]]
        return S.VOLUNTEER
    ctx.say("input.choose_button")
    return S.OWNER


def choice_step(key: str, here: S, owner: GoalOwner) -> Step:
    """Choose the agency or the volunteer a goal is for, from ``data["choices"]``."""

    async def prompt(ctx: Ctx) -> None:
        buttons = [
            ctx.button("casefile.plan.choice", f"pick:{index}", name=choice["name"])
            for index, choice in enumerate(ctx.data.get("choices", []))
        ]
        ctx.ask(key, [*buttons, cancel_button(ctx)], per_row=1)

    async def handle(ctx: Ctx) -> str | None:
        if cancelled(ctx):
            return END
        choices = ctx.data.get("choices", [])
        index = pressed_index(ctx, "pick", len(choices))
        if index is None:
            ctx.say("input.choose_button")
            return here
        ctx.data.update(owner=owner.value, owner_id=choices[index]["id"], owner_name=choices[index]["name"])
        return S.DUE

    return Step(prompt, handle)


def today(ctx: Ctx) -> date:
    return ctx.services.casework.today()


def typed_day(text: str, after: date) -> date | None:
    """A date as people type it (2026-12-20, 12-20, 12月20日); a month and day without a year are the
    next such day."""
    found = _DAY.match(text)
    if found is None:
        return None
    year, month, day_of_month = found.groups()
    try:
        typed = date(int(year) if year else after.year, int(month), int(day_of_month))
    except ValueError:
        return None
    if not year and typed <= after:
        typed = typed.replace(year=typed.year + 1)
    return typed


def weeks_buttons(ctx: Ctx, weeks: tuple[int, ...], none_key: str) -> list[Button]:
    return [ctx.button("casefile.weeks", f"weeks:{n}", n=n) for n in weeks] + [
        ctx.button(none_key, "weeks:0")
    ]


def chosen_day(ctx: Ctx) -> tuple[bool, date | None]:
    """Whether a day was given, pressed (in some weeks) or typed (after today), and which: None when
    "no date" was pressed. The person is told when what they typed was not understood."""
    pressed = ctx.pressed or ""
    if pressed.startswith("weeks:") and pressed[6:].isdigit():
        weeks = int(pressed[6:])
        return True, today(ctx) + timedelta(weeks=weeks) if weeks else None
    typed = typed_day(ctx.text, today(ctx)) if ctx.text else None
    if typed is not None and typed > today(ctx):
        return True, typed
    ctx.say("casefile.plan.bad_day")
    return False, None


def day_step(
    key: str,
    here: S,
    weeks: tuple[int, ...],
    none_key: str,
    chosen: Callable[[Ctx, date | None], Awaitable[str | None]],
) -> Step:
    """Ask ``key`` for a day: in some ``weeks`` (a button each), none (``none_key``), or typed
    (``chosen_day``); ``chosen`` takes it and says what next."""

    async def prompt(ctx: Ctx) -> None:
        ctx.ask(key, [*weeks_buttons(ctx, weeks, none_key), cancel_button(ctx)])

    async def handle(ctx: Ctx) -> str | None:
        if cancelled(ctx):
            return END
        understood, when = chosen_day(ctx)
        if not understood:
            return here
        return await chosen(ctx, when)

    return Step(prompt, handle)


async def on_due(ctx: Ctx, due: date | None) -> str | None:
    owner = GoalOwner(ctx.data["owner"])
    new = NewGoal(
        service_type=ServiceType(ctx.data["service_type"]),
        title=ctx.data["title"],
        owner=owner,
        owner_person_id=ctx.data.get("owner_id") if owner is GoalOwner.VOLUNTEER else None,
        owner_organisation_id=ctx.data.get("owner_id") if owner is GoalOwner.AGENCY else None,
        due_on=due,
    )
    with politely(ctx):
        goal = await ctx.services.casework.add_goal(ctx.person, int(ctx.data["ticket_id"]), new)
        ctx.data["saved"] = {"id": goal.id, "number": goal.number, "agency": owner is GoalOwner.AGENCY}
        return S.MORE
    return END


async def ask_more(ctx: Ctx) -> None:
    saved = ctx.data["saved"]
    buttons = [ctx.button("casefile.plan.another", "another"), ctx.button("casefile.plan.done", "done")]
    ctx.ask("casefile.plan.saved", buttons, number=saved["number"], title=ctx.data["title"])
    if saved["agency"]:
        ctx.say(
            "casefile.plan.refer_offer",
            (action_button("casefile.button.refer_goal", "refer_goal", saved["id"]),),
            name=ctx.data.get("owner_name", ""),
        )


async def on_more(ctx: Ctx) -> str | None:
    if ctx.pressed == "another":
        for key in ("service_type", "title", "owner", "owner_id", "owner_name", "choices", "saved"):
            ctx.data.pop(key, None)
        return S.SERVICE
    if ctx.pressed == "done" or ctx.pressed == "cancel":
        await show_file(ctx, int(ctx.data["ticket_id"]))
        return END
    ctx.say("input.choose_button")
    return S.MORE


# --- the flow: a review -----------------------------------------------------------------------------


async def ask_progress(ctx: Ctx) -> None:
    goal = ctx.data["goals"][ctx.data["at"]]
    buttons = [
        ctx.button(f"casefile.progress.{value.value}", f"{goal['id']}={value.value}") for value in Progress
    ]
    buttons += [ctx.button("button.skip", f"{goal['id']}=skip"), cancel_button(ctx)]
    ctx.ask(
        "casefile.review.ask",
        buttons,
        n=ctx.data["at"] + 1,
        of=len(ctx.data["goals"]),
        number=goal["number"],
        title=clipped(goal["title"], 200),
    )


async def on_progress(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    goal = ctx.data["goals"][ctx.data["at"]]
    tag, _, value = (ctx.pressed or "").partition("=")
    if tag != str(goal["id"]) or (value != "skip" and value not in set(Progress)):
        ctx.say("input.choose_button" if ctx.pressed is None else "button.expired")
        return S.PROGRESS
    if value != "skip":
        ctx.data["progress"][str(goal["id"])] = value
    ctx.data["at"] += 1
    if ctx.data["at"] < len(ctx.data["goals"]):
        return S.PROGRESS
    if not ctx.data["progress"]:
        ctx.say("casefile.review.nothing")
        return END
    return S.NEXT_REVIEW


async def on_next_review(ctx: Ctx, next_on: date | None) -> str | None:
    ticket_id = int(ctx.data["ticket_id"])
    with politely(ctx):
        await ctx.services.casework.record_review(
            ctx.person,
            ticket_id,
            {int(goal_id): Progress(value) for goal_id, value in ctx.data["progress"].items()},
            next_review_on=next_on,
        )
        ctx.say(
            "casefile.review.saved",
            (action_button("casefile.button.file", "file", ticket_id), view_button(ticket_id)),
            n=len(ctx.data["progress"]),
            next=day(next_on) if next_on else words(ctx, "casefile.review.none_set"),
        )
    return END


# --- the flow: a goal dropped -----------------------------------------------------------------------


async def ask_drop_reason(ctx: Ctx) -> None:
    ctx.ask("casefile.goal.ask_drop_reason", [cancel_button(ctx)], number=ctx.data["number"])


async def on_drop_reason(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    if not ctx.text:
        ctx.say("worker.need_words")
        return S.DROP_REASON
    with politely(ctx):
        moved = await ctx.services.casework.set_goal_status(
            ctx.person, int(ctx.data["goal_id"]), GoalStatus.DROPPED, ctx.text
        )
        ctx.say(
            "casefile.goal.moved",
            (action_button("casefile.button.file", "file", int(ctx.data["ticket_id"])),),
            number=moved.number,
            status=f"casefile.goal.{moved.status.value}",
        )
    return END


FLOW = Flow(
    name="plan",
    start=S.SERVICE,
    begin=begin_task(FIRST_STATE),
    roles=WORKER_ROLES,
    screen_text=False,
    steps={
        S.SERVICE: Step(ask_service, on_service),
        S.TITLE: Step(ask_title, on_title),
        S.OWNER: Step(ask_owner, on_owner),
        S.AGENCY: choice_step("casefile.plan.ask_agency", S.AGENCY, GoalOwner.AGENCY),
        S.VOLUNTEER: choice_step("casefile.plan.ask_volunteer", S.VOLUNTEER, GoalOwner.VOLUNTEER),
        S.DUE: day_step("casefile.plan.ask_due", S.DUE, DUE_WEEKS, "casefile.plan.no_due", on_due),
        S.MORE: Step(ask_more, on_more),
        S.PROGRESS: Step(ask_progress, on_progress),
        S.NEXT_REVIEW: day_step(
            "casefile.review.ask_next", S.NEXT_REVIEW, REVIEW_WEEKS, "casefile.review.no_next", on_next_review
        ),
        S.DROP_REASON: Step(ask_drop_reason, on_drop_reason),
    },
)


COMMANDS: dict[str, Command] = {"tasks": tasks}

ACTIONS: dict[str, Action] = {
    "file": worker_action(file_action),
    "assess": worker_action(assess),
    "add_goal": worker_action(add_goal),
    "review": worker_action(review),
    "goal": worker_action(goal_view),
    "goal_started": worker_action(goal_step(GoalStatus.UNDER_WAY)),
    "goal_achieved": worker_action(goal_step(GoalStatus.ACHIEVED)),
    "goal_drop": worker_action(goal_drop),
    "refer_goal": worker_action(refer_goal),
    "task_done": task_done,
}
