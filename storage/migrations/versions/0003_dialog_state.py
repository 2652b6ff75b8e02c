"""dialog state

Where each person is in a conversation, for the database-backed dialog store.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 03:53:38.105263
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dialog_states",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_dialog_states")),
    )
    with op.batch_alter_table("dialog_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dialog_states_active"), ["active"], unique=False)
        batch_op.create_index(batch_op.f("ix_dialog_states_updated_at"), ["updated_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("dialog_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dialog_states_updated_at"))
        batch_op.drop_index(batch_op.f("ix_dialog_states_active"))

    op.drop_table("dialog_states")
