"""Driving the dialog engine in tests: people type and press buttons, the test reads message keys."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from bot.bootstrap import bootstrap
from casework.clock import ManualClock
from casework.domain import AreaLevel, Channel, Identity, Person, Role, ServiceType
from casework.follow_ups import FollowUpWork
from casework.people import People
from casework.relay import OutboxRelay
from casework.service import Casework
from dialogs.catalog import Catalog
from dialogs.engine import DialogEngine
from dialogs.messages import Button, Reply
from dialogs.state import MemoryDialogStore, MemoryLocks
from dialogs.turn import Turn
from nlu.policy import PolicyKnowledgeBase
from storage import Database
from tests.casework_world import START
from tests.conftest import settings_for
from tests.doubles import RecordingFollowUps, RecordingNotifier

_MODEL_DIR = Path(__file__).resolve().parent.parent / "var" / "test-nlu"
# The two communities' centres, 3.3 km apart.
C1_CENTRE = (30.556, 114.315)
C2_CENTRE = (30.528, 114.345)


@dataclass
class Chat:
    """One person's side of the conversation."""

    harness: Harness
    user_id: int
    language: str = "zh"
    last: list[Reply] = field(default_factory=list)

    async def say(self, text: str) -> list[Reply]:
        return await self._turn(
            Turn(channel="console", user_id=self.user_id, language_hint=self.language, text=text)
        )

    async def press(self, which: str | int) -> list[Reply]:
        """Press a button of the last replies: by label key, literal label, or number (from 1)."""
        button = self.button(which)
        return await self._turn(
            Turn(channel="console", user_id=self.user_id, language_hint=self.language, button=button.value)
        )

    async def send(self, turn: Turn) -> list[Reply]:
        return await self._turn(turn)

    async def report(self, words: str, community: str, size: int, *, phone: str | None = None) -> None:
        """Tell a need in ``words``, take the service offered, and fill in the form to its submission:
        the ``community`` button, a household of ``size``, nothing ticked, to be reached by ``phone``
        if given, otherwise in the chat."""
        await self.say(words)
        await self.press("button.yes")
        await self.press(community)
        await self.press(size)
        await self.press("button.done")
        if phone is None:
            await self.press("need.contact.chat")
        else:
            await self.press("need.contact.phone")
            await self.say(phone)
        await self.press("need.button.submit")

    def button(self, which: str | int) -> Button:
        buttons = [button for reply in self.last for button in reply.flat_buttons]
        if isinstance(which, int):
            return buttons[which - 1]
        for button in buttons:
            if which in (button.label, button.value.split("|", 1)[-1]):
                return button
        raise AssertionError(f"no button {which!r} among {[b.label for b in buttons]}")

    async def _turn(self, turn: Turn) -> list[Reply]:
        replies, self.language = await self.harness.engine.handle(turn)
        for reply in replies:  # every message and label must exist in both catalogs
            for language in ("zh", "en"):
                self.harness.catalog.render(reply, language)
                for button in reply.flat_buttons:
                    self.harness.catalog.label(button, language)
        if any(reply.buttons for reply in replies) or replies:
            self.last = replies
        return replies

    @property
    def keys(self) -> list[str]:
        return [reply.key for reply in self.last]

    def text(self) -> str:
        """The last replies as the person reads them, button labels included."""
        catalog = self.harness.catalog
        lines = []
        for reply in self.last:
            lines.append(catalog.render(reply, self.language))
            lines += [catalog.label(button, self.language) for button in reply.flat_buttons]
        return "\n".join(lines)


@dataclass
class Harness:
    database: Database
    clock: ManualClock
    engine: DialogEngine
    casework: Casework
    people: People
    catalog: Catalog
    notifier: RecordingNotifier
    relay: OutboxRelay
    work: FollowUpWork
    follow_ups: RecordingFollowUps
    areas: dict[str, int]

    def chat(self, user_id: int, language: str = "zh") -> Chat:
        return Chat(self, user_id, language)

    async def enrol(
        self,
        user_id: int,
        role: Role,
        area: str = "s1",
        *,
        service_types: tuple[ServiceType, ...] = tuple(ServiceType),
        organisation_id: int | None = None,
        display_name: str = "",
        language: str = "zh",
    ) -> Person:
        """A person already enrolled with this role (as an invite would do)."""
        async with self.database.transaction() as tx:
            person = await tx.people.by_identity(Channel.CONSOLE, str(user_id))
            if person is None:
                person = await tx.people.add(
                    now=self.clock.now(),
                    identity=Identity(Channel.CONSOLE, str(user_id)),
                    role=role,
                    display_name=display_name or f"user {user_id}",
                    language=language,
                    service_types=service_types,
                    organisation_id=organisation_id,
                )
            else:
                person = await tx.people.update(person.id, role=role, organisation_id=organisation_id)
                await tx.people.set_service_types(person.id, service_types)
            return await tx.people.set_areas(person.id, [self.areas[area]])


@functools.cache
def _knowledge_base() -> PolicyKnowledgeBase:
    """Loaded once for every harness: loading fits the entry classifier, and nothing changes it."""
    return PolicyKnowledgeBase.load()


async def build_harness(database: Database) -> Harness:
    clock = ManualClock(START)
    now = clock.now()
    async with database.transaction() as tx:
        district = await tx.areas.add(
            code="d", name="城东区", name_en="Chengdong District", level=AreaLevel.DISTRICT
        )
        s1 = await tx.areas.add(
            code="s1", name="和平街道", name_en="Heping", level=AreaLevel.STREET, parent_id=district.id
        )
        c1 = await tx.areas.add(
            code="c1",
            name="光明社区",
            name_en="Guangming",
            level=AreaLevel.COMMUNITY,
            parent_id=s1.id,
            location=C1_CENTRE,
        )
        c2 = await tx.areas.add(
            code="c2",
            name="幸福社区",
            name_en="Xingfu",
            level=AreaLevel.COMMUNITY,
            parent_id=s1.id,
            location=C2_CENTRE,
        )
        await tx.organisations.add(
            name="阳光社工", service_types=list(ServiceType), area_ids=[s1.id], now=now
        )
        areas = {"d": district.id, "s1": s1.id, "c1": c1.id, "c2": c2.id}
    follow_ups = RecordingFollowUps()
    notifier = RecordingNotifier()
    parts = bootstrap(
        settings_for(database, nlu_model_dir=_MODEL_DIR),
        database=database,
        clock=clock,
        notifier=notifier,
        follow_ups=follow_ups,
        knowledge=_knowledge_base(),
        dialog_store=MemoryDialogStore(),
        locks=MemoryLocks(),
    )
    assert parts.conversations is not None
    assert isinstance(parts.relay, OutboxRelay)
    return Harness(
        database=database,
        clock=clock,
        engine=parts.conversations.engine,
        casework=parts.casework,
        people=parts.people,
        catalog=parts.conversations.catalog,
        notifier=notifier,
        relay=parts.relay,
        work=parts.jobs.follow_ups,
        follow_ups=follow_ups,
        areas=areas,
    )
