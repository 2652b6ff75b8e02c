"""administrators' changes to staff in the activity log

The web console's log (``staff_log``) records, beside signing in and out, an administrator changing a
person's role or areas and closing or opening their account. On the way down those entries go.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.migrations.checks import allow_only

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENTS = (
    "link_issued",
    "signed_in",
    "sign_in_failed",
    "locked_out",
    "signed_out",
    "sessions_revoked",
    "password_set",
)
ADDED = ("staff_changed", "account_closed", "account_opened")
EVENT_COLUMNS = (("staff_log", "staff_event"),)


def upgrade() -> None:
    allow_only("event", (*EVENTS, *ADDED), EVENT_COLUMNS)


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM staff_log WHERE event IN :added").bindparams(
            sa.bindparam("added", value=list(ADDED), expanding=True)
        )
    )
    allow_only("event", EVENTS, EVENT_COLUMNS)
