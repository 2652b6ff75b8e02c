"""The social workers' and supervisors' side: queues, the case view, and the steps of working a ticket.

Commands list tickets (/queue, /mine, /overdue, /ticket REF). Every step on a ticket is an action
button ("!claim:42") that works outside any flow, from an alert or from the case view; the steps that
need words or a choice (a note, an outcome, a reason, whom to refer or assign to) run the small
"worker" flow, which ends after its one casework call. Diagram: worker.mmd.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any

from casework import lifecycle
from casework.access import Forbidden, Operation, check
from casework.case_file import CaseFile
from casework.conversation import CaseContact
from casework.core import crisis_step_note
from casework.domain import (
    WORKER_ROLES,
    DomainError,
    GoalStatus,
    NotFound,
    Person,
    Role,
    Ticket,
    TicketAction,
    TicketEvent,
    TicketStatus,
)
from casework.follow_ups import escalation_level
from casework.lifecycle import allows
from casework.next_steps import NextStep, Offer, file_offers, offers
from casework.reading import QueueItem, TicketView
from casework.referral import Target
from casework.service import Casework
from casework.supervision import review_readable_by
from dialogs.catalog import Catalog, TicketSummary
from dialogs.engine import END, Action, Command, Ctx, Flow, Step, action_button
from dialogs.flows.common import cancel_button, cancelled, clipped, service_label, tag_words
from dialogs.messages import Button, rows

SUPERVISOR_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
LISTED = 10  # tickets per list: a phone screen, not a report
TRAIL_SHOWN = 5
THREAD_SHOWN = 6
CONVERSATION = frozenset({TicketAction.MESSAGE_SENT, TicketAction.MESSAGE_RECEIVED})
NOT_ON_THE_SHORT_TRAIL = CONVERSATION | {TicketAction.READ}
MESSAGE_SHOWN_CHARS = 500
REPORTS_SHOWN = 3
REPORT_CHARS = 300
NOTE_CHARS = 80
CHOICES = 12  # people or agencies offered as buttons
GOAL_CHANGE = re.compile(r"^#(\d+) (\w+)$")  # a goal's change on the trail (``Goal.change_note``)


class S(StrEnum):
    NOTE_TEXT = "note_text"
    OUTCOME = "outcome"
    CLOSE_REASON = "close_reason"
    REOPEN_REASON = "reopen_reason"
    REFER_TARGET = "refer_target"
    REFER_REASON = "refer_reason"
    DECLINE_REASON = "decline_reason"
    ASSIGN_TARGET = "assign_target"
    MESSAGE_TEXT = "message_text"
    TELL_PERSON = "tell_person"  # what the person hears of the outcome
    VISIT_TIME = "visit_time"  # a home visit's time to propose to the person


class Task(StrEnum):
    """What the flow was started for; ``begin`` turns it into the first state."""

    NOTE = "note"
    RESOLVE = "resolve"
    COMPLETE = "complete"  # resolve by completing the referral that brought the case here
    CLOSE = "close"
    REOPEN = "reopen"
    REFER = "refer"
    DECLINE = "decline"
    ASSIGN = "assign"
    MESSAGE = "message"  # words to the person, through the bot
    PROPOSE_VISIT = "propose_visit"  # a home visit's time, for the person to confirm
    REFER_GOAL = "refer_goal"  # to the agency a goal of the plan is for (``target``, ``goal_id`` given)


FIRST_STATE: dict[str, str] = {
    Task.NOTE: S.NOTE_TEXT,
    Task.RESOLVE: S.OUTCOME,
    Task.COMPLETE: S.OUTCOME,
    Task.CLOSE: S.CLOSE_REASON,
    Task.REOPEN: S.REOPEN_REASON,
    Task.REFER: S.REFER_TARGET,
    Task.DECLINE: S.DECLINE_REASON,
    Task.ASSIGN: S.ASSIGN_TARGET,
    Task.MESSAGE: S.MESSAGE_TEXT,
    Task.PROPOSE_VISIT: S.VISIT_TIME,
    Task.REFER_GOAL: S.REFER_REASON,
}


# --- small pieces ---------------------------------------------------------------------------------


@contextmanager
def politely(ctx: Ctx) -> Iterator[None]:
    """Refusals met in ordinary work, said in the worker's language: a case not theirs or gone in a
    word of the worker flow's own, any other as its refusal says it."""
    try:
        yield
    except Forbidden:
        ctx.say("worker.forbidden")
    except NotFound:
        ctx.say("worker.gone")
    except DomainError as error:
        ctx.replies.append(ctx.services.catalog.refusal_reply(error))


def words(ctx: Ctx, key: str, **args: Any) -> str:
    """A catalog text in the person's language, for lines assembled into one message."""
    return ctx.services.catalog.text(key, ctx.lang, **args)


def person_name(person: Person) -> str:
    return person.display_name or f"#{person.id}"


def moment(ctx: Ctx, when: datetime | None) -> str:
    if when is None:
        return "-"
    return when.astimezone(ctx.services.casework.timezone).strftime("%m-%d %H:%M")


