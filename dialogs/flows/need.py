"""A recipient's own need: their words → a service type they agree with → where, who, how to reach
them → a summary they confirm → a ticket. Diagram: need.mmd."""

from __future__ import annotations

import re
import secrets
from enum import StrEnum
from typing import Any

import cn2an

from casework.domain import (
    Channel,
    ConsentPurpose,
    ContactWay,
    InvalidInput,
    ServiceType,
    Urgency,
    VulnerabilityTag,
)
from casework.opening import NewReport
from casework.people import normalise_phone
from dialogs.catalog import summary_part, ticket_summary
from dialogs.engine import END, Ctx, Flow, Step
from dialogs.flows.common import (
    answer_anonymously_step,
    answer_yes_no,
    area_step,
    begin_with_words,
    service_label,
    service_step,
    situation_step,
    submit_buttons,
    submit_step,
    tag_labels,
    text_step,
    yes_no,
)
from nlu.types import SERVICE_TYPE_OF_INTENT, Intent, Parse

# Where a message turns from one matter to the next: punctuation, and the words that join two matters.
CLAUSE_BREAK = re.compile(r"[，,。.;；！!？?\n]+|\s+(?:and|but|also|plus)\s+|而且|并且|还有|另外")
SHORTEST_CLAUSE = 4
MOST_CLAUSES = 6
# A community named in the message: a few characters before 社区 (小区, 村 …), or a name after "in".
NAMED_COMMUNITY_ZH = re.compile(r"(?=([\u4e00-\u9fff]{2,4}?(?:社区|小区|居委会|村)))")
NAMED_COMMUNITY_EN = re.compile(
    r"\b(?:in|at|from)\s+(?:the\s+)?([a-z][a-z-]{2,})(?:\s+(community|estate|village))?"
)
MOST_NAMES = 6


# A household's size as typed: 6, 「6人」, 「三口人」, 「家里一共两口人」, "6 people".
HOUSEHOLD_SIZE = re.compile(
    r"^(?:我们|我)?(?:家里|家)?(?:一共|共|总共)?(?:有)?\s*(\d{1,2}|[一二两三四五六七八九十]{1,3})\s*"
    r"(?:口人|口|个人|人|people|persons?)?$"
)


class S(StrEnum):
    DESCRIBE = "describe"
    CONFIRM_TYPE = "confirm_type"
    CHOOSE_TYPE = "choose_type"
    AREA = "area"
    AREA_NAMED = "area_named"
    SIZE = "size"
    SITUATION = "situation"
    CONTACT = "contact"
    PHONE = "phone"
    SUMMARY = "summary"
    SECOND = "second"
    ANSWER = "answer"  # after an anonymous report: may a worker answer here?


def is_need(intent: Intent) -> bool:
    return intent.value.startswith("need_") or intent is Intent.POLICY_FEEDBACK


async def needs_heard(ctx: Ctx, parse: Parse, places: set[str]) -> list[str]:
    """Service types that parts of the message ask for each on its own, in the message's order.

    A message with two needs shares the classifier's belief between them, so the whole message often
    falls back as unsure; read clause by clause, each need stands clear. A clause naming one of
    ``places`` ("I live in Xingfu") says where the person lives, not what they need."""
    clauses = [clause.strip() for clause in CLAUSE_BREAK.split(parse.text)]
    clauses = [
        clause
        for clause in clauses
        if len(clause) >= SHORTEST_CLAUSE and not any(place in clause.lower() for place in places)
    ][:MOST_CLAUSES]
    if len(clauses) < 2:
        return []
    kinds: list[str] = []
    for clause in clauses:
        part = await ctx.services.nlu.parse(clause, parse.language)
        if part.is_fallback or not is_need(part.intent):
            continue
        kind = SERVICE_TYPE_OF_INTENT[part.intent].value
        if kind not in kinds:
            kinds.append(kind)
    return kinds


