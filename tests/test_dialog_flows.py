"""The volunteer's household flag, policy questions, feedback on policy and the satisfaction survey,
driven through the dialog engine as people would, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from casework.domain import Channel, ConsentPurpose, Person, Role, ServiceType, TicketStatus, Urgency
from dialogs.app import build_engine
from dialogs.flows.need import community_names
from dialogs.messages import Reply
from dialogs.state import DialogState, MemoryLocks
from dialogs.turn import Turn
from storage import Database
from storage.dialog_state import SqlDialogStore
from storage.models import DialogStateRow
from tests.dialog_harness import Chat, Harness, build_harness
from tests.reports import rent_need

VOLUNTEER, WORKER, ADMIN = 101, 201, 901
SECOND_VOLUNTEER = 102
OBSERVED = "3号楼有个老人一个人住，腿脚不好，家里很乱"
CASE_NOTE = "儿子在外地打工，家里欠了三万块钱"


@pytest.fixture
async def h(database: Database) -> Harness:
    return await build_harness(database)


async def consent(chat: Chat) -> None:
    """A new person's first message runs the consent questions first."""
    assert chat.keys[0] == "welcome.intro"
    for _ in range(3):
        await chat.press("button.yes")


def reference_of(chat: Chat, key: str) -> str:
    reply = next(reply for reply in chat.last if reply.key == key)
    return str(reply.args["reference"])


async def flag_household(chat: Chat, command: str, address: str) -> None:
    """A volunteer's /flag, up to the summary, for a household in 光明社区."""
    await chat.say(command)
    assert chat.keys == ["flag.area"]
    await chat.press("光明社区")
    assert chat.keys == ["flag.address"]
    await chat.say(address)


async def finish_flag(chat: Chat) -> None:
    await chat.press("tag:elder_alone")
    await chat.press("tag:disability")
    await chat.press("button.done")
    assert chat.keys == ["flag.knows"]
    await chat.press("flag.knows.no")
    assert chat.keys == ["flag.summary"]
    await chat.press("flag.button.submit")


# --- the volunteer's flag ----------------------------------------------------------------------------


async def test_a_volunteer_flags_a_household_in_chinese_and_gets_a_reference(h: Harness) -> None:
    volunteer = await h.enrol(VOLUNTEER, Role.VOLUNTEER, "c1")
    chat = h.chat(VOLUNTEER, "zh")

    await flag_household(chat, "/flag", "5号楼2单元301")
    assert chat.keys == ["flag.observed"]
    await chat.say(OBSERVED)
    # The observation is classified: social integration is suggested, every kind is one press away.
    assert chat.keys == ["flag.service_suggested"]
    assert chat.button("type:social_integration").label == "service.social_integration"
    await chat.press("flag.button.other_types")
    assert chat.keys == ["flag.service"]
    await chat.press("service.resource_linking")
    assert chat.keys == ["flag.situation"]
    await finish_flag(chat)

    assert chat.keys == ["flag.submitted", "flag.what_you_will_see"]
    reference = reference_of(chat, "flag.submitted")
    assert reference in chat.text()
    [ticket] = await h.casework.reported_by(volunteer)
    assert ticket.reference == reference
    assert (ticket.service_type, ticket.area_id, ticket.needs_home_visit) == (
        ServiceType.RESOURCE_LINKING,
        h.areas["c1"],
        True,
    )
    # The alert's summary says the household does not know, and nothing of the volunteer's own words;
    # each worker reads it in their own language, the situation in words, not its code (elder_alone).
    zh, en = (h.catalog.summary(ticket.summary, language) for language in ("zh", "en"))
    assert "住户不知道此次报告" in zh
    assert "独居老人" in zh
    assert "the household does not know of this report" in en
    assert "elder living alone" in en
    assert "elder_alone" not in zh + en
    assert "5号楼" not in ticket.summary
    assert "腿脚" not in ticket.summary
    admin = await h.enrol(ADMIN, Role.ADMIN, "d")
    [report] = (await h.casework.view(admin, ticket.id)).reports
    assert (report.on_behalf, report.reporter_id, report.text) == (True, volunteer.id, OBSERVED)


