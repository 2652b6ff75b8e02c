"""The household assessment, walked question by question in the chat (buttons where the answers are
fixed, a few typed words where not), as ``casework/data/assessment.yml`` lays it out; checked over
at the end and recorded as the household's next version. Diagram: assessment.mmd.

Every question is asked by one state, ``question``; its buttons carry the question they answer, so a
press on an earlier question's button (a double tap) is told apart from an answer to this one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from casework.access import Operation
from casework.assessment_form import Form, Kind, Question
from casework.domain import WORKER_ROLES, ServiceType
from dialogs.catalog import Catalog
from dialogs.engine import END, Ctx, Flow, Step, action_button
from dialogs.flows.common import cancel_button, cancelled, clipped, service_label
from dialogs.flows.worker import open_ticket, politely, view_button, words
from dialogs.messages import Button

SERVICE_TYPES = tuple(ServiceType)


class S(StrEnum):
    QUESTION = "question"
    MEMBERS = "members"  # a group's items so far: add one more, or go on
    CONFIRM = "confirm"


def form(ctx: Ctx) -> Form:
    return ctx.services.casework.case_files.form


async def begin(ctx: Ctx) -> str | None:
    """The case is open and this person holds it; the first question."""
    found = None
    with politely(ctx):
        found = await open_ticket(ctx, int(ctx.data["ticket_id"]), Operation.ASSESS)
    if found is None:
        return END
    ctx.data.update(reference=found.reference, answers={}, at=0)
    reset_question(ctx)
    return state_of(ctx)


def reset_question(ctx: Ctx) -> None:
    """Nothing of the question at hand answered yet."""
    ctx.data.update(sub=0, picked=[], member=None)


def current(ctx: Ctx) -> Question:
    questions: tuple[Question, ...] = form(ctx).questions
    return questions[int(ctx.data["at"])]


def asked(ctx: Ctx) -> tuple[Question, str]:
    """The question being asked, and its key in the catalogs: a group's field while a member is being
    added ("members.age_band"), the question itself otherwise."""
    question = current(ctx)
    if question.kind is Kind.GROUP and ctx.data.get("member") is not None:
        field = question.fields[ctx.data["sub"]]
        return field, f"{question.key}.{field.key}"
    return question, question.key


def state_of(ctx: Ctx) -> str:
    if ctx.data["at"] >= len(form(ctx).questions):
        return S.CONFIRM
    return S.MEMBERS if current(ctx).kind is Kind.GROUP else S.QUESTION


def advance(ctx: Ctx) -> str:
    ctx.data["at"] += 1
    reset_question(ctx)
    return state_of(ctx)


def mark(ctx: Ctx) -> str:
    """What a button of this question carries besides its answer: which question, and which item of it."""
    _, key = asked(ctx)
    return f"{key}#{ctx.data['sub']}"


# --- one question -----------------------------------------------------------------------------------


async def ask_question(ctx: Ctx) -> None:
    question, key = asked(ctx)
    number = ctx.data["at"] + 1
    args: dict[str, Any] = {
        "n": number,
        "of": len(form(ctx).questions),
        "section": f"assessment.section.{current(ctx).section}",
        "question": f"assessment.q.{key}",
        "lock": words(ctx, "casefile.sensitive") if current(ctx).sensitive else "",
        "item": "",
    }
    buttons: list[Button] = []
    tag = mark(ctx)
    if question.kind is Kind.RATINGS:
        args["item"] = words(
            ctx,
            "casefile.assess.rating_of",
            service=words(ctx, service_label(SERVICE_TYPES[ctx.data["sub"]])),
        )
    if question.kind in (Kind.CHOICE, Kind.RATINGS):
        buttons = [
            ctx.button(f"assessment.option.{key}.{option}", f"{tag}={option}") for option in question.options
        ]
    elif question.kind is Kind.MULTI:
        picked = set(ctx.data["picked"])
        buttons = [
            ctx.button(
                "casefile.option_marked",
                f"{tag}={option}",
                mark="✓ " if option in picked else "",
                option=f"assessment.option.{key}.{option}",
            )
            for option in question.options
        ]
        buttons.append(ctx.button("button.done", f"{tag}=!done"))
    if question.optional and question.kind is not Kind.MULTI:
        buttons.append(ctx.button("button.skip", f"{tag}=!skip"))
    buttons.append(cancel_button(ctx))
    text = "casefile.assess.ask_text" if question.kind is Kind.TEXT else "casefile.assess.ask"
    ctx.ask(text, buttons, per_row=1 if question.kind is Kind.MULTI else 2, **args)


async def on_question(ctx: Ctx) -> str | None:
    if cancelled(ctx, "casefile.assess.cancelled"):
        return END
    question, _ = asked(ctx)
    tag, _, answer = (ctx.pressed or "").partition("=")
    if ctx.pressed is not None and tag != mark(ctx):
        ctx.say("button.expired")  # an earlier question's button
        return S.QUESTION
    if answer == "!skip" and question.optional:
        return answered(ctx, None)
    if question.kind is Kind.TEXT:
        if not ctx.text:
            ctx.say("worker.need_words")
            return S.QUESTION
        return answered(ctx, ctx.text)
    if not answer or (answer not in question.options and answer != "!done"):
        ctx.say("input.choose_button")
        return S.QUESTION
    if question.kind is Kind.MULTI:
        if answer != "!done":
            ctx.data["picked"] = sorted(set(ctx.data["picked"]) ^ {answer})
            return S.QUESTION
        if not ctx.data["picked"] and not question.optional:
            ctx.say("casefile.assess.pick_one")
            return S.QUESTION
        return answered(ctx, list(ctx.data["picked"]))
    if question.kind is Kind.RATINGS:
        ratings = ctx.data["answers"].setdefault(question.key, {})
        ratings[SERVICE_TYPES[ctx.data["sub"]].value] = answer
        ctx.data["sub"] += 1
        return S.QUESTION if ctx.data["sub"] < len(SERVICE_TYPES) else advance(ctx)
    return answered(ctx, answer)


def answered(ctx: Ctx, answer: Any) -> str:
    """Keep the answer to the question asked; on to the next question (or the group's next field)."""
    member = ctx.data.get("member")
    if member is None:
        if answer is not None:
            ctx.data["answers"][current(ctx).key] = answer
        return advance(ctx)
    field, _ = asked(ctx)
    if answer is not None:
        member[field.key] = answer
    ctx.data.update(sub=ctx.data["sub"] + 1, picked=[])
    if ctx.data["sub"] < len(current(ctx).fields):
        return S.QUESTION
    ctx.data["answers"].setdefault(current(ctx).key, []).append(member)
    ctx.data.update(sub=0, member=None)
    return S.MEMBERS


# --- a group: one item after another ----------------------------------------------------------------


async def ask_members(ctx: Ctx) -> None:
    group = current(ctx)
    items = ctx.data["answers"].get(group.key, [])
    lines = "\n".join(
        f"{number}. {item_words(ctx, group, item)}" for number, item in enumerate(items, start=1)
    )
    buttons = [ctx.button(f"casefile.assess.add.{group.key}", "add")]
    if items or group.optional:
        buttons.append(ctx.button("casefile.assess.group_done", "done"))
    buttons.append(cancel_button(ctx))
    ctx.ask(
        f"casefile.assess.group.{group.key}",
        buttons,
        n=ctx.data["at"] + 1,
        of=len(form(ctx).questions),
        lock=words(ctx, "casefile.sensitive") if group.sensitive else "",
        items=lines or words(ctx, "casefile.assess.none_yet"),
    )


async def on_members(ctx: Ctx) -> str | None:
    if cancelled(ctx, "casefile.assess.cancelled"):
        return END
    group = current(ctx)
    if ctx.pressed == "add":
        if len(ctx.data["answers"].get(group.key, [])) >= 20:
            ctx.say("casefile.assess.group_full")
            return S.MEMBERS
        ctx.data.update(member={}, sub=0, picked=[])
        return S.QUESTION
    if ctx.pressed == "done" and (ctx.data["answers"].get(group.key) or group.optional):
        return advance(ctx)
    ctx.say("input.choose_button")
    return S.MEMBERS


def item_words(ctx: Ctx, group: Question, item: dict[str, Any]) -> str:
    return member_words(ctx.services.catalog, ctx.lang, group, item)


def member_words(catalog: Catalog, language: str, group: Question, item: dict[str, Any]) -> str:
    """One member, say, in words: each field's answer, in the form's order."""
    parts = []
    for field in group.fields:
        value = item.get(field.key)
        if value:
            parts.append(option_words(catalog, language, f"{group.key}.{field.key}", value))
    return " · ".join(parts)


def option_words(catalog: Catalog, language: str, key: str, value: Any) -> str:
    separator = ", " if language == "en" else "、"
    if isinstance(value, list):
        return separator.join(catalog.text(f"assessment.option.{key}.{option}", language) for option in value)
    return catalog.text(f"assessment.option.{key}.{value}", language)


# --- checked over, and recorded ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answered:
    """One question's answer in words, as the chat and the web console show it."""

    label: str
    words: str
    sensitive: bool


def answers_in_words(
    catalog: Catalog, language: str, the_form: Form, answers: dict[str, Any], *, sensitive: bool = True
) -> list[Answered]:
    """Every answer given, by question, in the form's order; the sensitive ones left out unless
    ``sensitive``."""
    found = []
    for question in the_form.questions:
        value = answers.get(question.key)
        if value in (None, "", [], {}) or (question.sensitive and not sensitive):
            continue
        if question.kind is Kind.GROUP:
            shown = "; ".join(member_words(catalog, language, question, item) for item in value)
        elif question.kind is Kind.RATINGS:
            shown = ", ".join(
                f"{catalog.text(service_label(kind), language)} "
                f"{catalog.text(f'assessment.option.{question.key}.{level}', language)}"
                for kind, level in value.items()
                if level != question.options[0]
            ) or catalog.text(f"assessment.option.{question.key}.{question.options[0]}", language)
        elif question.kind is Kind.TEXT:
            shown = clipped(str(value), 200)
        else:
            shown = option_words(catalog, language, question.key, value)
        found.append(
            Answered(catalog.text(f"assessment.short.{question.key}", language), shown, question.sensitive)
        )
    return found


def answer_lines(ctx: Ctx, the_form: Form, answers: dict[str, Any], *, sensitive: bool = True) -> str:
    """Every answer, a line each, by question; the sensitive ones marked (or left out)."""
    lock = words(ctx, "casefile.sensitive")
    colon = ": " if ctx.lang == "en" else "："
    return "\n".join(
        f"{lock if answered.sensitive else ''}{answered.label}{colon}{answered.words}"
        for answered in answers_in_words(
            ctx.services.catalog, ctx.lang, the_form, answers, sensitive=sensitive
        )
    )


async def ask_confirm(ctx: Ctx) -> None:
    ctx.ask(
        "casefile.assess.confirm",
        [ctx.button("casefile.assess.save", "save"), cancel_button(ctx)],
        reference=ctx.data["reference"],
        answers=answer_lines(ctx, form(ctx), ctx.data["answers"]),
    )


async def on_confirm(ctx: Ctx) -> str | None:
    if cancelled(ctx, "casefile.assess.cancelled"):
        return END
    if ctx.pressed != "save":
        ctx.say("input.choose_button")
        return S.CONFIRM
    with politely(ctx):
        recorded = await ctx.services.casework.record_assessment(
            ctx.person, int(ctx.data["ticket_id"]), ctx.data["answers"]
        )
        ticket_id = int(ctx.data["ticket_id"])
        ctx.say(
            "casefile.assess.saved",
            (
                action_button("casefile.button.file", "file", ticket_id),
                action_button("casefile.button.add_goal", "add_goal", ticket_id),
            ),
            (view_button(ticket_id),),
            reference=ctx.data["reference"],
            version=recorded.version,
        )
    return END


FLOW = Flow(
    name="assessment",
    start=S.QUESTION,
    begin=begin,
    roles=WORKER_ROLES,
    screen_text=False,  # the worker writes about the household, not of themselves
    steps={
        S.QUESTION: Step(ask_question, on_question),
        S.MEMBERS: Step(ask_members, on_members),
        S.CONFIRM: Step(ask_confirm, on_confirm),
    },
)
