"""What several migrations do: change the values an enum column allows.

The models' enums are ``native_enum=False``: a column is a string with a CHECK constraint naming its
values, and a value is added or taken away by replacing the constraint (on SQLite, by copying the
table, which ``batch_alter_table`` does).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


def allow_only(column: str, values: Sequence[str], constraints: Sequence[tuple[str, str]]) -> None:
    """Let ``column`` hold only ``values`` in each ``(table, constraint name)`` that checks it."""
    check = "{} IN ({})".format(column, ", ".join(f"'{value}'" for value in values))
    for table, name in constraints:
        with op.batch_alter_table(table, schema=None, recreate="auto") as batch_op:
            batch_op.drop_constraint(name, type_="check")
            batch_op.create_check_constraint(name, sa.text(check))