async def test_a_second_flag_of_the_same_household_joins_its_open_ticket(h: Harness) -> None:
    volunteer = await h.enrol(VOLUNTEER, Role.VOLUNTEER, "c1")
    chat = h.chat(VOLUNTEER, "zh")
    await flag_household(chat, f"/flag {OBSERVED}", "5号楼2单元301")
    assert chat.keys == ["flag.service_suggested"]  # the words came with /flag: no need to ask again
    await chat.press("service.social_integration")
    await finish_flag(chat)
    first = reference_of(chat, "flag.submitted")

    await flag_household(chat, "/flag 5号楼那位老人这两天没开过门，电话也不接", "5号楼2单元301室")
    await chat.press("flag.button.other_types")
    await chat.press("service.resource_linking")
    await finish_flag(chat)

    assert chat.keys == ["flag.submitted_joined", "flag.what_you_will_see"]
    assert reference_of(chat, "flag.submitted_joined") == first
    [ticket] = await h.casework.reported_by(volunteer)
    admin = await h.enrol(ADMIN, Role.ADMIN, "d")
    assert len((await h.casework.view(admin, ticket.id)).reports) == 2


async def test_a_volunteer_whose_flag_joins_another_volunteers_case_is_not_told_that_case(h: Harness) -> None:
    first_volunteer = await h.enrol(VOLUNTEER, Role.VOLUNTEER, "c1")
    first = h.chat(VOLUNTEER, "zh")
    await flag_household(first, f"/flag {OBSERVED}", "5号楼2单元301")
    await first.press("service.social_integration")
    await finish_flag(first)
    reference = reference_of(first, "flag.submitted")

    await h.enrol(SECOND_VOLUNTEER, Role.VOLUNTEER, "c1")
    chat = h.chat(SECOND_VOLUNTEER, "zh")
    await flag_household(chat, "/flag 5号楼那位老人这两天没开过门，电话也不接", "5号楼2单元301室")
    await chat.press("flag.button.other_types")
    await chat.press("service.resource_linking")
    await finish_flag(chat)

    # Only that the report joined work under way: no reference, no stage, no promise of /status.
    assert chat.keys == ["flag.submitted_joined_elsewhere"]
    for language in ("zh", "en"):
        told = "\n".join(h.catalog.render(reply, language) for reply in chat.last)
        assert reference not in told
        assert "SA-" not in told
    await chat.say("/status")
    assert chat.keys == ["status.none"]
    assert reference not in chat.text()
    # The report did join the first volunteer's case.
    [ticket] = await h.casework.reported_by(first_volunteer)
    admin = await h.enrol(ADMIN, Role.ADMIN, "d")
    assert len((await h.casework.view(admin, ticket.id)).reports) == 2


async def test_the_volunteer_sees_the_stage_of_a_flag_and_never_the_case_notes(h: Harness) -> None:
    volunteer = await h.enrol(VOLUNTEER, Role.VOLUNTEER, "c1")
    worker = await h.enrol(WORKER, Role.SOCIAL_WORKER, "s1")
    chat = h.chat(VOLUNTEER, "zh")
    await flag_household(chat, f"/flag {OBSERVED}", "5号楼2单元301")
    await chat.press("service.social_integration")
    await finish_flag(chat)
    [ticket] = await h.casework.reported_by(volunteer)

    async def status() -> str:
        await chat.say("/status")
        assert chat.keys == ["status.volunteer_line"]
        return chat.text()

    assert status_words(await status()) == "已收到"
    await h.casework.claim(worker, ticket.id)
    await h.casework.add_note(worker, ticket.id, CASE_NOTE)
    seen = await status()
    assert status_words(seen) == "社工已认领"
    assert CASE_NOTE not in seen
    assert "欠" not in seen
    await h.casework.record_visit(worker, ticket.id, "老人腿伤，需要送餐")
    assert status_words(await status()) == "已入户走访"
    await h.casework.resolve(worker, ticket.id, "链接了社区助餐")
    await h.casework.close(worker, ticket.id)
    seen = await status()
    assert status_words(seen) == "已结案"
    assert "助餐" not in seen
    assert "腿伤" not in seen


def status_words(text: str) -> str:
    """ "R-…：已收到" → "已收到": the stage alone."""
    return text.split("：", 1)[1]


async def test_a_recipient_sending_flag_is_refused(h: Harness) -> None:
    chat = h.chat(301, "en")
    await chat.say("/flag my neighbour lives alone and looks unwell")
    assert chat.keys == ["flow.not_for_you"]
    assert "enrolled" in chat.text()


# --- policy questions ------------------------------------------------------------------------------


