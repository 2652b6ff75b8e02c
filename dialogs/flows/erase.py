"""Deleting one's data: a plain confirmation, then personal data erased; case records stay anonymised."""

from __future__ import annotations

from dialogs.engine import END, Ctx, Flow
from dialogs.flows.common import yes_no_step

CONFIRM = "confirm"


async def on_confirm(ctx: Ctx, answer: bool) -> str | None:
    if not answer:
        ctx.say("erase.kept")
        return END
    # Open cases first: closed (their holders told), or a crisis kept with the words it needs.
    kept = await ctx.services.casework.settle_for_erasure(ctx.person)
    await ctx.services.people.erase(ctx.person.id, keep_words_of=kept)
    ctx.forget()  # the conversation state keyed by their account goes too
    ctx.say("erase.done_crisis_kept" if kept else "erase.done")
    return END


FLOW = Flow(name="erase", start=CONFIRM, steps={CONFIRM: yes_no_step("erase.confirm", CONFIRM, on_confirm)})
