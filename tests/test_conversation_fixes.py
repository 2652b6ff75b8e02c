"""What people type where a button is expected, each as a scripted case in both languages: a number
or 「三口人」 for a household, 同意 / "I agree" at consent, a community by its distinctive name, a phone
number as a Chinese mobile or landline, /start in the middle of a report, and the console's keys and
labels."""

from __future__ import annotations

import io

import pytest

from bot.console import ConsoleChannel
from casework.domain import Channel, ConsentPurpose, Person
from storage import Database
from tests.dialog_harness import Chat, Harness, build_harness

HOUSEHOLD = {"zh": "家里房租交不起了", "en": "I cannot pay my rent this month"}


@pytest.fixture
async def harness(database: Database) -> Harness:
    return await build_harness(database)


async def person(harness: Harness, user_id: int) -> Person:
    found = await harness.people.known(user_id, channel=Channel.CONSOLE)
    assert found is not None
    return found


async def consented(harness: Harness, user_id: int, language: str) -> Chat:
    chat = harness.chat(user_id, language)
    await chat.say("/start")
    for _ in range(3):
        await chat.press("button.yes")
    return chat


async def at_household_size(harness: Harness, user_id: int, language: str) -> Chat:
    chat = await consented(harness, user_id, language)
    await chat.say(HOUSEHOLD[language])
    assert chat.keys == ["need.confirm_type"]
    await chat.press("button.yes")
    await chat.press(f"area:{harness.areas['c1']}")
    assert chat.keys == ["need.size"]
    return chat


@pytest.mark.parametrize(
    ("language", "typed", "size"),
    [
        ("zh", "6", 6),
        ("zh", "三口人", 3),
        ("zh", "家里一共两口人", 2),
        ("zh", "十二", 12),
        ("en", "6", 6),
        ("en", "6 people", 6),
    ],
)
async def test_a_household_size_is_typed_as_a_number_or_in_words(
    harness: Harness, language: str, typed: str, size: int
) -> None:
    chat = await at_household_size(harness, 10, language)
    await chat.say(typed)
    assert chat.keys == ["need.situation"]
    await chat.press("button.done")
    await chat.press("need.contact.chat")
    [summary] = chat.last
    assert summary.args["size"] == size


@pytest.mark.parametrize(("language", "typed"), [("zh", "0"), ("zh", "一百"), ("en", "a hundred")])
async def test_a_household_size_out_of_reach_is_asked_again(
    harness: Harness, language: str, typed: str
) -> None:
    chat = await at_household_size(harness, 11, language)
    await chat.say(typed)
    assert chat.keys == ["need.size_invalid", "need.size"]


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_six_typed_at_the_console_answers_six_not_the_sixth_button(
    harness: Harness, language: str
) -> None:
    """The household's sizes are numbers themselves: the console letters their buttons, so a typed
    number is the size (before, 6 pressed [6], "skip")."""
    await at_household_size(harness, 12, language)
    out = io.StringIO()
    console = ConsoleChannel(harness.engine, harness.catalog, user_id=12, language=language, out=out)
    await console.handle_line("/cancel")
    await console.handle_line(HOUSEHOLD[language])
    await console.handle_line(harness.catalog.text("button.yes", language))
    await console.handle_line("光明社区")
    size_menu = out.getvalue().split(harness.catalog.text("need.size", language))[-1]
    assert "[a] 1" in size_menu
    assert "[f] " in size_menu
    assert "[6]" not in size_menu
    await console.handle_line("6")
    assert harness.catalog.text("need.situation", language) in out.getvalue()
    # A letter presses its button: [f] is "skip".
    out.truncate(0)
    await console.handle_line("/cancel")
    for line in (HOUSEHOLD[language], harness.catalog.text("button.yes", language), "光明社区", "F"):
        await console.handle_line(line)
    assert harness.catalog.text("need.situation", language) in out.getvalue()


@pytest.mark.parametrize(
    ("language", "done", "submit"), [("zh", "完成", "确认提交"), ("en", "done", "SUBMIT")]
)
async def test_the_console_takes_a_buttons_label_in_any_case(
    harness: Harness, language: str, done: str, submit: str
) -> None:
    await consented(harness, 13, language)
    out = io.StringIO()
    console = ConsoleChannel(harness.engine, harness.catalog, user_id=13, language=language, out=out)
    for line in (HOUSEHOLD[language], harness.catalog.text("button.yes", language).upper(), "光明社区", "3"):
        await console.handle_line(line)
    assert harness.catalog.text("button.done", language).casefold() == done.casefold()
    await console.handle_line(done)
    await console.handle_line(harness.catalog.text("need.contact.chat", language).lower())
    assert harness.catalog.text("need.button.submit", language).casefold() == submit.casefold()
    await console.handle_line(submit)
    assert "SA-" in out.getvalue()


