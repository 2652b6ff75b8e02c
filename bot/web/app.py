"""The staff's web console: an ASGI application (Starlette, Jinja2 templates, htmx) over the same
casework operations, access rules and catalogs as the chat.

Every page and every action goes through ``Casework`` as the signed-in person: the console checks
nothing of its own about who may read or do what, it shows what the casework lets through and words
what the casework refuses (``refusal.<code>``) as the chat does. The steps offered on a case come from
``casework.next_steps``, as the chat's buttons do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Lifespan

from bot.deep_links import deep_link
from bot.web import reports
from bot.web.admin import admin_routes
from bot.web.agencies import agency_routes
from bot.web.case_file import case_file_routes
from bot.web.console import Console, field
from bot.web.queues import QUEUES, Filters, Shown, queue_items
from bot.web.sessions import (
    LANGUAGE_COOKIE,
    CsrfRefused,
    Staff,
    clear_session_cookie,
    language_of,
    set_session_cookie,
    signed_in,
)
from casework.access import Forbidden
from casework.case_file import CaseFile
from casework.conversation import CaseContact
from casework.domain import (
    WORKER_ROLES,
    Criterion,
    DomainError,
    Met,
    Person,
    Refusal,
    Role,
    ServiceType,
    TicketAction,
    TicketEvent,
    TicketStatus,
    Urgency,
)
from casework.indicators import READERS
from casework.next_steps import NextStep, offers
from casework.on_call import hours_label
from casework.people import People
from casework.reading import TicketView
from casework.service import Casework
from casework.staff_sign_in import SignInRefused, StaffSignIn
from casework.supervision import review_readable_by
from dialogs.catalog import Catalog
from dialogs.flows.worker import file_line, trail_note

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CONVERSATION = frozenset({TicketAction.MESSAGE_SENT, TicketAction.MESSAGE_RECEIVED})
SUPERVISING = frozenset({Role.SUPERVISOR, Role.ADMIN})
# What a step offered on a case looks like on the page: its words (the chat's button's) and how it is
# taken (a form of its own, or straight away).
STEP_WORDS: dict[NextStep, str] = {
    NextStep.CLAIM: "alert.button.claim",
    NextStep.NOTE: "worker.button.note",
    NextStep.VISITED: "alert.button.visited",
    NextStep.RESOLVE: "worker.button.resolve",
    NextStep.CLOSE: "alert.button.close",
    NextStep.REOPEN: "worker.button.reopen",
    NextStep.ASSIGN: "worker.button.assign",
    NextStep.MESSAGE: "worker.button.message",
    NextStep.SHOW_PHONE: "worker.button.show_phone",
    NextStep.REFER: "alert.button.refer",
    NextStep.ACCEPT_REFERRAL: "alert.button.accept",
    NextStep.DECLINE_REFERRAL: "alert.button.decline",
    NextStep.COMPLETE: "worker.button.resolve",
    NextStep.SUPERVISE: "supervision.button",
}
# The case file's steps: links to its pages (``bot.web.case_file``), not forms on the case's.
FILE_PAGES: dict[NextStep, tuple[str, str]] = {
    NextStep.FILE: ("file", "casefile.button.file"),
    NextStep.ASSESS: ("assess", "casefile.button.assess"),
    NextStep.ADD_GOAL: ("file#add-goal", "casefile.button.add_goal"),
    NextStep.REVIEW: ("file#review", "casefile.button.review"),
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def build_app(
    casework: Casework,
    people: People,
    sign_in: StaffSignIn,
    catalog: Catalog,
    *,
    base_url: str,
    bot_username: str | None = None,
    lifespan: Lifespan[Starlette] | None = None,
) -> Starlette:
    """The console's ASGI application; ``base_url`` is where people reach it (https: Secure cookies),
    ``bot_username`` the Telegram bot's name, for invites' links; ``lifespan`` what the server runs
    around serving it (a worker of its own lets go of its database after)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    console = Console(
        casework,
        people,
        sign_in,
        catalog,
        Jinja2Templates(env=environment),
        secure_cookies=urlsplit(base_url).scheme == "https",
    )
    guard = signed_in(lambda request: console.sign_in)
    recent = reports.RecentReports()
    environment.filters["when"] = lambda moment: _when(casework, moment)
    environment.globals["hours"] = hours_label

    async def home(request: Request, staff: Staff) -> Response:
        role = staff.person.role
        target = "/queue/mine" if role in WORKER_ROLES else "/reports" if role in READERS else "/account"
        return RedirectResponse(target, status_code=303)

    # --- signing in and out -------------------------------------------------------------------

    async def sign_in_form(request: Request) -> Response:
        language = language_of(request)
        return console.page(
            request,
            "signin.html",
            language,
            error=None,
            ended=bool(request.query_params.get("ended")),
            next=_local(request.query_params.get("next")),
        )

    async def sign_in_with_password(request: Request) -> Response:
        form = await request.form()
        language = language_of(request)
        target = _local(field(form, "next"))
        try:
            signed = await console.sign_in.sign_in(field(form, "login"), field(form, "password"))
        except SignInRefused as error:
            return console.page(
                request,
                "signin.html",
                language,
                status_code=429 if error.code is Refusal.WEB_LOCKED else 401,
                error=catalog.refusal(error, language),
                ended=False,
                next=target,
            )
        response = RedirectResponse(target or "/", status_code=303)
        set_session_cookie(response, signed.token, secure=console.secure_cookies)
        return response

    async def link_form(request: Request) -> Response:
        # A link preview (Telegram fetches links it shows) must not spend the link: a GET only asks.
        return console.page(
            request,
            "link.html",
            language_of(request),
            token=request.path_params["token"],
            error=None,
        )

    async def sign_in_with_link(request: Request) -> Response:
        language = language_of(request)
        try:
            signed = await console.sign_in.redeem_link(request.path_params["token"])
        except SignInRefused as error:
            return console.page(
                request,
                "link.html",
                language,
                status_code=410,
                token=None,
                error=catalog.refusal(error, language),
            )
        has_password = console.sign_in.login_name(signed.person) is not None
        response = RedirectResponse("/" if has_password else "/account", status_code=303)
        set_session_cookie(response, signed.token, secure=console.secure_cookies)
        return response

    @guard
    async def sign_out(request: Request, staff: Staff) -> Response:
        await console.sign_in.sign_out(staff.session)
        response = RedirectResponse("/signin", status_code=303)
        clear_session_cookie(response, secure=console.secure_cookies)
        return response

    @guard
    async def keep_alive(request: Request, staff: Staff) -> Response:
        return Response(status_code=204)

    async def switch_language(request: Request) -> Response:
        wanted = request.path_params["language"]
        if wanted not in ("zh", "en"):
            raise HTTPException(404)
        response = RedirectResponse(_local(request.query_params.get("next")) or "/", status_code=303)
        response.set_cookie(LANGUAGE_COOKIE, wanted, max_age=365 * 86400, samesite="lax", path="/")
        return response

    # --- the person's own account -------------------------------------------------------------

    @guard
    async def account(request: Request, staff: Staff) -> Response:
        return await _account_page(request, staff, error=None, saved=False)

    @guard
    async def set_password(request: Request, staff: Staff) -> Response:
        form = await request.form()
        try:
            await console.sign_in.set_password(
                staff.person, field(form, "password"), login=field(form, "login") or None
            )
        except DomainError as error:
            return await _account_page(
                request, staff, error=catalog.refusal(error, staff.language), saved=False, status_code=400
            )
        person = await people.get(staff.person.id)
        return await _account_page(
            request, Staff(person, staff.session, staff.language), error=None, saved=True
        )

    async def _account_page(
        request: Request, staff: Staff, *, error: str | None, saved: bool, status_code: int = 200
    ) -> Response:
        return console.staff_page(
            request,
            staff,
            "account.html",
            status_code=status_code,
            login=console.sign_in.login_name(staff.person),
            error=error,
            saved=saved,
        )

    # --- queues -------------------------------------------------------------------------------

    @guard
    async def queue_page(request: Request, staff: Staff) -> Response:
        queue = QUEUES.get(request.path_params["queue"])
        if queue is None:
            raise HTTPException(404)
        mine = await casework.mine(staff.person)
        area = await casework.queue(staff.person)
        filters = Filters.read(request.query_params)
        matching = queue_items(queue.pick(mine, area), filters, now=casework.core.clock.now())
        shown = Shown.of(request, len(matching))
        counts = {each.name: len(each.pick(mine, area)) for each in QUEUES.values()}
        supervising = staff.person.role in SUPERVISING
        return console.page(
            request,
            "queue_rows.html" if request.headers.get("hx-request") else "queue.html",
            staff.language,
            staff=staff,
            nav=counts,
            queue=queue,
            items=matching[shown.start : shown.end],
            shown=shown,
            filters=filters,
            areas=sorted({item.area for item in area}, key=lambda each: each.name),
            services=list(ServiceType),
            urgencies=list(Urgency),
            statuses=sorted(
                {item.ticket.status for item in area} | {item.ticket.status for item in mine},
                key=list(TicketStatus).index,
            ),
            supervising=supervising,
            team=await casework.team(staff.person) if supervising else [],
            results=None,
        )

    @guard
    async def bulk(request: Request, staff: Staff) -> Response:
        """A supervisor's action on several tickets at once, each checked on its own."""
        form = await request.form()
        await casework.team(staff.person)  # supervisors' and admins' alone
        action = field(form, "action")
        ticket_ids = [
            int(value) for value in form.getlist("ticket") if isinstance(value, str) and value.isdigit()
        ]
        results: list[tuple[str, str | None]] = []
        worker_id = int(field(form, "worker")) if field(form, "worker").isdigit() else None
        for ticket_id in ticket_ids:
            try:
                if action == "assign" and worker_id is not None:
                    ticket = await casework.assign(staff.person, ticket_id, worker_id)
                elif action == "close":
                    ticket = await casework.close(staff.person, ticket_id, field(form, "note"))
                else:
                    raise HTTPException(400)
                results.append((ticket.reference, None))
            except DomainError as error:
                results.append((f"#{ticket_id}", catalog.refusal(error, staff.language)))
        return console.staff_page(
            request,
            staff,
            "bulk_done.html",
            results=results,
        )

    # --- a case -------------------------------------------------------------------------------

    @guard
    async def case_page(request: Request, staff: Staff) -> Response:
        ticket_id = request.path_params["ticket_id"]
        view = await casework.view(staff.person, ticket_id)
        return await _case(request, staff, view)

    async def _case(
        request: Request, staff: Staff, view: TicketView, *, phone: str | None = None, done: str | None = None
    ) -> Response:
        person = staff.person
        contact = await _contact(person, view.ticket.id)
        the_file = await _file(person, view.ticket.id)
        steps = offers(
            person,
            view,
            contact,
            file_kept=the_file is not None and not the_file.empty,
            open_goals=the_file is not None and bool(the_file.open_goals),
        )
        offered = {offer.step for offer in steps}
        review = (
            view.supervision[-1] if view.supervision and review_readable_by(person, view.ticket) else None
        )
        names = await _names(people, [event.actor_id for event in view.events])
        return console.staff_page(
            request,
            staff,
            "case.html",
            view=view,
            contact=contact,
            phone=phone,
            steps=[offer for offer in steps if offer.step in STEP_WORDS],
            file_pages=[FILE_PAGES[offer.step] for offer in steps if offer.step in FILE_PAGES],
            step_words=STEP_WORDS,
            thread=[event for event in view.events if event.action in CONVERSATION],
            trail=[
                _trail_line(catalog, staff.language, event, names)
                for event in reversed(view.events)
                if event.action not in CONVERSATION and event.action is not TicketAction.READ
            ],
            reads=[
                _trail_line(catalog, staff.language, event, names)
                for event in reversed(view.events)
                if event.action is TicketAction.READ
            ],
            names=names,
            area_path=" / ".join(area.label(staff.language) for area in view.area_path),
            workers=(
                await casework.assignable_workers(person, view.ticket.id)
                if NextStep.ASSIGN in offered
                else []
            ),
            targets=(
                await casework.referral_targets(person, view.ticket.id) if NextStep.REFER in offered else []
            ),
            the_file=the_file,
            review=review,
            review_words=(
                {
                    c.value: catalog.text(f"supervision.met.{review.scores[c].value}", staff.language)
                    for c in Criterion
                }
                if review is not None
                else {}
            ),
            criteria=list(Criterion),
            met=list(Met),
            file_line=(
                file_line(catalog, staff.language, casework.timezone, the_file)
                if the_file is not None and not the_file.empty
                else None
            ),
            done=done,
            summary=catalog.summary(view.ticket.summary, staff.language),
        )

    async def _file(person: Person, ticket_id: int) -> CaseFile | None:
        try:
            return await casework.case_file(person, ticket_id)
        except Forbidden:
            return None

    async def _contact(person: Person, ticket_id: int) -> CaseContact | None:
        try:
            return await casework.case_contact(person, ticket_id)
        except Forbidden:
            return None

    @guard
    async def case_action(request: Request, staff: Staff) -> Response:
        ticket_id: int = request.path_params["ticket_id"]
        step = request.path_params["step"]
        form = await request.form()
        person = staff.person
        phone: str | None = None
        if step == NextStep.CLAIM:
            await casework.claim(person, ticket_id)
        elif step == NextStep.NOTE:
            await casework.add_note(person, ticket_id, field(form, "text"))
        elif step == NextStep.VISITED:
            await casework.record_visit(person, ticket_id, field(form, "text"))
        elif step == NextStep.MESSAGE:
            await casework.message_person(person, ticket_id, field(form, "text"))
        elif step == NextStep.RESOLVE:
            await casework.resolve(person, ticket_id, field(form, "outcome"), tell_person=field(form, "tell"))
        elif step == NextStep.CLOSE:
            await casework.close(person, ticket_id, field(form, "text"))
        elif step == NextStep.REOPEN:
            await casework.reopen(person, ticket_id, field(form, "text"))
        elif step == NextStep.ASSIGN:
            worker = field(form, "worker")
            if not worker.isdigit():
                raise HTTPException(400)
            await casework.assign(person, ticket_id, int(worker))
        elif step == NextStep.SHOW_PHONE:
            phone = await casework.show_phone(person, ticket_id)
        elif step == NextStep.SUPERVISE:
            scores = {}
            for criterion in Criterion:
                met = field(form, criterion.value)
                if not met.isdigit() or int(met) not in {level.value for level in Met}:
                    raise HTTPException(400)
                scores[criterion] = Met(int(met))
            await casework.supervise(person, ticket_id, scores, field(form, "text"))
        elif step == NextStep.REFER:
            kind, _, target = field(form, "target").partition(":")
            if kind not in ("person", "agency") or not target.isdigit():
                raise HTTPException(400)
            await casework.refer(
                person,
                ticket_id,
                reason=field(form, "text"),
                to_person_id=int(target) if kind == "person" else None,
                to_organisation_id=int(target) if kind == "agency" else None,
            )
        elif step in (NextStep.ACCEPT_REFERRAL, NextStep.DECLINE_REFERRAL, NextStep.COMPLETE):
            referral = field(form, "referral")
            if not referral.isdigit():
                raise HTTPException(400)
            if step == NextStep.COMPLETE:
                await casework.complete_referral(person, int(referral), field(form, "text"))
            else:
                await casework.respond_to_referral(
                    person,
                    int(referral),
                    accept=step == NextStep.ACCEPT_REFERRAL,
                    reason=field(form, "text"),
                )
        else:
            raise HTTPException(404)
        try:
            view = await casework.view(person, ticket_id)
        except Forbidden:
            # Done, and the case is no longer theirs to read (a referral declined goes back).
            return RedirectResponse("/queue/mine", status_code=303)
        return await _case(request, staff, view, phone=phone, done=step)

    # --- the evaluation's reports --------------------------------------------------------------

    @guard
    async def reports_page(request: Request, staff: Staff) -> Response:
        wanted, found = await recent.read(casework, staff.person, request)
        return console.staff_page(
            request,
            staff,
            "reports.html",
            periods=reports.PERIODS,
            wanted=wanted,
            summary=reports.summary_text(catalog, found, wanted, staff.language),
            charts=[part.value for part in reports.CHARTS],
            query=urlencode({"period": wanted.period, "area": wanted.area.id}),
            label=found.scope.label,
        )

    @guard
    async def report_chart(request: Request, staff: Staff) -> Response:
        part = next((part for part in reports.CHARTS if part.value == request.path_params["part"]), None)
        if part is None:
            raise HTTPException(404)
        _, found = await recent.read(casework, staff.person, request)
        png = await reports.chart_png(found, part, staff.language)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})

    @guard
    async def report_download(request: Request, staff: Staff) -> Response:
        kind = request.path_params["kind"]
        if kind not in ("xlsx", "csv"):
            raise HTTPException(404)
        wanted, found = await recent.read(casework, staff.person, request)
        name = f"indicators-{found.scope.label}-{wanted.area.code}.{kind}"
        if kind == "xlsx":
            return reports.download(await reports.workbook(found, staff.language), name, XLSX)
        return reports.download(reports.csv_text(found), name, "text/csv; charset=utf-8")

    async def not_found(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        return console.page(
            request,
            "refused.html",
            language_of(request),
            status_code=code,
            message=catalog.text(
                f"web.http.{code}" if code in (400, 404) else "web.http.other", language_of(request)
            ),
        )

    async def refused(request: Request, exc: Exception) -> Response:
        """What the casework refused a page or an action, in the reader's words, with its status."""
        assert isinstance(exc, DomainError)
        staff = getattr(request.state, "staff", None)
        if staff is not None:
            return console.refusal(request, staff, exc)
        language = language_of(request)
        return console.page(
            request, "refused.html", language, status_code=409, message=catalog.refusal(exc, language)
        )

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        language = language_of(request)
        return console.page(
            request,
            "refused.html",
            language,
            status_code=403,
            message=catalog.text("web.csrf_refused", language),
        )

    routes = [
        Route("/", guard(home)),
        Route("/signin", sign_in_form, methods=["GET"]),
        Route("/signin", sign_in_with_password, methods=["POST"]),
        Route("/signin/{token}", link_form, methods=["GET"]),
        Route("/signin/{token}", sign_in_with_link, methods=["POST"]),
        Route("/signout", sign_out, methods=["POST"]),
        Route("/session/alive", keep_alive, methods=["POST"]),
        Route("/language/{language}", switch_language, methods=["GET"]),
        Route("/account", account, methods=["GET"]),
        Route("/account/password", set_password, methods=["POST"]),
        Route("/queue/bulk", bulk, methods=["POST"]),
        Route("/queue/{queue}", queue_page, methods=["GET"]),
        Route("/case/{ticket_id:int}", case_page, methods=["GET"]),
        *case_file_routes(console, guard),
        *agency_routes(console, guard),
        Route("/case/{ticket_id:int}/{step}", case_action, methods=["POST"]),
        Route("/reports", reports_page, methods=["GET"]),
        Route("/reports/chart/{part}.png", report_chart, methods=["GET"]),
        Route("/reports/download.{kind}", report_download, methods=["GET"]),
        *admin_routes(console, guard, lambda code: deep_link(bot_username, code) if bot_username else None),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: not_found, CsrfRefused: csrf_refused, DomainError: refused},
        lifespan=lifespan,
    )


def _local(target: str | None) -> str:
    """A place on this console to go back to (never another site's)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return ""
    return target


@dataclass(frozen=True, slots=True)
class TrailLine:
    at: datetime
    action: str
    who: str
    note: str


def _trail_line(
    catalog: Catalog, language: str, event: TicketEvent, names: dict[int | None, str]
) -> TrailLine:
    """One event of the case's trail in words, as the chat's case view words it."""
    label = f"worker.event.{event.action.value}"
    return TrailLine(
        at=event.created_at,
        action=catalog.text(label, language) if catalog.has(label) else event.action.value,
        who=names.get(event.actor_id) or catalog.text("worker.trail.system", language),
        note=trail_note(catalog, language, event),
    )


def _when(casework: Casework, moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(casework.timezone).strftime("%Y-%m-%d %H:%M")


async def _names(people: People, person_ids: Iterable[int | None]) -> dict[int | None, str]:
    found = await people.named(person_id for person_id in person_ids if person_id is not None)
    return {person_id: person.display_name or f"#{person_id}" for person_id, person in found.items()}
