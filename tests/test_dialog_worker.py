"""The social workers' and supervisors' conversation: queues, the case view, and working a ticket."""

from __future__ import annotations

import string
from datetime import timedelta

import yaml

from casework.domain import (
    OutboxAlert,
    Person,
    Role,
    ServiceType,
    Ticket,
    TicketEvent,
    TicketStatus,
    Urgency,
)
from dialogs.alerts import alert_reply
from dialogs.catalog import CATALOGS
from dialogs.messages import Reply
from dialogs.turn import Turn
from storage import Database
from tests.dialog_harness import Chat, Harness, build_harness
from tests.reports import rent_need

NEED = "家里房租交不起了，孩子的学费也没着落"


async def open_ticket(
    h: Harness,
    *,
    area: str = "c1",
    urgency: Urgency = Urgency.NORMAL,
    service: ServiceType = ServiceType.RESOURCE_LINKING,
    text: str = NEED,
) -> Ticket:
    opened = await h.casework.open_ticket(
        rent_need(h.areas[area], text=text, service_type=service, urgency=urgency, summary="房租困难")
    )
    return opened.ticket


async def worker_named(h: Harness, user_id: int, name: str, area: str = "s1") -> Person:
    return await h.enrol(user_id, Role.SOCIAL_WORKER, area, display_name=name)


async def press_action(chat: Chat, name: str, subject: int) -> list[Reply]:
    """A button outside any flow, as on an alert: "!claim:42"."""
    return await chat.send(
        Turn(
            channel="console", user_id=chat.user_id, language_hint=chat.language, button=f"!{name}:{subject}"
        )
    )


async def choose(chat: Chat, name: str) -> list[Reply]:
    """Press the choice (of a worker or an agency) that names ``name``."""
    for reply in chat.last:
        for button in reply.flat_buttons:
            if button.args.get("name") == name:
                return await chat.press(button.value.split("|", 1)[-1])
    raise AssertionError(f"no choice named {name!r}")


async def current(h: Harness, ticket_id: int) -> Ticket:
    async with h.database.transaction() as tx:
        ticket = await tx.tickets.get(ticket_id)
    assert ticket is not None
    return ticket


async def trail(h: Harness, ticket_id: int) -> list[TicketEvent]:
    async with h.database.transaction() as tx:
        return await tx.tickets.events(ticket_id)


async def delivered(h: Harness, event: str, person: Person) -> OutboxAlert:
    """The last alert of ``event`` delivered to ``person``, after the relay has run."""
    await h.relay.run_once()
    found = [
        alert
        for alert, recipient in h.notifier.sent
        if alert.event == event and recipient.person is not None and recipient.person.id == person.id
    ]
    assert found, f"no {event} alert for {person.display_name}"
    return found[-1]


def button_value(reply: Reply, action: str) -> str:
    return next(b.value for b in reply.flat_buttons if b.value.startswith(f"!{action}:"))


def labels(chat: Chat) -> list[str]:
    return [button.label for reply in chat.last for button in reply.flat_buttons]


async def test_a_worker_sees_the_breached_ticket_first_in_the_queue(database: Database) -> None:
    h = await build_harness(database)
    await worker_named(h, 101, "王芳")
    late = await open_ticket(h)
    h.clock.advance(timedelta(hours=25))  # past its 24-hour claim deadline
    urgent = await open_ticket(h, urgency=Urgency.CRITICAL, area="c2")
    chat = h.chat(101)

    await chat.say("/queue")

    assert chat.keys == ["worker.queue"]
    text = chat.text()
    assert text.index(late.reference) < text.index(urgent.reference)  # breached before critical
    assert f"1. {late.reference} 🔴 已超时" in text
    assert "光明社区" in text
    assert "危急" in text
    assert chat.button(1).value == f"!view:{late.id}"
    await chat.press(1)
    assert chat.keys == ["worker.view"]

    await chat.say("/lang en")
    await chat.say("/queue")
    assert "Open in your areas: 2 (overdue first)" in chat.text()
    assert f"1. {late.reference} 🔴 overdue" in chat.text()
    assert "Guangming" in chat.text()


