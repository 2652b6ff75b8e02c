"""Service evaluation (服务评估): the indicators of how the service answers needs, computed from the
append-only trail of the cases opened in a period (with their referrals, ratings, reports and the
households' case files), never from a column that is overwritten.

Every duration is defined once, as a ``Span``: the trail event it runs from, the events that end it
and the cases it applies to, with what it measures in words (``says``). Durations are reported as
count, median, 90th percentile and maximum (minutes), never as a mean alone; shares as numerator over
denominator. The same cases give the same figures on any database: the figures are computed here, from
the records, not by the database's own functions.
"""

from __future__ import annotations

import calendar
import contextlib
import functools
import gc
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from casework import routing
from casework.access import Forbidden, covers
from casework.core import CaseworkCore, Operations
from casework.domain import (
    OPEN_STATUSES,
    ActionStatus,
    AgencyEvaluation,
    Area,
    Assessment,
    Criterion,
    Feedback,
    Goal,
    GoalStatus,
    ImprovementAction,
    InvalidInput,
    Met,
    NeedReport,
    Person,
    Referral,
    ReferralStatus,
    Refusal,
    Role,
    ServiceType,
    SupervisionReview,
    Ticket,
    TicketAction,
    TicketStatus,
    Urgency,
    Voice,
)
from casework.reading import area_and_below
from casework.unit_of_work import UnitOfWork

CRISIS_ANSWERED_WITHIN = timedelta(minutes=10)
REFERRAL_COMPLETED_WITHIN = timedelta(days=30)
CASELOAD_BANDS = ((0, 9), (10, 19), (20, None))
NEED_LEVELS = {"none": 0, "low": 1, "medium": 2, "high": 3}  # the assessment's ratings, in order


