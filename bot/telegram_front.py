"""The Telegram front end: each update python-telegram-bot receives, taken through the dialog engine.

Each update is handled in one database unit of work that first records its id: a re-delivered update
changes nothing, and one whose handling failed before the commit left nothing behind and is handled
in full when it comes again. The replies a turn answers with are written in that same unit of work and
sent after its commit (``ReplySender``). Private messages and button presses are turns of the person's
conversation; in a group only the alert-group commands are read.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from telegram import CallbackQuery, Message, Update, User
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from bot.telegram_delivery import ReplySender, outgoing
from bot.telegram_menus import CommandMenus
from bot.telegram_ui import Renderer
from casework.clock import Clock
from casework.domain import WORKER_ROLES, Channel, DomainError, Person
from casework.people import People
from dialogs.engine import ACTION_PREFIX, DialogEngine
from dialogs.messages import Reply
from dialogs.turn import Turn, clean_text
from storage import AfterCommitFailed, Database, Transaction, lost_connection
from storage.repositories import Outgoing

log = logging.getLogger(__name__)
T = TypeVar("T")

KINDS = ("photo", "voice", "audio", "video", "video_note", "sticker", "document", "animation")


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


@dataclass(frozen=True, slots=True)
class _Turned:
    """A turn as it committed: the person's language, the person when their command menu may have
    changed, and the replies this process sends."""

    language: str
    person: Person | None
    replies: list[Outgoing]


@dataclass
class TelegramFrontEnd:
    """What the bot does with an update: one handler for every kind (``on_update``) and one for errors."""

    application: Application[Any, Any, Any, Any, Any, Any]
    database: Database
    engine: DialogEngine
    people: People
    clock: Clock
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

    async def _once(self, update: Update, work: Callable[[Transaction], Awaitable[T]]) -> T | None:
        """``work``'s result, committed together with the update's id and the messages ``work`` wrote
        for its chat (``tx.outgoing``); None when the update was handled before.

        Work waiting for the commit (the dialog state written to Redis) failing does not undo it: the
        result is still returned, so its replies are sent (and a report submitted again from the stale
        state finds the ticket it opened)."""
        done: list[T] = []
        try:
            async with self.database.unit_of_work() as tx:
                if not await tx.updates.record(
                    channel=Channel.TELEGRAM, update_id=update.update_id, now=self.clock.now()
                ):
                    log.info("update %s was handled before; not again", update.update_id)
                    return None
                done.append(await work(tx))
        except AfterCommitFailed as failure:
            log.error(
                "update %s: committed, but the work after the commit failed (%s)",
                update.update_id,
                type(failure.__cause__).__name__,
            )
        return done[0] if done else None

    async def _write(
        self, tx: Transaction, update: Update, chat_id: int, messages: list[Outgoing]
    ) -> list[Outgoing]:
        """The messages written for the chat; those this process may send once the turn committed
        (claimed in it: none when earlier messages still wait for the chat)."""
        now = self.clock.now()
        return await tx.outgoing.add(
            messages,
            channel=Channel.TELEGRAM,
            chat_id=chat_id,
            update_id=update.update_id,
            now=now,
            claim_until=now + self.replies.claim_for,
        )

    async def _turn(
        self,
        update: Update,
        turn: Turn,
        chat_id: int,
        *,
        menu: bool = False,
        answering: Message | None = None,
    ) -> _Turned | None:
        """The turn taken, its replies written for ``chat_id`` in its transaction (the first one as an
        edit of ``answering``, the question a button press answered); None when this update was
        handled before. With ``menu``, also the person as the turn left them when their command menu
        may have changed (read in the turn's own transaction).

        The person's lock is held around the whole transaction: a dialog state kept outside the
        database (Redis) is written once the transaction commits, before the person's next turn."""
        engine = self.engine

        async def work(tx: Transaction) -> _Turned:
            replies, language = await engine.handle_held(turn)
            if answering is not None and turn.button is not None:
                messages = self._answered(answering, turn.button, replies, language)
            else:
                messages = outgoing(self.renderer.messages(replies, chat_id, language))
            claimed = await self._write(tx, update, chat_id, messages)
            changed = menu and self.menus.may_have_changed(turn.user_id, turn, language)
            person = await self.people.known(turn.user_id, channel=Channel.TELEGRAM) if changed else None
            return _Turned(language, person, claimed)

        done: _Turned | None = None
        try:
            async with engine.locks.hold(turn.key):
                done = await self._once(update, work)
        except Exception as error:
            if done is None:
                raise
            log.error(
                "update %s: committed, but the lock was not let go (%s)",
                update.update_id,
                type(error).__name__,
            )
        return done

    async def _on_private(self, update: Update, message: Message, user: User) -> None:
        turn = message_turn(message, user)
        began = self.clock.now()
        handled = await self._turn(update, turn, message.chat.id, menu=True)
        # This turn's replies; or what a crash, or a turn handled before, left unsent.
        await self.replies.send(message.chat.id, handled.replies if handled else [])
        if handled is None:
            return
        person = handled.person
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
            person = await self.people.known(user.id, channel=Channel.TELEGRAM)
            if person is None or not person.active or person.role not in WORKER_ROLES:
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
        blocked = await self.replies.send(to, handled.replies if handled else [])
        if handled is None or private:
            await query.answer()
        elif blocked:
            await query.answer(
                self.renderer.text("telegram.open_private_chat", handled.language), show_alert=True
            )
        else:
            await query.answer(self.renderer.text("telegram.sent_privately", handled.language))

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

        async def answer(tx: Transaction) -> list[Outgoing]:
            title = clean_text(chat.title or "")
            reply = await self._group_command(name.lower(), argument, chat.id, title, user)
            if reply is None:
                return []
            person = await self.people.known(user.id, channel=Channel.TELEGRAM)
            language = person.language if person is not None else _language(user) or self.default_language
            text = self.renderer.catalog.render(reply, language)
            return await self._write(tx, update, chat.id, [Outgoing(text)])

        claimed = await self._once(update, answer)
        await self.replies.send(chat.id, claimed or [])

    async def _group_command(
        self, name: str, argument: str, chat_id: int, title: str, user: User
    ) -> Reply | None:
        people = self.people
        try:
            if name == "register_group":
                group = await people.register_group(user.id, chat_id=chat_id, title=title, area_name=argument)
                area = await people.area(group.area_id)
                return Reply("group.registered", {"area": area.name if area else ""})
            if name == "unregister_group":
                gone = await people.unregister_group(user.id, chat_id=chat_id)
                return Reply("group.unregistered" if gone else "group.not_registered")
            if name in ("start", "help"):
                area = await people.group_area(chat_id)
                return Reply("group.status", {"area": area.name}) if area else Reply("group.hello")
        except DomainError as error:
            return self.renderer.catalog.refusal_reply(error)
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
