"""Dialog state and per-person locks kept in the database or in Redis (the dialogs' interfaces)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from dialogs.state import DialogState
from storage.database import Database
from storage.models import DialogStateRow

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
            text = await tx.session.scalar(_LOAD, {"key": key})
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
            await tx.session.execute(statement, values)

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
    where it was, so the turn done again on redelivery finds what the first attempt found."""

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
    """Per-person locks across processes: Redis locks with a timeout, so a crashed holder cannot block."""

    def __init__(self, client: aioredis.Redis, *, timeout: timedelta = timedelta(seconds=30)) -> None:
        self.client = client
        self.timeout = timeout

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self.client.lock(
            f"needsbot:lock:{key}",
            timeout=self.timeout.total_seconds(),
            blocking_timeout=self.timeout.total_seconds(),
        )
        async with lock:
            yield