async def test_mine_lists_what_the_worker_holds(database: Database) -> None:
    h = await build_harness(database)
    wang = await worker_named(h, 101, "王芳")
    chat = h.chat(101)
    await chat.say("/mine")
    assert chat.keys == ["worker.mine.empty"]

    ticket = await open_ticket(h)
    await h.casework.claim(wang, ticket.id)
    await chat.say("/mine")
    assert chat.keys == ["worker.mine"]
    assert ticket.reference in chat.text()
    assert "已认领" in chat.text()


async def test_the_first_claim_from_the_alert_wins_and_the_second_worker_hears_who_has_it(
    database: Database,
) -> None:
    h = await build_harness(database)
    wang = await worker_named(h, 101, "王芳")
    li = await worker_named(h, 102, "李明")
    ticket = await open_ticket(h)

    alert = alert_reply(await delivered(h, "ticket_opened", wang), "zh")
    await h.chat(101).send(Turn(channel="console", user_id=101, button=button_value(alert, "claim")))
    claimed = await current(h, ticket.id)
    assert claimed.assignee_id == wang.id
    assert claimed.status is TicketStatus.ASSIGNED

    second = h.chat(102)
    other_alert = alert_reply(await delivered(h, "ticket_opened", li), "zh")
    await second.send(Turn(channel="console", user_id=102, button=button_value(other_alert, "claim")))
    assert second.keys == ["refusal.claim.taken"]
    assert "王芳" in second.text()
    assert (await current(h, ticket.id)).assignee_id == wang.id


async def test_the_trail_says_in_words_what_the_casework_recorded_in_its_own_terms(
    database: Database,
) -> None:
    """An escalation's round, a crisis alert's step and whom it reached, a raised urgency: the case
    view says them in the worker's language, never as the codes the trail keeps."""
    h = await build_harness(database)
    await worker_named(h, 101, "王芳")
    await h.enrol(201, Role.SUPERVISOR, display_name="陈督导")
    unclaimed = await open_ticket(h)
    h.clock.advance(timedelta(hours=25))  # past its day to be claimed in: the first escalation
    assert await h.work.escalate_overdue() == 1
    crisis = await open_ticket(h, urgency=Urgency.CRITICAL, service=ServiceType.PSYCHOLOGICAL_SUPPORT)

    chat = h.chat(201)
    await press_action(chat, "view", unclaimed.id)
    assert "超时上报 · 系统：第 1 次上报督导" in chat.text()
    await press_action(chat, "view", crisis.id)
    assert "危急提醒已发出 · 系统：第 1 轮，通知辖区工作人员 · 和平街道（2）" in chat.text()
    await chat.say("/lang en")
    await press_action(chat, "view", unclaimed.id)
    assert "escalated · system: supervisors told, round 1" in chat.text()
    await press_action(chat, "view", crisis.id)
    assert "crisis alert sent · system: round 1: the area's staff · 和平街道 (2)" in chat.text()
    assert "level" not in chat.text()
    assert "step" not in chat.text()


async def test_the_case_view_shows_the_case_and_is_written_to_the_trail(database: Database) -> None:
    h = await build_harness(database)
    wang = await worker_named(h, 101, "王芳")
    ticket = await open_ticket(h)
    chat = h.chat(101)
    await press_action(chat, "claim", ticket.id)
    assert chat.keys == ["worker.claim.done"]

    await chat.press("alert.button.view")

    assert chat.keys == ["worker.view"]
    text = chat.text()
    assert ticket.reference in text
    assert NEED in text  # the reports' own words: this is the worker's case view
    assert "城东区 / 和平街道 / 光明社区" in text
    assert "资源链接" in text
    assert "已认领" in text
    assert "认领 · 王芳" in text  # the trail
    assert "⏱ 办结期限" in text  # claimed: measured against resolving now
    assert labels(chat) == [
        "worker.button.note",
        "alert.button.visited",
        "alert.button.refer",
        "worker.button.resolve",
        "casefile.button.assess",  # the household's file: nothing on it yet to read or review
        "casefile.button.add_goal",
    ]
    reads = [event for event in await trail(h, ticket.id) if event.action == "read"]
    assert [event.actor_id for event in reads] == [wang.id]


