"""Domain vocabulary and records shared by every package.

These dataclasses are what repositories return and services pass around; the ORM models that
persist them live in ``storage/`` and convert at the repository boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import IntEnum, StrEnum
from typing import Any


class Role(StrEnum):
    RECIPIENT = "recipient"
    VOLUNTEER = "volunteer"
    SOCIAL_WORKER = "social_worker"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    # A third-party evaluator (第三方评估): reads the evaluation of the areas given, never a case.
    EVALUATOR = "evaluator"


# The roles that work on cases: hold one, go on call, and have the worker's menus in the chat.
WORKER_ROLES = frozenset({Role.SOCIAL_WORKER, Role.SUPERVISOR, Role.ADMIN})


class ServiceType(StrEnum):
    """The five services social workers offer in social assistance (the triage labels)."""

    SOCIAL_INTEGRATION = "social_integration"
    CAPACITY_BUILDING = "capacity_building"
    PSYCHOLOGICAL_SUPPORT = "psychological_support"
    RESOURCE_LINKING = "resource_linking"
    POLICY_ADVOCACY = "policy_advocacy"


class Urgency(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    # A possible crisis the screen is not sure of: a person looks at it within the hour.
    REVIEW = "review"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Higher is more urgent: normal < high < review < critical."""
        return _URGENCY_RANK[self]


_URGENCY_RANK = {Urgency.NORMAL: 0, Urgency.HIGH: 1, Urgency.REVIEW: 2, Urgency.CRITICAL: 3}


class AreaLevel(StrEnum):
    DISTRICT = "district"
    STREET = "street"  # street office or township
    COMMUNITY = "community"


AREA_LEVEL_DEPTH = {AreaLevel.DISTRICT: 0, AreaLevel.STREET: 1, AreaLevel.COMMUNITY: 2}


class TicketStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    REFERRED = "referred"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


OPEN_STATUSES = frozenset(
    {
        TicketStatus.NEW,
        TicketStatus.ASSIGNED,
        TicketStatus.IN_PROGRESS,
        TicketStatus.REFERRED,
        TicketStatus.REOPENED,
    }
)


class ReferralStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


class ConsentPurpose(StrEnum):
    STORE_REPORT = "store_report"
    SHARE_WITH_AGENCY = "share_with_agency"
    CONTACT_ME = "contact_me"
    # Counted, without a name, in the service's evaluation: so unless the person withdraws it (/privacy);
    # not one of the questions a newcomer is asked (``ASKED_AT_START``).
    STATISTICS = "statistics"


# The consent questions a newcomer answers before anything is kept, in the order they are asked.
ASKED_AT_START = (ConsentPurpose.STORE_REPORT, ConsentPurpose.SHARE_WITH_AGENCY, ConsentPurpose.CONTACT_ME)


class ContactWay(StrEnum):
    """How the person asked to be reached about a report."""

    CHAT = "chat"  # here, through the bot
    PHONE = "phone"
    NONE = "none"  # not at all: the worker reads and acts


class GoalOwner(StrEnum):
    """Who works towards a goal of a service plan."""

    WORKER = "worker"  # the social worker who holds the case
    AGENCY = "agency"  # an agency the case is referred to for it
    VOLUNTEER = "volunteer"  # a volunteer given it as a task (a visit, accompanying someone)


class GoalStatus(StrEnum):
    PLANNED = "planned"
    UNDER_WAY = "under_way"
    ACHIEVED = "achieved"
    DROPPED = "dropped"  # with the reason why


OPEN_GOALS = frozenset({GoalStatus.PLANNED, GoalStatus.UNDER_WAY})


class Progress(StrEnum):
    """How a goal came on since the last review: the outcome measure of the service."""

    WORSE = "worse"
    SAME = "same"
    BETTER = "better"
    ACHIEVED = "achieved"


class VulnerabilityTag(StrEnum):
    ELDER_ALONE = "elder_alone"
    DISABILITY = "disability"
    LEFT_BEHIND_CHILD = "left_behind_child"
    SERIOUS_ILLNESS = "serious_illness"
    UNEMPLOYMENT = "unemployment"
    SINGLE_PARENT = "single_parent"
    LOW_INCOME = "low_income"
    HOUSING_DIFFICULTY = "housing_difficulty"


class Channel(StrEnum):
    TELEGRAM = "telegram"
    CONSOLE = "console"
    WEB = "web"  # the staff's web console: the account is the login name a password was set for


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    UNDELIVERABLE = "undeliverable"


