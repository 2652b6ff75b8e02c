"""Feedback on how assistance policy is carried out (policy_feedback): the complaint in the person's
words, anonymous or not as they wish, where it happened, a confirmation → a policy_advocacy ticket.
Anonymous feedback is not linked to the person at all. Diagram: feedback.mmd."""

from __future__ import annotations

from enum import StrEnum

from casework.domain import Channel, ConsentPurpose, ServiceType, Urgency
from casework.opening import NewReport
from dialogs.catalog import summary_part, ticket_summary
from dialogs.engine import END, Ctx, Flow
from dialogs.flows.common import (
    area_step,
    begin_with_words,
    submit_buttons,
    submit_step,
    text_step,
    yes_no_step,
)
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


async def described(ctx: Ctx, text: str) -> str:
    remember_parse(ctx, await ctx.parse(text))
    return await after_words(ctx)


async def on_anonymous(ctx: Ctx, anonymous: bool) -> str | None:
    ctx.data["anonymous"] = anonymous
    return S.AREA


async def ask_confirm(ctx: Ctx) -> None:
    area = await ctx.services.people.area(ctx.data["area_id"])
    ctx.ask(
        "feedback.confirm",
        submit_buttons(ctx, "feedback.button.submit"),
        area=area.label(ctx.lang) if area else "",
        who="feedback.who.anonymous" if ctx.data.get("anonymous") else "feedback.who.named",
    )


async def submit(ctx: Ctx) -> str | None:
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
    return END


FLOW = Flow(
    name="feedback",
    start=S.DESCRIBE,
    begin=begin_with_words(S.DESCRIBE, described),
    steps={
        S.DESCRIBE: text_step("feedback.describe", "feedback.describe_words", S.DESCRIBE, described),
        S.ANONYMOUS: yes_no_step("feedback.anonymous", S.ANONYMOUS, on_anonymous),
        S.AREA: area_step("feedback.area", S.AREA, S.CONFIRM),
        S.CONFIRM: submit_step(ask_confirm, S.CONFIRM, submit),
    },
)
