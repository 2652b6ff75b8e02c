"""The administrator's pages: people and their accounts, invites (the link and its QR code shown
once), areas imported from a file after a preview, agencies, the crisis on-call list, the policy
knowledge base, and the log of what staff did. Each action is ``Casework.administration``'s, which
checks the actor is an admin and does what the command line does."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

import qrcode
import qrcode.image.svg
from markupsafe import Markup
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.web.console import Console, choice, day, field, status_of
from bot.web.sessions import Endpoint, Staff, StaffEndpoint
from casework import directory
from casework.administration import ASSIGNABLE_ROLES, Activity
from casework.domain import (
    WORKER_ROLES,
    DomainError,
    InvalidInput,
    NotFound,
    Refusal,
    Role,
    ServiceType,
    StaffEvent,
    TicketAction,
)
from dialogs.catalog import Catalog

if TYPE_CHECKING:
    from nlu.policy import PolicyKnowledgeBase

MAX_FILE_BYTES = 1_000_000


def qr_svg(text: str) -> Markup:
    """The text as a QR code, an SVG drawn here (no image service is asked)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return Markup(image.to_string(encoding="unicode"))  # noqa: S704 - qrcode's own SVG of our text


@functools.cache
def knowledge_base() -> PolicyKnowledgeBase:
    from bot.bootstrap import build_knowledge_base

    return build_knowledge_base()


