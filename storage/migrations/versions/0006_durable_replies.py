"""durable replies and idempotent submissions

``outgoing_messages``: the messages a turn writes for a chat, in the turn's own transaction, sent once
it committed (a crash between the two leaves them to be sent, not lost). ``need_reports.submission_key``:
a report submitted twice (its dialog state lost after the first commit) finds the ticket it opened.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 10:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outgoing_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "telegram",
                "console",
                name="outgoing_channel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=True),
        sa.Column("edits_message_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("markup", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_messages")),
    )
    op.create_index(
        "ix_outgoing_messages_waiting", "outgoing_messages", ["done_at", "channel", "chat_id"], unique=False
    )
    with op.batch_alter_table("need_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submission_key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_need_reports_submission_key"), ["submission_key"])


def downgrade() -> None:
    with op.batch_alter_table("need_reports", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_need_reports_submission_key"), type_="unique")
        batch_op.drop_column("submission_key")
    op.drop_index("ix_outgoing_messages_waiting", table_name="outgoing_messages")
    op.drop_table("outgoing_messages")
