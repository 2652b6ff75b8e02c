"""``needsbot`` set-up and running: database, demonstration data, directory, invites, health, run."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click
import redis
import redis.asyncio
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.bootstrap import Needsbot, command
from bot.cli_chat import run_chat, run_telegram
from bot.cli_support import (
    database_problem,
    echo_json,
    fail,
    jsonable,
    local_time,
    prepare_sqlite_directory,
    redacted,
    run_with_database,
    settings_of,
)
from bot.deep_links import deep_link
from casework import directory, on_call
from casework.domain import OPEN_STATUSES, Role, ServiceType
from storage import Database, migrate

# --- database ---------------------------------------------------------------------------------------


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to reach.")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Create or migrate the database schema."""
    settings = settings_of(ctx)
    prepare_sqlite_directory(settings)
    logging.getLogger("alembic").setLevel(logging.INFO)
    try:
        migrate.upgrade(settings.database_url, revision)
    except (OperationalError, DBAPIError, ConnectionError, TimeoutError) as error:
        fail(database_problem(error, settings))
    click.echo(f"database at {redacted(settings.database_url)} is at revision {revision}")


# --- demo data and the directory --------------------------------------------------------------------


@click.group()
def demo() -> None:
    """Demonstration data."""


@demo.command("load")
@click.pass_context
def demo_load(ctx: click.Context) -> None:
    """Load the demonstration district when the database has no areas yet, with its console staff
    unless a Telegram bot token is set (console accounts cannot be reached on Telegram)."""
    console = settings_of(ctx).telegram_bot_token is None
    summary = run_with_database(
        ctx,
        command(
            settings_of(ctx),
            lambda needsbot: directory.load_demo_if_empty(
                needsbot.database, now=needsbot.clock.now(), with_staff=console
            ),
        ),
    )
    if summary is None:
        click.echo("the database already has areas; demonstration data not loaded")
    else:
        click.echo(
            f"loaded demonstration data: {summary.areas_created} areas, "
            f"{summary.organisations_created} organisations"
            + ("" if console else "; no staff: enrol them by invite (needsbot invite create)")
        )


@click.group()
def areas() -> None:
    """Areas: district → street or township → community."""


@areas.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--move", is_flag=True, help="Move areas the file puts under another parent than they have.")
@click.pass_context
def areas_import(ctx: click.Context, file: Path, move: bool) -> None:
    """Create or update areas (and agencies) from a YAML or CSV FILE.

    Levels: district; street or township; community or village. A file with problems imports
    nothing and lists every one. An English name or a location left out is kept as stored."""
    parsed = directory.read_directory_file(file)
    summary = run_with_database(
        ctx,
        command(
            settings_of(ctx),
            lambda needsbot: directory.import_directory(
                needsbot.database, parsed, now=needsbot.clock.now(), move=move
            ),
        ),
    )
    click.echo(
        f"areas: {summary.areas_created} created, {summary.areas_updated} updated; "
        f"organisations: {summary.organisations_created} created, "
        f"{summary.organisations_existing} already there"
    )


@areas.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def areas_list(ctx: click.Context, as_json: bool) -> None:
    """Show the area tree."""

    settings = settings_of(ctx)

    async def covered(needsbot: Needsbot) -> list[on_call.Coverage]:
        local = needsbot.clock.now().astimezone(settings.tz).time()
        return await on_call.coverage(needsbot.database, local, settings.alert_channel)

    found = run_with_database(ctx, command(settings, covered))
    if as_json:
        echo_json(
            [
                {**jsonable(item.area), "crisis_reaches": {"staff": item.staff, "on_call": item.on_call}}
                for item in found
            ]
        )
        return
    children: dict[int | None, list[Any]] = {}
    for item in found:
        children.setdefault(item.area.parent_id, []).append(item)

    def show(parent: int | None, depth: int) -> None:
        for item in children.get(parent, []):
            area = item.area
            where = f"@ {area.location[0]:.5f}, {area.location[1]:.5f}" if area.location else ""
            parts = (area.code, area.name, area.name_en, where, _coverage_note(item))
            click.echo("  " * depth + "  ".join(part for part in parts if part))
            show(area.id, depth + 1)

    show(None, 0)


def _coverage_note(item: on_call.Coverage) -> str:
    """What a crisis there would reach now, when it is not the area's own staff."""
    if item.nobody:
        return "⚠ nobody to alert in a crisis"
    if not item.staff:
        return "⚠ no staff: a crisis reaches " + ("the on-call list" if item.on_call else "the admins only")
    return ""


SERVICE_TYPE = click.Choice([kind.value for kind in ServiceType])


@click.group()
def orgs() -> None:
    """Social work service agencies."""


@orgs.command("add")
@click.option("--name", required=True, help="The agency's name.")
@click.option("--service-type", "service_types", multiple=True, type=SERVICE_TYPE, help="Repeat for each.")
@click.option("--area", "area_codes", multiple=True, help="Code of an area served; repeat for each.")
@click.option("--contact", default="", help="How to reach the agency.")
@click.pass_context
def orgs_add(
    ctx: click.Context, name: str, service_types: tuple[str, ...], area_codes: tuple[str, ...], contact: str
) -> None:
    """Register an agency with the services it offers and the areas it serves."""
    organisation = run_with_database(
        ctx,
        command(
            settings_of(ctx),
            lambda needsbot: directory.add_organisation(
                needsbot.database,
                name=name,
                contact=contact,
                service_types=[ServiceType(kind) for kind in service_types],
                area_codes=area_codes,
                now=needsbot.clock.now(),
            ),
        ),
    )
    click.echo(f"added organisation {organisation.id}: {organisation.name}")


