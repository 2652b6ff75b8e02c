"""The case conversation and ratings as people drive them through the dialog engine, in both
languages, on SQLite and PostgreSQL: a worker writes to the person and reads the answer, the phone is
shown only on asking (and the showing is on the trail), a volunteer's flag is not written to, and a
finished case is rated from /status or /rate without waiting for the survey."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from casework.domain import (
    AlertKind,
    Channel,
    ContactWay,
    Person,
    Role,
    Ticket,
    TicketAction,
    Urgency,
    VulnerabilityTag,
)
from dialogs.alerts import alert_reply
from dialogs.turn import Turn
from storage import Database
from tests.dialog_harness import Chat, Harness, build_harness
from tests.reports import rent_need
from tests.test_dialog_worker import delivered, press_action, trail, worker_named

RESIDENT = 30
PHONE = "13812345678"
HOUSEHOLD = {"zh": "家里房租交不起了", "en": "I cannot pay my rent this month"}


@pytest.fixture
async def h(database: Database) -> Harness:
    return await build_harness(database)


async def resident(h: Harness, language: str, *, contact: bool = True) -> tuple[Chat, Person]:
    chat = h.chat(RESIDENT, language)
    await chat.say("/start")
    await chat.press("button.yes")
    await chat.press("button.yes")
    await chat.press("button.yes" if contact else "button.no")
    person = await h.people.known(RESIDENT, channel=Channel.CONSOLE)
    assert person is not None
    await h.people.set_phone(person.id, PHONE)
    return chat, person


async def claimed_case(h: Harness, person: Person, worker: Person) -> Ticket:
    opened = await h.casework.open_ticket(
        rent_need(h.areas["c1"], reporter_id=person.id, contact=ContactWay.PHONE, household_size=4)
    )
    return await h.casework.claim(worker, opened.ticket.id)


class CaseAtHand(NamedTuple):
    """The resident's case, claimed by 王芳 (user 101), with a chat for each of them."""

    chat: Chat
    person: Person
    wang: Person
    ticket: Ticket
    worker: Chat


async def case_at_hand(h: Harness, language: str, *, contact: bool = True) -> CaseAtHand:
    chat, person = await resident(h, language, contact=contact)
    wang = await h.enrol(101, Role.SOCIAL_WORKER, "s1", display_name="王芳", language=language)
    ticket = await claimed_case(h, person, wang)
    return CaseAtHand(chat, person, wang, ticket, h.chat(101, language))


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_a_worker_and_the_resident_write_to_each_other_and_the_thread_is_on_the_case(
    h: Harness, language: str
) -> None:
    chat, person, wang, ticket, worker = await case_at_hand(h, language)

    await press_action(worker, "view", ticket.id)
    [view] = worker.last
    shown = h.catalog.render(view, language)
    assert "138****5678" in shown
    assert PHONE not in shown
    assert h.catalog.text("worker.contact.way.phone", language) in shown
    await press_action(worker, "phone", ticket.id)
    assert worker.keys == ["worker.phone.shown"]
    assert PHONE in h.catalog.render(worker.last[0], language)
    assert [e.actor_id for e in await trail(h, ticket.id) if e.action is TicketAction.PHONE_SHOWN] == [
        wang.id
    ]

    await press_action(worker, "message", ticket.id)
    assert worker.keys == ["worker.message.ask"]
    await worker.say("明天上午十点上门，可以吗？")
    assert worker.keys == ["worker.message.sent"]
    note = await delivered(h, "case_message", person)
    words = h.catalog.render(alert_reply(note, language), language)
    assert "明天上午十点上门" in words
    assert "王芳" in words
    assert ticket.reference in words

    await chat.say("可以的，我在家")
    assert chat.keys == ["conversation.forwarded"]
    reply = await delivered(h, "case_reply", wang)
    assert reply.payload["words"] == "可以的，我在家"
    assert alert_reply(reply, language).flat_buttons[0].value == f"!message:{ticket.id}"

    await press_action(worker, "view", ticket.id)
    shown = h.catalog.render(worker.last[0], language)
    assert "明天上午十点上门" in shown
    assert "可以的，我在家" in shown
    received = [e for e in await trail(h, ticket.id) if e.action is TicketAction.MESSAGE_RECEIVED]
    assert [(e.actor_id, e.note) for e in received] == [(None, "可以的，我在家")]


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_no_phone_is_shown_of_someone_who_did_not_agree_to_be_contacted(
    h: Harness, language: str
) -> None:
    _, _, _, ticket, worker = await case_at_hand(h, language, contact=False)
    await press_action(worker, "view", ticket.id)
    shown = h.catalog.render(worker.last[0], language)
    assert h.catalog.text("worker.contact.no_consent", language) in shown
    assert "5678" not in shown
    assert "!phone:" not in str([b.value for b in worker.last[0].flat_buttons])
    await press_action(worker, "phone", ticket.id)
    assert worker.keys == ["refusal.phone.not_shared"]
    assert not [e for e in await trail(h, ticket.id) if e.action is TicketAction.PHONE_SHOWN]


