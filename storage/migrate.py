"""Schema migrations through Alembic, callable from the command line and from tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def _off_the_loop(function: Callable[..., Any], *args: Any) -> None:
    """Alembic's async environment runs its own event loop, so never on a thread that has one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        function(*args)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(function, *args).result()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to ``revision``."""
    _off_the_loop(command.upgrade, alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    _off_the_loop(command.downgrade, alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
