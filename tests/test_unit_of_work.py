"""A unit of work: one transaction around a whole update, with its inner transactions as savepoints."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import aiosqlite
import pytest
from sqlalchemy.exc import OperationalError

from casework.domain import Channel, Identity
from storage import Database, create_database


def telegram(user_id: int) -> Identity:
    return Identity(Channel.TELEGRAM, str(user_id))


async def _people(database: Database) -> list[int]:
    """The Telegram ids of everyone enrolled."""
    async with database.transaction() as tx:
        people = await tx.people.find()
        return sorted(int(identity.external_id) for person in people for identity in person.identities)


async def _add_then_fail(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        await tx.people.add(now=now, identity=telegram(42))
        raise LookupError("refused")


async def test_inner_transactions_commit_with_the_unit(database: Database, now: datetime) -> None:
    async with database.unit_of_work() as outer:
        assert await outer.updates.record(channel=Channel.TELEGRAM, update_id=1, now=now)
        async with database.transaction() as tx:
            await tx.people.add(now=now, identity=telegram(41))
        async with database.transaction() as tx:
            await tx.people.add(now=now, identity=telegram(42))
    assert await _people(database) == [41, 42]
    async with database.transaction() as tx:
        assert not await tx.updates.record(channel=Channel.TELEGRAM, update_id=1, now=now)


async def test_a_failed_inner_transaction_rolls_back_alone(database: Database, now: datetime) -> None:
    async with database.unit_of_work():
        async with database.transaction() as tx:
            await tx.people.add(now=now, identity=telegram(41))
        with pytest.raises(LookupError):
            await _add_then_fail(database, now)
    assert await _people(database) == [41]


async def test_a_failed_unit_leaves_nothing_and_runs_no_after_commit_work(
    database: Database, now: datetime
) -> None:
    ran: list[str] = []

    async def crashing_update() -> None:
        async with database.unit_of_work() as outer:
            await outer.updates.record(channel=Channel.TELEGRAM, update_id=7, now=now)
            async with database.transaction() as tx:
                await tx.people.add(now=now, identity=telegram(41))
            database.after_commit(lambda: ran.append("wake"))
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        await crashing_update()
    assert ran == []
    assert await _people(database) == []
    async with database.transaction() as tx:  # the update was not recorded: its redelivery is handled
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=7, now=now)


async def _record_add_then_fail(database: Database, now: datetime) -> None:
    async with database.transaction() as tx:
        await tx.updates.record(channel=Channel.TELEGRAM, update_id=2, now=now)
        await tx.people.add(now=now, identity=telegram(43))
        raise LookupError("refused")


async def test_a_turn_needing_no_orm_leaves_the_session_alone_and_savepoints_undo_every_statement(
    database: Database, now: datetime
) -> None:
    async with database.unit_of_work() as outer:
        assert await outer.updates.record(channel=Channel.TELEGRAM, update_id=1, now=now)
        assert await outer.people.by_identity(Channel.TELEGRAM, "41") is None
        assert not outer.session.in_transaction()  # the connection's transaction alone, so far
        with pytest.raises(LookupError):  # its update's record undone with its enrolment
            await _record_add_then_fail(database, now)
        async with database.transaction() as tx:
            await tx.people.add(now=now, identity=telegram(42))
        assert outer.session.in_transaction()
    assert await _people(database) == [42]
    async with database.transaction() as tx:
        assert not await tx.updates.record(channel=Channel.TELEGRAM, update_id=1, now=now)
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=2, now=now)


async def test_a_block_without_a_savepoint_runs_in_the_units_own_transaction(
    database: Database, now: datetime
) -> None:
    async def failing_update() -> None:
        async with database.unit_of_work() as outer:
            async with database.transaction(savepoint=False) as tx:
                assert tx is outer
                await tx.people.add(now=now, identity=telegram(41))
                assert not tx.session.in_nested_transaction()
            raise LookupError("the update fails after it")

    with pytest.raises(LookupError):
        await failing_update()
    assert await _people(database) == []  # undone with the unit
    async with database.unit_of_work(), database.transaction(savepoint=False) as tx:
        await tx.people.add(now=now, identity=telegram(42))
    assert await _people(database) == [42]


async def test_statements_that_stand_alone_commit_each_on_its_own(database: Database, now: datetime) -> None:
    """``each_committed``: on PostgreSQL each statement commits as it runs (no BEGIN, no COMMIT), so a
    failure after it keeps it; on SQLite it is an ordinary transaction. Inside a unit of work it is
    part of the unit."""

    async def add_then_fail() -> None:
        async with database.each_committed() as tx:
            await tx.updates.record(channel=Channel.TELEGRAM, update_id=7, now=now)
            raise LookupError("after the statement")

    with pytest.raises(LookupError):
        await add_then_fail()
    async with database.transaction() as tx:
        recorded = not await tx.updates.record(channel=Channel.TELEGRAM, update_id=7, now=now)
    assert recorded is (database.dialect == "postgresql")

    async def unit_then_fail() -> None:
        async with database.unit_of_work():
            async with database.each_committed() as tx:
                await tx.updates.record(channel=Channel.TELEGRAM, update_id=8, now=now)
            raise LookupError("the unit fails after it")

    with pytest.raises(LookupError):
        await unit_then_fail()
    async with database.transaction() as tx:
        assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=8, now=now)


async def test_a_transaction_opened_inside_another_on_sqlite_is_refused_not_left_waiting(
    database: Database, now: datetime
) -> None:
    """SQLite has one writer: a second transaction in the task that holds the first would wait for it
    for ever. It fails at once; on PostgreSQL it is a transaction of its own on another connection."""
    async with database.transaction() as outer:
        await outer.people.add(now=now, identity=telegram(41))
        if database.dialect == "sqlite":
            with pytest.raises(RuntimeError, match="already open"):
                async with database.transaction():
                    pass
        else:
            async with database.transaction() as inner:
                await inner.people.add(now=now, identity=telegram(42))
    assert await _people(database) == ([41] if database.dialect == "sqlite" else [41, 42])


async def test_after_commit_work_waits_for_the_unit(database: Database) -> None:
    ran: list[str] = []
    database.after_commit(lambda: ran.append("at once"))
    assert ran == ["at once"]
    async with database.unit_of_work():
        database.after_commit(lambda: ran.append("later"))
        assert ran == ["at once"]
    assert ran == ["at once", "later"]


async def test_units_do_not_nest(database: Database) -> None:
    async with database.unit_of_work():
        with pytest.raises(RuntimeError, match="already open"):
            async with database.unit_of_work():
                pass


async def test_a_sqlite_connection_handed_back_inside_a_transaction_is_rolled_back(
    sqlite_url: str, now: datetime
) -> None:
    # A connection left in a transaction without SQLAlchemy's knowing, as by a failure between the
    # driver's BEGIN and its COMMIT, is rolled back when it comes back to the pool, not handed to the
    # next user holding the write lock.
    database = create_database(sqlite_url)
    try:
        async with database.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert isinstance(driver, aiosqlite.Connection)
            await driver.execute("BEGIN IMMEDIATE")
            await driver.execute(
                "INSERT INTO processed_updates (channel, update_id, processed_at) VALUES (?, ?, ?)",
                ("telegram", 1, now.isoformat()),
            )
            assert driver.in_transaction
        async with database.engine.connect() as connection:
            again = (await connection.get_raw_connection()).driver_connection
            assert not driver.in_transaction
            assert again is driver  # the same pooled connection, back without its transaction
        async with database.transaction() as tx:
            assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=1, now=now)
    finally:
        await database.dispose()


async def test_a_sqlite_transaction_takes_the_write_lock_as_it_begins(sqlite_url: str, now: datetime) -> None:
    path = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    database = create_database(sqlite_url)
    try:
        async with database.transaction() as tx:  # only read so far, and no other writer gets in
            assert await tx.people.by_identity(Channel.TELEGRAM, "41") is None
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        async with database.engine.connect() as connection:  # the pooled connection waits 50 ms
            driver = (await connection.get_raw_connection()).driver_connection
            assert isinstance(driver, aiosqlite.Connection)
            await driver.execute_fetchall("PRAGMA busy_timeout=50")
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="database is locked"):  # as SQLAlchemy raises it
            async with database.transaction() as tx:
                await tx.people.by_identity(Channel.TELEGRAM, "41")
        other.execute("ROLLBACK")
        async with database.transaction() as tx:
            assert await tx.updates.record(channel=Channel.TELEGRAM, update_id=1, now=now)
    finally:
        other.close()
        await database.dispose()