async def test_a_policy_question_is_answered_with_its_citation_and_a_person_can_be_asked(h: Harness) -> None:
    chat = h.chat(302, "zh")
    await chat.say("低保谁能申请？")
    await consent(chat)

    assert chat.keys == ["consent.recorded", "policy.answer", "policy.helped_or_related"]
    assert "《社会救助暂行办法》" in chat.text()
    assert "以当地民政部门规定为准" in chat.text()  # the local note
    # The other close answers are a press away.
    await chat.press("see:dibao-application-review")
    assert chat.keys[0] == "policy.answer"
    assert "乡镇人民政府或街道办事处" in chat.text()

    await chat.press("policy.button.ask_person")
    assert chat.keys == ["policy.area"]  # no home area known yet
    await chat.press("光明社区")
    assert chat.keys == ["policy.person_asked"]
    person, _ = await h.people.identify(302, channel=Channel.CONSOLE, display_name="", language="zh")
    [ticket] = await h.casework.reported_by(person)
    assert (ticket.service_type, ticket.area_id, ticket.reporter_id) == (
        ServiceType.POLICY_ADVOCACY,
        h.areas["c1"],
        person.id,
    )
    assert reference_of(chat, "policy.person_asked") == ticket.reference
    # The alert names the topic in words (not its code), not the question as asked.
    assert h.catalog.summary(ticket.summary, "zh").startswith("政策咨询，转人工答复 · 最低生活保障（低保）")
    assert h.catalog.summary(ticket.summary, "en").startswith(
        "policy question for a person to answer · minimum living allowance (dibao)"
    )
    assert "谁能申请" not in ticket.summary


async def test_a_policy_answer_in_english_asks_whether_it_helped(h: Harness) -> None:
    chat = h.chat(303, "en")
    await chat.say("/policy Who can get dibao?")
    assert chat.keys[0] == "policy.answer"
    assert "Interim Measures for Social Assistance" in chat.text()
    await chat.press("policy.button.helped")
    assert chat.keys == ["policy.glad"]


async def test_an_unrelated_question_is_answered_as_unsure_with_a_person_offered(h: Harness) -> None:
    resident = await h.enrol(304, Role.RECIPIENT, "c2")  # a home area is known: no need to ask where
    await h.people.record_consents(resident.id, dict.fromkeys(ConsentPurpose, True))
    chat = h.chat(304, "en")
    await chat.say("/lang en")
    await chat.say("/policy What is the weather like tomorrow?")
    assert chat.keys[0] == "policy.unsure"
    assert "not sure" in chat.text()
    assert "policy.answer" not in chat.keys

    await chat.press("policy.button.ask_person")
    assert chat.keys == ["policy.person_asked"]
    [ticket] = await h.casework.reported_by(resident)
    assert (ticket.service_type, ticket.area_id) == (ServiceType.POLICY_ADVOCACY, h.areas["c2"])


async def test_a_person_who_keeps_no_details_is_asked_whether_a_worker_may_answer_them_here(
    h: Harness,
) -> None:
    chat = h.chat(306, "en")
    await chat.say("/policy What is the weather like tomorrow?")
    await chat.press("policy.button.ask_person")
    await chat.press("Guangming")
    assert chat.keys == ["policy.person_asked_anonymous", "anonymous.reply_ask"]
    assert "does not see who you are" in chat.text()
    ticket = await h.casework.by_reference(reference_of(chat, "policy.person_asked_anonymous"))
    assert (ticket.service_type, ticket.reporter_id) == (ServiceType.POLICY_ADVOCACY, None)
    await chat.press("button.no")
    assert chat.keys == ["anonymous.reply_no"]
    assert "no one will answer you" in chat.text()


async def test_policy_without_a_question_asks_for_one(h: Harness) -> None:
    chat = h.chat(305, "zh")
    await chat.say("/policy")
    assert chat.keys == ["policy.ask"]
    await chat.say("特困供养包括哪些内容")
    assert chat.keys[0] == "policy.answer"
    await chat.press("policy.button.not_helped")
    assert chat.keys == ["policy.sorry"]
    await chat.press("policy.button.no_thanks")
    assert chat.keys == ["policy.any_time"]


# --- feedback on how policy is carried out ---------------------------------------------------------