async def test_another_worker_of_the_area_may_not_read_the_phone_nor_write(h: Harness) -> None:
    _, person = await resident(h, "zh")
    wang = await worker_named(h, 101, "王芳")
    await worker_named(h, 102, "李强")
    ticket = await claimed_case(h, person, wang)
    other = h.chat(102)
    for action in ("phone", "message"):
        await press_action(other, action, ticket.id)
        assert other.keys == ["worker.forbidden"]


async def test_a_volunteers_flag_is_not_written_to_and_the_worker_is_told_why(h: Harness) -> None:
    volunteer = await h.enrol(40, Role.VOLUNTEER, "c1")
    wang = await worker_named(h, 101, "王芳")
    opened = await h.casework.open_ticket(
        rent_need(
            h.areas["c1"], reporter_id=volunteer.id, on_behalf=True, household_address="光明路12号院3栋"
        )
    )
    await h.casework.claim(wang, opened.ticket.id)
    worker = h.chat(101)
    await press_action(worker, "view", opened.ticket.id)
    shown = h.catalog.render(worker.last[0], "zh")
    assert "光明路12号院3栋" in shown  # the household's address, stored, now shown to the holder
    assert h.catalog.text("worker.contact.unreachable", "zh") in shown
    await press_action(worker, "message", opened.ticket.id)
    assert worker.keys == ["refusal.message.nobody"]


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_a_finished_case_is_rated_from_status_and_rate_lists_what_is_left(
    h: Harness, language: str
) -> None:
    chat, person = await resident(h, language)
    wang = await worker_named(h, 101, "王芳")
    first = await claimed_case(h, person, wang)
    second = await claimed_case(h, person, wang)
    for ticket in (first, second):
        await h.casework.resolve(wang, ticket.id, "已链接临时救助")
        await h.casework.close(wang, ticket.id)

    await chat.say("/status")
    starred = [reply for reply in chat.last if reply.flat_buttons]
    assert len(starred) == 2
    assert starred[0].flat_buttons[0].value.startswith("!rate:")
    await chat.send(
        Turn(channel="console", user_id=RESIDENT, language_hint=language, button=f"!rate:{first.id}:4")
    )
    assert chat.keys == ["survey.thanks"]
    await chat.press("button.skip")

    await chat.say("/rate")
    assert chat.keys == ["survey.rate_one"]
    assert chat.last[0].args["reference"] == second.reference
    await chat.press(5)
    await chat.press("button.skip")
    await chat.say("/rate")
    assert chat.keys == ["survey.nothing_to_rate"]
    await chat.say("/status")
    assert [reply.args.get("next") for reply in chat.last] == ["status.next.rated"] * 2
    assert not [reply for reply in chat.last if reply.flat_buttons]


async def test_rate_offers_nothing_to_a_volunteer(h: Harness) -> None:
    await h.enrol(40, Role.VOLUNTEER, "c1")
    chat = h.chat(40)
    await chat.say("/rate")
    assert chat.keys == ["survey.nothing_to_rate"]


# --- erasure with cases open, and what /privacy shows ---------------------------------------------


async def erase(chat: Chat) -> None:
    await chat.say("/delete_my_data")
    assert chat.keys == ["erase.confirm"]
    await chat.press("button.yes")


