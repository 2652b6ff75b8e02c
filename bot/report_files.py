"""The indicators as files people read: a workbook (a sheet a dimension, and the definitions) and charts,
titled and labelled in the report's language, Chinese drawn with a CJK font (Noto Sans CJK, or
WenQuanYi Micro Hei) so that it reads as characters, not boxes.

matplotlib and openpyxl are loaded with the first file drawn, not with the bot: every process that
can send a report imports this module, and most never draw one (loading them takes most of a second)."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any

from casework import indicators
from dialogs.catalog import Catalog
from dialogs.messages import ReportFile, ReportPart

CJK_FONTS = ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei")


@functools.cache
def _pyplot() -> ModuleType:
    """matplotlib's pyplot, drawing to files, never a window."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def cjk_font() -> str | None:
    """The first CJK font this machine has, by family name."""
    _pyplot()
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def workbook(report: indicators.Report, language: str) -> bytes:
    """One sheet a dimension (response, crisis, …), one row a figure; and a sheet of definitions."""
    from openpyxl import Workbook

    catalog = Catalog.load()
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    columns = indicators.COLUMNS
    for section in report.sections:
        sheet = book.create_sheet(section[:31])
        sheet.append([catalog.text(f"report.column.{column}", language) for column in columns])
        for row in indicators.rows(report):
            if row["indicator"].split(".", 1)[0] == section:
                sheet.append([_cell(row.get(column)) for column in columns])
    definitions = book.create_sheet(catalog.text("report.definitions", language)[:31])
    definitions.append(
        [catalog.text("report.column.indicator", language), catalog.text("report.column.says", language)]
    )
    for span in indicators.SPANS:
        definitions.append([span.key, span.says])
    definitions.append(
        ["period", f"{report.scope.label}: {report.scope.start.isoformat()} – {report.scope.end.isoformat()}"]
    )
    if report.suppressed_below:
        definitions.append(["suppressed", f"< {report.suppressed_below}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str) else str(value)


CHARTS = (ReportPart.NEEDS_CHART, ReportPart.TIMES_CHART, ReportPart.SHARES_CHART)


class FileKind(StrEnum):
    PHOTO = "photo"  # shown in the chat
    DOCUMENT = "document"  # a file to open


@dataclass(frozen=True, slots=True)
class Drawn:
    """A report's file as a channel sends it."""

    name: str
    content: bytes
    kind: FileKind


def draw(file: ReportFile, language: str) -> Drawn:
    """One part of a report as a file: a chart as a PNG picture, the workbook as a document."""
    stem = f"indicators-{file.report.scope.label}"
    if file.part is ReportPart.WORKBOOK:
        return Drawn(f"{stem}.xlsx", workbook(file.report, language), FileKind.DOCUMENT)
    return Drawn(f"{stem}-{file.part}.png", chart(file.report, file.part, language), FileKind.PHOTO)


def charts(report: indicators.Report, language: str) -> dict[str, bytes]:
    """Every chart of the report, by name."""
    return {part.value: chart(report, part, language) for part in CHARTS}


def chart(report: indicators.Report, part: ReportPart, language: str) -> bytes:
    """A PNG chart, titled and labelled in ``language``: the needs by service type, how soon cases were
    taken up, first contacted and resolved (median and 90th percentile), or the shares answered in time
    and rated well."""
    catalog = Catalog.load()
    font = cjk_font()
    sections = report.sections
    left_out = catalog.text("report.suppressed", language, k=report.suppressed_below)
    with _pyplot().rc_context({"font.family": [font, "DejaVu Sans"]} if font else None):
        title = catalog.text(f"report.chart.{part}", language, period=report.scope.label)
        if part is ReportPart.NEEDS_CHART:
            needs = sections["needs"]["by_service_type"]
            return _bars(
                title,
                [catalog.text(f"service.{kind}", language) for kind in needs],
                {"": [None if value == indicators.SUPPRESSED else value for value in needs.values()]},
                catalog.text("report.axis.cases", language),
                left_out,
            )
        if part is ReportPart.TIMES_CHART:
            spans = {
                "time_to_claim": sections["response"]["time_to_claim"],
                "time_to_contact": sections["response"]["time_to_contact"],
                "time_to_resolve": sections["resolution"]["time_to_resolve"],
            }
            return _bars(
                title,
                [catalog.text(f"report.span.{name}", language) for name in spans],
                {
                    catalog.text("report.legend.median", language): [
                        _hours(figure, "median") for figure in spans.values()
                    ],
                    catalog.text("report.legend.p90", language): [
                        _hours(figure, "p90") for figure in spans.values()
                    ],
                },
                catalog.text("report.axis.hours", language),
                left_out,
            )
        shares = {
            "report.share.claimed_in_time": sections["response"]["claimed_in_time"],
            "report.share.resolved_in_time": sections["resolution"]["resolved_in_time"],
            "report.share.crisis_in_10_minutes": sections["crisis"]["acknowledged_within_10_minutes"],
            "report.share.rated_4_or_5": sections["satisfaction"]["four_or_five"],
        }
        return _bars(
            title,
            [catalog.text(key, language) for key in shares],
            {
                "": [
                    100 * (figure.value or 0) if isinstance(figure, indicators.Share) else None
                    for figure in shares.values()
                ]
            },
            "%",
            left_out,
        )


def _hours(figure: Any, which: str) -> float | None:
    """A duration's median or p90 in hours: 0 without cases, None when left out as too few."""
    if not isinstance(figure, indicators.Durations):
        return None
    minutes = getattr(figure, which)
    return 0.0 if minutes is None else minutes / 60


def _bars(
    title: str, labels: list[str], series: dict[str, list[float | None]], axis: str, left_out: str = ""
) -> bytes:
    """Bars a label, one beside the other for each named series (a legend when they are named); a
    value left out as too few people (None) is no bar, but ``left_out`` written where it would stand."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        width = 0.8 / len(series)
        for index, (name, values) in enumerate(series.items()):
            places = [x + (index - (len(series) - 1) / 2) * width for x in range(len(labels))]
            heights = [0.0 if value is None else value for value in values]
            axes.bar(places, heights, width, label=name or None, color=_COLOURS[index % len(_COLOURS)])
            for place, value in zip(places, values, strict=True):
                if value is None:
                    axes.text(place, 0, left_out, ha="center", va="bottom", fontsize=8, rotation=90)
        axes.set_xticks(range(len(labels)), labels)
        axes.set_title(title)
        axes.set_ylabel(axis)
        axes.tick_params(axis="x", labelrotation=20)
        if any(series):
            axes.legend()
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(figure)


_COLOURS = ("#3b7dd8", "#f0a030")


def write(report: indicators.Report, language: str, output: str, folder: Path) -> list[Path]:
    """The report in ``output`` ("xlsx" or "png") in ``folder``; the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [ReportPart.WORKBOOK] if output == "xlsx" else list(CHARTS)
    written = []
    for part in parts:
        drawn = draw(ReportFile(report, part), language)
        path = folder / drawn.name
        path.write_bytes(drawn.content)
        written.append(path)
    return written