async def test_a_complaint_opens_an_anonymous_feedback_ticket_with_no_reporter(h: Harness) -> None:
    chat = h.chat(401, "zh")
    await chat.say("我要投诉社区办事拖拉")
    await consent(chat)
    assert chat.keys == ["consent.recorded", "feedback.anonymous"]
    await chat.press("button.yes")
    assert chat.keys == ["feedback.area"]
    await chat.press("光明社区")
    assert chat.keys == ["feedback.confirm"]
    assert "匿名" in chat.text()
    await chat.press("feedback.button.submit")

    assert chat.keys == ["feedback.submitted_anonymous"]
    ticket = await h.casework.by_reference(reference_of(chat, "feedback.submitted_anonymous"))
    assert (ticket.service_type, ticket.reporter_id, ticket.area_id) == (
        ServiceType.POLICY_ADVOCACY,
        None,
        h.areas["c1"],
    )
    admin = await h.enrol(ADMIN, Role.ADMIN, "d")
    [report] = (await h.casework.view(admin, ticket.id)).reports
    assert (report.reporter_id, report.anonymous, report.intent) == (None, True, "policy_feedback")
    person, _ = await h.people.identify(401, channel=Channel.CONSOLE, display_name="", language="zh")
    assert await h.casework.reported_by(person) == []


async def test_feedback_in_english_may_carry_the_persons_name(h: Harness) -> None:
    chat = h.chat(402, "en")
    await chat.say("The street office was rude and refused my application without any reason")
    await consent(chat)
    assert chat.keys[-1] == "feedback.anonymous"
    await chat.press("button.no")
    await chat.press("Xingfu")
    assert "with your name" in chat.text()
    await chat.press("feedback.button.submit")
    assert chat.keys == ["feedback.submitted"]
    person, _ = await h.people.identify(402, channel=Channel.CONSOLE, display_name="", language="en")
    [ticket] = await h.casework.reported_by(person)
    assert (ticket.service_type, ticket.area_id) == (ServiceType.POLICY_ADVOCACY, h.areas["c2"])


# --- the satisfaction survey -----------------------------------------------------------------------


async def closed_case(h: Harness, reporter: Person) -> int:
    worker = await h.enrol(WORKER, Role.SOCIAL_WORKER, "s1")
    opened = await h.casework.open_ticket(rent_need(h.areas["c1"], reporter_id=reporter.id))
    ticket_id = opened.ticket.id
    await h.casework.claim(worker, ticket_id)
    await h.casework.resolve(worker, ticket_id, "申请了临时救助")
    closed = await h.casework.close(worker, ticket_id)
    assert closed.status is TicketStatus.CLOSED
    return ticket_id


def star(chat: Chat, ticket_id: int, stars: int) -> Turn:
    return Turn(
        channel="console",
        user_id=chat.user_id,
        language_hint=chat.language,
        button=f"!rate:{ticket_id}:{stars}",
    )


async def test_a_rating_is_recorded_with_a_comment_and_a_second_one_is_refused_kindly(h: Harness) -> None:
    resident = await h.enrol(501, Role.RECIPIENT, "c1")
    ticket_id = await closed_case(h, resident)
    chat = h.chat(501, "en")
    await chat.say("/lang en")  # enrolled without a language: Chinese until asked
    admin = await h.enrol(ADMIN, Role.ADMIN, "d")

    await chat.send(star(chat, ticket_id, 5))
    assert chat.keys == ["survey.thanks"]
    assert "5★" in chat.text()
    await chat.say("The social worker was very patient")
    assert chat.keys == ["survey.recorded_with_comment"]
    [rating] = (await h.casework.view(admin, ticket_id)).feedback
    assert (rating.rating, rating.comment, rating.person_id) == (
        5,
        "The social worker was very patient",
        resident.id,
    )

    await chat.send(star(chat, ticket_id, 1))  # refused at once: the first rating stands
    assert chat.keys == ["survey.already_rated"]
    assert "first rating" in chat.text()
    assert [f.rating for f in (await h.casework.view(admin, ticket_id)).feedback] == [5]


async def test_a_rating_can_skip_the_comment(h: Harness) -> None:
    resident = await h.enrol(502, Role.RECIPIENT, "c1")
    ticket_id = await closed_case(h, resident)
    chat = h.chat(502, "en")
    await chat.say("/lang en")
    await chat.send(star(chat, ticket_id, 4))
    assert "4★" in chat.text()
    await chat.press("button.skip")
    assert chat.keys == ["survey.recorded"]
    admin = await h.enrol(ADMIN, Role.ADMIN, "d")
    [rating] = (await h.casework.view(admin, ticket_id)).feedback
    assert (rating.rating, rating.comment) == (4, None)