async def reports_of(h: Harness, ticket_id: int) -> list[str]:
    async with h.database.transaction() as tx:
        return [report.text for report in await tx.reports.for_ticket(ticket_id)]


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_erasure_closes_an_open_case_tells_its_worker_and_forgets_the_persons_words(
    h: Harness, language: str
) -> None:
    chat, person = await resident(h, language)
    wang = await worker_named(h, 101, "王芳")
    ticket = await claimed_case(h, person, wang)
    await h.casework.message_person(wang, ticket.id, "请问您方便接电话吗？")
    await chat.say("我叫张秀英，白天都方便")
    await erase(chat)
    assert chat.keys == ["erase.done"]

    closed = await h.casework.status(wang, ticket.id)
    assert closed.status.value == "closed"
    told = await delivered(h, "reporter_erased", wang)
    assert told.payload["kept"] is False
    assert await reports_of(h, ticket.id) == [""]
    events = await trail(h, ticket.id)
    assert TicketAction.CLOSED_BY_ERASURE in [e.action for e in events]
    replies = [e.note for e in events if e.action is TicketAction.MESSAGE_RECEIVED]
    assert replies == ["[已删除]"]
    async with h.database.transaction() as tx:
        carried = await tx.outbox.for_ticket(ticket.id, event=AlertKind.CASE_REPLY)
    assert [alert.payload["words"] for alert in carried] == ["[已删除]"]


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_erasure_keeps_an_open_crisis_with_its_words_and_tells_its_holder(
    h: Harness, language: str
) -> None:
    chat, person = await resident(h, language)
    wang = await worker_named(h, 101, "王芳")
    opened = await h.casework.open_ticket(
        rent_need(h.areas["c1"], reporter_id=person.id, urgency=Urgency.CRITICAL, text="我不想活了")
    )
    await h.casework.claim(wang, opened.ticket.id)
    await erase(chat)
    assert chat.keys == ["erase.done_crisis_kept"]
    kept = await h.casework.status(wang, opened.ticket.id)
    assert kept.is_open
    assert await reports_of(h, opened.ticket.id) == ["我不想活了"]
    told = await delivered(h, "reporter_erased", wang)
    assert told.payload["kept"] is True
    assert TicketAction.KEPT_THROUGH_ERASURE in [e.action for e in await trail(h, opened.ticket.id)]
    assert await h.people.known(RESIDENT, channel=Channel.CONSOLE) is None  # who they were is gone


async def test_a_volunteers_erasure_keeps_the_households_report_and_address(h: Harness) -> None:
    volunteer = await h.enrol(40, Role.VOLUNTEER, "c1")
    opened = await h.casework.open_ticket(
        rent_need(
            h.areas["c1"],
            text="3号楼的老人独居，腿脚不好",
            reporter_id=volunteer.id,
            on_behalf=True,
            household_address="光明路12号院3栋2单元501",
        )
    )
    chat = h.chat(40)
    await erase(chat)
    assert chat.keys == ["erase.done"]
    assert await reports_of(h, opened.ticket.id) == ["3号楼的老人独居，腿脚不好"]
    async with h.database.transaction() as tx:
        [report] = await tx.reports.for_ticket(opened.ticket.id)
        household = await tx.households.get(opened.ticket.household_id or 0)
    assert report.reporter_id is None  # the volunteer's own link is gone
    assert household is not None
    assert household.address == "光明路12号院3栋2单元501"
    assert (await h.casework.by_reference(opened.ticket.reference)).is_open


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_privacy_lists_the_words_and_the_situation_kept_in_words(h: Harness, language: str) -> None:
    chat, person = await resident(h, language)
    await h.casework.open_ticket(
        rent_need(
            h.areas["c1"],
            reporter_id=person.id,
            text="家里房租交不起了",
            vulnerability_tags=frozenset({VulnerabilityTag.LOW_INCOME}),
            household_size=3,
        )
    )
    await chat.say("/privacy")
    assert chat.keys == ["privacy.summary", "privacy.reports", "privacy.statistics.counted"]
    listed = h.catalog.render(chat.last[1], language)
    assert "家里房租交不起了" in listed
    assert h.catalog.text("tag.low_income", language, mark="") in listed
    assert "low_income" not in listed


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_the_person_hears_the_outcome_in_the_words_the_worker_chose_for_them(
    h: Harness, language: str
) -> None:
    _, person, wang, ticket, worker = await case_at_hand(h, language)
    await press_action(worker, "resolve", ticket.id)
    await worker.say("街道审批通过临时救助 2000 元；房东同意缓交")
    assert worker.keys == ["worker.resolve.tell_ask"]
    await worker.say("临时救助批下来了，房东也同意晚些交房租")
    assert worker.keys == ["worker.resolve.done_told"]
    told = await delivered(h, "case_resolved", person)
    heard = h.catalog.render(alert_reply(told, language), language)
    assert "临时救助批下来了" in heard
    assert "2000" not in heard  # the outcome for the record stays staff's
    resolved = await h.casework.status(wang, ticket.id)
    assert resolved.outcome == "街道审批通过临时救助 2000 元；房东同意缓交"


