"""Messages out to Telegram within its limits, and alerts delivered (and edited) as Telegram messages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import timedelta
from enum import Enum
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import Bot, InlineKeyboardMarkup, InputFile
from telegram import Message as TelegramMessage
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, BaseRateLimiter
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from bot.report_files import Drawn, FileKind
from bot.telegram_ui import Message, Renderer
from casework.clock import Clock
from casework.domain import Channel, OutboxAlert
from casework.notify import NotifierError, Recipient, Undelivered
from dialogs.alerts import alert_reply
from storage import Database
from storage.repositories import Outgoing

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
        return NotifierError(Undelivered.BLOCKED, permanent=True)
    if isinstance(error, BadRequest):
        return NotifierError(Undelivered.REFUSED, error.message, permanent=True)
    if isinstance(error, RetryAfter):
        return NotifierError(Undelivered.RATE_LIMITED)
    return NotifierError(Undelivered.FAILED, type(error).__name__)


class TelegramNotifier:
    """Alerts as messages with their buttons; a later alert can replace one already delivered."""

    def __init__(self, bot: Bot, renderer: Renderer) -> None:
        self.bot = bot
        self.renderer = renderer

    async def send(self, alert: OutboxAlert, recipient: Recipient) -> dict[str, Any]:
        if recipient.chat_id is None:
            raise NotifierError(Undelivered.NO_CHAT, permanent=True)
        reply = alert_reply(alert, recipient.language)
        messages = self.renderer.messages([reply], recipient.chat_id, recipient.language)
        sent_ids: list[int] = []
        try:
            for message in messages:
                sent = await send(self.bot, recipient.chat_id, message.text, message.markup, message.file)
                sent_ids.append(sent.message_id)
        except TelegramError as error:
            raise _refusal(error) from error
        return {"chat_id": recipient.chat_id, "message_id": sent_ids[-1]}

    async def edit(self, delivered: dict[str, Any], alert: OutboxAlert, recipient: Recipient) -> None:
        chat_id, message_id = delivered.get("chat_id"), delivered.get("message_id")
        if chat_id is None or message_id is None:
            raise NotifierError(Undelivered.NOTHING_TO_EDIT, permanent=True)
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


async def send(
    bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None, file: Drawn | None
) -> TelegramMessage:
    """A new message: text, or a file (a picture or a document) with the text as its caption."""
    if file is None:
        return await bot.send_message(chat_id, text, reply_markup=markup)
    upload = InputFile(file.content, filename=file.name)
    if file.kind is FileKind.PHOTO:
        return await bot.send_photo(chat_id, upload, caption=text or None, reply_markup=markup)
    return await bot.send_document(chat_id, upload, caption=text or None, reply_markup=markup)


# --- a turn's replies ---------------------------------------------------------------------------------


def outgoing(messages: Sequence[Message], *, edits_message_id: int | None = None) -> list[Outgoing]:
    """Rendered messages as the turn stores them; with ``edits_message_id``, the first one replaces
    that message of the bot's (an answered question) instead of being sent anew (a file never does)."""
    stored = [_stored(message) for message in messages]
    if stored and edits_message_id is not None and stored[0].file_content is None:
        stored[0] = replace(stored[0], edits_message_id=edits_message_id)
    return stored


def _stored(message: Message) -> Outgoing:
    markup = message.markup.to_dict() if message.markup else None
    if message.file is None:
        return Outgoing(message.text, markup)
    file = message.file
    return Outgoing(
        message.text, markup, file_name=file.name, file_kind=file.kind.value, file_content=file.content
    )


def _drawn(message: Outgoing) -> Drawn | None:
    """The file a stored message carries, if any."""
    if message.file_content is None:
        return None
    return Drawn(
        message.file_name or "file", message.file_content, FileKind(message.file_kind or FileKind.DOCUMENT)
    )