class Mark(NamedTuple):
    """An event of a case's trail as the evaluation reads it: what happened, when, and its note."""

    action: TicketAction
    created_at: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CaseHistory:
    """One case as the evaluation reads it: the ticket and everything recorded of it (of its trail,
    the events some figure counts: ``COUNTED``)."""

    ticket: Ticket
    events: tuple[Mark, ...]
    referrals: tuple[Referral, ...] = ()
    feedback: tuple[Feedback, ...] = ()
    reports: tuple[NeedReport, ...] = ()
    supervision: tuple[SupervisionReview, ...] = ()  # supervisors' reviews (督导), the latest last
    # The reporter, named on the case, agreed that their report be kept: its words may be quoted.
    words_kept: bool = False
    # When each kind of event first happened: most questions a report asks of a case are this; and
    # when the first of a set of kinds did (``first``), as asked, for the next figure that asks.
    firsts: Mapping[TicketAction, datetime] = field(init=False, repr=False, compare=False)
    _earliest: dict[frozenset[TicketAction], datetime | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        firsts: dict[TicketAction, datetime] = {}
        for event in self.events:
            firsts.setdefault(event.action, event.created_at)
        object.__setattr__(self, "firsts", firsts)
        object.__setattr__(self, "_earliest", {})

    def first(self, actions: frozenset[TicketAction], *, since: datetime | None = None) -> datetime | None:
        """When the first of these events happened (at or after ``since``), if any did."""
        if actions not in self._earliest:
            found = [self.firsts[action] for action in actions if action in self.firsts]
            self._earliest[actions] = min(found, default=None)
        first = self._earliest[actions]
        if since is None or first is None or first >= since:
            return first
        return next(
            (
                event.created_at
                for event in self.events
                if event.action in actions and event.created_at >= since
            ),
            None,
        )

    def has(self, action: TicketAction) -> bool:
        return action in self.firsts

    @property
    def flagged(self) -> bool:
        """Reported on the household's behalf (a volunteer's flag), not by the household itself."""
        return any(report.on_behalf for report in self.reports)


# --- the figures ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Durations:
    """How long something took, in minutes, over ``count`` cases."""

    count: int
    median: float | None
    p90: float | None
    maximum: float | None

    @classmethod
    def of(cls, minutes: Sequence[float]) -> Durations:
        values = sorted(minutes)
        if not values:
            return cls(0, None, None, None)
        return cls(
            len(values),
            round(statistics.median(values), 1),
            round(percentile(values, 0.9), 1),
            round(values[-1], 1),
        )


def percentile(ordered: Sequence[float], share: float) -> float:
    """The value below which ``share`` of the ordered values lie (linear between the nearest two)."""
    position = (len(ordered) - 1) * share
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Share:
    """How many of how many."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return round(self.numerator / self.denominator, 3) if self.denominator else None

    @classmethod
    def of(cls, cases: Iterable[Any], test: Callable[[Any], bool]) -> Share:
        chosen = list(cases)
        return cls(sum(1 for case in chosen if test(case)), len(chosen))


# --- durations, each defined once -----------------------------------------------------------------

OPENING = frozenset({TicketAction.OPENED})
CLAIMING = frozenset({TicketAction.CLAIMED, TicketAction.ASSIGNED})
CONTACT = frozenset({TicketAction.MESSAGE_SENT, TicketAction.NOTE, TicketAction.VISITED})
ANSWERING_A_CRISIS = frozenset({TicketAction.ACKNOWLEDGED, TicketAction.CLAIMED, TicketAction.ASSIGNED})
RESOLVING = frozenset({TicketAction.RESOLVED, TicketAction.REFERRAL_COMPLETED})


# Every event of the trail a figure counts: the rest (reads, messages received, edits …) are not read.
COUNTED = (
    OPENING
    | CLAIMING
    | CONTACT
    | ANSWERING_A_CRISIS
    | RESOLVING
    | {
        TicketAction.CLOSED,
        TicketAction.REOPENED,
        TicketAction.CRISIS_ALERTED,
        TicketAction.ASSESSED,
        TicketAction.GOAL_SET,
        TicketAction.REVIEWED,
    }
)


def _always(case: CaseHistory) -> bool:
    return True


def _critical(case: CaseHistory) -> bool:
    return case.ticket.urgency is Urgency.CRITICAL


@dataclass(frozen=True, slots=True)
class Span:
    """A duration: from the case's first ``start`` event (its opening, unless said) to the first of
    ``end`` after it, for the cases it ``applies`` to that got that far."""

    key: str
    says: str
    end: frozenset[TicketAction]
    start: frozenset[TicketAction] = OPENING
    applies: Callable[[CaseHistory], bool] = _always

    def minutes(self, case: CaseHistory) -> float | None:
        if not self.applies(case):
            return None
        began = case.ticket.created_at if self.start == OPENING else case.first(self.start)
        if began is None:
            return None
        ended = case.first(self.end, since=began)
        return (ended - began).total_seconds() / 60 if ended is not None else None

    def over(self, cases: Iterable[CaseHistory]) -> Durations:
        return Durations.of([m for m in (self.minutes(case) for case in cases) if m is not None])


TIME_TO_CLAIM = Span("time_to_claim", "from opening to the first claim or assignment", CLAIMING)
TIME_TO_CONTACT = Span(
    "time_to_contact",
    "from opening to the first contact with the person: a message, a note, a visit",
    CONTACT,
)
TIME_TO_ACKNOWLEDGE = Span(
    "time_to_acknowledge",
    'a crisis, from opening to the first "I\'m on it", claim or assignment',
    ANSWERING_A_CRISIS,
    applies=_critical,
)
TIME_TO_RESOLVE = Span("time_to_resolve", "from opening to resolution (or a completed referral)", RESOLVING)
TIME_TO_CLOSE = Span("time_to_close", "from opening to closing", frozenset({TicketAction.CLOSED}))
CLAIM_TO_VISIT = Span(
    "claim_to_visit",
    "from the first claim to the home visit",
    frozenset({TicketAction.VISITED}),
    start=CLAIMING,
)
CLAIM_TO_ASSESSMENT = Span(
    "claim_to_assessment",
    "from the first claim to the household's assessment",
    frozenset({TicketAction.ASSESSED}),
    start=CLAIMING,
)
SPANS = (
    TIME_TO_CLAIM,
    TIME_TO_CONTACT,
    TIME_TO_ACKNOWLEDGE,
    TIME_TO_RESOLVE,
    TIME_TO_CLOSE,
    CLAIM_TO_VISIT,
    CLAIM_TO_ASSESSMENT,
)


def claimed_in_time(case: CaseHistory) -> bool:
    claimed = case.first(CLAIMING)
    deadline = case.ticket.claim_deadline
    return claimed is not None and (deadline is None or claimed <= deadline)


def resolved_in_time(case: CaseHistory) -> bool:
    resolved = case.first(RESOLVING)
    deadline = case.ticket.resolve_deadline
    return resolved is not None and (deadline is None or resolved <= deadline)


def breached(case: CaseHistory, now: datetime) -> bool:
    """Past a deadline: unclaimed after the claim deadline, or unresolved after the resolve deadline."""
    ticket = case.ticket
    claimed = case.first(CLAIMING) or now
    resolved = case.first(RESOLVING) or now
    return bool(
        (ticket.claim_deadline and claimed > ticket.claim_deadline)
        or (ticket.resolve_deadline and resolved > ticket.resolve_deadline)
    )


def escalated(case: CaseHistory) -> bool:
    """A crisis that had to be carried beyond its area's first alerts (a later step of the ladder)."""
    return any(
        event.action is TicketAction.CRISIS_ALERTED and not (event.note or "").startswith("step 0")
        for event in case.events
    )


# --- the report -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """Which cases a report counts: those opened in [``start``, ``end``), and of those the ones of a
    service type, held by a worker or by (or referred to) an agency, when given."""

    start: datetime
    end: datetime
    label: str
    service_type: str | None = None
    worker_id: int | None = None
    organisation_id: int | None = None

    def takes(self, case: CaseHistory) -> bool:
        ticket = case.ticket
        if self.service_type is not None and ticket.service_type.value != self.service_type:
            return False
        if self.worker_id is not None and ticket.assignee_id != self.worker_id:
            return False
        return self.organisation_id is None or (
            ticket.organisation_id == self.organisation_id
            or any(referral.to_organisation_id == self.organisation_id for referral in case.referrals)
        )


@dataclass(frozen=True, slots=True)
class Report:
    scope: Scope
    sections: dict[str, dict[str, Any]] = field(hash=False)
    suppressed_below: int = 0

    def without_words(self) -> Report:
        """The report without anybody's words (the households' comments, the policy questions'
        examples): figures only, for a copy kept where an erasure would not reach it (an alert)."""
        sections = {name: dict(figures) for name, figures in self.sections.items()}
        sections["satisfaction"]["comments"] = []
        sections["policy_feedback"]["groups"] = [
            {**group, "examples": []} for group in sections["policy_feedback"]["groups"]
        ]
        return replace(self, sections=sections)

    def as_plain(self) -> dict[str, Any]:
        """The report as JSON has it (``plain``), its scope included; ``from_plain`` reads it back."""
        scope = self.scope
        return {
            "scope": {
                "start": scope.start.isoformat(),
                "end": scope.end.isoformat(),
                "label": scope.label,
                "service_type": scope.service_type,
                "worker_id": scope.worker_id,
                "organisation_id": scope.organisation_id,
            },
            "sections": plain(self.sections),
            "suppressed_below": self.suppressed_below,
        }

    @classmethod
    def from_plain(cls, stored: Mapping[str, Any]) -> Report:
        scope = stored["scope"]
        return cls(
            scope=Scope(
                datetime.fromisoformat(scope["start"]),
                datetime.fromisoformat(scope["end"]),
                scope["label"],
                scope.get("service_type"),
                scope.get("worker_id"),
                scope.get("organisation_id"),
            ),
            sections=figures(stored["sections"]),
            suppressed_below=int(stored.get("suppressed_below", 0)),
        )


WEIGHTS_FILE = Path(__file__).resolve().parent / "data" / "evaluation_weights.yml"


@functools.cache
def default_weights() -> Weights:
    """The weights that come with needsbot (``casework/data/evaluation_weights.yml``)."""
    return Weights.load()


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each voice counts in an agency's composite score (``VOICES``, any scale)."""

    weights: Mapping[str, float]

    VOICES = ("recipients", "supervision", *(voice.value for voice in Voice))

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> Weights:
        """The weights of a file; each voice named, none negative, not all nought."""
        found = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(found, dict) or set(found) != set(cls.VOICES):
            raise ValueError(f"{path}: name each of {', '.join(cls.VOICES)}, and nothing else")
        weights = {name: float(value) for name, value in found.items()}
        if any(value < 0 for value in weights.values()) or not any(weights.values()):
            raise ValueError(f"{path}: weights are numbers of at least 0, not all 0")
        return cls(weights)

    def composite(self, scores: Mapping[str, float | None]) -> float | None:
        """The voices' scores (per cent) weighed together; voices without a score are left out and the
        others' weights scaled to add up to 1. None when no voice with a weight has a score."""
        present = {name: score for name, score in scores.items() if score is not None and self.weights[name]}
        total = sum(self.weights[name] for name in present)
        if not total:
            return None
        return round(sum(self.weights[name] * score for name, score in present.items()) / total, 1)


