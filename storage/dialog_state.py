"""Dialog state and per-person locks kept in the database or in Redis (the dialogs' interfaces)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.lock import Lock
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    LockError,
    LockNotOwnedError,
    NoScriptError,
    RedisError,
)
from redis.exceptions import (
    TimeoutError as RedisTimeoutError,
)
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
        async with self.database.without_savepoint() as tx:
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
        async with self.database.without_savepoint() as tx:
            await tx.core.execute(statement, values)

    async def forget(self, key: str) -> None:
        """The person's state gone at once (their data was erased)."""
        async with self.database.without_savepoint() as tx:
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
    where it was, so the turn done again on redelivery finds what the first attempt found.

    Held with ``RedisLocks(this store)``, a person's state is read in the same round
    trip that takes their lock, and written in the same one that lets it go."""

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
        held = _held(self, key)
        text = held.state if held is not None else await self.client.get(self.prefix + key)
        if text is None:
            return DialogState()
        return DialogState.from_json(text.decode() if isinstance(text, bytes) else text)

    async def save(self, key: str, state: DialogState) -> None:
        text, active, at = state.to_json(), state.active, state.updated_at.timestamp()

        async def write() -> None:
            held = _held(self, key)
            if held is not None:  # written when the lock is let go, before anyone else can read it
                held.state, held.write = text, (text, active, at)
                return
            async with self.client.pipeline(transaction=True) as pipe:
                self._queue_write(pipe, key, text, active, at)
                await pipe.execute()

        await self.database.when_committed(write)

    async def forget(self, key: str) -> None:
        """The person's state gone (their data was erased), once the unit of work commits; a state
        saved in the same turn is not written when the lock is let go."""

        async def drop() -> None:
            held = _held(self, key)
            if held is not None:
                held.state, held.write = None, None
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(self.prefix + key)
                pipe.zrem(self.active_set, key)
                await pipe.execute()

        await self.database.when_committed(drop)

    def _queue_write(self, pipe: Pipeline, key: str, text: str, active: bool, at: float) -> None:
        pipe.set(self.prefix + key, text, ex=int(self.keep.total_seconds()))
        if active:
            pipe.zadd(self.active_set, {key: at})
        else:
            pipe.zrem(self.active_set, key)

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


@dataclass(slots=True)
class _Held:
    """A person's lock as its holder has it: their state as read with the lock (and as saved since),
    and the write waiting to go with the lock's release."""

    store: RedisDialogStore
    key: str
    state: bytes | str | None = None
    write: tuple[str, bool, float] | None = None
    open: bool = True


# The locks this task holds, by person: a mapping replaced (never changed) on entering a lock, so a
# task started inside sees the locks held when it started, and none taken after.
_HOLDING: ContextVar[Mapping[str, _Held] | None] = ContextVar("needsbot-held-dialogs", default=None)


def _held(store: RedisDialogStore, key: str) -> _Held | None:
    held = (_HOLDING.get() or {}).get(key)
    return held if held is not None and held.open and held.store is store else None


class _StateLock(Lock):
    """redis-py's lock, carrying a person's dialog state along: each try to take it reads the state
    too (one round trip for both), and letting it go writes the state saved meanwhile, in one
    transaction with the release (so nobody can take the lock and read the state before it is
    written)."""

    def __init__(self, held: _Held, name: str, **options: Any) -> None:
        super().__init__(held.store.client, name, **options)
        self.held = held

    async def acquire(
        self,
        blocking: bool | None = None,
        blocking_timeout: float | None = None,
        token: str | bytes | None = None,
        **options: Any,  # what later redis-py versions add (``sleep`` in 8.2), passed on as given
    ) -> bool:
        # A random token unless given one: Lock makes a time-based UUID, which costs several times more.
        result: bool = await super().acquire(
            blocking, blocking_timeout, token or secrets.token_hex(16), **options
        )
        return result

    async def do_acquire(self, token: str | bytes) -> bool:
        held = self.held
        async with held.store.client.pipeline(transaction=False) as pipe:
            pipe.set(self.name, token, nx=True, px=int(self.timeout * 1000) if self.timeout else None)
            pipe.get(held.store.prefix + held.key)
            taken, state = await pipe.execute()
        if taken:
            held.state = state
        return bool(taken)

    async def do_release(self, expected_token: bytes) -> None:
        held = self.held
        if held.write is None:
            await super().do_release(expected_token)
            return
        release = self.lua_release
        assert release is not None  # registered by Lock.__init__
        async with held.store.client.pipeline(transaction=True) as pipe:
            held.store._queue_write(pipe, held.key, *held.write)
            # The release script by its digest, as Lock.do_release runs it (called with the
            # pipeline, the script would first ask the server whether it knows it: a round trip).
            pipe.evalsha(release.sha, 1, self.name, expected_token)
            try:
                released = (await pipe.execute())[-1]
            except NoScriptError:  # the server lost its scripts (a restart): the state is written
                await super().do_release(expected_token)
                return
            except Exception:  # the write refused (out of memory, say): still let the lock go
                with contextlib.suppress(Exception):
                    await super().do_release(expected_token)
                raise
        if not released:
            raise LockNotOwnedError("Cannot release a lock that's no longer owned")


class RedisLocks:
    """Per-person locks across processes: Redis locks on a short lease, renewed while the turn holding
    one runs, so a process that crashed holding a lock blocks that person for one lease at most.
    Each carries the person's dialog state in ``states`` along, on that store's Redis (two round trips a
    turn for lock and state, where they would take four)."""

    def __init__(
        self,
        states: RedisDialogStore,
        *,
        lease: timedelta = timedelta(seconds=5),
        wait: timedelta = timedelta(seconds=30),
    ) -> None:
        self.states = states
        self.lease = lease
        self.wait = wait  # how long a turn waits for the one before it before it fails

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        held = _Held(self.states, key)
        lock = _StateLock(
            held,
            f"needsbot:lock:{key}",
            timeout=self.lease.total_seconds(),
            blocking_timeout=self.wait.total_seconds(),
        )
        async with lock:
            renewing = asyncio.create_task(self._renew(lock))
            token = _HOLDING.set({**(_HOLDING.get() or {}), key: held})
            try:
                yield
            finally:
                held.open = False
                _HOLDING.reset(token)
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
