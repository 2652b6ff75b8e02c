"""The household's case file (建档): the assessment recorded at or after the home visit, a new version
each time and never an overwrite; the service plan's goals, each with an owner, a due date and a
status; the plan's reviews, how each goal came on; and the tasks a plan gives volunteers.

The file belongs to the household, not to one ticket: a later ticket of the same household (found by
its address when it is opened) finds the file its earlier ones built. Who may read it is the case's
access rules (``Operation.READ_FILE``, ``READ_PLAN``, ``TASK``); who may write it, the holder's
(``Operation.ASSESS``); each record is on the ticket's trail by what it is, never by its answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from casework import routing
from casework.access import Operation, check
from casework.assessment_form import Form
from casework.core import CaseworkCore, Operations, person_name
from casework.domain import (
    OPEN_GOALS,
    AlertKind,
    Assessment,
    Conflict,
    Goal,
    GoalOwner,
    GoalStatus,
    Household,
    InvalidInput,
    NotFound,
    Organisation,
    Person,
    Progress,
    Refusal,
    Review,
    Role,
    ServiceType,
    Ticket,
    TicketAction,
    Urgency,
)
from casework.lifecycle import LIFECYCLE, WORK_BEGINS, Step, allows
from casework.referral import Target
from casework.unit_of_work import Transaction

TITLE_CHARS = 200
REMINDER_HOUR = time(9)  # a review falls due on a day: its reminder comes that morning


@dataclass(frozen=True, slots=True)
class NewGoal:
    """A goal as the worker sets it."""

    service_type: ServiceType
    title: str
    owner: GoalOwner = GoalOwner.WORKER
    owner_person_id: int | None = None  # the volunteer (the worker is whoever sets it)
    owner_organisation_id: int | None = None  # the agency
    due_on: date | None = None


@dataclass(frozen=True, slots=True)
class CaseFile:
    """What the household's file holds, as one read found it."""

    household: Household
    assessments: tuple[Assessment, ...]  # every version, the first first
    goals: tuple[Goal, ...]
    reviews: tuple[Review, ...]
    reassess_by: datetime | None  # when the next assessment is due (none before the first)
    reassess_for_crisis: bool  # due early: a crisis of the household since the last one
    next_review_on: date | None
    names: Mapping[int, str]  # who recorded, set and owns what: staff, agencies' and volunteers' names

    @property
    def latest(self) -> Assessment | None:
        return self.assessments[-1] if self.assessments else None

    @property
    def open_goals(self) -> tuple[Goal, ...]:
        return tuple(goal for goal in self.goals if goal.is_open)

    @property
    def empty(self) -> bool:
        return not (self.assessments or self.goals or self.reviews)


@dataclass(frozen=True, slots=True)
class FileOnCase:
    """A case, the chain of its area and the ones above it, and its household's file (none while the
    case has no household)."""

    ticket: Ticket
    area_chain: list[int]
    file: CaseFile | None


@dataclass(frozen=True, slots=True)
class VolunteerTask:
    """A task as its volunteer sees it: what, by when, where; nothing of the case around it."""

    goal: Goal
    address: str
    area: str


def due_morning(day: date, timezone: Any) -> datetime:
    return datetime.combine(day, REMINDER_HOUR, tzinfo=timezone)


