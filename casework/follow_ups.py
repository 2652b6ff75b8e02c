"""The casework's follow-ups, done by the scheduler's jobs: escalating what nobody claimed in time and
the crises nobody answered, reminding of home visits, reassessments and plan reviews, asking the
household to rate a closed case, the supervisors' weekly and monthly reports, and forgetting old updates. Each
step is idempotent, so a job that runs twice alerts once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from casework import indicators, routing
from casework.case_file import CaseFiles
from casework.core import CRISIS_LADDER, CaseworkCore, crisis_step_note
from casework.domain import (
    OPEN_STATUSES,
    AlertKind,
    Role,
    Ticket,
    TicketAction,
    TicketEvent,
    TicketStatus,
    Urgency,
)
from casework.routing import CrisisReach
from casework.unit_of_work import Transaction

if TYPE_CHECKING:
    from casework.service import Casework

_ESCALATION_NOTE = re.compile(r"^level (\d+)$")
# A reminder job runs at its due time, give or take the scheduler's tick.
DUE_SLACK = timedelta(minutes=1)


async def open_case_of(tx: Transaction, household_id: int) -> Ticket | None:
    """The household's latest open case: whoever holds it is reminded of its file."""
    cases = await tx.tickets.find(household_id=household_id, statuses=OPEN_STATUSES)
    return cases[-1] if cases else None


def escalation_level(event: TicketEvent) -> int | None:
    """How many times an ``escalated`` event's ticket had gone unclaimed past its deadline (1 at the
    deadline, 2 at twice it), as ``FollowUpWork.escalate_overdue`` recorded it."""
    found = _ESCALATION_NOTE.match(event.note or "") if event.action is TicketAction.ESCALATED else None
    return int(found.group(1)) if found else None