class TicketAction(StrEnum):
    """What a ticket's trail records (``TicketEvent.action``), stored as its value."""

    OPENED = "opened"
    REPORT_JOINED = "report_joined"  # another report of the same household joined the case
    URGENCY_RAISED = "urgency_raised"  # note: the urgency it rose to
    ESCALATED = "escalated"  # unclaimed past its deadline; note: "level 1", "level 2"
    CLAIMED = "claimed"
    ASSIGNED = "assigned"
    REASSIGNED = "reassigned"
    NOTE = "note"
    VISITED = "visited"
    REFERRED = "referred"
    REFERRAL_ACCEPTED = "referral_accepted"
    REFERRAL_DECLINED = "referral_declined"
    REFERRAL_COMPLETED = "referral_completed"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    RATED = "rated"
    READ = "read"  # someone read the case in full
    CRISIS_ALERTED = "crisis_alerted"  # a step of the crisis ladder; note: "step 0: staff · area · 3"
    CRISIS_UNREACHED = "crisis_unreached"
    ACKNOWLEDGED = "acknowledged"  # "I'm on it"
    LINKED = "linked"  # note: the other ticket's reference
    AREA_GIVEN = "area_given"  # the person in a crisis said where they are
    MESSAGE_SENT = "message_sent"  # a worker wrote to the person through the bot; note: the words
    MESSAGE_RECEIVED = "message_received"  # the person wrote back; note: their words (no actor kept)
    PHONE_SHOWN = "phone_shown"  # a worker had the person's phone number shown in full
    VISIT_PROPOSED = "visit_proposed"  # note: the time the worker proposed, in their words
    VISIT_CONFIRMED = "visit_confirmed"  # the person said the time suits them
    VISIT_REFUSED = "visit_refused"  # the person said it does not
    # The person asked for their data to be erased: an open case of theirs closes, or (a crisis) keeps
    # the words it needs to protect their life and health (PIPL Art. 13(4)).
    CLOSED_BY_ERASURE = "closed_by_erasure"
    KEPT_THROUGH_ERASURE = "kept_through_erasure"
    # The household's case file (``casework.case_file``): what was recorded, never the answers.
    ASSESSED = "assessed"  # note: the assessment's version, "v2"
    GOAL_SET = "goal_set"  # note: the goal's number on the household's file, "#3"
    GOAL_CHANGED = "goal_changed"  # note: "#3 achieved", or "#3 dropped"
    REVIEWED = "reviewed"  # note: how many goals the review went over
    TASK_DONE = "task_done"  # a volunteer did the task a plan gave them; note: "#3"
    SUPERVISED = "supervised"  # a supervisor reviewed the finished case (督导); note: the score, "75%"


class AlertKind(StrEnum):
    """What an alert in the outbox is about (``OutboxAlert.event``), stored as its value."""

    TICKET_OPENED = "ticket_opened"
    TICKET_TAKEN = "ticket_taken"  # edits a new-ticket alert: someone has it
    TICKET_ESCALATED = "ticket_escalated"
    TICKET_ASSIGNED = "ticket_assigned"
    CRISIS_ALERT = "crisis_alert"
    CRISIS_ACKNOWLEDGED = "crisis_acknowledged"
    REFERRAL_REQUESTED = "referral_requested"
    REFERRAL_ACCEPTED = "referral_accepted"
    REFERRAL_DECLINED = "referral_declined"
    REFERRAL_UNATTENDED = "referral_unattended"
    REFERRAL_COMPLETED = "referral_completed"
    HOME_VISIT_DUE = "home_visit_due"
    WEEKLY_DIGEST = "weekly_digest"  # the weekly report (the name it had as six figures)
    MONTHLY_REPORT = "monthly_report"
    ALERT_UNDELIVERABLE = "alert_undeliverable"
    CASE_CLAIMED = "case_claimed"
    CASE_ACKNOWLEDGED = "case_acknowledged"
    CASE_VISITED = "case_visited"
    CASE_RESOLVED = "case_resolved"
    CASE_CLOSED = "case_closed"
    SATISFACTION_SURVEY = "satisfaction_survey"
    DIALOG_MESSAGE = "dialog_message"  # a plain message of the conversation (a reminder, say)
    CASE_MESSAGE = "case_message"  # a worker's words to the person, under the case's reference
    CASE_REPLY = "case_reply"  # the person's words back, to the worker who has the case
    VISIT_PROPOSED = "visit_proposed"  # to the person: a home visit at a time, to confirm
    VISIT_ANSWERED = "visit_answered"  # to the holder: the person's answer to the proposed time
    CASE_REFERRED = "case_referred"  # to the person: their case went to an agency (named)
    CASE_REFERRAL_ANSWERED = "case_referral_answered"  # to the person: the agency took it up, or not
    REPORTER_ERASED = "reporter_erased"  # to the holder: the person of an open case erased their data
    REASSESSMENT_DUE = "reassessment_due"  # to the holder: the household's assessment is due again
    REVIEW_DUE = "review_due"  # to the holder: the plan's review date has come
    TASK_GIVEN = "task_given"  # to a volunteer: a task from a household's plan
    TASK_DONE = "task_done"  # to the holder: the volunteer did it
    CASE_SUPERVISED = "case_supervised"  # to the worker who had it: a supervisor reviewed the case (督导)
    IMPROVEMENT_RAISED = "improvement_raised"  # to an agency's staff: an evaluation asks it to improve
    # Never sent: what a reporter whose report joined someone else's case may be told of it.
    REPORT_JOINED = "report_joined"


