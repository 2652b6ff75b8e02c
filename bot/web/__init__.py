"""The staff's web console (``bot.web.app``): served beside the bot by ``needsbot run``, or on its own
by ``needsbot web``; its sign-in links are given by the bot's ``/web``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from casework.domain import Person
from casework.staff_sign_in import StaffSignIn

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import Lifespan

    from bot.bootstrap import Needsbot

log = logging.getLogger(__name__)


class WebSignInLinks:
    """The bot's ``/web`` links: a one-time token under the console's address."""

    def __init__(self, sign_in: StaffSignIn, base_url: str) -> None:
        self.sign_in = sign_in
        self.base_url = base_url.rstrip("/")

    async def sign_in_link(self, person: Person) -> str:
        return f"{self.base_url}/signin/{await self.sign_in.issue_link(person)}"


def console_app(needsbot: Needsbot, lifespan: Lifespan[Starlette] | None = None) -> Starlette:
    """The console's ASGI application over ``needsbot``'s casework."""
    from bot.web.app import build_app
    from dialogs.catalog import Catalog

    catalog = needsbot.conversations.catalog if needsbot.conversations is not None else Catalog.load()
    return build_app(
        needsbot.casework,
        needsbot.people,
        needsbot.staff_sign_in,
        catalog,
        base_url=needsbot.settings.web_address,
        bot_username=needsbot.settings.telegram_bot_username,
        lifespan=lifespan,
    )


def worker_app() -> Starlette:
    """The console as each of ``needsbot web --workers N``'s processes builds it for itself, from the
    settings in the environment (uvicorn calls this in every worker)."""
    from bot.bootstrap import bootstrap
    from bot.settings import load_settings

    needsbot = bootstrap(load_settings(), conversations=False)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await needsbot.stop()

    return console_app(needsbot, lifespan)
