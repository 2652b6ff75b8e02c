from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from bot.settings import Settings, load_settings
from nlu import rasa_server
from storage import Database, create_database
from storage.migrate import upgrade
from storage.models import Base
from tests.services import RedisServer, free_port, scratch_postgres_database, unavailable

if TYPE_CHECKING:
    from tests.casework_world import World

# python-telegram-bot's time periods (a flood's retry_after) as timedelta, as ``needsbot`` runs it
os.environ.setdefault("PTB_TIMEDELTA", "true")
NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
# Rasa's model takes minutes to train: a run that includes the Rasa tests starts training it as soon
# as the tests are collected, at a low priority beside the others, and the Rasa tests wait for it.
RASA_TRAINING = pytest.StashKey[subprocess.Popen[str]]()


def pytest_collection_finish(session: pytest.Session) -> None:
    wanted = any(item.get_closest_marker("rasa") for item in session.items)
    if wanted and (rasa_server.DEFAULT_VENV / "bin" / "rasa").exists():
        session.config.stash[RASA_TRAINING] = rasa_server.start_training()


def pytest_sessionfinish(session: pytest.Session) -> None:
    training = session.config.stash.get(RASA_TRAINING, None)
    if training is not None and training.poll() is None:
        training.terminate()
        training.wait(30)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test works on its own copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this run's own, migrated to head once."""
    with scratch_postgres_database() as url:
        upgrade(url)
        yield url


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "needsbot.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def settings_for(database: Database, **overrides: object) -> Settings:
    """Settings for parts built on a test's ``database`` (``bootstrap(settings, database=database)``):
    no Redis, and times in UTC, as the tests' clocks keep them, unless ``overrides`` say otherwise."""
    url = database.engine.url.render_as_string(hide_password=False)
    return load_settings(**{"database_url": url, "redis_url": None, "timezone": "UTC", **overrides})


async def _emptied(url: str) -> Database:
    database = create_database(url)
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with database.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """The same migrated, empty store on SQLite and on PostgreSQL: every contract test runs on both."""
    if request.param == "sqlite":
        db = create_database(request.getfixturevalue("sqlite_url"))
    else:
        db = await _emptied(request.getfixturevalue("postgres_url"))
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def world(database: Database) -> World:
    """The small district of ``tests.casework_world``, with its workers and residents, on ``database``."""
    from tests.casework_world import build_world  # it builds on settings_for above: imported once loaded

    return await build_world(database)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path)
    try:
        server.start()
    except (OSError, RuntimeError) as error:
        unavailable(f"a redis-server of the test's own ({error})")
    try:
        yield server
    finally:
        server.stop()
