"""``needsbot oncall``: the crisis on-call list a crisis reaches when nobody nearer acknowledges it."""

from __future__ import annotations

from datetime import time

import click

from bot.bootstrap import Needsbot, command
from bot.cli_support import echo_json, run_with_database, settings_of
from casework import on_call


@click.group("oncall")
def oncall() -> None:
    """The crisis on-call list: who is alerted, and when, once an area's own staff have not answered."""


@oncall.command("add")
@click.argument("person_id", type=int)
@click.option(
    "--hours", default="00:00-24:00", show_default=True, help="Daily hours, local time: 20:00-08:00."
)
@click.option("--area", "area_code", default=None, help="Only crises in this area and below (default: all).")
@click.pass_context
def oncall_add(ctx: click.Context, person_id: int, hours: str, area_code: str | None) -> None:
    """Put PERSON_ID (a social worker, supervisor or admin) on the on-call list."""
    added = run_with_database(
        ctx,
        command(
            settings_of(ctx),
            lambda needsbot: on_call.add(
                needsbot.database,
                person_id=person_id,
                hours=hours,
                area_code=area_code,
                now=needsbot.clock.now(),
                channel=settings_of(ctx).alert_channel,
            ),
        ),
    )
    where = added.area.code if added.area else "all areas"
    click.echo(f"on call {added.entry.id}: person {person_id}, {on_call.hours_label(added.entry)}, {where}")


@oncall.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def oncall_list(ctx: click.Context, as_json: bool) -> None:
    """Show the on-call list and who is on duty now."""
    settings = settings_of(ctx)

    async def listed(needsbot: Needsbot) -> tuple[time, list[on_call.OnCallEntry]]:
        return needsbot.clock.now().astimezone(settings.tz).time(), await on_call.entries(needsbot.database)

    now, found = run_with_database(ctx, command(settings, listed))
    rows = [
        {
            "id": item.entry.id,
            "person_id": item.person.id,
            "name": item.person.display_name,
            "role": item.person.role.value,
            "area": item.area.code if item.area else None,
            "hours": on_call.hours_label(item.entry),
            "on_duty_now": item.entry.on_duty(now),
        }
        for item in found
    ]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("nobody is on call: a crisis nobody in its area answers reaches only the admins")
    for row in rows:
        click.echo(
            f"{row['id']:>4}  person {row['person_id']} {row['name']} ({row['role']})  {row['hours']}  "
            f"{row['area'] or 'all areas'}{'  on duty now' if row['on_duty_now'] else ''}"
        )


@oncall.command("remove")
@click.argument("on_call_id", type=int)
@click.pass_context
def oncall_remove(ctx: click.Context, on_call_id: int) -> None:
    """Take entry ON_CALL_ID off the on-call list."""
    run_with_database(
        ctx, command(settings_of(ctx), lambda needsbot: on_call.remove(needsbot.database, on_call_id))
    )
    click.echo(f"removed on-call entry {on_call_id}")
