"""What the casework needs of a store, as it needs it: a unit of work and the repositories it uses.

The casework owns these interfaces and ``storage`` implements them (``storage.Database`` and the
repositories of ``storage.repositories``), so the casework imports nothing of the store and the
dependency points one way: ``storage`` → ``casework``. The composition root (``bot/bootstrap.py``)
hands a ``storage.Database`` in where a ``UnitOfWork`` is asked for, and mypy checks that it fits.
Each repository protocol lists only the operations the casework calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from casework.domain import (
    AgencyCriterion,
    AgencyEvaluation,
    AlertKind,
    Area,
    AreaLevel,
    Assessment,
    Channel,
    Consent,
    ConsentPurpose,
    ContactWay,
    Criterion,
    Feedback,
    Goal,
    GoalOwner,
    GoalStatus,
    Household,
    Identity,
    ImprovementAction,
    Invite,
    Met,
    NeedReport,
    OnCall,
    Organisation,
    OutboxAlert,
    Person,
    Progress,
    Referral,
    ReferralStatus,
    Review,
    Role,
    ServiceType,
    StaffCredentials,
    StaffEvent,
    StaffLogEntry,
    StaffSession,
    SupervisionReview,
    Ticket,
    TicketAction,
    TicketEvent,
    TicketStatus,
    Urgency,
    Voice,
    VulnerabilityTag,
    WorkerGroup,
)

if TYPE_CHECKING:
    from casework.indicators import CaseHistory


class UnitOfWork(Protocol):
    """Transactions over the store (``storage.Database``)."""

    def transaction(self, *, savepoint: bool = True) -> AbstractAsyncContextManager[Transaction]:
        """Everything done through the yielded repositories commits together, or not at all."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once what was written is committed."""

    async def when_committed(self, work: Callable[[], Awaitable[None]]) -> None:
        """Do ``work`` once what was written is committed."""

    async def ping(self) -> None:
        """Raises unless the store answers."""


class Transaction(Protocol):
    """The repositories of one transaction."""

    @property
    def areas(self) -> AreaStore: ...

    @property
    def agency_reviews(self) -> AgencyReviewStore: ...

    @property
    def case_files(self) -> CaseFileStore: ...

    @property
    def consents(self) -> ConsentStore: ...

    @property
    def evaluation(self) -> EvaluationStore: ...

    @property
    def groups(self) -> WorkerGroupStore: ...

    @property
    def households(self) -> HouseholdStore: ...

    @property
    def invites(self) -> InviteStore: ...

    @property
    def leases(self) -> LeaseStore: ...

    @property
    def on_call(self) -> OnCallStore: ...

    @property
    def organisations(self) -> OrganisationStore: ...

    @property
    def outbox(self) -> OutboxStore: ...

    @property
    def outgoing(self) -> OutgoingStore: ...

    @property
    def people(self) -> PersonStore: ...

    @property
    def reports(self) -> NeedReportStore: ...

    @property
    def staff(self) -> StaffAccessStore: ...

    @property
    def tickets(self) -> TicketStore: ...

    @property
    def updates(self) -> ProcessedUpdateStore: ...


class AgencyReviewStore(Protocol):
    async def add_evaluation(
        self,
        *,
        organisation_id: int,
        period: str,
        period_start: date,
        period_end: date,
        voice: Voice,
        by_id: int | None,
        scores: Mapping[AgencyCriterion, int],
        comment: str | None,
        now: datetime,
    ) -> AgencyEvaluation: ...
    async def evaluations(
        self, *, organisation_ids: Iterable[int] | None = None, overlapping: tuple[date, date] | None = None
    ) -> list[AgencyEvaluation]: ...
    async def add_action(
        self,
        *,
        organisation_id: int,
        what: str,
        due_on: date,
        raised_by_id: int | None,
        raised_in: str,
        now: datetime,
    ) -> ImprovementAction: ...
    async def action(self, action_id: int) -> ImprovementAction | None: ...
    async def actions(
        self, *, organisation_ids: Iterable[int] | None = None, raised_before: datetime | None = None
    ) -> list[ImprovementAction]: ...
    async def close_action(
        self, action_id: int, *, note: str | None, now: datetime
    ) -> ImprovementAction | None: ...


