"""Who is signed in to the web console: the session cookie, its CSRF token, and the language a page is
written in.

A session is named by a random token in an HttpOnly, SameSite=Lax cookie (Secure when the console is
served over https); the store keeps its hash (``casework.staff_sign_in``). Every form and every htmx
request carries the session's CSRF token back, and a request that changes anything without it is
refused before it reaches the casework.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from casework.domain import Person, StaffSession
from casework.staff_sign_in import IDLE_AFTER, SESSION_LASTS, SignInRefused, StaffSignIn

COOKIE = "needsbot_session"
LANGUAGE_COOKIE = "needsbot_lang"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(Exception):
    """A request that would change something came without the session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Staff:
    """The signed-in person of one request, and the language their page is written in."""

    person: Person
    session: StaffSession
    language: str


def language_of(request: Request, person: Person | None = None) -> str:
    """The page's language: the switch's cookie, else the person's own, else Chinese."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in ("zh", "en"):
        return chosen
    if person is not None and person.language in ("zh", "en"):
        return person.language
    return "zh"


def set_session_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_LASTS.total_seconds()),
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, httponly=True, secure=secure, samesite="lax", path="/")


async def csrf_checked(request: Request, session: StaffSession) -> None:
    """Raise ``CsrfRefused`` unless a request that changes something carries the session's token."""
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if given is None or not hmac.compare_digest(given.encode(), session.csrf_token.encode()):
        raise CsrfRefused


Endpoint = Callable[[Request], Awaitable[Response]]
StaffEndpoint = Callable[[Request, Staff], Awaitable[Response]]


def signed_in(sign_in: Callable[[Request], StaffSignIn]) -> Callable[[StaffEndpoint], Endpoint]:
    """An endpoint for signed-in staff: anyone else is sent to the sign-in page (an htmx request is
    told to go there), and a change without the CSRF token is refused with 403."""

    def decorate(endpoint: StaffEndpoint) -> Endpoint:
        @wraps(endpoint)
        async def guarded(request: Request) -> Response:
            token = request.cookies.get(COOKIE)
            if not token:
                return _to_sign_in(request, ended=False)
            try:
                person, session = await sign_in(request).current(token)
            except SignInRefused:
                return _to_sign_in(request, ended=True)
            await csrf_checked(request, session)
            staff = Staff(person, session, language_of(request, person))
            request.state.staff = staff  # whom a refusal raised by the endpoint is worded for
            return await endpoint(request, staff)

        return guarded

    return decorate


def _to_sign_in(request: Request, *, ended: bool) -> Response:
    target = "/signin?next=" + quote(request.url.path, safe="/")
    if ended:
        target += "&ended=1"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    if request.method not in SAFE_METHODS:
        return Response(status_code=401)
    return RedirectResponse(target, status_code=303)


def idle_settings() -> dict[str, Any]:
    """What the page's script needs to warn of an idle sign-out: after how long, and how long before."""
    idle = int(IDLE_AFTER.total_seconds())
    return {"idle_after": idle, "warn_before": 120}
