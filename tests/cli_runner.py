"""Running ``needsbot`` commands in tests, as a person at a terminal would."""

from __future__ import annotations

from contextlib import chdir
from pathlib import Path

from click.testing import CliRunner, Result

from bot.cli import cli


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

    def write(self, name: str, content: str) -> Path:
        path = self.tmp_path / name
        path.write_text(content, encoding="utf-8")
        return path
