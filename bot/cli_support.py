"""What every ``needsbot`` command shares: settings, the database, errors and output."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from bot.settings import Settings, load_settings
from storage import Database, create_database

T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"needsbot: {message}", err=True)
    sys.exit(code)


def redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def database_problem(error: Exception, settings: Settings) -> str:
    text = str(getattr(error, "orig", error)).lower()
    if "no such table" in text or ("does not exist" in text and "relation" in text):
        return "the database is not set up yet: run `needsbot db upgrade` first"
    return f"cannot use the database at {redacted(settings.database_url)} ({type(error).__name__})"


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings()
        logging.basicConfig(
            level=obj["settings"].log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        logging.getLogger("alembic").setLevel(logging.WARNING)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a Bot API request's URL holds the token
    settings: Settings = obj["settings"]
    return settings


async def with_database(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """What ``work`` gives on a database of its own, closed after."""
    database = create_database(url)
    try:
        return await work(database)
    finally:
        await database.dispose()


def run_with_database(ctx: click.Context, work: Callable[[Database], Awaitable[T]]) -> T:
    settings = settings_of(ctx)
    prepare_sqlite_directory(settings)
    try:
        return asyncio.run(with_database(settings.database_url, work))
    except (OperationalError, ProgrammingError, DBAPIError, OSError) as error:
        if isinstance(error, OSError) and not isinstance(error, ConnectionError | TimeoutError):
            raise
        fail(database_problem(error, settings))


def prepare_sqlite_directory(settings: Settings) -> None:
    if settings.uses_sqlite:
        path = settings.database_url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return sorted(jsonable(item) for item in value)
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    return value


def echo_json(value: Any) -> None:
    click.echo(json.dumps(jsonable(value), ensure_ascii=False, indent=2))


def local_time(settings: Settings, moment: datetime | None) -> str:
    return moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") if moment else "-"
