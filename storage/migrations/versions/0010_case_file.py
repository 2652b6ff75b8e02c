"""the case file

A household keeps a case file across its tickets: versioned assessments (``assessments``: the answers
to the form, with the risk rating and the needs per service type copied out), the goals of its service
plan (``plan_goals``: numbered on the household's file, each with an owner, a due date and a status),
and the plan's reviews (``plan_reviews``, with how each goal came on in ``goal_progress``). A referral
raised for a goal names it (``referrals.goal_id``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 22:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERVICE_TYPES = (
    "social_integration",
    "capacity_building",
    "psychological_support",
    "resource_linking",
    "policy_advocacy",
)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _person(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["people.id"], name=op.f(f"fk_{table}_{column}_people"), ondelete="SET NULL"
    )


def _household(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["household_id"],
        ["households.id"],
        name=op.f(f"fk_{table}_household_id_households"),
        ondelete="CASCADE",
    )


def _ticket(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["ticket_id"], ["tickets.id"], name=op.f(f"fk_{table}_ticket_id_tickets"), ondelete="SET NULL"
    )


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("form_version", sa.String(length=32), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("risk", sa.String(length=32), nullable=False),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased", sa.Boolean(), server_default=sa.false(), nullable=False),
        _household("assessments"),
        _person("recorded_by_id", "assessments"),
        _ticket("assessments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
        sa.UniqueConstraint("household_id", "version", name=op.f("uq_assessments_household_id_version")),
    )
    op.create_index(op.f("ix_assessments_household_id"), "assessments", ["household_id"], unique=False)

    op.create_table(
        "plan_goals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("service_type", _enum("goal_service_type", *SERVICE_TYPES), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("owner", _enum("goal_owner", "worker", "agency", "volunteer"), nullable=False),
        sa.Column("owner_person_id", sa.Integer(), nullable=True),
        sa.Column("owner_organisation_id", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column(
            "status", _enum("goal_status", "planned", "under_way", "achieved", "dropped"), nullable=False
        ),
        sa.Column("drop_reason", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _person("created_by_id", "plan_goals"),
        _household("plan_goals"),
        sa.ForeignKeyConstraint(
            ["owner_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_plan_goals_owner_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        _person("owner_person_id", "plan_goals"),
        _ticket("plan_goals"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_goals")),
        sa.UniqueConstraint("household_id", "number", name=op.f("uq_plan_goals_household_id_number")),
    )
    op.create_index(op.f("ix_plan_goals_household_id"), "plan_goals", ["household_id"], unique=False)
    op.create_index(op.f("ix_plan_goals_owner_person_id"), "plan_goals", ["owner_person_id"], unique=False)

    op.create_table(
        "plan_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_review_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        _household("plan_reviews"),
        _person("reviewed_by_id", "plan_reviews"),
        _ticket("plan_reviews"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_reviews")),
    )
    op.create_index(op.f("ix_plan_reviews_household_id"), "plan_reviews", ["household_id"], unique=False)

    op.create_table(
        "goal_progress",
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.Column("progress", _enum("goal_progress", "worse", "same", "better", "achieved"), nullable=False),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["plan_goals.id"],
            name=op.f("fk_goal_progress_goal_id_plan_goals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["plan_reviews.id"],
            name=op.f("fk_goal_progress_review_id_plan_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("review_id", "goal_id", name=op.f("pk_goal_progress")),
    )

    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("goal_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_referrals_goal_id_plan_goals"),
            "plan_goals",
            ["goal_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_referrals_goal_id_plan_goals"), type_="foreignkey")
        batch_op.drop_column("goal_id")
    op.drop_table("goal_progress")
    op.drop_index(op.f("ix_plan_reviews_household_id"), table_name="plan_reviews")
    op.drop_table("plan_reviews")
    op.drop_index(op.f("ix_plan_goals_owner_person_id"), table_name="plan_goals")
    op.drop_index(op.f("ix_plan_goals_household_id"), table_name="plan_goals")
    op.drop_table("plan_goals")
    op.drop_index(op.f("ix_assessments_household_id"), table_name="assessments")
    op.drop_table("assessments")
