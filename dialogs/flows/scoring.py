"""Scoring against a rubric, criterion by criterion, then a comment, then saving it: the steps a
supervisor's review of a case (supervision.py) and an agency's evaluation (agency.py) share.

The flow keeps which criterion is asked (``data["at"]``) and the scores so far (``data["scores"]``,
criterion → score). Each score's button names its criterion, so a double tap on an earlier criterion's
button is told apart from an answer to the one asked now."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Any

from dialogs.engine import END, Ctx, Step
from dialogs.flows.common import cancel_button, cancelled
from dialogs.flows.worker import politely
from dialogs.messages import Button


def score_step(
    key: str,
    criteria: Sequence[StrEnum],
    scores: Sequence[int],
    *,
    state: str,
    then: str,
    criterion_words: str,
    score_words: str,
    per_row: int,
    args: Callable[[Ctx], dict[str, Any]],
) -> Step:
    """Ask ``key`` of each criterion in turn (``{criterion}``: its words, ``<criterion_words>.<name>``;
    ``{n}`` of ``{of}``, and ``args``), a button a score (``<score_words>.<score>``); then ``then``."""

    async def prompt(ctx: Ctx) -> None:
        asked = criteria[int(ctx.data["at"])]
        buttons = [ctx.button(f"{score_words}.{score}", f"{asked.value}:{score}") for score in scores]
        ctx.ask(
            key,
            [*buttons, cancel_button(ctx)],
            per_row=per_row,
            n=int(ctx.data["at"]) + 1,
            of=len(criteria),
            criterion=f"{criterion_words}.{asked.value}",
            **args(ctx),
        )

    async def handle(ctx: Ctx) -> str | None:
        if cancelled(ctx):
            return END
        asked = criteria[int(ctx.data["at"])]
        name, _, value = (ctx.pressed or "").partition(":")
        if name != asked.value or value not in {str(score) for score in scores}:
            ctx.say("input.choose_button")
            return state
        ctx.data["scores"][asked.value] = int(value)
        if int(ctx.data["at"]) + 1 < len(criteria):
            ctx.data["at"] = int(ctx.data["at"]) + 1
            return state
        return then

    return Step(prompt, handle)


def comment_step(key: str, *, state: str, then: str) -> Step:
    """Ask for a comment (``data["comment"]``), or Skip for none; then go to ``then``."""

    async def prompt(ctx: Ctx) -> None:
        ctx.ask(key, [ctx.button("button.skip", "skip"), cancel_button(ctx)])

    async def handle(ctx: Ctx) -> str | None:
        if cancelled(ctx):
            return END
        if ctx.pressed != "skip" and not ctx.text:
            ctx.say("worker.need_words")
            return state
        ctx.data["comment"] = "" if ctx.pressed == "skip" else ctx.text
        return then

    return Step(prompt, handle)


def save_buttons(ctx: Ctx) -> list[Button]:
    """Save and Cancel, under what is about to be saved."""
    return [ctx.button("supervision.save", "save"), cancel_button(ctx)]


def save_step(
    prompt: Callable[[Ctx], Awaitable[None]], state: str, save: Callable[[Ctx], Awaitable[None]]
) -> Step:
    """The scores and the comment checked over (``prompt``, with ``save_buttons``): Save runs ``save``
    (a refusal is said as ``politely`` says it), Cancel ends the flow without it."""

    async def handle(ctx: Ctx) -> str | None:
        if cancelled(ctx):
            return END
        if ctx.pressed != "save":
            ctx.say("input.choose_button")
            return state
        with politely(ctx):
            await save(ctx)
        return END

    return Step(prompt, handle)
