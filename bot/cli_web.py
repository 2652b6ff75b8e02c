"""``needsbot web``: the staff's web console on its own, sign-in links for it, and its sessions."""

from __future__ import annotations

import asyncio
import signal

import click

from bot.bootstrap import Needsbot, bootstrap, command
from bot.cli_chat import CONSOLE_ROLES, CONSOLE_USERS
from bot.cli_support import fail, run_with_database, settings_of
from casework import directory
from storage import Database


@click.group("web", invoke_without_command=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes serving the console (one a core is usual).",
)
@click.pass_context
def web(ctx: click.Context, workers: int) -> None:
    """Serve the web console on WEB_LISTEN:WEB_PORT (reached at WEB_BASE_URL) until interrupted."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_of(ctx)
    if workers > 1:
        import uvicorn

        click.echo(f"needsbot web console on {settings.web_address}, {workers} workers · Ctrl-C to stop")
        uvicorn.run(
            "bot.web:worker_app",
            factory=True,
            host=settings.web_listen,
            port=settings.web_port,
            workers=workers,
            lifespan="on",
            log_level="warning",
            access_log=False,
            proxy_headers=True,
        )
        return

    async def run(database: Database) -> None:
        from bot.http_serving import CannotListen, bind, serve_http
        from bot.web import console_app

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            sock = bind(settings.web_listen, settings.web_port)
        except CannotListen as error:
            fail(str(error.strerror))
        # The console alone runs no scheduler and delivers no alerts: the alerts its pages queue wait in
        # the outbox for the bot's workers, which poll it.
        needsbot = bootstrap(settings, database=database, conversations=False)
        try:
            click.echo(f"needsbot web console on {settings.web_address} · Ctrl-C to stop")
            await serve_http(console_app(needsbot), sock, stop)
        finally:
            await needsbot.stop()

    run_with_database(ctx, run)


@web.command("link")
@click.option("--person", "person_id", type=int, default=None, help="The staff member's person id.")
@click.option(
    "--as",
    "role",
    type=click.Choice(["worker", "supervisor", "evaluator"]),
    default=None,
    help="The console account of this role (the demonstration's).",
)
@click.pass_context
def link(ctx: click.Context, person_id: int | None, role: str | None) -> None:
    """Print a one-time sign-in link (valid 10 minutes) for a staff member."""
    if (person_id is None) == (role is None):
        fail("give --person ID or --as ROLE")
    settings = settings_of(ctx)

    async def work(needsbot: Needsbot) -> str:
        from bot.web import WebSignInLinks

        if role is not None:
            person = await directory.console_person(
                needsbot.database, CONSOLE_USERS[role], CONSOLE_ROLES[role], now=needsbot.clock.now()
            )
        else:
            assert person_id is not None
            person = await needsbot.people.get(person_id)
        return await WebSignInLinks(needsbot.staff_sign_in, settings.web_address).sign_in_link(person)

    click.echo(run_with_database(ctx, command(settings, work)))


@web.group("sessions")
def sessions() -> None:
    """The console's sessions."""


@sessions.command("revoke")
@click.argument("person_id", type=int)
@click.pass_context
def revoke(ctx: click.Context, person_id: int) -> None:
    """Sign a person out of the web console everywhere."""
    settings = settings_of(ctx)

    async def work(needsbot: Needsbot) -> int:
        await needsbot.people.get(person_id)  # refused when nobody has the id
        return await needsbot.staff_sign_in.revoke(person_id)

    ended = run_with_database(ctx, command(settings, work))
    click.echo(f"{ended} session(s) of person #{person_id} ended")
