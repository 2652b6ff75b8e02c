"""casework engine

Worker groups per area, leases (scheduler leadership without Redis), ticket home visits and
escalation level, and the outbox columns the alert relay needs (event, publication, delivery).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 03:23:10.121902
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "worker_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("registered_by_id", sa.Integer(), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_worker_groups_area_id_areas"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["registered_by_id"],
            ["people.id"],
            name=op.f("fk_worker_groups_registered_by_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_groups")),
        sa.UniqueConstraint("area_id", name=op.f("uq_worker_groups_area_id")),
        sa.UniqueConstraint("chat_id", name=op.f("uq_worker_groups_chat_id")),
    )
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event", sa.String(length=40), server_default="", nullable=False))
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delivery_ref", sa.JSON(), nullable=True))

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visited_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("needs_home_visit", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("escalation_level", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("escalation_level")
        batch_op.drop_column("needs_home_visit")
        batch_op.drop_column("visited_at")

    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.drop_column("delivery_ref")
        batch_op.drop_column("published_at")
        batch_op.drop_column("event")

    op.drop_table("worker_groups")
    op.drop_table("leases")
