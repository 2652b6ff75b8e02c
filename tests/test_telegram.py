"""The Telegram front end end to end: the real PTB ``Application`` over HTTP against a Bot API fake.

Every scenario runs in long-polling mode (SQLite, dialog state in the database) and in webhook mode
(PostgreSQL, Redis for dialog state, locks and the alert stream).
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
from redis.exceptions import ResponseError
from sqlalchemy import select

from bot.bootstrap import Needsbot, bootstrap
from bot.settings import Settings, load_settings
from bot.telegram_bot import serve
from bot.telegram_delivery import TelegramLimits, outgoing
from bot.telegram_front import TelegramFrontEnd
from bot.telegram_menus import ROLE_COMMANDS
from bot.telegram_ui import CallbackSigner, Renderer
from bot.web import console_app
from casework import directory, jobs
from casework.domain import AlertKind, Channel, Role, ServiceType, Ticket, TicketStatus, Urgency
from casework.opening import NewReport
from dialogs.catalog import Catalog
from dialogs.messages import Button, Reply
from storage import Database, create_database
from storage.dialog_state import RedisDialogStore
from storage.models import OutgoingRow
from storage.repositories import Outgoing
from storage.repositories.outgoing import OutgoingRepository
from tests.conftest import _emptied
from tests.services import TEST_REDIS_URL, drop_connections, flushed_test_redis
from tests.telegram_fake import BotApiFake, SentMessage

MODEL_DIR = Path(__file__).resolve().parent.parent / "var" / "test-nlu"
CATALOG = Catalog.load()
SECRET = "webhook-secret-for-tests"


def fragment(key: str, language: str = "zh") -> str:
    """The longest piece of a catalog text that no placeholder touches: what a test can look for."""
    template = CATALOG.texts[language][key]
    return max(re.split(r"\{[^}]*\}", template), key=len).strip()


def label(key: str, language: str = "zh", **args: object) -> str:
    return CATALOG.text(key, language, **args)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Account:
    """Someone using Telegram, as the fake sees them: what they send and what the bot shows them."""

    fake: BotApiFake
    user_id: int
    language: str = "zh"
    patience: float = 15.0  # how long ``expect`` waits unless told
    _before: dict[int, tuple[str, list[tuple[str, str]]]] = field(default_factory=dict)

    def _snapshot(self) -> None:
        self._before = {m.message_id: (m.text, m.buttons) for m in self.fake.sent_to(self.user_id)}

    def say(self, text: str, *, first_name: str = "Test") -> int:
        self._snapshot()
        return self.fake.message(self.user_id, text, language_code=self.language, first_name=first_name)

    def share_location(self, latitude: float, longitude: float) -> int:
        self._snapshot()
        return self.fake.message(self.user_id, location=(latitude, longitude), language_code=self.language)

    def button(self, text: str) -> tuple[SentMessage, str]:
        """The newest message showing a button whose label contains ``text``, and that button's data."""
        for message in reversed(self.fake.sent_to(self.user_id)):
            for caption, data in message.buttons:
                if text in caption:
                    return message, data
        raise AssertionError(f"no button {text!r} in chat {self.user_id}: {self.transcript()}")

    def press(self, text: str) -> int:
        message, data = self.button(text)
        self._snapshot()
        return self.fake.callback(self.user_id, message.message_id, data, language_code=self.language)

    def changed(self) -> list[SentMessage]:
        """Messages sent, or edited, since the last thing this person did."""
        return [
            m
            for m in self.fake.sent_to(self.user_id)
            if self._before.get(m.message_id) != (m.text, m.buttons)
        ]

    async def expect(self, *fragments: str, within: float | None = None) -> SentMessage:
        found: list[SentMessage] = []

        def seen() -> bool:
            found[:] = [m for m in self.changed() if all(f in m.text for f in fragments)]
            return bool(found)

        try:
            await self.fake.wait_for(seen, within or self.patience)
        except AssertionError:
            raise AssertionError(f"{fragments} not shown to {self.user_id}: {self.transcript()}") from None
        return found[-1]

    async def agree_to_everything(self) -> None:
        """/start, and yes to each of the three consent questions."""
        self.say("/start")
        await self.expect(fragment("consent.ask.store_report"))
        for question in ("consent.ask.share_with_agency", "consent.ask.contact_me", "consent.recorded"):
            self.press(label("button.yes"))
            await self.expect(fragment(question))

    def transcript(self) -> list[str]:
        return [m.text[:80] for m in self.fake.sent_to(self.user_id)]


@dataclass
class Running:
    fake: BotApiFake
    needsbot: Needsbot
    database: Database
    settings: Settings
    mode: str

    @property
    def front(self) -> TelegramFrontEnd:
        assert self.needsbot.telegram is not None
        return self.needsbot.telegram

    def account(self, user_id: int, language: str = "zh") -> Account:
        return Account(self.fake, user_id, language)

    async def open_ticket(
        self, reporter: int, text: str, summary: str, service_type: ServiceType, urgency: Urgency
    ) -> Ticket:
        """A ticket in 光明社区 from a resident who agreed to everything, opened as casework opens one."""
        await self.account(reporter).agree_to_everything()
        async with self.database.transaction() as tx:
            area = await tx.areas.by_code("guangming")
            person = await tx.people.by_identity(Channel.TELEGRAM, str(reporter))
        assert area is not None
        assert person is not None
        opened = await self.needsbot.casework.open_ticket(
            NewReport(
                text=text,
                language="zh",
                intent=f"need_{service_type.value}",
                confidence=0.9,
                service_type=service_type,
                urgency=urgency,
                area_id=area.id,
                channel=Channel.TELEGRAM,
                summary=summary,
                reporter_id=person.id,
            )
        )
        return opened.ticket

    async def alert_in_group(self) -> tuple[Account, SentMessage, str]:
        """A worker (501) and a supervisor (801) enrolled, the workers' group of 光明社区 (GROUP) registered
        by the supervisor, and a resident's ticket there alerted in the group: the worker, the alert, and
        the data of its Claim button."""
        worker = await self.enrol(501, Role.SOCIAL_WORKER)
        await self.enrol(801, Role.SUPERVISOR)
        self.fake.message(801, "/register_group 光明社区", chat_id=GROUP, chat_type="supergroup")
        await self.fake.wait_for(
            lambda: any(fragment("group.registered") in m.text for m in self.fake.sent_to(GROUP))
        )
        ticket = await self.open_ticket(
            608, "老人独居无人照顾", "独居", ServiceType.RESOURCE_LINKING, Urgency.NORMAL
        )
        await self.fake.wait_for(
            lambda: any(ticket.reference in m.text and m.buttons for m in self.fake.sent_to(GROUP))
        )
        [alert] = [m for m in self.fake.sent_to(GROUP) if ticket.reference in m.text]
        claim = next(data for caption, data in alert.buttons if caption == label("alert.button.claim"))
        return worker, alert, claim

    async def enrol(self, user_id: int, role: Role, area: str = "heping", language: str = "zh") -> Account:
        """Enrolment as it happens: an invite code, opened by the deep link's /start CODE."""
        invite = await directory.create_invite(
            self.database, role=role, area_code=area, now=_now(), valid_for=timedelta(days=1)
        )
        account = self.account(user_id, language)
        account.say(f"/start {invite.code}")
        await account.expect(fragment("enrol.done", language))
        return account