async def test_a_rating_of_someone_elses_ticket_is_refused(h: Harness) -> None:
    resident = await h.enrol(503, Role.RECIPIENT, "c1")
    ticket_id = await closed_case(h, resident)
    await h.enrol(504, Role.RECIPIENT, "c1")
    other = h.chat(504, "zh")
    await other.send(star(other, ticket_id, 1))
    assert other.keys == ["survey.not_yours"]
    admin = await h.enrol(ADMIN, Role.ADMIN, "d")
    assert (await h.casework.view(admin, ticket_id)).feedback == ()


async def test_a_star_pressed_in_the_middle_of_another_flow_is_kept_and_that_flow_goes_on(h: Harness) -> None:
    resident = await h.enrol(505, Role.RECIPIENT, "c1")
    ticket_id = await closed_case(h, resident)
    chat = h.chat(505, "zh")
    await chat.say("/policy")
    assert chat.keys == ["policy.ask"]
    await chat.send(star(chat, ticket_id, 3))
    assert chat.keys == ["survey.recorded", "policy.ask"]
    await chat.say("低保怎么申请？")
    assert chat.keys[0] == "policy.answer"
    admin = await h.enrol(ADMIN, Role.ADMIN, "d")
    assert [f.rating for f in (await h.casework.view(admin, ticket_id)).feedback] == [3]


async def test_feedback_from_someone_who_keeps_no_details_is_anonymous_without_asking(h: Harness) -> None:
    chat = h.chat(403, "en")
    await chat.say("The street office was rude and refused my application without any reason")
    for _ in range(3):
        await chat.press("button.no")
    assert chat.keys == ["consent.declined", "feedback.anonymous_by_consent", "feedback.area"]
    await chat.press("Guangming")
    assert "anonymous" in chat.text()
    await chat.press("feedback.button.submit")
    assert chat.keys == ["feedback.submitted_anonymous"]
    ticket = await h.casework.by_reference(reference_of(chat, "feedback.submitted_anonymous"))
    assert ticket.reporter_id is None


async def test_a_volunteers_free_text_about_a_household_starts_the_flag(h: Harness) -> None:
    await h.enrol(VOLUNTEER, Role.VOLUNTEER, "c1")
    chat = h.chat(VOLUNTEER, "zh")
    await chat.say(OBSERVED)
    await consent(chat)
    assert chat.keys == ["consent.recorded", "flag.area"]
    await chat.press("幸福社区")
    await chat.say("村口第三户")
    assert chat.keys == ["flag.service_suggested"]  # what was seen is already known


async def test_danger_described_mid_flag_opens_one_urgent_ticket_that_the_flag_completes(h: Harness) -> None:
    volunteer = await h.enrol(VOLUNTEER, Role.VOLUNTEER, "c1")
    chat = h.chat(VOLUNTEER, "zh")
    await flag_household(chat, "/flag", "5号楼2单元301")
    assert chat.keys == ["flag.observed"]
    replies = await chat.say("楼下独居老人倒在地上叫不醒")
    assert [reply.key for reply in replies] == [
        "crisis.reply",
        "crisis.reached.nobody",
        "crisis.ticket",
        "flag.observed",
    ]
    await chat.say("老人一个人住，已经打了120")
    await chat.press(1)  # the first service type suggested
    await finish_flag(chat)
    assert chat.keys == ["flag.submitted_joined", "flag.what_you_will_see"]
    [ticket] = await h.casework.reported_by(volunteer)
    assert ticket.urgency is Urgency.CRITICAL
    assert ticket.area_id == h.areas["c1"]
    assert ticket.household_id is not None
    admin = await h.enrol(ADMIN, Role.ADMIN, "d")
    assert len((await h.casework.view(admin, ticket.id)).reports) == 2


# --- a worker's /ticket --------------------------------------------------------------------------------


async def test_ticket_answers_a_worker_of_another_area_exactly_as_for_an_unknown_reference(
    h: Harness,
) -> None:
    resident, _ = await h.people.identify(501, channel=Channel.CONSOLE, display_name="", language="zh")
    ticket = (await h.casework.open_ticket(rent_need(h.areas["c1"], reporter_id=resident.id))).ticket
    await h.enrol(WORKER, Role.SOCIAL_WORKER, "c2")  # another community: the case is not theirs
    outsider = h.chat(WORKER, "zh")
    unknown = "SA-20261130-9999"

    await outsider.say(f"/ticket {ticket.reference}")
    assert outsider.keys == ["worker.ticket.unknown"]
    exists_answer = outsider.text().replace(ticket.reference, "<ref>")
    await outsider.say(f"/ticket {unknown}")
    assert outsider.keys == ["worker.ticket.unknown"]
    assert outsider.text().replace(unknown, "<ref>") == exists_answer

    await h.enrol(202, Role.SOCIAL_WORKER, "s1")  # the area's own worker reads it
    insider = h.chat(202, "zh")
    await insider.say(f"/ticket {ticket.reference}")
    assert insider.keys == ["worker.view"]


