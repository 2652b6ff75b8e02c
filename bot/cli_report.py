"""``needsbot report``: the service's evaluation (服务评估) for an area and a period, from the trail."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import click

from bot.bootstrap import Needsbot, command
from bot.cli_support import echo_json, run_with_database, settings_of
from casework import indicators
from casework.domain import NotFound, Refusal


@click.group()
def report() -> None:
    """Reports of the service's evaluation."""


@report.command("indicators")
@click.option(
    "--period",
    "period_text",
    default="last-month",
    show_default=True,
    help="2026-11, 2026-Q4, 2026-W48, 2026, 2026-11-01..2026-11-15, this-month, last-week, …",
)
@click.option("--area", "area_code", default=None, help="An area's code: it and everything below it.")
@click.option("--service-type", default=None, help="Only cases of this service type.")
@click.option(
    "--worker", "worker_id", type=int, default=None, help="Only cases this worker holds (person id)."
)
@click.option("--agency", default=None, help="Only cases an agency holds or was referred (its name).")
@click.option(
    "--suppress-below",
    type=int,
    default=0,
    show_default=True,
    help="Leave out figures over fewer cases than this (5 for a report that leaves your area).",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json", "csv", "xlsx", "png"]),
    default="text",
    show_default=True,
)
@click.option(
    "--lang",
    "language",
    type=click.Choice(["zh", "en"]),
    default="zh",
    show_default=True,
    help="The language of a workbook's or a chart's words.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where a workbook or charts are written.",
)
@click.pass_context
def report_indicators(
    ctx: click.Context,
    period_text: str,
    area_code: str | None,
    service_type: str | None,
    worker_id: int | None,
    agency: str | None,
    suppress_below: int,
    output: str,
    language: str,
    output_dir: Path,
) -> None:
    """The indicators of the cases opened in a period: response, crisis, resolution, case files,
    referral, satisfaction, caseload and needs; durations as median and 90th percentile."""
    settings = settings_of(ctx)

    async def work(needsbot: Needsbot) -> indicators.Report:
        organisation_id = None
        if agency is not None:
            async with needsbot.database.transaction() as tx:
                found = await tx.organisations.by_name(agency)
            if found is None:
                raise NotFound(Refusal.ORGANISATION_UNKNOWN, name=agency)
            organisation_id = found.id
        return await indicators.report(
            needsbot.database,
            period_text=period_text,
            now=needsbot.clock.now(),
            timezone=settings.tz,
            area_code=area_code,
            service_type=service_type,
            worker_id=worker_id,
            organisation_id=organisation_id,
            suppress_below=suppress_below,
            weights=needsbot.casework.evaluation.weights,
        )

    result = run_with_database(ctx, command(settings, work))
    if output == "json":
        echo_json(
            {
                "period": {
                    "label": result.scope.label,
                    "from": result.scope.start,
                    "until": result.scope.end,
                },
                "suppressed_below": result.suppressed_below,
                "sections": indicators.plain(result.sections),
            }
        )
    elif output in ("xlsx", "png"):
        from bot import report_files  # matplotlib and openpyxl only when a file is asked for

        for path in report_files.write(result, language, output, output_dir):
            click.echo(str(path))
    elif output == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=indicators.COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(indicators.rows(result))
    else:
        click.echo(
            f"period {result.scope.label}: {result.scope.start:%Y-%m-%d} to {result.scope.end:%Y-%m-%d}"
        )
        for row in indicators.rows(result):
            click.echo(f"  {row['indicator']:<58} {_text(row)}")


def _text(row: dict[str, Any]) -> str:
    if "count" in row:
        return (
            f"n={row['count']}  median {row['median_minutes']} min  p90 {row['p90_minutes']} min"
            f"  max {row['max_minutes']} min"
        )
    if "denominator" in row:
        return f"{row['numerator']}/{row['denominator']}  {row['share'] if row['share'] is not None else '-'}"
    return str(row["value"])