def subject_id(argument: str) -> int | None:
    try:
        return int(argument)
    except ValueError:
        return None


async def area_chain(ctx: Ctx, area_id: int) -> list[int]:
    """The area and every area above it, as access checks want it."""
    chain: list[int] = []
    area = await ctx.services.people.area(area_id)
    while area is not None and area.id not in chain:
        chain.append(area.id)
        area = await ctx.services.people.area(area.parent_id) if area.parent_id is not None else None
    return chain


async def checked_ticket(ctx: Ctx, ticket_id: int, operation: Operation) -> Ticket:
    """The ticket, if this person may do ``operation`` on it (else ``Forbidden``); nothing is audited."""
    ticket = await ctx.services.casework.status(ctx.person, ticket_id)
    check(ctx.person, operation, ticket, await area_chain(ctx, ticket.area_id))
    return ticket


async def open_ticket(ctx: Ctx, ticket_id: int, operation: Operation) -> Ticket | None:
    """The ticket, as ``checked_ticket``, while it is open; else the person is told, and None."""
    found = await checked_ticket(ctx, ticket_id, operation)
    if not found.is_open:
        ctx.say("worker.not_open", reference=found.reference, status=f"worker.status.{found.status.value}")
        return None
    return found


async def reference_of(ctx: Ctx, ticket_id: int) -> str:
    try:
        return (await ctx.services.casework.status(ctx.person, ticket_id)).reference
    except DomainError:
        return "-"


def view_button(ticket_id: int) -> Button:
    return action_button("alert.button.view", "view", ticket_id)


# --- whom a ticket can go to ----------------------------------------------------------------------


def _choices(targets: list[Target]) -> list[dict[str, Any]]:
    return [{"kind": t.kind, "id": t.id, "name": t.name, "load": t.load} for t in targets[:CHOICES]]


async def referral_targets(casework: Casework, actor: Person, ticket: Ticket) -> list[dict[str, Any]]:
    return _choices(await casework.referral_targets(actor, ticket.id, limit=CHOICES))


async def referral_under_way(casework: Casework, ticket: Ticket) -> bool:
    return await casework.referral_under_way(ticket.id)


async def assignable_workers(casework: Casework, actor: Person, ticket: Ticket) -> list[dict[str, Any]]:
    return _choices(await casework.assignable_workers(actor, ticket.id, limit=CHOICES))


# --- lists ----------------------------------------------------------------------------------------


def say_list(ctx: Ctx, key: str, items: list[QueueItem], *, line: str = "worker.line.queue") -> None:
    if not items:
        ctx.say(f"{key}.empty")
        return
    shown = items[:LISTED]
    lines = [
        words(
            ctx,
            line,
            n=number,
            reference=item.ticket.reference,
            sla=words(ctx, f"worker.sla.{item.sla.value}"),
            service=words(ctx, service_label(item.ticket.service_type)),
            urgency=words(ctx, f"urgency.{item.ticket.urgency.value}"),
            status=words(ctx, f"worker.status.{item.ticket.status.value}"),
            area=item.area.label(ctx.lang),
        )
        for number, item in enumerate(shown, start=1)
    ]
    if len(items) > LISTED:
        lines.append(words(ctx, "worker.list.more", rest=len(items) - LISTED))
    buttons = [
        action_button("worker.button.open_n", "view", item.ticket.id, n=number)
        for number, item in enumerate(shown, start=1)
    ]
    ctx.say(key, *rows(buttons, 5), total=len(items), lines="\n".join(lines))


def for_workers(command: Command) -> Command:
    async def guarded(ctx: Ctx, argument: str) -> None:
        if ctx.person.role not in WORKER_ROLES:
            ctx.say("worker.only_workers")
            return
        with politely(ctx):
            await command(ctx, argument)

    return guarded


async def queue(ctx: Ctx, argument: str) -> None:
    say_list(ctx, "worker.queue", await ctx.services.casework.queue(ctx.person))


async def mine(ctx: Ctx, argument: str) -> None:
    say_list(ctx, "worker.mine", await ctx.services.casework.mine(ctx.person), line="worker.line.mine")


async def overdue(ctx: Ctx, argument: str) -> None:
    if ctx.person.role not in SUPERVISOR_ROLES:
        ctx.say("worker.only_supervisors")
        return
    say_list(ctx, "worker.overdue", await ctx.services.casework.queue(ctx.person, only_overdue=True))


async def ticket(ctx: Ctx, argument: str) -> None:
    reference = argument.strip().upper()
    if not reference:
        ctx.say("worker.ticket.usage")
        return
    try:  # a case this person may not read is answered as one that does not exist
        found = await ctx.services.casework.readable_by_reference(ctx.person, reference)
    except NotFound:
        ctx.say("worker.ticket.unknown", reference=reference[:40])
        return
    await show(ctx, found.id)


# --- the case view --------------------------------------------------------------------------------


