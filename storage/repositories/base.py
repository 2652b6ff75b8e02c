"""What every repository shares: the session, the dialect, and inserting without a clash."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from casework.domain import Conflict, Refusal
from storage.models import Base

TICKET_REFERENCE_PREFIX = "SA"

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")
R = TypeVar("R", bound=Base)
T = TypeVar("T")


def from_row(kind: type[D], row: Base, **given: Any) -> D:
    """The domain value ``kind`` (a dataclass) made of the row's columns of the same names as its
    fields; those ``given`` (converted, or derived from other columns) are taken as given."""
    fields = dataclasses.fields(kind)
    values = {field.name: getattr(row, field.name) for field in fields if field.name not in given}
    return kind(**values, **given)


@functools.cache
def _insert_or_nothing(table: Table, dialect: str) -> Any:
    """The statement, built once per table: reused with new values, it is neither built nor given its
    cache key again (both cost more than running it on SQLite)."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing()


class Repository:
    def __init__(self, session: AsyncSession, dialect: str, core: AsyncConnection | AsyncSession) -> None:
        self._session = session
        self._dialect = dialect
        # Where the hottest Core statements go: the transaction's connection, without the ORM
        # session's bookkeeping around them, when the unit of work has one (the session otherwise).
        self._core = core

    async def _added(self, row: R, record: Callable[[R], T]) -> T:
        """Insert the row now (so it has its id) and return it as ``record`` makes it."""
        self._session.add(row)
        await self._session.flush()
        return record(row)

    async def _insert_ignoring_conflict(self, table: Table, values: dict[str, Any]) -> bool:
        """Insert a row unless a unique key already has it; True when the row is new."""
        result = await self._core.execute(_insert_or_nothing(table, self._dialect), values)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _add_unique(self, row: Base, conflict: Refusal, **arguments: str | int) -> None:
        """Insert the row in a savepoint; a unique-key clash undoes only it and raises ``Conflict``.

        The row is added inside the savepoint: one added before it would be flushed by the outer
        transaction, and its failure would undo everything done there.
        """
        try:
            async with self._session.begin_nested():
                self._session.add(row)
                await self._session.flush()
        except IntegrityError:
            raise Conflict(conflict, **arguments) from None