async def test_a_worker_notes_visits_resolves_closes_and_reopens(database: Database) -> None:
    h = await build_harness(database)
    await worker_named(h, 101, "王芳")
    ticket = await open_ticket(h)
    chat = h.chat(101)
    await press_action(chat, "claim", ticket.id)

    await chat.press("worker.button.note")
    assert chat.keys == ["worker.note.ask"]
    await chat.press("button.cancel")
    assert chat.keys == ["flow.cancelled"]

    await press_action(chat, "note", ticket.id)
    await chat.say("   ")
    assert chat.keys == ["worker.need_words", "worker.note.ask"]  # and asked again
    await chat.say("已电话联系，约周三上门")
    assert chat.keys == ["worker.note.saved"]
    assert (await current(h, ticket.id)).status is TicketStatus.IN_PROGRESS
    notes = [event.note for event in await trail(h, ticket.id) if event.action == "note"]
    assert notes == ["已电话联系，约周三上门"]

    await press_action(chat, "visited", ticket.id)
    assert chat.keys == ["worker.visited.saved"]
    assert (await current(h, ticket.id)).visited_at is not None

    await press_action(chat, "close", ticket.id)
    assert chat.keys == ["worker.close.resolve_first"]  # a worker resolves before closing

    await press_action(chat, "resolve", ticket.id)
    assert chat.keys == ["worker.resolve.ask"]
    await chat.say("已申请临时救助，房租问题解决")
    assert chat.keys == ["worker.resolve.done_nobody"]  # a report with nobody the bot can tell
    resolved = await current(h, ticket.id)
    assert resolved.status is TicketStatus.RESOLVED
    assert resolved.outcome == "已申请临时救助，房租问题解决"

    await chat.press("alert.button.close")
    assert chat.keys == ["worker.close.done"]
    assert (await current(h, ticket.id)).status is TicketStatus.CLOSED

    await press_action(chat, "view", ticket.id)
    assert labels(chat) == ["worker.button.reopen"]
    await chat.press("worker.button.reopen")
    assert chat.keys == ["worker.reopen.ask"]
    await chat.say("房东又来催租了")
    assert chat.keys == ["worker.reopen.done"]
    assert (await current(h, ticket.id)).status is TicketStatus.REOPENED
    reopened = [event for event in await trail(h, ticket.id) if event.action == "reopened"]
    assert reopened[0].note == "房东又来催租了"

    await chat.say("/lang en")
    await press_action(chat, "view", ticket.id)
    text = chat.text()
    assert "reopened" in text
    assert "home visit · 王芳" in text
    assert "Latest:" in text


