"""``needsbot tickets``, ``people`` and ``scheduler``: casework from the command line.

Changes made here act as a supervisor or admin: ``--as ID`` names the person; without it the
command-line operator (an admin account created on first use) is recorded in the ticket's trail.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from bot.bootstrap import Needsbot, bootstrap, command, for_a_command
from bot.cli_support import echo_json, jsonable, local_time, run_with_database, settings_of
from bot.settings import Settings
from casework import directory, reading
from casework.case_file import CaseFile
from casework.deadlines import DeadlinePolicy, SlaState
from casework.domain import GoalOwner, NotFound, Person, Refusal, Role, TicketStatus
from casework.service import Casework
from dialogs.catalog import Catalog
from storage import Database

T = TypeVar("T")
log = logging.getLogger(__name__)

ACTOR = click.option(
    "--as",
    "actor_id",
    type=int,
    default=None,
    help="Id of the supervisor or admin acting (see `needsbot people list`).",
)


def _with_casework(
    ctx: click.Context, actor_id: int | None, work: Callable[[Casework, Person], Awaitable[T]]
) -> T:
    settings = settings_of(ctx)

    async def run(database: Database) -> T:
        async with for_a_command(settings, database) as needsbot:
            actor = await directory.command_line_actor(database, actor_id, now=needsbot.clock.now())
            return await work(needsbot.casework, actor)

    return run_with_database(ctx, run)


async def _ticket_id(casework: Casework, reference: str) -> int:
    return (await casework.by_reference(reference)).id


@click.group()
def tickets() -> None:
    """Referral tickets."""


@tickets.command("list")
@click.option("--status", "statuses", multiple=True, type=click.Choice([s.value for s in TicketStatus]))
@click.option("--area", "area_code", default=None, help="Area code; includes the areas below it.")
@click.option("--overdue", is_flag=True, help="Only open tickets past a deadline.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def tickets_list(
    ctx: click.Context, statuses: tuple[str, ...], area_code: str | None, overdue: bool, as_json: bool
) -> None:
    """List tickets, oldest first, with where each stands against its deadlines."""
    settings = settings_of(ctx)

    async def listed(needsbot: Needsbot) -> tuple[DeadlinePolicy, datetime, list[reading.TicketRow]]:
        rows = await reading.list_tickets(
            needsbot.database, statuses=[TicketStatus(s) for s in statuses] or None, area_code=area_code
        )
        return needsbot.deadlines, needsbot.clock.now(), rows

    policy, now, rows = run_with_database(ctx, command(settings, listed))
    if overdue:
        rows = [
            row for row in rows if row.ticket.is_open and policy.state(row.ticket, now) is SlaState.BREACHED
        ]
    if as_json:
        echo_json(
            [
                {
                    **jsonable(row.ticket),
                    "area_code": row.area.code,
                    "assignee": _name(row.assignee),
                    "sla": policy.state(row.ticket, now).value,
                }
                for row in rows
            ]
        )
        return
    if not rows:
        click.echo("no tickets")
        return
    for row in rows:
        ticket = row.ticket
        click.echo(
            f"{ticket.reference}  {ticket.status.value:<11}  {policy.state(ticket, now).value:<8}  "
            f"{ticket.urgency.value:<8}  "
            f"{ticket.service_type.value:<21}  {row.area.code:<14}  "
            f"{local_time(settings, ticket.created_at)}  {_name(row.assignee) or '-'}"
        )


def _name(person: Any) -> str | None:
    return (person.display_name or f"#{person.id}") if person is not None else None


@tickets.command("show")
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def tickets_show(ctx: click.Context, reference: str, as_json: bool) -> None:
    """Show one ticket with its trail (the read is recorded in the trail)."""
    settings = settings_of(ctx)

    async def read(needsbot: Needsbot) -> tuple[reading.TicketView, CaseFile | None]:
        details = await reading.ticket_details(
            needsbot.database, reference, now=needsbot.clock.now(), reader_id=None, via="command line"
        )
        household_id = details.ticket.household_id
        on_file = await needsbot.casework.case_files.for_operator(household_id) if household_id else None
        return details, on_file

    details, the_file = run_with_database(ctx, command(settings, read))
    # The reports are counted, not shown: their words are the person's, read in the case view; of the
    # assessments, what they found (risk, needs), not the answers.
    if as_json:
        echo_json({**jsonable(details), "reports": len(details.reports), "file": _file_json(the_file)})
        return
    ticket = details.ticket
    click.echo(
        f"{ticket.reference}  {ticket.status.value}  {ticket.urgency.value}  {ticket.service_type.value}"
    )
    click.echo(f"area:       {' / '.join(area.name for area in details.area_path)}")
    click.echo(f"summary:    {Catalog.load().summary(ticket.summary, 'en') if ticket.summary else '-'}")
    click.echo(f"assignee:   {_name(details.assignee) or '-'}")
    click.echo(f"agency:     {details.organisation.name if details.organisation else '-'}")
    click.echo(f"opened:     {local_time(settings, ticket.created_at)}")
    click.echo(f"claim by:   {local_time(settings, ticket.claim_deadline)}")
    click.echo(f"resolve by: {local_time(settings, ticket.resolve_deadline)}")
    click.echo(f"reports:    {len(details.reports)}")
    way = next((report.contact for report in reversed(details.reports) if report.contact), None)
    click.echo(f"contact:    {way.value if way else '-'}")
    household = details.household
    if household is not None:
        click.echo(f"address:    {household.address or '-'}")
        catalog = Catalog.load()
        tags = ", ".join(
            catalog.text(f"tag.{tag.value}", "en", mark="") for tag in sorted(household.vulnerability_tags)
        )
        click.echo(f"household:  {household.size or '-'} people  {tags}".rstrip())
    if details.events:
        click.echo("trail:")
        for event in details.events:
            change = f" {event.from_status or ''}→{event.to_status}" if event.to_status else ""
            note = f"  {event.note}" if event.note else ""
            actor = f"#{event.actor_id}" if event.actor_id is not None else "system"
            click.echo(f"  {local_time(settings, event.created_at)}  {actor:<8} {event.action}{change}{note}")
    for referral in details.referrals:
        target = (
            f"person #{referral.to_person_id}"
            if referral.to_person_id
            else f"agency #{referral.to_organisation_id}"
        )
        click.echo(f"referral:   to {target}  {referral.status.value}  {referral.reason or ''}".rstrip())
    for feedback in details.feedback:
        click.echo(f"rating:     {feedback.rating}/5  {feedback.comment or ''}".rstrip())
    if the_file is not None and not the_file.empty:
        _print_file(settings, the_file)


def _print_file(settings: Settings, the_file: CaseFile) -> None:
    """The household's case file: each assessment (what it found), the plan's goals, the reviews, and
    what falls due."""
    for assessment in the_file.assessments:
        needs = ", ".join(f"{kind} {level}" for kind, level in assessment.needs.items() if level != "none")
        by = f"#{assessment.recorded_by_id}" if assessment.recorded_by_id else "-"
        click.echo(
            f"assessment: v{assessment.version}  {local_time(settings, assessment.recorded_at)}  by {by}  "
            f"risk {assessment.risk}  needs {needs or 'none'}"
            + ("  (answers erased)" if assessment.erased else "")
        )
    for goal in the_file.goals:
        owner = (
            the_file.names.get(-(goal.owner_organisation_id or 0), "-")
            if goal.owner is GoalOwner.AGENCY
            else the_file.names.get(goal.owner_person_id or 0, "-")
        )
        due = goal.due_on.isoformat() if goal.due_on else "-"
        click.echo(
            f"goal #{goal.number}:   {goal.status.value:<9}  {goal.service_type.value:<21}  {goal.title}  "
            f"({goal.owner.value} {owner}, due {due})"
            + (f"  dropped: {goal.drop_reason}" if goal.drop_reason else "")
        )
    for review in the_file.reviews:
        progress = ", ".join(
            f"#{_number(the_file, goal_id)} {value.value}" for goal_id, value in review.progress.items()
        )
        click.echo(f"review:     {local_time(settings, review.reviewed_at)}  {progress}")
    if the_file.next_review_on is not None:
        click.echo(f"next review: {the_file.next_review_on.isoformat()}")
    if the_file.reassess_by is not None:
        why = "  (after a crisis)" if the_file.reassess_for_crisis else ""
        click.echo(f"reassess by: {local_time(settings, the_file.reassess_by)}{why}")


def _number(the_file: CaseFile, goal_id: int) -> int | str:
    return next((goal.number for goal in the_file.goals if goal.id == goal_id), "?")


def _file_json(the_file: CaseFile | None) -> Any:
    """The file as ``tickets show --json`` gives it: the answers left out."""
    if the_file is None:
        return None
    return {
        "assessments": [
            {key: value for key, value in jsonable(a).items() if key != "answers"}
            for a in the_file.assessments
        ],
        "goals": jsonable(the_file.goals),
        "reviews": jsonable(the_file.reviews),
        "next_review_on": jsonable(the_file.next_review_on),
        "reassess_by": jsonable(the_file.reassess_by),
    }


@tickets.command("assign")
@click.argument("reference")
@click.option("--to", "worker_id", type=int, required=True, help="Id of the social worker.")
@ACTOR
@click.pass_context
def tickets_assign(ctx: click.Context, reference: str, worker_id: int, actor_id: int | None) -> None:
    """Give the ticket to a social worker of its area (or move it to another)."""

    async def work(casework: Casework, actor: Person) -> Any:
        return await casework.assign(actor, await _ticket_id(casework, reference), worker_id)

    ticket = _with_casework(ctx, actor_id, work)
    click.echo(f"{ticket.reference} assigned to #{ticket.assignee_id}")


@tickets.command("refer")
@click.argument("reference")
@click.option("--to-worker", "worker_id", type=int, default=None, help="Id of the receiving social worker.")
@click.option("--to-org", "organisation", default=None, help="Name of the receiving agency.")
@click.option("--reason", required=True, help="Why the case is referred.")
@ACTOR
@click.pass_context
def tickets_refer(
    ctx: click.Context,
    reference: str,
    worker_id: int | None,
    organisation: str | None,
    reason: str,
    actor_id: int | None,
) -> None:
    """Refer the case (转介) to another worker or to an agency; they accept or decline."""
    if (worker_id is None) == (organisation is None):
        raise click.UsageError("give either --to-worker ID or --to-org NAME")

    async def work(casework: Casework, actor: Person) -> Any:
        organisation_id = None
        if organisation is not None:
            async with casework.database.transaction() as tx:
                found = await tx.organisations.by_name(organisation.strip())
            if found is None:
                raise NotFound(Refusal.ORGANISATION_UNKNOWN, name=organisation)
            organisation_id = found.id
        ticket_id = await _ticket_id(casework, reference)
        return await casework.refer(
            actor, ticket_id, reason=reason, to_person_id=worker_id, to_organisation_id=organisation_id
        )

    referral = _with_casework(ctx, actor_id, work)
    target = (
        f"worker #{referral.to_person_id}"
        if referral.to_person_id
        else f"agency #{referral.to_organisation_id}"
    )
    click.echo(
        f"{reference.upper()} referred to {target}; waiting for them to accept (referral {referral.id})"
    )


@tickets.command("close")
@click.argument("reference")
@click.option(
    "--note", default="", help="Why it is closed (for an unresolved ticket: duplicate, withdrawn…)."
)
@ACTOR
@click.pass_context
def tickets_close(ctx: click.Context, reference: str, note: str, actor_id: int | None) -> None:
    """Close a ticket."""

    async def work(casework: Casework, actor: Person) -> Any:
        return await casework.close(actor, await _ticket_id(casework, reference), note)

    ticket = _with_casework(ctx, actor_id, work)
    click.echo(f"{ticket.reference} closed")


@tickets.command("reopen")
@click.argument("reference")
@click.option("--reason", required=True, help="Why the case is opened again.")
@ACTOR
@click.pass_context
def tickets_reopen(ctx: click.Context, reference: str, reason: str, actor_id: int | None) -> None:
    """Reopen a resolved or closed ticket."""

    async def work(casework: Casework, actor: Person) -> Any:
        return await casework.reopen(actor, await _ticket_id(casework, reference), reason)

    ticket = _with_casework(ctx, actor_id, work)
    click.echo(f"{ticket.reference} reopened")


@click.group()
def people() -> None:
    """Enrolled people."""


@people.command("list")
@click.option("--role", type=click.Choice([role.value for role in Role]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def people_list(ctx: click.Context, role: str | None, as_json: bool) -> None:
    """People by role, with their areas and service types (no contact details)."""

    async def work(database: Database) -> list[Person]:
        async with database.transaction() as tx:
            return await tx.people.find(role=Role(role) if role else None)

    found = run_with_database(ctx, work)
    if as_json:
        echo_json(
            [
                {
                    **{k: v for k, v in jsonable(person).items() if k not in ("phone", "identities")},
                    "channels": sorted(identity.channel.value for identity in person.identities),
                }
                for person in found
            ]
        )
        return
    for person in found:
        kinds = ",".join(sorted(person.service_types))
        click.echo(f"{person.id:>5}  {person.role.value:<13}  {person.display_name or '-':<16}  {kinds}")


@click.group()
def scheduler() -> None:
    """Deadlines, reminders and follow-ups."""


@scheduler.command("run")
@click.pass_context
def scheduler_run(ctx: click.Context) -> None:
    """Run the scheduler until interrupted; with several running, one at a time leads."""
    settings = settings_of(ctx)

    async def run(database: Database) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        needsbot = bootstrap(settings, database=database, conversations=False)
        await needsbot.start()
        click.echo("scheduler running; Ctrl-C stops it")
        try:
            await stop.wait()
        finally:
            await needsbot.stop()

    run_with_database(ctx, run)
