"""/evaluation: the service evaluation in the chat, for a supervisor, a third-party evaluator or an
admin: a period and an area chosen by buttons, answered with the key figures in a few lines, three
charts and the workbook of every figure (an evaluator's with every small figure left out).
Diagram: evaluation.mmd."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from casework.indicators import READERS
from dialogs import report
from dialogs.catalog import Words
from dialogs.engine import END, Command, Ctx, Flow, Step
from dialogs.flows.common import cancel_button, cancelled, pick_step
from dialogs.flows.worker import politely

PERIODS = ("this-week", "last-week", "this-month", "last-month")


class S(StrEnum):
    PERIOD = "period"
    AREA = "area"


async def begin(ctx: Ctx) -> str | None:
    with politely(ctx):
        areas = await ctx.services.casework.evaluation.areas_for(ctx.person)
        if not areas:
            ctx.say("report.no_areas")
            return END
        ctx.data["areas"] = [{"id": area.id, "name": area.label(ctx.lang)} for area in areas]
        return S.PERIOD
    return END


async def ask_period(ctx: Ctx) -> None:
    buttons = [ctx.button(f"report.period.{period}", period) for period in PERIODS]
    ctx.ask("report.ask_period", [*buttons, cancel_button(ctx)])


async def on_period(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    if ctx.pressed not in PERIODS:
        ctx.say("input.choose_button")
        return S.PERIOD
    ctx.data["period"] = ctx.pressed
    if len(ctx.data["areas"]) == 1:
        return await answer(ctx, ctx.data["areas"][0])
    return S.AREA


async def answer(ctx: Ctx, area: dict[str, Any]) -> str | None:
    """The evaluation of the period chosen in ``area``; the flow ends."""
    with politely(ctx):
        found = await ctx.services.casework.evaluation.report(ctx.person, ctx.data["period"], area["id"])
        figures = {
            **report.summary(found),
            "area": area["name"],
            "period": f"report.period.{ctx.data['period']}",
        }
        ctx.say("report.summary", figures=Words("report.figures", figures))
        ctx.attach(report.files(found))
    return END


async def report_command(ctx: Ctx, argument: str) -> None:
    if ctx.person.role not in READERS:
        ctx.say("refusal.report.supervisors_only")
        return
    await ctx.start("evaluation")


FLOW = Flow(
    name="evaluation",
    start=S.PERIOD,
    begin=begin,
    roles=READERS,
    steps={
        S.PERIOD: Step(ask_period, on_period),
        S.AREA: pick_step("report.ask_area", S.AREA, "areas", answer),
    },
)

COMMANDS: dict[str, Command] = {"evaluation": report_command}