class CaseFiles(Operations):
    """The operations on households' case files, each one transaction checked against the actor."""

    def __init__(self, core: CaseworkCore, form: Form) -> None:
        super().__init__(core)
        self.form = form

    # --- reading ----------------------------------------------------------------------------------

    async def file(self, actor: Person, ticket_id: int, *, in_full: bool = False) -> CaseFile | None:
        """The household's file, for whoever may read the case; None while the case has no household.
        A read ``in_full`` (the answers shown, not only what they found) is written to the trail."""
        return (await self.on_case(actor, ticket_id, in_full=in_full)).file

    async def on_case(self, actor: Person, ticket_id: int, *, in_full: bool = False) -> FileOnCase:
        """The case and its household's file, as ``file`` reads it, in one transaction."""
        async with self.database.transaction() as tx:
            ticket, chain = await self.core.checked(tx, actor, Operation.READ_FILE, ticket_id)
            if ticket.household_id is None:
                return FileOnCase(ticket, chain, None)
            if in_full:
                await tx.tickets.add_event(
                    ticket_id=ticket.id,
                    action=TicketAction.READ,
                    actor_id=actor.id,
                    note="file",
                    now=self.clock.now(),
                )
            return FileOnCase(ticket, chain, await self._read(tx, ticket.household_id))

    async def for_operator(self, household_id: int) -> CaseFile:
        """The household's file for the command line (an operator's read: no actor's access is checked)."""
        async with self.database.transaction() as tx:
            return await self._read(tx, household_id)

    async def plan_of(self, actor: Person, ticket_id: int) -> list[Goal]:
        """The plan's goals, for the household that follows its own plan (and staff who read the case)."""
        async with self.database.transaction() as tx:
            ticket, _ = await self.core.checked(tx, actor, Operation.READ_PLAN, ticket_id)
            if ticket.household_id is None:
                return []
            return await tx.case_files.goals(ticket.household_id)

    async def goal(self, actor: Person, goal_id: int) -> Goal:
        """One goal of a plan, for whoever may read the case it was set on."""
        async with self.database.transaction() as tx:
            goal = await self._goal(tx, goal_id)
            await self.core.checked(tx, actor, Operation.READ_FILE, self._ticket_of(goal))
            return goal

    async def tasks(self, actor: Person) -> list[VolunteerTask]:
        """The open tasks plans gave this volunteer, with the households' addresses."""
        found = []
        async with self.database.transaction() as tx:
            for goal in await tx.case_files.tasks_of(actor.id):
                household = await self._task_checked(tx, actor, goal)
                area = await tx.areas.get(household.area_id)
                found.append(VolunteerTask(goal, household.address, area.name if area else ""))
        return found

    async def _read(self, tx: Transaction, household_id: int) -> CaseFile:
        household = await tx.households.get(household_id)
        assert household is not None  # a ticket's household is never deleted
        assessments = tuple(await tx.case_files.assessments(household_id))
        goals = tuple(await tx.case_files.goals(household_id))
        reviews = tuple(await tx.case_files.reviews(household_id))
        reassess_by, for_crisis = await self.reassess_by(tx, household_id, assessments)
        names: dict[int, str] = {}
        for person_id in {
            *(a.recorded_by_id for a in assessments),
            *(g.owner_person_id for g in goals),
            *(r.reviewed_by_id for r in reviews),
        }:
            if person_id is not None:
                names[person_id] = person_name(await tx.people.get(person_id))
        for goal in goals:
            if goal.owner_organisation_id is not None:
                agency = await tx.organisations.get(goal.owner_organisation_id)
                names[-goal.owner_organisation_id] = agency.name if agency else "—"
        return CaseFile(
            household=household,
            assessments=assessments,
            goals=goals,
            reviews=reviews,
            reassess_by=reassess_by,
            reassess_for_crisis=for_crisis,
            next_review_on=self.next_review(goals, reviews),
            names=names,
        )

    async def reassess_by(
        self, tx: Transaction, household_id: int, assessments: Sequence[Assessment]
    ) -> tuple[datetime | None, bool]:
        """When the household is due its next assessment: the set time after the last, or sooner after
        a crisis of the household since then."""
        if not assessments:
            return None, False
        last = assessments[-1].recorded_at
        due = last + self.policy.reassess_after
        crises = [
            ticket.created_at
            for ticket in await tx.tickets.find(household_id=household_id, urgencies=[Urgency.CRITICAL])
            if ticket.created_at > last
        ]
        if crises and crises[0] + self.policy.reassess_after_crisis < due:
            return crises[0] + self.policy.reassess_after_crisis, True
        return due, False

    def next_review(self, goals: Sequence[Goal], reviews: Sequence[Review]) -> date | None:
        """The date the plan is next reviewed: as the last review set it, or some weeks after the plan
        was set; none once no goal is open."""
        if not any(goal.is_open for goal in goals):
            return None
        if reviews:
            return reviews[-1].next_review_on
        first = min(goal.created_at for goal in goals)
        return (first + self.policy.review_every).astimezone(self.core.timezone).date()

    # --- the assessment ---------------------------------------------------------------------------

    async def record_assessment(
        self, actor: Person, ticket_id: int, answers: Mapping[str, Any]
    ) -> Assessment:
        """A new version of the household's assessment (the earlier ones stay as they are)."""
        kept = self.form.clean(answers)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ticket, household_id = await self._writable(tx, actor, ticket_id, Step.ASSESS)
            assessment = await tx.case_files.add_assessment(
                household_id=household_id,
                form_version=self.form.version,
                answers=kept,
                risk=kept[self.form.risk],
                needs=kept[self.form.needs],
                recorded_by_id=actor.id,
                ticket_id=ticket.id,
                now=now,
            )
            await self._on_trail(tx, ticket, actor, Step.ASSESS, f"v{assessment.version}")
        self.core.later(self.core.follow_ups.reassessment_due, household_id, now + self.policy.reassess_after)
        return assessment

    # --- the plan ---------------------------------------------------------------------------------

    async def add_goal(self, actor: Person, ticket_id: int, new: NewGoal) -> Goal:
        """A goal of the plan; a volunteer's is their task, and they are told of it."""
        title = " ".join(new.title.split())[:TITLE_CHARS]
        if not title:
            raise InvalidInput(Refusal.GOAL_NEEDS_TITLE)
        now = self.clock.now()
        if new.due_on is not None and new.due_on <= now.astimezone(self.core.timezone).date():
            raise InvalidInput(Refusal.GOAL_DUE_PAST)
        async with self.database.transaction() as tx:
            ticket, household_id = await self._writable(tx, actor, ticket_id, Step.PLAN)
            owner_person_id = actor.id if new.owner is GoalOwner.WORKER else new.owner_person_id
            organisation_id = new.owner_organisation_id if new.owner is GoalOwner.AGENCY else None
            if new.owner is GoalOwner.AGENCY:
                agency = await tx.organisations.get(organisation_id) if organisation_id else None
                if agency is None or not agency.active:
                    raise InvalidInput(Refusal.GOAL_OWNER_MISSING, owner=new.owner.value)
            volunteer = None
            if new.owner is GoalOwner.VOLUNTEER:
                volunteer = await self._volunteer(tx, ticket, owner_person_id)
            first = not await tx.case_files.goals(household_id)
            goal = await tx.case_files.add_goal(
                household_id=household_id,
                ticket_id=ticket.id,
                service_type=new.service_type,
                title=title,
                owner=new.owner,
                owner_person_id=owner_person_id,
                owner_organisation_id=organisation_id,
                due_on=new.due_on,
                created_by_id=actor.id,
                now=now,
            )
            await self._on_trail(tx, ticket, actor, Step.PLAN, f"#{goal.number}")
            if volunteer is not None:
                await self.core.queue_alert(
                    tx,
                    AlertKind.TASK_GIVEN,
                    {"task": await self._task_card(tx, goal, household_id)},
                    ticket=None,
                    person=volunteer,
                    key_suffix=f"#goal{goal.id}",
                )
        if first:  # the plan's first review falls due some weeks on
            review_on = (now + self.policy.review_every).astimezone(self.core.timezone).date()
            self.core.later(
                self.core.follow_ups.review_due, household_id, due_morning(review_on, self.core.timezone)
            )
        self.core.committed()
        return goal

    async def set_goal_status(
        self, actor: Person, goal_id: int, status: GoalStatus, reason: str = ""
    ) -> Goal:
        """A goal under way, achieved, or dropped (with the reason why)."""
        reason = reason.strip()[:2000]
        if status is GoalStatus.DROPPED and not reason:
            raise InvalidInput(Refusal.GOAL_DROP_NEEDS_REASON)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            goal = await self._goal(tx, goal_id)
            ticket, _ = await self._writable(tx, actor, self._ticket_of(goal), Step.PLAN)
            moved = await tx.case_files.set_goal_status(
                goal.id, status=status, now=now, expected=OPEN_GOALS, drop_reason=reason or None
            )
            if moved is None:
                raise Conflict(Refusal.GOAL_FINISHED, number=goal.number, status=goal.status.value)
            await tx.tickets.add_event(
                ticket_id=ticket.id,
                action=TicketAction.GOAL_CHANGED,
                actor_id=actor.id,
                note=moved.change_note,
                now=now,
            )
        return moved

    async def volunteers_for(self, actor: Person, ticket_id: int) -> list[Target]:
        """The active volunteers of the case's area (or above it), whom a task can be given to."""
        async with self.database.transaction() as tx:
            _, chain = await self.core.checked(tx, actor, Operation.ASSESS, ticket_id)
            volunteers = await tx.people.find(role=Role.VOLUNTEER, area_ids=chain)
        return _volunteers(volunteers)

    async def goal_owners(self, actor: Person, ticket_id: int) -> list[Target]:
        """Whom a goal of the case can be given to besides its worker: the active agencies serving its
        area (or above it), whatever their services, then its volunteers."""
        async with self.database.transaction() as tx:
            _, chain = await self.core.checked(tx, actor, Operation.ASSESS, ticket_id)
            agencies = await tx.organisations.list_all(active_only=True)
            volunteers = await tx.people.find(role=Role.VOLUNTEER, area_ids=chain)
        return [*_agencies(agencies, chain), *_volunteers(volunteers)]

    async def agencies_for(self, actor: Person, ticket_id: int, service_type: ServiceType) -> list[Target]:
        """The active agencies serving the case's area (or above it) that offer ``service_type``."""
        async with self.database.transaction() as tx:
            _, chain = await self.core.checked(tx, actor, Operation.ASSESS, ticket_id)
            agencies = await tx.organisations.list_all(active_only=True)
        return _agencies(agencies, chain, service_type)

    # --- reviews ----------------------------------------------------------------------------------

    async def record_review(
        self,
        actor: Person,
        ticket_id: int,
        progress: Mapping[int, Progress],
        *,
        next_review_on: date | None,
        note: str = "",
    ) -> Review:
        """How each open goal came on; an achieved one is marked so. The next review is set for a
        date (the worker is reminded that morning), or none when the plan is done."""
        now = self.clock.now()
        if next_review_on is not None and next_review_on <= now.astimezone(self.core.timezone).date():
            raise InvalidInput(Refusal.REVIEW_DATE_PAST)
        async with self.database.transaction() as tx:
            ticket, household_id = await self._writable(tx, actor, ticket_id, Step.REVIEW)
            open_goals = {goal.id: goal for goal in await tx.case_files.goals(household_id) if goal.is_open}
            if not open_goals:
                raise Conflict(Refusal.REVIEW_NO_OPEN_GOALS)
            if not progress:
                raise InvalidInput(Refusal.REVIEW_NOTHING)
            if not set(progress) <= set(open_goals):
                raise Conflict(Refusal.REVIEW_GOALS_CHANGED)
            review = await tx.case_files.add_review(
                household_id=household_id,
                ticket_id=ticket.id,
                reviewed_by_id=actor.id,
                progress=progress,
                next_review_on=next_review_on,
                note=note.strip()[:2000] or None,
                now=now,
            )
            for goal_id, value in progress.items():
                target = GoalStatus.ACHIEVED if value is Progress.ACHIEVED else GoalStatus.UNDER_WAY
                if open_goals[goal_id].status is not target:
                    await tx.case_files.set_goal_status(goal_id, status=target, now=now, expected=OPEN_GOALS)
            await self._on_trail(tx, ticket, actor, Step.REVIEW, str(len(progress)))
        if next_review_on is not None:
            self.core.later(
                self.core.follow_ups.review_due, household_id, due_morning(next_review_on, self.core.timezone)
            )
        return review

    # --- a volunteer's task -----------------------------------------------------------------------

    async def task_done(self, actor: Person, goal_id: int) -> VolunteerTask:
        """The volunteer did the task: the goal is achieved, and whoever holds the case hears it."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            goal = await self._goal(tx, goal_id)
            household = await self._task_checked(tx, actor, goal)
            done = await tx.case_files.set_goal_status(
                goal.id, status=GoalStatus.ACHIEVED, now=now, expected=OPEN_GOALS
            )
            if done is None:
                raise Conflict(Refusal.GOAL_FINISHED, number=goal.number, status=goal.status.value)
            ticket = await self.core.ticket(tx, self._ticket_of(goal))
            await tx.tickets.add_event(
                ticket_id=ticket.id,
                action=TicketAction.TASK_DONE,
                actor_id=actor.id,
                note=f"#{goal.number}",
                now=now,
            )
            await self.core.tell(
                tx,
                ticket,
                AlertKind.TASK_DONE,
                await self.core.answering_for(tx, ticket),
                extra={"task": await self._task_card(tx, done, household.id), "by": person_name(actor)},
                round_key=f"#goal{goal.id}",
            )
            area = await tx.areas.get(household.area_id)
        self.core.committed()
        return VolunteerTask(done, household.address, area.name if area else "")

    # --- what the operations share ----------------------------------------------------------------

    async def may_record(self, actor: Person, ticket_id: int, step: Step) -> Ticket:
        """The ticket, when ``actor`` may record ``step`` (assess, plan, review) to its household's file
        now; the refusal they would get otherwise. What a form asks before it is filled in."""
        async with self.database.transaction() as tx:
            return await self._recordable(tx, actor, ticket_id, step)

    async def _recordable(self, tx: Transaction, actor: Person, ticket_id: int, step: Step) -> Ticket:
        ticket, _ = await self.core.checked(tx, actor, LIFECYCLE[step].operation, ticket_id)
        if not allows(step, ticket, actor):
            raise Conflict(Refusal.TICKET_NOT_OPEN, reference=ticket.reference, status=ticket.status)
        return ticket

    async def _writable(
        self, tx: Transaction, actor: Person, ticket_id: int, step: Step
    ) -> tuple[Ticket, int]:
        """The open ticket the holder records to, and its household's id: a case without a household
        (nobody gave an address) gets one now, for the file."""
        ticket = await self._recordable(tx, actor, ticket_id, step)
        if ticket.household_id is not None:
            return ticket, ticket.household_id
        household = await tx.households.add(area_id=ticket.area_id, now=self.clock.now())
        updated = await tx.tickets.update_fields(ticket.id, now=self.clock.now(), household_id=household.id)
        assert updated is not None
        return updated, household.id

    async def _on_trail(self, tx: Transaction, ticket: Ticket, actor: Person, step: Step, note: str) -> None:
        """The record on the ticket's trail; the first work on a case just assigned begins it."""
        begun = WORK_BEGINS.get(ticket.status)
        if begun is not None:
            await tx.tickets.transition(
                ticket.id, to_status=begun, now=self.clock.now(), expected={ticket.status}
            )
        await tx.tickets.add_event(
            ticket_id=ticket.id,
            action=LIFECYCLE[step].event,
            actor_id=actor.id,
            note=note,
            now=self.clock.now(),
        )

    @staticmethod
    async def _goal(tx: Transaction, goal_id: int) -> Goal:
        goal = await tx.case_files.goal(goal_id)
        if goal is None:
            raise NotFound(Refusal.GOAL_NOT_FOUND, goal_id=goal_id)
        return goal

    @staticmethod
    def _ticket_of(goal: Goal) -> int:
        if goal.ticket_id is None:  # its case was deleted: nothing to act through
            raise NotFound(Refusal.GOAL_NOT_FOUND, goal_id=goal.id)
        return goal.ticket_id

    async def _task_checked(self, tx: Transaction, actor: Person, goal: Goal) -> Household:
        """The household of a volunteer's task, if the task is ``actor``'s (else ``Forbidden``)."""
        ticket = await self.core.ticket(tx, self._ticket_of(goal))
        chain = await routing.area_chain(tx, ticket.area_id)
        owner = goal.owner_person_id if goal.owner is GoalOwner.VOLUNTEER else None
        check(actor, Operation.TASK, ticket, chain, task_owner_id=owner)
        household = await tx.households.get(goal.household_id)
        if household is None:
            raise NotFound(Refusal.GOAL_NOT_FOUND, goal_id=goal.id)
        return household

    async def _volunteer(self, tx: Transaction, ticket: Ticket, person_id: int | None) -> Person:
        if person_id is None:
            raise InvalidInput(Refusal.GOAL_OWNER_MISSING, owner=GoalOwner.VOLUNTEER.value)
        volunteer = await tx.people.get(person_id)
        chain = await routing.area_chain(tx, ticket.area_id)
        if volunteer is None or volunteer.role is not Role.VOLUNTEER or not volunteer.active:
            raise InvalidInput(Refusal.GOAL_VOLUNTEER_OUTSIDE)
        if not volunteer.area_ids & set(chain):
            raise InvalidInput(Refusal.GOAL_VOLUNTEER_OUTSIDE)
        return volunteer

    @staticmethod
    async def _task_card(tx: Transaction, goal: Goal, household_id: int) -> dict[str, Any]:
        """What a task's alerts say of it: the goal's number, words and due date, and the address."""
        household = await tx.households.get(household_id)
        return {
            "id": goal.id,
            "number": goal.number,
            "title": goal.title,
            "due_on": goal.due_on.isoformat() if goal.due_on else None,
            "address": household.address if household else "",
        }


def _agencies(
    agencies: list[Organisation], chain: list[int], service_type: ServiceType | None = None
) -> list[Target]:
    """The agencies serving an area of ``chain`` (offering ``service_type``, when one is named)."""
    return [
        Target("agency", agency.id, agency.name, None)
        for agency in agencies
        if agency.area_ids & set(chain) and (service_type is None or service_type in agency.service_types)
    ]


def _volunteers(volunteers: list[Person]) -> list[Target]:
    return [Target("volunteer", person.id, person_name(person), None) for person in volunteers]
