"""The household's case file in the console: read in full (the reading on the case's trail), and
recorded to by whoever holds the case, as in the chat: an assessment (the whole form on one page,
started from the latest version's answers), the plan's goals and how each goes, and the plan's
reviews. Every record is ``Casework``'s; a refused one gives the form back as it was filled in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.web.console import Console, choice, day, field, filled_in, status_of
from bot.web.sessions import Endpoint, Staff, StaffEndpoint
from casework.assessment_form import GROUP_LIMIT, Form, Kind, Question
from casework.case_file import CaseFile, NewGoal
from casework.domain import DomainError, GoalOwner, GoalStatus, Progress, ServiceType
from casework.lifecycle import Step
from casework.next_steps import NextStep, file_offers
from dialogs.flows.assessment import answers_in_words
from dialogs.flows.plan import REVIEW_WEEKS, goal_words

# What the file page says was just done (``?done=``), by the record.
DONE = frozenset({"assess", "add_goal", "goal", "review", "last_review"})
EMPTY_MEMBER_ROWS = 2  # blank rows under a household's members, for those not yet on the form


def case_file_routes(console: Console, guard: Callable[[StaffEndpoint], Endpoint]) -> list[BaseRoute]:
    casework = console.casework
    catalog = console.catalog

    async def file_page(
        request: Request,
        staff: Staff,
        *,
        error: DomainError | None = None,
        entered: dict[str, Any] | None = None,
    ) -> Response:
        ticket_id: int = request.path_params["ticket_id"]
        person = staff.person
        case = await casework.case_files.on_case(person, ticket_id, in_full=True)
        the_file = case.file
        goals = the_file.goals if the_file is not None else ()
        open_goals = [goal for goal in goals if goal.is_open]
        offered = {
            offer.step
            for offer in file_offers(person, case.ticket, case.area_chain, open_goals=bool(open_goals))
        }
        language = staff.language
        latest = the_file.latest if the_file is not None else None
        done = request.query_params.get("done")
        return console.staff_page(
            request,
            staff,
            "case_file.html",
            status_code=status_of(error) if error is not None else 200,
            ticket=case.ticket,
            the_file=the_file,
            latest=latest,
            answers=(
                answers_in_words(catalog, language, casework.case_files.form, latest.answers)
                if latest is not None and not latest.erased
                else []
            ),
            goal_lines={goal.id: goal_words(catalog, language, the_file, goal) for goal in goals},
            open_goals=open_goals,
            offered={step.value for step in offered},
            owners=(
                await casework.case_files.goal_owners(person, ticket_id)
                if NextStep.ADD_GOAL in offered
                else []
            ),
            services=list(ServiceType),
            progress=list(Progress),
            review_weeks=REVIEW_WEEKS,
            done=done if done in DONE else None,
            error=catalog.refusal(error, language) if error is not None else None,
            entered=entered or {},
        )

    async def read_file(request: Request, staff: Staff) -> Response:
        return await file_page(request, staff)

    def recorded(request: Request, done: str) -> Response:
        return RedirectResponse(f"/case/{request.path_params['ticket_id']}/file?done={done}", status_code=303)

    async def add_goal(request: Request, staff: Staff) -> Response:
        form = await request.form()
        owner_kind, _, owner_id = field(form, "owner").partition(":")
        service = choice(ServiceType, field(form, "service"))
        owner = choice(GoalOwner, owner_kind)
        if service is None or owner is None or (owner is not GoalOwner.WORKER and not owner_id.isdigit()):
            raise HTTPException(400)
        try:
            await casework.add_goal(
                staff.person,
                request.path_params["ticket_id"],
                NewGoal(
                    service_type=service,
                    title=field(form, "title"),
                    owner=owner,
                    owner_person_id=int(owner_id) if owner is GoalOwner.VOLUNTEER else None,
                    owner_organisation_id=int(owner_id) if owner is GoalOwner.AGENCY else None,
                    due_on=day(field(form, "due")),
                ),
            )
        except DomainError as error:
            return await file_page(request, staff, error=error, entered=filled_in(form))
        return recorded(request, "add_goal")

    async def move_goal(request: Request, staff: Staff) -> Response:
        form = await request.form()
        status = choice(GoalStatus, field(form, "status"))
        if status is None:
            raise HTTPException(400)
        goal = await casework.goal(staff.person, request.path_params["goal_id"])
        if goal.ticket_id != request.path_params["ticket_id"]:
            raise HTTPException(404)
        try:
            await casework.set_goal_status(staff.person, goal.id, status, field(form, "reason"))
        except DomainError as error:
            return await file_page(request, staff, error=error, entered=filled_in(form))
        return recorded(request, "goal")

    async def review(request: Request, staff: Staff) -> Response:
        form = await request.form()
        progress: dict[int, Progress] = {}
        for name in form:
            prefix, _, goal_id = name.partition(".")
            found = choice(Progress, field(form, name))
            if prefix == "progress" and goal_id.isdigit() and found is not None:
                progress[int(goal_id)] = found
        weeks = field(form, "next")
        on = day(field(form, "next_on"))
        if on is None and weeks.isdigit() and int(weeks):
            on = casework.today() + timedelta(weeks=int(weeks))
        try:
            await casework.record_review(
                staff.person,
                request.path_params["ticket_id"],
                progress,
                next_review_on=on,
                note=field(form, "note"),
            )
        except DomainError as error:
            return await file_page(request, staff, error=error, entered=filled_in(form))
        return recorded(request, "review" if on is not None else "last_review")

    # --- the assessment ------------------------------------------------------------------------

    async def assessment_page(
        request: Request,
        staff: Staff,
        answers: dict[str, Any] | None = None,
        error: DomainError | None = None,
    ) -> Response:
        ticket_id: int = request.path_params["ticket_id"]
        ticket = await casework.may_record(staff.person, ticket_id, Step.ASSESS)
        the_file: CaseFile | None = None
        if answers is None:  # a new version starts from the latest one's answers
            the_file = await casework.case_file(staff.person, ticket_id, in_full=True)
            latest = the_file.latest if the_file is not None else None
            answers = dict(latest.answers) if latest is not None and not latest.erased else {}
        the_form = casework.case_files.form
        return console.staff_page(
            request,
            staff,
            "assessment.html",
            status_code=status_of(error) if error is not None else 200,
            ticket=ticket,
            the_form=the_form,
            sections=_sections(the_form),
            answers=answers,
            rows=_member_rows(the_form, answers),
            services=list(ServiceType),
            from_version=the_file.latest.version if the_file is not None and the_file.latest else None,
            error=catalog.refusal(error, staff.language) if error is not None else None,
            wrong=str(error.arguments.get("question", "")) if error is not None else "",
        )

    async def show_assessment(request: Request, staff: Staff) -> Response:
        return await assessment_page(request, staff)

    async def record_assessment(request: Request, staff: Staff) -> Response:
        the_form = casework.case_files.form
        answers = entered_answers(the_form, await request.form())
        try:
            await casework.record_assessment(staff.person, request.path_params["ticket_id"], answers)
        except DomainError as error:
            return await assessment_page(request, staff, answers, error)
        return recorded(request, "assess")

    return [
        Route("/case/{ticket_id:int}/file", guard(read_file), methods=["GET"]),
        Route("/case/{ticket_id:int}/assess", guard(show_assessment), methods=["GET"]),
        Route("/case/{ticket_id:int}/assess", guard(record_assessment), methods=["POST"]),
        Route("/case/{ticket_id:int}/file/goal", guard(add_goal), methods=["POST"]),
        Route("/case/{ticket_id:int}/file/goal/{goal_id:int}", guard(move_goal), methods=["POST"]),
        Route("/case/{ticket_id:int}/file/review", guard(review), methods=["POST"]),
    ]


def entered_answers(the_form: Form, form: FormData) -> dict[str, Any]:
    """The assessment's answers as the page's form gives them (``casework.assessment_form`` checks
    them): a choice or a few words by the question's name, a multiple choice as its ticked options,
    a rating per service type (``needs.<service type>``), and a group's items by number
    (``members.<n>.<field>``), a row left blank being no item."""
    answers: dict[str, Any] = {}
    for question in the_form.questions:
        if question.kind is Kind.GROUP:
            items = []
            for number in range(GROUP_LIMIT):
                item = {f.key: _answer(f, form, f"{question.key}.{number}.{f.key}") for f in question.fields}
                item = {key: value for key, value in item.items() if value not in ("", [])}
                if item:
                    items.append(item)
            answers[question.key] = items
        elif question.kind is Kind.RATINGS:
            answers[question.key] = {
                kind.value: field(form, f"{question.key}.{kind.value}") for kind in ServiceType
            }
        else:
            answers[question.key] = _answer(question, form, question.key)
    return answers


def _answer(question: Question, form: FormData, name: str) -> str | list[str]:
    if question.kind is Kind.MULTI:
        return [value for value in form.getlist(name) if isinstance(value, str)]
    return field(form, name)


def _sections(the_form: Form) -> list[tuple[str, list[Question]]]:
    sections: list[tuple[str, list[Question]]] = []
    for question in the_form.questions:
        if not sections or sections[-1][0] != question.section:
            sections.append((question.section, []))
        sections[-1][1].append(question)
    return sections


def _member_rows(the_form: Form, answers: dict[str, Any]) -> dict[str, int]:
    """How many rows each group shows: its items so far and some blank ones (three at least)."""
    return {
        question.key: min(max(len(answers.get(question.key) or []) + EMPTY_MEMBER_ROWS, 3), GROUP_LIMIT)
        for question in the_form.questions
        if question.kind is Kind.GROUP
    }