def evaluate(
    cases: Sequence[CaseHistory],
    scope: Scope,
    *,
    open_now: Sequence[Ticket] = (),
    assessments: Sequence[Assessment] = (),
    goals: Sequence[Goal] = (),
    agency_evaluations: Sequence[AgencyEvaluation] = (),
    improvements: Sequence[ImprovementAction] = (),
    weights: Weights | None = None,
    now: datetime,
    suppress_below: int = 0,
) -> Report:
    """Every indicator over the cases in ``scope``; ``open_now``: the open tickets of the areas (the
    caseload is a picture of now); ``assessments`` and ``goals``: the files of the cases' households.
    ``suppress_below``: a figure over fewer cases than this is left out (for a report that leaves the
    supervisor's own area)."""
    chosen = [case for case in cases if scope.takes(case)]
    households = {case.ticket.household_id for case in chosen if case.ticket.household_id is not None}
    sections: dict[str, dict[str, Any]] = {
        "response": _response(chosen, now),
        "crisis": _crisis(chosen),
        "resolution": _resolution(chosen),
        "case_files": _case_files(
            chosen,
            [a for a in assessments if a.household_id in households],
            [g for g in goals if g.household_id in households],
        ),
        "referral": _referral(chosen, now),
        "satisfaction": _satisfaction(chosen),
        "supervision": _supervision(chosen),
        "caseload": _caseload(open_now, now),
        "needs": _needs(chosen),
        "policy_feedback": _policy_feedback(chosen),
        "agencies": _agencies(
            chosen,
            agency_evaluations,
            improvements,
            weights or default_weights(),
            scope,
            today=now.astimezone(scope.start.tzinfo).date(),  # the day where the due dates are set
        ),
    }
    if not suppress_below:
        return Report(scope=scope, sections=sections)
    # For a report that leaves the supervisor's area: no small cells, nobody's words (the households'
    # comments, and the policy questions' examples too).
    sections = {name: _suppressed(figures, suppress_below) for name, figures in sections.items()}
    return Report(scope=scope, sections=sections, suppressed_below=suppress_below).without_words()


