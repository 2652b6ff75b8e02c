"""Conversation flows, free of Telegram and SQL: plain turns in, plain replies and casework calls out."""
