"""Agencies evaluated in three voices (三方评价) and the improvement actions an evaluation raises.

An agency's staff evaluate their own agency over a period; a supervisor whose areas the agency serves,
and a third-party evaluator given those areas, add theirs; each criterion (administration, outcomes,
project management, social impact) is scored 1 to 5. The service evaluation puts these beside the
households' ratings of the agency's cases and supervisors' reviews of them, and weighs them into one
score with the weights of the project (``indicators.Weights``).

An evaluation can raise improvement actions for an agency (what, by when): its staff are told, mark
them done, and the next report counts those open, overdue and done (反馈结果)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from casework import indicators, routing
from casework.access import Forbidden, covers
from casework.core import Operations, person_name
from casework.domain import (
    AGENCY_SCORES,
    AgencyCriterion,
    AgencyEvaluation,
    AlertKind,
    Conflict,
    ImprovementAction,
    InvalidInput,
    NotFound,
    Organisation,
    Person,
    Refusal,
    Role,
    Voice,
    given_words,
)
from casework.unit_of_work import Transaction

COMMENT_CHARS = 2000
WHAT_CHARS = 500
# Who raises improvement actions: those who evaluate an agency from outside it.
RAISERS = frozenset({Role.SUPERVISOR, Role.EVALUATOR, Role.ADMIN})


def voice_of(actor: Person, organisation: Organisation) -> Voice | None:
    """How ``actor`` speaks of the agency: its own staff, a supervisor (or an admin), an evaluator."""
    if actor.role is Role.SOCIAL_WORKER:
        return Voice.SELF if actor.organisation_id == organisation.id else None
    if actor.role in (Role.SUPERVISOR, Role.ADMIN):
        return Voice.SUPERVISOR
    if actor.role is Role.EVALUATOR:
        return Voice.EVALUATOR
    return None


class AgencyReviews(Operations):
    """Agencies evaluated by the people who work with them, and the improvement actions raised."""

    async def agencies_for(self, actor: Person) -> list[Organisation]:
        """The active agencies ``actor`` may evaluate: their own (agency staff), those serving an area
        of theirs (a supervisor, an evaluator), every one (an admin)."""
        async with self.core.database.transaction() as tx:
            return [
                agency
                for agency in await tx.organisations.list_all(active_only=True)
                if await self._may(tx, actor, agency)
            ]

    async def evaluate(
        self,
        actor: Person,
        organisation_id: int,
        period_text: str,
        scores: Mapping[AgencyCriterion, int],
        comment: str = "",
    ) -> AgencyEvaluation:
        """``actor``'s evaluation of the agency over the period, in their voice."""
        scored = all(score in AGENCY_SCORES for score in scores.values())
        if set(scores) != set(AgencyCriterion) or not scored:
            raise InvalidInput(Refusal.AGENCY_SCORES)
        core = self.core
        now = core.clock.now()
        start, end, label = indicators.period(
            period_text, today=now.astimezone(core.timezone).date(), timezone=core.timezone
        )
        async with core.database.transaction() as tx:
            agency = await self._agency(tx, actor, organisation_id)
            voice = voice_of(actor, agency)
            assert voice is not None  # ``_agency`` checked it
            return await tx.agency_reviews.add_evaluation(
                organisation_id=agency.id,
                period=label,
                period_start=start.date(),  # local midnights: their dates are the period's days
                period_end=(end - timedelta(days=1)).date(),
                voice=voice,
                by_id=actor.id,
                scores=scores,
                comment=comment.strip()[:COMMENT_CHARS] or None,
                now=now,
            )

    async def raise_action(
        self, actor: Person, organisation_id: int, what: str, due_on: date, *, period_text: str = "this-month"
    ) -> tuple[ImprovementAction, int]:
        """An improvement the agency is asked to make by ``due_on``, and how many of its staff were told
        (none when it has no social worker enrolled)."""
        if actor.role not in RAISERS:
            raise Forbidden(Refusal.IMPROVEMENT_RAISERS)
        what = given_words(what, Refusal.IMPROVEMENT_NEEDS_WORDS, at_most=WHAT_CHARS)
        core = self.core
        now = core.clock.now()
        today = now.astimezone(core.timezone).date()
        if due_on <= today:
            raise InvalidInput(Refusal.IMPROVEMENT_DUE_PAST)
        _, _, label = indicators.period(period_text, today=today, timezone=core.timezone)
        async with core.database.transaction() as tx:
            agency = await self._agency(tx, actor, organisation_id)
            action = await tx.agency_reviews.add_action(
                organisation_id=agency.id,
                what=what,
                due_on=due_on,
                raised_by_id=actor.id,
                raised_in=label,
                now=now,
            )
            staff = [
                person
                for person in await tx.people.find(role=Role.SOCIAL_WORKER)
                if person.organisation_id == agency.id and person.active
            ]
            told = 0
            for person in staff:
                told += await core.queue_alert(
                    tx,
                    AlertKind.IMPROVEMENT_RAISED,
                    {
                        "improvement": {
                            "by": person_name(actor),
                            "id": action.id,
                            "agency": agency.name,
                            "what": action.what,
                            "due_on": action.due_on.isoformat(),
                        },
                    },
                    ticket=None,
                    person=person,
                    key_suffix=f"#{action.id}",
                )
        core.committed()
        return action, told

    async def actions_for(self, actor: Person) -> list[tuple[ImprovementAction, Organisation]]:
        """The improvement actions of the agencies ``actor`` may evaluate, open ones first."""
        async with self.core.database.transaction() as tx:
            agencies = {
                agency.id: agency
                for agency in await tx.organisations.list_all()
                if await self._may(tx, actor, agency)
            }
            found = await tx.agency_reviews.actions(organisation_ids=agencies)
        return sorted(
            ((action, agencies[action.organisation_id]) for action in found),
            key=lambda pair: (pair[0].status.value != "open", pair[0].due_on, pair[0].id),
        )

    async def close_action(self, actor: Person, action_id: int, note: str = "") -> ImprovementAction:
        """The agency made the improvement: marked done by its staff, or by whoever may evaluate it."""
        core = self.core
        async with core.database.transaction() as tx:
            action = await tx.agency_reviews.action(action_id)
            if action is None:
                raise NotFound(Refusal.IMPROVEMENT_NOT_FOUND, action_id=action_id)
            await self._agency(tx, actor, action.organisation_id)
            done = await tx.agency_reviews.close_action(
                action.id, note=note.strip()[:COMMENT_CHARS] or None, now=core.clock.now()
            )
            if done is None:
                raise Conflict(Refusal.IMPROVEMENT_DONE)
            return done

    async def _agency(self, tx: Transaction, actor: Person, organisation_id: int) -> Organisation:
        agency = await tx.organisations.get(organisation_id)
        if agency is None:
            raise NotFound(Refusal.AGENCY_NOT_FOUND, organisation_id=organisation_id)
        if not await self._may(tx, actor, agency):
            raise Forbidden(Refusal.AGENCY_NOT_YOURS)
        return agency

    @staticmethod
    async def _may(tx: Transaction, actor: Person, agency: Organisation) -> bool:
        """Whether ``actor`` speaks for or of the agency: its own staff; a supervisor or an evaluator
        one of whose areas is an area the agency serves, or above it; an admin."""
        if not actor.active or voice_of(actor, agency) is None:
            return False
        if actor.role in (Role.ADMIN, Role.SOCIAL_WORKER):
            return True
        for area_id in agency.area_ids:
            if covers(actor, await routing.area_chain(tx, area_id)):
                return True
        return False