class AreaStore(Protocol):
    async def ancestors(self, area_id: int) -> list[Area]: ...
    async def any_located(self) -> bool: ...
    async def by_code(self, code: str) -> Area | None: ...
    async def children(self, parent_id: int | None) -> list[Area]: ...
    async def count(self) -> int: ...
    async def descendant_ids(self, area_id: int) -> set[int]: ...
    async def get(self, area_id: int) -> Area | None: ...
    async def list_all(self) -> list[Area]: ...
    async def located_leaves_within(
        self, south: float, north: float, west: float, east: float
    ) -> list[Area]: ...
    async def upsert(
        self,
        *,
        code: str,
        name: str,
        level: AreaLevel,
        name_en: str | None = None,
        parent_id: int | None = None,
        location: tuple[float, float] | None = None,
    ) -> tuple[Area, bool]: ...


class CaseFileStore(Protocol):
    async def add_assessment(
        self,
        *,
        household_id: int,
        form_version: str,
        answers: Mapping[str, Any],
        risk: str,
        needs: Mapping[str, str],
        now: datetime,
        recorded_by_id: int | None = None,
        ticket_id: int | None = None,
    ) -> Assessment: ...
    async def add_goal(
        self,
        *,
        household_id: int,
        service_type: ServiceType,
        title: str,
        owner: GoalOwner,
        now: datetime,
        ticket_id: int | None = None,
        owner_person_id: int | None = None,
        owner_organisation_id: int | None = None,
        due_on: date | None = None,
        created_by_id: int | None = None,
    ) -> Goal: ...
    async def add_review(
        self,
        *,
        household_id: int,
        progress: Mapping[int, Progress],
        now: datetime,
        ticket_id: int | None = None,
        reviewed_by_id: int | None = None,
        next_review_on: date | None = None,
        note: str | None = None,
    ) -> Review: ...
    async def assessments(self, household_id: int) -> list[Assessment]: ...
    async def erase_answers(self, household_ids: Sequence[int]) -> int: ...
    async def goal(self, goal_id: int) -> Goal | None: ...
    async def goals(self, household_id: int) -> list[Goal]: ...
    async def reviews(self, household_id: int) -> list[Review]: ...
    async def scrub_texts(self, household_ids: Sequence[int], scrub: Callable[[str], str]) -> int: ...
    async def set_goal_status(
        self,
        goal_id: int,
        *,
        status: GoalStatus,
        now: datetime,
        expected: Iterable[GoalStatus],
        drop_reason: str | None = None,
    ) -> Goal | None: ...
    async def tasks_of(self, person_id: int) -> list[Goal]: ...


class ConsentStore(Protocol):
    async def active(self, person_id: int) -> dict[ConsentPurpose, Consent]: ...
    async def history(self, person_id: int) -> list[Consent]: ...
    async def purposes_answered(self, person_id: int, purposes: Iterable[ConsentPurpose]) -> int: ...
    async def record(
        self, *, person_id: int, answers: Mapping[ConsentPurpose, bool], notice_version: str, now: datetime
    ) -> None: ...
    async def withdraw(self, *, person_id: int, purpose: ConsentPurpose, now: datetime) -> int: ...


class EvaluationStore(Protocol):
    async def cases(
        self, *, opened_from: datetime, opened_until: datetime, area_ids: Iterable[int] | None = None
    ) -> list[CaseHistory]: ...
    async def files(
        self, *, opened_from: datetime, opened_until: datetime, area_ids: Iterable[int] | None = None
    ) -> tuple[list[Assessment], list[Goal]]: ...


class HouseholdStore(Protocol):
    async def add(
        self,
        *,
        area_id: int,
        now: datetime,
        address: str = "",
        size: int | None = None,
        vulnerability_tags: Iterable[VulnerabilityTag] = (),
    ) -> Household: ...
    async def get(self, household_id: int) -> Household | None: ...
    async def in_area(self, area_id: int) -> list[Household]: ...
    async def merge_situation(
        self, household_id: int, *, size: int | None, vulnerability_tags: Iterable[VulnerabilityTag]
    ) -> None: ...


