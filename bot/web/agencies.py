"""Agencies evaluated in the console (三方评价) and the improvement actions asked of them, as the
chat's ``/agency_evaluation`` and ``/improvements`` do: an agency's own staff, a supervisor, an
evaluator or an admin scores an agency over a period in their voice; those evaluating it from outside
raise improvement actions (its staff are told); any of them marks one done. Each is
``Casework.agency_reviews``'s, which decides who may speak for or of which agency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.web.console import Console, day, field, filled_in, status_of
from bot.web.sessions import Endpoint, Staff, StaffEndpoint
from casework.agency_review import RAISERS
from casework.domain import AGENCY_SCORES, AgencyCriterion, DomainError
from dialogs.flows.agency import PERIODS

DONE = frozenset({"evaluated", "raised", "raised_nobody", "closed"})


def agency_routes(console: Console, guard: Callable[[StaffEndpoint], Endpoint]) -> list[BaseRoute]:
    reviews = console.casework.agency_reviews
    catalog = console.catalog

    async def page(
        request: Request,
        staff: Staff,
        *,
        error: DomainError | None = None,
        entered: dict[str, Any] | None = None,
    ) -> Response:
        agencies = await reviews.agencies_for(staff.person)
        done = request.query_params.get("done")
        return console.staff_page(
            request,
            staff,
            "agencies.html",
            status_code=status_of(error) if error is not None else 200,
            agencies=agencies,
            actions=await reviews.actions_for(staff.person),
            today=console.casework.today(),
            periods=PERIODS,
            criteria=list(AgencyCriterion),
            scores=list(AGENCY_SCORES),
            raises=staff.person.role in RAISERS,
            done=done if done in DONE else None,
            error=catalog.refusal(error, staff.language) if error is not None else None,
            entered=entered or {},
        )

    async def show(request: Request, staff: Staff) -> Response:
        return await page(request, staff)

    async def evaluate(request: Request, staff: Staff) -> Response:
        form = await request.form()
        period = field(form, "period")
        if period not in PERIODS:
            raise HTTPException(400)
        scores = {}
        for criterion in AgencyCriterion:
            score = field(form, criterion.value)
            if score.isdigit():
                scores[criterion] = int(score)
        try:
            await reviews.evaluate(
                staff.person, _number(form, "agency"), period, scores, field(form, "comment")
            )
        except DomainError as error:
            return await page(request, staff, error=error, entered=filled_in(form))
        return RedirectResponse("/agencies?done=evaluated", status_code=303)

    async def raise_action(request: Request, staff: Staff) -> Response:
        form = await request.form()
        due = day(field(form, "due")) or date.min  # none given: no date is after today
        try:
            _, told = await reviews.raise_action(
                staff.person, _number(form, "agency"), field(form, "what"), due
            )
        except DomainError as error:
            return await page(request, staff, error=error, entered=filled_in(form))
        return RedirectResponse(f"/agencies?done={'raised' if told else 'raised_nobody'}", status_code=303)

    async def close_action(request: Request, staff: Staff) -> Response:
        form = await request.form()
        try:
            await reviews.close_action(staff.person, request.path_params["action_id"], field(form, "note"))
        except DomainError as error:
            return await page(request, staff, error=error)
        return RedirectResponse("/agencies?done=closed", status_code=303)

    return [
        Route("/agencies", guard(show), methods=["GET"]),
        Route("/agencies/evaluate", guard(evaluate), methods=["POST"]),
        Route("/agencies/improvements", guard(raise_action), methods=["POST"]),
        Route("/agencies/improvements/{action_id:int}/done", guard(close_action), methods=["POST"]),
    ]


def _number(form: FormData, name: str) -> int:
    value = field(form, name)
    if not value.isdigit():
        raise HTTPException(400)
    return int(value)