def _response(cases: list[CaseHistory], now: datetime) -> dict[str, Any]:
    by_urgency = {
        urgency.value: {
            "claimed_in_time": Share.of(of_urgency, claimed_in_time),
            "breached": Share.of(of_urgency, lambda case: breached(case, now)),
        }
        for urgency in Urgency
        if (of_urgency := [case for case in cases if case.ticket.urgency is urgency])
    }
    return {
        "cases": len(cases),
        "time_to_claim": TIME_TO_CLAIM.over(cases),
        "time_to_contact": TIME_TO_CONTACT.over(cases),
        "claimed_in_time": Share.of(cases, claimed_in_time),
        "breached": Share.of(cases, lambda case: breached(case, now)),
        "by_urgency": by_urgency,
    }


def _crisis(cases: list[CaseHistory]) -> dict[str, Any]:
    crises = [case for case in cases if _critical(case)]

    def in_time(case: CaseHistory) -> bool:
        minutes = TIME_TO_ACKNOWLEDGE.minutes(case)
        return minutes is not None and minutes <= CRISIS_ANSWERED_WITHIN.total_seconds() / 60

    return {
        "crises": len(crises),
        "time_to_acknowledge": TIME_TO_ACKNOWLEDGE.over(crises),
        "acknowledged_within_10_minutes": Share.of(crises, in_time),
        "escalated": Share.of(crises, escalated),
    }


def _resolution(cases: list[CaseHistory]) -> dict[str, Any]:
    resolved = [case for case in cases if case.first(RESOLVING) is not None]
    return {
        "time_to_resolve": TIME_TO_RESOLVE.over(cases),
        "time_to_close": TIME_TO_CLOSE.over(cases),
        "resolved_in_time": Share.of(cases, resolved_in_time),
        "reopened": Share.of(resolved, lambda case: case.has(TicketAction.REOPENED)),
    }


def _case_files(cases: list[CaseHistory], assessments: list[Assessment], goals: list[Goal]) -> dict[str, Any]:
    claimed = [case for case in cases if case.first(CLAIMING) is not None]
    by_household: dict[int, list[Assessment]] = {}
    for assessment in sorted(assessments, key=lambda a: (a.household_id, a.version)):
        by_household.setdefault(assessment.household_id, []).append(assessment)
    changes = [
        need_change(versions[-2], versions[-1]) for versions in by_household.values() if len(versions) > 1
    ]
    decided = [goal for goal in goals if goal.status is not GoalStatus.DROPPED]
    return {
        "visited": Share.of(claimed, lambda case: case.has(TicketAction.VISITED)),
        "assessed": Share.of(claimed, lambda case: case.has(TicketAction.ASSESSED)),
        "claim_to_visit": CLAIM_TO_VISIT.over(cases),
        "claim_to_assessment": CLAIM_TO_ASSESSMENT.over(cases),
        "plans_set": Share.of(claimed, lambda case: case.has(TicketAction.GOAL_SET)),
        "reviewed": Share.of(
            [case for case in claimed if case.has(TicketAction.GOAL_SET)],
            lambda case: case.has(TicketAction.REVIEWED),
        ),
        "goals_achieved": Share.of(decided, lambda goal: goal.status is GoalStatus.ACHIEVED),
        "need_change": {
            "households": len(changes),
            # the sum of the need ratings over the five services, latest assessment less the one before:
            # below zero, less is needed than before
            "median": float(statistics.median(changes)) if changes else None,
            "less_needed": sum(change < 0 for change in changes),
            "more_needed": sum(change > 0 for change in changes),
        },
    }


def need_change(before: Assessment, after: Assessment) -> int:
    """How much the household's needs changed between two assessments: the sum of the five services'
    need ratings (none 0, low 1, medium 2, high 3), after less before."""

    def total(assessment: Assessment) -> int:
        return sum(NEED_LEVELS.get(level, 0) for level in assessment.needs.values())

    return total(after) - total(before)


def _referral(cases: list[CaseHistory], now: datetime) -> dict[str, Any]:
    referrals = [referral for case in cases for referral in case.referrals]
    answered = [
        r
        for r in referrals
        if r.status in (ReferralStatus.ACCEPTED, ReferralStatus.COMPLETED, ReferralStatus.DECLINED)
        and r.responded_at is not None
    ]
    accepted = [r for r in referrals if r.status in (ReferralStatus.ACCEPTED, ReferralStatus.COMPLETED)]

    def completed_in_time(referral: Referral) -> bool:
        return (
            referral.completed_at is not None
            and referral.completed_at - referral.created_at <= REFERRAL_COMPLETED_WITHIN
        )

    agencies = Counter(r.to_organisation_id for r in referrals if r.to_organisation_id is not None)
    return {
        "referrals": len(referrals),
        "per_case": round(len(referrals) / len(cases), 3) if cases else None,
        "accepted": Share.of(answered, lambda r: r.status is not ReferralStatus.DECLINED),
        "time_to_answer": Durations.of(
            [(r.responded_at - r.created_at).total_seconds() / 60 for r in answered if r.responded_at]
        ),
        "completed_within_30_days": Share.of(
            [r for r in accepted if now - r.created_at >= REFERRAL_COMPLETED_WITHIN or r.completed_at],
            completed_in_time,
        ),
        "declined": sum(r.status is ReferralStatus.DECLINED for r in referrals),
        "by_agency": {str(agency): count for agency, count in sorted(agencies.items())},
    }


