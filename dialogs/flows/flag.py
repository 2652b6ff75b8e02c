"""A volunteer flags a household that seems to need help, on its behalf: where it lives, what was seen
(classified to suggest a service type), its situation, whether it knows → a ticket reference. The
volunteer later sees the stage only (received, claimed, visited, closed), never the case. A second flag
of the same household joins its open ticket; when that case is someone else's, the volunteer is told
only that the report joined work under way (``casework.disclosure``). Diagram: flag.mmd."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from casework import disclosure
from casework.disclosure import Part
from casework.domain import Channel, Role, ServiceType, Urgency, VulnerabilityTag
from casework.opening import NewReport
from dialogs.catalog import summary_part, ticket_summary
from dialogs.engine import END, Ctx, Flow, Step
from dialogs.flows.common import (
    answer_yes_no,
    area_step,
    service_label,
    service_step,
    situation_step,
    submit_buttons,
    submit_step,
    tag_labels,
    text_step,
)
from nlu.types import SERVICE_TYPE_OF_INTENT, Intent, Parse

SUGGEST_CONFIDENCE = 0.04  # a need the classifier heard at all is worth offering; the volunteer decides
MAX_SUGGESTIONS = 2
ADDRESS_LENGTH = (2, 200)
KNOWS = ("yes", "no", "unsure")


class S(StrEnum):
    AREA = "area"
    ADDRESS = "address"
    OBSERVED = "observed"
    SERVICE = "service"
    SITUATION = "situation"
    KNOWS = "knows"
    SUMMARY = "summary"


def suggested_types(parse: Parse) -> list[str]:
    """Service types the observation points to, likeliest first (a flag is itself no service type)."""
    kinds: list[ServiceType] = [parse.service_type] if parse.service_type else []
    for score in parse.ranking:
        kind = SERVICE_TYPE_OF_INTENT.get(score.intent)
        if kind is None or kind in kinds or not score.intent.value.startswith("need_"):
            continue
        if score.confidence >= SUGGEST_CONFIDENCE:
            kinds.append(kind)
    return [kind.value for kind in kinds[:MAX_SUGGESTIONS]]


def remember_observation(ctx: Ctx, parse: Parse) -> None:
    ctx.data.update(
        observed=parse.text,
        language=parse.language,
        intent=Intent.FLAG_HOUSEHOLD.value,
        confidence=parse.top.confidence,
        urgency=parse.urgency.value,
        entities=[entity.value for entity in parse.entities][:6],
        suggested=suggested_types(parse),
    )


async def begin(ctx: Ctx) -> str | None:
    # Start the area buttons from where the volunteer serves: their community and its neighbours.
    if ctx.person.area_ids:
        home = await ctx.services.people.area(min(ctx.person.area_ids))
        if home is not None:
            below = await ctx.services.people.area_children(home.id)
            ctx.data["area_parent"] = home.id if below else home.parent_id
    observed = ctx.data.pop("observed", None)
    if observed:
        remember_observation(ctx, await ctx.parse(observed))
    return S.AREA


async def ask_address(ctx: Ctx) -> None:
    ctx.say("flag.address")


async def on_address(ctx: Ctx) -> str | None:
    shortest, longest = ADDRESS_LENGTH
    if not ctx.text or not shortest <= len(ctx.text) <= longest:
        ctx.say("flag.address_invalid", longest=longest)
        return S.ADDRESS
    ctx.data["address"] = ctx.text
    return S.SERVICE if ctx.data.get("observed") else S.OBSERVED


async def on_observed(ctx: Ctx, text: str) -> str | None:
    remember_observation(ctx, await ctx.parse(text))
    return S.SERVICE


async def ask_knows(ctx: Ctx) -> None:
    ctx.ask(
        "flag.knows", [ctx.button(f"flag.knows.{answer}", f"knows:{answer}") for answer in KNOWS], per_row=3
    )


async def on_knows(ctx: Ctx) -> str | None:
    pressed = ctx.pressed or ""
    answer = pressed.removeprefix("knows:") if pressed.startswith("knows:") else None
    if answer is None:
        typed = answer_yes_no(ctx)
        answer = None if typed is None else ("yes" if typed else "no")
    if answer not in KNOWS:
        ctx.say("input.choose_button")
        return S.KNOWS
    ctx.data["knows"] = answer
    return S.SUMMARY


async def ask_summary(ctx: Ctx) -> None:
    area = await ctx.services.people.area(ctx.data["area_id"])
    tags = tag_labels(ctx)
    ctx.ask(
        "flag.summary",
        submit_buttons(ctx, "flag.button.submit"),
        area=area.label(ctx.lang) if area else "",
        address=ctx.data["address"],
        service=service_label(ctx.data["service_type"]),
        tags=tags or "-",
        knows=f"flag.knows.{ctx.data['knows']}",
    )


def report_summary(data: dict[str, Any]) -> str:
    """What the workers' alert says of the household: no words of the volunteer's own, no address;
    read in each worker's language."""
    return ticket_summary(
        summary_part("on_behalf"),
        summary_part("knows", data.get("knows", "unsure")),
        *(summary_part("tag", tag) for tag in data.get("tags", [])),
        " ".join(data.get("entities", [])),
    )


async def submit(ctx: Ctx) -> str | None:
    report = NewReport(
        text=ctx.data["observed"],
        language=ctx.data.get("language", ctx.lang),
        intent=ctx.data.get("intent", Intent.FLAG_HOUSEHOLD.value),
        confidence=float(ctx.data.get("confidence", 0.0)),
        service_type=ServiceType(ctx.data["service_type"]),
        urgency=Urgency(ctx.data.get("urgency", "normal")),
        area_id=ctx.data["area_id"],
        channel=Channel(ctx.turn.channel),
        summary=report_summary(ctx.data),
        reporter_id=ctx.person.id,
        on_behalf=True,
        household_address=ctx.data["address"],
        vulnerability_tags=frozenset(VulnerabilityTag(tag) for tag in ctx.data.get("tags", [])),
    )
    urgent = ctx.data.get("crisis_ticket")
    casework = ctx.services.casework
    opened = await casework.add_report(urgent, report) if urgent else await casework.open_ticket(report)
    relation = disclosure.relation_to(ctx.person, opened.ticket)
    if opened.joined_existing and Part.REFERENCE not in disclosure.allowed("report_joined", relation):
        # Added to a case someone else opened: that it is under way, and nothing of that case.
        ctx.say("flag.submitted_joined_elsewhere")
        return END
    ctx.say(
        "flag.submitted_joined" if opened.joined_existing else "flag.submitted",
        reference=opened.ticket.reference,
        service=service_label(opened.ticket.service_type),
    )
    ctx.say("flag.what_you_will_see")
    return END


FLOW = Flow(
    name="flag",
    start=S.AREA,
    begin=begin,
    roles=frozenset({Role.VOLUNTEER}),
    steps={
        S.AREA: area_step("flag.area", S.AREA, S.ADDRESS),
        S.ADDRESS: Step(ask_address, on_address),
        S.OBSERVED: text_step("flag.observed", "flag.observed_needed", S.OBSERVED, on_observed, account=True),
        S.SERVICE: service_step(
            S.SERVICE,
            S.SITUATION,
            suggestions="suggested",
            ask="flag.service",
            ask_suggested="flag.service_suggested",
            other="flag.button.other_types",
        ),
        S.SITUATION: situation_step("flag.situation", S.SITUATION, S.KNOWS),
        S.KNOWS: Step(ask_knows, on_knows),
        S.SUMMARY: submit_step(ask_summary, S.SUMMARY, submit),
    },
)