async def test_the_same_words_or_none_at_all_may_be_told(h: Harness) -> None:
    _, person = await resident(h, "zh")
    wang = await worker_named(h, 101, "王芳")
    worker = h.chat(101)
    for choice, key in (
        ("worker.resolve.tell_same", "alert.case_resolved_with_words"),
        ("worker.resolve.tell_nothing", "alert.case_resolved"),
    ):
        ticket = await claimed_case(h, person, wang)
        await press_action(worker, "resolve", ticket.id)
        await worker.say("已链接临时救助")
        await worker.press(choice)
        told = await delivered(h, "case_resolved", person)
        assert alert_reply(told, "zh").key == key


async def test_after_an_agency_completes_the_referrer_words_what_the_person_hears(h: Harness) -> None:
    """The agency's outcome reaches the worker who referred the case, never the person: the alert
    offers "tell the person", a message in the referrer's words."""
    _, person = await resident(h, "zh")
    wang = await worker_named(h, 101, "王芳")
    ticket = await claimed_case(h, person, wang)
    async with h.database.transaction() as tx:
        [agency] = await tx.organisations.list_all()
    member = await h.enrol(102, Role.SOCIAL_WORKER, "s1", display_name="阳光李", organisation_id=agency.id)
    referral = await h.casework.refer(wang, ticket.id, reason="需要专业服务", to_organisation_id=agency.id)
    await h.casework.respond_to_referral(member, referral.id, accept=True)
    await h.casework.complete_referral(member, referral.id, "已为其申请就业培训名额（内部编号 A-17）")
    completed = await delivered(h, "referral_completed", wang)
    [tell, _] = alert_reply(completed, "zh").flat_buttons
    assert tell.value == f"!message:{ticket.id}"
    heard = [
        alert
        for alert, recipient in h.notifier.sent
        if recipient.person is not None and recipient.person.id == person.id
    ]
    assert "A-17" not in str([alert.payload for alert in heard])
    worker = h.chat(101)
    await worker.send(Turn(channel="console", user_id=101, button=tell.value))
    assert worker.keys == ["worker.message.ask"]
    await worker.say("给您申请到了就业培训名额，下周一开课")
    note = await delivered(h, "case_message", person)
    assert note.payload["words"] == "给您申请到了就业培训名额，下周一开课"


# --- an anonymous reporter answered without being named -----------------------------------------


async def anonymous_report(h: Harness, language: str, *, answer: bool) -> tuple[Chat, Ticket]:
    """A resident who keeps no details (no to the first consent) reports; asked whether a worker may
    answer them here, they say ``answer``."""
    chat = h.chat(RESIDENT, language)
    await chat.say("/start")
    await chat.press("button.no")
    await chat.press("button.yes")
    await chat.press("button.yes")
    await chat.say(HOUSEHOLD[language])
    await chat.press("button.yes")
    await chat.press(f"area:{h.areas['c1']}")
    await chat.say("2")
    await chat.press("button.done")
    await chat.press("need.contact.chat")
    await chat.press("need.button.submit")
    assert chat.keys[-2:] == ["need.submitted_anonymous", "anonymous.reply_ask"]
    await chat.press("button.yes" if answer else "button.no")
    assert chat.keys == ["anonymous.reply_yes" if answer else "anonymous.reply_no"]
    async with h.database.transaction() as tx:
        [ticket] = await tx.tickets.find()
    assert ticket.reporter_id is None
    return chat, ticket


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_an_anonymous_reporter_who_asked_is_answered_and_never_named(h: Harness, language: str) -> None:
    chat, ticket = await anonymous_report(h, language, answer=True)
    wang = await h.enrol(101, Role.SOCIAL_WORKER, "s1", display_name="王芳", language=language)
    await h.casework.claim(wang, ticket.id)
    worker = h.chat(101, language)
    await press_action(worker, "view", ticket.id)
    shown = h.catalog.render(worker.last[0], language)
    assert h.catalog.text("worker.contact.anonymous", language) in shown
    assert "!phone:" not in str([b.value for b in worker.last[0].flat_buttons])
    await press_action(worker, "message", ticket.id)
    await worker.say("您好，可以说说房租欠了多久吗？")
    person = await h.people.known(RESIDENT, channel=Channel.CONSOLE)
    assert person is not None
    note = await delivered(h, "case_message", person)
    assert note.payload["words"] == "您好，可以说说房租欠了多久吗？"
    assert note.payload["audience"] == "anonymous"
    await chat.say("两个月了")
    assert chat.keys == ["conversation.forwarded"]
    reply = await delivered(h, "case_reply", wang)
    assert reply.payload["words"] == "两个月了"
    # Staff read the words, never who wrote them: the trail names nobody.
    received = [e for e in await trail(h, ticket.id) if e.action is TicketAction.MESSAGE_RECEIVED]
    assert [e.actor_id for e in received] == [None]
    assert set(reply.payload) == {"event", "audience", "ticket", "words"}  # nothing of who wrote it


