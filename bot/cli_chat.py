"""``needsbot chat``: the conversations in a terminal, and ``needsbot run``'s choice of channel."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click
from telegram.error import InvalidToken, NetworkError

from bot.bootstrap import bootstrap
from bot.cli_support import fail, run_with_database, settings_of
from bot.console import ConsoleChannel, ConsoleNotifier, follow_alerts, read_lines
from bot.telegram_bot import serve
from casework import directory
from casework.domain import Role
from storage import Database

CONSOLE_ROLES = {
    "recipient": Role.RECIPIENT,
    "volunteer": Role.VOLUNTEER,
    "worker": Role.SOCIAL_WORKER,
    "supervisor": Role.SUPERVISOR,
    "evaluator": Role.EVALUATOR,
}
# Each role's console account, unless --user names another.
CONSOLE_USERS = {
    "recipient": 900_001,
    "volunteer": 900_002,
    "worker": 900_003,
    "supervisor": 900_004,
    "evaluator": 900_005,
}


def run_chat(ctx: click.Context, role: str, user_id: int | None, language: str | None) -> None:
    settings = settings_of(ctx)
    account = user_id if user_id is not None else CONSOLE_USERS[role]

    async def run(database: Database) -> None:
        notifier = ConsoleNotifier()
        needsbot = bootstrap(settings, database=database, notifier=notifier)
        conversations = needsbot.conversations
        assert conversations is not None
        following: asyncio.Task[None] | None = None
        try:
            me = await directory.console_person(
                database, account, CONSOLE_ROLES[role], now=needsbot.clock.now()
            )
            await needsbot.start()
            channel = ConsoleChannel(conversations.engine, conversations.catalog, account, language)
            notifier.channel = channel
            following = asyncio.create_task(follow_alerts(channel, database, me.id, needsbot.clock))
            click.echo(f"needsbot console · {role} #{account} · /help for the menu, Ctrl-D to leave")
            async for line in read_lines("> "):
                await channel.handle_line(line)
            await asyncio.sleep(1.0)  # alerts the last message queued
        finally:
            if following is not None:
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await following
            await needsbot.stop()

    run_with_database(ctx, run)


def run_telegram(ctx: click.Context) -> None:
    """The Telegram bot until interrupted (Ctrl-C or SIGTERM)."""
    settings = settings_of(ctx)

    async def run(database: Database) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        mode = "webhook" if settings.webhook_url else "long polling"
        click.echo(f"needsbot on Telegram ({mode}) · Ctrl-C to stop")
        try:
            await serve(bootstrap(settings, database=database, telegram=True), stop)
        except InvalidToken:
            fail("Telegram refused TELEGRAM_BOT_TOKEN: check the token BotFather gave you", 2)
        except NetworkError as error:
            where = settings.telegram_api_base_url or "api.telegram.org"
            fail(f"cannot reach the Telegram Bot API at {where} ({type(error).__name__})", 1)

    run_with_database(ctx, run)


@click.command("chat")
@click.option("--as", "role", type=click.Choice(list(CONSOLE_ROLES)), default="recipient", show_default=True)
@click.option("--user", "user_id", type=int, default=None, help="Console account id (default: one per role).")
@click.option(
    "--lang", "language", type=click.Choice(["zh", "en"]), default=None, help="Language to start in."
)
@click.pass_context
def chat(ctx: click.Context, role: str, user_id: int | None, language: str | None) -> None:
    """Talk to needsbot in the terminal, as a resident, volunteer, social worker or supervisor."""
    run_chat(ctx, role, user_id, language)