def admin_routes(
    console: Console, guard: Callable[[StaffEndpoint], Endpoint], invite_link: Callable[[str], str | None]
) -> list[BaseRoute]:
    """The admin pages, over ``console``; ``invite_link`` is an invite code's deep link, if the bot's
    name is known."""
    administration = console.casework.administration
    catalog = console.catalog

    # --- people -------------------------------------------------------------------------------

    async def people_page(
        request: Request, staff: Staff, *, error: str | None = None, status_code: int = 200
    ) -> Response:
        role = choice(Role, request.query_params.get("role"))
        found = await administration.people(staff.person, role=role)
        areas = {area.id: area for area in await console.people.areas()}
        return console.staff_page(
            request,
            staff,
            "admin_people.html",
            status_code=status_code,
            people=found,
            roles=list(Role),
            role=role,
            areas=areas,
            error=error,
        )

    async def people(request: Request, staff: Staff) -> Response:
        return await people_page(request, staff)

    async def person_active(request: Request, staff: Staff) -> Response:
        form = await request.form()
        try:
            await administration.set_active(
                staff.person, request.path_params["person_id"], field(form, "active") == "1"
            )
        except DomainError as error:  # an account that still holds cases: said above the list
            return await people_page(
                request, staff, error=catalog.refusal(error, staff.language), status_code=status_of(error)
            )
        return RedirectResponse("/admin/people", status_code=303)

    async def person_page(
        request: Request, staff: Staff, *, error: str | None = None, status_code: int = 200
    ) -> Response:
        administration.check(staff.person)
        found = await console.people.get(request.path_params["person_id"])
        return console.staff_page(
            request,
            staff,
            "admin_person.html",
            status_code=status_code,
            person=found,
            roles=sorted(ASSIGNABLE_ROLES, key=list(Role).index),
            assignable=found.role in ASSIGNABLE_ROLES and found.id != staff.person.id,
            tree=await console.people.area_tree(),
            error=error,
        )

    async def person_show(request: Request, staff: Staff) -> Response:
        return await person_page(request, staff)

    async def person_change(request: Request, staff: Staff) -> Response:
        form = await request.form()
        role = choice(Role, field(form, "role"))
        area_ids = [value for value in form.getlist("area") if isinstance(value, str) and value.isdigit()]
        if role is None:
            raise HTTPException(400)
        try:
            await administration.set_staff(
                staff.person, request.path_params["person_id"], role, [int(a) for a in area_ids]
            )
        except DomainError as error:
            return await person_page(
                request, staff, error=catalog.refusal(error, staff.language), status_code=status_of(error)
            )
        return RedirectResponse("/admin/people", status_code=303)

    async def person_sessions(request: Request, staff: Staff) -> Response:
        administration.check(staff.person)
        await console.sign_in.revoke(request.path_params["person_id"])
        return RedirectResponse("/admin/people", status_code=303)

    # --- invites ------------------------------------------------------------------------------

    async def invites_page(
        request: Request,
        staff: Staff,
        *,
        issued: directory.IssuedInvite | None = None,
        error: str | None = None,
    ) -> Response:
        found = await administration.invites(staff.person)
        agencies = await administration.agencies(staff.person)
        link = invite_link(issued.code) if issued is not None else None
        return console.staff_page(
            request,
            staff,
            "admin_invites.html",
            status_code=400 if error else 200,
            invites=found,
            roles=directory.INVITE_ROLES,
            areas=await console.people.areas(),
            agencies=agencies,
            issued=issued,
            link=link,
            qr=qr_svg(link or issued.code) if issued is not None else None,
            error=error,
            now=console.casework.core.clock.now(),
        )

    async def invites(request: Request, staff: Staff) -> Response:
        return await invites_page(request, staff)

    async def invite_create(request: Request, staff: Staff) -> Response:
        form = await request.form()
        try:
            role = Role(field(form, "role"))
            days = int(field(form, "days") or "7")
            issued = await administration.invite(
                staff.person,
                role=role,
                area_code=field(form, "area"),
                valid_for=timedelta(days=days),
                organisation_name=field(form, "agency") or None,
            )
        except ValueError:
            return await invites_page(request, staff, error=catalog.text("web.http.400", staff.language))
        except (InvalidInput, NotFound) as error:  # what the form asked for: said beside the form
            return await invites_page(request, staff, error=catalog.refusal(error, staff.language))
        return await invites_page(request, staff, issued=issued)

    async def invite_revoke(request: Request, staff: Staff) -> Response:
        await administration.revoke_invite(staff.person, request.path_params["invite_id"])
        return RedirectResponse("/admin/invites", status_code=303)

    # --- areas --------------------------------------------------------------------------------

    async def areas_page(
        request: Request,
        staff: Staff,
        status_code: int = 200,
        *,
        preview: directory.ImportPreview | None = None,
        content: str = "",
        **shown: Any,
    ) -> Response:
        """The area tree, and what an import showed: a preview, its problems, or what it did."""
        return console.staff_page(
            request,
            staff,
            "admin_areas.html",
            status_code=status_code,
            areas=await console.people.area_tree(),
            preview=preview,
            content=content,
            **shown,
        )

    async def areas(request: Request, staff: Staff) -> Response:
        administration.check(staff.person)
        return await areas_page(request, staff)

    async def areas_import(request: Request, staff: Staff) -> Response:
        """A file's changes shown (``confirm`` absent), or imported (the same content sent back)."""
        form = await request.form()
        move = field(form, "move") == "1"
        try:
            content, name = await _file_of(form)
            parsed = (
                directory.parse_areas_csv(content, name)
                if name.lower().endswith(".csv")
                else directory.parse_directory_yaml(content, name)
            )
            if field(form, "confirm") == "1":
                summary = await administration.import_areas(staff.person, parsed, move=move)
                return await areas_page(request, staff, summary=summary)
            preview = await administration.preview_areas(staff.person, parsed, move=move)
        except InvalidInput as error:
            return await areas_page(request, staff, 400, problems=_problems(catalog, error, staff.language))
        return await areas_page(
            request,
            staff,
            preview=preview,
            content=content,
            file_name=name,
            move=move,
            problems=[catalog.refusal(problem, staff.language) for problem in preview.problems],
        )

    # --- agencies and the on-call list ---------------------------------------------------------

    async def agencies(request: Request, staff: Staff, error: str | None = None) -> Response:
        found = await administration.agencies(staff.person)
        return console.staff_page(
            request,
            staff,
            "admin_agencies.html",
            status_code=400 if error else 200,
            agencies=found,
            services=list(ServiceType),
            areas=await console.people.areas(),
            error=error,
        )

    async def agency_add(request: Request, staff: Staff) -> Response:
        form = await request.form()
        try:
            await administration.add_agency(
                staff.person,
                name=field(form, "name"),
                contact=field(form, "contact"),
                service_types=[
                    ServiceType(kind) for kind in form.getlist("service") if isinstance(kind, str)
                ],
                area_codes=[code for code in form.getlist("area") if isinstance(code, str)],
            )
        except ValueError:
            return await agencies(request, staff, catalog.text("web.http.400", staff.language))
        except DomainError as error:
            return await agencies(request, staff, catalog.refusal(error, staff.language))
        return RedirectResponse("/admin/agencies", status_code=303)

    async def on_call(request: Request, staff: Staff, error: str | None = None) -> Response:
        entries = await administration.on_call(staff.person)
        staff_people = [
            person
            for person in await administration.people(staff.person)
            if person.active and person.role in WORKER_ROLES
        ]
        return console.staff_page(
            request,
            staff,
            "admin_oncall.html",
            status_code=400 if error else 200,
            entries=entries,
            staff_people=staff_people,
            areas=await console.people.areas(),
            unreached=await administration.unreached(staff.person),
            error=error,
        )

    async def on_call_add(request: Request, staff: Staff) -> Response:
        form = await request.form()
        person = field(form, "person")
        try:
            await administration.add_on_call(
                staff.person,
                person_id=int(person) if person.isdigit() else 0,
                hours=field(form, "hours") or "00:00-24:00",
                area_code=field(form, "area") or None,
            )
        except DomainError as error:
            return await on_call(request, staff, catalog.refusal(error, staff.language))
        return RedirectResponse("/admin/oncall", status_code=303)

    async def on_call_remove(request: Request, staff: Staff) -> Response:
        await administration.remove_on_call(staff.person, request.path_params["entry_id"])
        return RedirectResponse("/admin/oncall", status_code=303)

    # --- the policy knowledge base and the log -------------------------------------------------

    async def policy(request: Request, staff: Staff) -> Response:
        administration.check(staff.person)
        return console.staff_page(request, staff, "admin_policy.html", entries=knowledge_base().entries)

    async def activity(request: Request, staff: Staff) -> Response:
        query = request.query_params
        person = query.get("person", "")
        action = query.get("action") or None
        since = _day(query.get("since"), console.casework.timezone)
        until = _day(query.get("until"), console.casework.timezone)
        found: list[Activity] = await administration.activity(
            staff.person,
            person_id=int(person) if person.isdigit() else None,
            action=action,
            since=since,
            until=until + timedelta(days=1) if until is not None else None,
        )
        everyone = {p.id: p for p in await administration.people(staff.person)}
        return console.staff_page(
            request,
            staff,
            "admin_activity.html",
            entries=found,
            people=everyone,
            actions=[*StaffEvent, *TicketAction],
            person_id=person,
            action=action or "",
            since=query.get("since", ""),
            until=query.get("until", ""),
        )

    routes: list[tuple[str, StaffEndpoint, str]] = [
        ("/admin/people", people, "GET"),
        ("/admin/people/{person_id:int}", person_show, "GET"),
        ("/admin/people/{person_id:int}", person_change, "POST"),
        ("/admin/people/{person_id:int}/active", person_active, "POST"),
        ("/admin/people/{person_id:int}/sessions", person_sessions, "POST"),
        ("/admin/invites", invites, "GET"),
        ("/admin/invites", invite_create, "POST"),
        ("/admin/invites/{invite_id:int}/revoke", invite_revoke, "POST"),
        ("/admin/areas", areas, "GET"),
        ("/admin/areas", areas_import, "POST"),
        ("/admin/agencies", agencies, "GET"),
        ("/admin/agencies", agency_add, "POST"),
        ("/admin/oncall", on_call, "GET"),
        ("/admin/oncall", on_call_add, "POST"),
        ("/admin/oncall/{entry_id:int}/remove", on_call_remove, "POST"),
        ("/admin/policy", policy, "GET"),
        ("/admin/activity", activity, "GET"),
    ]
    return [Route(path, guard(endpoint), methods=[method]) for path, endpoint, method in routes]


async def _file_of(form: FormData) -> tuple[str, str]:
    """The uploaded file's text and name, or the content sent back from a preview."""
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise InvalidInput(
                Refusal.FILE_TOO_BIG, file=upload.filename, megabytes=MAX_FILE_BYTES // 1_000_000
            )
        try:
            return data.decode("utf-8-sig"), upload.filename
        except UnicodeDecodeError:
            raise InvalidInput(Refusal.FILE_NOT_UTF8, file=upload.filename) from None
    content = form.get("content")
    name = form.get("name")
    if isinstance(content, str) and content and isinstance(name, str):
        return content, name
    raise HTTPException(400)


def _problems(catalog: Catalog, error: InvalidInput, language: str) -> list[str]:
    return [catalog.refusal(problem, language) for problem in (error.problems or (error,))]


def _day(text: str | None, timezone: tzinfo) -> datetime | None:
    """The local midnight a date field names."""
    found = day(text)
    return datetime.combine(found, time(), tzinfo=timezone) if found is not None else None
