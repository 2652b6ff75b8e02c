"""Domain vocabulary and records shared by every package.

These dataclasses are what repositories return and services pass around; the ORM models that
persist them live in ``storage/`` and convert at the repository boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    RECIPIENT = "recipient"
    VOLUNTEER = "volunteer"
    SOCIAL_WORKER = "social_worker"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


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


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    UNDELIVERABLE = "undeliverable"


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
class Person:
    id: int
    telegram_user_id: int | None
    display_name: str
    language: str
    role: Role
    organisation_id: int | None
    area_ids: frozenset[int]
    service_types: frozenset[ServiceType]
    active: bool
    phone: str | None
    created_at: datetime


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
    assigned_at: datetime | None = None
    in_progress_at: datetime | None = None
    referred_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reopened_at: datetime | None = None
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
    action: str
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
class OutboxAlert:
    id: int
    idempotency_key: str
    recipient_person_id: int | None
    recipient_chat_id: int | None
    ticket_id: int | None
    payload: dict[str, Any] = field(hash=False)
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None
    event: str = ""
    published_at: datetime | None = None
    delivery_ref: dict[str, Any] | None = field(default=None, hash=False)


class DomainError(Exception):
    """A rule of the domain was broken; the message is safe to show to the person who acted."""


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    pass


class InvalidInput(DomainError):
    pass
