"""area locations

Where each area lies (latitude and longitude, WGS 84), so that a shared location can find its
community.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_areas_latitude"), ["latitude"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_areas_latitude"))
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