async def show(ctx: Ctx, ticket_id: int) -> None:
    """The worker's case view (the read is audited by casework) and the steps this person may take."""
    casework = ctx.services.casework
    view = await casework.view(ctx.person, ticket_id)
    ticket = view.ticket
    sla = casework.policy.state(ticket, ctx.services.clock.now())  # against its deadlines, as read
    if view.assignee is not None:
        holder = person_name(view.assignee)
    elif view.organisation is not None:
        holder = view.organisation.name
    else:
        holder = words(ctx, "worker.view.nobody")
    reports = [
        "• " + clipped(report.text, REPORT_CHARS)
        for report in view.reports[-REPORTS_SHOWN:]
        if report.text.strip()
    ]
    contact = await case_contact(ctx, ticket)
    the_file = await case_file(ctx, ticket)
    ctx.say(
        "worker.view",
        *rows(next_steps(ctx, view, contact, the_file), 3),
        reference=ticket.reference,
        status=f"worker.status.{ticket.status.value}",
        service=service_label(ticket.service_type),
        urgency=f"urgency.{ticket.urgency.value}",
        sla=f"worker.sla.{sla.value}",
        area=" / ".join(area.label(ctx.lang) for area in view.area_path),
        holder=holder,
        deadline=deadline(ctx, ticket),
        summary=TicketSummary(ticket.summary) if ticket.summary else "-",
        reports="\n".join(reports) or "-",
        contact=contact_lines(ctx, contact),
        file=words(ctx, "worker.view.file", summary=file_summary(ctx, the_file)) if the_file else "",
        supervision=supervision_line(ctx, view),
        thread=await thread_lines(ctx, view),
        trail=await trail(ctx, view),
    )


def supervision_line(ctx: Ctx, view: TicketView) -> str:
    """The latest supervision review of the case, for the worker who had it and for supervisors (a
    review is about the worker's work: not for the area's other workers)."""
    if not view.supervision or not review_readable_by(ctx.person, view.ticket):
        return ""
    latest = view.supervision[-1]
    return words(
        ctx,
        "worker.view.supervision",
        score=latest.score,
        on=moment(ctx, latest.created_at),
        comment=latest.comment or "-",
    )


async def case_contact(ctx: Ctx, ticket: Ticket) -> CaseContact | None:
    """How to reach the person, when this person may know it (the case's holder, a supervisor)."""
    try:
        return await ctx.services.casework.case_contact(ctx.person, ticket.id)
    except Forbidden:
        return None


async def case_file(ctx: Ctx, ticket: Ticket) -> CaseFile | None:
    """The household's case file, when there is one and this person may read it."""
    if ticket.household_id is None:
        return None
    try:
        return await ctx.services.casework.case_file(ctx.person, ticket.id)
    except Forbidden:
        return None


def file_summary(ctx: Ctx, the_file: CaseFile) -> str:
    """The file in a line, for the case view and the claim (``file_line``)."""
    return file_line(ctx.services.catalog, ctx.lang, ctx.services.casework.timezone, the_file)


def file_line(catalog: Catalog, language: str, timezone: tzinfo, the_file: CaseFile) -> str:
    """The file in a line: the assessment, the plan, what falls due."""

    def moment_of(when: datetime) -> str:
        return when.astimezone(timezone).strftime("%m-%d %H:%M")

    parts = []
    latest = the_file.latest
    if latest is not None:
        risk = catalog.text(f"assessment.option.risk_level.{latest.risk}", language)
        parts.append(
            catalog.text(
                "casefile.summary.assessed",
                language,
                version=latest.version,
                when=moment_of(latest.recorded_at),
                risk=risk,
            )
        )
    else:
        parts.append(catalog.text("casefile.summary.not_assessed", language))
    if the_file.goals:
        achieved = sum(goal.status is GoalStatus.ACHIEVED for goal in the_file.goals)
        parts.append(
            catalog.text("casefile.summary.goals", language, n=len(the_file.goals), achieved=achieved)
        )
    if the_file.next_review_on is not None:
        parts.append(
            catalog.text("casefile.summary.review", language, on=the_file.next_review_on.isoformat())
        )
    if the_file.reassess_by is not None:
        key = (
            "casefile.summary.reassess_crisis"
            if the_file.reassess_for_crisis
            else "casefile.summary.reassess"
        )
        parts.append(catalog.text(key, language, on=moment_of(the_file.reassess_by)))
    return " · ".join(parts)