def _satisfaction(cases: list[CaseHistory]) -> dict[str, Any]:
    # Only the household rates (``access.Operation.RATE``): the cases asked are the finished cases a
    # household reported itself (not a volunteer's flags), each rated at most once.
    asked = [
        case
        for case in cases
        if case.ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
        and case.ticket.reporter_id is not None
        and not case.flagged
    ]
    ratings = [feedback.rating for case in cases for feedback in case.feedback]
    by_service: dict[str, list[int]] = {}
    by_agency: dict[str, list[int]] = {}
    for case in cases:
        for feedback in case.feedback:
            by_service.setdefault(case.ticket.service_type.value, []).append(feedback.rating)
            if case.ticket.organisation_id is not None:
                by_agency.setdefault(str(case.ticket.organisation_id), []).append(feedback.rating)
    return {
        "response_rate": Share.of(asked, lambda case: bool(case.feedback)),
        "ratings": len(ratings),
        "mean": round(float(statistics.mean(ratings)), 2) if ratings else None,
        "four_or_five": Share(sum(rating >= 4 for rating in ratings), len(ratings)),
        "by_service_type": _rated(by_service),
        "by_agency": _rated(by_agency),
        # the households' own words, where they agreed that their report be kept
        "comments": [
            feedback.comment
            for case in cases
            if case.words_kept
            for feedback in case.feedback
            if feedback.comment
        ],
    }


def _supervision(cases: list[CaseHistory]) -> dict[str, Any]:
    """Supervision (督导): of the finished cases, those a supervisor reviewed; the score of each one's
    latest review (the rubric met, in per cent) and how often each criterion was fully met."""
    finished = [case for case in cases if case.ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)]
    latest = [case.supervision[-1] for case in finished if case.supervision]
    scores = [review.score for review in latest]
    return {
        "reviewed": Share(len(latest), len(finished)),
        "reviews": len(latest),
        "median_score": float(statistics.median(scores)) if scores else None,
        "fully_met": {
            criterion.value: Share(
                sum(review.scores.get(criterion) is Met.FULLY for review in latest), len(latest)
            )
            for criterion in Criterion
        },
    }


def _agencies(
    cases: list[CaseHistory],
    evaluations: Sequence[AgencyEvaluation],
    improvements: Sequence[ImprovementAction],
    weights: Weights,
    scope: Scope,
    *,
    today: date,
) -> dict[str, Any]:
    """三方评价, an agency at a time (each with cases held or referred in the period, an evaluation
    over it, or an improvement action): the households' ratings of its cases (their mean, of 5, in per
    cent) and supervisors' reviews of them (the median score), the latest evaluation of each voice over
    the period, all weighed together (``Weights``), and its improvement actions: open, overdue, done in
    the period, and what is still open."""
    of_agency: dict[int, list[CaseHistory]] = {}
    for case in cases:
        held = {case.ticket.organisation_id} | {referral.to_organisation_id for referral in case.referrals}
        for agency in held - {None}:
            assert agency is not None
            of_agency.setdefault(agency, []).append(case)
    ids = {*of_agency, *(e.organisation_id for e in evaluations), *(a.organisation_id for a in improvements)}
    if scope.organisation_id is not None:
        ids &= {scope.organisation_id}
    found: dict[str, Any] = {}
    for agency in sorted(ids):
        theirs = of_agency.get(agency, [])
        ratings = [feedback.rating for case in theirs for feedback in case.feedback]
        reviews = [case.supervision[-1].score for case in theirs if case.supervision]
        latest = {e.voice: e for e in evaluations if e.organisation_id == agency}  # a later one replaces
        scores: dict[str, float | None] = {
            "recipients": round(100 * float(statistics.mean(ratings)) / 5, 1) if ratings else None,
            "supervision": float(statistics.median(reviews)) if reviews else None,
            **{voice.value: latest[voice].score if voice in latest else None for voice in Voice},
        }
        actions = [action for action in improvements if action.organisation_id == agency]
        still_open = [action for action in actions if action.status is ActionStatus.OPEN]
        found[str(agency)] = {
            "cases": len(theirs),
            "ratings": len(ratings),
            "reviews": len(reviews),
            **scores,
            "composite": weights.composite(scores),
            "improvements": {
                "open": len(still_open),
                "overdue": sum(action.overdue(today) for action in still_open),
                "done": sum(
                    action.done_at is not None and scope.start <= action.done_at < scope.end
                    for action in actions
                ),
            },
            "open_improvements": [
                {"what": action.what, "due_on": action.due_on.isoformat(), "overdue": action.overdue(today)}
                for action in still_open
            ],
        }
    return found


