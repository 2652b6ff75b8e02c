"""Messages out to Telegram within its limits, and alerts delivered (and edited) as Telegram messages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, BaseRateLimiter
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from bot.telegram_ui import Renderer
from casework.domain import OutboxAlert
from casework.notify import NotifierError, Recipient
from dialogs.alerts import alert_reply

log = logging.getLogger(__name__)

JSON = bool | dict[str, Any] | list[dict[str, Any]]


def _transient(error: BaseException) -> bool:
    """A network failure worth retrying: not a refusal (BadRequest is a NetworkError in PTB)."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


class TelegramLimits(BaseRateLimiter[int]):
    """Telegram's flood limits on every request the bot makes.

    About 30 messages a second overall and 20 a minute in a group (PTB's ``AIORateLimiter``, which
    also waits out a 429's ``retry_after`` and tries again), one a second in a private chat with a
    short burst allowed, and network failures retried with exponential backoff.
    """

    def __init__(
        self,
        *,
        overall_per_second: float = 30,
        group_per_minute: float = 20,
        chat_burst: int = 3,
        max_retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self._flood = AIORateLimiter(
            overall_max_rate=overall_per_second,
            overall_time_period=1,
            group_max_rate=group_per_minute,
            group_time_period=60,
            max_retries=max_retries,
        )
        self._chat_burst = chat_burst
        self._chats: dict[int, AsyncLimiter] = {}
        self._max_retries = max_retries
        self._backoff = backoff

    async def initialize(self) -> None:
        await self._flood.initialize()

    async def shutdown(self) -> None:
        await self._flood.shutdown()

    def _chat_limiter(self, chat_id: object) -> AsyncLimiter | None:
        """A private chat's limiter (groups have their own in ``AIORateLimiter``)."""
        with contextlib.suppress(TypeError, ValueError):
            chat = int(chat_id)  # type: ignore[call-overload]
            if chat > 0 and self._chat_burst:
                if len(self._chats) > 1024:
                    for key, limiter in list(self._chats.items()):
                        if limiter.has_capacity(limiter.max_rate):
                            del self._chats[key]
                if chat not in self._chats:
                    self._chats[chat] = AsyncLimiter(self._chat_burst, self._chat_burst)
                return self._chats[chat]
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSON]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSON:
        async def limited() -> JSON:
            return await self._flood.process_request(callback, args, kwargs, endpoint, data, rate_limit_args)

        if endpoint == "getUpdates":  # the polling loop retries the long poll itself
            return await limited()
        limiter = self._chat_limiter(data.get("chat_id"))

        async def in_chat_turn() -> JSON:
            if limiter is None:
                return await limited()
            async with limiter:
                return await limited()

        try:  # nearly every request: once, without the retry machinery around it
            return await in_chat_turn()
        except Exception as error:
            if not _transient(error) or not self._max_retries:
                raise
            log.info("%s failed (%s); trying again", endpoint, type(error).__name__)
        # The retries, waiting backoff, 2 × backoff, 4 × backoff, … (at most 10 s) before each.
        await asyncio.sleep(min(self._backoff, 10))
        retrying = AsyncRetrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(self._max_retries),
            wait=wait_exponential(multiplier=self._backoff * 2, max=10),
            reraise=True,
        )
        result: JSON = await retrying(in_chat_turn)
        return result


def _refusal(error: TelegramError) -> NotifierError:
    """Telegram's refusals that no retry will change, as permanent failures; the rest, transient."""
    if isinstance(error, Forbidden):
        return NotifierError("the chat blocked the bot or was left", permanent=True)
    if isinstance(error, BadRequest):
        return NotifierError(f"refused: {error.message}", permanent=True)
    if isinstance(error, RetryAfter):
        return NotifierError("rate limited")
    return NotifierError(type(error).__name__)


class TelegramNotifier:
    """Alerts as messages with their buttons; a later alert can replace one already delivered."""

    def __init__(self, bot: Bot, renderer: Renderer) -> None:
        self.bot = bot
        self.renderer = renderer

    async def send(self, alert: OutboxAlert, recipient: Recipient) -> dict[str, Any]:
        if recipient.chat_id is None:
            raise NotifierError("the recipient has no Telegram chat", permanent=True)
        reply = alert_reply(alert, recipient.language)
        messages = self.renderer.messages([reply], recipient.chat_id, recipient.language)
        sent_ids: list[int] = []
        try:
            for message in messages:
                sent = await self.bot.send_message(
                    recipient.chat_id, message.text, reply_markup=message.markup
                )
                sent_ids.append(sent.message_id)
        except TelegramError as error:
            raise _refusal(error) from error
        return {"chat_id": recipient.chat_id, "message_id": sent_ids[-1]}

    async def edit(self, delivered: dict[str, Any], alert: OutboxAlert, recipient: Recipient) -> None:
        chat_id, message_id = delivered.get("chat_id"), delivered.get("message_id")
        if chat_id is None or message_id is None:
            raise NotifierError("the alert was not delivered by Telegram", permanent=True)
        reply = alert_reply(alert, recipient.language)
        message = self.renderer.messages([reply], int(chat_id), recipient.language)[-1]
        try:
            await self.bot.edit_message_text(
                message.text, chat_id=int(chat_id), message_id=int(message_id), reply_markup=message.markup
            )
        except BadRequest as error:
            if "not modified" in error.message.lower():
                return
            raise _refusal(error) from error
        except TelegramError as error:
            raise _refusal(error) from error
