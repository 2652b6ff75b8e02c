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


def _set_events(values: Sequence[str]) -> None:
    check = "event IN ({})".format(", ".join(f"'{value}'" for value in values))
    with op.batch_alter_table("staff_log", schema=None, recreate="auto") as batch_op:
        batch_op.drop_constraint("staff_event", type_="check")
        batch_op.create_check_constraint("staff_event", sa.text(check))


def upgrade() -> None:
    _set_events((*EVENTS, *ADDED))


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM staff_log WHERE event IN :added").bindparams(
            sa.bindparam("added", value=list(ADDED), expanding=True)
        )
    )
    _set_events(EVENTS)