@orgs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def orgs_list(ctx: click.Context, as_json: bool) -> None:
    """List the agencies."""

    async def work(database: Database) -> list[Any]:
        async with database.transaction() as tx:
            return await tx.organisations.list_all()

    found = run_with_database(ctx, work)
    if as_json:
        echo_json(found)
        return
    for organisation in found:
        kinds = ", ".join(sorted(organisation.service_types))
        click.echo(f"{organisation.id:>4}  {organisation.name}  [{kinds}]")


# --- invites -----------------------------------------------------------------------------------------


@click.group()
def invite() -> None:
    """Enrolment invites for volunteers, social workers, supervisors and admins."""


@invite.command("create")
@click.option("--role", required=True, type=click.Choice([role.value for role in directory.INVITE_ROLES]))
@click.option("--area", "area_code", required=True, help="Code of the area the person will serve.")
@click.option("--org", "organisation", default=None, help="Name of the person's agency.")
@click.option("--expires", default="7d", show_default=True, help="Validity: 30m, 12h, 7d, 2w.")
@click.pass_context
def invite_create(
    ctx: click.Context, role: str, area_code: str, organisation: str | None, expires: str
) -> None:
    """Issue a one-time code; the person sends /start CODE to the bot (or opens the deep link)."""
    valid_for = directory.parse_duration(expires)
    settings = settings_of(ctx)
    issued = run_with_database(
        ctx,
        command(
            settings,
            lambda needsbot: directory.create_invite(
                needsbot.database,
                role=Role(role),
                area_code=area_code,
                organisation_name=organisation,
                valid_for=valid_for,
                now=needsbot.clock.now(),
            ),
        ),
    )
    click.echo(f"code:    {issued.code}")
    if settings.telegram_bot_username:
        click.echo(f"link:    {deep_link(settings.telegram_bot_username, issued.code)}")
    else:
        click.echo(
            f"link:    {deep_link('<bot>', issued.code)}  (set TELEGRAM_BOT_USERNAME to fill in <bot>)"
        )
    click.echo(f"role:    {issued.invite.role.value} in {issued.area.name} ({issued.area.code})")
    click.echo(f"expires: {local_time(settings, issued.invite.expires_at)} {settings.timezone}")


# --- tickets -----------------------------------------------------------------------------------------


@click.command("health")
@click.pass_context
def health(ctx: click.Context) -> None:
    """Check that the database is reachable and migrated, and Redis answers when configured."""
    settings = settings_of(ctx)

    warnings: list[str] = []

    async def work(needsbot: Needsbot) -> list[str]:
        database = needsbot.database
        problems = []
        async with database.engine.connect() as connection:
            current = await connection.run_sync(migrate.current_revision)
        if current != migrate.head_revision():
            problems.append(
                f"database is at revision {current}, not {migrate.head_revision()}: run `needsbot db upgrade`"
            )
        nobody = [
            item.area.code
            for item in await on_call.coverage(
                database, needsbot.clock.now().astimezone(settings.tz).time(), settings.alert_channel
            )
            if item.nobody
        ]
        if nobody:
            warnings.append(f"a crisis in {len(nobody)} areas would reach nobody now: {', '.join(nobody)}")
        if settings.redis_url:
            client = redis.asyncio.Redis.from_url(
                settings.redis_url, socket_timeout=3, socket_connect_timeout=3
            )
            try:
                await client.ping()
            except redis.RedisError as error:
                problems.append(f"Redis does not answer ({type(error).__name__})")
            finally:
                await client.aclose()
        return problems

    problems = run_with_database(ctx, command(settings, work))
    for problem in problems:
        click.echo(f"needsbot: {problem}", err=True)
    if problems:
        sys.exit(1)
    # A staffing gap is told, not failed: the bot itself is healthy, and a failing check restarts it.
    for warning in warnings:
        click.echo(f"needsbot: warning: {warning} (needsbot areas list, needsbot oncall add)", err=True)
    click.echo("ok")


# --- running -----------------------------------------------------------------------------------------


@click.command("run")
@click.pass_context
def run(ctx: click.Context) -> None:
    """Start needsbot: the Telegram bot when TELEGRAM_BOT_TOKEN is set, else the console chat."""
    settings = settings_of(ctx)

    async def work(database: Database) -> dict[str, int]:
        async with database.transaction() as tx:
            return {
                "areas": await tx.areas.count(),
                "organisations": await tx.organisations.count(),
                "open tickets": len(await tx.tickets.find(statuses=OPEN_STATUSES)),
            }

    counts = run_with_database(ctx, work)
    click.echo(f"needsbot · database {redacted(settings.database_url)} · time zone {settings.timezone}")
    click.echo("  " + " · ".join(f"{count} {what}" for what, count in counts.items()))
    if settings.telegram_bot_token is not None:
        run_telegram(ctx)
        return
    run_chat(ctx, "recipient", None, None, web=True)