async def remember_parse(ctx: Ctx, parse: Parse) -> str:
    """Keep what the classifier said; the next state to ask."""
    ctx.data.update(
        text=parse.text,
        language=parse.language,
        intent=parse.top.intent.value,
        confidence=parse.top.confidence,
        urgency=parse.urgency.value,
        entities=[entity.value for entity in parse.entities][:6],
    )
    places = await remember_named_community(ctx, parse)
    heard = await needs_heard(ctx, parse, places)
    if len(heard) >= 2 and (parse.is_fallback or parse.service_type is None):
        # Two needs, each clear in its own words: the first said first, the other offered afterwards.
        first, second = heard[:2]
        ctx.data.update(service_type=first, second=second)
        return S.CONFIRM_TYPE
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
    first = parse.service_type.value
    ctx.data["service_type"] = first
    ctx.data["second"] = next((kind for kind in heard if kind != first), None)
    return S.CONFIRM_TYPE


def community_names(text: str) -> list[str]:
    """What in the message may name a community (lower case, shortest first)."""
    lowered = text.lower()
    names = [match.group(1) for match in NAMED_COMMUNITY_ZH.finditer(lowered)]
    for match in NAMED_COMMUNITY_EN.finditer(lowered):
        names.append(match.group(1))
        if match.group(2):
            names.append(f"{match.group(1)} {match.group(2)}")
    return sorted(dict.fromkeys(names), key=len)[:MOST_NAMES]


async def remember_named_community(ctx: Ctx, parse: Parse) -> set[str]:
    """A community the message names, matched as a typed name is, to offer at the area question
    (``data["area_named"]``): nothing when no name matches, or when names match different ones.
    Returns the names that matched a community."""
    people = ctx.services.people
    found: dict[int, set[str]] = {}
    for name in community_names(parse.text):
        matches = await people.match_area(name)
        leaves = [area for area in matches if not await people.area_children(area.id)]
        if leaves and (len(leaves) == 1 or leaves[0].name.startswith(name)):
            found.setdefault(leaves[0].id, set()).add(name)
    ctx.data.pop("area_named", None)
    if len(found) != 1:
        return set().union(*found.values())
    (area_id, names), *_ = found.items()
    ctx.data["area_named"] = area_id
    return names


async def described(ctx: Ctx, text: str) -> str:
    return await remember_parse(ctx, await ctx.parse(text))


