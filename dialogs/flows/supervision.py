"""Supervision (督导) in the chat: a supervisor reviews a finished case of their areas against the
rubric, criterion by criterion (not, partly or fully met: ``scoring``), adds a comment for the worker
(or skips it), checks it over and saves it. Diagram: supervision.mmd."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from casework.access import Operation
from casework.domain import Criterion, Met
from casework.lifecycle import SUPERVISING, allows
from casework.lifecycle import Step as LifeStep
from dialogs.catalog import Words
from dialogs.engine import END, Action, Ctx, Flow
from dialogs.flows.scoring import comment_step, save_buttons, save_step, score_step
from dialogs.flows.worker import checked_ticket, politely, view_button, worker_action

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


def scores_words(scores: Mapping[str, int]) -> Words:
    """Each criterion's score in a line, in the reader's language."""
    return Words("supervision.scores", {name: f"supervision.met.{value}" for name, value in scores.items()})


async def ask_confirm(ctx: Ctx) -> None:
    scores = ctx.data["scores"]
    ctx.ask(
        "supervision.confirm",
        save_buttons(ctx),
        reference=ctx.data["reference"],
        scores=scores_words(scores),
        score=round(100 * sum(scores.values()) / (Met.FULLY * len(CRITERIA))),
        comment=ctx.data["comment"] or "-",
    )


async def save(ctx: Ctx) -> None:
    ticket_id = int(ctx.data["ticket_id"])
    review = await ctx.services.casework.supervise(
        ctx.person,
        ticket_id,
        {Criterion(name): Met(value) for name, value in ctx.data["scores"].items()},
        ctx.data["comment"],
    )
    ctx.say(
        "supervision.saved", (view_button(ticket_id),), reference=ctx.data["reference"], score=review.score
    )


FLOW = Flow(
    name="supervision",
    start=S.SCORE,
    begin=begin,
    roles=SUPERVISING,
    screen_text=False,
    steps={
        S.SCORE: score_step(
            "supervision.ask",
            CRITERIA,
            tuple(met.value for met in Met),
            state=S.SCORE,
            then=S.COMMENT,
            criterion_words="supervision.criterion",
            score_words="supervision.met",
            per_row=3,
            args=lambda ctx: {"reference": ctx.data["reference"]},
        ),
        S.COMMENT: comment_step("supervision.ask_comment", state=S.COMMENT, then=S.CONFIRM),
        S.CONFIRM: save_step(ask_confirm, S.CONFIRM, save),
    },
)

ACTIONS: dict[str, Action] = {"supervise": worker_action(supervise)}
