"""One thing a person did in a channel, in plain terms."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Turn:
    channel: str  # "telegram" or "console"
    user_id: int  # the person's id in that channel
    display_name: str = ""
    language_hint: str | None = None  # e.g. the Telegram client's language
    text: str | None = None
    button: str | None = None  # the value of a pressed button
    phone: str | None = None  # a shared contact's number
    latitude: float | None = None
    longitude: float | None = None
    kind: str | None = None  # a message the bot cannot read: "photo", "voice", "sticker", …

    @property
    def command(self) -> tuple[str, str] | None:
        """``/report now`` → ("report", "now")."""
        if self.text is None or not self.text.startswith("/"):
            return None
        head, _, rest = self.text[1:].partition(" ")
        return head.split("@", 1)[0].lower(), rest.strip()

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.user_id}"