@dataclass(frozen=True, slots=True)
class Area:
    id: int
    code: str
    name: str
    name_en: str
    level: AreaLevel
    parent_id: int | None
    # Where the area lies, (latitude, longitude) in WGS 84 as phones share it: a community's centre, for
    # finding the community from a shared location. Areas without one are chosen from the list only.
    location: tuple[float, float] | None = None

    def label(self, language: str) -> str:
        """The name to show: Chinese, or the English name where there is one."""
        return self.name if language != "en" else (self.name_en or self.name)


@dataclass(frozen=True, slots=True)
class Organisation:
    id: int
    name: str
    contact: str
    service_types: frozenset[ServiceType]
    area_ids: frozenset[int]
    active: bool


@dataclass(frozen=True, slots=True)
class Identity:
    """An account a person talks to the bot through: a channel, and that channel's own id of them, as
    text whatever its form (a Telegram user id "42", a console account "900001"). A person has at most
    one a channel, and an account is one person's."""

    channel: Channel
    external_id: str

    @property
    def chat_id(self) -> int | None:
        """The chat the channel writes to them in. Telegram writes to a user in their private chat,
        whose id is the user's; a console account is numbered the same way. An account named rather
        than numbered has no such chat."""
        return int(self.external_id) if self.external_id.isascii() and self.external_id.isdigit() else None


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    display_name: str
    language: str
    role: Role
    organisation_id: int | None
    area_ids: frozenset[int]
    service_types: frozenset[ServiceType]
    active: bool
    phone: str | None
    created_at: datetime
    # One account a channel at most, in the order ``Channel`` lists them; none once their data is erased.
    identities: tuple[Identity, ...] = ()

    def identity_on(self, channel: Channel) -> Identity | None:
        """Their account on ``channel``, if they have one."""
        return next((identity for identity in self.identities if identity.channel == channel), None)


@dataclass(frozen=True, slots=True)
class Household:
    id: int
    area_id: int
    address: str
    size: int | None
    vulnerability_tags: frozenset[VulnerabilityTag]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NeedReport:
    id: int
    text: str
    language: str
    intent: str
    confidence: float
    service_type: ServiceType | None
    urgency: Urgency
    reporter_id: int | None
    household_id: int | None
    ticket_id: int | None
    on_behalf: bool
    anonymous: bool
    channel: Channel
    created_at: datetime
    contact: ContactWay | None = None  # the way to reach them the reporter chose, if asked


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    reference: str
    service_type: ServiceType
    urgency: Urgency
    status: TicketStatus
    area_id: int
    household_id: int | None
    reporter_id: int | None
    assignee_id: int | None
    organisation_id: int | None
    summary: str
    outcome: str | None
    claim_deadline: datetime | None
    resolve_deadline: datetime | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    visited_at: datetime | None = None
    needs_home_visit: bool = False
    escalation_level: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class TicketEvent:
    id: int
    ticket_id: int
    actor_id: int | None
    action: TicketAction
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    note: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Referral:
    id: int
    ticket_id: int
    from_person_id: int | None
    to_person_id: int | None
    to_organisation_id: int | None
    status: ReferralStatus
    reason: str | None
    outcome: str | None
    created_at: datetime
    responded_at: datetime | None
    completed_at: datetime | None
    goal_id: int | None = None  # the plan's goal it was raised for


@dataclass(frozen=True, slots=True)
class Assessment:
    """One version of a household's assessment (家庭状况调查评估): never changed once recorded; a
    reassessment is the next version. ``answers`` are keyed by the form's questions
    (``casework.assessment_form``); ``risk`` and ``needs`` are copied out of them for the file's
    summary and the service's evaluation."""

    id: int
    household_id: int
    version: int
    form_version: str
    answers: dict[str, Any] = field(hash=False)
    risk: str
    needs: dict[str, str] = field(hash=False)  # service type → how much it is needed
    recorded_by_id: int | None
    ticket_id: int | None
    recorded_at: datetime
    erased: bool = False  # the person's data was erased: only the risk and needs are kept