class InviteStore(Protocol):
    async def add(
        self,
        *,
        code_hash: str,
        role: Role,
        area_id: int,
        expires_at: datetime,
        now: datetime,
        organisation_id: int | None = None,
        created_by_id: int | None = None,
    ) -> Invite: ...
    async def by_hash(self, code_hash: str) -> Invite | None: ...
    async def find(self, *, include_used: bool = False) -> list[Invite]: ...
    async def redeem(self, invite_id: int, *, person_id: int, now: datetime) -> bool: ...
    async def revoke(self, invite_id: int, *, now: datetime) -> bool: ...


class StaffAccessStore(Protocol):
    """The web console's sign-in links, passwords, sessions and log (``casework.staff_sign_in``)."""

    async def add_link(
        self, *, token_hash: str, person_id: int, expires_at: datetime, now: datetime
    ) -> None: ...
    async def use_link(self, token_hash: str, *, now: datetime) -> int | None: ...
    async def credentials(self, person_id: int) -> StaffCredentials | None: ...
    async def set_password(self, person_id: int, password_hash: str, *, now: datetime) -> None: ...
    async def failed(
        self, person_id: int, *, now: datetime, lock_after: int, lock_for: timedelta
    ) -> datetime | None: ...
    async def succeeded(self, person_id: int) -> None: ...
    async def add_session(
        self, *, token_hash: str, person_id: int, csrf_token: str, via: str, now: datetime
    ) -> StaffSession: ...
    async def session(self, token_hash: str) -> StaffSession | None: ...
    async def touch(self, session_id: int, *, now: datetime) -> None: ...
    async def end(self, session_id: int, *, now: datetime) -> None: ...
    async def end_all(self, person_id: int, *, now: datetime) -> int: ...
    async def log(self, person_id: int | None, event: StaffEvent, detail: str, *, now: datetime) -> None: ...
    async def entries(
        self,
        *,
        person_id: int | None,
        event: StaffEvent | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[StaffLogEntry]: ...


class LeaseStore(Protocol):
    async def acquire(self, name: str, *, holder: str, until: datetime, now: datetime) -> bool: ...
    async def release(self, name: str, *, holder: str) -> None: ...


class NeedReportStore(Protocol):
    async def add(
        self,
        *,
        text: str,
        language: str,
        intent: str,
        confidence: float,
        urgency: Urgency,
        channel: Channel,
        now: datetime,
        service_type: ServiceType | None = None,
        reporter_id: int | None = None,
        household_id: int | None = None,
        ticket_id: int | None = None,
        on_behalf: bool = False,
        anonymous: bool = False,
        submission_key: str | None = None,
        contact: ContactWay | None = None,
    ) -> NeedReport: ...
    async def by_reporter(self, reporter_id: int) -> list[NeedReport]: ...
    async def by_submission_key(self, key: str) -> NeedReport | None: ...
    async def for_ticket(self, ticket_id: int) -> list[NeedReport]: ...
    async def redact_by_reporter(self, reporter_id: int, *, keep_words_of: Sequence[int] = ()) -> int: ...


class OnCallStore(Protocol):
    async def add(
        self, *, person_id: int, area_id: int | None, from_time: time, until_time: time, now: datetime
    ) -> OnCall: ...
    async def list_all(self) -> list[OnCall]: ...
    async def remove(self, on_call_id: int) -> bool: ...


class OrganisationStore(Protocol):
    async def add(
        self,
        *,
        name: str,
        now: datetime,
        contact: str = "",
        service_types: Iterable[ServiceType] = (),
        area_ids: Iterable[int] = (),
    ) -> Organisation: ...
    async def by_name(self, name: str) -> Organisation | None: ...
    async def get(self, organisation_id: int) -> Organisation | None: ...
    async def list_all(self, *, active_only: bool = False) -> list[Organisation]: ...


class OutboxStore(Protocol):
    async def claim_for_delivery(
        self, alert_id: int, *, now: datetime, until: datetime
    ) -> OutboxAlert | None: ...
    async def close_without_sending(self, alert_id: int, *, reason: str, now: datetime) -> None: ...
    async def due(self, *, now: datetime, limit: int = 100) -> list[OutboxAlert]: ...
    async def for_ticket(self, ticket_id: int, *, event: AlertKind | None = None) -> list[OutboxAlert]: ...
    async def forget_recipient(self, *, person_id: int, chat_id: int | None) -> int: ...
    async def forget_replies(self, ticket_ids: Sequence[int], *, erased: str) -> int: ...
    async def get(self, alert_id: int) -> OutboxAlert | None: ...
    async def mark_failed(
        self, alert_id: int, *, error: str, retry_at: datetime | None
    ) -> OutboxAlert | None: ...
    async def mark_published(self, alerts: Iterable[OutboxAlert], *, now: datetime) -> None: ...
    async def postpone(self, alert_id: int, *, until: datetime) -> None: ...
    async def queue(
        self,
        *,
        event: AlertKind,
        payload: dict[str, Any],
        now: datetime,
        ticket_id: int | None,
        recipient_person_id: int | None = None,
        recipient_chat_id: int | None = None,
        key_suffix: str = "",
    ) -> OutboxAlert | None: ...
    async def record_delivery(self, alert_id: int, *, ref: dict[str, Any], now: datetime) -> bool: ...
    async def scrub_payloads(self, ticket_ids: Sequence[int], scrub: Callable[[str], str]) -> int: ...
    async def latest_to(
        self, person_id: int, *, events: Sequence[AlertKind], since: datetime
    ) -> list[OutboxAlert]: ...
    async def sent_to(self, person_id: int, *, since: datetime) -> list[OutboxAlert]: ...
    async def unpublished(
        self, *, now: datetime, stale_before: datetime | None = None, limit: int = 200
    ) -> list[OutboxAlert]: ...


class OutgoingStore(Protocol):
    async def forget_chat(self, *, channel: Channel, chat_id: int) -> int: ...
    async def prune(self, *, older_than: datetime) -> int: ...


class PersonStore(Protocol):
    async def add(
        self,
        *,
        now: datetime,
        identity: Identity | None = None,
        display_name: str = "",
        language: str = "zh",
        role: Role = Role.RECIPIENT,
        organisation_id: int | None = None,
        area_ids: Iterable[int] = (),
        service_types: Iterable[ServiceType] = (),
        phone: str | None = None,
    ) -> Person: ...
    async def add_identity(self, person_id: int, identity: Identity, *, now: datetime) -> Person: ...
    async def by_identity(self, channel: Channel, external_id: str) -> Person | None: ...
    async def erase(self, person_id: int, now: datetime) -> None: ...
    async def find(
        self, *, role: Role | None = None, area_ids: Iterable[int] | None = None, active_only: bool = True
    ) -> list[Person]: ...
    async def forget_dialog_states(self, keys: Sequence[str]) -> int: ...
    async def get(self, person_id: int) -> Person | None: ...
    async def many(self, person_ids: Iterable[int]) -> dict[int, Person]: ...
    async def set_areas(self, person_id: int, area_ids: Iterable[int]) -> Person: ...
    async def set_service_types(self, person_id: int, service_types: Iterable[ServiceType]) -> None: ...
    async def update(
        self,
        person_id: int,
        *,
        display_name: str | None = None,
        language: str | None = None,
        role: Role | None = None,
        organisation_id: int | None = None,
        phone: str | None = None,
        active: bool | None = None,
    ) -> Person: ...


class ProcessedUpdateStore(Protocol):
    async def prune(self, *, older_than: datetime) -> int: ...


class TicketStore(Protocol):
    async def reply_to(self, ticket_id: int) -> int | None: ...
    async def set_reply_to(self, ticket_id: int, person_id: int) -> None: ...
    async def forget_reply_to(self, person_id: int) -> list[int]: ...
    async def add(
        self,
        *,
        reference: str,
        service_type: ServiceType,
        urgency: Urgency,
        area_id: int,
        now: datetime,
        summary: str = "",
        household_id: int | None = None,
        reporter_id: int | None = None,
        claim_deadline: datetime | None = None,
        resolve_deadline: datetime | None = None,
    ) -> Ticket: ...
    async def add_event(
        self,
        *,
        ticket_id: int,
        action: TicketAction,
        now: datetime,
        actor_id: int | None = None,
        from_status: TicketStatus | None = None,
        to_status: TicketStatus | None = None,
        note: str | None = None,
    ) -> TicketEvent: ...
    async def add_feedback(
        self,
        *,
        ticket_id: int,
        rating: int,
        now: datetime,
        person_id: int | None = None,
        comment: str | None = None,
    ) -> Feedback: ...
    async def add_referral(
        self,
        *,
        ticket_id: int,
        now: datetime,
        from_person_id: int | None = None,
        to_person_id: int | None = None,
        to_organisation_id: int | None = None,
        reason: str | None = None,
        goal_id: int | None = None,
    ) -> Referral: ...
    async def by_reference(self, reference: str) -> Ticket | None: ...
    async def events(self, ticket_id: int) -> list[TicketEvent]: ...
    async def activity(
        self,
        *,
        actor_id: int | None,
        action: TicketAction | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[TicketEvent]: ...
    async def feedback(self, ticket_id: int) -> list[Feedback]: ...
    async def add_supervision(
        self,
        *,
        ticket_id: int,
        supervisor_id: int,
        scores: Mapping[Criterion, Met],
        comment: str | None,
        now: datetime,
    ) -> SupervisionReview: ...
    async def supervision(self, ticket_id: int) -> list[SupervisionReview]: ...
    async def listing(
        self,
        *,
        statuses: Iterable[TicketStatus] | None = None,
        area_ids: Iterable[int] | None = None,
        service_types: Iterable[ServiceType] | None = None,
        assignee_id: int | None = None,
        limit: int = 1000,
    ) -> list[Ticket]: ...
    async def find(
        self,
        *,
        statuses: Iterable[TicketStatus] | None = None,
        area_ids: Iterable[int] | None = None,
        service_types: Iterable[ServiceType] | None = None,
        urgencies: Iterable[Urgency] | None = None,
        reporter_id: int | None = None,
        assignee_id: int | None = None,
        household_id: int | None = None,
        limit: int = 200,
    ) -> list[Ticket]: ...
    async def get(self, ticket_id: int) -> Ticket | None: ...
    async def get_referral(self, referral_id: int) -> Referral | None: ...
    async def linked_to_person(self, person_id: int) -> list[int]: ...
    async def next_reference(self, day: date) -> str: ...
    async def open_counts_by_assignee(
        self, assignee_ids: Iterable[int], statuses: Iterable[TicketStatus]
    ) -> dict[int, int]: ...
    async def open_in_area(self, area_id: int, since: datetime) -> list[Ticket]: ...
    async def pending_referral(self, ticket_id: int) -> Referral | None: ...
    async def raise_escalation(self, ticket_id: int, *, to_level: int, now: datetime) -> bool: ...
    async def redact_feedback_by(self, person_id: int) -> int: ...
    async def referrals(self, ticket_id: int) -> list[Referral]: ...
    async def forget_replies(self, ticket_ids: Sequence[int], *, erased: str) -> int: ...
    async def scrub_texts(self, ticket_ids: Sequence[int], scrub: Callable[[str], str]) -> int: ...
    async def set_feedback_comment(
        self, *, ticket_id: int, person_id: int, comment: str
    ) -> Feedback | None: ...
    async def set_referral_status(
        self,
        referral_id: int,
        *,
        to_status: ReferralStatus,
        now: datetime,
        expected: Iterable[ReferralStatus],
        reason: str | None = None,
        outcome: str | None = None,
    ) -> Referral | None: ...
    async def transition(
        self,
        ticket_id: int,
        *,
        to_status: TicketStatus,
        now: datetime,
        expected: Iterable[TicketStatus] | None = None,
        require_unassigned: bool = False,
        **fields: Any,
    ) -> Ticket | None: ...
    async def unclaimed_past(self, now: datetime) -> list[Ticket]: ...
    async def update_fields(self, ticket_id: int, *, now: datetime, **fields: Any) -> Ticket | None: ...


class WorkerGroupStore(Protocol):
    async def by_chat(self, chat_id: int) -> WorkerGroup | None: ...
    async def nearest(self, area_chain: Sequence[int]) -> WorkerGroup | None: ...
    async def register(
        self, *, area_id: int, chat_id: int, title: str, now: datetime, registered_by_id: int | None = None
    ) -> WorkerGroup: ...
    async def unregister(self, chat_id: int) -> bool: ...
