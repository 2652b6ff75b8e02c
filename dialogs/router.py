"""What happens outside a flow: global commands, free text routed by intent, and the crisis reply."""

from __future__ import annotations

from casework.conversation import masked
from casework.domain import (
    OPEN_STATUSES,
    WORKER_ROLES,
    Channel,
    Conflict,
    ConsentPurpose,
    GoalStatus,
    InvalidInput,
    NotFound,
    Role,
    ServiceType,
    Ticket,
    TicketStatus,
    Urgency,
)
from casework.opening import NewReport
from casework.people import KeptReport, counted_in_statistics
from casework.routing import CrisisReach
from dialogs.catalog import summary_part, ticket_summary
from dialogs.engine import Action, Command, Ctx, action_button
from dialogs.flows.common import clipped, tag_words
from dialogs.flows.survey import star_buttons
from nlu.types import Intent, Parse

RATABLE = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})
PRIVACY_REPORT_CHARS = 200
STATUS_FOR_VOLUNTEERS = {
    TicketStatus.NEW: "received",
    TicketStatus.ASSIGNED: "claimed",
    TicketStatus.IN_PROGRESS: "claimed",
    TicketStatus.REFERRED: "claimed",
    TicketStatus.REOPENED: "claimed",
    TicketStatus.RESOLVED: "closed",
    TicketStatus.CLOSED: "closed",
}


def crisis_service(parse: Parse | None, kinds: list[str]) -> ServiceType:
    """Self-harm is psychological support whatever else the words touch; otherwise what was heard."""
    if "self_harm" in kinds or parse is None or parse.service_type is None:
        return ServiceType.PSYCHOLOGICAL_SUPPORT
    return parse.service_type


async def on_crisis(ctx: Ctx, parse: Parse | None) -> bool:
    """Hotline numbers at once, and an urgent ticket, before any question is asked; then exactly
    whom the ticket reached, and a promise of contact only to someone who agreed to be contacted.

    True when that is the whole reply. False when the flow under way already opened this urgent
    ticket: the person may be describing the danger the flow asks about (a volunteer's account of
    the household), and a question that takes such an account (``Step.account``) takes the words."""
    kinds = list(parse.crisis_kinds) if parse else ["self_harm"]
    hotlines = ctx.services.screener.hotlines_for(kinds)
    ctx.say("crisis.reply", hotlines="\n".join(f"☎ {h.number}  {h.label(ctx.lang)}" for h in hotlines))
    for ticket in await ctx.services.casework.reported_by(ctx.person):
        if ticket.status in OPEN_STATUSES and ticket.urgency is Urgency.CRITICAL:
            ctx.say("crisis.ticket_exists", reference=ticket.reference)
            if ctx.state.flow is not None and ctx.data.get("crisis_ticket") == ticket.id:
                return False
            _remember_crisis(ctx, ticket.id)
            return True
    # The community a flow has already been told, else the person's own, else the top of the tree.
    area_id = ctx.data.get("area_id") if ctx.state.flow is not None else None
    if area_id is None:
        area_id = (
            min(ctx.person.area_ids) if ctx.person.area_ids else (await ctx.services.people.default_area()).id
        )
    opened = await ctx.services.casework.open_ticket(
        NewReport(
            text=parse.text if parse else (ctx.text or ""),
            language=ctx.lang,
            intent=parse.top.intent.value if parse else Intent.NEED_PSYCHOLOGICAL_SUPPORT.value,
            confidence=parse.top.confidence if parse else 0.0,
            service_type=crisis_service(parse, kinds),
            urgency=Urgency.CRITICAL,
            area_id=area_id,
            channel=Channel(ctx.turn.channel),
            summary=ticket_summary(*(summary_part("crisis", kind) for kind in kinds)),
            reporter_id=ctx.person.id,
        )
    )
    reach = opened.reach or CrisisReach.NOBODY
    ctx.say(f"crisis.reached.{reach.value}")
    if reach is not CrisisReach.NOBODY:
        ctx.say("crisis.contact.yes" if await _may_contact(ctx) else "crisis.contact.no")
    ctx.say("crisis.ticket", reference=opened.ticket.reference)
    _remember_crisis(ctx, opened.ticket.id)
    if ctx.state.flow is None and await ctx.services.people.area_children(opened.ticket.area_id):
        await ctx.start("crisis", {"crisis_ticket": opened.ticket.id})
    return True


