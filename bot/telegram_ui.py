"""Replies as Telegram messages: plain text cut to Telegram's length, buttons as signed inline keyboards,
a report's charts as pictures and its workbook as a document.

Callback data is the button's value followed by a short HMAC over the chat and the value, so a press
is only taken if this bot made that button for that chat: data typed by hand, altered, or copied to
another chat is refused. (Buttons of a question since answered are the dialog engine's business: it
recognises them as stale.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

from bot import report_files
from bot.report_files import Drawn
from dialogs.catalog import Catalog
from dialogs.messages import Reply, ReportFile

MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)  # 4,096 characters
MAX_DATA = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # 64 bytes
_SEPARATOR = "~"
_MAC_BYTES = 8  # 11 characters of base64: 2^64 guesses to forge one press
MAX_VALUE = MAX_DATA - len(_SEPARATOR) - 11  # what a button's own value may take: 52 bytes


class CallbackSigner:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"needsbot callback data\x00" + secret).digest()

    @classmethod
    def for_token(cls, token: str) -> CallbackSigner:
        return cls(token.encode())

    def _mac(self, chat_id: int, value: str) -> str:
        digest = hmac.new(self._key, f"{chat_id}\x00{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode().rstrip("=")

    def sign(self, chat_id: int, value: str) -> str:
        if len(value.encode()) > MAX_VALUE:
            raise ValueError(f"button value of {len(value.encode())} bytes is over {MAX_VALUE}")
        return f"{value}{_SEPARATOR}{self._mac(chat_id, value)}"

    def verify(self, chat_id: int, data: str | None) -> str | None:
        """The button's value, or None when the data was not made by this bot for this chat."""
        if not data or _SEPARATOR not in data:
            return None
        value, _, mac = data.rpartition(_SEPARATOR)
        return value if hmac.compare_digest(mac, self._mac(chat_id, value)) else None


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at a paragraph, else a line, else a space."""
    pieces: list[str] = []
    rest = text.strip("\n")
    while len(rest) > limit:
        window = rest[:limit]
        cut = window.rfind("\n\n")
        for separator in ("\n", " "):
            if cut < limit // 2:
                cut = window.rfind(separator)
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest or not pieces:
        pieces.append(rest)
    return pieces


@dataclass(frozen=True, slots=True)
class Message:
    text: str  # with a file, its caption
    markup: InlineKeyboardMarkup | None = None
    file: Drawn | None = None


@dataclass(frozen=True, slots=True)
class Renderer:
    catalog: Catalog
    signer: CallbackSigner

    def keyboard(self, reply: Reply, chat_id: int, language: str) -> InlineKeyboardMarkup | None:
        if not reply.buttons:
            return None
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        self.catalog.label(button, language),
                        callback_data=self.signer.sign(chat_id, button.value),
                    )
                    for button in row
                ]
                for row in reply.buttons
            ]
        )

    def messages(self, replies: Sequence[Reply], chat_id: int, language: str) -> list[Message]:
        """Replies as Telegram messages. A reply without buttons runs on into the next reply's message,
        so a turn arrives as one message (one notification) up to each question, with its buttons under
        it; text too long for one message is split, the buttons under the last piece."""
        found: list[Message] = []
        texts: list[str] = []
        for index, reply in enumerate(replies):
            texts.append(self.catalog.render(reply, language))
            if reply.buttons or reply.files or index == len(replies) - 1:
                *before, last = split_text("\n\n".join(texts))
                found.extend(Message(piece) for piece in before)
                found.append(Message(last, self.keyboard(reply, chat_id, language)))
                found.extend(self.file(file, language) for file in reply.files)
                texts = []
        return found

    def file(self, file: ReportFile, language: str) -> Message:
        """A report's file as a message: a chart as a picture, the workbook as a captioned document."""
        drawn = report_files.draw(file, language)
        caption = ""
        if drawn.kind is report_files.FileKind.DOCUMENT:
            caption = self.catalog.text("report.workbook_caption", language, period=file.report.scope.label)
        return Message(caption, file=drawn)

    def text(self, key: str, language: str, **args: object) -> str:
        return self.catalog.text(key, language, **args)
