"""Feedback on how assistance policy is carried out (policy_feedback): the complaint in the person's
words, anonymous or not as they wish, where it happened, a confirmation → a policy_advocacy ticket.
Anonymous feedback is not linked to the person at all. Diagram: feedback.mmd."""

from __future__ import annotations

from enum import StrEnum

from casework.domain import Channel, ConsentPurpose, ServiceType, Urgency
from casework.opening import NewReport
from dialogs.catalog import summary_part, ticket_summary
from dialogs.engine import END, Ctx, Flow, Step
from dialogs.flows.common import answer_yes_no, area_step, submit_or_cancel, yes_no
from nlu.types import Intent, Parse


class S(StrEnum):
    DESCRIBE = "describe"
    ANONYMOUS = "anonymous"
    AREA = "area"
    CONFIRM = "confirm"


def remember_parse(ctx: Ctx, parse: Parse) -> None:
    ctx.data.update(
        text=parse.text,
        language=parse.language,
        confidence=parse.top.confidence if parse.intent is Intent.POLICY_FEEDBACK else 0.0,
        urgency=parse.urgency.value,
        entities=[entity.value for entity in parse.entities][:6],
    )


async def after_words(ctx: Ctx) -> str:
    """Without consent to keep their details, feedback is anonymous: there is nothing to ask."""
    consents = await ctx.services.people.consents(ctx.person.id)
    if ConsentPurpose.STORE_REPORT not in consents:
        ctx.data["anonymous"] = True
        ctx.say("feedback.anonymous_by_consent")
        return S.AREA
    return S.ANONYMOUS


async def begin(ctx: Ctx) -> str | None:
    text = ctx.data.pop("text_given", None)
    if text:
        remember_parse(ctx, await ctx.parse(text))
        return await after_words(ctx)
    return S.DESCRIBE


async def ask_describe(ctx: Ctx) -> None:
    ctx.say("feedback.describe")


async def on_describe(ctx: Ctx) -> str | None:
    if not ctx.text:
        ctx.say("feedback.describe_words")
        return S.DESCRIBE
    remember_parse(ctx, await ctx.parse(ctx.text))
    return await after_words(ctx)


async def ask_anonymous(ctx: Ctx) -> None:
    ctx.ask("feedback.anonymous", yes_no(ctx))


async def on_anonymous(ctx: Ctx) -> str | None:
    answer = answer_yes_no(ctx)
    if answer is None:
        ctx.say("input.choose_button")
        return S.ANONYMOUS
    ctx.data["anonymous"] = answer
    return S.AREA


async def ask_confirm(ctx: Ctx) -> None:
    area = await ctx.services.people.area(ctx.data["area_id"])
    ctx.ask(
        "feedback.confirm",
        [ctx.button("feedback.button.submit", "submit"), ctx.button("button.cancel", "cancel")],
        area=area.label(ctx.lang) if area else "",
        who="feedback.who.anonymous" if ctx.data.get("anonymous") else "feedback.who.named",
    )


async def on_confirm(ctx: Ctx) -> str | None:
    decision = submit_or_cancel(ctx)
    if decision is None:
        return S.CONFIRM
    if not decision:
        return END
    await submit(ctx)
    return END


async def submit(ctx: Ctx) -> None:
    anonymous = bool(ctx.data.get("anonymous"))
    # The alert names the kind of feedback and what it is about, never the person's own words.
    summary = ticket_summary(summary_part("policy_feedback"), *ctx.data.get("entities", []))
    opened = await ctx.services.casework.open_ticket(
        NewReport(
            text=ctx.data["text"],
            language=ctx.data.get("language", ctx.lang),
            intent=Intent.POLICY_FEEDBACK.value,
            confidence=float(ctx.data.get("confidence", 0.0)),
            service_type=ServiceType.POLICY_ADVOCACY,
            urgency=Urgency(ctx.data.get("urgency", "normal")),
            area_id=ctx.data["area_id"],
            channel=Channel(ctx.turn.channel),
            summary=summary,
            reporter_id=None if anonymous else ctx.person.id,
            anonymous=anonymous,
        )
    )
    ctx.say(
        "feedback.submitted_anonymous" if anonymous else "feedback.submitted",
        reference=opened.ticket.reference,
    )


FLOW = Flow(
    name="feedback",
    start=S.DESCRIBE,
    begin=begin,
    steps={
        S.DESCRIBE: Step(ask_describe, on_describe),
        S.ANONYMOUS: Step(ask_anonymous, on_anonymous),
        S.AREA: area_step("feedback.area", S.AREA, S.CONFIRM),
        S.CONFIRM: Step(ask_confirm, on_confirm),
    },
)
