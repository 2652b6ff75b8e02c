"""the case conversation

A need report keeps how its reporter asked to be reached (``contact``: chat, phone or none), which the
worker who has the case reads beside the phone number and the household's address. An anonymous case
whose reporter asked to be answered keeps whom to write to (``tickets.reply_to_id``), never shown to
staff. The alerts a person was sent are looked up by person and kind (the case a worker last wrote to
them about), so the outbox gets an index on the two.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONTACT_WAYS = ("chat", "phone", "none")


def upgrade() -> None:
    with op.batch_alter_table("need_reports", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "contact",
                sa.Enum(
                    *CONTACT_WAYS, name="report_contact", native_enum=False, create_constraint=True, length=32
                ),
                nullable=True,
            )
        )
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_outbox_recipient_event", ["recipient_person_id", "event"], unique=False
        )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_to_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_tickets_reply_to_id_people"),
            "people",
            ["reply_to_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_tickets_reply_to_id_people"), type_="foreignkey")
        batch_op.drop_column("reply_to_id")
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_outbox_recipient_event")
    with op.batch_alter_table("need_reports", schema=None) as batch_op:
        batch_op.drop_constraint("report_contact", type_="check")
        batch_op.drop_column("contact")
