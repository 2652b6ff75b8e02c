"""Running ``needsbot`` commands in tests, as a person at a terminal would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import chdir
from pathlib import Path
from typing import TypeVar

from click.testing import CliRunner, Result

from bot.cli import cli
from bot.cli_support import with_database
from casework.domain import Area, AreaLevel
from storage import Database
from storage.repositories import Transaction

T = TypeVar("T")


class Needsbot:
    """Runs ``needsbot`` commands against one database, in a folder of the test's own."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, **environment: str) -> Result:
        env = {
            "DATABASE_URL": self.database_url,
            "TELEGRAM_BOT_USERNAME": "",
            "NLU_MODEL_DIR": str(self.tmp_path / "nlu-model"),
            **environment,
        }
        with chdir(self.tmp_path):
            return self.runner.invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    def on_database(self, work: Callable[[Database], Awaitable[T]]) -> T:
        """What ``work`` gives on the commands' database, reached the way the commands reach it."""

        return asyncio.run(with_database(self.database_url, work))

    def write(self, name: str, content: str) -> Path:
        path = self.tmp_path / name
        path.write_text(content, encoding="utf-8")
        return path


async def two_streets(tx: Transaction) -> tuple[Area, Area]:
    """一区 (d1) and its streets 一街 (s1) and 二街 (s2)."""
    district = await tx.areas.add(code="d1", name="一区", level=AreaLevel.DISTRICT)
    street = await tx.areas.add(code="s1", name="一街", level=AreaLevel.STREET, parent_id=district.id)
    other = await tx.areas.add(code="s2", name="二街", level=AreaLevel.STREET, parent_id=district.id)
    return street, other