# The button each step offered on a case shows: its words and the action it presses.
STEP_BUTTONS: Mapping[NextStep, tuple[str, str]] = {
    NextStep.ACCEPT_REFERRAL: ("alert.button.accept", "accept_referral"),
    NextStep.DECLINE_REFERRAL: ("alert.button.decline", "decline_referral"),
    NextStep.CLAIM: ("alert.button.claim", "claim"),
    NextStep.NOTE: ("worker.button.note", "note"),
    NextStep.VISITED: ("alert.button.visited", "visited"),
    NextStep.PROPOSE_VISIT: ("worker.button.propose_visit", "propose_visit"),
    NextStep.REFER: ("alert.button.refer", "refer"),
    NextStep.COMPLETE: ("worker.button.resolve", "complete"),
    NextStep.RESOLVE: ("worker.button.resolve", "resolve"),
    NextStep.CLOSE: ("alert.button.close", "close"),
    NextStep.REOPEN: ("worker.button.reopen", "reopen"),
    NextStep.ASSIGN: ("worker.button.assign", "assign"),
    NextStep.SUPERVISE: ("supervision.button", "supervise"),
    NextStep.MESSAGE: ("worker.button.message", "message"),
    NextStep.SHOW_PHONE: ("worker.button.show_phone", "phone"),
    NextStep.FILE: ("casefile.button.file", "file"),
    NextStep.ASSESS: ("casefile.button.assess", "assess"),
    NextStep.ADD_GOAL: ("casefile.button.add_goal", "add_goal"),
    NextStep.REVIEW: ("casefile.button.review", "review"),
}


def step_buttons(found: list[Offer]) -> list[Button]:
    return [action_button(*STEP_BUTTONS[offer.step], offer.subject_id) for offer in found]


def file_steps(ctx: Ctx, ticket: Ticket, chain: list[int], the_file: CaseFile | None) -> list[Button]:
    """What this person may record to the household's file now (``next_steps.file_offers``)."""
    open_goals = the_file is not None and bool(the_file.open_goals)
    return step_buttons(file_offers(ctx.person, ticket, chain, open_goals=open_goals))


def contact_lines(ctx: Ctx, contact: CaseContact | None) -> str:
    """The view's lines on reaching the person: the way they chose, the phone masked, the household."""
    if contact is None:
        return ""
    lines = [words(ctx, "worker.contact.title")]
    if not contact.reachable:
        lines.append(words(ctx, "worker.contact.unreachable"))
    elif contact.anonymous:
        lines.append(words(ctx, "worker.contact.anonymous"))
    elif not contact.consented:
        lines.append(words(ctx, "worker.contact.no_consent"))
    else:
        way = words(ctx, f"worker.contact.way.{contact.way.value if contact.way else 'unknown'}")
        phone = (
            words(ctx, "worker.contact.phone", phone=contact.phone_masked)
            if contact.phone_masked
            else words(ctx, "worker.contact.no_phone")
        )
        lines.append(f"{way} · {phone}")
    household = contact.household
    if household is not None and household.address:
        lines.append(words(ctx, "worker.contact.address", address=household.address))
    if household is not None and (household.size or household.vulnerability_tags):
        size = words(ctx, "worker.contact.size", n=household.size) if household.size else ""
        tags = tag_words(ctx, sorted(household.vulnerability_tags))
        lines.append(
            words(ctx, "worker.contact.household", size=size, tags=f" · {tags}" if size and tags else tags)
        )
    return "\n" + "\n".join(lines)


async def thread_lines(ctx: Ctx, view: TicketView) -> str:
    """The last messages between the workers and the person, in full but for very long ones."""
    messages = [event for event in view.events if event.action in CONVERSATION][-THREAD_SHOWN:]
    if not messages:
        return ""
    lines = [words(ctx, "worker.thread.title")]
    for event in messages:
        text = clipped(event.note or "", MESSAGE_SHOWN_CHARS)
        if event.action is TicketAction.MESSAGE_RECEIVED:
            lines.append(
                words(ctx, "worker.thread.from_person", when=moment(ctx, event.created_at), words=text)
            )
        else:
            who = await actor_name(ctx, event.actor_id)
            lines.append(
                words(ctx, "worker.thread.to_person", when=moment(ctx, event.created_at), who=who, words=text)
            )
    return "\n" + "\n".join(lines)


async def actor_name(ctx: Ctx, person_id: int | None) -> str:
    if person_id is None:
        return words(ctx, "worker.trail.system")
    try:
        return person_name(await ctx.services.people.get(person_id))
    except NotFound:
        return f"#{person_id}"


def deadline(ctx: Ctx, ticket: Ticket) -> str:
    """The deadline the ticket is measured against: claiming until someone holds it, then resolving."""
    if ticket.assignee_id is None and ticket.organisation_id is None and ticket.is_open:
        return words(ctx, "worker.view.claim_by", at=moment(ctx, ticket.claim_deadline))
    return words(ctx, "worker.view.resolve_by", at=moment(ctx, ticket.resolve_deadline))


async def trail(ctx: Ctx, view: TicketView) -> str:
    """The last few things done to the ticket; reads are left out (every view adds one), and so are the
    messages (the view shows them as a thread)."""
    events = [event for event in view.events if event.action not in NOT_ON_THE_SHORT_TRAIL][-TRAIL_SHOWN:]
    names: dict[int | None, str] = {}
    lines = []
    for event in events:
        if event.actor_id not in names:
            names[event.actor_id] = await actor_name(ctx, event.actor_id)
        who = names[event.actor_id]
        label = f"worker.event.{event.action}"
        note = trail_note(ctx.services.catalog, ctx.lang, event)
        lines.append(
            words(
                ctx,
                "worker.trail.line",
                when=moment(ctx, event.created_at),
                action=words(ctx, label) if ctx.services.catalog.has(label) else event.action,
                who=who,
                note=words(ctx, "worker.trail.note", note=note[:NOTE_CHARS]) if note else "",
            )
        )
    return "\n".join(lines) or words(ctx, "worker.view.no_trail")