async def test_a_referral_is_accepted_by_one_worker_and_declined_by_another(database: Database) -> None:
    h = await build_harness(database)
    wang = await worker_named(h, 101, "王芳")
    li = await worker_named(h, 102, "李明")
    zhao = await worker_named(h, 103, "赵强")
    ticket = await open_ticket(h)
    chat = h.chat(101)
    await press_action(chat, "claim", ticket.id)

    await press_action(chat, "refer", ticket.id)
    assert chat.keys == ["worker.refer.choose"]
    names = [b.args.get("name") for b in chat.last[0].flat_buttons]
    assert names == ["李明", "赵强", "阳光社工", None]  # workers, the agency, cancel
    await choose(chat, "李明")
    assert chat.keys == ["worker.refer.ask_reason"]
    await chat.say("李社工更熟悉这户情况")
    assert chat.keys == ["worker.refer.sent"]
    assert (await current(h, ticket.id)).status is TicketStatus.REFERRED

    li_chat = h.chat(102)
    request = alert_reply(await delivered(h, "referral_requested", li), "zh")
    await li_chat.send(Turn(channel="console", user_id=102, button=button_value(request, "accept_referral")))
    assert li_chat.keys == ["worker.referral.accepted"]
    accepted = await current(h, ticket.id)
    assert accepted.assignee_id == li.id
    assert accepted.status is TicketStatus.ASSIGNED
    await delivered(h, "referral_accepted", wang)

    await press_action(li_chat, "view", ticket.id)
    assert "alert.button.refer" not in labels(li_chat)  # one referral at a time: this one is not done
    assert li_chat.button("worker.button.resolve").value.startswith("!complete:")
    await press_action(li_chat, "refer", ticket.id)
    assert li_chat.keys == ["worker.refer.under_way"]
    await press_action(li_chat, "view", ticket.id)
    await li_chat.press("worker.button.resolve")
    assert li_chat.keys == ["worker.resolve.ask"]
    await li_chat.say("已链接街道临时救助")
    assert li_chat.keys == ["worker.resolve.done"]
    assert (await current(h, ticket.id)).status is TicketStatus.RESOLVED
    completed = await delivered(h, "referral_completed", wang)  # the referrer hears the outcome
    assert completed.payload["outcome"] == "已链接街道临时救助"

    second = await open_ticket(h, area="c2")
    await press_action(chat, "claim", second.id)
    await press_action(chat, "refer", second.id)
    await choose(chat, "赵强")
    await chat.say("需要上门评估，赵社工离得近")
    assert chat.keys == ["worker.refer.sent"]

    zhao_chat = h.chat(103, "en")
    request = alert_reply(await delivered(h, "referral_requested", zhao), "en")
    await zhao_chat.send(
        Turn(channel="console", user_id=103, button=button_value(request, "decline_referral"))
    )
    assert zhao_chat.keys == ["worker.referral.ask_reason"]
    await zhao_chat.say("我这周休假")
    assert zhao_chat.keys == ["worker.referral.declined"]
    declined = await current(h, second.id)  # back with the worker who referred it
    assert declined.status is TicketStatus.ASSIGNED
    assert declined.assignee_id == wang.id
    told = await delivered(h, "referral_declined", wang)
    assert told.payload["referral"]["reason"] == "我这周休假"


async def test_a_supervisor_sees_overdue_tickets_and_assigns_one(database: Database) -> None:
    h = await build_harness(database)
    wang = await worker_named(h, 101, "王芳")
    await h.enrol(201, Role.SUPERVISOR, "s1", display_name="陈督导")
    late = await open_ticket(h)
    h.clock.advance(timedelta(hours=25))
    fresh = await open_ticket(h, area="c2")
    chief = h.chat(201)

    await chief.say("/overdue")
    assert chief.keys == ["worker.overdue"]
    assert late.reference in chief.text()
    assert fresh.reference not in chief.text()

    await chief.press(1)
    assert chief.keys == ["worker.view"]
    assert "alert.button.claim" not in labels(chief)  # supervisors assign; workers claim
    assert {"alert.button.close", "worker.button.assign"} <= set(labels(chief))
    await chief.press("worker.button.assign")
    assert chief.keys == ["worker.assign.choose"]
    await choose(chief, "王芳")
    assert chief.keys == ["worker.assign.done"]
    assigned = await current(h, late.id)
    assert assigned.assignee_id == wang.id
    assert assigned.status is TicketStatus.ASSIGNED
    await delivered(h, "ticket_assigned", wang)

    worker_chat = h.chat(101)
    await worker_chat.say("/overdue")
    assert worker_chat.keys == ["worker.only_supervisors"]