async def _may_contact(ctx: Ctx) -> bool:
    """Whether the person agreed that a worker may contact them."""
    return ConsentPurpose.CONTACT_ME in await ctx.services.people.consents(ctx.person.id)


def _remember_crisis(ctx: Ctx, ticket_id: int) -> None:
    """Danger described mid-flow: the community the flow is told next places the urgent ticket
    (``flows.common.area_step``), and a volunteer's report of the household joins it."""
    if ctx.state.flow is not None:
        ctx.data["crisis_ticket"] = ticket_id


async def route_text(ctx: Ctx, text: str) -> None:
    """Free text with no flow running: to the case a worker is talking with the person about, or
    understood and taken where it belongs."""
    if ctx.person.role not in WORKER_ROLES:
        talking = await ctx.services.casework.open_thread(ctx.person)
        if talking is not None and (await ctx.parse(text)).intent is Intent.CHECK_TICKET_STATUS:
            await status(ctx, "")  # asking how it goes is answered here, not passed on
            return
        if talking is not None:
            await ctx.services.casework.reply_on_case(ctx.person, talking.id, text)
            ctx.data["forwarded"] = text  # for "this is something else"
            ctx.say(
                "conversation.forwarded",
                (ctx.action("conversation.button.new_matter", "anew", talking.id),),
                reference=talking.reference,
            )
            return
    await intake(ctx, text)


async def anew(ctx: Ctx, argument: str) -> None:
    """The words last passed on to a case were about something else: taken as a new matter."""
    text = ctx.data.pop("forwarded", None) if ctx.state.flow is None else None
    if not text:
        ctx.say("button.expired")
        return
    await intake(ctx, text)


async def intake(ctx: Ctx, text: str) -> None:
    """Free text understood and taken where it belongs: a need, a policy question, feedback, …"""
    if not await ctx.services.people.consent_asked(ctx.person.id):
        await ctx.start("welcome", {"pending_text": text})
        return
    parse = await ctx.parse(text)
    intent = parse.intent
    if intent is Intent.NLU_FALLBACK or intent.value.startswith("need_"):
        await ctx.start("need", {"text_given": text})
    elif intent is Intent.ASK_POLICY:
        await ctx.start("policy", {"question": text})
    elif intent is Intent.POLICY_FEEDBACK:
        await ctx.start("feedback", {"text_given": text})
    elif intent is Intent.FLAG_HOUSEHOLD:
        if ctx.person.role is Role.VOLUNTEER:
            await ctx.start("flag", {"observed": text})
        else:
            ctx.say("flag.only_volunteers")
            await ctx.start("need", {"text_given": text})
    elif intent is Intent.CHECK_TICKET_STATUS:
        await status(ctx, "")
    elif intent is Intent.GREET:
        ctx.say("greet.reply")
        ctx.say(menu_key(ctx))
    elif intent in (Intent.THANKS, Intent.GOODBYE):
        ctx.say(f"{intent.value}.reply")
    else:
        ctx.say("out_of_scope.reply")
        ctx.say(menu_key(ctx))


def menu_key(ctx: Ctx) -> str:
    if ctx.person.role in WORKER_ROLES:
        return "help.menu_worker"
    if ctx.person.role is Role.VOLUNTEER:
        return "help.menu_volunteer"
    if ctx.person.role is Role.EVALUATOR:
        return "help.menu_evaluator"
    return "help.menu"


async def start(ctx: Ctx, argument: str) -> None:
    if argument:
        try:
            person = await ctx.services.people.enrol(ctx.person.id, argument)
        except InvalidInput as error:
            ctx.replies.append(ctx.services.catalog.refusal_reply(error))
            return
        ctx.person = person
        ctx.say("enrol.done", role=f"role.{person.role.value}")
        ctx.say(menu_key(ctx))
        return
    if ctx.state.flow is not None and ctx.state.flow != "welcome":
        # Not dropped unasked: what the person has told so far is lost if they start over.
        ctx.say(
            "flow.restart_ask",
            (
                ctx.action("flow.button.keep_going", "resume", ""),
                ctx.action("flow.button.restart", "restart", ""),
            ),
        )
        return
    await ctx.start("welcome")


