"""``needsbot chat``: the conversations in a terminal, and ``needsbot run``'s choice of channel."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click
from telegram.error import InvalidToken, NetworkError

from bot.bootstrap import Needsbot, bootstrap
from bot.cli_support import fail, run_with_database, settings_of
from bot.console import ConsoleChannel, ConsoleNotifier, follow_alerts, read_lines
from bot.http_serving import CannotListen, bind, serve_http
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


def run_chat(
    ctx: click.Context, role: str, user_id: int | None, language: str | None, *, web: bool = False
) -> None:
    """The console chat; with ``web``, the web console beside it on WEB_LISTEN:WEB_PORT."""
    settings = settings_of(ctx)
    account = user_id if user_id is not None else CONSOLE_USERS[role]

    async def run(database: Database) -> None:
        notifier = ConsoleNotifier()
        needsbot = bootstrap(settings, database=database, notifier=notifier, web=web)
        conversations = needsbot.conversations
        assert conversations is not None
        following: asyncio.Task[None] | None = None
        console_stop = asyncio.Event()
        serving: asyncio.Task[None] | None = None
        try:
            me = await directory.console_person(
                database, account, CONSOLE_ROLES[role], now=needsbot.clock.now()
            )
            await needsbot.start()
            if web:
                serving = await _web_console_beside(needsbot, console_stop)
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
            console_stop.set()
            if serving is not None:
                await serving
            await needsbot.stop()

    run_with_database(ctx, run)


async def _web_console_beside(needsbot: Needsbot, stop: asyncio.Event) -> asyncio.Task[None] | None:
    """The web console served until ``stop``, on WEB_LISTEN:WEB_PORT, and a sign-in link for the
    demonstration's supervisor printed; None (and a line saying why) when the port is taken."""
    from bot.web import WebSignInLinks, console_app

    settings = needsbot.settings
    try:
        sock = bind(settings.web_listen, settings.web_port)
    except CannotListen as error:
        click.echo(f"web console not started: {error.strerror}")
        return None
    supervisor = await directory.console_person(
        needsbot.database, CONSOLE_USERS["supervisor"], Role.SUPERVISOR, now=needsbot.clock.now()
    )
    link = await WebSignInLinks(needsbot.staff_sign_in, settings.web_address).sign_in_link(supervisor)
    click.echo(f"web console on {settings.web_address}")
    click.echo(f"  sign in as the demonstration's supervisor (once, within 10 minutes): {link}")
    click.echo(
        "  a new link: /web in this chat as a worker or supervisor, or `needsbot web link --as supervisor`"
    )
    return asyncio.create_task(serve_http(console_app(needsbot), sock, stop))


def run_telegram(ctx: click.Context) -> None:
    """The Telegram bot until interrupted (Ctrl-C or SIGTERM); with WEB_BASE_URL, the web console
    beside it."""
    settings = settings_of(ctx)

    async def run(database: Database) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        mode = "webhook" if settings.webhook_url else "long polling"
        click.echo(f"needsbot on Telegram ({mode}) · Ctrl-C to stop")
        web = settings.web_base_url is not None
        needsbot = bootstrap(settings, database=database, telegram=True, web=web)
        if web:
            from bot.web import console_app

            where = (
                f"{settings.webhook_listen}:{settings.webhook_port}, beside the webhook"
                if settings.webhook_url
                else f"{settings.web_listen}:{settings.web_port}"
            )
            click.echo(f"web console on {settings.web_address} ({where})")
        try:
            await serve(needsbot, stop, console=console_app(needsbot) if web else None)
        except CannotListen as error:
            fail(str(error.strerror), 1)
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
