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
    # Open cases first: closed (their holders told), or a crisis kept with the words it needs.
    kept = await ctx.services.casework.settle_for_erasure(ctx.person)
    await ctx.services.people.erase(ctx.person.id, keep_words_of=kept)
    ctx.forget()  # the conversation state keyed by their account goes too
    ctx.say("erase.done_crisis_kept" if kept else "erase.done")
    return END


FLOW = Flow(name="erase", start=CONFIRM, steps={CONFIRM: Step(ask_confirm, on_confirm)})