class _Sent(Enum):
    SENT = "sent"
    REFUSED = "refused"  # for good: the message is not tried again
    BLOCKED = "blocked"  # the person blocked the bot or never opened a chat with it
    LATER = "later"  # another process is sending it, or it waits out a flood limit or the network


class ReplySender:
    """The messages turns wrote for their chats (``outgoing_messages``), sent in order once committed.

    ``send`` sends a turn's messages right after its commit: the turn claimed them in its own
    transaction, so sending them takes one more (marking them sent). A flood limit (429) is waited out
    for as long as Telegram asks and a network failure tried again, for up to ``patience`` (``flush``);
    what is still not sent then, the sweep (``run``) sends later, until Telegram takes it. A committed
    turn's reply is never turned into an apology. A refusal no retry changes (the person blocked the
    bot, a message that can no longer be edited) is recorded and skipped. Any number of processes may
    send: each message is claimed before it is sent (a crashed sender's claim runs out after
    ``claim_for``), and a chat's later messages wait behind its first. Each statement about a message
    (claimed, sent, tried again later) stands on its own, so each commits on its own
    (``Database.each_committed``)."""

    def __init__(
        self,
        bot: Bot,
        database: Database,
        clock: Clock,
        *,
        patience: timedelta = timedelta(seconds=20),
        claim_for: timedelta = timedelta(seconds=15),
        settle: timedelta = timedelta(seconds=5),
        sweep_every: float = 2.0,
    ) -> None:
        self.bot = bot
        self.database = database
        self.clock = clock
        self.patience = patience
        self.claim_for = claim_for
        self.settle = settle  # how old a waiting message is before the sweep takes it over
        self.sweep_every = sweep_every
        self._chats: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def _chat(self, chat_id: int) -> asyncio.Lock:
        lock = self._chats.get(chat_id)
        if lock is None:
            lock = self._chats[chat_id] = asyncio.Lock()
        return lock

    async def send(self, chat_id: int, claimed: Sequence[Outgoing]) -> bool:
        """A turn's messages, claimed in the turn's own transaction (``OutgoingRepository.add``), sent
        in order and marked sent together; then, or when none were claimed because earlier ones still
        wait, what waits for the chat (``flush``). True when the chat blocked the bot."""
        later = 0.0
        blocked = False
        async with self._chat(chat_id):
            tried: list[tuple[Outgoing, _Sent, str, float]] = []
            for message in claimed:
                sent, error, wait = await self._try(chat_id, message, 1)
                tried.append((message, sent, error, wait))
                if sent is _Sent.LATER:
                    later = wait
                    break
            if claimed:
                await self._record(tried, untried=claimed[len(tried) :])
            blocked = any(sent is _Sent.BLOCKED for _, sent, _, _ in tried)
            if claimed and len(tried) == len(claimed) and not later:
                return blocked
        if later > self.patience.total_seconds():
            log.info("a reply waits to be sent; tried again in %.0f s", later)
            return blocked
        await asyncio.sleep(later)
        return await self.flush(chat_id) or blocked

    async def _record(
        self, tried: Sequence[tuple[Outgoing, _Sent, str, float]], untried: Sequence[Outgoing]
    ) -> None:
        async with self.database.each_committed() as tx:
            now = self.clock.now()
            sent = [_id(m) for m, outcome, error, _ in tried if outcome is not _Sent.LATER and not error]
            if sent:
                await tx.outgoing.done(sent, now=now)
            for message, outcome, error, wait in tried:
                if outcome is _Sent.LATER:
                    await tx.outgoing.retry_at(_id(message), at=now + timedelta(seconds=wait), error=error)
                elif error:
                    await tx.outgoing.done([_id(message)], now=now, refused=error)
            for message in untried:
                await tx.outgoing.release(_id(message))

    async def flush(self, chat_id: int) -> bool:
        """Send what waits for the chat, in order; True when Telegram refused it: the chat blocked the bot."""
        async with self._chat(chat_id):
            async with self.database.each_committed() as tx:
                waiting = await tx.outgoing.waiting(channel=Channel.TELEGRAM, chat_id=chat_id)
            deadline = asyncio.get_running_loop().time() + self.patience.total_seconds()
            blocked = False
            for message in waiting:
                sent = await self._send(chat_id, message, deadline)
                if sent is _Sent.LATER:
                    break
                blocked = blocked or sent is _Sent.BLOCKED
            return blocked

    async def sweep(self) -> int:
        """Send, chat by chat, messages left waiting (their turn's process crashed, or Telegram kept
        refusing for longer than the turn waited); the number of chats."""
        now = self.clock.now()
        async with self.database.each_committed() as tx:
            chats = await tx.outgoing.chats_waiting(
                channel=Channel.TELEGRAM, written_before=now - self.settle, now=now
            )
        at_once = asyncio.Semaphore(8)  # within the database's connection pool

        async def flush(chat_id: int) -> None:
            async with at_once:
                await self.flush(chat_id)

        await asyncio.gather(*(flush(chat_id) for chat_id in chats))
        return len(chats)

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep every ``sweep_every`` seconds until ``stop``."""
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception as error:  # the database away, say: the next sweep tries again
                log.warning("sending waiting replies failed (%s)", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.sweep_every)

    async def _send(self, chat_id: int, message: Outgoing, deadline: float) -> _Sent:
        """One message: claimed for one try at a time (a crashed sender's claim runs out soon), waiting
        between tries with the claim let go."""
        message_id = _id(message)
        for attempt in range(1, 1000):
            now = self.clock.now()
            async with self.database.each_committed() as tx:
                if not await tx.outgoing.claim(message_id, now=now, until=now + self.claim_for):
                    return _Sent.LATER  # another process has it, or it waits for its time
            sent, error, wait = await self._try(chat_id, message, attempt)
            async with self.database.each_committed() as tx:
                if sent is not _Sent.LATER:
                    await tx.outgoing.done([message_id], now=self.clock.now(), refused=error or None)
                    return sent
                await tx.outgoing.retry_at(
                    message_id, at=self.clock.now() + timedelta(seconds=wait), error=error
                )
            if asyncio.get_running_loop().time() + wait > deadline:
                log.info("a reply waits to be sent (%s); tried again in %.0f s", error, wait)
                return _Sent.LATER
            await asyncio.sleep(wait)
        return _Sent.LATER

    async def _try(self, chat_id: int, message: Outgoing, attempt: int) -> tuple[_Sent, str, float]:
        """One try: how it went, why not (for the record), and how long to wait before the next."""
        try:
            await self._call(chat_id, message)
        except Forbidden:
            return _Sent.BLOCKED, "the chat blocked the bot", 0.0
        except BadRequest as refusal:
            if message.edits_message_id is not None and "not modified" in refusal.message.lower():
                return _Sent.SENT, "", 0.0
            log.info("a message for a chat was refused: %s", refusal.message)
            return _Sent.REFUSED, refusal.message, 0.0
        except RetryAfter as flood:
            return _Sent.LATER, "rate limited", _seconds(flood.retry_after)
        except TelegramError as failure:  # the network; Telegram's own trouble
            return _Sent.LATER, type(failure).__name__, min(30.0, 0.5 * 2**attempt)
        return _Sent.SENT, "", 0.0

    async def _call(self, chat_id: int, message: Outgoing) -> None:
        markup = InlineKeyboardMarkup.de_json(message.markup, self.bot) if message.markup else None
        if message.edits_message_id is None:
            await send(self.bot, chat_id, message.text, markup, _drawn(message))
        else:
            await self.bot.edit_message_text(
                message.text, chat_id=chat_id, message_id=message.edits_message_id, reply_markup=markup
            )


def _id(message: Outgoing) -> int:
    assert message.id is not None, "a stored message has its id"
    return message.id


def _seconds(retry_after: timedelta | float) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)