# --- deleting one's data -------------------------------------------------------------------------------


async def test_deleting_ones_data_leaves_no_dialog_state_row_behind(h: Harness) -> None:
    """As the bot runs without Redis: dialog state in the database, each turn one unit of work."""
    engine = build_engine(h.engine.services, SqlDialogStore(h.database), MemoryLocks())
    user = 777

    async def turn(*, text: str | None = None, button: str | None = None) -> list[Reply]:
        async with h.database.unit_of_work():
            replies, _ = await engine.handle(
                Turn(channel="telegram", user_id=user, language_hint="zh", text=text, button=button)
            )
        return replies

    async def keys() -> list[str]:
        async with h.database.transaction() as tx:
            return list(await tx.session.scalars(select(DialogStateRow.key)))

    asked = await turn(text="/delete_my_data")
    assert [reply.key for reply in asked] == ["erase.confirm"]
    assert await keys() == [f"telegram:{user}"]
    yes = next(button for reply in asked for button in reply.flat_buttons if button.label == "button.yes")
    done = await turn(button=yes.value)
    assert [reply.key for reply in done] == ["erase.done"]
    assert await keys() == []
    assert await h.people.known(user, channel=Channel.TELEGRAM) is None


class UnforgettingStore:
    """A dialog store without ``forget`` (as a Redis store may be): what an erasure leaves in it."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    async def load(self, key: str) -> DialogState:
        text = self.states.get(key)
        return DialogState.from_json(text) if text else DialogState()

    async def save(self, key: str, state: DialogState) -> None:
        self.states[key] = state.to_json()

    async def stale(self, older_than: datetime) -> list[tuple[str, DialogState]]:
        found = [(key, DialogState.from_json(text)) for key, text in self.states.items()]
        return [(key, state) for key, state in found if state.active and state.updated_at < older_than]


async def test_an_erased_persons_conversation_is_let_go_without_a_reminder(h: Harness) -> None:
    store = UnforgettingStore()
    engine = build_engine(h.engine.services, store, MemoryLocks())
    user = 778
    asked, _ = await engine.handle(Turn(channel="telegram", user_id=user, text="/delete_my_data"))
    yes = next(button for reply in asked for button in reply.flat_buttons if button.label == "button.yes")
    done, _ = await engine.handle(Turn(channel="telegram", user_id=user, button=yes.value))
    assert [reply.key for reply in done] == ["erase.done"]

    h.clock.advance(timedelta(hours=1))
    said: list[tuple[str, list[Reply]]] = []

    async def outbound(key: str, replies: list[Reply], language: str) -> None:
        said.append((key, replies))

    await engine.sweep_abandoned(outbound)
    assert said == []  # nothing is sent to someone whose data was erased
    assert not (await store.load(f"telegram:{user}")).active


# --- what a resident's first message already tells the need flow --------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("我住光明社区，家里断粮了", ["光明社区", "住光明社区", "我住光明社区"]),
        ("I live in Xingfu and we have no food left", ["xingfu"]),
        ("we live at the Guangming community centre", ["guangming", "guangming community"]),
        ("家里断粮了", []),
        ("I lost my job", []),
    ],
)
def test_the_words_that_may_name_a_community_are_found_shortest_first(text: str, names: list[str]) -> None:
    assert community_names(text) == names


async def test_a_need_in_a_clause_with_a_place_that_is_no_community_still_counts(h: Harness) -> None:
    chat = h.chat(404, "en")
    await chat.say("/start")
    await consent(chat)
    await chat.say("I can't sleep at night since my wife died, and we can't pay the electricity bill")
    assert chat.keys == ["need.confirm_two"]
    assert "emotional support" in chat.text()
    assert "practical help and resources" in chat.text()


async def test_two_communities_named_offer_neither(h: Harness) -> None:
    chat = h.chat(405, "zh")
    await chat.say("/start")
    await consent(chat)
    await chat.say("我从幸福社区搬到光明社区，家里断粮了")
    await chat.press("button.yes")
    assert chat.keys == ["need.area"]