def trail_note(catalog: Catalog, language: str, event: TicketEvent) -> str:
    """What the trail shows beside an event: what was written, but what the casework recorded in its
    own terms (an escalation's round, a crisis alert's step, an urgency) in words."""
    note = event.note or ""
    if event.action in (TicketAction.ASSIGNED, TicketAction.REASSIGNED):
        return ""  # "to #12": the assignee line says who
    if event.action is TicketAction.URGENCY_RAISED and catalog.has(f"urgency.{note}"):
        return catalog.text(f"urgency.{note}", language)
    if event.action is TicketAction.GOAL_CHANGED and (changed := GOAL_CHANGE.match(note)):
        status = f"casefile.goal.{changed.group(2)}"
        if catalog.has(status):
            return catalog.text(
                "worker.trail.goal_changed",
                language,
                number=changed.group(1),
                status=catalog.text(status, language),
            )
    level = escalation_level(event)
    if level is not None:
        return catalog.text("worker.trail.escalation", language, round=level)
    step = crisis_step_note(event)
    if step is not None:
        return catalog.text(
            "worker.trail.crisis_step",
            language,
            round=step.step + 1,
            reach=catalog.text(f"worker.trail.reach.{step.reach.value}", language),
            where=f" · {step.area}" if step.area else "",
            alerted=step.alerted,
        )
    return note


def next_steps(
    ctx: Ctx, view: TicketView, contact: CaseContact | None = None, the_file: CaseFile | None = None
) -> list[Button]:
    """Buttons for what this person may do next (``casework.next_steps``)."""
    found = offers(
        ctx.person,
        view,
        contact,
        file_kept=the_file is not None and not the_file.empty,
        open_goals=the_file is not None and bool(the_file.open_goals),
    )
    return step_buttons(found)


# --- actions: the buttons on alerts and on the case view ------------------------------------------


def worker_action(handle: Callable[[Ctx, int], Awaitable[None]]) -> Action:
    """An action for enrolled workers whose argument is an id (of a ticket, or of a referral)."""

    async def action(ctx: Ctx, argument: str) -> None:
        if ctx.person.role not in WORKER_ROLES:
            ctx.say("worker.only_workers")
            return
        subject = subject_id(argument)
        if subject is None:
            ctx.say("button.expired")
            return
        with politely(ctx):
            await handle(ctx, subject)

    return action


async def start(ctx: Ctx, task: Task, **data: Any) -> None:
    await ctx.start("worker", {"task": task.value, **data})


async def claim(ctx: Ctx, ticket_id: int) -> None:
    if ctx.person.role is not Role.SOCIAL_WORKER:
        ctx.say("worker.claim.supervisors_assign", (view_button(ticket_id),))
        return
    claimed = await ctx.services.casework.claim(ctx.person, ticket_id)  # refused if someone has it
    visit = claimed.needs_home_visit and claimed.visited_at is None
    ctx.say(
        "worker.claim.done_visit" if visit else "worker.claim.done",
        (
            view_button(claimed.id),
            action_button("worker.button.note", "note", claimed.id),
            action_button("worker.button.message", "message", claimed.id),
        ),
        reference=claimed.reference,
    )
    the_file = await case_file(ctx, claimed)
    if the_file is not None and not the_file.empty:  # the household is known: its file carries on
        ctx.say(
            "worker.claim.has_file",
            (action_button("casefile.button.file", "file", claimed.id),),
            summary=file_summary(ctx, the_file),
        )


async def view(ctx: Ctx, ticket_id: int) -> None:
    await show(ctx, ticket_id)


async def on_it(ctx: Ctx, ticket_id: int) -> None:
    """ "I'm on it" on a crisis alert: the alerts stop climbing; a worker may claim it from here."""
    done = await ctx.services.casework.acknowledge(ctx.person, ticket_id)
    buttons = [view_button(ticket_id)]
    if ctx.person.role is Role.SOCIAL_WORKER and done.ticket.assignee_id is None:
        buttons.insert(0, action_button("alert.button.claim", "claim", ticket_id))
    if done.first:
        ctx.say("worker.on_it.done", buttons, reference=done.ticket.reference)
    else:
        ctx.say("worker.on_it.already", buttons, reference=done.ticket.reference, holder=done.by)


def on_open_ticket(operation: Operation, task: Task) -> Callable[[Ctx, int], Awaitable[None]]:
    """An action that starts ``task`` on a ticket while it is open (and this person may do
    ``operation`` on it): a note, or a home visit's time, to be asked for next."""

    async def action(ctx: Ctx, ticket_id: int) -> None:
        found = await open_ticket(ctx, ticket_id, operation)
        if found is not None:
            await start(ctx, task, ticket_id=found.id, reference=found.reference)

    return action