async def resume(ctx: Ctx, argument: str) -> None:
    """The flow under way asked again (its question's buttons still work)."""
    if ctx.state.flow is None:
        ctx.say("flow.nothing_to_cancel")
        return
    await ctx.engine.prompt(ctx)


async def restart(ctx: Ctx, argument: str) -> None:
    """The flow under way dropped, and the welcome from the start."""
    if ctx.state.flow is not None:
        ctx.end()
        ctx.say("flow.cancelled")
    await ctx.start("welcome")


async def help_(ctx: Ctx, argument: str) -> None:
    ctx.say(menu_key(ctx))


async def cancel(ctx: Ctx, argument: str) -> None:
    if ctx.state.flow is None:
        ctx.say("flow.nothing_to_cancel")
        return
    ctx.end()
    ctx.say("flow.cancelled")


async def language(ctx: Ctx, argument: str) -> None:
    wanted = argument.strip().lower()
    if wanted not in ("zh", "en"):
        wanted = "en" if ctx.lang == "zh" else "zh"
    ctx.state.language = wanted
    ctx.person = await ctx.services.people.set_language(ctx.person.id, wanted)
    ctx.say("lang.switched")
    if ctx.state.flow is not None:
        await ctx.engine.prompt(ctx)


async def report(ctx: Ctx, argument: str) -> None:
    await ctx.start("need", {"text_given": argument} if argument else {})


async def flag(ctx: Ctx, argument: str) -> None:
    await ctx.start("flag", {"observed": argument} if argument else {})


async def policy(ctx: Ctx, argument: str) -> None:
    await ctx.start("policy", {"question": argument} if argument else {})


async def status(ctx: Ctx, argument: str) -> None:
    tickets = await ctx.services.casework.reported_by(ctx.person)
    if argument and tickets:
        wanted = argument.strip().upper()
        tickets = [ticket for ticket in tickets if ticket.reference == wanted]
        if not tickets:
            ctx.say("status.not_found", reference=wanted[:40])
            return
    if not tickets:
        ctx.say("status.none")
        return
    volunteer = ctx.person.role is Role.VOLUNTEER
    unrated = {ticket.id for ticket in await ctx.services.casework.awaiting_rating(ctx.person)}
    for ticket in tickets[:10]:
        if volunteer:
            stage = (
                "visited" if ticket.visited_at and ticket.is_open else STATUS_FOR_VOLUNTEERS[ticket.status]
            )
            ctx.say("status.volunteer_line", reference=ticket.reference, stage=f"status.stage.{stage}")
        else:
            rated = (
                ctx.person.role is Role.RECIPIENT and ticket.status in RATABLE and ticket.id not in unrated
            )
            ctx.say(
                "status.line",
                star_buttons(ticket.id) if ticket.id in unrated else [],
                reference=ticket.reference,
                service=f"service.{ticket.service_type.value}",
                status=f"status.{ticket.status.value}",
                next="status.next.rated" if rated else f"status.next.{ticket.status.value}",
                plan=await plan_lines(ctx, ticket),
            )


async def plan_lines(ctx: Ctx, ticket: Ticket) -> str:
    """The household's own plan, in plain words: each goal and how far it is (never the assessment)."""
    if ctx.person.role is not Role.RECIPIENT or ticket.household_id is None:
        return ""
    goals = [
        goal
        for goal in await ctx.services.casework.plan_of(ctx.person, ticket.id)
        if goal.status is not GoalStatus.DROPPED
    ]
    if not goals:
        return ""
    catalog = ctx.services.catalog
    lines = [
        catalog.text(
            "status.plan_goal",
            ctx.lang,
            title=goal.title,
            status=catalog.text(f"status.goal.{goal.status.value}", ctx.lang),
            due=catalog.text("status.plan_due", ctx.lang, on=goal.due_on.isoformat())
            if goal.due_on and goal.is_open
            else "",
        )
        for goal in goals
    ]
    return "\n" + catalog.text("status.plan", ctx.lang) + "\n" + "\n".join(lines)