@pytest.mark.parametrize(
    ("language", "yes", "no"),
    [
        ("zh", "同意", "不同意"),
        ("zh", "我同意。", "拒绝"),
        ("en", "I agree", "Disagree"),
        ("en", "Agree", "no"),
    ],
)
async def test_consent_is_given_and_refused_in_words(
    harness: Harness, language: str, yes: str, no: str
) -> None:
    chat = harness.chat(14, language)
    await chat.say("/start")
    await chat.say(yes)
    await chat.say(no)
    assert chat.keys == ["consent.ask.contact_me"]
    await chat.say(yes)
    granted = await harness.people.consents((await person(harness, 14)).id)
    assert set(granted) == {ConsentPurpose.STORE_REPORT, ConsentPurpose.CONTACT_ME}


@pytest.mark.parametrize(("language", "typed"), [("zh", "幸福"), ("en", "xingfu"), ("en", "Xingfu")])
async def test_a_community_is_found_by_its_distinctive_name(
    harness: Harness, language: str, typed: str
) -> None:
    chat = await consented(harness, 15, language)
    await chat.say(HOUSEHOLD[language])
    await chat.press("button.yes")
    assert chat.keys == ["need.area"]
    await chat.say(typed)
    assert chat.keys == ["need.size"]
    await chat.say("2")
    await chat.press("button.done")
    await chat.press("need.contact.chat")
    assert chat.last[0].args["area"] == ("幸福社区" if language == "zh" else "Xingfu")


async def test_a_street_named_by_its_distinctive_part_offers_its_communities(harness: Harness) -> None:
    chat = await consented(harness, 16, "zh")
    await chat.say(HOUSEHOLD["zh"])
    await chat.press("button.yes")
    await chat.say("和平")  # 和平街道: a street, not a community; its two communities are offered
    assert chat.keys == ["area.did_you_mean", "need.area"]
    assert {button.label for button in chat.last[-1].flat_buttons} >= {"光明社区", "幸福社区"}


async def at_phone(harness: Harness, user_id: int, language: str) -> Chat:
    chat = await at_household_size(harness, user_id, language)
    await chat.say("3")
    await chat.press("button.done")
    await chat.press("need.contact.phone")
    assert chat.keys == ["need.phone"]
    return chat


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("typed", ["1381234567", "12345678901", "138123456789", "电话号码"])
async def test_a_number_that_is_no_chinese_phone_is_refused(
    harness: Harness, language: str, typed: str
) -> None:
    chat = await at_phone(harness, 17, language)
    await chat.say(typed)
    assert chat.keys == ["need.phone_invalid", "need.phone"]
    assert (await person(harness, 17)).phone is None


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("010-12345678", "01012345678"),
        ("(0755) 1234 5678", "075512345678"),
    ],
)
async def test_a_mobile_or_a_landline_with_its_area_code_is_taken(
    harness: Harness, language: str, typed: str, kept: str
) -> None:
    chat = await at_phone(harness, 18, language)
    await chat.say(typed)
    assert chat.keys == ["need.summary"]
    assert (await person(harness, 18)).phone == kept


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_start_in_the_middle_of_a_report_asks_before_dropping_it(
    harness: Harness, language: str
) -> None:
    chat = await at_household_size(harness, 19, language)
    await chat.say("/start")
    assert chat.keys == ["flow.restart_ask"]
    await chat.press("flow.button.keep_going")
    assert chat.keys == ["need.size"]
    await chat.say("2")  # the report goes on where it was
    assert chat.keys == ["need.situation"]
    await chat.say("/start")
    await chat.press("flow.button.restart")
    assert chat.keys == ["flow.cancelled", "welcome.intro", "consent.ask.store_report"]


async def test_start_outside_a_flow_still_welcomes_at_once(harness: Harness) -> None:
    chat = await consented(harness, 20, "en")
    await chat.say("/start")
    assert chat.keys == ["welcome.intro", "consent.ask.store_report"]
