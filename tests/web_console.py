"""The web console over a casework world, and staff signed in to it, for the console's tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette

from bot.web.app import build_app
from bot.web.sessions import COOKIE
from casework.domain import Channel, Identity, Person, Role, Ticket
from casework.people import People
from casework.staff_sign_in import StaffSignIn, token_hash
from dialogs.catalog import Catalog
from storage import Database
from tests.casework_world import World, build_world

BASE_URL = "http://console.test"


@dataclass
class Console:
    world: World
    sign_in: StaffSignIn
    people: People
    catalog: Catalog
    app: Starlette

    def person(self, name: str) -> Person:
        return self.world.people[name]

    async def token_for(self, name: str) -> str:
        """A session's cookie for the person of this name, signed in by a one-time link."""
        signed = await self.sign_in.redeem_link(await self.sign_in.issue_link(self.person(name)))
        return signed.token

    async def forged_token(self, name: str) -> str:
        """A session put straight into the store for someone who may not sign in (a resident): what a
        stolen or left-over row would be. The console must still refuse it."""
        token = secrets.token_urlsafe(32)
        async with self.world.database.transaction() as tx:
            await tx.staff.add_session(
                token_hash=token_hash(token),
                person_id=self.person(name).id,
                csrf_token="forged",
                via="link",
                now=self.world.clock.now(),
            )
        return token

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL)
        if token is not None:
            client.cookies.set(COOKIE, token)
        return client

    async def csrf_of(self, token: str) -> str:
        _, session = await self.sign_in.current(token)
        return session.csrf_token

    async def open_ticket(self, area: str = "c1", **fields: object) -> Ticket:
        return (await self.world.casework.open_ticket(self.world.report(area, **fields))).ticket


async def build_console(database: Database, catalog: Catalog | None = None) -> Console:
    world = await build_world(database)
    async with database.transaction() as tx:
        world.people["evaluator"] = await tx.people.add(
            now=world.clock.now(),
            identity=Identity(Channel.TELEGRAM, "1900"),
            display_name="evaluator",
            role=Role.EVALUATOR,
            area_ids=[world.areas["s1"]],
        )
    sign_in = StaffSignIn(database, world.clock)
    people = People(database, world.clock)
    catalog = catalog or Catalog.load()
    app = build_app(world.casework, people, sign_in, catalog, base_url=BASE_URL)
    return Console(world, sign_in, people, catalog, app)
