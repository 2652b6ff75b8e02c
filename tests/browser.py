"""A real browser for the web console's tests: Debian's Chromium driven by Playwright, headless, never
a downloaded browser; and the console served by uvicorn on a free port, as ``needsbot web`` serves it."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright
from starlette.applications import Starlette

from bot.http_serving import bind, serve_http
from tests.services import free_port

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots of the main pages, kept after the run (CI keeps var/ as the run's artefacts).
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"


def chromium_or_skip() -> str:
    """Chromium's path; a run that requires every service (CI) fails without it, others skip."""
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("REQUIRE_SERVICES"):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.skip(f"no Chromium at {CHROMIUM}")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    executable = chromium_or_skip()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def served(app: Starlette, port: int | None = None) -> AsyncIterator[str]:
    """``app`` served on 127.0.0.1 (on ``port``, else a free one) until the block ends; its address."""
    port = port or free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve_http(app, bind("127.0.0.1", port), stop))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def screenshot_path(name: str) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / f"{name}.png")