@dataclass(frozen=True, slots=True)
class Goal:
    """A goal of the household's service plan: what is to be achieved, by whom, by when."""

    id: int
    household_id: int
    ticket_id: int | None  # the case it was set on
    number: int  # its number on the household's file: "#3"
    service_type: ServiceType
    title: str
    owner: GoalOwner
    owner_person_id: int | None  # the worker, or the volunteer
    owner_organisation_id: int | None  # the agency
    due_on: date | None
    status: GoalStatus
    drop_reason: str | None
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_GOALS

    @property
    def moves(self) -> tuple[GoalStatus, ...]:
        """The statuses its worker may move it to now: under way (once), achieved or dropped while it
        is open; none once it is finished."""
        if not self.is_open:
            return ()
        started = (GoalStatus.UNDER_WAY,) if self.status is GoalStatus.PLANNED else ()
        return (*started, GoalStatus.ACHIEVED, GoalStatus.DROPPED)

    @property
    def change_note(self) -> str:
        """What the trail records when the goal moves on (``TicketAction.GOAL_CHANGED``): "#3 achieved"."""
        return f"#{self.number} {self.status.value}"


@dataclass(frozen=True, slots=True)
class Review:
    """A review of the plan: how each goal came on, and when the next review is."""

    id: int
    household_id: int
    ticket_id: int | None
    reviewed_by_id: int | None
    reviewed_at: datetime
    next_review_on: date | None
    note: str | None
    progress: dict[int, Progress] = field(hash=False)  # goal id → progress


class Criterion(StrEnum):
    """What a supervisor (督导) reviews a finished case against, each scored ``Met``."""

    ASSESSMENT_DONE = "assessment_done"  # the household was assessed, and it is on the file
    PLAN_FOLLOWED = "plan_followed"  # a plan was set and the work followed it
    KEPT_INFORMED = "kept_informed"  # the person was kept informed of how the case went
    OUTCOME_RECORDED = "outcome_recorded"  # the outcome was recorded


class Met(IntEnum):
    NOT = 0
    PARTLY = 1
    FULLY = 2


@dataclass(frozen=True, slots=True)
class SupervisionReview:
    """A supervisor's review of a finished case: each criterion's score, and their comment to the
    worker. ``score``: the share of the rubric met, in per cent."""

    id: int
    ticket_id: int
    supervisor_id: int | None
    scores: dict[Criterion, Met] = field(hash=False)
    comment: str | None
    created_at: datetime

    @property
    def score(self) -> int:
        return round(100 * sum(self.scores.values()) / (Met.FULLY * len(Criterion)))


class Voice(StrEnum):
    """Who evaluates an agency (三方评价): the agency itself, a supervisor, a third-party evaluator."""

    SELF = "self"
    SUPERVISOR = "supervisor"
    EVALUATOR = "evaluator"


class AgencyCriterion(StrEnum):
    """What an agency is evaluated on (绩效评估指标体系), each scored 1 (poor) to 5 (excellent)."""

    ADMINISTRATION = "administration"  # 行政监管: records kept, rules followed, funds accounted for
    OUTCOMES = "outcomes"  # 服务成效: what the service changed for the households
    MANAGEMENT = "management"  # 项目管理: the project run as planned, staff and volunteers managed
    IMPACT = "impact"  # 社会影响: the community and the public reached


AGENCY_SCORES = range(1, 6)


@dataclass(frozen=True, slots=True)
class AgencyEvaluation:
    """One voice's evaluation of an agency over a period; ``score``: the mean as a share of 5, in %."""

    id: int
    organisation_id: int
    period: str  # the period's label: "2026-Q4"
    period_start: date
    period_end: date  # the last day
    voice: Voice
    by_id: int | None
    scores: dict[AgencyCriterion, int] = field(hash=False)
    comment: str | None
    created_at: datetime

    @property
    def score(self) -> float:
        return round(100 * sum(self.scores.values()) / (5 * len(self.scores)), 1)


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class ImprovementAction:
    """What an evaluation asked an agency to improve, by when, tracked until it is done."""

    id: int
    organisation_id: int
    what: str
    due_on: date
    raised_by_id: int | None
    raised_in: str  # the label of the period whose report raised it
    status: ActionStatus
    created_at: datetime
    done_at: datetime | None = None
    done_note: str | None = None

    def overdue(self, today: date) -> bool:
        return self.status is ActionStatus.OPEN and today > self.due_on


@dataclass(frozen=True, slots=True)
class Feedback:
    id: int
    ticket_id: int
    person_id: int | None
    rating: int
    comment: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Consent:
    id: int
    person_id: int
    purpose: ConsentPurpose
    notice_version: str
    granted_at: datetime
    withdrawn_at: datetime | None

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None


@dataclass(frozen=True, slots=True)
class WorkerGroup:
    id: int
    area_id: int
    chat_id: int
    title: str


@dataclass(frozen=True, slots=True)
class OnCall:
    """A person on the crisis on-call list for some hours of every day (local time), for one area and
    everything below it, or for every area when ``area_id`` is None. From == until means all day; an
    until earlier than from runs past midnight."""

    id: int
    person_id: int
    area_id: int | None
    from_time: time
    until_time: time

    def on_duty(self, at: time) -> bool:
        if self.from_time == self.until_time:
            return True
        if self.from_time < self.until_time:
            return self.from_time <= at < self.until_time
        return at >= self.from_time or at < self.until_time


