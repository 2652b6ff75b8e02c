"""The console channel: the same conversations in a terminal, buttons as numbered options.

Lines are read from standard input, so a script can drive it through a pipe; at a terminal the line
is edited with readline. Alerts delivered to the console user are printed as they arrive, whichever
process delivered them (read from the outbox); alerts this process delivers to other people are shown
as one dim line, so routing can be watched.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import string
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bot import report_files
from casework.clock import Clock
from casework.domain import Channel, OutboxAlert
from casework.notify import Recipient
from dialogs.alerts import alert_reply
from dialogs.catalog import Catalog
from dialogs.engine import DialogEngine
from dialogs.messages import Button, Reply, ReportFile
from dialogs.turn import Turn
from storage import Database

# A shared location, typed as a geo URI (RFC 5870): ``geo:30.556,114.315``.
GEO_URI = re.compile(r"^geo:(-?\d{1,2}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?)$")


@dataclass
class ConsoleChannel:
    engine: DialogEngine
    catalog: Catalog
    user_id: int
    language: str | None = None
    out: TextIO = field(default_factory=lambda: sys.stdout)
    options: dict[str, Button] = field(default_factory=dict)
    files: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "needsbot-files")

    def render(self, replies: list[Reply], language: str) -> None:
        """The replies, each button numbered, or lettered when the buttons are themselves numbers
        (a household's size): typing 6 then answers six, not the sixth button."""
        buttons = [button for reply in replies for row in reply.buttons for button in row]
        labels = [self.catalog.label(button, language) for button in buttons]
        numbers = any(label.strip()[:1].isdigit() for label in labels)
        keys = [string.ascii_lowercase[i % 26] if numbers else str(i + 1) for i in range(len(buttons))]
        shown = iter(zip(keys, labels, strict=True))
        for reply in replies:
            self.out.write(self.catalog.render(reply, language) + "\n")
            for row in reply.buttons:
                self.out.write(
                    "    "
                    + "   ".join(f"[{key}] {label}" for key, label in itertools.islice(shown, len(row)))
                    + "\n"
                )
            for file in reply.files:
                self.out.write(f"📎 {self._written(file, language)}\n")
        if buttons:
            self.options = dict(zip(keys, buttons, strict=True))
        self.out.flush()

    def _written(self, file: ReportFile, language: str) -> Path:
        """A report's file, drawn into ``files``: a terminal shows where, not the picture."""
        drawn = report_files.draw(file, language)
        self.files.mkdir(parents=True, exist_ok=True)
        path = self.files / drawn.name
        path.write_bytes(drawn.content)
        return path

    def _pressed(self, line: str, language: str) -> Button | None:
        """The button a line names by its key or its label (in any case)."""
        choice = line.strip().casefold()
        if choice in self.options:
            return self.options[choice]
        for button in self.options.values():
            if choice and choice == self.catalog.label(button, language).strip().casefold():
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

    def show_own(self, alert: OutboxAlert) -> None:
        """An alert delivered to this console's own user, with its buttons."""
        language = self.language or self.engine.default_language
        self.out.write("🔔 ")
        self.render([alert_reply(alert, language)], language)

    def show_routed(self, alert: OutboxAlert, recipient: Recipient) -> None:
        """An alert this process delivered to someone else, as one dim line (never the console user's
        own: ``follow_alerts`` shows those, whichever process delivered them)."""
        account = recipient.person.identity_on(Channel.CONSOLE) if recipient.person is not None else None
        if account is not None and account.external_id == str(self.user_id):
            return
        text = self.catalog.render(alert_reply(alert, recipient.language), recipient.language).replace(
            "\n", " · "
        )
        line = f"  → {recipient.label}: {text}"
        self.out.write(f"\x1b[2m{line}\x1b[0m\n" if self.out.isatty() else f"{line}\n")
        self.out.flush()


async def follow_alerts(
    channel: ConsoleChannel, database: Database, person_id: int, clock: Clock, *, every: float = 0.5
) -> None:
    """Show the console user the alerts delivered to them from now on, whichever process delivered
    them (another console's, the scheduler's), until cancelled."""
    since = clock.now()
    shown: set[int] = set()
    while True:
        await asyncio.sleep(every)
        async with database.transaction() as tx:
            alerts = await tx.outbox.sent_to(person_id, since=since)
        for alert in alerts:
            if alert.id not in shown:
                shown.add(alert.id)
                channel.show_own(alert)


@dataclass
class ConsoleNotifier:
    """Delivers alerts to console users: marked delivered in the outbox, where each console reads its
    own user's (``follow_alerts``); others' are shown here as a line, so routing can be watched."""

    channel: ConsoleChannel | None = None

    async def send(self, alert: OutboxAlert, recipient: Recipient) -> dict[str, Any]:
        if self.channel is not None:
            self.channel.show_routed(alert, recipient)
        return {"console": recipient.label, "alert": alert.id}

    async def edit(self, delivered: dict[str, Any], alert: OutboxAlert, recipient: Recipient) -> None:
        if self.channel is not None:
            self.channel.show_routed(alert, recipient)


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
