"""consent to statistics

A person may withdraw their consent to be counted, without their name, in the service's evaluation
(``statistics``, recorded like any consent): their cases are left out of every report. On the way down
those records go (the consents of the other purposes stay).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 02:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURPOSES = ("store_report", "share_with_agency", "contact_me")


def _set_purposes(values: Sequence[str]) -> None:
    check = "purpose IN ({})".format(", ".join(f"'{value}'" for value in values))
    with op.batch_alter_table("consents", schema=None, recreate="auto") as batch_op:
        batch_op.drop_constraint("consent_purpose", type_="check")
        batch_op.create_check_constraint("consent_purpose", sa.text(check))


def upgrade() -> None:
    _set_purposes((*PURPOSES, "statistics"))


def downgrade() -> None:
    op.execute("DELETE FROM consents WHERE purpose = 'statistics'")
    _set_purposes(PURPOSES)
