"""The command menu each person sees in Telegram (``setMyCommands``): their role's commands, in their
language."""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError
from telegram.ext import Application

from casework.domain import Channel, Person, Role
from dialogs.catalog import LANGUAGES, Catalog
from dialogs.turn import Turn

log = logging.getLogger(__name__)

_PUBLIC = ("report", "policy", "status", "lang", "privacy", "delete_my_data", "help", "cancel")
_CASEWORK = ("queue", "mine", "overdue", "ticket", "improvements", "policy", "web", "lang", "help", "cancel")
_SUPERVISING = (
    "queue",
    "mine",
    "overdue",
    "ticket",
    "evaluation",
    "agency_evaluation",
    "improvements",
    "policy",
    "web",
    "lang",
    "help",
    "cancel",
)
ROLE_COMMANDS: dict[Role, tuple[str, ...]] = {
    Role.RECIPIENT: ("report", "policy", "status", "rate", *_PUBLIC[3:]),
    Role.VOLUNTEER: ("flag", "tasks", *_PUBLIC),
    Role.SOCIAL_WORKER: _CASEWORK,
    Role.SUPERVISOR: _SUPERVISING,
    Role.ADMIN: _SUPERVISING,
    Role.EVALUATOR: (
        "evaluation",
        "agency_evaluation",
        "improvements",
        "web",
        "lang",
        "privacy",
        "help",
        "cancel",
    ),
}


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
        account = person.identity_on(Channel.TELEGRAM)
        chat_id = account.chat_id if account is not None else None
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
