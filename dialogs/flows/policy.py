"""A question about assistance policy: the best knowledge-base answer with its citation and local note,
the other close answers as buttons, "did this help?", and "ask a person" (a policy_advocacy ticket).
When the knowledge base is not sure, it says so and offers a person at once. Diagram: policy.mmd."""

from __future__ import annotations

from enum import StrEnum

from casework.domain import Channel, ConsentPurpose, Role, ServiceType, Urgency
from casework.opening import NewReport
from dialogs.catalog import summary_part, ticket_summary
from dialogs.engine import END, Ctx, Flow, Step
from dialogs.flows.common import answer_anonymously_step, area_step, text_step
from dialogs.messages import rows
from nlu.policy import PolicyAnswer, PolicyEntry
from nlu.types import Intent


class S(StrEnum):
    QUESTION = "question"
    ANSWERED = "answered"
    NOT_HELPED = "not_helped"
    AREA = "area"
    ANSWER = "answer"  # after an anonymous question: may a worker answer here?


def entry_by_id(ctx: Ctx, entry_id: str) -> PolicyEntry | None:
    return next((entry for entry in ctx.services.knowledge.entries if entry.id == entry_id), None)


def question_in(entry: PolicyEntry, language: str) -> str:
    phrasings = entry.questions.get(language) or entry.questions["zh"]
    return phrasings[0]


async def look_up(ctx: Ctx, question: str) -> str:
    """Answer the question from the knowledge base; the state that shows the answer."""
    answer: PolicyAnswer = ctx.services.knowledge.ask(question, ctx.lang)
    # Below the threshold the close answers are guesses: offering them would look like knowing.
    matches = [match.entry.id for match in answer.matches] if answer.confident else []
    ctx.data.update(question=question, matches=matches, shown=matches[0] if matches else None)
    return S.ANSWERED


async def begin(ctx: Ctx) -> str | None:
    question = ctx.data.pop("question", None)
    if question and question.strip():
        return await look_up(ctx, question.strip())
    return S.QUESTION


def other_buttons(ctx: Ctx) -> list[tuple[str, str]]:
    """(label, value) for the matches not on screen: their questions, in the person's language."""
    found = [entry_by_id(ctx, entry_id) for entry_id in ctx.data.get("matches", [])]
    return [
        (question_in(entry, ctx.lang), f"see:{entry.id}")
        for entry in found
        if entry is not None and entry.id != ctx.data.get("shown")
    ]


async def ask_answered(ctx: Ctx) -> None:
    person = ctx.button("policy.button.ask_person", "person")
    entry = entry_by_id(ctx, ctx.data["shown"]) if ctx.data.get("shown") else None
    if entry is None:
        ctx.ask("policy.unsure", [person, ctx.button("policy.button.no_thanks", "done")])
        return
    others = [(ctx.button(label, value, literal=True),) for label, value in other_buttons(ctx)]
    ctx.say(
        "policy.answer",
        answer=entry.answer_in(ctx.lang),
        citation=entry.citation.render(ctx.lang),
        note=entry.note_in(ctx.lang),
    )
    # One message: the answer, then "did this help?" over the close questions (one to a row, their
    # labels are long) and the feedback buttons.
    feedback = rows(
        [ctx.button("policy.button.helped", "helped"), ctx.button("policy.button.not_helped", "not_helped")]
    )
    ctx.say("policy.helped_or_related" if others else "policy.helped", *others, *feedback, (person,))


async def on_answered(ctx: Ctx) -> str | None:
    pressed = ctx.pressed or ""
    if pressed.startswith("see:") and entry_by_id(ctx, pressed.removeprefix("see:")):
        ctx.data["shown"] = pressed.removeprefix("see:")
        return S.ANSWERED
    if pressed == "helped":
        ctx.say("policy.glad")
        return END
    if pressed == "done":
        ctx.say("policy.any_time")
        return END
    if pressed == "not_helped":
        return S.NOT_HELPED
    if pressed == "person":
        return await ask_a_person(ctx)
    if ctx.text:
        return await look_up(ctx, ctx.text)  # another question, typed straight away
    ctx.say("input.choose_button")
    return S.ANSWERED


async def ask_not_helped(ctx: Ctx) -> None:
    ctx.ask(
        "policy.sorry",
        [ctx.button("policy.button.ask_person", "person"), ctx.button("policy.button.no_thanks", "done")],
    )


async def on_not_helped(ctx: Ctx) -> str | None:
    if ctx.pressed == "person":
        return await ask_a_person(ctx)
    if ctx.pressed == "done":
        ctx.say("policy.any_time")
        return END
    if ctx.text:
        return await look_up(ctx, ctx.text)
    ctx.say("input.choose_button")
    return S.NOT_HELPED


async def ask_a_person(ctx: Ctx) -> str | None:
    """A ticket for a worker, in the person's home area; ask where that is when it is not known."""
    if ctx.person.area_ids:
        return await submit(ctx, min(ctx.person.area_ids))
    return S.AREA


async def chose_area(ctx: Ctx, area_id: int) -> str | None:
    if ctx.person.role is Role.RECIPIENT:
        await ctx.services.people.set_home_area(ctx.person.id, area_id)
    return await submit(ctx, area_id)


async def submit(ctx: Ctx, area_id: int) -> str | None:
    """The question as a ticket for a worker; an anonymous asker is then asked whether a worker may
    answer them here."""
    question = ctx.data["question"]
    parse = await ctx.parse(question)
    consents = await ctx.services.people.consents(ctx.person.id)
    anonymous = ConsentPurpose.STORE_REPORT not in consents
    shown = entry_by_id(ctx, ctx.data.get("shown") or "") or next(
        (entry for entry_id in ctx.data.get("matches", []) if (entry := entry_by_id(ctx, entry_id))), None
    )
    # The alert names the topic, never the person's own words.
    summary = ticket_summary(
        summary_part("ask_policy"),
        summary_part("topic", shown.topic) if shown and shown.topic else "",
        *(e.value for e in parse.entities),
    )
    opened = await ctx.services.casework.open_ticket(
        NewReport(
            text=question,
            language=parse.language,
            intent=Intent.ASK_POLICY.value,
            confidence=parse.top.confidence,
            service_type=ServiceType.POLICY_ADVOCACY,
            urgency=Urgency(parse.urgency.value),
            area_id=area_id,
            channel=Channel(ctx.turn.channel),
            summary=summary,
            reporter_id=ctx.person.id,
            anonymous=anonymous,
        )
    )
    ctx.say(
        "policy.person_asked_anonymous" if anonymous else "policy.person_asked",
        reference=opened.ticket.reference,
    )
    if anonymous and not opened.joined_existing:
        ctx.data["anonymous_ticket"] = opened.ticket.id
        return S.ANSWER
    return END


FLOW = Flow(
    name="policy",
    start=S.QUESTION,
    begin=begin,
    steps={
        S.QUESTION: text_step("policy.ask", "policy.ask_words", S.QUESTION, look_up),
        S.ANSWERED: Step(ask_answered, on_answered),
        S.NOT_HELPED: Step(ask_not_helped, on_not_helped),
        S.AREA: area_step("policy.area", S.AREA, END, chose_area),
        S.ANSWER: answer_anonymously_step(S.ANSWER, lambda ctx: END),
    },
)
