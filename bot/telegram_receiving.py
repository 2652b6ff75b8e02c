"""Receiving updates from Telegram, by long polling (``poll``) or by webhook (``Webhook``).

An update is confirmed to Telegram only once it and every update before it were handled, so a crash
loses nothing Telegram will not send again. Updates of one chat are handled in their order, different
chats at once (``ChatOrder``). PTB's own log lines are kept free of what people wrote and who they are
(``_NoContents``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import warnings
from collections.abc import Awaitable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.error import NetworkError, TimedOut
from telegram.ext import Application, BaseUpdateProcessor
from telegram.warnings import PTBUserWarning

from bot.settings import Settings

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]


class ChatOrder(BaseUpdateProcessor):
    """Updates of one chat one after another, in the order they came; other chats concurrently."""

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _chat_of(update)
        if key is None:
            await coroutine
            return
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _chat_of(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user is not None else None


# ``getUpdates`` is asked through ``do_api_request`` so that each update is read on its own (below);
# PTB suggests its own method whenever a named one exists.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)


class _NoContents(logging.Filter):
    """PTB's log lines that would hold what people wrote and who they are (the parameters and answers
    of Bot API calls at DEBUG, a batch of updates it could not read): kept, without those."""

    LINES: ClassVar[dict[str, str]] = {
        "Calling Bot API endpoint `%s` with parameters `%s`": "Calling Bot API endpoint `%s`",
        "Call to Bot API endpoint `%s` finished with return value `%s`": "Call to Bot API endpoint `%s` done",
        "Error while parsing updates! Received data was %r": "Error while parsing updates (data not logged)",
    }

    def filter(self, record: logging.LogRecord) -> bool:
        kept = self.LINES.get(record.msg) if isinstance(record.msg, str) else None
        if kept is not None:
            args = record.args if isinstance(record.args, tuple) else ()
            record.msg, record.args = kept, args[: kept.count("%s")]
            record.exc_info = record.exc_text = None
        return True


for _name in ("telegram.Bot", "telegram.ext.ExtBot"):
    logging.getLogger(_name).addFilter(_NoContents())


def read_updates(raw: object, bot: Any) -> tuple[list[Update], int | None]:
    """The updates of a ``getUpdates`` answer PTB can read, and the highest update id seen (read or not).

    An update that cannot be read (a field newer than this version of PTB, a malformed one) is
    skipped: it is confirmed with the rest, and only its id and the kind of error are logged."""
    updates: list[Update] = []
    highest: int | None = None
    for item in raw if isinstance(raw, list) else ():
        update_id = item.get("update_id") if isinstance(item, dict) else None
        if isinstance(update_id, int):
            highest = update_id if highest is None else max(highest, update_id)
        try:
            if not isinstance(item, dict):
                raise TypeError("an update is not a JSON object")
            update = Update.de_json(item, bot)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
            log.error("update %s could not be read and is skipped: %s", update_id, type(error).__name__)
            continue
        if update is not None:
            updates.append(update)
    return updates, highest


async def _handle_batch(
    application: Application[Any, Any, Any, Any, Any, Any], updates: list[Update]
) -> None:
    """Hand updates to the application through its processor (chat order) and wait for all of them."""
    processor = application.update_processor
    await asyncio.gather(*(processor.process_update(u, application.process_update(u)) for u in updates))


async def poll(
    application: Application[Any, Any, Any, Any, Any, Any],
    stop: asyncio.Event,
    *,
    long_poll: int = 30,
    patience: float = 1.0,
) -> None:
    """Long polling that confirms an update to Telegram (by asking for those after it) only once it and
    every update before it were handled: a crash loses nothing Telegram will not send again.

    Updates still being handled after ``patience`` seconds (a chat waiting for its lock, say) do not
    hold up the others: fetching goes on from the earliest unfinished update every ``patience``
    seconds, and what
    was fetched before is not handed out twice. (Telegram returns at most 100 updates from that point.)"""
    bot = application.bot
    processor = application.update_processor
    await bot.delete_webhook(drop_pending_updates=False)
    next_id: int | None = None  # the first update id not yet fetched
    running: dict[int, asyncio.Task[None]] = {}  # fetched and still being handled, by update id
    failures = 0
    stopping = asyncio.create_task(stop.wait())

    def handle(update: Update) -> None:
        task = asyncio.create_task(processor.process_update(update, application.process_update(update)))
        running[update.update_id] = task
        task.add_done_callback(lambda _: running.pop(update.update_id, None))

    try:
        while not stop.is_set():
            offset = min(running) if running else next_id
            fetch = asyncio.create_task(
                bot.do_api_request(
                    "getUpdates",
                    api_kwargs={
                        "offset": offset,
                        "timeout": 0 if running else long_poll,
                        "allowed_updates": ALLOWED_UPDATES,
                    },
                    read_timeout=long_poll + 10,
                )
            )
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not fetch.done():
                fetch.cancel()
                break
            try:
                updates, highest = read_updates(fetch.result(), bot)
            except TimedOut:
                continue
            except NetworkError as error:
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("fetching updates failed (%s); again in %.1f s", type(error).__name__, delay)
                await asyncio.wait({stopping}, timeout=delay)
                continue
            failures = 0
            for update in updates:
                if next_id is None or update.update_id >= next_id:
                    handle(update)
            if highest is not None:
                next_id = max(next_id or 0, highest + 1)
            if running:  # all handled: confirmed by the next long poll; else fetch again after a while
                await asyncio.wait(set(running.values()), timeout=patience)
    finally:
        stopping.cancel()
        if running:  # handled to the end; confirmed to Telegram by the next start
            await asyncio.wait(set(running.values()), timeout=30)


class Webhook:
    """Telegram's updates POSTed to the path of ``WEBHOOK_URL``: a Starlette route (``route``), served by
    itself or with the web console in one server, python-telegram-bot's custom-webhook pattern; and
    Telegram told where to send them (``register``), once the route is being served."""

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> None:
        if settings.webhook_url is None:
            raise ValueError("WEBHOOK_URL is not set")
        self.application = application
        self.url = settings.webhook_url
        secret = settings.webhook_secret
        self.secret = secret.get_secret_value() if secret is not None else secrets.token_urlsafe(32)

    def route(self) -> Route:
        return Route(urlsplit(self.url).path or "/", self.receive, methods=["POST"])

    async def register(self) -> None:
        await self.application.bot.set_webhook(
            self.url, secret_token=self.secret, allowed_updates=ALLOWED_UPDATES, max_connections=40
        )

    async def receive(self, request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, self.secret.encode()):
            log.warning("a webhook request without the right secret was refused")
            return Response(status_code=403)
        # Anything but one update, a JSON object PTB can read, is the sender's mistake: 400, with
        # nothing of the body in the log. Deep nesting makes the JSON parser recurse too far.
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise TypeError("not a JSON object")
            update = Update.de_json(body, self.application.bot)
        except (ValueError, TypeError, KeyError, RecursionError):
            return Response(status_code=400)
        # Answered only once handled: a crash before this leaves Telegram to deliver it again. What
        # failed is logged by its kind alone: an error's words can carry what a person wrote.
        try:
            await _handle_batch(self.application, [update])
        except Exception as error:
            log.error("webhook request failed (%s)", type(error).__name__)
            return Response(status_code=500)
        return Response(status_code=200)
