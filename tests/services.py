"""Reaching the PostgreSQL and Redis servers the tests use.

Locally an unreachable server skips the tests that need it; with ``REQUIRE_SERVICES=1`` (as CI sets)
it fails them instead, so a green CI run always means they ran.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def unavailable(what: str) -> None:
    message = f"{what} is not reachable"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
    pytest.skip(message)


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _plain(url: str) -> str:
    return url.replace("+asyncpg", "")


@contextmanager
def scratch_postgres_database(prefix: str = "needsbot_test") -> Iterator[str]:
    """Create a database of its own on the test server for this run; drop it afterwards."""
    if not reachable(TEST_POSTGRES_URL, 5432):
        unavailable(f"PostgreSQL at {TEST_POSTGRES_URL}")
    name = f"{prefix}_{secrets.token_hex(4)}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(_plain(TEST_POSTGRES_URL))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    def run_apart(sql: str) -> None:
        # Fixtures may be set up from inside the test's event loop: use a loop of our own.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, run(sql)).result()

    run_apart(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(TEST_POSTGRES_URL, name)
    finally:
        run_apart(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def drop_connections(url: str) -> int:
    """Close every connection to the database at ``url`` from the server side, as a restart does; how
    many were closed."""
    connection = await asyncpg.connect(_plain(url))
    try:
        dropped: int = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return dropped


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class RedisServer:
    """A redis-server process of the test's own, without persistence, that can be stopped and restarted."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def options(self) -> dict[str, str]:
        return {
            "--port": str(self.port),
            "--bind": "127.0.0.1",
            "--save": "",
            "--appendonly": "no",
            "--dir": str(self.directory),
        }

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None
        self.process = subprocess.Popen(
            ["redis-server", *(part for option in self.options.items() for part in option)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not reachable(self.url, self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


async def flushed_test_redis() -> None:
    """The test Redis database, emptied (the bot's dialog states, locks and streams of earlier tests)."""
    if not reachable(TEST_REDIS_URL, 6379):
        unavailable(f"Redis at {TEST_REDIS_URL}")
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
