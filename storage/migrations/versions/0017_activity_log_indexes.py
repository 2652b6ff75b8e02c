"""the activity log's indexes

An administrator reads what staff did to tickets by person and time, newest first, across every
ticket's trail: two indexes on the trail serve it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 06:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_ticket_events_actor_id_created_at", "ticket_events", ["actor_id", "created_at"])
    op.create_index("ix_ticket_events_created_at", "ticket_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_ticket_events_created_at", table_name="ticket_events")
    op.drop_index("ix_ticket_events_actor_id_created_at", table_name="ticket_events")
