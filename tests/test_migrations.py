"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.migrate import current_revision, downgrade, head_revision, upgrade
from storage.models import Base
from tests.services import scratch_postgres_database

T = TypeVar("T")

MODEL_TABLES = frozenset(Base.metadata.tables)


def _drift(connection: Connection) -> list[Any]:
    """What autogenerate would change to make the database match the models; empty when in step."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _recorded_revision(connection: Connection) -> str | None:
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    return None if revision is None else str(revision)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


# --- SQLite -----------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "fresh.sqlite3"


@pytest.fixture
def sqlite_engine(sqlite_file: Path) -> Iterator[Engine]:
    """A synchronous engine on the same file, for inspection only."""
    engine = create_engine(f"sqlite:///{sqlite_file}")
    try:
        yield engine
    finally:
        engine.dispose()


def _async_sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _on_sqlite(engine: Engine, function: Callable[[Connection], T]) -> T:
    with engine.connect() as connection:
        return function(connection)


def test_the_sqlite_file_starts_empty(sqlite_file: Path, sqlite_engine: Engine) -> None:
    assert not sqlite_file.exists() or _on_sqlite(sqlite_engine, _tables) == set()


def test_an_empty_sqlite_database_upgrades_to_head_without_drift(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    upgrade(_async_sqlite_url(sqlite_file))
    assert _on_sqlite(sqlite_engine, _tables) == MODEL_TABLES | {"alembic_version"}
    assert _on_sqlite(sqlite_engine, _drift) == []


def test_sqlite_records_the_head_revision_after_upgrade(sqlite_file: Path, sqlite_engine: Engine) -> None:
    head = head_revision()
    assert head is not None
    upgrade(_async_sqlite_url(sqlite_file))
    assert _on_sqlite(sqlite_engine, _recorded_revision) == head
    assert _on_sqlite(sqlite_engine, current_revision) == head


def test_sqlite_downgrades_to_base_and_upgrades_to_head_again(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    url = _async_sqlite_url(sqlite_file)
    upgrade(url)
    downgrade(url, "base")
    assert _on_sqlite(sqlite_engine, _tables) <= {"alembic_version"}
    assert _on_sqlite(sqlite_engine, current_revision) is None
    upgrade(url)
    assert _on_sqlite(sqlite_engine, _tables) == MODEL_TABLES | {"alembic_version"}
    assert _on_sqlite(sqlite_engine, _recorded_revision) == head_revision()
    assert _on_sqlite(sqlite_engine, _drift) == []


def test_upgrading_an_sqlite_database_already_at_head_changes_nothing(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    url = _async_sqlite_url(sqlite_file)
    upgrade(url)
    upgrade(url)
    assert _on_sqlite(sqlite_engine, _recorded_revision) == head_revision()
    assert _on_sqlite(sqlite_engine, _drift) == []


# --- PostgreSQL -------------------------------------------------------------------------------------


@pytest.fixture
def postgres_scratch_url() -> Iterator[str]:
    """An empty PostgreSQL database of this test's own, dropped afterwards."""
    with scratch_postgres_database(prefix="needsbot_migrate") as url:
        yield url


@pytest.fixture
async def postgres_engine(postgres_scratch_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(postgres_scratch_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _on_postgres(engine: AsyncEngine, function: Callable[[Connection], T]) -> T:
    async with engine.connect() as connection:
        return await connection.run_sync(function)


@pytest.mark.postgres
async def test_an_empty_postgres_database_upgrades_to_head_without_drift(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    assert await _on_postgres(postgres_engine, _tables) == set()
    upgrade(postgres_scratch_url)
    assert await _on_postgres(postgres_engine, _tables) == MODEL_TABLES | {"alembic_version"}
    assert await _on_postgres(postgres_engine, _drift) == []


@pytest.mark.postgres
async def test_postgres_records_the_head_revision_after_upgrade(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    head = head_revision()
    assert head is not None
    upgrade(postgres_scratch_url)
    assert await _on_postgres(postgres_engine, _recorded_revision) == head
    assert await _on_postgres(postgres_engine, current_revision) == head


@pytest.mark.postgres
async def test_postgres_downgrades_to_base_and_upgrades_to_head_again(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    upgrade(postgres_scratch_url)
    downgrade(postgres_scratch_url, "base")
    assert await _on_postgres(postgres_engine, _tables) <= {"alembic_version"}
    assert await _on_postgres(postgres_engine, current_revision) is None
    upgrade(postgres_scratch_url)
    assert await _on_postgres(postgres_engine, _tables) == MODEL_TABLES | {"alembic_version"}
    assert await _on_postgres(postgres_engine, _recorded_revision) == head_revision()
    assert await _on_postgres(postgres_engine, _drift) == []


@pytest.mark.postgres
async def test_upgrading_a_postgres_database_already_at_head_changes_nothing(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    upgrade(postgres_scratch_url)
    upgrade(postgres_scratch_url)
    assert await _on_postgres(postgres_engine, _recorded_revision) == head_revision()
    assert await _on_postgres(postgres_engine, _drift) == []