async def ask_confirm_type(ctx: Ctx) -> None:
    second = ctx.data.get("second")
    ctx.ask(
        "need.confirm_two" if second else "need.confirm_type",
        [*yes_no(ctx), ctx.button("need.button.choose", "choose")],
        per_row=3,
        service=service_label(ctx.data["service_type"]),
        second=service_label(second) if second else "",
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
    return S.AREA_NAMED


async def ask_area_named(ctx: Ctx) -> None:
    """The community the person's words named, to confirm in one tap; the area question otherwise."""
    named = ctx.data.get("area_named")
    area = await ctx.services.people.area(named) if named else None
    if area is None:
        ctx.data.pop("area_named", None)
        await ctx.engine.go(ctx, S.AREA)
        return
    ctx.ask("need.area_named", yes_no(ctx), area=area.label(ctx.lang))


async def on_area_named(ctx: Ctx) -> str | None:
    answer = answer_yes_no(ctx)
    if answer is None:
        ctx.say("input.choose_button")
        return S.AREA_NAMED
    named = ctx.data.pop("area_named", None)
    if not answer or named is None:
        return S.AREA
    ctx.data["area_id"] = named
    return S.SIZE


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
    size = household_size(ctx.text or "")
    if size is not None:
        ctx.data["size"] = size
        return S.SITUATION
    ctx.say("need.size_invalid")
    return S.SIZE


def household_size(text: str) -> int | None:
    """How many people the typed words say live in the household (1 to 99), or None."""
    match = HOUSEHOLD_SIZE.match(text.strip().casefold())
    if match is None:
        return None
    try:
        size = int(cn2an.cn2an(match[1], "smart"))
    except ValueError:
        return None
    return size if 1 <= size <= 99 else None


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
    # Kept with the state before the person can submit: a submission repeated from that state (the
    # one after it was lost) is known by it and opens nothing twice.
    ctx.data.setdefault("submission", secrets.token_hex(8))
    area = await ctx.services.people.area(ctx.data["area_id"])
    tags = tag_labels(ctx)
    ctx.ask(
        "need.summary",
        submit_buttons(ctx, "need.button.submit"),
        service=service_label(ctx.data["service_type"]),
        area=area.label(ctx.lang) if area else "",
        size=ctx.data.get("size") or "-",
        tags=tags or "-",
        contact=f"need.contact.{ctx.data.get('contact', 'none')}",
    )


async def submit_first(ctx: Ctx) -> str | None:
    """The summary submitted: its need's ticket; then whether a worker may answer an anonymous report
    here, or the second need."""
    await submit(ctx, ServiceType(ctx.data["service_type"]))
    if ctx.data.get("anonymous_ticket") and not ctx.data.get("answer_me"):
        return S.ANSWER
    return after_answer(ctx)


def after_answer(ctx: Ctx) -> str | None:
    return S.SECOND if ctx.data.get("second") else END


def report_summary(data: dict[str, Any]) -> str:
    """What the workers' alert says of the need: no words of the person's own but what was heard of
    it (the entities), nothing identifying; read in each worker's language."""
    return ticket_summary(
        summary_part("size", data["size"]) if data.get("size") else "",
        *(summary_part("tag", tag) for tag in data.get("tags", [])),
        " ".join(data.get("entities", [])),
    )


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
            summary=report_summary(ctx.data),
            reporter_id=ctx.person.id,
            anonymous=anonymous,
            household_size=ctx.data.get("size"),
            vulnerability_tags=frozenset(VulnerabilityTag(tag) for tag in ctx.data.get("tags", [])),
            submission_key=_submission_key(ctx, service_type),
            contact=ContactWay(ctx.data["contact"]) if ctx.data.get("contact") else None,
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
    if anonymous and not opened.joined_existing:
        ctx.say("need.submitted_anonymous")
        ctx.data["anonymous_ticket"] = ticket.id
        if ctx.data.get("answer_me"):  # they asked to be answered about the first need already
            await ctx.services.casework.answer_anonymously(ctx.person, ticket.id)


def _submission_key(ctx: Ctx, service_type: ServiceType) -> str | None:
    """This submission's key (one flow can submit one report per service type)."""
    submission = ctx.data.get("submission")
    return f"{submission}:{service_type.value}" if submission else None


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
    begin=begin_with_words(S.DESCRIBE, described),
    steps={
        S.DESCRIBE: text_step("need.describe", "input.need_words", S.DESCRIBE, described, account=True),
        S.CONFIRM_TYPE: Step(ask_confirm_type, on_confirm_type),
        S.CHOOSE_TYPE: service_step(
            S.CHOOSE_TYPE,
            S.AREA_NAMED,
            suggestions="candidates",
            ask="need.choose_type",
            ask_suggested="need.which_of_two",
            other="need.button.something_else",
            chosen=forget_second_need,
        ),
        S.AREA_NAMED: Step(ask_area_named, on_area_named),
        S.AREA: area_step("need.area", S.AREA, S.SIZE),
        S.SIZE: Step(ask_size, on_size),
        S.SITUATION: situation_step("need.situation", S.SITUATION, S.CONTACT),
        S.CONTACT: Step(ask_contact, on_contact),
        S.PHONE: Step(ask_phone, on_phone),
        S.SUMMARY: submit_step(ask_summary, S.SUMMARY, submit_first),
        S.SECOND: Step(ask_second, on_second),
        S.ANSWER: answer_anonymously_step(S.ANSWER, after_answer),
    },
)
