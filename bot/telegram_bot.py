"""The Telegram front end: python-telegram-bot's ``Application`` in front of the dialog engine.

Each update is handled in one database unit of work that first records its id: a re-delivered update
changes nothing, and one whose handling failed before the commit left nothing behind and is handled
in full when it comes again. Updates are fetched (long polling) or received (webhook) and handed to
the ``Application`` in batches; the next batch is confirmed to Telegram only once the current one is
handled, so a crash loses nothing Telegram will not send again. Updates of one chat are handled in
their order, different chats at once (``ChatOrder``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import logging
import secrets
import traceback
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import tornado.httpserver
import tornado.web
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    CallbackQuery,
    Message,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    BaseUpdateProcessor,
    ContextTypes,
    TypeHandler,
)
from telegram.warnings import PTBUserWarning

from bot.settings import Settings
from bot.telegram_delivery import ReplySender, TelegramLimits, TelegramNotifier, outgoing
from bot.telegram_ui import CallbackSigner, Renderer
from bot.wiring import Conversation, clock, start_conversation
from casework.domain import Channel, DomainError, InvalidInput, Person, Role
from dialogs.catalog import LANGUAGES, Catalog
from dialogs.engine import ACTION_PREFIX, CASEWORK_ROLES
from dialogs.messages import Reply
from dialogs.turn import Turn, clean_text
from storage import Database, Transaction, lost_connection
from storage.repositories import Outgoing

log = logging.getLogger(__name__)
T = TypeVar("T")

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]
_PUBLIC = ("report", "policy", "status", "lang", "privacy", "delete_my_data", "help", "cancel")
_CASEWORK = ("queue", "mine", "overdue", "ticket", "policy", "lang", "help", "cancel")
ROLE_COMMANDS: dict[Role, tuple[str, ...]] = {
    Role.RECIPIENT: _PUBLIC,
    Role.VOLUNTEER: ("flag", *_PUBLIC),
    Role.SOCIAL_WORKER: _CASEWORK,
    Role.SUPERVISOR: _CASEWORK,
    Role.ADMIN: _CASEWORK,
}
KINDS = ("photo", "voice", "audio", "video", "video_note", "sticker", "document", "animation")


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


def _language(user: User | None) -> str | None:
    code = (user.language_code or "").lower() if user is not None else ""
    return "zh" if code.startswith("zh") else "en" if code.startswith("en") else None


def message_turn(message: Message, user: User) -> Turn:
    """A private message in plain terms: text (or a caption), a shared contact or place, or its kind."""
    kind = next((name for name in KINDS if getattr(message, name, None)), None)
    base = Turn(
        channel=Channel.TELEGRAM.value,
        user_id=user.id,
        display_name=user.full_name,
        language_hint=_language(user),
        text=message.text or message.caption,
        kind=kind,
    )
    if message.contact is not None:
        return replace(base, phone=message.contact.phone_number, kind="contact")
    if message.location is not None:
        location = message.location
        return replace(base, latitude=location.latitude, longitude=location.longitude, kind="location")
    if base.text is None and kind is None:
        return replace(base, kind="other")
    return base


class CommandMenus:
    """The command menu each person sees, for their role and in their language."""

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], catalog: Catalog) -> None:
        self.application = application
        self.catalog = catalog
        self._shown: dict[int, tuple[Role, str]] = {}

    def commands(self, role: Role, language: str) -> list[BotCommand]:
        return [BotCommand(name, self.catalog.text(f"menu.{name}", language)) for name in ROLE_COMMANDS[role]]

    async def install_defaults(self, default_language: str) -> None:
        bot = self.application.bot
        await bot.set_my_commands(
            self.commands(Role.RECIPIENT, default_language), scope=BotCommandScopeDefault()
        )
        for language in LANGUAGES:
            await bot.set_my_commands(
                self.commands(Role.RECIPIENT, language),
                scope=BotCommandScopeDefault(),
                language_code=language,
            )

    def may_have_changed(self, user_id: int, turn: Turn, language: str) -> bool:
        shown = self._shown.get(user_id)
        command = turn.command[0] if turn.command else None
        return shown is None or shown[1] != language or command in ("start", "lang")

    async def show(
        self, person: Person, *, first_seen: bool = False, app_language: str | None = None
    ) -> None:
        """Set the person's own menu when their role or language changed (once per process otherwise).

        A person ``first_seen`` in this update has no menu of their own yet: as a recipient speaking
        the language their Telegram app asks menus in (``app_language``), the default menu for that
        language is already the right one, and setting it again for their chat would cost a request."""
        chat_id = person.telegram_user_id
        if chat_id is None or self._shown.get(chat_id) == (person.role, person.language):
            return
        if first_seen and person.role is Role.RECIPIENT and person.language == app_language:
            self._shown[chat_id] = (person.role, person.language)
            return
        try:
            await self.application.bot.set_my_commands(
                self.commands(person.role, person.language), scope=BotCommandScopeChat(chat_id)
            )
        except TelegramError as error:
            log.info("command menu for person %s not set: %s", person.id, type(error).__name__)
            return
        self._shown[chat_id] = (person.role, person.language)


@dataclass
class TelegramFrontEnd:
    application: Application[Any, Any, Any, Any, Any, Any]
    database: Database
    conversation: Conversation
    renderer: Renderer
    menus: CommandMenus
    replies: ReplySender
    default_language: str

    @property
    def bot_username(self) -> str:
        return self.application.bot.username or ""

    # --- the one handler ------------------------------------------------------------------------

    async def on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """The update handled; once more, on a new connection, when the database connection was lost
        (the server restarted, say). That does nothing twice: what the first attempt committed, it
        committed with the update's id, and the second finds the update recorded. (Lost during the
        commit, a turn may have committed all it did and not answered; it is not answered then.)"""
        try:
            await self._handle(update)
            return
        except Exception as error:
            if not lost_connection(error):
                raise
        log.warning("update %s: the database connection was lost; handling it again", update.update_id)
        await self._handle(update)

    async def _handle(self, update: Update) -> None:
        if update.callback_query is not None:
            await self._on_press(update, update.callback_query)
        elif update.message is not None and update.message.from_user is not None:
            if update.message.chat.type == ChatType.PRIVATE:
                await self._on_private(update, update.message, update.message.from_user)
            else:
                await self._on_group(update, update.message, update.message.from_user)
        elif update.my_chat_member is not None:
            await self._on_membership(update)

    async def _once(
        self, update: Update, work: Callable[[Transaction], Awaitable[T]], *, sender: int | None = None
    ) -> T | None:
        """``work``'s result, committed together with the update's id and the messages ``work`` wrote
        for its chat (``tx.outgoing``); None when the update was handled before. ``sender``, the
        Telegram id of the person ``work`` first looks up, may be read along."""
        async with self.database.unit_of_work() as tx:
            if not await tx.updates.record(
                channel=Channel.TELEGRAM, update_id=update.update_id, now=clock.now(), sender=sender
            ):
                log.info("update %s was handled before; not again", update.update_id)
                return None
            return await work(tx)

    async def _write(self, tx: Transaction, update: Update, chat_id: int, messages: list[Outgoing]) -> None:
        await tx.outgoing.add(
            messages, channel=Channel.TELEGRAM, chat_id=chat_id, update_id=update.update_id, now=clock.now()
        )

    async def _turn(
        self,
        update: Update,
        turn: Turn,
        chat_id: int,
        *,
        menu: bool = False,
        answering: Message | None = None,
    ) -> tuple[str, Person | None] | None:
        """The turn taken, its replies written for ``chat_id`` in its transaction (the first one as an
        edit of ``answering``, the question a button press answered); its language, or None when this
        update was handled before. With ``menu``, also the person as the turn left them when their
        command menu may have changed (read in the turn's own transaction).

        The person's lock is held around the whole transaction: a dialog state kept outside the
        database (Redis) is written once the transaction commits, before the person's next turn. That
        write failing after the commit does not undo the turn: its replies are still sent (and a report
        submitted again from the stale state finds the ticket it opened)."""
        engine = self.conversation.engine

        async def work(tx: Transaction) -> tuple[str, Person | None]:
            replies, language = await engine.handle_held(turn)
            if answering is not None and turn.button is not None:
                messages = self._answered(answering, turn.button, replies, language)
            else:
                messages = outgoing(self.renderer.messages(replies, chat_id, language))
            await self._write(tx, update, chat_id, messages)
            changed = menu and self.menus.may_have_changed(turn.user_id, turn, language)
            person = await engine.services.people.known(turn.user_id) if changed else None
            return language, person

        done: tuple[str, Person | None] | None = None
        try:
            async with engine.locks.hold(turn.key):
                done = await self._once(update, work, sender=turn.user_id)
        except Exception as error:
            if done is None:
                raise
            log.error(
                "update %s: committed, but the dialog state was not saved (%s)",
                update.update_id,
                type(error).__name__,
            )
        return done

    async def _on_private(self, update: Update, message: Message, user: User) -> None:
        turn = message_turn(message, user)
        began = clock.now()
        handled = await self._turn(update, turn, message.chat.id, menu=True)
        await self.replies.flush(message.chat.id)  # this turn's replies, or what a crash left unsent
        if handled is None:
            return
        _, person = handled
        if person is not None:  # a first contact, an enrolment, a new language
            await self.menus.show(
                person,
                first_seen=person.created_at >= began,
                app_language=_language(user) or self.default_language,
            )

    async def _on_press(self, update: Update, query: CallbackQuery) -> None:
        user = query.from_user
        language = _language(user) or self.default_language
        message = query.message
        chat_id = message.chat.id if message is not None else user.id
        value = self.renderer.signer.verify(chat_id, query.data)
        if value is None:
            log.info("update %s: a button press with data this bot did not sign", update.update_id)
            await query.answer(self.renderer.text("telegram.forged", language), show_alert=True)
            return
        private = message is None or message.chat.type == ChatType.PRIVATE
        if not private:
            person = await self.conversation.engine.services.people.known(user.id)
            if person is None or not person.active or person.role not in CASEWORK_ROLES:
                await query.answer(self.renderer.text("telegram.workers_only", language), show_alert=True)
                return
            language = person.language
        turn = Turn(
            channel=Channel.TELEGRAM.value,
            user_id=user.id,
            display_name=user.full_name,
            language_hint=_language(user),
            button=value,
        )
        # Case details never go to a group: to the worker's private chat.
        to = chat_id if private else user.id
        answering = message if private and isinstance(message, Message) else None
        if answering is not None and value.startswith(ACTION_PREFIX):
            answering = None  # an alert's button: the alert is edited by its own delivery
        handled = await self._turn(update, turn, to, answering=answering)
        blocked = await self.replies.flush(to)
        if handled is None or private:
            await query.answer()
        elif blocked:
            language = handled[0]
            await query.answer(self.renderer.text("telegram.open_private_chat", language), show_alert=True)
        else:
            await query.answer(self.renderer.text("telegram.sent_privately", handled[0]))

    def _answered(self, message: Message, value: str, replies: list[Reply], language: str) -> list[Outgoing]:
        """The turn's messages after a press on ``message``: the answered question edited into the next
        view of the same question (a toggled choice, a step down the area tree), or to show the answer
        without its buttons; then the rest of the replies."""
        stamp = value.partition("|")[0]
        first = replies[0] if replies else None
        chat_id = message.chat.id
        if first is not None and first.buttons and first.flat_buttons[0].value.startswith(stamp + "|"):
            pieces = self.renderer.messages([first], chat_id, language)
            if len(pieces) == 1:
                rest = self.renderer.messages(replies[1:], chat_id, language)
                return outgoing([*pieces, *rest], edits_message_id=message.message_id)
        data = self.renderer.signer.sign(chat_id, value)
        chosen = next(
            (
                button.text
                for row in (message.reply_markup.inline_keyboard if message.reply_markup else ())
                for button in row
                if button.callback_data == data
            ),
            None,
        )
        stale = first is not None and first.key == "button.expired"
        text = message.text or ""
        if chosen and not stale:
            text = f"{text}\n\n{self.renderer.text('telegram.chosen', language, label=chosen)}"
        edit = Outgoing(text[:4096], None, message.message_id)
        return [edit, *outgoing(self.renderer.messages(replies, chat_id, language))]

    # --- groups -----------------------------------------------------------------------------------

    async def _on_group(self, update: Update, message: Message, user: User) -> None:
        """In a group only the alert-group commands are read; everything else is the members' own talk."""
        text = clean_text(message.text or "")
        if not text.startswith("/"):
            return
        head, _, argument = text[1:].partition(" ")
        name, _, addressee = head.partition("@")
        if addressee and addressee.lower() != self.bot_username.lower():
            return
        chat = message.chat

        async def answer(tx: Transaction) -> None:
            title = clean_text(chat.title or "")
            reply = await self._group_command(name.lower(), argument, chat.id, title, user)
            if reply is None:
                return
            person = await self.conversation.engine.services.people.known(user.id)
            language = person.language if person is not None else _language(user) or self.default_language
            key, args = reply
            await self._write(tx, update, chat.id, [Outgoing(self.renderer.text(key, language, **args))])

        await self._once(update, answer)
        await self.replies.flush(chat.id)

    async def _group_command(
        self, name: str, argument: str, chat_id: int, title: str, user: User
    ) -> tuple[str, dict[str, Any]] | None:
        people = self.conversation.engine.services.people
        try:
            if name == "register_group":
                group = await people.register_group(user.id, chat_id=chat_id, title=title, area_name=argument)
                area = await people.area(group.area_id)
                return "group.registered", {"area": area.name if area else ""}
            if name == "unregister_group":
                gone = await people.unregister_group(user.id, chat_id=chat_id)
                return ("group.unregistered" if gone else "group.not_registered"), {}
            if name in ("start", "help"):
                area = await people.group_area(chat_id)
                return ("group.status", {"area": area.name}) if area else ("group.hello", {})
        except InvalidInput:
            return "group.name_area", {}
        except DomainError:
            return "group.forbidden", {}
        return None

    async def _on_membership(self, update: Update) -> None:
        change = update.my_chat_member
        if change is None or change.chat.type == ChatType.PRIVATE:
            return
        was = change.old_chat_member.status
        now = change.new_chat_member.status
        joined = now in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR) and was in (
            ChatMemberStatus.LEFT,
            ChatMemberStatus.BANNED,
        )
        if joined:
            await self.application.bot.send_message(
                change.chat.id, self.renderer.text("group.hello", self.default_language)
            )

    # --- out --------------------------------------------------------------------------------------

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The person gets a short apology; the log gets where it failed, never what they wrote."""
        error = context.error
        if error is None:
            return
        update_id = update.update_id if isinstance(update, Update) else None
        frames = "".join(traceback.format_tb(error.__traceback__))
        log.error("update %s failed: %s\n%s", update_id, type(error).__name__, frames.rstrip())
        if not isinstance(update, Update) or update.effective_user is None:
            return
        language = _language(update.effective_user) or self.default_language
        apology = self.renderer.text("telegram.apology", language)
        with contextlib.suppress(TelegramError):
            if update.callback_query is not None:
                await update.callback_query.answer(apology, show_alert=True)
            elif update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE:
                await self.application.bot.send_message(update.effective_chat.id, apology)


# --- receiving updates ------------------------------------------------------------------------------

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


class _WebhookHandler(tornado.web.RequestHandler):
    def initialize(self, bot_application: Application[Any, Any, Any, Any, Any, Any], secret: str) -> None:
        self.application_ = bot_application
        self.secret = secret.encode()

    async def post(self) -> None:
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, self.secret):
            log.warning("a webhook request without the right secret was refused")
            self.set_status(403)
            return
        # Anything but one update, a JSON object PTB can read, is the sender's mistake: 400, with
        # nothing of the body in the log. Deep nesting makes the JSON parser recurse too far.
        try:
            body = json.loads(self.request.body)
            if not isinstance(body, dict):
                raise TypeError("not a JSON object")
            update = Update.de_json(body, self.application_.bot)
        except (ValueError, TypeError, KeyError, RecursionError):
            self.set_status(400)
            return
        # Answered only once handled: a crash before this leaves Telegram to deliver it again.
        await _handle_batch(self.application_, [update])
        self.set_status(200)

    def log_exception(self, *args: Any) -> None:  # no request bodies in the log
        log.error("webhook request failed")


@dataclass
class WebhookServer:
    server: tornado.httpserver.HTTPServer

    @classmethod
    async def start(
        cls, application: Application[Any, Any, Any, Any, Any, Any], settings: Settings
    ) -> WebhookServer:
        assert settings.webhook_url is not None
        secret = (
            settings.webhook_secret.get_secret_value()
            if settings.webhook_secret
            else secrets.token_urlsafe(32)
        )
        path = urlsplit(settings.webhook_url).path or "/"
        app = tornado.web.Application(
            [(path, _WebhookHandler, {"bot_application": application, "secret": secret})]
        )
        server = tornado.httpserver.HTTPServer(app, xheaders=True)
        server.listen(settings.webhook_port, address=settings.webhook_listen)
        await application.bot.set_webhook(
            settings.webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES, max_connections=40
        )
        return cls(server)

    async def stop(self) -> None:
        self.server.stop()
        await self.server.close_all_connections()


# --- the whole bot ----------------------------------------------------------------------------------


def build_application(
    settings: Settings,
    *,
    limits: BaseRateLimiter[Any] | None = None,
    max_concurrent_updates: int = 64,
    connections: int = 8,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The application. Its Bot API requests share ``connections`` HTTP connections (PTB's default is
    256): httpcore looks over every pooled connection (a readability check on each idle one) whenever a
    request starts or ends, so a pool grown large in a burst costs CPU on every request after it.
    Eight carry far more than Telegram's 30 messages a second allows; a request waits up to
    ``pool_timeout`` for one, and one that waited longer is retried by the limits like any timeout."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .rate_limiter(limits if limits is not None else TelegramLimits())
        .concurrent_updates(ChatOrder(max_concurrent_updates))
        .connection_pool_size(connections)
        .pool_timeout(10.0)
        .updater(None)
    )
    if settings.telegram_api_base_url:
        base = settings.telegram_api_base_url
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    return builder.build()


async def serve(
    settings: Settings,
    database: Database,
    stop: asyncio.Event,
    *,
    limits: BaseRateLimiter[Any] | None = None,
    started: asyncio.Future[TelegramFrontEnd] | None = None,
) -> None:
    """Run the bot until ``stop`` is set: long polling, or a webhook when ``WEBHOOK_URL`` is set.

    ``started`` gets the running front end once updates are being received (tests and benchmarks)."""
    application = build_application(settings, limits=limits)
    catalog = Catalog.load()
    assert settings.telegram_bot_token is not None
    renderer = Renderer(catalog, CallbackSigner.for_token(settings.telegram_bot_token.get_secret_value()))
    await application.initialize()  # asks Telegram who the bot is: a revoked token fails here
    conversation = await start_conversation(settings, database, TelegramNotifier(application.bot, renderer))
    webhook: WebhookServer | None = None
    sweeping: asyncio.Task[None] | None = None
    try:
        front = TelegramFrontEnd(
            application,
            database,
            conversation,
            renderer,
            CommandMenus(application, catalog),
            ReplySender(application.bot, database, clock),
            settings.default_language.value,
        )
        application.add_handler(TypeHandler(Update, front.on_update))
        application.add_error_handler(front.on_error)
        await front.menus.install_defaults(settings.default_language.value)
        # What start-up built (the NLU model, catalogs, SQLAlchemy's and PTB's machinery: some 250,000
        # objects) lives as long as the bot: out of the collector's reach, or every full collection
        # walks it all again, a tenth of a second each time with the event loop stopped.
        gc.freeze()
        await application.start()
        sweeping = asyncio.create_task(front.replies.run(stop))  # replies a crash or an outage left
        if settings.webhook_url:
            webhook = await WebhookServer.start(application, settings)
            log.info("receiving updates by webhook on %s:%s", settings.webhook_listen, settings.webhook_port)
            if started is not None:
                started.set_result(front)
            await stop.wait()
        else:
            log.info("receiving updates by long polling")
            if started is not None:
                started.set_result(front)
            await poll(application, stop)
    finally:
        gc.unfreeze()
        if sweeping is not None:
            sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeping
        if webhook is not None:
            await webhook.stop()
        if application.running:
            await application.stop()
        await conversation.stop()
        await application.shutdown()
