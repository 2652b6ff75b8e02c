"""One thing a person did in a channel, in plain terms."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

# Control characters but tab and line breaks (a NUL is refused by PostgreSQL in any text), and
# surrogates standing alone (no character; they cannot be encoded, so every later step would fail).
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """What a person typed, as text every part of the bot can store and read: control characters
    dropped, a lone surrogate shown as the replacement character (U+FFFD)."""
    return _LONE_SURROGATE.sub("\ufffd", _UNWRITABLE.sub("", text))


@dataclass(frozen=True, slots=True)
class Turn:
    channel: str  # a ``Channel`` value: "telegram" or "console"
    user_id: int  # the person's account on that channel (their identity there, as a number)
    display_name: str = ""
    language_hint: str | None = None  # e.g. the Telegram client's language
    text: str | None = None
    button: str | None = None  # the value of a pressed button
    phone: str | None = None  # a shared contact's number
    latitude: float | None = None
    longitude: float | None = None
    kind: str | None = None  # a message the bot cannot read: "photo", "voice", "sticker", …

    def __post_init__(self) -> None:
        """Whatever the channel, its words are cleaned once, here (``clean_text``)."""
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, str):
                object.__setattr__(self, field.name, clean_text(value))

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