def _rated(groups: Mapping[str, list[int]]) -> dict[str, dict[str, Any]]:
    return {
        name: {"ratings": len(values), "mean": round(float(statistics.mean(values)), 2)}
        for name, values in sorted(groups.items())
    }


def _caseload(open_now: Sequence[Ticket], now: datetime) -> dict[str, Any]:
    loads = Counter(ticket.assignee_id for ticket in open_now if ticket.assignee_id is not None)
    bands = {}
    for low, high in CASELOAD_BANDS:
        name = f"{low}-{high}" if high is not None else f"{low}+"
        bands[name] = sum(low <= load and (high is None or load <= high) for load in loads.values())
    unclaimed = [
        t
        for t in open_now
        if t.assignee_id is None and t.organisation_id is None and t.status in OPEN_STATUSES
    ]
    return {
        "workers_by_open_cases": bands,
        "unclaimed": len(unclaimed),
        "unclaimed_age": Durations.of([(now - t.created_at).total_seconds() / 60 for t in unclaimed]),
    }


def _needs(cases: list[CaseHistory]) -> dict[str, Any]:
    households = Counter(case.ticket.household_id for case in cases if case.ticket.household_id is not None)
    return {
        "by_service_type": dict(sorted(Counter(case.ticket.service_type.value for case in cases).items())),
        "by_urgency": dict(sorted(Counter(case.ticket.urgency.value for case in cases).items())),
        "by_area": dict(sorted(Counter(str(case.ticket.area_id) for case in cases).items())),
        "volunteer_flagged": Share.of(cases, lambda case: case.flagged),
        "repeat_households": sum(count > 1 for count in households.values()),
    }


EXAMPLES = 3  # texts quoted a group
_TOPIC = re.compile(r"@topic=([\w-]+)")  # the topic a policy question matched, in its ticket's summary


def _policy_feedback(cases: list[CaseHistory]) -> dict[str, Any]:
    """How policy is carried out, carried back up (下情上达): the policy-feedback cases and the policy
    questions the knowledge base could not answer (each "ask a person"), grouped by kind, topic and
    area, with a few of their words where the person agreed that they be kept."""
    groups: dict[tuple[str, str, str], list[CaseHistory]] = {}
    for case in cases:
        if case.ticket.service_type is not ServiceType.POLICY_ADVOCACY:
            continue
        intent = case.reports[0].intent if case.reports else ""
        kind = "question" if intent == "ask_policy" else "feedback"
        found = _TOPIC.search(case.ticket.summary)
        groups.setdefault((kind, found.group(1) if found else "", str(case.ticket.area_id)), []).append(case)
    return {
        "cases": sum(len(group) for group in groups.values()),
        "groups": [
            {
                "kind": kind,
                "topic": topic,
                "area": area,
                "cases": len(group),
                "examples": [
                    case.reports[0].text[:200]
                    for case in group
                    if case.words_kept and case.reports and case.reports[0].text.strip()
                ][:EXAMPLES],
            }
            for (kind, topic, area), group in sorted(groups.items(), key=lambda item: -len(item[1]))
        ],
    }


SUPPRESSED = "suppressed"


# Counts that a mean or a median beside them is over: under k, it goes with them.
COUNTED_BY = ("ratings", "reviews", "households")
# Figures of agencies' improvement actions: they count no people, and are never left out.
NOT_OF_PEOPLE = frozenset({"improvements", "open_improvements"})


def _suppressed(figures: Mapping[str, Any], k: int) -> dict[str, Any]:
    """The figures with every one over fewer than ``k`` cases left out (k-anonymity), a mean or a
    median with the count it is over (``COUNTED_BY``)."""
    kept: dict[str, Any] = {}
    small = any(0 < people_counted(figures.get(name)) < k for name in COUNTED_BY)
    for name, value in figures.items():
        if name in NOT_OF_PEOPLE:
            kept[name] = value
            continue
        if small and isinstance(value, float):
            kept[name] = SUPPRESSED
            continue
        if isinstance(value, Mapping):
            kept[name] = _suppressed(value, k)
        elif isinstance(value, list):  # groups (of policy feedback): a small one is left out whole
            kept[name] = [
                item for item in value if not (isinstance(item, Mapping) and 0 < item.get("cases", k) < k)
            ]
        else:
            kept[name] = SUPPRESSED if 0 < people_counted(value) < k else value
    return kept


def people_counted(figure: Any) -> int:
    """How many cases (people) a figure counts: a duration's, a share's denominator, a count."""
    if isinstance(figure, Durations):
        return figure.count
    if isinstance(figure, Share):
        return figure.denominator
    if isinstance(figure, int) and not isinstance(figure, bool):
        return figure
    return 0


