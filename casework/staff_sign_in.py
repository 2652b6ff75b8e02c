"""Signing staff in to the web console: a one-time link the bot gives on ``/web``, a password set from
it, sessions that end when idle or old, and a lockout after repeated failures; each step written to
the staff log.

Only staff sign in (social workers, supervisors, evaluators, admins): recipients and volunteers work
in the chat. A link, a session and a password are stored as hashes only — the link's and the
session's tokens are the browser's alone, the password's hash is argon2's.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from casework.clock import Clock
from casework.domain import (
    Channel,
    Conflict,
    DomainError,
    Identity,
    InvalidInput,
    NotFound,
    Person,
    Refusal,
    Role,
    StaffEvent,
    StaffLogEntry,
    StaffSession,
)
from casework.unit_of_work import UnitOfWork

STAFF_ROLES = frozenset({Role.SOCIAL_WORKER, Role.SUPERVISOR, Role.EVALUATOR, Role.ADMIN})
LINK_VALID_FOR = timedelta(minutes=10)
IDLE_AFTER = timedelta(minutes=15)
TOUCH_AFTER = timedelta(seconds=30)  # how stale a session's last request may be before it is written
SESSION_LASTS = timedelta(hours=12)
LOCK_AFTER_FAILURES = 6
LOCKED_FOR = timedelta(minutes=30)
PASSWORD_AT_LEAST = 10
LOGIN_FORM = re.compile(r"^[A-Za-z0-9._-]{3,64}$")

_hasher = PasswordHasher()
# Verified against when a login name is unknown, so that a wrong name takes as long as a wrong password.
_NOBODYS_HASH = _hasher.hash(secrets.token_urlsafe(16))


class SignInRefused(DomainError):
    """A sign-in that does not go through: the link is spent, the password wrong, the account locked."""


def token_hash(token: str) -> str:
    """What the store keeps of a link's or a session's token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: ``token`` goes into the browser's cookie and nowhere else."""

    token: str
    session: StaffSession
    person: Person


def is_staff(person: Person) -> bool:
    return person.active and person.role in STAFF_ROLES