@dataclass(frozen=True, slots=True)
class Invite:
    id: int
    role: Role
    area_id: int
    organisation_id: int | None
    expires_at: datetime
    created_at: datetime
    used_by_id: int | None
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class StaffSession:
    """A staff member signed in to the web console: until they sign out, it is revoked, they are idle
    too long or it grows too old (``casework.staff_sign_in``). The token that names it is the browser's
    alone: the store keeps its hash."""

    id: int
    person_id: int
    csrf_token: str  # every form of the session carries it back
    via: str  # "link" or "password"
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class StaffCredentials:
    """A staff member's password as stored (argon2's hash), and how near they are to a lockout."""

    person_id: int
    password_hash: str
    failures: int
    locked_until: datetime | None


class StaffEvent(StrEnum):
    """What the web console's log records of its staff, beside what a ticket's trail records."""

    LINK_ISSUED = "link_issued"
    SIGNED_IN = "signed_in"
    SIGN_IN_FAILED = "sign_in_failed"
    LOCKED_OUT = "locked_out"
    SIGNED_OUT = "signed_out"
    SESSIONS_REVOKED = "sessions_revoked"
    PASSWORD_SET = "password_set"  # noqa: S105 (an event's name)
    # An administrator's change to a person (the entry is the person's; its detail says who did it).
    STAFF_CHANGED = "staff_changed"  # role and areas
    ACCOUNT_CLOSED = "account_closed"
    ACCOUNT_OPENED = "account_opened"


@dataclass(frozen=True, slots=True)
class StaffLogEntry:
    id: int
    person_id: int | None  # None: a sign-in failed for a login name nobody has
    event: StaffEvent
    detail: str  # never a password; the login name tried, how a session ended
    at: datetime


@dataclass(frozen=True, slots=True)
class OutboxAlert:
    id: int
    idempotency_key: str
    recipient_person_id: int | None
    recipient_chat_id: int | None
    ticket_id: int | None
    event: AlertKind
    payload: dict[str, Any] = field(hash=False)
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None
    published_at: datetime | None = None
    delivery_ref: dict[str, Any] | None = field(default=None, hash=False)