GROUP = -100123  # 光明社区's workers' group


def _now() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def bot_running(
    request: pytest.FixtureRequest, mode: str, *, web: bool = False
) -> AsyncIterator[Running]:
    """needsbot on Telegram against the Bot API fake, on SQLite by long polling or on PostgreSQL and
    Redis by webhook, with the demonstration's areas; with ``web``, the web console served with it
    (at ``Running.web_url``: on a port of its own, or by webhook in the webhook's server)."""
    redis_url: str | None = None
    if mode == "webhook":
        url = request.getfixturevalue("postgres_url")
        database = await _emptied(url)
        await flushed_test_redis()
        redis_url = TEST_REDIS_URL
    else:
        url = request.getfixturevalue("sqlite_url")
        database = create_database(url)
    await directory.load_demo_if_empty(database, now=_now())
    async with BotApiFake() as fake:
        port = free_port()
        web_port = port if mode == "webhook" else free_port()
        settings = load_settings(
            database_url=url,
            redis_url=redis_url,
            telegram_bot_token=fake.token,
            telegram_api_base_url=fake.base_url.removesuffix("/bot"),
            webhook_url=f"http://127.0.0.1:{port}/telegram/hook" if mode == "webhook" else None,
            webhook_secret=SECRET if mode == "webhook" else None,
            webhook_listen="127.0.0.1",
            webhook_port=port,
            nlu_model_dir=MODEL_DIR,
            web_base_url=f"http://127.0.0.1:{web_port}" if web else None,
            web_port=web_port,
        )
        stop = asyncio.Event()
        started: asyncio.Future[Needsbot] = asyncio.get_running_loop().create_future()
        limits = TelegramLimits(chat_burst=0, backoff=0.05)  # the flood limits, without slowing the tests
        needsbot = bootstrap(settings, telegram=True, web=web, database=database, telegram_limits=limits)
        console = console_app(needsbot) if web else None
        task = asyncio.create_task(serve(needsbot, stop, console=console, started=started))
        waiting: set[asyncio.Future[Any]] = {task, started}
        done, _ = await asyncio.wait(waiting, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # raises what stopped it
        try:
            yield Running(fake, started.result(), database, settings, mode)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            await database.dispose()
        assert gc.get_freeze_count() == 0  # a stopped bot gives its start-up objects back to the collector


@pytest.fixture(params=["polling", pytest.param("webhook", marks=[pytest.mark.postgres, pytest.mark.redis])])
async def running(request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    async with bot_running(request, request.param) as bot:
        yield bot


# --- a recipient's whole case ---------------------------------------------------------------------


async def test_the_running_bot_keeps_what_start_up_built_out_of_the_collectors_way(running: Running) -> None:
    assert gc.get_freeze_count() > 100_000  # the NLU model, catalogs, SQLAlchemy and PTB among them


async def test_a_report_becomes_a_ticket_two_workers_are_alerted_one_claims_and_the_household_rates(
    running: Running,
) -> None:
    fake = running.fake
    first = await running.enrol(501, Role.SOCIAL_WORKER)
    second = await running.enrol(502, Role.SOCIAL_WORKER)

    resident = running.account(601)
    await resident.agree_to_everything()
    resident.say("家里房租交不起了，房东催了好几次")
    await resident.expect(fragment("need.confirm_type"))
    resident.press(label("button.yes"))
    await resident.expect(fragment("need.area"))
    resident.press("和平街道")
    # A step down the area tree edits the question in place.
    tree = await resident.expect(fragment("need.area"))
    assert "光明社区" in str(tree.buttons)
    assert not [m for m in resident.changed() if m.message_id != tree.message_id]
    resident.press("光明社区")
    await resident.expect(fragment("need.size"))
    resident.press("3")
    await resident.expect(fragment("need.situation"))
    resident.press(label("tag.low_income", mark=""))
    ticked = await resident.expect(fragment("need.situation"))
    assert any("✓" in caption for caption, _ in ticked.buttons)
    resident.press(label("button.done"))
    await resident.expect(fragment("need.contact"))
    resident.press(label("need.contact.chat"))
    await resident.expect(fragment("need.summary"))
    resident.press(label("need.button.submit"))
    submitted = await resident.expect("SA-")
    reference = re.search(r"SA-\d{8}-\d{4}", submitted.text)
    assert reference is not None
    async with running.database.transaction() as tx:
        [ticket] = await tx.tickets.find()
    assert ticket.reference == reference.group(0)

    # Both workers of the area get the alert: the least personal data, and the four buttons.
    for worker in (first, second):
        alert = await worker.expect(ticket.reference, fragment("alert.ticket_opened"))
        assert "138" not in alert.text
        assert "家里房租交不起了" not in alert.text
        captions = [caption for caption, _ in alert.buttons]
        assert captions == [label(f"alert.button.{name}") for name in ("claim", "view", "refer", "close")]

    first.press(label("alert.button.claim"))
    await first.expect(fragment("worker.claim.done"))
    edited = await second.expect(ticket.reference, fragment("alert.ticket_taken"))
    assert edited.edits
    assert not edited.buttons
    await resident.expect(ticket.reference, fragment("alert.case_claimed"))

    first.press(label("alert.button.view"))
    await first.expect(ticket.reference)
    first.press(label("worker.button.resolve"))
    await first.expect(fragment("worker.resolve.ask"))
    first.say("已帮助申请临时救助和住房补贴")
    await first.expect(fragment("worker.resolve.tell_ask"))
    first.press(label("worker.resolve.tell_nothing"))
    await first.expect(fragment("worker.resolve.done"))
    await resident.expect(ticket.reference, fragment("alert.case_resolved"))
    first.press(label("alert.button.close"))
    await first.expect(fragment("worker.close.done"))
    await resident.expect(ticket.reference, fragment("alert.case_closed"))

    # The survey was scheduled in the job store; it runs here as the scheduler would at its time.
    scheduler = running.needsbot.scheduler.scheduler
    assert scheduler.get_job(f"survey:{ticket.id}") is not None
    await jobs.satisfaction_survey(running.needsbot.jobs, ticket.id)
    await resident.expect(ticket.reference, fragment("alert.satisfaction_survey"))
    resident.press(label("alert.button.rate", n=5))
    await resident.expect(ticket.reference, fragment("survey.thanks"))
    async with running.database.transaction() as tx:
        closed = await tx.tickets.get(ticket.id)
        assert closed is not None
        assert closed.status is TicketStatus.CLOSED
    assert not [call for call in fake.calls if not call.ok], "the bot made a request Telegram refused"


async def file_report(
    resident: Account,
    text: str,
    *,
    first_name: str = "Test",
    size: str = "3",
    tags: tuple[str, ...] = (),
    contact: str | None = "need.contact.chat",
    phones: tuple[str, ...] = (),
) -> str:
    """A resident (their consents given) reports a need in 光明社区: household ``size`` as typed, the
    situation ``tags``, the way of ``contact`` (None: they did not agree to be contacted, so it is not
    asked), and for a phone each number of ``phones`` typed in turn (the last one taken); returns the
    ticket's reference."""
    resident.say(text, first_name=first_name)
    await resident.expect(fragment("need.confirm_type"))
    resident.press(label("button.yes"))
    await resident.expect(fragment("need.area"))
    resident.press("和平街道")
    await resident.expect(fragment("need.area"))
    resident.press("光明社区")
    await resident.expect(fragment("need.size"))
    resident.say(size)
    await resident.expect(fragment("need.situation"))
    for tag in tags:
        resident.press(label(f"tag.{tag}", mark=""))
        await resident.expect(fragment("need.situation"))
    resident.press(label("button.done"))
    if contact is not None:
        await resident.expect(fragment("need.contact"))
        resident.press(label(contact))
    for number, phone in enumerate(phones):
        await resident.expect(fragment("need.phone" if number == 0 else "need.phone_invalid"))
        resident.say(phone)
    await resident.expect(fragment("need.summary"))
    resident.press(label("need.button.submit"))
    submitted = await resident.expect("SA-")
    found = re.search(r"SA-\d{8}-\d{4}", submitted.text)
    assert found is not None
    return found.group(0)


async def test_a_name_and_words_with_a_nul_or_a_lone_surrogate_still_make_a_report(running: Running) -> None:
    """PostgreSQL refuses a NUL in any text, and a surrogate alone cannot be encoded at all: both are
    cleaned where the update comes in, and the person files their report as anyone else."""
    resident = running.account(641)
    await resident.agree_to_everything()
    words = "家里房租交不起了\x00，房东\ud800催了好几次"
    reference = await file_report(resident, words, first_name="王\x00阿姨")
    async with running.database.transaction() as tx:
        [ticket] = await tx.tickets.find()
        [report] = await tx.reports.for_ticket(ticket.id)
        person = await tx.people.by_identity(Channel.TELEGRAM, "641")
    assert ticket.reference == reference
    assert report.text == "家里房租交不起了，房东\ufffd催了好几次"
    assert person is not None
    assert "\x00" not in person.display_name


@pytest.mark.parametrize("running", [pytest.param("webhook", marks=[pytest.mark.postgres])], indirect=True)
async def test_a_submission_whose_dialog_state_was_lost_after_the_commit_opens_one_ticket(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis refuses the dialog state's write after the report's commit (out of memory): the person is
    told the ticket's reference, not "not done"; submitting again from the state left behind opens no
    second ticket and shows the same reference."""
    resident = running.account(642)
    await resident.agree_to_everything()
    assert running.needsbot.conversations is not None
    store = running.needsbot.conversations.store
    assert isinstance(store, RedisDialogStore)
    client = store.client

    class Refusing:
        """The store's Redis, refusing the state's write (a transaction) as a full Redis would."""

        def pipeline(self, *args: Any, **kwargs: Any) -> Any:
            raise ResponseError("OOM command not allowed when used memory > 'maxmemory'.")

        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

    summary_reached = asyncio.Event()
    original_expect = resident.expect

    async def expect_then_refuse(*fragments: str, within: float | None = None) -> SentMessage:
        shown = await original_expect(*fragments, within=within)
        if fragment("need.summary") in fragments:
            monkeypatch.setattr(store, "client", Refusing())
            summary_reached.set()
        return shown

    monkeypatch.setattr(resident, "expect", expect_then_refuse)
    reference = await file_report(resident, "家里房租交不起了，房东催了好几次")
    assert summary_reached.is_set()
    monkeypatch.setattr(store, "client", client)
    apology = CATALOG.text("telegram.apology", "zh")
    assert apology not in [m.text for m in running.fake.sent_to(642)]

    resident.say("是")  # the state still shows the summary: Submit again
    again = await resident.expect("SA-")
    assert reference in again.text
    async with running.database.transaction() as tx:
        assert [ticket.reference for ticket in await tx.tickets.find()] == [reference]


# --- a volunteer's flag -----------------------------------------------------------------------------


async def test_a_volunteer_flags_a_household_in_chinese_and_sees_status_only(running: Running) -> None:
    await running.enrol(501, Role.SOCIAL_WORKER)
    volunteer = await running.enrol(701, Role.VOLUNTEER)
    volunteer.say("/flag")
    await volunteer.expect(fragment("flag.area"), label("area.by_location").lstrip("，"))
    volunteer.share_location(30.5562, 114.3149)  # a few dozen metres from 光明社区's centre
    await volunteer.expect(fragment("area.location_confirm"), "光明社区")
    volunteer.press(label("button.yes"))
    await volunteer.expect(fragment("flag.address"))
    volunteer.say("5号楼2单元301")
    await volunteer.expect(fragment("flag.observed"))
    volunteer.say("老人一个人住，腿脚不好，买菜做饭都困难")
    await volunteer.expect(fragment("flag.service_suggested"))
    volunteer.press(label("service.social_integration"))
    await volunteer.expect(fragment("flag.situation"))
    volunteer.press(label("tag.elder_alone", mark=""))
    await volunteer.expect(fragment("flag.situation"))
    volunteer.press(label("button.done"))
    await volunteer.expect(fragment("flag.knows"))
    volunteer.press(label("flag.knows.no"))
    await volunteer.expect(fragment("flag.summary"), "5号楼2单元301", "光明社区")
    volunteer.press(label("flag.button.submit"))
    done = await volunteer.expect(fragment("flag.submitted"))
    reference = re.search(r"SA-\d{8}-\d{4}", done.text)
    assert reference is not None
    volunteer.say("/status")
    status = await volunteer.expect(reference.group(0))
    assert "5号楼" not in status.text
    assert "老人一个人住" not in status.text


# --- command menus ----------------------------------------------------------------------------------


def _menu(fake: BotApiFake, chat_id: int | None = None, language: str | None = None) -> list[str] | None:
    """The command names Telegram holds for the chat's own scope, or the default one."""
    commands = _commands(fake, chat_id, language)
    return None if commands is None else [command["command"] for command in commands]


def _commands(fake: BotApiFake, chat_id: int | None, language: str | None) -> list[dict[str, str]] | None:
    scope = (
        "default"
        if chat_id is None
        else json.dumps({"chat_id": chat_id, "type": "chat"}, separators=(",", ":"))
    )
    return fake.commands.get((scope, language))


async def test_command_menus_follow_role_and_language(running: Running) -> None:
    fake = running.fake
    recipient_menu = list(ROLE_COMMANDS[Role.RECIPIENT])
    assert _menu(fake, language="zh") == recipient_menu
    assert _menu(fake, language="en") == recipient_menu
    # A new recipient whose Telegram app speaks Chinese already sees the Chinese default menu.
    resident = running.account(611)
    resident.say("/help")
    await resident.expect(fragment("help.menu"))
    resident.say("/help")  # handled after the first update's menu step (one chat, in order)
    await resident.expect(fragment("help.menu"))
    assert _menu(fake, 611) is None
    # Choosing English gives the chat its own menu, in English.
    resident.say("/lang en")
    await resident.expect(fragment("lang.switched", "en"))
    await fake.wait_for(lambda: _menu(fake, 611) is not None, 15)
    assert _menu(fake, 611) == recipient_menu
    english = _commands(fake, 611, None)
    assert english is not None
    assert english[0]["description"] == CATALOG.text(f"menu.{recipient_menu[0]}", "en")
    # A worker, enrolled by the deep link, gets the casework commands.
    await running.enrol(612, Role.SOCIAL_WORKER)
    await fake.wait_for(lambda: _menu(fake, 612) is not None, 15)
    assert _menu(fake, 612) == list(ROLE_COMMANDS[Role.SOCIAL_WORKER])


# --- delivery that loses nothing ----------------------------------------------------------------------


async def test_the_same_update_delivered_twice_is_handled_once(running: Running) -> None:
    resident = running.account(602)
    resident.say("/start")
    await resident.expect(fragment("consent.ask.store_report"))
    resident.press(label("button.yes"))
    await resident.expect(fragment("consent.ask.share_with_agency"))
    replies = len(running.fake.sent_to(602))
    running.fake.push(running.fake.last_update())  # Telegram sends the press again
    resident.say("/help")  # and then something new, handled after it
    await resident.expect(fragment("help.menu"))
    assert len(running.fake.sent_to(602)) == replies + 1  # nothing for the repeated press
    resident.press(label("button.yes"))  # the dialog is still at the second question
    await resident.expect(fragment("consent.ask.contact_me"))


async def test_forged_callback_data_is_refused_politely(running: Running) -> None:
    resident = running.account(603)
    resident.say("/start")
    await resident.expect(fragment("consent.ask.store_report"))
    question, data = resident.button(label("button.yes"))
    value = data.rpartition("~")[0]
    for forged in (value, f"{value}~AAAAAAAAAAA", "!claim:1~AAAAAAAAAAA"):
        running.fake.callback(603, question.message_id, forged)
    running.fake.callback(604, question.message_id, data)  # a button copied into another chat
    await running.fake.wait_for(lambda: len(running.fake.answered_callbacks) >= 4)
    answers = running.fake.answered_callbacks[-4:]
    assert all(answer.get("text") == label("telegram.forged") for answer in answers), answers
    async with running.database.transaction() as tx:
        person = await tx.people.by_identity(Channel.TELEGRAM, "603")
        assert person is not None
        assert await tx.consents.history(person.id) == []
    resident.press(label("button.yes"))  # none of them moved the dialog: the real button still answers
    await resident.expect(fragment("consent.ask.share_with_agency"))


async def test_a_429_is_waited_out_and_the_message_still_arrives(running: Running) -> None:
    resident = running.account(605)
    running.fake.fail_next("sendMessage", retry_after=1)
    resident.say("/help")
    await resident.expect(fragment("help.menu"))
    refused = [call for call in running.fake.calls if call.method == "sendMessage" and not call.ok]
    delivered = [
        call
        for call in running.fake.calls
        if call.method == "sendMessage" and call.ok and call.params.get("chat_id") == 605
    ]
    assert len(refused) == 1
    assert delivered[0].at - refused[0].at >= 1.0  # it waited as long as Telegram said


async def test_a_committed_turns_reply_outlasts_a_429_storm_and_no_apology_is_sent(running: Running) -> None:
    """Eight 429s in a row, more than the flood limiter retries itself: the turn was saved, so its reply
    is tried again as long as Telegram asks to wait, until it goes through; never a "sorry, not done"."""
    resident = running.account(608)
    running.fake.fail_next("sendMessage", retry_after=1, times=8)
    resident.say("/help")
    await resident.expect(fragment("help.menu"), within=40)
    texts = [m.text for m in running.fake.sent_to(608)]
    assert len(texts) == 1
    assert CATALOG.text("telegram.apology", "zh") not in texts
    answers = [
        call
        for call in running.fake.calls
        if call.method == "sendMessage" and call.params.get("chat_id") == 608
    ]
    assert [call.ok for call in answers] == [False] * 8 + [True]


async def test_network_failures_are_retried_with_growing_waits_and_the_message_still_arrives(
    running: Running,
) -> None:
    resident = running.account(607)
    running.fake.fail_next("sendMessage", error_code=502, description="Bad Gateway", times=2)
    resident.say("/help")
    await resident.expect(fragment("help.menu"))
    calls = [
        call
        for call in running.fake.calls
        if call.method == "sendMessage" and call.params.get("chat_id") == 607
    ]
    assert [call.ok for call in calls] == [False, False, True]
    first, second, third = (call.at for call in calls)
    assert second - first >= 0.05  # the running bot's backoff
    assert third - second >= 0.1  # twice that the next time


async def test_a_reply_left_waiting_goes_out_before_the_next_turns_reply(running: Running) -> None:
    """A message still waiting for the chat (its sender crashed, say) keeps its place: the next turn's
    reply is not claimed ahead of it but sent after it."""
    async with running.database.transaction() as tx:
        left = [Outgoing("左下的消息")]
        await tx.outgoing.add(left, channel=Channel.TELEGRAM, chat_id=609, update_id=None, now=_now())
    resident = running.account(609)
    resident.say("/help")
    await resident.expect(fragment("help.menu"))
    texts = [m.text for m in running.fake.sent_to(609)]
    assert texts[0] == "左下的消息"
    assert fragment("help.menu") in texts[1]

    async def waiting() -> list[Outgoing]:
        async with running.database.transaction() as tx:
            return await tx.outgoing.waiting(channel=Channel.TELEGRAM, chat_id=609)

    # The fake has the message once Telegram's answer is on its way back: it is marked sent when that
    # answer reaches the bot, a moment later.
    for _ in range(100):
        if not await waiting():
            break
        await asyncio.sleep(0.02)
    assert await waiting() == []


async def test_a_turns_reply_is_claimed_in_the_turn_and_sent_once(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn claims its own replies in its transaction: they are sent straight after the commit
    without being claimed again, marked sent after one try, and the sweep finds nothing to send."""
    claimed_later: list[int] = []
    claim = OutgoingRepository.claim

    async def counted(self: OutgoingRepository, message_id: int, **kwargs: Any) -> bool:
        claimed_later.append(message_id)
        return await claim(self, message_id, **kwargs)

    monkeypatch.setattr(OutgoingRepository, "claim", counted)
    resident = running.account(610)
    resident.say("/help")
    await resident.expect(fragment("help.menu"))

    async def replies() -> list[OutgoingRow]:
        async with running.database.transaction() as tx:
            return list(await tx.session.scalars(select(OutgoingRow).where(OutgoingRow.chat_id == 610)))

    # The fake has the message once Telegram's answer is on its way back: the row is marked sent when
    # that answer reaches the bot, a moment later.
    rows = await replies()
    for _ in range(100):
        if all(row.done_at is not None for row in rows):
            break
        await asyncio.sleep(0.02)
        rows = await replies()
    assert [(row.attempts, row.done_at is not None, row.claimed_until) for row in rows] == [(1, True, None)]
    assert rows[0].id not in claimed_later
    assert await running.front.replies.sweep() == 0
    assert len(running.fake.sent_to(610)) == 1


async def test_a_long_reply_is_split_cleanly(running: Running) -> None:
    messages = outgoing(running.front.renderer.messages([_long_reply()], 606, "zh"))
    async with running.database.transaction() as tx:
        await tx.outgoing.add(messages, channel=Channel.TELEGRAM, chat_id=606, update_id=None, now=_now())
    await running.front.replies.flush(606)
    pieces = running.fake.sent_to(606)
    assert len(pieces) == 3
    assert all(len(piece.text) <= 4096 for piece in pieces)
    assert "".join(piece.text for piece in pieces).count("字") == 9000  # nothing lost at the cuts
    assert all(piece.text.endswith("字") for piece in pieces)  # cut between lines


def test_a_turns_replies_arrive_as_one_message_up_to_each_question() -> None:
    renderer = Renderer(CATALOG, CallbackSigner(b"key"))
    yes = Button("button.yes", "ab12|yes")
    replies = [
        Reply("consent.recorded"),
        Reply("help.menu"),
        Reply("consent.ask.store_report", buttons=((yes,),)),
        Reply("consent.declined"),
    ]
    first, second = renderer.messages(replies, 42, "zh")
    assert first.text == "\n\n".join(
        CATALOG.text(key, "zh") for key in ("consent.recorded", "help.menu", "consent.ask.store_report")
    )
    assert first.markup is not None
    assert [button.text for row in first.markup.inline_keyboard for button in row] == ["是"]
    assert (second.text, second.markup) == (CATALOG.text("consent.declined", "zh"), None)
    # Run together past Telegram's limit, the text is split again; the buttons stay under the end.
    *pieces, last = renderer.messages(
        [_long_reply(), Reply("consent.ask.store_report", buttons=((yes,),))], 42, "zh"
    )
    assert all(len(piece.text) <= 4096 and piece.markup is None for piece in pieces)
    assert last.markup is not None
    assert last.text.endswith(CATALOG.text("consent.ask.store_report", "zh"))


def _long_reply() -> Reply:
    return Reply("error.refused", {"reason": "\n".join("字" * 100 for _ in range(90))})


async def test_photos_voice_and_stickers_get_a_helpful_reply(running: Running) -> None:
    resident = running.account(607)
    for kind in ("photo", "voice", "sticker", "document"):
        resident._snapshot()
        running.fake.message(607, None, kind=kind)
        await resident.expect(fragment(f"unsupported.{kind}"))


async def test_workers_group_only_enrolled_workers_presses_count(running: Running) -> None:
    worker, alert, claim = await running.alert_in_group()
    answered = len(running.fake.answered_callbacks)
    running.fake.callback(999, alert.message_id, claim, chat_id=GROUP, chat_type="supergroup")  # a stranger
    await running.fake.wait_for(lambda: len(running.fake.answered_callbacks) > answered)
    assert running.fake.answered_callbacks[-1].get("text") == label("telegram.workers_only")
    worker._snapshot()
    running.fake.callback(501, alert.message_id, claim, chat_id=GROUP, chat_type="supergroup")
    await worker.expect(fragment("worker.claim.done"))  # told privately, not in the group
    await running.fake.wait_for(lambda: fragment("alert.ticket_taken") in alert.text)


async def test_a_supervisor_gets_a_critical_tickets_escalation_and_can_open_it(running: Running) -> None:
    worker = await running.enrol(503, Role.SOCIAL_WORKER)
    supervisor = await running.enrol(802, Role.SUPERVISOR)
    ticket = await running.open_ticket(
        609,
        "邻居说老人好几天没出门了，敲门也没人应",
        "老人多日未出门",
        ServiceType.PSYCHOLOGICAL_SUPPORT,
        Urgency.CRITICAL,
    )
    reference = ticket.reference
    await worker.expect(reference, fragment("alert.ticket_opened"))
    # The supervisor is told at once, with the reason, and can open the ticket from the alert.
    escalation = await supervisor.expect(reference, CATALOG.text("escalation.critical", "zh"))
    assert "敲门也没人应" not in escalation.text
    assert [caption for caption, _ in escalation.buttons] == [
        label("alert.button.on_it"),
        label("alert.button.view"),
    ]
    supervisor.press(label("alert.button.on_it"))  # the crisis stops climbing the area tree
    await supervisor.expect(reference, fragment("worker.on_it.done"))
    await worker.expect(reference, fragment("alert.crisis_acknowledged"))
    supervisor.press(label("alert.button.view"))
    card = await supervisor.expect(reference, "老人多日未出门")
    assert card.message_id != escalation.message_id
    assert not [call for call in running.fake.calls if not call.ok], "the bot made a request Telegram refused"


# --- the service evaluation --------------------------------------------------------------------------


async def _report_files(running: Running, user_id: int) -> list[SentMessage]:
    """The four files of a report sent to the chat: three charts, then the workbook."""
    await running.fake.wait_for(lambda: len([m for m in running.fake.sent_to(user_id) if m.file]) >= 4, 30)
    return [m for m in running.fake.sent_to(user_id) if m.file]


def _check_report_files(files: list[SentMessage], period: str) -> None:
    assert [m.file.kind for m in files if m.file] == ["photo", "photo", "photo", "document"]
    for chart in files[:3]:
        assert chart.file is not None
        assert chart.file.content.startswith(b"\x89PNG")
    book = files[3].file
    assert book is not None
    assert book.name == f"indicators-{period}.xlsx"
    assert files[3].text == label("report.workbook_caption", period=period)
    sheets = openpyxl.load_workbook(io.BytesIO(book.content), read_only=True).sheetnames
    assert sheets[0] == "response"
    assert sheets[-1] == CATALOG.text("report.definitions", "zh")


async def test_a_supervisor_asks_for_the_evaluation_and_gets_the_figures_charts_and_workbook(
    running: Running,
) -> None:
    await running.enrol(505, Role.SOCIAL_WORKER)
    supervisor = await running.enrol(804, Role.SUPERVISOR)
    await running.open_ticket(611, "家里没米了", "缺粮", ServiceType.RESOURCE_LINKING, Urgency.NORMAL)
    supervisor.say("/evaluation")
    await supervisor.expect(fragment("report.ask_period"))
    supervisor.press(label("report.period.this-month"))
    summary = await supervisor.expect(fragment("report.summary"))
    assert "本月" in summary.text
    assert "新工单 1 张" in summary.text
    period = _now().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    _check_report_files(await _report_files(running, 804), period)
    assert not [call for call in running.fake.calls if not call.ok], "the bot made a request Telegram refused"


async def test_the_weekly_report_reaches_the_supervisor_with_its_charts_and_workbook(
    running: Running,
) -> None:
    supervisor = await running.enrol(805, Role.SUPERVISOR)
    await running.open_ticket(612, "想找份工作", "求职", ServiceType.CAPACITY_BUILDING, Urgency.NORMAL)
    work = running.needsbot.jobs.follow_ups
    assert await work.send_reports(AlertKind.WEEKLY_DIGEST, "this-week") == 1
    await supervisor.expect("每周服务评估报告", "新工单 1 张")
    period = _now().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%G-W%V")
    _check_report_files(await _report_files(running, 805), period)


async def test_a_chart_refused_for_a_while_is_still_sent_after_the_figures(running: Running) -> None:
    """The turn stored the report's files with its words: a picture Telegram refuses for a while (a
    network failure, then a 429) is sent once it takes it, still in order."""
    supervisor = await running.enrol(806, Role.SUPERVISOR)
    running.fake.fail_next("sendPhoto", error_code=502, description="Bad Gateway")
    running.fake.fail_next("sendPhoto", retry_after=1)
    supervisor.say("/evaluation")
    await supervisor.expect(fragment("report.ask_period"))
    supervisor.press(label("report.period.last-month"))
    files = await _report_files(running, 806)
    period = (_now().astimezone(ZoneInfo("Asia/Shanghai")).replace(day=1) - timedelta(days=1)).strftime(
        "%Y-%m"
    )
    _check_report_files(files, period)
    sent = running.fake.sent_to(806)
    summary = next(i for i, m in enumerate(sent) if fragment("report.summary") in m.text)
    assert sent.index(files[0]) == summary + 1
    refused = [call for call in running.fake.calls if call.method == "sendPhoto" and not call.ok]
    assert len(refused) == 2


# --- the database going away -----------------------------------------------------------------------


@pytest.mark.parametrize("running", [pytest.param("webhook", marks=[pytest.mark.postgres])], indirect=True)
async def test_a_message_after_the_database_dropped_every_connection_is_answered(running: Running) -> None:
    resident = running.account(612)
    await resident.agree_to_everything()  # the bot's pool holds connections now
    assert await drop_connections(running.settings.database_url)  # as a database restart does
    resident.say("/help")
    await resident.expect(fragment("help.menu"))
    apology = CATALOG.text("telegram.apology", "zh")
    assert [m.text for m in running.fake.sent_to(612) if apology in m.text] == []


@pytest.mark.parametrize("running", [pytest.param("webhook", marks=[pytest.mark.postgres])], indirect=True)
async def test_a_group_press_after_the_database_dropped_every_connection_counts(
    running: Running,
) -> None:
    worker, alert, claim = await running.alert_in_group()
    assert await drop_connections(running.settings.database_url)  # the worker is looked up first, here
    worker._snapshot()
    running.fake.callback(501, alert.message_id, claim, chat_id=GROUP, chat_type="supergroup")
    await worker.expect(fragment("worker.claim.done"))
    await running.fake.wait_for(lambda: fragment("alert.ticket_taken") in alert.text)
    apology = CATALOG.text("telegram.apology", "zh")
    assert apology not in [answer.get("text") for answer in running.fake.answered_callbacks]


# --- the webhook ------------------------------------------------------------------------------------


@pytest.mark.parametrize("running", [pytest.param("webhook", marks=[pytest.mark.postgres])], indirect=True)
async def test_a_webhook_request_without_the_secret_is_refused(running: Running) -> None:
    assert running.fake.webhook is not None
    assert running.fake.webhook.get("secret_token") == SECRET
    url = running.fake.webhook["url"]
    update = {
        "update_id": 1,
        "message": {"message_id": 1, "date": 0, "chat": {"id": 609, "type": "private"}, "text": "/help"},
    }
    async with httpx.AsyncClient() as client:
        missing = await client.post(url, json=update)
        wrong = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert running.fake.sent_to(609) == []


@pytest.mark.parametrize("running", [pytest.param("webhook", marks=[pytest.mark.postgres])], indirect=True)
async def test_a_webhook_body_that_is_not_an_update_is_answered_400(running: Running) -> None:
    assert running.fake.webhook is not None
    url = running.fake.webhook["url"]
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    bodies = ["null", "[]", "42", '"text"', "{", "[" * 100_000 + "]" * 100_000]
    async with httpx.AsyncClient() as client:
        statuses = [(await client.post(url, content=body, headers=headers)).status_code for body in bodies]
        # and the bot still answers the next real update
        update = {
            "update_id": 7,
            "message": {"message_id": 1, "date": 0, "chat": {"id": 611, "type": "private"}, "text": "/help"},
        }
        good = await client.post(url, json=update, headers=headers)
    assert statuses == [400] * len(bodies)
    assert good.status_code == 200


# --- long polling -----------------------------------------------------------------------------------

POLL_WITHOUT_NEW_FIELDS = {"id": "1", "question": "今天几点开会？", "options": [], "total_voter_count": 0}


@pytest.mark.parametrize("running", ["polling"], indirect=True)
async def test_an_update_ptb_cannot_read_is_skipped_and_the_rest_are_answered(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """A poll lacking fields PTB requires (any newer field of the Bot API can do the same) in the same
    batch as two residents' messages: they are answered, it is confirmed and skipped, and no log line
    holds anything any of them wrote."""
    fake = running.fake
    first, second = running.account(621), running.account(622)
    unreadable = {
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 623, "type": "private", "first_name": "王秀英"},
            "from": {"id": 623, "is_bot": False, "first_name": "王秀英"},
            "poll": POLL_WITHOUT_NEW_FIELDS,
        },
    }
    with caplog.at_level("DEBUG"):
        first.say("/help")
        fake.push(unreadable)
        unreadable = fake.last_update()
        second.say("/help")
        await first.expect(fragment("help.menu"))
        await second.expect(fragment("help.menu"))
        later = running.account(624)  # the bot is still polling, past the unreadable update
        later.say("/help")
        await later.expect(fragment("help.menu"))
    await fake.wait_for(lambda: all(p.update["update_id"] != unreadable["update_id"] for p in fake._pending))
    logged = "\n".join(record.getMessage() + str(record.exc_info or "") for record in caplog.records)
    assert f"update {unreadable['update_id']} could not be read" in logged
    assert "王秀英" not in logged
    assert "今天几点开会" not in logged


def test_ptbs_log_line_of_an_unreadable_batch_keeps_no_contents(caplog: pytest.LogCaptureFixture) -> None:
    """Should PTB's own ``get_updates`` ever be called, its log line of a batch it could not read
    is written without the batch."""
    batch = [{"update_id": 1, "message": {"text": "我叫王秀英，电话13800000000"}}]
    with caplog.at_level("DEBUG"):
        logging.getLogger("telegram.ext.ExtBot").critical(
            "Error while parsing updates! Received data was %r", batch, exc_info=ValueError(str(batch))
        )
    [record] = [r for r in caplog.records if r.name == "telegram.ext.ExtBot"]
    assert "Error while parsing updates" in record.getMessage()
    assert "王秀英" not in record.getMessage() + caplog.text


@pytest.mark.parametrize("running", ["polling"], indirect=True)
async def test_a_chat_waiting_for_its_turn_does_not_hold_up_other_chats(running: Running) -> None:
    """One resident's update waits (their lock is held, as by a turn that crashed holding it): others
    fetched after it are answered meanwhile, and theirs once the lock is free."""
    stuck = running.account(631)
    others = [running.account(632 + n) for n in range(3)]
    release = asyncio.Event()

    async def hold() -> None:
        async with running.front.engine.locks.hold(f"telegram:{stuck.user_id}"):
            await release.wait()

    holding = asyncio.create_task(hold())
    await asyncio.sleep(0.05)
    stuck.say("/help")
    await running.fake.wait_for(lambda: len(running.fake._pending) == 0 or running.fake._pending[0].delivered)
    for other in others:
        other.say("/help")
    for other in others:
        await other.expect(fragment("help.menu"), within=10)
    assert running.fake.sent_to(stuck.user_id) == []
    release.set()
    await holding
    await stuck.expect(fragment("help.menu"))


# --- the case conversation --------------------------------------------------------------------------


async def test_a_worker_claims_sees_the_phone_on_asking_and_talks_with_the_resident_through_the_bot(
    running: Running,
) -> None:
    worker = await running.enrol(501, Role.SOCIAL_WORKER)
    resident = running.account(602)
    await resident.agree_to_everything()
    # Ten digits are no mobile number: asked again.
    reference = await file_report(
        resident,
        "家里房租交不起了，房东催了好几次",
        size="三口人",
        tags=("low_income",),
        contact="need.contact.phone",
        phones=("1381234567", "138 1234 5678"),
    )

    alert = await worker.expect(reference, fragment("alert.ticket_opened"))
    assert "5678" not in alert.text
    worker.press(label("alert.button.claim"))
    await worker.expect(fragment("worker.claim.done"))
    await resident.expect(reference, fragment("alert.case_claimed"))

    # The case view: the way to reach them and the phone, masked until asked for.
    worker.press(label("alert.button.view"))
    view = await worker.expect(reference, label("worker.contact.way.phone"))
    assert "138****5678" in view.text
    assert "13812345678" not in view.text
    assert label("tag.low_income", mark="") in view.text
    worker.press(label("worker.button.show_phone"))
    await worker.expect("13812345678", fragment("worker.phone.shown"))
    async with running.database.transaction() as tx:
        ticket = await tx.tickets.by_reference(reference)
        assert ticket is not None
        shown = [e for e in await tx.tickets.events(ticket.id) if e.action == "phone_shown"]
    assert len(shown) == 1

    # The worker writes; the resident reads it under the case's reference, and answers.
    worker.press(label("worker.button.message"))
    await worker.expect(fragment("worker.message.ask"))
    worker.say("您好，我明天上午十点给您打电话，方便吗？")
    await worker.expect(fragment("worker.message.sent"))
    note = await resident.expect(reference, "我明天上午十点给您打电话")
    assert "Test 留言" in note.text  # signed with the worker's display name
    resident.say("方便的，谢谢您")
    await resident.expect(reference, fragment("conversation.forwarded"))
    reply = await worker.expect(reference, "方便的，谢谢您")
    assert label("alert.button.reply") in [caption for caption, _ in reply.buttons]

    # Both messages are on the trail and in the case view's thread.
    worker.press(label("alert.button.view"))
    thread = await worker.expect(reference, "方便的，谢谢您", "我明天上午十点给您打电话")
    assert label("worker.thread.title").rstrip("：:") in thread.text
    async with running.database.transaction() as tx:
        actions = [e.action for e in await tx.tickets.events(ticket.id)]
    assert "message_sent" in actions
    assert "message_received" in actions

    # The "something else" button takes the words to intake instead.
    resident.say("另外，孩子上学的费用也没着落")
    await resident.expect(fragment("conversation.forwarded"))
    resident.press(label("conversation.button.new_matter"))
    await resident.expect(fragment("need.confirm_type"))
    resident.say("/cancel")
    await resident.expect(fragment("flow.cancelled"))

    # Resolved, and rated from /status at once (the survey a day later is only the reminder).
    worker.press(label("worker.button.resolve"))
    await worker.expect(fragment("worker.resolve.ask"))
    worker.say("已帮助申请临时救助，街道审批中")
    await worker.expect(fragment("worker.resolve.tell_ask"))
    worker.say("临时救助已经申请好了，下周会发到您的银行卡上")  # plain words, for the person
    await worker.expect(fragment("worker.resolve.done_told"))
    told = await resident.expect(reference, "临时救助已经申请好了")
    assert "街道审批中" not in told.text  # the record's words stay staff's
    resident.say("/status")
    await resident.expect(reference, label("status.resolved"))
    resident.press(label("alert.button.rate", n=4))
    await resident.expect(reference, fragment("survey.thanks"))
    async with running.database.transaction() as tx:
        [rating] = await tx.tickets.feedback(ticket.id)
    assert rating.rating == 4
    assert not [call for call in running.fake.calls if not call.ok], "the bot made a request Telegram refused"


async def test_a_declined_referral_goes_back_to_the_worker_who_referred_it(running: Running) -> None:
    first = await running.enrol(501, Role.SOCIAL_WORKER)
    second = await running.enrol(502, Role.SOCIAL_WORKER)
    ticket = await running.open_ticket(
        604, "家里房租交不起了", "房租", ServiceType.RESOURCE_LINKING, Urgency.NORMAL
    )
    await first.expect(ticket.reference, fragment("alert.ticket_opened"))
    first.press(label("alert.button.claim"))
    await first.expect(fragment("worker.claim.done"))
    first.press(label("alert.button.view"))
    await first.expect(ticket.reference, fragment("worker.contact.title"))
    first.press(label("alert.button.refer"))
    await first.expect(fragment("worker.refer.choose"))
    first.press("Test")  # the other worker of the area, by their name
    await first.expect(fragment("worker.refer.ask_reason"))
    first.say("对方更熟悉这个小区")
    await first.expect(fragment("worker.refer.sent"))
    await second.expect(ticket.reference, fragment("alert.referral_requested"))
    second.press(label("alert.button.decline"))
    await second.expect(fragment("worker.referral.ask_reason"))
    second.say("本月个案已满")
    await second.expect(fragment("worker.referral.declined"))
    told = await first.expect(ticket.reference, "本月个案已满")
    assert told
    async with running.database.transaction() as tx:
        back = await tx.tickets.get(ticket.id)
    assert back is not None
    assert back.assignee_id is not None
    assert back.status is TicketStatus.ASSIGNED
    # The decliner is not alerted of it as a new ticket.
    assert not [m for m in second.changed() if fragment("alert.ticket_opened") in m.text]


async def test_erasure_with_an_open_crisis_keeps_it_and_tells_the_worker(running: Running) -> None:
    worker = await running.enrol(501, Role.SOCIAL_WORKER)
    ticket = await running.open_ticket(
        605, "我不想活了", "危机", ServiceType.PSYCHOLOGICAL_SUPPORT, Urgency.CRITICAL
    )
    await worker.expect(ticket.reference)
    worker.press(label("alert.button.claim"))
    await worker.expect(fragment("worker.claim.done_visit"))
    resident = running.account(605)
    resident.say("/delete_my_data")
    await resident.expect(fragment("erase.confirm"))
    resident.press(label("button.yes"))
    await resident.expect(fragment("erase.done_crisis_kept"))
    await worker.expect(ticket.reference, fragment("alert.reporter_erased_kept"))
    async with running.database.transaction() as tx:
        kept = await tx.tickets.get(ticket.id)
        [report] = await tx.reports.for_ticket(ticket.id)
        gone = await tx.people.by_identity(Channel.TELEGRAM, "605")
    assert kept is not None
    assert kept.is_open
    assert report.text == "我不想活了"
    assert gone is None


async def test_a_resident_who_gave_no_consent_to_be_contacted_shows_no_phone_but_can_be_written_to(
    running: Running,
) -> None:
    worker = await running.enrol(501, Role.SOCIAL_WORKER)
    resident = running.account(603)
    resident.say("/start")
    await resident.expect(fragment("consent.ask.store_report"))
    resident.press(label("button.yes"))
    await resident.expect(fragment("consent.ask.share_with_agency"))
    resident.press(label("button.yes"))
    await resident.expect(fragment("consent.ask.contact_me"))
    resident.say("不同意")
    await resident.expect(fragment("consent.recorded"))
    reference = await file_report(resident, "家里房租交不起了", size="2", contact=None)
    await worker.expect(reference, fragment("alert.ticket_opened"))
    worker.press(label("alert.button.claim"))
    await worker.expect(fragment("worker.claim.done"))
    claimed = await resident.expect(reference, fragment("alert.case_claimed_no_contact"))
    assert claimed
    worker.press(label("alert.button.view"))
    view = await worker.expect(reference, label("worker.contact.no_consent"))
    assert label("worker.button.show_phone") not in [caption for caption, _ in view.buttons]
    # What they say now goes to the worker, as the claim notice told them.
    resident.say("我白天不方便，晚上再说吧")
    await resident.expect(reference, fragment("conversation.forwarded"))
    await worker.expect(reference, "我白天不方便")


async def test_an_anonymous_reporter_is_answered_without_being_named(running: Running) -> None:
    worker = await running.enrol(501, Role.SOCIAL_WORKER)
    resident = running.account(606)
    resident.say("/start")
    await resident.expect(fragment("consent.ask.store_report"))
    resident.say("不同意")  # nothing kept with their name: the report goes anonymously
    await resident.expect(fragment("consent.ask.share_with_agency"))
    resident.press(label("button.yes"))
    await resident.expect(fragment("consent.ask.contact_me"))
    resident.press(label("button.yes"))
    await resident.expect(fragment("consent.declined"))
    await file_report(resident, "家里房租交不起了", size="2")
    await resident.expect(fragment("anonymous.reply_ask"))
    resident.press(label("button.yes"))
    await resident.expect(fragment("anonymous.reply_yes"))
    async with running.database.transaction() as tx:
        [ticket] = await tx.tickets.find()
    assert ticket.reporter_id is None

    alert = await worker.expect(ticket.reference, fragment("alert.ticket_opened"))
    assert "Test" not in alert.text
    worker.press(label("alert.button.claim"))
    await worker.expect(fragment("worker.claim.done"))
    worker.press(label("alert.button.view"))
    await worker.expect(ticket.reference, label("worker.contact.anonymous"))
    worker.press(label("worker.button.message"))
    await worker.expect(fragment("worker.message.ask"))
    worker.say("您好，房租欠了多久了？")
    await worker.expect(fragment("worker.message.sent"))
    await resident.expect(ticket.reference, "房租欠了多久了")
    resident.say("两个月了")
    await resident.expect(fragment("conversation.forwarded"))
    await worker.expect(ticket.reference, "两个月了")
