"""Engine and transaction factory. Build one ``Database`` at start-up and pass it in."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import PoolResetState, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.repositories import Transaction


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Take the write lock up front: a deferred transaction that reads, then writes, can fail with
    # "database is locked" when another writer got in between, whatever the busy timeout. Straight to
    # the driver, one trip to aiosqlite's thread (through SQLAlchemy's cursor, a statement takes
    # three: open the cursor, execute, close it); a failure is raised as SQLAlchemy would raise it.
    try:
        connection.connection.dbapi_connection.run_async(
            lambda driver: driver.execute_fetchall("BEGIN IMMEDIATE")
        )
    except sqlite3.Error as error:
        raise DBAPIError.instance("BEGIN IMMEDIATE", None, error, sqlite3.Error) from None


def _sqlite_reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
    # In place of the pool's rollback of every connection it takes back: nearly all come back after
    # their commit or rollback, and with aiosqlite each rollback is a trip to the connection's thread.
    if state.asyncio_safe and dbapi_connection.driver_connection.in_transaction:
        dbapi_connection.rollback()


@dataclass(slots=True)
class _Unit:
    tx: Transaction  # one set of repositories over the unit's session, for every block inside it
    after_commit: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._unit: ContextVar[_Unit | None] = ContextVar(f"unit-{id(self)}", default=None)
        # SQLite has one writer at a time. Transactions of this process queue here rather than poll
        # the file lock, which sleeps ever longer between tries when many wait (other processes still
        # meet the busy timeout).
        self._writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self._writing: ContextVar[bool] = ContextVar(f"writing-{id(self)}", default=False)

    @asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        if self._writer is None or self._writing.get():
            yield
            return
        async with self._writer:
            token = self._writing.set(True)
            try:
                yield
            finally:
                self._writing.reset(token)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[Transaction]:
        """One database transaction around everything this task does until the block ends.

        Transactions opened inside it become savepoints of it (one that fails rolls back alone, as it
        would on its own), and ``after_commit`` work waits for the outer commit: a channel records an
        update as handled together with all its effects, or not at all.
        """
        if self._unit.get() is not None:
            raise RuntimeError("a unit of work is already open in this task")
        # The transaction is the connection's; the ORM session joins it the first time a repository
        # uses it (its commit then flushes without committing, and its savepoints are the
        # connection's), so a turn that needs no ORM does without its bookkeeping.
        async with self._write_turn(), self.engine.connect() as connection:
            session = self._sessions(bind=connection)
            unit = _Unit(Transaction(session, self.dialect, connection))
            token = self._unit.set(unit)
            try:
                async with connection.begin():
                    yield unit.tx
                    if session.in_transaction():
                        await session.commit()
            finally:
                self._unit.reset(token)
                if session.in_transaction():
                    await session.close()
        failures = []
        for callback in unit.after_commit:
            try:
                result = callback()
                if result is not None:
                    await result
            except Exception as error:  # the rest still runs: what was committed stays committed
                failures.append(error)
        if failures:
            raise failures[0]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One unit of work: everything done through the yielded repositories commits together."""
        unit = self._unit.get()
        if unit is not None:
            async with unit.tx.session.begin_nested():
                # The SAVEPOINT now: the session would set it only when it next used the connection,
                # after any statement a repository sent the connection itself.
                await unit.tx.session.connection()
                yield unit.tx
            return
        async with self._write_turn(), self._sessions() as session, session.begin():
            yield Transaction(session, self.dialect)

    @asynccontextmanager
    async def without_savepoint(self) -> AsyncIterator[Transaction]:
        """Like ``transaction``, for a block that only reads, or writes with one statement: inside a
        unit of work it runs in the unit's own transaction, without a savepoint of its own (it has
        nothing partial to undo; a database error in it fails the whole unit, which then commits
        nothing). Outside one it is a transaction of its own."""
        unit = self._unit.get()
        if unit is not None:
            yield unit.tx
            return
        async with self.transaction() as tx:
            yield tx

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once what was written is committed: now, or when the open unit of work is."""
        unit = self._unit.get()
        if unit is None:
            callback()
        else:
            unit.after_commit.append(callback)

    async def when_committed(self, work: Callable[[], Awaitable[None]]) -> None:
        """Do ``work`` once what was written is committed: now, or right after the open unit of work
        commits (awaited there, in turn with ``after_commit`` callbacks, before its block is left).
        For a write outside the database that must not happen when the unit's own writes do not."""
        unit = self._unit.get()
        if unit is None:
            await work()
        else:
            unit.after_commit.append(work)

    async def ping(self) -> None:
        """Raises unless the database answers."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def lost_connection(error: BaseException) -> bool:
    """Whether ``error`` is the database connection going away (a restart, say): the pool then opens
    new ones, and a unit of work that failed for it can be done again (it committed nothing, or, lost
    during its commit, perhaps everything: work that records what it did, as an update id, finds that)."""
    return isinstance(error, DBAPIError) and error.connection_invalidated


def create_database(url: str, *, echo: bool = False) -> Database:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, pool_reset_on_return=None)
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        event.listen(engine.sync_engine, "reset", _sqlite_reset)
    else:
        # As many pooled connections as updates are commonly handled at once: a connection beyond
        # pool_size (an overflow one) is closed when returned and opened anew for the next burst,
        # which costs a connection handshake and the driver's per-connection setup every time.
        # No ping before each use (with asyncpg that is three round trips: BEGIN, an empty query,
        # ROLLBACK): a connection found gone fails its statement, the pool then replaces all it held,
        # and callers do the work again (``lost_connection``), or on their next run.
        engine = create_async_engine(url, echo=echo, pool_size=20, max_overflow=20)
    return Database(engine)