async def test_a_supervisor_closing_an_unresolved_ticket_gives_a_reason(database: Database) -> None:
    h = await build_harness(database)
    await h.enrol(201, Role.SUPERVISOR, "s1", display_name="陈督导")
    duplicate = await open_ticket(h)
    chief = h.chat(201)

    await press_action(chief, "close", duplicate.id)
    assert chief.keys == ["worker.close.ask_reason"]
    await chief.say("与另一张工单重复")
    assert chief.keys == ["worker.close.done"]
    closed = await current(h, duplicate.id)
    assert closed.status is TicketStatus.CLOSED
    assert [e.note for e in await trail(h, duplicate.id) if e.action == "closed"] == ["与另一张工单重复"]


async def test_a_worker_of_another_area_is_refused_politely(database: Database) -> None:
    h = await build_harness(database)
    await worker_named(h, 101, "王芳")
    outsider = await worker_named(h, 301, "周洁", area="c2")
    ticket = await open_ticket(h, area="c1")
    chat = h.chat(301)

    await press_action(chat, "claim", ticket.id)
    assert chat.keys == ["worker.forbidden"]
    await press_action(chat, "view", ticket.id)
    assert chat.keys == ["worker.forbidden"]
    await chat.say(f"/ticket {ticket.reference}")  # answered as for a case that does not exist
    assert chat.keys == ["worker.ticket.unknown"]
    assert "不在您的辖区" not in chat.text()

    assert (await current(h, ticket.id)).assignee_id is None
    assert not [e for e in await trail(h, ticket.id) if e.actor_id == outsider.id]


async def test_a_recipient_is_told_the_worker_commands_are_for_workers(database: Database) -> None:
    h = await build_harness(database)
    ticket = await open_ticket(h)
    resident = h.chat(401, "en")

    await resident.say("/queue")
    assert resident.keys == ["worker.only_workers"]
    assert "enrolled social workers" in resident.text()
    await press_action(resident, "claim", ticket.id)
    assert resident.keys == ["worker.only_workers"]
    assert (await current(h, ticket.id)).assignee_id is None


async def test_ticket_finds_a_case_by_reference_and_says_so_when_it_cannot(database: Database) -> None:
    h = await build_harness(database)
    await worker_named(h, 101, "王芳")
    ticket = await open_ticket(h)
    chat = h.chat(101)

    await chat.say("/ticket")
    assert chat.keys == ["worker.ticket.usage"]
    await chat.say("/ticket SA-20200101-9999")
    assert chat.keys == ["worker.ticket.unknown"]
    assert "SA-20200101-9999" in chat.text()
    await chat.say(f"/ticket {ticket.reference.lower()}")
    assert chat.keys == ["worker.view"]
    assert labels(chat)[0] == "alert.button.claim"


def test_the_worker_catalog_says_the_same_things_in_both_languages() -> None:
    zh, en = (
        yaml.safe_load((CATALOGS / language / "worker.yml").read_text(encoding="utf-8"))
        for language in ("zh", "en")
    )
    assert set(zh) == set(en)

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert {key: fields(zh[key]) for key in zh} == {key: fields(en[key]) for key in zh}


async def test_a_supervision_review_is_shown_to_the_worker_who_had_the_case_not_to_the_area(
    database: Database,
) -> None:
    from casework.domain import Criterion, Met

    h = await build_harness(database)
    wang = await worker_named(h, 71, "王社工")
    await worker_named(h, 72, "李社工")
    chief = await h.enrol(73, Role.SUPERVISOR, "s1", display_name="张督导")
    ticket = await open_ticket(h)
    await h.casework.claim(wang, ticket.id)
    await h.casework.resolve(wang, ticket.id, "已链接临时救助")
    await h.casework.close(wang, ticket.id)
    await h.casework.supervise(chief, ticket.id, dict.fromkeys(Criterion, Met.FULLY), "记录很完整")
    for user_id, shown in ((71, True), (72, False), (73, True)):
        chat = h.chat(user_id, "zh")
        await press_action(chat, "view", ticket.id)
        assert ("🧭 督导评分 100%" in chat.text() and "记录很完整" in chat.text()) is shown, user_id
