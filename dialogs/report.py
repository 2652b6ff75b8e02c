"""A service-evaluation report as staff read it in a chat: its key figures worded, and its files (the
charts and the workbook), the same whether asked for (/evaluation) or sent on a schedule (the weekly
and monthly reports)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from casework.indicators import SUPPRESSED, Durations, Report, Share
from dialogs.catalog import Words
from dialogs.messages import ReportFile, ReportPart


def summary(report: Report) -> dict[str, Any]:
    """The key figures as the ``report.figures`` text's arguments: cases, how soon they were taken up
    and answered, how they ended, how the households rated them, and what waits now. A figure left out
    as too small (a report for a third-party evaluator) reads "fewer than k"."""
    sections = report.sections
    few = Words("report.suppressed", {"k": report.suppressed_below})

    def shown(figure: Any, worded: Callable[[Any], Words | str] = str) -> Words | str:
        if figure == SUPPRESSED:
            return few
        return "-" if figure is None else worded(figure)

    return {
        "cases": shown(sections["response"]["cases"]),
        "claim": shown(sections["response"]["time_to_claim"], duration),
        "claimed_in_time": shown(sections["response"]["claimed_in_time"], share),
        "crisis": shown(sections["crisis"]["acknowledged_within_10_minutes"], share),
        "resolved_in_time": shown(sections["resolution"]["resolved_in_time"], share),
        "assessed": shown(sections["case_files"]["assessed"], share),
        "rating": shown(sections["satisfaction"]["mean"]),
        "rated": shown(sections["satisfaction"]["response_rate"], share),
        "unclaimed": shown(sections["caseload"]["unclaimed"]),
        "improvements": improvements(sections.get("agencies", {})),  # none in a report kept from before
    }


def improvements(agencies: dict[str, Any]) -> Words:
    """The agencies' improvement actions still open, and how many of them are overdue (反馈结果)."""
    counts = [agency["improvements"] for agency in agencies.values()]
    return Words(
        "report.improvements",
        {"open": sum(c["open"] for c in counts), "overdue": sum(c["overdue"] for c in counts)},
    )


def duration(figure: Durations) -> Words | str:
    """Median and 90th percentile in hours; "-" without cases."""
    if figure.median is None or figure.p90 is None:
        return "-"
    return Words("report.duration", {"median": hours(figure.median), "p90": hours(figure.p90)})


def hours(minutes: float) -> str:
    return f"{minutes / 60:.1f}"


def share(figure: Share) -> Words | str:
    if figure.value is None:
        return "-"
    return Words(
        "report.share",
        {"percent": round(100 * figure.value), "n": figure.numerator, "of": figure.denominator},
    )


def files(report: Report) -> tuple[ReportFile, ...]:
    """Every chart of the report, then its workbook."""
    return tuple(ReportFile(report, part) for part in ReportPart)
