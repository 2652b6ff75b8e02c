"""The console's evaluation reports (服务评估): the key figures, the three charts and the downloads
(workbook and CSV) of a period and an area, for supervisors, evaluators and admins — the report the
chat's /evaluation gives, read through the same ``Casework.evaluation`` (an evaluator's with every small
figure left out)."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from casework import indicators
from casework.domain import Area, NotFound, Person, Refusal, Role
from casework.service import Casework
from dialogs import report as worded
from dialogs.catalog import Catalog
from dialogs.messages import Reply, ReportPart

PERIODS = ("this-week", "last-week", "this-month", "last-month", "this-quarter", "last-quarter")
CHARTS = (ReportPart.NEEDS_CHART, ReportPart.TIMES_CHART, ReportPart.SHARES_CHART)
# matplotlib's pyplot keeps state of its own: one chart drawn at a time, away from the event loop.
_drawing = asyncio.Lock()


@dataclass(frozen=True, slots=True)
class Asked:
    """The report a page asks for: a period and one of the reader's areas."""

    period: str
    area: Area
    areas: list[Area]


async def asked(casework: Casework, person: Person, request: Request) -> Asked:
    """The period and area the address asks for, else this month and the reader's first area;
    ``Forbidden`` for someone who reads no evaluation, ``NotFound`` for one given no areas."""
    areas = await casework.evaluation.areas_for(person)
    period = request.query_params.get("period", "this-month")
    if period not in PERIODS:
        period = "this-month"
    wanted = request.query_params.get("area", "")
    area = next((area for area in areas if str(area.id) == wanted), areas[0] if areas else None)
    if area is None:
        raise NotFound(Refusal.REPORT_NO_AREAS)
    return Asked(period, area, areas)


class RecentReports:
    """Reports computed in the last ``KEPT_FOR`` seconds, shared by everyone who may read them: a
    report over a district takes a second to compute, and its page, its three charts and its downloads
    each ask for it, as do the area's other supervisors. The reader's access was checked by ``asked``
    (the area is one of theirs); what they may see of it (an evaluator's small figures left out) is
    part of the key."""

    KEPT_FOR = 60.0
    KEPT = 32

    def __init__(self) -> None:
        # Each report as it is being computed or was: those who ask meanwhile wait for the same one.
        self._kept: dict[tuple[str, int, bool], tuple[float, asyncio.Task[indicators.Report]]] = {}

    async def read(
        self, casework: Casework, person: Person, request: Request
    ) -> tuple[Asked, indicators.Report]:
        """The report the address asks for, and what it asked."""
        wanted = await asked(casework, person, request)
        return wanted, await self.report(casework, person, wanted)

    async def report(self, casework: Casework, person: Person, wanted: Asked) -> indicators.Report:
        key = (wanted.period, wanted.area.id, person.role is Role.EVALUATOR)
        kept = self._kept.get(key)
        if kept is None or time.monotonic() - kept[0] >= self.KEPT_FOR:
            if len(self._kept) >= self.KEPT:
                self._kept.pop(min(self._kept, key=lambda each: self._kept[each][0]))
            computing = asyncio.ensure_future(
                casework.evaluation.report(person, wanted.period, wanted.area.id)
            )
            kept = (time.monotonic(), computing)
            self._kept[key] = kept
        try:
            return await asyncio.shield(kept[1])
        except Exception:
            if self._kept.get(key) is kept:
                del self._kept[key]  # a failure is not kept: the next reader asks again
            raise


def summary_text(catalog: Catalog, found: indicators.Report, wanted: Asked, language: str) -> str:
    reply = Reply(
        "report.figures",
        {
            **worded.summary(found),
            "area": wanted.area.label(language),
            "period": f"report.period.{wanted.period}",
        },
    )
    return catalog.render(reply, language)


async def chart_png(found: indicators.Report, part: ReportPart, language: str) -> bytes:
    from bot import report_files  # matplotlib only when a chart is asked for

    async with _drawing:
        return await asyncio.to_thread(report_files.chart, found, part, language)


async def workbook(found: indicators.Report, language: str) -> bytes:
    from bot import report_files

    return await asyncio.to_thread(report_files.workbook, found, language)


def csv_text(found: indicators.Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=indicators.COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(indicators.rows(found))
    return out.getvalue()


def download(content: bytes | str, name: str, media_type: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
