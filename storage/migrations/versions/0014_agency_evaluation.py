"""agency evaluation

Agencies evaluated in three voices (三方评价): their own self-evaluation, a supervisor's and a
third-party evaluator's, each criterion (administration, outcomes, project management, social
impact) scored 1 to 5 over a period; and the improvement actions an evaluation raises for an agency,
open until done.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 02:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agency_evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column(
            "voice",
            sa.Enum(
                "self",
                "supervisor",
                "evaluator",
                name="evaluation_voice",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_id"], ["people.id"], name=op.f("fk_agency_evaluations_by_id_people"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_agency_evaluations_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_evaluations")),
    )
    op.create_index(
        op.f("ix_agency_evaluations_organisation_id"), "agency_evaluations", ["organisation_id"], unique=False
    )
    op.create_table(
        "improvement_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("raised_by_id", sa.Integer(), nullable=True),
        sa.Column("raised_in", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open", "done", name="action_status", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_improvement_actions_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["raised_by_id"],
            ["people.id"],
            name=op.f("fk_improvement_actions_raised_by_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_improvement_actions")),
    )
    op.create_index(
        op.f("ix_improvement_actions_organisation_id"),
        "improvement_actions",
        ["organisation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_improvement_actions_organisation_id"), table_name="improvement_actions")
    op.drop_table("improvement_actions")
    op.drop_index(op.f("ix_agency_evaluations_organisation_id"), table_name="agency_evaluations")
    op.drop_table("agency_evaluations")