async def test_an_anonymous_reporter_who_did_not_ask_is_not_written_to(h: Harness) -> None:
    _, ticket = await anonymous_report(h, "zh", answer=False)
    wang = await worker_named(h, 101, "王芳")
    await h.casework.claim(wang, ticket.id)
    worker = h.chat(101)
    await press_action(worker, "message", ticket.id)
    assert worker.keys == ["refusal.message.nobody"]


async def test_erasure_forgets_whom_an_anonymous_case_answers(h: Harness) -> None:
    chat, ticket = await anonymous_report(h, "zh", answer=True)
    await chat.say("/delete_my_data")
    await chat.press("button.yes")
    async with h.database.transaction() as tx:
        assert await tx.tickets.reply_to(ticket.id) is None


# --- a home visit at a time the person confirms ----------------------------------------------------


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("suits", [True, False])
async def test_a_worker_proposes_a_visit_time_and_the_person_answers(
    h: Harness, language: str, suits: bool
) -> None:
    chat, person, wang, ticket, worker = await case_at_hand(h, language)
    await press_action(worker, "view", ticket.id)
    assert f"!propose_visit:{ticket.id}" in [b.value for b in worker.last[0].flat_buttons]
    await press_action(worker, "propose_visit", ticket.id)
    assert worker.keys == ["worker.visit.ask_time"]
    await worker.say("12月8日周二上午10点")
    assert worker.keys == ["worker.visit.proposed"]

    proposal = await delivered(h, "visit_proposed", person)
    asked = alert_reply(proposal, language)
    assert "12月8日周二上午10点" in h.catalog.render(asked, language)
    answer = asked.flat_buttons[0 if suits else 1].value
    await chat.send(Turn(channel="console", user_id=RESIDENT, language_hint=language, button=answer))
    assert chat.keys == ["visit.confirmed" if suits else "visit.refused"]
    told = await delivered(h, "visit_answered", wang)
    assert (told.payload["suits"], told.payload["when"]) == (suits, "12月8日周二上午10点")
    answered = TicketAction.VISIT_CONFIRMED if suits else TicketAction.VISIT_REFUSED
    assert [e.action for e in await trail(h, ticket.id)][-1] is answered
    # The same button again: the proposal was answered.
    await chat.send(Turn(channel="console", user_id=RESIDENT, language_hint=language, button=answer))
    assert chat.keys == ["visit.not_waiting"]
    if not suits:  # what they write next is a time for the worker
        await chat.say("周三下午可以")
        assert chat.keys == ["conversation.forwarded"]
        assert (await delivered(h, "case_reply", wang)).payload["words"] == "周三下午可以"


async def test_no_visit_time_is_proposed_for_a_volunteers_flag(h: Harness) -> None:
    volunteer = await h.enrol(40, Role.VOLUNTEER, "c1")
    wang = await worker_named(h, 101, "王芳")
    opened = await h.casework.open_ticket(rent_need(h.areas["c1"], reporter_id=volunteer.id, on_behalf=True))
    await h.casework.claim(wang, opened.ticket.id)
    worker = h.chat(101)
    await press_action(worker, "view", opened.ticket.id)
    assert f"!propose_visit:{opened.ticket.id}" not in [b.value for b in worker.last[0].flat_buttons]
    await press_action(worker, "propose_visit", opened.ticket.id)
    await worker.say("明天上午")
    assert worker.keys == ["refusal.message.nobody"]
