"""What every page of the web console works with: the casework as the signed-in person sees it, the
catalogs, the templates; and how a page, a refusal and a form's field are read and written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from bot.web.sessions import Staff, idle_settings
from casework.access import Forbidden
from casework.domain import WORKER_ROLES, Conflict, DomainError, InvalidInput, NotFound
from casework.people import People
from casework.service import Casework
from casework.staff_sign_in import StaffSignIn
from dialogs.catalog import Catalog

E = TypeVar("E", bound=StrEnum)
STATUS_ANSWER = {Forbidden: 403, NotFound: 404, Conflict: 409, InvalidInput: 400}


@dataclass(frozen=True, slots=True)
class Console:
    """What the console's pages work with."""

    casework: Casework
    people: People
    sign_in: StaffSignIn
    catalog: Catalog
    templates: Jinja2Templates
    secure_cookies: bool

    def words(self, language: str) -> Callable[..., str]:
        def text(key: str, /, **args: Any) -> str:
            return self.catalog.text(key, language, **args)

        return text

    def page(
        self, request: Request, name: str, language: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        return self.templates.TemplateResponse(
            request,
            name,
            {
                "t": self.words(language),
                "action_words": self.action_words(language),
                "lang": language,
                "idle": idle_settings(),
                "staff": None,  # a page for nobody signed in, unless given
                "nav": None,
                **context,
            },
            status_code=status_code,
        )

    def action_words(self, language: str) -> Callable[[str], str]:
        """What a staff log's event or a trail's action is called, in words."""

        def words(action: str) -> str:
            for key in (f"web.staff_event.{action}", f"worker.event.{action}"):
                if self.catalog.has(key):
                    return self.catalog.text(key, language)
            return action

        return words

    @staticmethod
    def nav(staff: Staff) -> dict[str, int] | None:
        """The navigation's queues: for those who hold cases, the queues' links (their counts are the
        queue pages' own, counted from the tickets those pages read anyway); none for anyone else."""
        return {} if staff.person.role in WORKER_ROLES else None

    def staff_page(
        self, request: Request, staff: Staff, name: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page for signed-in staff: with their navigation."""
        return self.page(
            request, name, staff.language, status_code, staff=staff, nav=self.nav(staff), **context
        )

    def refusal(self, request: Request, staff: Staff, error: DomainError) -> HTMLResponse:
        """What the casework refused, worded as the chat words it, with the status code it means."""
        return self.staff_page(
            request,
            staff,
            "refused.html",
            status_of(error),
            message=self.catalog.refusal(error, staff.language),
        )


def status_of(error: DomainError) -> int:
    """The HTTP status a refusal answers with."""
    return next((code for kind, code in STATUS_ANSWER.items() if isinstance(error, kind)), 409)


def filled_in(form: FormData) -> dict[str, str]:
    """What a form was filled in with, to give it back as it was when what it asked was refused."""
    return {name: field(form, name) for name in form if name != "csrf"}


def choice(kind: type[E], value: str | None) -> E | None:
    """The member of ``kind`` a form's value names; None when it names none."""
    return next((member for member in kind if member.value == value), None)


def day(text: str | None) -> date | None:
    """A date as a form's date field gives it (2026-12-05); None when there is none or it is not one."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