async def visited(ctx: Ctx, ticket_id: int) -> None:
    updated = await ctx.services.casework.record_visit(ctx.person, ticket_id)
    ctx.say("worker.visited.saved", (view_button(updated.id),), reference=updated.reference)


async def refer(ctx: Ctx, ticket_id: int) -> None:
    found = await open_ticket(ctx, ticket_id, Operation.REFER)
    if found is None:
        return
    if await referral_under_way(ctx.services.casework, found):
        ctx.say("worker.refer.under_way", reference=found.reference)
        return
    targets = await referral_targets(ctx.services.casework, ctx.person, found)
    if not targets:
        ctx.say("worker.refer.nobody")
        return
    await start(ctx, Task.REFER, ticket_id=found.id, reference=found.reference, targets=targets)


async def resolve(ctx: Ctx, ticket_id: int) -> None:
    found = await checked_ticket(ctx, ticket_id, Operation.RESOLVE)
    if not allows(lifecycle.Step.RESOLVE, found, ctx.person):
        status = f"worker.status.{found.status.value}"
        ctx.say("worker.resolve.not_now", reference=found.reference, status=status)
        return
    await start(ctx, Task.RESOLVE, ticket_id=found.id, reference=found.reference)


async def complete(ctx: Ctx, referral_id: int) -> None:
    await ctx.services.casework.referral_for(ctx.person, referral_id, Operation.COMPLETE_REFERRAL)
    await start(ctx, Task.COMPLETE, referral_id=referral_id)


async def close(ctx: Ctx, ticket_id: int) -> None:
    found = await checked_ticket(ctx, ticket_id, Operation.CLOSE)
    if found.status is TicketStatus.CLOSED:
        ctx.say("worker.close.already", reference=found.reference)
    elif found.status is TicketStatus.RESOLVED:
        closed = await ctx.services.casework.close(ctx.person, found.id)
        ctx.say("worker.close.done", reference=closed.reference)
    elif allows(lifecycle.Step.CLOSE, found, ctx.person):
        # Closing an unresolved ticket (a duplicate, say) is a supervisor's call, and it says why.
        await start(ctx, Task.CLOSE, ticket_id=found.id, reference=found.reference)
    else:
        ctx.say("worker.close.resolve_first", reference=found.reference)


async def reopen(ctx: Ctx, ticket_id: int) -> None:
    found = await checked_ticket(ctx, ticket_id, Operation.REOPEN)
    if not allows(lifecycle.Step.REOPEN, found, ctx.person):
        ctx.say("worker.reopen.still_open", reference=found.reference)
        return
    await start(ctx, Task.REOPEN, ticket_id=found.id, reference=found.reference)


async def assign(ctx: Ctx, ticket_id: int) -> None:
    if ctx.person.role not in SUPERVISOR_ROLES:
        ctx.say("worker.only_supervisors")
        return
    found = await open_ticket(ctx, ticket_id, Operation.ASSIGN)
    if found is None:
        return
    workers = await assignable_workers(ctx.services.casework, ctx.person, found)
    if not workers:
        ctx.say("worker.assign.nobody")
        return
    await start(ctx, Task.ASSIGN, ticket_id=found.id, reference=found.reference, targets=workers)


async def accept_referral(ctx: Ctx, referral_id: int) -> None:
    referral = await ctx.services.casework.respond_to_referral(ctx.person, referral_id, accept=True)
    key = "worker.referral.accepted_agency" if referral.to_person_id is None else "worker.referral.accepted"
    ctx.say(
        key,
        (view_button(referral.ticket_id),),
        reference=await reference_of(ctx, referral.ticket_id),
    )


async def message(ctx: Ctx, ticket_id: int) -> None:
    """Write to the person through the bot: the words are asked for next."""
    found = await checked_ticket(ctx, ticket_id, Operation.MESSAGE)
    contact = await case_contact(ctx, found)
    if found.status is TicketStatus.CLOSED:
        ctx.say("refusal.message.case_closed", reference=found.reference)
        return
    if contact is None or not contact.reachable:
        ctx.say("refusal.message.nobody", reference=found.reference)
        return
    await start(ctx, Task.MESSAGE, ticket_id=found.id, reference=found.reference)


async def phone(ctx: Ctx, ticket_id: int) -> None:
    """The person's phone number in full (the showing is on the trail)."""
    number = await ctx.services.casework.show_phone(ctx.person, ticket_id)
    ctx.say("worker.phone.shown", reference=await reference_of(ctx, ticket_id), phone=number)


async def decline_referral(ctx: Ctx, referral_id: int) -> None:
    # Refuse before asking for a reason, not after it was written.
    await ctx.services.casework.referral_for(ctx.person, referral_id, Operation.RESPOND_REFERRAL)
    await start(ctx, Task.DECLINE, referral_id=referral_id)


# --- the flow: the words or the choice a step needs -----------------------------------------------