async def privacy(ctx: Ctx, argument: str) -> None:
    summary = await ctx.services.people.privacy(ctx.person.id)
    granted = [consent.purpose for consent in summary.consents if consent.active]
    english = ctx.lang == "en"
    separator = ", " if english else "、"
    areas = [area.label(ctx.lang) for area in summary.home_areas]
    purposes = [
        ctx.services.catalog.text(f"consent.purpose.{purpose.value}", ctx.lang) for purpose in granted
    ]
    ctx.say(
        "privacy.summary",
        name=summary.person.display_name or "-",
        role=f"role.{summary.person.role.value}",
        language=f"language.{summary.person.language}",
        phone=masked(summary.person.phone) if summary.person.phone else "-",
        areas=separator.join(areas) or "-",
        consents=separator.join(purposes) or "-",
        reports=len(summary.reports),
        tickets=len(summary.tickets),
    )
    if summary.reports:
        ctx.say(
            "privacy.reports", lines="\n".join(_kept_report(ctx, report) for report in summary.reports[-10:])
        )
    if counted_in_statistics(summary.consents):
        ctx.say("privacy.statistics.counted", (action_button("privacy.button.leave_out", "statistics", 0),))
    else:
        ctx.say(
            "privacy.statistics.left_out", (action_button("privacy.button.count_again", "statistics", 1),)
        )


async def statistics(ctx: Ctx, argument: str) -> None:
    """The person's reports counted in the service's statistics again (1), or left out (0)."""
    if argument not in ("0", "1"):
        ctx.say("button.expired")
        return
    await ctx.services.people.count_in_statistics(ctx.person.id, argument == "1")
    ctx.say("privacy.statistics.now_counted" if argument == "1" else "privacy.statistics.now_left_out")


def _kept_report(ctx: Ctx, report: KeptReport) -> str:
    """One report as /privacy lists it: when, the words kept, the situation recorded, in words."""
    catalog = ctx.services.catalog
    words = clipped(report.text, PRIVACY_REPORT_CHARS)
    tags = tag_words(ctx, sorted(report.tags))
    return catalog.text(
        "privacy.report_line",
        ctx.lang,
        when=report.created_at.astimezone(ctx.services.casework.timezone).strftime("%Y-%m-%d"),
        words=words or catalog.text("privacy.words_erased", ctx.lang),
        tags=catalog.text("privacy.tags", ctx.lang, tags=tags) if tags else "",
    )


async def web(ctx: Ctx, argument: str) -> None:
    """A one-time link to the web console, for staff: it signs them in once, within minutes."""
    if ctx.services.web is None:
        ctx.say("web.not_served")
        return
    ctx.say("web.link", url=await ctx.services.web.sign_in_link(ctx.person))


async def delete_my_data(ctx: Ctx, argument: str) -> None:
    await ctx.start("erase")


COMMANDS: dict[str, Command] = {
    "start": start,
    "help": help_,
    "cancel": cancel,
    "lang": language,
    "report": report,
    "flag": flag,
    "policy": policy,
    "status": status,
    "privacy": privacy,
    "delete_my_data": delete_my_data,
    "web": web,
}


async def visit_suits(ctx: Ctx, argument: str) -> None:
    await _answer_visit(ctx, argument, suits=True)


async def visit_does_not_suit(ctx: Ctx, argument: str) -> None:
    await _answer_visit(ctx, argument, suits=False)


async def _answer_visit(ctx: Ctx, argument: str, *, suits: bool) -> None:
    """The person's answer to a proposed home-visit time (the buttons of its notice)."""
    if not argument.isdigit():
        ctx.say("button.expired")
        return
    try:
        ticket = await ctx.services.casework.answer_visit(ctx.person, int(argument), suits=suits)
    except (Conflict, NotFound):
        ctx.say("visit.not_waiting")
        return
    ctx.say("visit.confirmed" if suits else "visit.refused", reference=ticket.reference)


ACTIONS: dict[str, Action] = {
    "resume": resume,
    "restart": restart,
    "anew": anew,
    "visit_ok": visit_suits,
    "visit_no": visit_does_not_suit,
    "statistics": statistics,
}
