"""The console channel: the same conversations in a terminal, buttons as numbered options.

Lines are read from standard input, so a script can drive it through a pipe; at a terminal the line
is edited with readline. Alerts meant for the console user are printed as they arrive; alerts for
other people are shown as one dim line, so routing can be watched.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from casework.domain import Channel, OutboxAlert
from casework.notify import Recipient
from dialogs.alerts import alert_reply
from dialogs.catalog import Catalog
from dialogs.engine import DialogEngine
from dialogs.messages import Button, Reply
from dialogs.turn import Turn

# A shared location, typed as a geo URI (RFC 5870): ``geo:30.556,114.315``.
GEO_URI = re.compile(r"^geo:(-?\d{1,2}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?)$")


@dataclass
class ConsoleChannel:
    engine: DialogEngine
    catalog: Catalog
    user_id: int
    language: str | None = None
    out: TextIO = field(default_factory=lambda: sys.stdout)
    options: list[Button] = field(default_factory=list)

    def render(self, replies: list[Reply], language: str) -> None:
        buttons: list[Button] = []
        for reply in replies:
            self.out.write(self.catalog.render(reply, language) + "\n")
            for row in reply.buttons:
                labels = []
                for button in row:
                    buttons.append(button)
                    labels.append(f"[{len(buttons)}] {self.catalog.label(button, language)}")
                self.out.write("    " + "   ".join(labels) + "\n")
        if buttons:
            self.options = buttons
        self.out.flush()

    def _pressed(self, line: str, language: str) -> Button | None:
        choice = line.strip()
        if choice.isdigit() and 1 <= int(choice) <= len(self.options):
            return self.options[int(choice) - 1]
        for button in self.options:
            if choice and choice == self.catalog.label(button, language).strip():
                return button
        return None

    async def handle_line(self, line: str) -> None:
        language = self.language or self.engine.default_language
        button = self._pressed(line, language)
        geo = GEO_URI.match(line.strip())
        if button is not None:
            turn = Turn(
                channel=Channel.CONSOLE.value,
                user_id=self.user_id,
                language_hint=self.language,
                button=button.value,
            )
        elif geo is not None and abs(float(geo[1])) <= 90 and abs(float(geo[2])) <= 180:
            turn = Turn(
                channel=Channel.CONSOLE.value,
                user_id=self.user_id,
                language_hint=self.language,
                latitude=float(geo[1]),
                longitude=float(geo[2]),
                kind="location",
            )
        else:
            turn = Turn(
                channel=Channel.CONSOLE.value,
                user_id=self.user_id,
                language_hint=self.language,
                text=line.rstrip("\n"),
            )
        replies, language = await self.engine.handle(turn)
        self.language = language
        self.render(replies, language)

    def show_alert(self, alert: OutboxAlert, recipient: Recipient) -> None:
        language = recipient.language
        reply = alert_reply(alert, language)
        account = recipient.person.identity_on(Channel.CONSOLE) if recipient.person is not None else None
        if account is not None and account.external_id == str(self.user_id):
            self.out.write("🔔 ")
            self.render([reply], self.language or language)
            return
        who = recipient.label
        text = self.catalog.render(reply, language).replace("\n", " · ")
        self.out.write(f"\x1b[2m  → {who}: {text}\x1b[0m\n" if self.out.isatty() else f"  → {who}: {text}\n")
        self.out.flush()


@dataclass
class ConsoleNotifier:
    """Delivers alerts to the console: the console user's own as messages with buttons."""

    channel: ConsoleChannel | None = None

    async def send(self, alert: OutboxAlert, recipient: Recipient) -> dict[str, Any]:
        if self.channel is not None:
            self.channel.show_alert(alert, recipient)
        return {"console": recipient.label, "alert": alert.id}

    async def edit(self, delivered: dict[str, Any], alert: OutboxAlert, recipient: Recipient) -> None:
        if self.channel is not None:
            self.channel.show_alert(alert, recipient)


async def read_lines(prompt: str) -> Any:
    """Lines from standard input without blocking the event loop; line editing at a terminal."""
    interactive = sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401 - gives input() line editing and history

    while True:
        try:
            line = (
                await asyncio.to_thread(input, prompt)
                if interactive
                else await asyncio.to_thread(sys.stdin.readline)
            )
        except EOFError:
            return
        if not interactive and line == "":
            return
        yield line.rstrip("\n")
