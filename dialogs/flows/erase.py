"""Deleting one's data: a plain confirmation, then personal data erased; case records stay anonymised."""

from __future__ import annotations

from dialogs.engine import END, Ctx, Flow, Step
from dialogs.flows.common import answer_yes_no, yes_no

CONFIRM = "confirm"


async def ask_confirm(ctx: Ctx) -> None:
    ctx.ask("erase.confirm", yes_no(ctx))


async def on_confirm(ctx: Ctx) -> str | None:
    answer = answer_yes_no(ctx)
    if answer is None:
        ctx.say("input.choose_button")
        return CONFIRM
    if not answer:
        ctx.say("erase.kept")
        return END
    await ctx.services.people.erase(ctx.person.id)
    ctx.forget()  # the conversation state keyed by their account goes too
    ctx.say("erase.done")
    return END


FLOW = Flow(name="erase", start=CONFIRM, steps={CONFIRM: Step(ask_confirm, on_confirm)})
