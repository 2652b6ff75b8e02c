"""the evaluator role

A third-party evaluator (第三方评估) joins the roles a person and an invite may have: they read the
service evaluation of the areas given to them, never a case. On the way down, an evaluator's account
is closed (kept, inactive, as a recipient) and their unused invites go.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 02:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE_COLUMNS = (("people", "role"), ("invites", "invite_role"))
ROLES = ("recipient", "volunteer", "social_worker", "supervisor", "admin")


def _set_roles(values: Sequence[str]) -> None:
    check = "role IN ({})".format(", ".join(f"'{value}'" for value in values))
    for table, name in ROLE_COLUMNS:
        with op.batch_alter_table(table, schema=None, recreate="auto") as batch_op:
            batch_op.drop_constraint(name, type_="check")
            batch_op.create_check_constraint(name, sa.text(check))


def upgrade() -> None:
    _set_roles((*ROLES, "evaluator"))


def downgrade() -> None:
    op.execute("UPDATE people SET role = 'recipient', active = false WHERE role = 'evaluator'")
    op.execute("DELETE FROM invites WHERE role = 'evaluator'")
    _set_roles(ROLES)
