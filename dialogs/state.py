"""Per-person dialog state and per-person locks, behind interfaces with several implementations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(slots=True)
class DialogState:
    """Where one person is in a conversation. ``data`` holds only JSON values."""

    flow: str | None = None
    state: str | None = None
    token: str = ""  # stamped, with the state, on the buttons of this flow: older buttons are recognised
    data: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    reminded: bool = False

    @property
    def active(self) -> bool:
        return self.flow is not None

    def to_json(self) -> str:
        # Field by field, not asdict: that deep-copies ``data`` only for json to read it once.
        raw = {name: getattr(self, name) for name in _FIELDS}
        raw["updated_at"] = self.updated_at.isoformat()
        return json.dumps(raw, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> DialogState:
        raw = json.loads(text)
        raw["updated_at"] = datetime.fromisoformat(raw["updated_at"])
        return cls(**raw)


_FIELDS = tuple(each.name for each in fields(DialogState))


class DialogStore(Protocol):
    async def load(self, key: str) -> DialogState: ...

    async def save(self, key: str, state: DialogState) -> None: ...

    async def stale(self, older_than: datetime) -> list[tuple[str, DialogState]]:
        """Active dialogs untouched since ``older_than``."""
        ...


@runtime_checkable
class ForgetfulStore(Protocol):
    """A store that can drop a person's state at once (when their data is erased)."""

    async def forget(self, key: str) -> None: ...


class PersonLocks(Protocol):
    def hold(self, key: str) -> Any:
        """An async context manager: while inside, no other turn of this person runs."""
        ...


class MemoryDialogStore:
    def __init__(self) -> None:
        self._states: dict[str, str] = {}

    async def load(self, key: str) -> DialogState:
        text = self._states.get(key)
        return DialogState.from_json(text) if text else DialogState()

    async def save(self, key: str, state: DialogState) -> None:
        self._states[key] = state.to_json()

    async def forget(self, key: str) -> None:
        self._states.pop(key, None)

    async def stale(self, older_than: datetime) -> list[tuple[str, DialogState]]:
        found = [(key, DialogState.from_json(text)) for key, text in self._states.items()]
        return [(key, state) for key, state in found if state.active and state.updated_at < older_than]


class MemoryLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            yield
