"""Channels (Telegram and the console), configuration, wiring and the command line."""
