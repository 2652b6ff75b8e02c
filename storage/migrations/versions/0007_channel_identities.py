"""channel identities

``identities``: a person's account on each channel they talk to the bot through, found by
``(channel, external_id)``, the id as text whatever its form. It replaces ``people.telegram_user_id``,
which the console's demonstration accounts borrowed: each id there becomes an account, a ``console``
one for the accounts the console and the demonstration data made (known by the names they gave them),
a ``telegram`` one for everyone else. The downgrade puts the ids back, a Telegram account's before a
console one's (there is room for one a person), and loses the accounts whose id is not a number.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The names the console gives the accounts it makes (``casework.directory.CONSOLE_DISPLAY_NAMES``) and
# those of the demonstration's staff (``casework/data/demo.yml``), as they stood at this revision.
CONSOLE_ACCOUNT_NAMES = (
    "console resident",
    "console volunteer",
    "console social worker",
    "console supervisor",
    "演示社工",
    "演示督导",
)
BIGGEST_ID = 2**63 - 1  # what a BIGINT holds

_people = sa.table(
    "people",
    sa.column("id", sa.Integer()),
    sa.column("telegram_user_id", sa.BigInteger()),
    sa.column("display_name", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_identities = sa.table(
    "identities",
    sa.column("channel", sa.String()),
    sa.column("external_id", sa.String()),
    sa.column("person_id", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column(
            "channel",
            sa.Enum(
                "telegram",
                "console",
                name="identity_channel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_identities_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("channel", "external_id", name=op.f("pk_identities")),
        sa.UniqueConstraint("person_id", "channel", name=op.f("uq_identities_person_id_channel")),
    )
    # Each id becomes an account as old as its person: a console one for a person the console or the
    # demonstration data made.
    channel = sa.case(
        (_people.c.display_name.in_(CONSOLE_ACCOUNT_NAMES), sa.literal("console")),
        else_=sa.literal("telegram"),
    )
    op.execute(
        _identities.insert().from_select(
            ["channel", "external_id", "person_id", "created_at"],
            sa.select(
                channel,
                sa.cast(_people.c.telegram_user_id, sa.String(200)),
                _people.c.id,
                _people.c.created_at,
            ).where(_people.c.telegram_user_id.is_not(None)),
        )
    )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_people_telegram_user_id"), type_="unique")
        batch_op.drop_column("telegram_user_id")


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telegram_user_id", sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_people_telegram_user_id"), ["telegram_user_id"])
    connection = op.get_bind()
    accounts = connection.execute(
        sa.select(_identities.c.person_id, _identities.c.channel, _identities.c.external_id)
    ).all()
    ids: dict[int, int] = {}  # person → the id they get back
    taken: set[int] = set()  # the column is unique
    for wanted in ("telegram", "console"):
        for person_id, channel, external_id in accounts:
            number = int(external_id) if external_id.isascii() and external_id.isdigit() else None
            if channel != wanted or number is None or number > BIGGEST_ID:
                continue
            if person_id not in ids and number not in taken:
                ids[person_id] = number
                taken.add(number)
    if ids:
        connection.execute(
            _people.update()
            .where(_people.c.id == sa.bindparam("person"))
            .values(telegram_user_id=sa.bindparam("number")),
            [{"person": person_id, "number": number} for person_id, number in ids.items()],
        )
    op.drop_table("identities")