class Refusal(StrEnum):
    """Every refusal the domain gives, as a code; the catalogs word each one
    (``dialogs/catalog/{zh,en}/refusals.yml``, key ``refusal.<code>``). The arguments a refusal is
    raised with fill in its words: a reference, an area code, a status, never a person's details but
    the name of who holds a case when the refusal must say it."""

    # --- who may act (no reference: a refusal tells nothing of a case one may not read) -----------
    ACCOUNT_INACTIVE = "account.inactive"
    TICKET_NOT_YOURS = "ticket.not_yours"
    TICKET_OUTSIDE_AREAS = "ticket.outside_your_areas"
    TICKET_ASSIGNEE_ONLY = "ticket.assignee_only"
    CLAIM_SOCIAL_WORKERS_ONLY = "claim.social_workers_only"
    ASSIGN_SUPERVISOR_ONLY = "assign.supervisor_only"
    REFER_ASSIGNEE_ONLY = "refer.assignee_only"
    REFERRAL_NOT_ADDRESSED = "referral.not_addressed_to_you"
    RATE_HOUSEHOLD_ONLY = "rate.household_only"
    QUEUE_STAFF_ONLY = "queue.staff_only"
    REPORT_SUPERVISORS_ONLY = "report.supervisors_only"
    REPORT_NO_AREAS = "report.no_areas"  # a reader of the evaluation given no areas yet
    WEB_STAFF_ONLY = "web.staff_only"
    ADMIN_ONLY = "admin.only"
    ADMIN_NOT_YOURSELF = "admin.not_yourself"  # an admin closes others' accounts, not their own
    STAFF_BY_INVITE = "staff.by_invite"  # a recipient becomes staff by redeeming an invite
    STAFF_NEEDS_AREA = "staff.needs_area"  # role: everyone but an admin works in an area
    STAFF_HOLDS_CASES = "staff.holds_cases"  # role: open cases to hand over before the role changes
    STAFF_CLOSING_HOLDS_CASES = "staff.closing_holds_cases"  # open cases to hand over before closing

    # --- signing in to the web console ------------------------------------------------------------
    WEB_LINK_SPENT = "web.link_spent"  # a sign-in link unknown, used or expired
    WEB_BAD_SIGN_IN = "web.bad_sign_in"  # a login name and password that do not match
    WEB_LOCKED = "web.locked"  # minutes
    WEB_SESSION_ENDED = "web.session_ended"
    WEB_PASSWORD_SHORT = "web.password_short"  # noqa: S105 (a code) at_least
    WEB_LOGIN_FORM = "web.login_form"  # a login name not of letters, digits, '.', '-' or '_'
    WEB_LOGIN_TAKEN = "web.login_taken"

    # --- what is not there --------------------------------------------------------------------
    TICKET_NOT_FOUND = "ticket.not_found"  # ticket_id
    TICKET_UNKNOWN_REFERENCE = "ticket.unknown_reference"  # reference
    AREA_NOT_FOUND = "area.not_found"  # area_id
    AREA_UNKNOWN_CODE = "area.unknown_code"  # code
    AREAS_NONE = "area.none_set_up"
    REFERRAL_NOT_FOUND = "referral.not_found"  # referral_id
    AGENCY_NOT_FOUND = "agency.not_found"  # organisation_id
    ORGANISATION_UNKNOWN = "organisation.unknown"  # name
    PERSON_NOT_FOUND = "person.not_found"  # person_id
    PERSON_NOT_ACTIVE = "person.not_active"  # person_id
    ON_CALL_ENTRY_NOT_FOUND = "on_call.entry_not_found"  # entry_id

    # --- the ticket's state -------------------------------------------------------------------
    TICKET_NOT_OPEN = "ticket.not_open"  # reference, status
    TICKET_CHANGED = "ticket.changed_meanwhile"  # reference
    CLAIM_TAKEN = "claim.taken"  # holder
    CLAIM_TAKEN_BY_SOMEONE = "claim.taken_by_someone"
    NOTE_REOPEN_FIRST = "note.reopen_first"  # reference, status
    RESOLVE_NOT_NOW = "resolve.not_now"  # reference, status
    CLOSE_RESOLVE_FIRST = "close.resolve_first"  # reference
    CLOSE_NOT_NOW = "close.not_now"  # reference, status
    REOPEN_NOT_FINISHED = "reopen.not_finished"  # reference, status
    REFER_UNDER_WAY = "refer.under_way"  # reference
    REFERRAL_ANSWERED = "referral.answered_already"
    REFERRAL_NOT_ACCEPTED = "referral.not_accepted"
    RATE_NOT_FINISHED = "rate.not_finished"
    RATE_TWICE = "rate.twice"
    COMMENT_RATE_FIRST = "comment.rate_first"

    # --- what was asked for -------------------------------------------------------------------
    REPORT_NEEDS_WORDS = "report.needs_words"
    NOTE_NEEDS_WORDS = "note.needs_words"
    MESSAGE_NEEDS_WORDS = "message.needs_words"
    MESSAGE_NOBODY = "message.nobody"  # reference: the case names nobody the bot can write to
    MESSAGE_CASE_CLOSED = "message.case_closed"  # reference
    PHONE_NOT_SHARED = "phone.not_shared"  # reference: no number, or no consent to be contacted
    VISIT_NEEDS_TIME = "visit.needs_time"
    VISIT_NOT_PROPOSED = "visit.not_proposed"  # reference: no visit time waits for an answer
    OUTCOME_NEEDED = "outcome.needed"
    REOPEN_NEEDS_REASON = "reopen.needs_reason"
    REFER_NEEDS_REASON = "refer.needs_reason"
    DECLINE_NEEDS_REASON = "decline.needs_reason"
    COMMENT_NEEDS_WORDS = "comment.needs_words"
    RATING_OUT_OF_RANGE = "rate.out_of_range"
    REFER_ONE_TARGET = "refer.one_target"
    REFER_ACTIVE_TARGETS_ONLY = "refer.active_targets_only"
    REFER_TO_SELF = "refer.to_self"
    ASSIGN_ACTIVE_SOCIAL_WORKERS = "assign.active_social_workers_only"
    ASSIGN_WORKER_OUTSIDE_AREA = "assign.worker_outside_area"  # reference
    PHONE_INVALID = "phone.invalid"
    LOCATION_OUT_OF_RANGE = "location.out_of_range"

    # --- the case file: assessment, plan, reviews, a volunteer's task ----------------------------
    ASSESSMENT_MISSING_ANSWER = "assessment.missing_answer"  # question
    ASSESSMENT_BAD_ANSWER = "assessment.bad_answer"  # question
    GOAL_NOT_FOUND = "goal.not_found"  # goal_id
    GOAL_NEEDS_TITLE = "goal.needs_title"
    GOAL_OWNER_MISSING = "goal.owner_missing"  # owner: the agency or volunteer a goal must name
    GOAL_VOLUNTEER_OUTSIDE = "goal.volunteer_outside"  # no active volunteer of the household's area
    GOAL_FINISHED = "goal.finished"  # number, status
    GOAL_DROP_NEEDS_REASON = "goal.drop_needs_reason"
    REVIEW_NO_OPEN_GOALS = "review.no_open_goals"
    REVIEW_DATE_PAST = "review.date_past"
    REVIEW_GOALS_CHANGED = "review.goals_changed"  # a goal reviewed is no longer open
    REVIEW_NOTHING = "review.nothing"  # no goal's progress given
    GOAL_DUE_PAST = "goal.due_past"
    TASK_NOT_YOURS = "task.not_yours"
    SUPERVISION_SUPERVISORS_ONLY = "supervision.supervisors_only"
    SUPERVISION_UNFINISHED = "supervision.unfinished"  # reference: only a finished case is reviewed
    SUPERVISION_SCORES = "supervision.scores"  # every criterion scored 0, 1 or 2
    AGENCY_NOT_YOURS = "agency.not_yours"  # the agency is not one this person may evaluate
    AGENCY_SCORES = "agency.scores"  # every criterion scored 1 to 5
    IMPROVEMENT_NOT_FOUND = "improvement.not_found"  # action_id
    IMPROVEMENT_DONE = "improvement.done"  # already done
    IMPROVEMENT_NEEDS_WORDS = "improvement.needs_words"
    IMPROVEMENT_DUE_PAST = "improvement.due_past"
    IMPROVEMENT_RAISERS = "improvement.raisers_only"  # supervisors, evaluators, admins raise them
    FILE_CHANGED = "file.changed_meanwhile"  # someone recorded to the same household's file at once

    # --- enrolment and groups -----------------------------------------------------------------
    INVITE_UNKNOWN = "invite.unknown"
    INVITE_SPENT = "invite.spent"
    INVITE_ROLE = "invite.role"  # roles
    INVITE_NO_TIME = "invite.no_time"
    ACCOUNT_TAKEN = "account.taken"  # a channel account already enrolled
    GROUP_SUPERVISORS_ONLY = "group.supervisors_only"
    GROUP_AREA_MISSING = "group.area_missing"
    GROUP_AREA_AMBIGUOUS = "group.area_ambiguous"  # name
    GROUP_AREA_NOT_YOURS = "group.area_not_yours"
    GROUP_NOT_YOURS = "group.not_yours"

    # --- set-up from the command line ---------------------------------------------------------
    COMMAND_LINE_ACTOR_ROLE = "command_line.actor_role"
    ORGANISATION_NEEDS_NAME = "organisation.needs_name"
    ORGANISATION_EXISTS = "organisation.exists"  # name
    AREA_EXISTS = "area.exists"  # code
    ON_CALL_STAFF_ONLY = "on_call.staff_only"
    ON_CALL_UNREACHABLE = "on_call.unreachable"  # person_id
    ON_CALL_HOURS_FORMAT = "on_call.hours_format"  # hours
    ON_CALL_HOURS_RANGE = "on_call.hours_range"  # hours
    DURATION_FORMAT = "duration.format"  # text
    PERIOD_FORMAT = "period.format"  # text
    SERVICE_TYPE_UNKNOWN = "service_type.unknown"  # where, value, service_types

    # --- files an operator imports (areas, agencies, deadlines) ---------------------------------
    FILE_MISSING = "file.missing"  # file
    FILE_UNREADABLE = "file.unreadable"  # file, problem
    FILE_NOT_YAML = "file.not_yaml"  # file
    FILE_NOT_YAML_AT = "file.not_yaml_at"  # file, line
    FILE_KIND = "file.kind"  # file
    FILE_TOO_BIG = "file.too_big"  # file, megabytes
    FILE_NOT_UTF8 = "file.not_utf8"  # file
    DIRECTORY_SHAPE = "directory.shape"  # file
    DIRECTORY_ORGANISATIONS_NOT_LIST = "directory.organisations_not_list"  # file
    DIRECTORY_CSV_HEADER = "directory.csv_header"  # file
    DIRECTORY_AREAS_NOT_LIST = "directory.areas_not_list"  # where
    DIRECTORY_AREA_NOT_MAPPING = "directory.area_not_mapping"  # where
    DIRECTORY_ORGANISATION_NOT_MAPPING = "directory.organisation_not_mapping"  # where
    DIRECTORY_ORGANISATION_LISTS = "directory.organisation_lists"  # where
    DIRECTORY_FIELD_MISSING = "directory.field_missing"  # where, key
    DIRECTORY_FIELD_NOT_TEXT = "directory.field_not_text"  # where, key
    DIRECTORY_COORDINATE_NOT_NUMBER = "directory.coordinate_not_number"  # where, key, value
    DIRECTORY_COORDINATE_RANGE = "directory.coordinate_range"  # where, key, value, limit
    DIRECTORY_LOCATION_HALF = "directory.location_half"  # where
    DIRECTORY_CODE_FORMAT = "directory.code_format"  # where, code
    DIRECTORY_LEVEL_UNKNOWN = "directory.level_unknown"  # where, level, levels
    DIRECTORY_PARENT_CONTRADICTS = "directory.parent_contradicts"  # where, parent, place
    DIRECTORY_CODE_TWICE = "directory.code_twice"  # code
    DIRECTORY_CYCLE = "directory.cycle"  # cycle
    DIRECTORY_UNKNOWN_PARENT = "directory.unknown_parent"  # code, parent
    DIRECTORY_NEEDS_PARENT = "directory.needs_parent"  # code, level
    DIRECTORY_LEVEL_ORDER = "directory.level_order"  # code, level, parent_level
    DIRECTORY_MOVES = "directory.moves"  # code, parent, now_under
    DIRECTORY_PROBLEMS = "directory.problems"  # file, count; each problem in ``problems``
    DEADLINES_NOT_A_TABLE = "deadlines.not_a_table"  # where
    DEADLINES_UNKNOWN_URGENCY = "deadlines.unknown_urgency"  # where, key, urgencies
    DEADLINES_MISSING = "deadlines.missing"  # table, urgencies
    DEADLINES_AT_RISK_RANGE = "deadlines.at_risk_range"  # value
    NLU_NO_EXAMPLES = "nlu.no_examples"  # file
    ASSESSMENT_FORM_SHAPE = "assessment_form.shape"  # file, where

    # --- understanding: nothing to read, and the data files the classifiers load ------------------
    NLU_TEXT_EMPTY = "nlu.text_empty"
    POLICY_QUESTION_EMPTY = "policy.question_empty"
    RASA_NOT_NLU_DATA = "rasa.not_nlu_data"  # file
    RASA_ITEM_NOT_MAPPING = "rasa.item_not_mapping"  # where
    RASA_EXAMPLES_NOT_BLOCK = "rasa.examples_not_block"  # where
    RASA_EXAMPLE_LINE = "rasa.example_line"  # where, line
    RASA_ANNOTATION_NOT_JSON = "rasa.annotation_not_json"  # where, annotation
    RASA_ANNOTATION_NO_ENTITY = "rasa.annotation_no_entity"  # where, annotation
    POLICY_KNOWLEDGE_SHAPE = "policy.knowledge_shape"  # file
    POLICY_NO_ENTRIES = "policy.no_entries"
    POLICY_ENTRY_IDS_TWICE = "policy.entry_ids_twice"  # ids
    POLICY_ENTRY_NEEDS_ID = "policy.entry_needs_id"  # number
    POLICY_ENTRY_NEEDS_SOURCE = "policy.entry_needs_source"  # entry
    POLICY_ENTRY_NEEDS_ANSWER = "policy.entry_needs_answer"  # entry, language
    POLICY_TEXTS_TOO_FEW = "policy.texts_too_few"  # where, at_least
    POLICY_TOPICS_SHAPE = "policy.topics_shape"  # file
    POLICY_TOPIC_NEEDS_QUESTIONS = "policy.topic_needs_questions"  # file, topic
    POLICY_TERMS_SHAPE = "policy_terms.shape"  # file
    POLICY_TERMS_CONCEPT_WORDS = "policy_terms.concept_needs_words"  # file, concept
    RISK_CORPUS_SHAPE = "risk.corpus_shape"  # file
    POLICY_CASES_SHAPE = "policy_cases.shape"  # file
    POLICY_CASE_NEEDS_TEXT = "policy_cases.needs_text"  # file, section, number
    POLICY_CASE_NEEDS_EXPECTED = "policy_cases.needs_expected"  # file, section, number
    POLICY_CASES_UNKNOWN_ENTRIES = "policy_cases.unknown_entries"  # entries


