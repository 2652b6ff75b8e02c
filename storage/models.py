"""SQLAlchemy ORM models. They never leave ``storage/``: repositories convert them to domain records."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from casework.domain import (
    ActionStatus,
    AreaLevel,
    Channel,
    ConsentPurpose,
    ContactWay,
    GoalOwner,
    GoalStatus,
    OutboxStatus,
    Progress,
    ReferralStatus,
    Role,
    ServiceType,
    StaffEvent,
    TicketStatus,
    Urgency,
    Voice,
)
from storage.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _enum(enum_class: type[StrEnum], name: str) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, values as stored strings."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


person_areas = Table(
    "person_areas",
    Base.metadata,
    Column("person_id", ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    Column("area_id", ForeignKey("areas.id", ondelete="RESTRICT"), primary_key=True),
)

person_service_types = Table(
    "person_service_types",
    Base.metadata,
    Column("person_id", ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    Column("service_type", _enum(ServiceType, "person_service_type"), primary_key=True),
)

organisation_areas = Table(
    "organisation_areas",
    Base.metadata,
    Column("organisation_id", ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
    Column("area_id", ForeignKey("areas.id", ondelete="RESTRICT"), primary_key=True),
)

organisation_service_types = Table(
    "organisation_service_types",
    Base.metadata,
    Column("organisation_id", ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
    Column("service_type", _enum(ServiceType, "organisation_service_type"), primary_key=True),
)


class AreaRow(Base):
    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    level: Mapped[AreaLevel] = mapped_column(_enum(AreaLevel, "area_level"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    latitude: Mapped[float | None] = mapped_column(Float, index=True)
    longitude: Mapped[float | None] = mapped_column(Float)


class OrganisationRow(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    contact: Mapped[str] = mapped_column(String(500), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    areas: Mapped[list[AreaRow]] = relationship(secondary=organisation_areas, lazy="selectin")


class PersonRow(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(8), default="zh")
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.RECIPIENT)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]

    areas: Mapped[list[AreaRow]] = relationship(secondary=person_areas, lazy="selectin")
    identities: Mapped[list[IdentityRow]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )


class IdentityRow(Base):
    """A person's account on a channel, as the channel names it (a Telegram user id, a console
    account): whom a turn on that channel comes from, and where the bot writes to them. Text, so that
    every channel's accounts fit one column whatever their form: Telegram numbers its users, a login on
    a web page is a name. An account is one person's, and a person has at most one a channel."""

    __tablename__ = "identities"

    channel: Mapped[Channel] = mapped_column(_enum(Channel, "identity_channel"), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("person_id", "channel"),)


class HouseholdRow(Base):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    address: Mapped[str] = mapped_column(String(500), default="")
    size: Mapped[int | None] = mapped_column(Integer)
    vulnerability_tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("size IS NULL OR size BETWEEN 1 AND 99", name="size_range"),)


class TicketRow(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    service_type: Mapped[ServiceType] = mapped_column(_enum(ServiceType, "ticket_service_type"))
    urgency: Mapped[Urgency] = mapped_column(_enum(Urgency, "ticket_urgency"))
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus, "ticket_status"), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL"), index=True
    )
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(String(500), default="")
    outcome: Mapped[str | None] = mapped_column(Text)
    claim_deadline: Mapped[datetime | None]
    resolve_deadline: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    visited_at: Mapped[datetime | None]
    needs_home_visit: Mapped[bool] = mapped_column(default=False, server_default=false())
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Whom the bot writes to about an anonymous case whose reporter asked to be answered: never shown
    # to staff (the domain ``Ticket`` does not carry it), forgotten when they erase their data.
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))


class WorkerGroupRow(Base):
    """A Telegram group of an area's social workers, where the bot posts that area's new tickets."""

    __tablename__ = "worker_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    registered_at: Mapped[datetime]


