"""The indicators as files people read: a workbook (a sheet a dimension, and the definitions) and charts,
titled and labelled in the report's language, Chinese drawn with a CJK font (Noto Sans CJK, or
WenQuanYi Micro Hei) so that it reads as characters, not boxes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files, never a window

from matplotlib import font_manager
from matplotlib import pyplot as plt
from openpyxl import Workbook

from casework import indicators
from dialogs.catalog import Catalog

CJK_FONTS = ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei")


def cjk_font() -> str | None:
    """The first CJK font this machine has, by family name."""
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def workbook(report: indicators.Report, language: str) -> bytes:
    """One sheet a dimension (response, crisis, …), one row a figure; and a sheet of definitions."""
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


def charts(report: indicators.Report, language: str) -> dict[str, bytes]:
    """PNG charts: the needs by service type, how soon cases were answered, and the ratings by service
    type; each titled and labelled in ``language``."""
    catalog = Catalog.load()
    font = cjk_font()
    found: dict[str, bytes] = {}
    with plt.rc_context({"font.family": [font, "DejaVu Sans"]} if font else None):
        needs = report.sections["needs"]["by_service_type"]
        found["needs"] = _bar(
            catalog.text("report.chart.needs", language, period=report.scope.label),
            [catalog.text(f"service.{kind}", language) for kind in needs],
            [value if isinstance(value, int) else 0 for value in needs.values()],
            catalog.text("report.axis.cases", language),
        )
        shares = {
            "report.share.claimed_in_time": report.sections["response"]["claimed_in_time"],
            "report.share.resolved_in_time": report.sections["resolution"]["resolved_in_time"],
            "report.share.crisis_in_10_minutes": report.sections["crisis"]["acknowledged_within_10_minutes"],
            "report.share.rated_4_or_5": report.sections["satisfaction"]["four_or_five"],
        }
        found["shares"] = _bar(
            catalog.text("report.chart.shares", language, period=report.scope.label),
            [catalog.text(key, language) for key in shares],
            [
                100 * (figure.value or 0) if isinstance(figure, indicators.Share) else 0
                for figure in shares.values()
            ],
            "%",
        )
    return found


def _bar(title: str, labels: list[str], values: list[float], axis: str) -> bytes:
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        axes.bar(labels, values, color="#3b7dd8")
        axes.set_title(title)
        axes.set_ylabel(axis)
        axes.tick_params(axis="x", labelrotation=20)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(figure)


def write(report: indicators.Report, language: str, output: str, folder: Path) -> list[Path]:
    """The report in ``output`` ("xlsx" or "png") in ``folder``; the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"indicators-{report.scope.label}"
    if output == "xlsx":
        path = folder / f"{stem}.xlsx"
        path.write_bytes(workbook(report, language))
        return [path]
    written = []
    for name, png in charts(report, language).items():
        path = folder / f"{stem}-{name}.png"
        path.write_bytes(png)
        written.append(path)
    return written
