"""crisis on-call list and the review urgency

The on-call list a crisis reaches when nobody nearer acknowledges it, and ``review``, the urgency of a
possible crisis the screen is not sure of, in the urgency columns' CHECK constraints.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 03:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.migrations.checks import allow_only

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

URGENCY_COLUMNS = (("tickets", "ticket_urgency"), ("need_reports", "report_urgency"))


def upgrade() -> None:
    op.create_table(
        "on_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("from_time", sa.Time(), nullable=False),
        sa.Column("until_time", sa.Time(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_on_call_area_id_areas"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_on_call_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_on_call")),
    )
    op.create_index(op.f("ix_on_call_person_id"), "on_call", ["person_id"], unique=False)
    allow_only("urgency", ("normal", "high", "review", "critical"), URGENCY_COLUMNS)


def downgrade() -> None:
    op.execute("UPDATE tickets SET urgency = 'critical' WHERE urgency = 'review'")
    op.execute("UPDATE need_reports SET urgency = 'critical' WHERE urgency = 'review'")
    allow_only("urgency", ("normal", "high", "critical"), URGENCY_COLUMNS)
    op.drop_index(op.f("ix_on_call_person_id"), table_name="on_call")
    op.drop_table("on_call")
