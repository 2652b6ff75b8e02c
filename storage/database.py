"""Engine and transactions. Build one ``Database`` at start-up and pass it in."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.repositories import Transaction


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the driver, begins transactions (_sqlite_begin): the set-up the SQLite dialect's
    # documentation gives for transactions that also cover reads and savepoints.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads, then writes, can fail
    # with "database is locked" when another writer got in between, whatever the busy timeout.
    # Sent on aiosqlite's own connection (SQLAlchemy's AdaptedConnection.run_async), one trip to its
    # thread where ``connection.exec_driver_sql`` takes three (bench/README.md); a failure is raised as
    # SQLAlchemy raises a statement's.
    try:
        connection.connection.dbapi_connection.run_async(
            lambda aiosqlite: aiosqlite.execute_fetchall("BEGIN IMMEDIATE")
        )
    except sqlite3.Error as error:
        raise DBAPIError.instance("BEGIN IMMEDIATE", None, error, sqlite3.Error) from None


class AfterCommitFailed(Exception):
    """Work that waited for a unit of work's commit failed (its cause says how); what the unit wrote
    is committed and stays."""


@dataclass(slots=True)
class _Unit:
    tx: Transaction  # one set of repositories over the unit's session, for every block inside it
    after_commit: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._unit: ContextVar[_Unit | None] = ContextVar(f"unit-{id(self)}", default=None)
        # SQLite has one writer at a time. This process's transactions queue for it here rather than
        # poll the file lock, which sleeps ever longer between tries when many wait (other processes
        # still meet the busy timeout).
        self._one_writer: AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        self._writer: asyncio.Task[Any] | None = None  # the task whose turn it is, on SQLite

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """This task's turn to write (on SQLite; at once elsewhere). A task that has the turn and asks
        again would wait for itself for ever: it is refused instead."""
        task = asyncio.current_task()
        if self.dialect == "sqlite" and task is not None and task is self._writer:
            raise RuntimeError("a transaction is already open in this task, and SQLite has one writer")
        async with self._one_writer:
            self._writer = task
            try:
                yield
            finally:
                self._writer = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, savepoint: bool = True) -> AsyncIterator[Transaction]:
        """Everything done through the yielded repositories commits together, or not at all.

        Inside a unit of work it is a savepoint of the unit's transaction: one that fails rolls back
        alone, as it would on its own, and what it wrote commits with the unit. ``savepoint=False`` is
        for a block that need not fail alone (it only reads, or its failure should fail the whole unit
        anyway): inside a unit of work it runs in the unit's transaction as it is, without the
        savepoint's two statements and the ORM session's bookkeeping.
        """
        unit = self._unit.get()
        if unit is None:
            async with self._writing(), self._connected() as tx:
                yield tx
        elif not savepoint:
            yield unit.tx
        else:
            async with unit.tx.session.begin_nested():
                # The SAVEPOINT now: the session would set it only when it next used the connection,
                # after any statement a repository sent the connection itself.
                await unit.tx.session.connection()
                yield unit.tx

    @asynccontextmanager
    async def each_committed(self) -> AsyncIterator[Transaction]:
        """Repositories whose every statement commits on its own, for writes that need no transaction
        around them (one statement, or statements that stand alone): on PostgreSQL each is one round
        trip, without a BEGIN and a COMMIT of its own. On SQLite, and inside a unit of work, an
        ordinary ``transaction``."""
        if self.dialect == "sqlite" or self._unit.get() is not None:
            async with self.transaction() as tx:
                yield tx
            return
        async with self.engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            session = self._sessions(bind=connection)
            try:
                yield Transaction(session, self.dialect, connection)
            finally:
                await session.close()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[Transaction]:
        """One database transaction around everything this task does until the block ends: a channel
        records an update as handled together with all its effects, or not at all.

        ``transaction`` blocks inside it are savepoints of it, and ``after_commit`` and
        ``when_committed`` work waits for its commit.
        """
        if self._unit.get() is not None:
            raise RuntimeError("a unit of work is already open in this task")
        async with self._writing(), self._connected() as tx:
            unit = _Unit(tx)
            token = self._unit.set(unit)
            try:
                yield tx
            finally:
                self._unit.reset(token)
        failures = []
        for callback in unit.after_commit:
            try:
                result = callback()
                if result is not None:
                    await result
            except Exception as error:  # the rest still runs: what was committed stays committed
                failures.append(error)
        if failures:
            raise AfterCommitFailed() from failures[0]

    @asynccontextmanager
    async def _connected(self) -> AsyncIterator[Transaction]:
        # The transaction is the connection's; the ORM session joins it the first time a repository
        # uses it (its commit then flushes without committing, and its savepoints are the
        # connection's), so work that needs no ORM does without its bookkeeping.
        async with self.engine.connect() as connection:
            session = self._sessions(bind=connection)
            try:
                async with connection.begin():
                    yield Transaction(session, self.dialect, connection)
                    if session.in_transaction():
                        await session.commit()
            finally:
                if session.in_transaction():
                    await session.close()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once what was written is committed: now, or when the open unit of work
        commits. For code that cannot wait, as a wake-up or a follow-up scheduled."""
        unit = self._unit.get()
        if unit is None:
            callback()
        else:
            unit.after_commit.append(callback)

    async def when_committed(self, work: Callable[[], Awaitable[None]]) -> None:
        """``after_commit`` for async work, awaited: now, or right after the open unit of work commits,
        before its block is left. For a write outside the database that must not happen when the unit's
        own writes do not. Its failure is raised from the unit's block as ``AfterCommitFailed``, once
        the rest has run."""
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
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    else:
        # As many pooled connections as updates are commonly handled at once: a connection beyond
        # pool_size (an overflow one) is closed when returned and opened anew for the next burst,
        # which costs a connection handshake and the driver's per-connection setup every time.
        # No ping before each use (with asyncpg that is three round trips: BEGIN, an empty query,
        # ROLLBACK): a connection found gone fails its statement, the pool then replaces all it held,
        # and callers do the work again (``lost_connection``), or on their next run.
        engine = create_async_engine(url, echo=echo, pool_size=20, max_overflow=20)
    return Database(engine)
