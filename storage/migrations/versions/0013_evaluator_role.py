"""the evaluator role

A third-party evaluator (第三方评估) joins the roles a person and an invite may have: they read the
service evaluation of the areas given to them, never a case. On the way down, an evaluator's account
is closed (kept, inactive, as a recipient) and their unused invites go.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 02:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

from storage.migrations.checks import allow_only

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE_COLUMNS = (("people", "role"), ("invites", "invite_role"))
ROLES = ("recipient", "volunteer", "social_worker", "supervisor", "admin")


def upgrade() -> None:
    allow_only("role", (*ROLES, "evaluator"), ROLE_COLUMNS)


def downgrade() -> None:
    op.execute("UPDATE people SET role = 'recipient', active = false WHERE role = 'evaluator'")
    op.execute("DELETE FROM invites WHERE role = 'evaluator'")
    allow_only("role", ROLES, ROLE_COLUMNS)
