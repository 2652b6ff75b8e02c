"""status times on the trail

A ticket kept the time it last reached each status in a column of its own (``assigned_at``,
``in_progress_at``, ``referred_at``, ``reopened_at``, ``resolved_at``, ``closed_at``). Nothing read the
first four, and the trail (``ticket_events``, every move with its time) holds them all: they go.
``resolved_at`` and ``closed_at`` stay, read by the deadlines and the weekly digest. The downgrade
puts the four back, each filled from the trail with the ticket's last move to that status.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each column and the status whose time it kept.
DROPPED = {
    "assigned_at": "assigned",
    "in_progress_at": "in_progress",
    "referred_at": "referred",
    "reopened_at": "reopened",
}


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        for column in DROPPED:
            batch.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        for column in DROPPED:
            batch.add_column(sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    tickets = sa.table("tickets", sa.column("id", sa.Integer()), *(sa.column(c) for c in DROPPED))
    events = sa.table(
        "ticket_events",
        sa.column("ticket_id", sa.Integer()),
        sa.column("to_status", sa.String()),
        sa.column("created_at"),
    )
    for column, status in DROPPED.items():
        last_move = (
            sa.select(sa.func.max(events.c.created_at))
            .where(events.c.ticket_id == tickets.c.id, events.c.to_status == status)
            .scalar_subquery()
        )
        op.execute(tickets.update().values({column: last_move}))
