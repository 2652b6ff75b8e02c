"""signing in to the web console

Staff sign in to the web console with a one-time link the bot gives, or with a password set from one:
the web joins the channels a person has an account on (its account is the login name), and four
tables keep the links, the passwords, the sessions (each named by its token's hash) and the log of
signing in and out. On the way down they go, and so do the web accounts.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.migrations.checks import allow_only

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNELS = ("telegram", "console")
CHANNEL_COLUMNS = (
    ("identities", "identity_channel"),
    ("need_reports", "report_channel"),
    ("processed_updates", "update_channel"),
    ("outgoing_messages", "outgoing_channel"),
)
EVENTS = (
    "link_issued",
    "signed_in",
    "sign_in_failed",
    "locked_out",
    "signed_out",
    "sessions_revoked",
    "password_set",
)


def _at(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    allow_only("channel", (*CHANNELS, "web"), CHANNEL_COLUMNS)
    person = sa.ForeignKey("people.id", ondelete="CASCADE")
    op.create_table(
        "staff_sign_in_links",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("person_id", sa.Integer(), person, nullable=False),
        _at("expires_at"),
        _at("created_at"),
        _at("used_at", nullable=True),
    )
    op.create_index("ix_staff_sign_in_links_person_id", "staff_sign_in_links", ["person_id"])
    op.create_table(
        "staff_passwords",
        sa.Column(
            "person_id", sa.Integer(), sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _at("locked_until", nullable=True),
        _at("set_at"),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        _at("created_at"),
        _at("last_seen_at"),
        _at("ended_at", nullable=True),
    )
    op.create_index("ix_staff_sessions_person_id", "staff_sessions", ["person_id"])
    op.create_table(
        "staff_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("people.id", ondelete="SET NULL"), nullable=True),
        sa.Column(
            "event",
            sa.Enum(*EVENTS, name="staff_event", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("detail", sa.String(length=200), nullable=False),
        _at("at"),
    )
    op.create_index("ix_staff_log_person_id", "staff_log", ["person_id"])
    op.create_index("ix_staff_log_at", "staff_log", ["at"])


def downgrade() -> None:
    op.drop_table("staff_log")
    op.drop_table("staff_sessions")
    op.drop_table("staff_passwords")
    op.drop_table("staff_sign_in_links")
    op.execute("DELETE FROM identities WHERE channel = 'web'")
    allow_only("channel", CHANNELS, CHANNEL_COLUMNS)
