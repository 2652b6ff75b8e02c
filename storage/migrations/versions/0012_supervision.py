"""supervision

A supervisor reviews a finished case against a short rubric (督导): each criterion scored 0, 1 or 2,
and a comment to the worker. A case may be reviewed again (after it was reopened and finished anew);
the latest review counts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supervision_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("supervisor_id", sa.Integer(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["people.id"],
            name=op.f("fk_supervision_reviews_supervisor_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_supervision_reviews_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_reviews")),
    )
    with op.batch_alter_table("supervision_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supervision_reviews_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("supervision_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supervision_reviews_ticket_id"))
    op.drop_table("supervision_reviews")
