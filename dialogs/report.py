"""A service-evaluation report as staff read it in a chat: its key figures worded, and its files (the
charts and the workbook), the same whether asked for (/evaluation) or sent on a schedule (the weekly
and monthly reports)."""

from __future__ import annotations

from typing import Any

from casework.indicators import Durations, Report, Share
from dialogs.catalog import Words
from dialogs.messages import ReportFile, ReportPart


def summary(report: Report) -> dict[str, Any]:
    """The key figures as the ``report.summary`` text's arguments: cases, how soon they were taken up
    and answered, how they ended, how the households rated them, and what waits now."""
    sections = report.sections
    mean = sections["satisfaction"]["mean"]
    return {
        "cases": sections["response"]["cases"],
        "claim": duration(sections["response"]["time_to_claim"]),
        "claimed_in_time": share(sections["response"]["claimed_in_time"]),
        "crisis": share(sections["crisis"]["acknowledged_within_10_minutes"]),
        "resolved_in_time": share(sections["resolution"]["resolved_in_time"]),
        "assessed": share(sections["case_files"]["assessed"]),
        "rating": "-" if mean is None else mean,
        "rated": share(sections["satisfaction"]["response_rate"]),
        "unclaimed": sections["caseload"]["unclaimed"],
    }


def duration(figure: Durations | str) -> Words | str:
    """Median and 90th percentile in hours; "-" without cases (or suppressed, a report's small cell)."""
    if not isinstance(figure, Durations) or figure.median is None or figure.p90 is None:
        return "-"
    return Words("report.duration", {"median": hours(figure.median), "p90": hours(figure.p90)})


def hours(minutes: float) -> str:
    return f"{minutes / 60:.1f}"


def share(figure: Share | str) -> Words | str:
    if not isinstance(figure, Share) or figure.value is None:
        return "-"
    return Words(
        "report.share",
        {"percent": round(100 * figure.value), "n": figure.numerator, "of": figure.denominator},
    )


def files(report: Report) -> tuple[ReportFile, ...]:
    """Every chart of the report, then its workbook."""
    return tuple(ReportFile(report, part) for part in ReportPart)
