"""Dialog state and per-person locks kept in the database or in Redis (the dialogs' interfaces)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.lock import Lock
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from dialogs.state import DialogState
from storage.database import Database
from storage.models import DialogStateRow

log = logging.getLogger(__name__)

_states = DialogStateRow.__table__
# Built once and reused (building a statement and its cache key costs more than running it on SQLite).
_LOAD = select(_states.c.state).where(_states.c.key == bindparam("key"))


def _upsert(dialect_insert: Any) -> Any:
    statement = dialect_insert(_states)
    return statement.on_conflict_do_update(
        index_elements=[_states.c.key],
        set_={name: statement.excluded[name] for name in ("state", "active", "updated_at")},
    )


_SAVE = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}


class SqlDialogStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def load(self, key: str) -> DialogState:
        async with self.database.transaction(savepoint=False) as tx:
            text = await tx.core.scalar(_LOAD, {"key": key})
            return DialogState.from_json(text) if text is not None else DialogState()

    async def save(self, key: str, state: DialogState) -> None:
        """One statement: insert the row, or overwrite the one already there."""
        statement = _SAVE["postgresql" if self.database.dialect == "postgresql" else "sqlite"]
        values = {
            "key": key,
            "state": state.to_json(),
            "active": state.active,
            "updated_at": state.updated_at,
        }
        async with self.database.transaction(savepoint=False) as tx:
            await tx.core.execute(statement, values)

    async def forget(self, key: str) -> None:
        """The person's state gone at once (their data was erased)."""
        async with self.database.transaction(savepoint=False) as tx:
            await tx.core.execute(delete(DialogStateRow).where(DialogStateRow.key == key))

    async def stale(self, older_than: datetime) -> list[tuple[str, DialogState]]:
        async with self.database.transaction() as tx:
            rows = await tx.session.scalars(
                select(DialogStateRow).where(
                    DialogStateRow.active.is_(True), DialogStateRow.updated_at < older_than
                )
            )
            return [(row.key, DialogState.from_json(row.state)) for row in rows]


class RedisDialogStore:
    """State as a JSON string per person, plus a sorted set of active dialogs by last activity.

    A state saved inside a unit of work of ``database`` is written when that unit commits, and not at
    all when it does not (outside one, at once): a turn that fails before its commit leaves the dialog
    where it was, so the turn done again on redelivery finds what the first attempt found. A caller that
    holds the person's lock (``RedisLocks``) around the unit of work has the state written before the
    person's next turn can read it."""

    def __init__(
        self,
        client: aioredis.Redis,
        database: Database,
        *,
        prefix: str = "needsbot:dialog:",
        keep: timedelta = timedelta(days=30),
    ) -> None:
        self.client = client
        self.database = database
        self.prefix = prefix
        self.keep = keep
        self.active_set = f"{prefix}active"

    async def load(self, key: str) -> DialogState:
        text = await self.client.get(self.prefix + key)
        if text is None:
            return DialogState()
        return DialogState.from_json(text.decode() if isinstance(text, bytes) else text)

    async def save(self, key: str, state: DialogState) -> None:
        text, active, at = state.to_json(), state.active, state.updated_at.timestamp()

        async def write() -> None:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self.prefix + key, text, ex=int(self.keep.total_seconds()))
                if active:
                    pipe.zadd(self.active_set, {key: at})
                else:
                    pipe.zrem(self.active_set, key)
                await pipe.execute()

        await self.database.when_committed(write)

    async def forget(self, key: str) -> None:
        """The person's state gone (their data was erased), once the unit of work commits."""

        async def drop() -> None:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(self.prefix + key)
                pipe.zrem(self.active_set, key)
                await pipe.execute()

        await self.database.when_committed(drop)

    async def stale(self, older_than: datetime) -> list[tuple[str, DialogState]]:
        keys: list[bytes | str] = await self.client.zrangebyscore(  # type: ignore[assignment]
            self.active_set, "-inf", older_than.timestamp()
        )
        found = []
        for raw in keys:
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            state = await self.load(key)
            if state.active and state.updated_at < older_than:
                found.append((key, state))
        return found


class RedisLocks:
    """Per-person locks across processes: redis-py locks on a short lease, renewed while the turn
    holding one runs, so a process that crashed holding a lock blocks that person for one lease at most."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        lease: timedelta = timedelta(seconds=5),
        wait: timedelta = timedelta(seconds=30),
    ) -> None:
        self.client = client
        self.lease = lease
        self.wait = wait  # how long a turn waits for the one before it before it fails

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self.client.lock(
            f"needsbot:lock:{key}",
            timeout=self.lease.total_seconds(),
            blocking_timeout=self.wait.total_seconds(),
        )
        async with lock:
            renewing = asyncio.create_task(self._renew(lock))
            try:
                yield
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing

    async def _renew(self, lock: Lock) -> None:
        """The lease renewed every third of it while the turn runs. One that ran out before it could be
        (a stalled process) is not taken back: releasing it then fails, and the turn with it."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await lock.reacquire()
            except LockError as error:
                log.warning("a person's lock ran out while their turn ran (%s)", type(error).__name__)
                return
            except RedisError as error:  # a short outage: the next renewal may still come in time
                log.warning("a person's lock could not be renewed (%s)", type(error).__name__)


def redis_client(url: str) -> aioredis.Redis:
    """The client every part of the bot shares for one Redis server. After Redis restarted, each pooled
    connection is dead: a command (or pipeline) that meets one is tried again on a new connection, up
    to three times with short waits, and a connection idle for 10 s is checked before it is used.
    (``from_url`` gives its connections no retries of their own unless told.)"""
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=3)
    return aioredis.Redis.from_url(
        url, retry=retry, retry_on_error=[RedisConnectionError, RedisTimeoutError], health_check_interval=10
    )