class OnCallRow(Base):
    """A person on the crisis on-call list, for some hours of the day, in one area or everywhere."""

    __tablename__ = "on_call"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    from_time: Mapped[time] = mapped_column(Time)
    until_time: Mapped[time] = mapped_column(Time)
    created_at: Mapped[datetime]


class LeaseRow(Base):
    """A named lease one process holds at a time (the scheduler's leadership without Redis)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class DialogStateRow(Base):
    """Where a person is in a conversation, when no Redis keeps it."""

    __tablename__ = "dialog_states"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=False, index=True)
    updated_at: Mapped[datetime] = mapped_column(index=True)


class TicketSequenceRow(Base):
    """Per-day counter behind readable references such as SA-20261129-0042."""

    __tablename__ = "ticket_sequences"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class NeedReportRow(Base):
    __tablename__ = "need_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    intent: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    service_type: Mapped[ServiceType | None] = mapped_column(_enum(ServiceType, "report_service_type"))
    urgency: Mapped[Urgency] = mapped_column(_enum(Urgency, "report_urgency"))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id", ondelete="SET NULL"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    on_behalf: Mapped[bool] = mapped_column(default=False)
    anonymous: Mapped[bool] = mapped_column(default=False)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "report_channel"))
    created_at: Mapped[datetime]
    # The flow's key for one submission: the same report submitted again (its turn's dialog state was
    # lost after the commit) finds the ticket it opened instead of opening another.
    submission_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    contact: Mapped[ContactWay | None] = mapped_column(_enum(ContactWay, "report_contact"))

    __table_args__ = (CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),)


class TicketEventRow(Base):
    """Append-only audit trail of a ticket, including every read of its details."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[TicketStatus | None] = mapped_column(_enum(TicketStatus, "event_from_status"))
    to_status: Mapped[TicketStatus | None] = mapped_column(_enum(TicketStatus, "event_to_status"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_ticket_events_ticket_id_id", "ticket_id", "id"),
        # The activity log: what one person did, and what everyone did, newest first.
        Index("ix_ticket_events_actor_id_created_at", "actor_id", "created_at"),
        Index("ix_ticket_events_created_at", "created_at"),
    )


class ReferralRow(Base):
    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    from_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    to_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    to_organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    status: Mapped[ReferralStatus] = mapped_column(_enum(ReferralStatus, "referral_status"))
    reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    responded_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("plan_goals.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint(
            "to_person_id IS NOT NULL OR to_organisation_id IS NOT NULL OR status = 'withdrawn'",
            name="has_target",
        ),
    )


class AssessmentRow(Base):
    """One version of a household's assessment; a reassessment adds the next version."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    form_version: Mapped[str] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    risk: Mapped[str] = mapped_column(String(32))
    needs: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime]
    erased: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (UniqueConstraint("household_id", "version"),)


class GoalRow(Base):
    """A goal of a household's service plan."""

    __tablename__ = "plan_goals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    number: Mapped[int] = mapped_column(Integer)
    service_type: Mapped[ServiceType] = mapped_column(_enum(ServiceType, "goal_service_type"))
    title: Mapped[str] = mapped_column(String(500))
    owner: Mapped[GoalOwner] = mapped_column(_enum(GoalOwner, "goal_owner"))
    owner_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    owner_organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[GoalStatus] = mapped_column(_enum(GoalStatus, "goal_status"))
    drop_reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("household_id", "number"),)


class ReviewRow(Base):
    """A review of a household's plan; how each goal came on is a ``GoalProgressRow``."""

    __tablename__ = "plan_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime]
    next_review_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)


class GoalProgressRow(Base):
    __tablename__ = "goal_progress"

    review_id: Mapped[int] = mapped_column(
        ForeignKey("plan_reviews.id", ondelete="CASCADE"), primary_key=True
    )
    goal_id: Mapped[int] = mapped_column(ForeignKey("plan_goals.id", ondelete="CASCADE"), primary_key=True)
    progress: Mapped[Progress] = mapped_column(_enum(Progress, "goal_progress"))