# --- periods ----------------------------------------------------------------------------------------

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_WEEK = re.compile(r"^(\d{4})-[Ww](\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_DATES = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


def period(text: str, *, today: date, timezone: tzinfo) -> tuple[datetime, datetime, str]:
    """The local days a period names, as [start, end) instants: "2026-11", "2026-Q4", "2026-W48",
    "2026", "2026-11-01..2026-11-15" (both days included), "this-week", "last-week", "this-month",
    "last-month", "this-quarter", "last-quarter", "this-year", "last-year"; and its label, which names
    the days whenever it is read ("last-week" → "2026-W48")."""
    text = text.strip()
    first, last = _days(text, today)

    def instant(day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=timezone)

    return instant(first), instant(last + timedelta(days=1)), _label(text, first)


def _label(text: str, first: date) -> str:
    """A period as its days' own name: a week, month, quarter or year by its number; dates as given."""
    kind = text.partition("-")[2] if text.startswith(("this-", "last-")) else ""
    if kind == "week" or _WEEK.match(text):
        return first.strftime("%G-W%V")
    if kind == "month" or _MONTH.match(text):
        return first.strftime("%Y-%m")
    if kind == "quarter" or _QUARTER.match(text):
        return f"{first.year}-Q{(first.month - 1) // 3 + 1}"
    if kind == "year" or _YEAR.match(text):
        return str(first.year)
    return text


def _days(text: str, today: date) -> tuple[date, date]:
    relative = {
        "this-week": lambda: _week(today),
        "last-week": lambda: _week(today - timedelta(days=7)),
        "this-month": lambda: _month(today.year, today.month),
        "last-month": lambda: _month(*_months_before(today, 1)),
        "this-quarter": lambda: _quarter(today.year, (today.month - 1) // 3 + 1),
        "last-quarter": lambda: _quarter(*_quarter_before(today)),
        "this-year": lambda: (date(today.year, 1, 1), date(today.year, 12, 31)),
        "last-year": lambda: (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    }
    if text in relative:
        return relative[text]()
    try:
        if found := _MONTH.match(text):
            return _month(int(found.group(1)), int(found.group(2)))
        if found := _QUARTER.match(text):
            return _quarter(int(found.group(1)), int(found.group(2)))
        if found := _WEEK.match(text):
            return _week(date.fromisocalendar(int(found.group(1)), int(found.group(2)), 1))
        if found := _YEAR.match(text):
            return date(int(text), 1, 1), date(int(text), 12, 31)
        if found := _DATES.match(text):
            first, last = date.fromisoformat(found.group(1)), date.fromisoformat(found.group(2))
            if first <= last:
                return first, last
    except ValueError:
        pass
    raise InvalidInput(Refusal.PERIOD_FORMAT, text=text[:40])


def _week(day: date) -> tuple[date, date]:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def _month(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _months_before(day: date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 - months
    return index // 12, index % 12 + 1


def _quarter(year: int, quarter: int) -> tuple[date, date]:
    first = date(year, 3 * quarter - 2, 1)
    return first, _month(year, 3 * quarter)[1]


def _quarter_before(day: date) -> tuple[int, int]:
    quarter = (day.month - 1) // 3 + 1
    return (day.year, quarter - 1) if quarter > 1 else (day.year - 1, 4)


# --- a report of an area ----------------------------------------------------------------------------


async def report(
    database: UnitOfWork,
    *,
    period_text: str,
    now: datetime,
    timezone: tzinfo,
    area_code: str | None = None,
    area_id: int | None = None,
    service_type: str | None = None,
    worker_id: int | None = None,
    organisation_id: int | None = None,
    suppress_below: int = 0,
    weights: Weights | None = None,
) -> Report:
    """The indicators of the cases opened in the period in an area (by its code or its id) and everything
    below it (every area when none is named), cut as asked. No actor's access is checked: an operator's
    read, or ``Evaluation``'s once it has checked."""
    start, end, label = period(period_text, today=now.astimezone(timezone).date(), timezone=timezone)
    if service_type is not None and service_type not in {kind.value for kind in ServiceType}:
        raise InvalidInput(
            Refusal.SERVICE_TYPE_UNKNOWN,
            where="--service-type",
            value=service_type,
            service_types=", ".join(ServiceType),
        )
    with collector_paused():
        async with database.transaction() as tx:
            area_ids = await area_and_below(tx, area_code) if area_code is not None else None
            if area_id is not None:
                area_ids = await tx.areas.descendant_ids(area_id)
            cases = await tx.evaluation.cases(opened_from=start, opened_until=end, area_ids=area_ids)
            assessments, goals = await tx.evaluation.files(
                opened_from=start, opened_until=end, area_ids=area_ids
            )
            open_now = await tx.tickets.find(statuses=OPEN_STATUSES, area_ids=area_ids, limit=1_000_000)
            agencies = [
                agency.id
                for agency in await tx.organisations.list_all()
                if area_ids is None or agency.area_ids & set(area_ids)
            ]
            last_day = (end - timedelta(days=1)).date()
            agency_evaluations = await tx.agency_reviews.evaluations(
                organisation_ids=agencies, overlapping=(start.date(), last_day)
            )
            improvements = await tx.agency_reviews.actions(organisation_ids=agencies, raised_before=end)
        scope = Scope(start, end, label, service_type, worker_id, organisation_id)
        return evaluate(
            cases,
            scope,
            open_now=open_now,
            assessments=assessments,
            goals=goals,
            agency_evaluations=agency_evaluations,
            improvements=improvements,
            weights=weights,
            now=now,
            suppress_below=suppress_below,
        )


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while a report's records are read and counted: a year of a
    district is hundreds of thousands of records, none in a cycle, and each few hundred of them would
    set the collector off over everything alive (on a year's report that took longer than the rest).
    It runs again afterwards, and catches up; paused already (another report), it is left so."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# --- as the reports give it --------------------------------------------------------------------------


def plain(figure: Any) -> Any:
    """A figure as JSON has it: a duration's count, median, p90 and maximum in minutes; a share's
    numerator, denominator and share; anything else as it is."""
    if isinstance(figure, Durations):
        return {
            "count": figure.count,
            "median_minutes": figure.median,
            "p90_minutes": figure.p90,
            "max_minutes": figure.maximum,
        }
    if isinstance(figure, Share):
        return {"numerator": figure.numerator, "denominator": figure.denominator, "share": figure.value}
    if isinstance(figure, Mapping):
        return {str(name): plain(value) for name, value in figure.items()}
    return figure


_DURATION_KEYS = frozenset({"count", "median_minutes", "p90_minutes", "max_minutes"})
_SHARE_KEYS = frozenset({"numerator", "denominator", "share"})


def figures(stored: Any) -> Any:
    """``plain``'s inverse: figures as JSON gave them, as ``Durations`` and ``Share`` again."""
    if isinstance(stored, Mapping):
        if stored.keys() == _DURATION_KEYS:
            return Durations(
                stored["count"], stored["median_minutes"], stored["p90_minutes"], stored["max_minutes"]
            )
        if stored.keys() == _SHARE_KEYS:
            return Share(stored["numerator"], stored["denominator"])
        return {name: figures(value) for name, value in stored.items()}
    if isinstance(stored, list):
        return [figures(value) for value in stored]
    return stored


# The columns of a figure's row (``rows``), for a spreadsheet.
COLUMNS = (
    "indicator",
    "value",
    "count",
    "median_minutes",
    "p90_minutes",
    "max_minutes",
    "numerator",
    "denominator",
    "share",
)


def rows(report: Report) -> list[dict[str, Any]]:
    """One row a figure, its path in the report ("response.by_urgency.critical.claimed_in_time") and
    its values, for a spreadsheet."""
    found: list[dict[str, Any]] = []

    def walk(path: str, figure: Any) -> None:
        if isinstance(figure, Mapping) and not isinstance(figure, Durations | Share):
            for name, value in figure.items():
                walk(f"{path}.{name}", value)
            return
        value = plain(figure)
        found.append({"indicator": path, **(value if isinstance(value, dict) else {"value": value})})

    for section, figures in report.sections.items():
        walk(section, figures)
    return found


# A report that leaves the supervisor's own area (a third-party evaluator's) leaves out every figure
# over fewer cases than this (k-anonymity).
SHARED_SUPPRESS_BELOW = 5
READERS = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.EVALUATOR})


class Evaluation(Operations):
    """The indicators as staff read them in a chat: a supervisor for the areas they supervise (and
    everything below), an admin for any area, a third-party evaluator for the areas they were given,
    with every small figure left out (``SHARED_SUPPRESS_BELOW``)."""

    def __init__(self, core: CaseworkCore, weights: Weights | None = None) -> None:
        super().__init__(core)
        self.weights = weights or default_weights()  # the project's, for agencies' composite scores

    async def areas_for(self, actor: Person) -> list[Area]:
        """The areas ``actor`` may read the indicators of: their own, or every top area for an admin."""
        self._check_role(actor)
        async with self.core.database.transaction() as tx:
            if actor.role is Role.ADMIN:
                return await tx.areas.children(None)
            return [area for area_id in sorted(actor.area_ids) if (area := await tx.areas.get(area_id))]

    async def report(self, actor: Person, period_text: str, area_id: int) -> Report:
        self._check_role(actor)
        async with self.core.database.transaction() as tx:
            chain = await routing.area_chain(tx, area_id)
        if actor.role is not Role.ADMIN and not covers(actor, chain):
            raise Forbidden(Refusal.TICKET_OUTSIDE_AREAS)
        return await report(
            self.core.database,
            period_text=period_text,
            now=self.core.clock.now(),
            timezone=self.core.timezone,
            area_id=area_id,
            suppress_below=SHARED_SUPPRESS_BELOW if actor.role is Role.EVALUATOR else 0,
            weights=self.weights,
        )

    @staticmethod
    def _check_role(actor: Person) -> None:
        if not actor.active or actor.role not in READERS:
            raise Forbidden(Refusal.REPORT_SUPERVISORS_ONLY)
