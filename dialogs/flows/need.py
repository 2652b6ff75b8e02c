"""A recipient's own need: their words → a service type they agree with → where, who, how to reach
them → a summary they confirm → a ticket. Diagram: need.mmd."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from casework.domain import Channel, ConsentPurpose, InvalidInput, ServiceType, Urgency, VulnerabilityTag
from casework.people import normalise_phone
from casework.service import NewReport
from dialogs.engine import END, Ctx, Flow, Step
from dialogs.flows.common import (
    answer_yes_no,
    area_step,
    service_label,
    service_step,
    situation_step,
    submit_or_cancel,
    tag_labels,
    yes_no,
)
from nlu.types import SERVICE_TYPE_OF_INTENT, Intent, Parse

NEED_TYPES = (
    ServiceType.RESOURCE_LINKING,
    ServiceType.PSYCHOLOGICAL_SUPPORT,
    ServiceType.SOCIAL_INTEGRATION,
    ServiceType.CAPACITY_BUILDING,
    ServiceType.POLICY_ADVOCACY,
)
SECOND_NEED_CONFIDENCE = 0.2


class S(StrEnum):
    DESCRIBE = "describe"
    CONFIRM_TYPE = "confirm_type"
    CHOOSE_TYPE = "choose_type"
    AREA = "area"
    SIZE = "size"
    SITUATION = "situation"
    CONTACT = "contact"
    PHONE = "phone"
    SUMMARY = "summary"
    SECOND = "second"


def remember_parse(ctx: Ctx, parse: Parse) -> str:
    """Keep what the classifier said; the next state to ask."""
    ctx.data.update(
        text=parse.text,
        language=parse.language,
        intent=parse.top.intent.value,
        confidence=parse.top.confidence,
        urgency=parse.urgency.value,
        entities=[entity.value for entity in parse.entities][:6],
    )
    needs = [
        (SERVICE_TYPE_OF_INTENT[score.intent], score.confidence)
        for score in parse.ranking
        if score.intent.value.startswith("need_") or score.intent is Intent.POLICY_FEEDBACK
    ]
    if parse.is_fallback:
        ctx.data["candidates"] = [
            SERVICE_TYPE_OF_INTENT[c.intent].value
            for c in parse.candidates
            if c.intent in SERVICE_TYPE_OF_INTENT
        ]
        return S.CHOOSE_TYPE
    if parse.service_type is None or parse.intent is Intent.ASK_POLICY:
        ctx.data["candidates"] = []
        return S.CHOOSE_TYPE
    ctx.data["service_type"] = parse.service_type.value
    others = [kind.value for kind, confidence in needs[1:] if confidence >= SECOND_NEED_CONFIDENCE]
    ctx.data["second"] = next((kind for kind in others if kind != parse.service_type.value), None)
    return S.CONFIRM_TYPE


async def begin(ctx: Ctx) -> str | None:
    text = ctx.data.pop("text_given", None)
    if text:
        return remember_parse(ctx, await ctx.parse(text))
    return S.DESCRIBE


async def ask_describe(ctx: Ctx) -> None:
    ctx.say("need.describe")


async def on_describe(ctx: Ctx) -> str | None:
    if not ctx.text:
        ctx.say("input.need_words")
        return S.DESCRIBE
    return remember_parse(ctx, await ctx.parse(ctx.text))


async def ask_confirm_type(ctx: Ctx) -> None:
    ctx.ask(
        "need.confirm_type",
        [*yes_no(ctx), ctx.button("need.button.choose", "choose")],
        per_row=3,
        service=service_label(ctx.data["service_type"]),
    )


async def on_confirm_type(ctx: Ctx) -> str | None:
    if ctx.pressed == "choose":
        ctx.data["candidates"] = []
        return S.CHOOSE_TYPE
    answer = answer_yes_no(ctx)
    if answer is None:
        ctx.say("input.choose_button")
        return S.CONFIRM_TYPE
    if not answer:
        ctx.data["candidates"] = []
        return S.CHOOSE_TYPE
    return S.AREA


async def ask_size(ctx: Ctx) -> None:
    buttons = [ctx.button("need.size.n", f"size:{n}", n=n) for n in range(1, 5)]
    buttons.append(ctx.button("need.size.more", "size:5"))
    buttons.append(ctx.button("button.skip", "size:none"))
    ctx.ask("need.size", buttons, per_row=3)


async def on_size(ctx: Ctx) -> str | None:
    pressed = ctx.pressed or ""
    if pressed.startswith("size:"):
        value = pressed.removeprefix("size:")
        ctx.data["size"] = None if value == "none" else int(value)
        return S.SITUATION
    if ctx.text and ctx.text.isdigit() and 1 <= int(ctx.text) <= 99:
        ctx.data["size"] = int(ctx.text)
        return S.SITUATION
    ctx.say("need.size_invalid")
    return S.SIZE


async def ask_contact(ctx: Ctx) -> None:
    consents = await ctx.services.people.consents(ctx.person.id)
    if ConsentPurpose.CONTACT_ME not in consents:
        ctx.data["contact"] = "none"
        ctx.say("need.no_contact_consent")
        await ctx.engine.go(ctx, S.SUMMARY)
        return
    ctx.ask(
        "need.contact",
        [
            ctx.button("need.contact.chat", "contact:chat"),
            ctx.button("need.contact.phone", "contact:phone"),
            ctx.button("need.contact.none", "contact:none"),
        ],
        per_row=1,
    )


async def on_contact(ctx: Ctx) -> str | None:
    if ctx.turn.phone:
        return await _take_phone(ctx, ctx.turn.phone)
    pressed = ctx.pressed or ""
    if pressed == "contact:phone":
        return S.PHONE
    if pressed in ("contact:chat", "contact:none"):
        ctx.data["contact"] = pressed.removeprefix("contact:")
        return S.SUMMARY
    ctx.say("input.choose_button")
    return S.CONTACT


async def ask_phone(ctx: Ctx) -> None:
    ctx.say("need.phone")


async def _take_phone(ctx: Ctx, number: str) -> str:
    try:
        await ctx.services.people.set_phone(ctx.person.id, number)
    except InvalidInput:
        ctx.say("need.phone_invalid")
        return S.PHONE
    ctx.data["contact"] = "phone"
    return S.SUMMARY


async def on_phone(ctx: Ctx) -> str | None:
    number = ctx.turn.phone or ctx.text
    if not number:
        ctx.say("need.phone_invalid")
        return S.PHONE
    try:
        normalise_phone(number)
    except InvalidInput:
        ctx.say("need.phone_invalid")
        return S.PHONE
    return await _take_phone(ctx, number)


async def ask_summary(ctx: Ctx) -> None:
    area = await ctx.services.people.area(ctx.data["area_id"])
    tags = tag_labels(ctx)
    ctx.ask(
        "need.summary",
        [ctx.button("need.button.submit", "submit"), ctx.button("button.cancel", "cancel")],
        service=service_label(ctx.data["service_type"]),
        area=area.label(ctx.lang) if area else "",
        size=ctx.data.get("size") or "-",
        tags=tags or "-",
        contact=f"need.contact.{ctx.data.get('contact', 'none')}",
    )


async def on_summary(ctx: Ctx) -> str | None:
    decision = submit_or_cancel(ctx)
    if decision is None:
        return S.SUMMARY
    if not decision:
        return END
    await submit(ctx, ServiceType(ctx.data["service_type"]))
    if ctx.data.get("second"):
        return S.SECOND
    return END


def report_summary(ctx: Ctx, data: dict[str, Any]) -> str:
    """What the workers' alert says of the need: no words of the person's own, nothing identifying."""
    parts = [
        ctx.services.catalog.text("need.summary_size", ctx.lang, n=data["size"]) if data.get("size") else "",
        ",".join(data.get("tags", [])),
        " ".join(data.get("entities", [])),
    ]
    return " · ".join(part for part in parts if part)


async def submit(ctx: Ctx, service_type: ServiceType) -> None:
    consents = await ctx.services.people.consents(ctx.person.id)
    anonymous = ConsentPurpose.STORE_REPORT not in consents
    if ctx.data.get("area_id"):
        await ctx.services.people.set_home_area(ctx.person.id, ctx.data["area_id"])
    opened = await ctx.services.casework.open_ticket(
        NewReport(
            text=ctx.data.get("text", ""),
            language=ctx.data.get("language", ctx.lang),
            intent=ctx.data.get("intent", "need_resource_linking"),
            confidence=float(ctx.data.get("confidence", 0.0)),
            service_type=service_type,
            urgency=Urgency(ctx.data.get("urgency", "normal")),
            area_id=ctx.data["area_id"],
            channel=Channel(ctx.turn.channel),
            summary=report_summary(ctx, ctx.data),
            reporter_id=ctx.person.id,
            anonymous=anonymous,
            household_size=ctx.data.get("size"),
            vulnerability_tags=frozenset(VulnerabilityTag(tag) for tag in ctx.data.get("tags", [])),
        )
    )
    ticket = opened.ticket
    claim_by = (
        ticket.claim_deadline.astimezone(ctx.services.casework.timezone) if ticket.claim_deadline else None
    )
    ctx.say(
        "need.submitted_joined" if opened.joined_existing else "need.submitted",
        reference=ticket.reference,
        service=service_label(service_type),
        respond_by=claim_by.strftime("%m-%d %H:%M") if claim_by else "-",
    )
    if anonymous:
        ctx.say("need.submitted_anonymous")


async def ask_second(ctx: Ctx) -> None:
    ctx.ask("need.second", yes_no(ctx), service=service_label(ctx.data["second"]))


async def on_second(ctx: Ctx) -> str | None:
    answer = answer_yes_no(ctx)
    if answer is None:
        ctx.say("input.choose_button")
        return S.SECOND
    if answer:
        await submit(ctx, ServiceType(ctx.data["second"]))
    else:
        ctx.say("need.second_declined")
    return END


def forget_second_need(ctx: Ctx) -> None:
    """A service chosen by hand: the second need the classifier heard may not be one."""
    ctx.data["second"] = None


FLOW = Flow(
    name="need",
    start=S.DESCRIBE,
    begin=begin,
    steps={
        S.DESCRIBE: Step(ask_describe, on_describe),
        S.CONFIRM_TYPE: Step(ask_confirm_type, on_confirm_type),
        S.CHOOSE_TYPE: service_step(
            S.CHOOSE_TYPE,
            S.AREA,
            kinds=NEED_TYPES,
            suggestions="candidates",
            ask="need.choose_type",
            ask_suggested="need.which_of_two",
            other="need.button.something_else",
            chosen=forget_second_need,
        ),
        S.AREA: area_step("need.area", S.AREA, S.SIZE),
        S.SIZE: Step(ask_size, on_size),
        S.SITUATION: situation_step("need.situation", S.SITUATION, S.CONTACT),
        S.CONTACT: Step(ask_contact, on_contact),
        S.PHONE: Step(ask_phone, on_phone),
        S.SUMMARY: Step(ask_summary, on_summary),
        S.SECOND: Step(ask_second, on_second),
    },
)
