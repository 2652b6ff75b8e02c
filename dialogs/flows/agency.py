"""Agencies evaluated in the chat (三方评价) and the improvements asked of them. Diagram: agency.mmd.

/agency_evaluation: an agency's own staff, a supervisor, a third-party evaluator or an admin picks the
agency (when they may evaluate several) and the period, scores each criterion 1 to 5, adds a comment
(or skips it), checks it over and saves it, in their voice.

/improvements: the improvement actions of the agencies this person may evaluate, open ones first,
each open one with ✅ to mark it done; a supervisor, an evaluator or an admin also raises one (➕):
the agency, what to improve, by when; the agency's staff are told."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from casework.agency_review import RAISERS
from casework.domain import AGENCY_SCORES, AgencyCriterion, Role
from dialogs.engine import END, Action, Command, Ctx, Flow, Step, action_button
from dialogs.flows.common import cancel_button, cancelled, pick_step
from dialogs.flows.scoring import comment_step, save_buttons, save_step, score_step
from dialogs.flows.worker import politely, subject_id, words

EVALUATING = frozenset({Role.SOCIAL_WORKER, Role.SUPERVISOR, Role.EVALUATOR, Role.ADMIN})
CRITERIA = tuple(AgencyCriterion)
PERIODS = ("this-month", "last-month", "this-quarter", "last-quarter")
DUE_IN_WEEKS = (2, 4, 8, 12)


class S(StrEnum):
    AGENCY = "agency"
    PERIOD = "period"
    SCORE = "score"
    COMMENT = "comment"
    CONFIRM = "confirm"
    WHAT = "what"
    DUE = "due"


# --- starting ---------------------------------------------------------------------------------------


async def evaluation_command(ctx: Ctx, argument: str) -> None:
    if ctx.person.role not in EVALUATING:
        ctx.say("refusal.agency.not_yours")
        return
    await ctx.start("agency", {"task": "evaluate"})


async def raise_action(ctx: Ctx, argument: str) -> None:
    """➕ under the list of improvements."""
    if ctx.person.role not in RAISERS:
        ctx.say("refusal.improvement.raisers_only")
        return
    await ctx.start("agency", {"task": "raise"})


async def begin(ctx: Ctx) -> str | None:
    with politely(ctx):
        agencies = await ctx.services.casework.agency_reviews.agencies_for(ctx.person)
        if not agencies:
            ctx.say("agency.none")
            return END
        ctx.data["agencies"] = [{"id": agency.id, "name": agency.name} for agency in agencies]
        if len(agencies) == 1:
            return await chosen(ctx, ctx.data["agencies"][0])
        return S.AGENCY
    return END


async def chosen(ctx: Ctx, agency: dict[str, Any]) -> str:
    ctx.data["agency"] = agency
    return S.PERIOD if ctx.data.get("task") == "evaluate" else S.WHAT


# --- an evaluation ----------------------------------------------------------------------------------


async def ask_period(ctx: Ctx) -> None:
    buttons = [ctx.button(f"report.period.{period}", period) for period in PERIODS]
    ctx.ask("agency.ask_period", [*buttons, cancel_button(ctx)], agency=ctx.data["agency"]["name"])


async def on_period(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    if ctx.pressed not in PERIODS:
        ctx.say("input.choose_button")
        return S.PERIOD
    ctx.data.update(period=ctx.pressed, at=0, scores={})
    return S.SCORE


async def ask_confirm(ctx: Ctx) -> None:
    scores = ctx.data["scores"]
    lines = "\n".join(
        words(ctx, "agency.line", criterion=words(ctx, f"agency.criterion.{name}"), score=score)
        for name, score in scores.items()
    )
    ctx.ask(
        "agency.confirm",
        save_buttons(ctx),
        agency=ctx.data["agency"]["name"],
        period=f"report.period.{ctx.data['period']}",
        lines=lines,
        comment=ctx.data["comment"] or "-",
    )


async def save(ctx: Ctx) -> None:
    saved = await ctx.services.casework.agency_reviews.evaluate(
        ctx.person,
        int(ctx.data["agency"]["id"]),
        ctx.data["period"],
        {AgencyCriterion(name): int(score) for name, score in ctx.data["scores"].items()},
        ctx.data["comment"],
    )
    ctx.say(
        "agency.saved",
        agency=ctx.data["agency"]["name"],
        period=saved.period,
        score=saved.score,
        voice=f"agency.voice.{saved.voice.value}",
    )


# --- an improvement action --------------------------------------------------------------------------


async def ask_what(ctx: Ctx) -> None:
    ctx.ask("agency.improvement.ask_what", [cancel_button(ctx)], agency=ctx.data["agency"]["name"])


async def on_what(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    if not ctx.text:
        ctx.say("worker.need_words")
        return S.WHAT
    ctx.data["what"] = ctx.text
    return S.DUE


async def ask_due(ctx: Ctx) -> None:
    buttons = [ctx.button("agency.improvement.weeks", f"weeks:{weeks}", n=weeks) for weeks in DUE_IN_WEEKS]
    ctx.ask("agency.improvement.ask_due", [*buttons, cancel_button(ctx)])


async def on_due(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    pressed = ctx.pressed or ""
    weeks = int(pressed[6:]) if pressed.startswith("weeks:") and pressed[6:].isdigit() else 0
    if weeks not in DUE_IN_WEEKS:
        ctx.say("input.choose_button")
        return S.DUE
    today = ctx.services.clock.now().astimezone(ctx.services.casework.timezone).date()
    with politely(ctx):
        action, told = await ctx.services.casework.agency_reviews.raise_action(
            ctx.person, int(ctx.data["agency"]["id"]), ctx.data["what"], today + timedelta(weeks=weeks)
        )
        ctx.say(
            "agency.improvement.raised" if told else "agency.improvement.raised_nobody_told",
            agency=ctx.data["agency"]["name"],
            due=action.due_on.isoformat(),
            n=told,
        )
    return END


# --- the list, and marking one done -----------------------------------------------------------------


async def improvements(ctx: Ctx, argument: str) -> None:
    if ctx.person.role not in EVALUATING:
        ctx.say("refusal.agency.not_yours")
        return
    with politely(ctx):
        found = await ctx.services.casework.agency_reviews.actions_for(ctx.person)
        today = ctx.services.clock.now().astimezone(ctx.services.casework.timezone).date()
        lines = [
            words(
                ctx,
                "agency.improvement.line",
                id=action.id,
                agency=agency.name,
                what=action.what,
                due=action.due_on.isoformat(),
                state=words(
                    ctx,
                    "agency.improvement.overdue"
                    if action.overdue(today)
                    else f"agency.improvement.{action.status.value}",
                ),
            )
            for action, agency in found
        ]
        buttons = [
            action_button("agency.improvement.button_done", "improvement_done", action.id, id=action.id)
            for action, _ in found
            if action.status.value == "open"
        ]
        if ctx.person.role in RAISERS:
            buttons.append(action_button("agency.improvement.button_raise", "raise_improvement", 0))
        rows = tuple(tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3))
        ctx.say("agency.improvements" if lines else "agency.improvements_none", *rows, lines="\n".join(lines))


async def improvement_done(ctx: Ctx, argument: str) -> None:
    action_id = subject_id(argument)
    if action_id is None:
        ctx.say("button.expired")
        return
    with politely(ctx):
        done = await ctx.services.casework.agency_reviews.close_action(ctx.person, action_id)
        ctx.say("agency.improvement.marked_done", id=done.id)


FLOW = Flow(
    name="agency",
    start=S.AGENCY,
    begin=begin,
    roles=EVALUATING,
    screen_text=False,
    steps={
        S.AGENCY: pick_step("agency.ask_agency", S.AGENCY, "agencies", chosen),
        S.PERIOD: Step(ask_period, on_period),
        S.SCORE: score_step(
            "agency.ask_score",
            CRITERIA,
            AGENCY_SCORES,
            state=S.SCORE,
            then=S.COMMENT,
            criterion_words="agency.criterion",
            score_words="agency.score",
            per_row=5,
            args=lambda ctx: {"agency": ctx.data["agency"]["name"]},
        ),
        S.COMMENT: comment_step("agency.ask_comment", state=S.COMMENT, then=S.CONFIRM),
        S.CONFIRM: save_step(ask_confirm, S.CONFIRM, save),
        S.WHAT: Step(ask_what, on_what),
        S.DUE: Step(ask_due, on_due),
    },
)

COMMANDS: dict[str, Command] = {"agency_evaluation": evaluation_command, "improvements": improvements}
ACTIONS: dict[str, Action] = {"improvement_done": improvement_done, "raise_improvement": raise_action}