class FollowUpWork:
    """What the scheduler's jobs do, on the casework's shared core."""

    def __init__(self, casework: Casework) -> None:
        self.core: CaseworkCore = casework.core
        self.files: CaseFiles = casework.case_files
        self.weights = casework.evaluation.weights

    async def escalate_overdue(self) -> int:
        """Alert the supervisors of every ticket unclaimed at its deadline, and again at twice it."""
        core = self.core
        now = core.clock.now()
        escalated = 0
        async with core.database.transaction() as tx:
            for ticket in await tx.tickets.unclaimed_past(now):
                assert ticket.claim_deadline is not None
                window = ticket.claim_deadline - ticket.created_at
                level = 2 if now >= ticket.claim_deadline + window else 1
                if ticket.escalation_level >= level or not await tx.tickets.raise_escalation(
                    ticket.id, to_level=level, now=now
                ):
                    continue
                chain = await routing.area_chain(tx, ticket.area_id)
                supervisors = await core.supervisors_or_admins(tx, chain)
                await tx.tickets.add_event(
                    ticket_id=ticket.id, action=TicketAction.ESCALATED, note=f"level {level}", now=now
                )
                extra = {"reason": "unclaimed", "level": level}
                await core.tell(
                    tx, ticket, AlertKind.TICKET_ESCALATED, supervisors, extra=extra, round_key=f"#{level}"
                )
                escalated += 1
        if escalated:
            core.committed()
        return escalated

    async def escalate_crises(self) -> int:
        """Alert the next step of every crisis nobody has acknowledged (or claimed) within the
        re-alert time of its last step; one that reached nobody tries its first step again."""
        core = self.core
        now = core.clock.now()
        climbed = 0
        async with core.database.transaction() as tx:
            crises = await tx.tickets.find(statuses=OPEN_STATUSES, urgencies=[Urgency.CRITICAL], limit=10_000)
            for ticket in crises:
                if ticket.assignee_id is not None or ticket.organisation_id is not None:
                    continue
                events = await tx.tickets.events(ticket.id)
                if any(event.action is TicketAction.ACKNOWLEDGED for event in events):
                    continue
                ladder = [event for event in events if event.action in CRISIS_LADDER]
                last = ladder[-1] if ladder else None
                if now - (last.created_at if last else ticket.created_at) < core.policy.crisis_realert_after:
                    continue
                noted = crisis_step_note(last) if last is not None else None
                step = noted.step + 1 if noted is not None else 0
                if await core.alert_crisis(tx, ticket, step) is not CrisisReach.NOBODY or step == 0:
                    climbed += 1
        if climbed:
            core.committed()
        return climbed

    async def remind_home_visit(self, ticket_id: int) -> bool:
        core = self.core
        async with core.database.transaction() as tx:
            ticket = await tx.tickets.get(ticket_id)
            if (
                ticket is None
                or not ticket.is_open
                or not ticket.needs_home_visit
                or ticket.visited_at is not None
            ):
                return False
            queued = await core.tell(tx, ticket, AlertKind.HOME_VISIT_DUE, [ticket.assignee_id])
        core.committed()
        return queued > 0

    async def remind_reassessment(self, household_id: int) -> bool:
        """The household's worker hears its assessment is due again (the set time after the last, or
        sooner after a crisis), while a case of the household is open and no newer one was recorded."""
        core = self.core
        now = core.clock.now()
        async with core.database.transaction() as tx:
            ticket = await open_case_of(tx, household_id)
            assessments = await tx.case_files.assessments(household_id)
            if ticket is None or not assessments:
                return False
            due, crisis = await self.files.reassess_by(tx, household_id, assessments)
            if due is None or now < due - DUE_SLACK:
                return False
            version = assessments[-1].version
            queued = await core.tell(
                tx,
                ticket,
                AlertKind.REASSESSMENT_DUE,
                await core.answering_for(tx, ticket),
                extra={"version": version, "crisis": crisis},
                round_key=f"#v{version}" + ("crisis" if crisis else ""),
            )
        core.committed()
        return queued > 0

    async def remind_review(self, household_id: int) -> bool:
        """The household's worker hears the plan's review date has come, while a goal of it is open."""
        core = self.core
        today = core.clock.now().astimezone(core.timezone).date()
        async with core.database.transaction() as tx:
            ticket = await open_case_of(tx, household_id)
            goals = await tx.case_files.goals(household_id)
            due = self.files.next_review(goals, await tx.case_files.reviews(household_id))
            if ticket is None or due is None or today < due:
                return False
            queued = await core.tell(
                tx,
                ticket,
                AlertKind.REVIEW_DUE,
                await core.answering_for(tx, ticket),
                extra={"due": due.isoformat()},
                round_key=f"#{due.isoformat()}",
            )
        core.committed()
        return queued > 0

    async def send_survey(self, ticket_id: int) -> bool:
        core = self.core
        async with core.database.transaction() as tx:
            ticket = await tx.tickets.get(ticket_id)
            if ticket is None or ticket.status is not TicketStatus.CLOSED or ticket.reporter_id is None:
                return False
            reporter = await tx.people.get(ticket.reporter_id)
            if (
                reporter is None
                or reporter.role is not Role.RECIPIENT
                or await tx.tickets.feedback(ticket.id)
            ):
                return False
            queued = await core.tell(tx, ticket, AlertKind.SATISFACTION_SURVEY, [reporter])
        core.committed()
        return queued > 0

    async def prune_processed_updates(self, keep: timedelta) -> int:
        """Forget the updates handled longer ago than ``keep`` (a channel redelivers within a day), and
        the messages sent for them as long ago; how many updates."""
        core = self.core
        older_than = core.clock.now() - keep
        async with core.database.transaction() as tx:
            await tx.outgoing.prune(older_than=older_than)
            return await tx.updates.prune(older_than=older_than)

    async def send_reports(self, kind: AlertKind, period_text: str, *, to_evaluators: bool = False) -> int:
        """Each supervisor is sent the service-evaluation report of the period (``last-week`` for the
        weekly report, ``last-month`` for the monthly one) for each area they supervise, everything
        below it counted: the key figures, the charts and the workbook; ``to_evaluators``: each
        third-party evaluator too, for the areas they were given, every small figure left out. The
        figures only, nobody's words: an alert outlives an erasure. Once a reader, an area and a
        period; how many sent."""
        core = self.core
        now = core.clock.now()
        roles = (Role.SUPERVISOR, Role.EVALUATOR) if to_evaluators else (Role.SUPERVISOR,)
        async with core.database.transaction() as tx:
            readers = [person for role in roles for person in await tx.people.find(role=role)]
            areas = {
                area_id: area
                for area_id in sorted({a for person in readers for a in person.area_ids})
                if (area := await tx.areas.get(area_id)) is not None
            }
        reports: dict[tuple[int, int], dict[str, Any]] = {}  # (area, suppressed below) → figures
        for reader in readers:
            k = indicators.SHARED_SUPPRESS_BELOW if reader.role is Role.EVALUATOR else 0
            for area_id in sorted(reader.area_ids & areas.keys()):
                if (area_id, k) not in reports:
                    report = await indicators.report(
                        core.database,
                        period_text=period_text,
                        now=now,
                        timezone=core.timezone,
                        area_id=area_id,
                        suppress_below=k,
                        weights=self.weights,
                    )
                    reports[area_id, k] = report.without_words().as_plain()
        sent = 0
        async with core.database.transaction() as tx:
            for reader in readers:
                k = indicators.SHARED_SUPPRESS_BELOW if reader.role is Role.EVALUATOR else 0
                for area_id in sorted(reader.area_ids & areas.keys()):
                    area, figures = areas[area_id], reports[area_id, k]
                    sent += await core.queue_alert(
                        tx,
                        kind,
                        {"report": {"area": area.name, "area_en": area.name_en, "figures": figures}},
                        ticket=None,
                        person=reader,
                        key_suffix=f"#{figures['scope']['label']}#{area_id}",
                    )
        if sent:
            core.committed()
        return sent
