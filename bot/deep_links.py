"""Telegram's addresses for the bot: the link that opens a chat with it and starts it with a code."""

from __future__ import annotations


def deep_link(bot_username: str, code: str) -> str:
    """The Telegram link that opens a chat with the bot and sends it ``/start <code>``."""
    return f"https://t.me/{bot_username}?start={code}"
