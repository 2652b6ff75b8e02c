"""Supervision (督导) in the chat: a supervisor reviews a finished case of their areas against the
rubric, criterion by criterion (not, partly or fully met), adds a comment for the worker (or skips
it), checks it over and saves it. Diagram: supervision.mmd.

Each score's button names its criterion, so a double tap on an earlier criterion's button is told
apart from an answer to the one asked now."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from casework.access import Operation
from casework.domain import Criterion, Met
from casework.lifecycle import SUPERVISING, allows
from casework.lifecycle import Step as LifeStep
from dialogs.catalog import Words
from dialogs.engine import END, Action, Ctx, Flow, Step
from dialogs.flows.worker import cancel_button, checked_ticket, politely, view_button, worker_action

CRITERIA = tuple(Criterion)


class S(StrEnum):
    SCORE = "score"
    COMMENT = "comment"
    CONFIRM = "confirm"


async def supervise(ctx: Ctx, ticket_id: int) -> None:
    """🧭 on a finished case's view: the review begins."""
    if ctx.person.role not in SUPERVISING:
        ctx.say("refusal.supervision.supervisors_only")
        return
    await ctx.start("supervision", {"ticket_id": ticket_id})


async def begin(ctx: Ctx) -> str | None:
    with politely(ctx):
        ticket = await checked_ticket(ctx, int(ctx.data["ticket_id"]), Operation.SUPERVISE)
        if not allows(LifeStep.SUPERVISE, ticket, ctx.person):
            ctx.say("refusal.supervision.unfinished", reference=ticket.reference)
            return END
        ctx.data.update(reference=ticket.reference, at=0, scores={})
        return S.SCORE
    return END


def criterion(ctx: Ctx) -> Criterion:
    return CRITERIA[int(ctx.data["at"])]


async def ask_score(ctx: Ctx) -> None:
    asked = criterion(ctx)
    buttons = [ctx.button(f"supervision.met.{met.value}", f"{asked.value}:{met.value}") for met in Met]
    ctx.ask(
        "supervision.ask",
        [*buttons, cancel_button(ctx)],
        per_row=3,
        reference=ctx.data["reference"],
        n=int(ctx.data["at"]) + 1,
        of=len(CRITERIA),
        criterion=f"supervision.criterion.{asked.value}",
    )


async def on_score(ctx: Ctx) -> str | None:
    if ctx.pressed == "cancel":
        ctx.say("flow.cancelled")
        return END
    asked = criterion(ctx)
    name, _, value = (ctx.pressed or "").partition(":")
    if name != asked.value or value not in {str(met.value) for met in Met}:
        ctx.say("input.choose_button")
        return S.SCORE
    ctx.data["scores"][asked.value] = int(value)
    if int(ctx.data["at"]) + 1 < len(CRITERIA):
        ctx.data["at"] = int(ctx.data["at"]) + 1
        return S.SCORE
    return S.COMMENT


async def ask_comment(ctx: Ctx) -> None:
    ctx.ask("supervision.ask_comment", [ctx.button("button.skip", "skip"), cancel_button(ctx)])


async def on_comment(ctx: Ctx) -> str | None:
    if ctx.pressed == "cancel":
        ctx.say("flow.cancelled")
        return END
    if ctx.pressed == "skip":
        ctx.data["comment"] = ""
        return S.CONFIRM
    if not ctx.text:
        ctx.say("worker.need_words")
        return S.COMMENT
    ctx.data["comment"] = ctx.text
    return S.CONFIRM


def scores_words(scores: Mapping[str, int]) -> Words:
    """Each criterion's score in a line, in the reader's language."""
    return Words("supervision.scores", {name: f"supervision.met.{value}" for name, value in scores.items()})


async def ask_confirm(ctx: Ctx) -> None:
    scores = ctx.data["scores"]
    ctx.ask(
        "supervision.confirm",
        [ctx.button("supervision.save", "save"), cancel_button(ctx)],
        reference=ctx.data["reference"],
        scores=scores_words(scores),
        score=round(100 * sum(scores.values()) / (Met.FULLY * len(CRITERIA))),
        comment=ctx.data["comment"] or "-",
    )


async def on_confirm(ctx: Ctx) -> str | None:
    if ctx.pressed == "cancel":
        ctx.say("flow.cancelled")
        return END
    if ctx.pressed != "save":
        ctx.say("input.choose_button")
        return S.CONFIRM
    ticket_id = int(ctx.data["ticket_id"])
    with politely(ctx):
        review = await ctx.services.casework.supervise(
            ctx.person,
            ticket_id,
            {Criterion(name): Met(value) for name, value in ctx.data["scores"].items()},
            ctx.data["comment"],
        )
        ctx.say(
            "supervision.saved",
            (view_button(ticket_id),),
            reference=ctx.data["reference"],
            score=review.score,
        )
    return END


FLOW = Flow(
    name="supervision",
    start=S.SCORE,
    begin=begin,
    roles=SUPERVISING,
    screen_text=False,
    steps={
        S.SCORE: Step(ask_score, on_score),
        S.COMMENT: Step(ask_comment, on_comment),
        S.CONFIRM: Step(ask_confirm, on_confirm),
    },
)

ACTIONS: dict[str, Action] = {"supervise": worker_action(supervise)}