def begin_task(first_state: Mapping[str, str]) -> Callable[[Ctx], Awaitable[str | None]]:
    """A flow's ``begin`` that starts at the state its task (``data["task"]``) begins with."""

    async def begin(ctx: Ctx) -> str | None:
        state = first_state.get(str(ctx.data.get("task", "")))
        if state is None:
            ctx.say("flow.lost")
            return END
        return state

    return begin


def words_step(key: str, state: S, act: Callable[[Ctx, str], Awaitable[None]]) -> Step:
    """A state that asks for a few words (a note, an outcome, a reason) and does one thing with them."""

    async def prompt(ctx: Ctx) -> None:
        target = ctx.data.get("target") or {}
        ctx.ask(
            key, [cancel_button(ctx)], reference=ctx.data.get("reference", ""), name=target.get("name", "")
        )

    async def handle(ctx: Ctx) -> str | None:
        if cancelled(ctx):
            return END
        if not ctx.text:
            ctx.say("worker.need_words")
            return state
        with politely(ctx):
            await act(ctx, ctx.text)
        return END

    return Step(prompt, handle)


async def add_note(ctx: Ctx, text: str) -> None:
    await ctx.services.casework.add_note(ctx.person, ctx.data["ticket_id"], text)
    ctx.say("worker.note.saved", reference=ctx.data["reference"])


async def send_visit_proposal(ctx: Ctx, text: str) -> None:
    proposed = await ctx.services.casework.propose_visit(ctx.person, ctx.data["ticket_id"], text)
    ctx.say("worker.visit.proposed", (view_button(proposed.id),), reference=proposed.reference)


async def send_message(ctx: Ctx, text: str) -> None:
    sent = await ctx.services.casework.message_person(ctx.person, ctx.data["ticket_id"], text)
    ctx.say("worker.message.sent", (view_button(sent.id),), reference=sent.reference)


async def ask_outcome(ctx: Ctx) -> None:
    ctx.ask("worker.resolve.ask", [cancel_button(ctx)], reference=ctx.data.get("reference", ""))


async def on_outcome(ctx: Ctx) -> str | None:
    """The outcome for the record; then, when the bot can reach the person, what they are told."""
    if cancelled(ctx):
        return END
    if not ctx.text:
        ctx.say("worker.need_words")
        return S.OUTCOME
    ctx.data["outcome"] = ctx.text
    casework = ctx.services.casework
    with politely(ctx):
        if "referral_id" in ctx.data:  # by referral: completing it tells the referrer, who words the rest
            completed = await casework.complete_referral(ctx.person, ctx.data["referral_id"], ctx.text)
            resolved_done(
                ctx, "worker.resolve.done", completed.ticket_id, await reference_of(ctx, completed.ticket_id)
            )
            return END
        found = await checked_ticket(ctx, ctx.data["ticket_id"], Operation.RESOLVE)
        contact = await case_contact(ctx, found)
        if contact is not None and contact.reachable:
            return S.TELL_PERSON
        resolved = await casework.resolve(ctx.person, found.id, ctx.text)
        resolved_done(ctx, "worker.resolve.done_nobody", resolved.id, resolved.reference)
    return END


async def ask_tell_person(ctx: Ctx) -> None:
    ctx.ask(
        "worker.resolve.tell_ask",
        [
            ctx.button("worker.resolve.tell_same", "same"),
            ctx.button("worker.resolve.tell_nothing", "nothing"),
            cancel_button(ctx),
        ],
        per_row=1,
    )