class FeedbackRow(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        UniqueConstraint("ticket_id", "person_id"),
    )


class SupervisionRow(Base):
    """A supervisor's review of a finished case (督导): each criterion's score and a comment."""

    __tablename__ = "supervision_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)  # criterion → 0, 1 or 2
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class AgencyEvaluationRow(Base):
    """One voice's evaluation of an agency over a period (三方评价): the agency's own, a supervisor's,
    a third-party evaluator's; each criterion scored 1 to 5."""

    __tablename__ = "agency_evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    period: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    voice: Mapped[Voice] = mapped_column(_enum(Voice, "evaluation_voice"))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class ImprovementActionRow(Base):
    """What an evaluation asked an agency to improve, by when; open until it is done."""

    __tablename__ = "improvement_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    what: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    raised_in: Mapped[str] = mapped_column(String(32))
    status: Mapped[ActionStatus] = mapped_column(_enum(ActionStatus, "action_status"))
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_note: Mapped[str | None] = mapped_column(Text)


class ConsentRow(Base):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[ConsentPurpose] = mapped_column(_enum(ConsentPurpose, "consent_purpose"))
    notice_version: Mapped[str] = mapped_column(String(32))
    granted_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]


class InviteRow(Base):
    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "invite_role"))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    used_at: Mapped[datetime | None]


class StaffLinkRow(Base):
    """A one-time link to sign in to the web console, kept as its token's hash."""

    __tablename__ = "staff_sign_in_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class StaffPasswordRow(Base):
    """A staff member's web console password (argon2's hash) and their run of failed attempts."""

    __tablename__ = "staff_passwords"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    set_at: Mapped[datetime]


class StaffSessionRow(Base):
    """A web console session, named by its token's hash (the token is the browser's cookie)."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class StaffLogRow(Base):
    """The web console's log of signing in and out, beside the tickets' trails."""

    __tablename__ = "staff_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    event: Mapped[StaffEvent] = mapped_column(_enum(StaffEvent, "staff_event"))
    detail: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(index=True)


class ProcessedUpdateRow(Base):
    __tablename__ = "processed_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "update_channel"))
    update_id: Mapped[int] = mapped_column(BigInteger)
    processed_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("channel", "update_id"),)


class OutgoingRow(Base):
    """A message a turn wrote for a chat, in the turn's own transaction, sent once it committed: a crash
    between the two leaves it here for the next process to send."""

    __tablename__ = "outgoing_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "outgoing_channel"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    update_id: Mapped[int | None] = mapped_column(BigInteger)  # the update whose turn wrote it
    edits_message_id: Mapped[int | None] = mapped_column(BigInteger)  # an edit of that message, else new
    text: Mapped[str] = mapped_column(Text)  # with a file, its caption
    markup: Mapped[dict[str, Any] | None]
    file_name: Mapped[str | None] = mapped_column(String(200))  # a file sent, shown in the chat
    file_kind: Mapped[str | None] = mapped_column(String(16))  # "photo" (shown as a picture) or "document"
    file_content: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]  # a process is sending it until then
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    done_at: Mapped[datetime | None]  # sent, or refused for good (``refused``)
    refused: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (Index("ix_outgoing_messages_waiting", "done_at", "channel", "chat_id"),)


class OutboxRow(Base):
    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    event: Mapped[str] = mapped_column(String(40), default="", server_default="")
    recipient_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    recipient_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    payload: Mapped[dict[str, Any]]
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    delivery_ref: Mapped[dict[str, Any] | None]

    __table_args__ = (
        Index("ix_alert_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_alert_outbox_recipient_event", "recipient_person_id", "event"),
        CheckConstraint(
            "recipient_person_id IS NOT NULL OR recipient_chat_id IS NOT NULL", name="has_recipient"
        ),
    )
