"""consent to statistics

A person may withdraw their consent to be counted, without their name, in the service's evaluation
(``statistics``, recorded like any consent): their cases are left out of every report. On the way down
those records go (the consents of the other purposes stay).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 02:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

from storage.migrations.checks import allow_only

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURPOSES = ("store_report", "share_with_agency", "contact_me")
PURPOSE_COLUMNS = (("consents", "consent_purpose"),)


def upgrade() -> None:
    allow_only("purpose", (*PURPOSES, "statistics"), PURPOSE_COLUMNS)


def downgrade() -> None:
    op.execute("DELETE FROM consents WHERE purpose = 'statistics'")
    allow_only("purpose", PURPOSES, PURPOSE_COLUMNS)
