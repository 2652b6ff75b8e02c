"""needsbot on Telegram: python-telegram-bot's ``Application`` (``build_application``) and the bot
running on it until told to stop (``serve``), its parts built by ``bot.bootstrap``.

The front end (``bot.telegram_front``) handles each update; ``bot.telegram_receiving`` receives them,
by long polling or by webhook; ``bot.telegram_menus`` keeps each person's command menu;
``bot.telegram_delivery`` sends within Telegram's limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, BaseRateLimiter, TypeHandler

from bot.http_serving import bind, serve_http
from bot.settings import Settings
from bot.telegram_delivery import TelegramLimits
from bot.telegram_http import AiohttpRequest
from bot.telegram_receiving import ChatOrder, Webhook, poll

if TYPE_CHECKING:
    from bot.bootstrap import Needsbot

log = logging.getLogger(__name__)


def build_application(
    settings: Settings,
    *,
    limits: BaseRateLimiter[Any] | None = None,
    max_concurrent_updates: int = 64,
    connections: int = 8,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The application. Its Bot API requests go over aiohttp (``bot.telegram_http``) and share
    ``connections`` HTTP connections (PTB's default is 256): eight carry far more than Telegram's 30
    messages a second allows; a request waits up to 10 s for one, and one that waited longer is
    retried by the limits like any timeout. Long polling has a connection of its own."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .rate_limiter(limits if limits is not None else TelegramLimits())
        .concurrent_updates(ChatOrder(max_concurrent_updates))
        .request(AiohttpRequest(connections=connections, pool_timeout=10.0))
        .get_updates_request(AiohttpRequest())
        .updater(None)
    )
    if settings.telegram_api_base_url:
        base = settings.telegram_api_base_url
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    return builder.build()


async def serve(
    needsbot: Needsbot,
    stop: asyncio.Event,
    *,
    console: Starlette | None = None,
    started: asyncio.Future[Needsbot] | None = None,
) -> None:
    """Run the bot until ``stop`` is set: long polling, or a webhook when ``WEBHOOK_URL`` is set; then
    stop ``needsbot`` (built by ``bootstrap(settings, telegram=True)``) with it.

    ``console``, the web console's application, is served with it: in the webhook's own server
    (WEBHOOK_LISTEN:WEBHOOK_PORT, the webhook's path beside the console's pages), or by long polling on
    WEB_LISTEN:WEB_PORT. A port it cannot take is ``CannotListen`` before anything starts.

    ``started`` gets ``needsbot`` once updates are being received (tests and benchmarks)."""
    front = needsbot.telegram
    if front is None:
        raise ValueError("needsbot was built without its Telegram front end")
    settings = needsbot.settings
    application = front.application
    webhook = Webhook(application, settings) if settings.webhook_url else None
    http = _http_server(settings, webhook, console)
    closing = asyncio.Event()
    serving: asyncio.Task[None] | None = None
    sweeping: asyncio.Task[None] | None = None
    try:
        await application.initialize()  # asks Telegram who the bot is: a revoked token fails here
        await needsbot.start()
        application.add_handler(TypeHandler(Update, front.on_update))
        application.add_error_handler(front.on_error)
        await front.menus.install_defaults(settings.default_language.value)
        # What start-up built (the NLU model, catalogs, SQLAlchemy's and PTB's machinery: some 250,000
        # objects) lives as long as the bot: out of the collector's reach, or every full collection
        # walks it all again, a tenth of a second each time with the event loop stopped.
        gc.freeze()
        await application.start()
        sweeping = asyncio.create_task(front.replies.run(stop))  # replies a crash or an outage left
        if http is not None:
            serving = asyncio.create_task(serve_http(*http, closing))
        if webhook is not None:
            await webhook.register()
            log.info("receiving updates by webhook on %s:%s", settings.webhook_listen, settings.webhook_port)
            if started is not None:
                started.set_result(needsbot)
            await stop.wait()
        else:
            log.info("receiving updates by long polling")
            if started is not None:
                started.set_result(needsbot)
            await poll(application, stop)
    finally:
        gc.unfreeze()
        if http is not None and serving is None:
            http[1].close()
        if sweeping is not None:
            sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeping
        if serving is not None:  # requests under way are answered first
            closing.set()
            try:
                await serving
            except Exception:  # the bot still stops in order
                log.exception("the HTTP server failed")
        if application.running:
            await application.stop()
        await needsbot.stop()
        await application.shutdown()


def _http_server(
    settings: Settings, webhook: Webhook | None, console: Starlette | None
) -> tuple[ASGIApp, socket.socket] | None:
    """What ``serve`` serves over HTTP and its socket: the webhook, with the console mounted beside it
    when there is one; or the console alone on its own port; or nothing."""
    if webhook is not None:
        routes: list[BaseRoute] = [webhook.route()]
        if console is not None:
            routes.append(Mount("", app=console))
        return Starlette(routes=routes), bind(settings.webhook_listen, settings.webhook_port)
    if console is not None:
        return console, bind(settings.web_listen, settings.web_port)
    return None
