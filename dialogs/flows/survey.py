"""The satisfaction survey after a case is closed: a star button ("!rate:<ticket id>:<stars>", on the
survey alert, under /rate and beside a finished case in /status) records the rating at once, then an
optional comment is added to it. Only the household that reported the case rates it, once; a person
busy with another flow rates without a comment. Diagram: survey.mmd."""

from __future__ import annotations

from enum import StrEnum

from casework.access import Forbidden
from casework.domain import Conflict, InvalidInput, NotFound, TicketStatus
from dialogs.engine import END, Action, Command, Ctx, Flow, Step, action_button
from dialogs.messages import Button

STARS = range(1, 6)
COMMENT_LENGTH = 2000


class S(StrEnum):
    COMMENT = "comment"


def star_buttons(ticket_id: int) -> list[Button]:
    """One to five stars for a case, as the survey alert, /rate and /status offer them."""
    return [action_button("alert.button.rate", "rate", f"{ticket_id}:{n}", n=n) for n in STARS]


async def rate_command(ctx: Ctx, argument: str) -> None:
    """/rate [REF]: the person's finished cases not yet rated, each with its stars."""
    waiting = await ctx.services.casework.awaiting_rating(ctx.person)
    wanted = argument.strip().upper()
    if wanted:
        waiting = [ticket for ticket in waiting if ticket.reference == wanted]
    if not waiting:
        ctx.say("survey.nothing_to_rate")
        return
    for ticket in waiting[:5]:
        ctx.say("survey.rate_one", star_buttons(ticket.id), reference=ticket.reference)


async def rate(ctx: Ctx, argument: str) -> None:
    """A star button (the survey alert's, /rate's or /status's): check the case may be rated, thank
    the person, ask for a comment."""
    ticket_part, _, stars_part = argument.partition(":")
    if not (ticket_part.isdigit() and stars_part.isdigit() and int(stars_part) in STARS):
        ctx.say("button.expired")
        return
    ticket_id, stars = int(ticket_part), int(stars_part)
    try:
        ticket = await ctx.services.casework.status(ctx.person, ticket_id)
    except (Forbidden, NotFound):
        ctx.say("survey.not_yours")
        return
    if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        ctx.say("survey.not_finished", reference=ticket.reference)
        return
    if not await record(ctx, ticket_id, stars):
        return
    if ctx.state.flow is not None and ctx.state.flow != FLOW.name:
        # Whatever the person is in the middle of carries on; the rating stands without a comment.
        ctx.say("survey.recorded", stars=stars)
        await ctx.engine.prompt(ctx)
        return
    await ctx.start(FLOW.name, {"ticket_id": ticket_id, "reference": ticket.reference, "stars": stars})


async def record(ctx: Ctx, ticket_id: int, stars: int) -> bool:
    """Keep the rating; a refusal is explained kindly. True when it was recorded."""
    try:
        await ctx.services.casework.rate(ctx.person, ticket_id, stars)
    except Conflict:
        ctx.say("survey.already_rated")
        return False
    except (Forbidden, NotFound):
        ctx.say("survey.not_yours")
        return False
    except InvalidInput:
        ctx.say("button.expired")
        return False
    return True


async def ask_comment(ctx: Ctx) -> None:
    ctx.ask(
        "survey.thanks",
        [ctx.button("button.skip", "skip")],
        stars=ctx.data["stars"],
        reference=ctx.data["reference"],
    )


async def on_comment(ctx: Ctx) -> str | None:
    if ctx.pressed == "skip" or (ctx.text and ctx.text.strip().lower() in ("skip", "跳过", "不用", "没有")):
        ctx.say("survey.recorded", stars=ctx.data["stars"])
        return END
    if ctx.text:
        await ctx.services.casework.comment_on_rating(
            ctx.person, ctx.data["ticket_id"], ctx.text[:COMMENT_LENGTH]
        )
        ctx.say("survey.recorded_with_comment", stars=ctx.data["stars"])
        return END
    ctx.say("survey.comment_or_skip")
    return S.COMMENT


FLOW = Flow(name="survey", start=S.COMMENT, steps={S.COMMENT: Step(ask_comment, on_comment)})

ACTIONS: dict[str, Action] = {"rate": rate}
COMMANDS: dict[str, Command] = {"rate": rate_command}