async def on_tell_person(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    if ctx.pressed == "same":
        words = ctx.data["outcome"]
    elif ctx.pressed == "nothing":
        words = ""
    elif ctx.text:
        words = ctx.text
    else:
        ctx.say("input.choose_button")
        return S.TELL_PERSON
    with politely(ctx):
        resolved = await ctx.services.casework.resolve(
            ctx.person, ctx.data["ticket_id"], ctx.data["outcome"], tell_person=words
        )
        resolved_done(
            ctx,
            "worker.resolve.done_told" if words else "worker.resolve.done",
            resolved.id,
            resolved.reference,
        )
    return END


def resolved_done(ctx: Ctx, key: str, ticket_id: int, reference: str) -> None:
    ctx.say(
        key,
        (view_button(ticket_id), action_button("alert.button.close", "close", ticket_id)),
        reference=reference,
    )


async def close_unresolved(ctx: Ctx, text: str) -> None:
    closed = await ctx.services.casework.close(ctx.person, ctx.data["ticket_id"], text)
    ctx.say("worker.close.done", reference=closed.reference)


async def reopen_with_reason(ctx: Ctx, text: str) -> None:
    reopened = await ctx.services.casework.reopen(ctx.person, ctx.data["ticket_id"], text)
    ctx.say("worker.reopen.done", (view_button(reopened.id),), reference=reopened.reference)


async def send_referral(ctx: Ctx, text: str) -> None:
    target = ctx.data["target"]
    await ctx.services.casework.refer(
        ctx.person,
        ctx.data["ticket_id"],
        reason=text,
        to_person_id=target["id"] if target["kind"] == "person" else None,
        to_organisation_id=target["id"] if target["kind"] == "agency" else None,
        goal_id=ctx.data.get("goal_id"),
    )
    ctx.say("worker.refer.sent", reference=ctx.data["reference"], name=target["name"])


async def decline_with_reason(ctx: Ctx, text: str) -> None:
    referral = await ctx.services.casework.respond_to_referral(
        ctx.person, ctx.data["referral_id"], accept=False, reason=text
    )
    ctx.say("worker.referral.declined", reference=await reference_of(ctx, referral.ticket_id))


def target_buttons(ctx: Ctx, kind_label: dict[str, str]) -> list[Button]:
    return [
        ctx.button(kind_label[target["kind"]], f"target:{index}", name=target["name"], load=target["load"])
        for index, target in enumerate(ctx.data.get("targets", []))
    ]


def chosen_target(ctx: Ctx) -> dict[str, Any] | None:
    """The target whose button was pressed; None when none was (and the person asked to choose)."""
    pressed = ctx.pressed or ""
    targets: list[dict[str, Any]] = ctx.data.get("targets", [])
    if pressed.startswith("target:"):
        index = subject_id(pressed.removeprefix("target:"))
        if index is not None and 0 <= index < len(targets):
            return targets[index]
    ctx.say("input.choose_button")
    return None


async def ask_refer_target(ctx: Ctx) -> None:
    buttons = target_buttons(ctx, {"person": "worker.refer.person", "agency": "worker.refer.agency"})
    ctx.ask("worker.refer.choose", [*buttons, cancel_button(ctx)], per_row=1, reference=ctx.data["reference"])


async def on_refer_target(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    target = chosen_target(ctx)
    if target is None:
        return S.REFER_TARGET
    ctx.data["target"] = target
    return S.REFER_REASON


async def ask_assign_target(ctx: Ctx) -> None:
    buttons = target_buttons(ctx, {"person": "worker.assign.person"})
    ctx.ask(
        "worker.assign.choose", [*buttons, cancel_button(ctx)], per_row=1, reference=ctx.data["reference"]
    )


async def on_assign_target(ctx: Ctx) -> str | None:
    if cancelled(ctx):
        return END
    target = chosen_target(ctx)
    if target is None:
        return S.ASSIGN_TARGET
    with politely(ctx):
        assigned = await ctx.services.casework.assign(ctx.person, ctx.data["ticket_id"], target["id"])
        ctx.say("worker.assign.done", reference=assigned.reference, name=target["name"])
    return END


FLOW = Flow(
    name="worker",
    start=S.NOTE_TEXT,
    begin=begin_task(FIRST_STATE),
    roles=WORKER_ROLES,
    screen_text=False,
    steps={
        S.NOTE_TEXT: words_step("worker.note.ask", S.NOTE_TEXT, add_note),
        S.OUTCOME: Step(ask_outcome, on_outcome),
        S.TELL_PERSON: Step(ask_tell_person, on_tell_person),
        S.CLOSE_REASON: words_step("worker.close.ask_reason", S.CLOSE_REASON, close_unresolved),
        S.REOPEN_REASON: words_step("worker.reopen.ask", S.REOPEN_REASON, reopen_with_reason),
        S.REFER_TARGET: Step(ask_refer_target, on_refer_target),
        S.REFER_REASON: words_step("worker.refer.ask_reason", S.REFER_REASON, send_referral),
        S.DECLINE_REASON: words_step("worker.referral.ask_reason", S.DECLINE_REASON, decline_with_reason),
        S.ASSIGN_TARGET: Step(ask_assign_target, on_assign_target),
        S.MESSAGE_TEXT: words_step("worker.message.ask", S.MESSAGE_TEXT, send_message),
        S.VISIT_TIME: words_step("worker.visit.ask_time", S.VISIT_TIME, send_visit_proposal),
    },
)

COMMANDS: dict[str, Command] = {
    "queue": for_workers(queue),
    "mine": for_workers(mine),
    "overdue": for_workers(overdue),
    "ticket": for_workers(ticket),
}

ACTIONS: dict[str, Action] = {
    "claim": worker_action(claim),
    "view": worker_action(view),
    "on_it": worker_action(on_it),
    "note": worker_action(on_open_ticket(Operation.NOTE, Task.NOTE)),
    "visited": worker_action(visited),
    "refer": worker_action(refer),
    "resolve": worker_action(resolve),
    "complete": worker_action(complete),
    "close": worker_action(close),
    "reopen": worker_action(reopen),
    "assign": worker_action(assign),
    "accept_referral": worker_action(accept_referral),
    "decline_referral": worker_action(decline_referral),
    "message": worker_action(message),
    "phone": worker_action(phone),
    # Propose a time for the home visit: the time is asked for next, and the person confirms it.
    "propose_visit": worker_action(on_open_ticket(Operation.VISIT, Task.PROPOSE_VISIT)),
}