class QuestionKey(str):
    """A question of the assessment form, named in a refusal (``question=``): the catalogs word it
    (``assessment.short.<key>``), so a refusal never shows the form's code."""


class DomainError(Exception):
    """A rule of the domain was broken. ``code`` says which; ``arguments`` fill in its words in the
    catalogs (``refusal.<code>``), which is how a person or an operator reads it. ``str()`` gives the
    code and its arguments, for logs and debugging, never a sentence."""

    problems: tuple[DomainError, ...] = ()  # each one of several found at once (``SeveralProblems``)

    def __init__(self, code: Refusal, /, **arguments: str | int | float) -> None:
        super().__init__(code)
        self.code = code
        self.arguments = arguments

    def __str__(self) -> str:
        code = self.code.value if isinstance(self.code, Refusal) else str(self.code)
        if not self.arguments:
            return code
        return f"{code}({', '.join(f'{name}={value}' for name, value in self.arguments.items())})"


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    pass


class InvalidInput(DomainError):
    pass


def given_words(text: str, refusal: Refusal, *, at_most: int | None = None) -> str:
    """``text`` trimmed (and cut to ``at_most`` characters); nothing left is refused with ``refusal``."""
    words = text.strip()[:at_most]
    if not words:
        raise InvalidInput(refusal)
    return words


class SeveralProblems(InvalidInput):
    """Several problems found at once (a file's every error), summed up by ``code``."""

    def __init__(
        self, code: Refusal, problems: Sequence[DomainError], /, **arguments: str | int | float
    ) -> None:
        super().__init__(code, **arguments)
        self.problems = tuple(problems)
