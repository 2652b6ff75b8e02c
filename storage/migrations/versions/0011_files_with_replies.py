"""files with replies

A reply may be a file (a report's chart as a picture, its workbook as a document) with a caption: the
file is stored with the message, in the turn's own transaction, so a crash before sending costs nothing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outgoing_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("file_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("file_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("file_content", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outgoing_messages", schema=None) as batch_op:
        batch_op.drop_column("file_content")
        batch_op.drop_column("file_kind")
        batch_op.drop_column("file_name")