class StaffSignIn:
    def __init__(self, database: UnitOfWork, clock: Clock) -> None:
        self.database = database
        self.clock = clock

    # --- the link the bot gives -------------------------------------------------------------------

    async def issue_link(self, person: Person) -> str:
        """A one-time sign-in token for ``person``, valid ``LINK_VALID_FOR``; the bot puts it in a link."""
        if not is_staff(person):
            raise SignInRefused(Refusal.WEB_STAFF_ONLY)
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            await tx.staff.add_link(
                token_hash=token_hash(token), person_id=person.id, expires_at=now + LINK_VALID_FOR, now=now
            )
            await tx.staff.log(person.id, StaffEvent.LINK_ISSUED, "", now=now)
        return token

    async def redeem_link(self, token: str) -> SignedIn:
        """The session a link opens; the link is spent by it. Refused when unknown, used or expired."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            person_id = await tx.staff.use_link(token_hash(token), now=now)
            person = await tx.people.get(person_id) if person_id is not None else None
            if person is None or not is_staff(person):
                raise SignInRefused(Refusal.WEB_LINK_SPENT)
        return await self._open(person, via="link")

    # --- passwords --------------------------------------------------------------------------------

    @staticmethod
    def login_name(person: Person) -> str | None:
        identity = person.identity_on(Channel.WEB)
        return identity.external_id if identity is not None else None

    async def set_password(self, person: Person, password: str, *, login: str | None = None) -> str:
        """Set the person's password (and, the first time, the login name it goes with); the login name."""
        if not is_staff(person):
            raise SignInRefused(Refusal.WEB_STAFF_ONLY)
        if len(password) < PASSWORD_AT_LEAST:
            raise InvalidInput(Refusal.WEB_PASSWORD_SHORT, at_least=PASSWORD_AT_LEAST)
        hashed = await asyncio.to_thread(_hasher.hash, password)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            current = await tx.people.get(person.id)
            if current is None:
                raise NotFound(Refusal.WEB_SESSION_ENDED)
            name = self.login_name(current)
            if name is None:
                name = (login or "").strip()
                if not LOGIN_FORM.match(name):
                    raise InvalidInput(Refusal.WEB_LOGIN_FORM)
                if await tx.people.by_identity(Channel.WEB, name.lower()) is not None:
                    raise Conflict(Refusal.WEB_LOGIN_TAKEN)
                name = name.lower()
                await tx.people.add_identity(person.id, Identity(Channel.WEB, name), now=now)
            await tx.staff.set_password(person.id, hashed, now=now)
            await tx.staff.log(person.id, StaffEvent.PASSWORD_SET, "", now=now)
        return name

    async def sign_in(self, login: str, password: str) -> SignedIn:
        """A session for the login name and password; after ``LOCK_AFTER_FAILURES`` wrong passwords in a
        row the account is locked for ``LOCKED_FOR``, whatever is typed."""
        name = login.strip().lower()
        now = self.clock.now()
        async with self.database.transaction() as tx:
            person = await tx.people.by_identity(Channel.WEB, name) if LOGIN_FORM.match(name) else None
            credentials = await tx.staff.credentials(person.id) if person is not None else None
        if person is None or credentials is None:
            await asyncio.to_thread(_matches, _NOBODYS_HASH, password)
            await self._log(None, StaffEvent.SIGN_IN_FAILED, "unknown login")
            raise SignInRefused(Refusal.WEB_BAD_SIGN_IN)
        if credentials.locked_until is not None and credentials.locked_until > now:
            await self._log(person.id, StaffEvent.SIGN_IN_FAILED, "locked")
            raise SignInRefused(Refusal.WEB_LOCKED, minutes=_minutes(credentials.locked_until - now))
        if not await asyncio.to_thread(_matches, credentials.password_hash, password):
            async with self.database.transaction() as tx:
                locked_until = await tx.staff.failed(
                    person.id, now=now, lock_after=LOCK_AFTER_FAILURES, lock_for=LOCKED_FOR
                )
                await tx.staff.log(person.id, StaffEvent.SIGN_IN_FAILED, name, now=now)
                if locked_until is not None:
                    await tx.staff.log(person.id, StaffEvent.LOCKED_OUT, "", now=now)
            if locked_until is not None:
                raise SignInRefused(Refusal.WEB_LOCKED, minutes=_minutes(locked_until - now))
            raise SignInRefused(Refusal.WEB_BAD_SIGN_IN)
        if not is_staff(person):
            await self._log(person.id, StaffEvent.SIGN_IN_FAILED, "not staff")
            raise SignInRefused(Refusal.WEB_STAFF_ONLY)
        return await self._open(person, via="password")

    # --- sessions ---------------------------------------------------------------------------------

    async def current(self, token: str) -> tuple[Person, StaffSession]:
        """Whose session ``token`` names, the session kept alive by this request; ``SignInRefused``
        (``web.session_ended``) when it ended, was idle ``IDLE_AFTER`` or is ``SESSION_LASTS`` old, or
        its person is no longer staff."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            session = await tx.staff.session(token_hash(token))
            if session is None or session.ended_at is not None:
                raise SignInRefused(Refusal.WEB_SESSION_ENDED)
            person = (await tx.people.many([session.person_id])).get(session.person_id)
            ending = (
                "idle"
                if now - session.last_seen_at >= IDLE_AFTER
                else "expired"
                if now - session.created_at >= SESSION_LASTS
                else "no longer staff"
                if person is None or not is_staff(person)
                else None
            )
            if ending is None and person is not None:
                if now - session.last_seen_at >= TOUCH_AFTER:  # not a write on every page
                    await tx.staff.touch(session.id, now=now)
                return person, session
            await tx.staff.end(session.id, now=now)
            await tx.staff.log(session.person_id, StaffEvent.SIGNED_OUT, ending or "", now=now)
        raise SignInRefused(Refusal.WEB_SESSION_ENDED)

    async def sign_out(self, session: StaffSession) -> None:
        now = self.clock.now()
        async with self.database.transaction() as tx:
            await tx.staff.end(session.id, now=now)
            await tx.staff.log(session.person_id, StaffEvent.SIGNED_OUT, "signed out", now=now)

    async def revoke(self, person_id: int) -> int:
        """End every session of the person (an operator's ``needsbot web sessions revoke``): how many."""
        now = self.clock.now()
        async with self.database.transaction() as tx:
            ended = await tx.staff.end_all(person_id, now=now)
            await tx.staff.log(person_id, StaffEvent.SESSIONS_REVOKED, str(ended), now=now)
        return ended

    async def log(
        self,
        *,
        person_id: int | None = None,
        event: StaffEvent | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[StaffLogEntry]:
        """The staff log, newest first, narrowed by person, event and time."""
        async with self.database.transaction(savepoint=False) as tx:
            return await tx.staff.entries(
                person_id=person_id, event=event, since=since, until=until, limit=limit
            )

    async def _open(self, person: Person, *, via: str) -> SignedIn:
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        async with self.database.transaction() as tx:
            if via == "password":
                await tx.staff.succeeded(person.id)
            session = await tx.staff.add_session(
                token_hash=token_hash(token),
                person_id=person.id,
                csrf_token=secrets.token_urlsafe(32),
                via=via,
                now=now,
            )
            await tx.staff.log(person.id, StaffEvent.SIGNED_IN, via, now=now)
        return SignedIn(token, session, person)

    async def _log(self, person_id: int | None, event: StaffEvent, detail: str) -> None:
        async with self.database.transaction() as tx:
            await tx.staff.log(person_id, event, detail, now=self.clock.now())


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _minutes(left: timedelta) -> int:
    return max(1, -(-int(left.total_seconds()) // 60))
