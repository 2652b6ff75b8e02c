"""Conversation scripts: what a person types or presses, the message keys that come back, and the
state of their tickets afterwards. One YAML file per flow under tests/conversations/; every script
runs on SQLite and PostgreSQL.

A script:

    name: …
    language: zh            # the person's language
    role: recipient         # recipient (default), volunteer, social_worker, supervisor
    consent: true           # answer the consent questions with yes first (default true)
    steps:
      - say: 我家房租交不起了          # or press: <label key, literal label, or number>
        expect: [need.confirm_type]   # the reply keys, in order (expect_any: one of them is enough)
      - press: button.yes
        expect_any: [need.area]
      - share_location: [30.556, 114.315]   # or share_contact: 13812345678
        expect: [area.location_confirm]
        expect_text: [按时认领]         # words in the replies as read (expect_files: [needs, workbook],
                                        # the parts of a report sent after them, in order)
    tickets:                          # the person's tickets at the end (optional)
      - {status: new, service_type: resource_linking, urgency: normal}
    case_file: {assessments: 1, goals: [under_way], reviews: 0}   # the file of the setup's last ticket

Before the steps, ``setup`` may enrol other people and prepare tickets; ``{ticket}`` (its id) and
``{reference}`` in a step stand for the last ticket the setup opened:

    setup:
      - enrol: {user: 301, role: social_worker, area: s1}
      - open_ticket: {area: c1, service_type: resource_linking, urgency: normal}   # by another resident
      - claim: 301                     # a worker claims it
      - resolve: 301                   # … resolves it with an outcome
      - close: 301
      - on_call: {user: 401, role: supervisor, area: s1}   # on the crisis on-call list for s1 (without
                                                           # area: everywhere), working in c2 (home:)
      - assessment: {worker: 301}      # the household's assessment (tests/assessments.py)
      - goal: {worker: 301, title: 申请临时救助, volunteer: 501}   # a goal of the household's plan,
                                                           # a volunteer's task when one is named
    steps:
      - press_value: "!claim:{ticket}"
"""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from casework.case_file import NewGoal
from casework.domain import Channel, GoalOwner, Role, ServiceType, Urgency
from casework.opening import NewReport
from dialogs.messages import Button
from dialogs.turn import Turn
from storage import Database
from tests.assessments import answers
from tests.dialog_harness import Chat, Harness, build_harness

SCRIPTS = sorted((Path(__file__).parent / "conversations").glob("*.yml"))
USER = 4242


def _cases() -> list[Any]:
    cases = []
    for path in SCRIPTS:
        for script in yaml.safe_load(path.read_text(encoding="utf-8")):
            cases.append(pytest.param(script, id=f"{path.stem}:{script['name']}"))
    return cases


OTHER_RESIDENT = 5151


async def _setup(harness: Harness, actions: list[dict[str, Any]], values: dict[str, Any]) -> None:
    for action in actions:
        (name, argument), *_ = action.items()
        if name == "enrol":
            await harness.enrol(
                int(argument["user"]),
                Role(argument["role"]),
                argument.get("area", "s1"),
                language=argument.get("language", "zh"),
            )
        elif name == "open_ticket":
            resident, _ = await harness.people.identify(
                int(argument.get("reporter", OTHER_RESIDENT)),
                channel=Channel.CONSOLE,
                display_name="",
                language="zh",
            )
            opened = await harness.casework.open_ticket(
                NewReport(
                    text=argument.get("text", "家里房租交不起了"),
                    language="zh",
                    intent="need_resource_linking",
                    confidence=0.9,
                    service_type=ServiceType(argument.get("service_type", "resource_linking")),
                    urgency=Urgency(argument.get("urgency", "normal")),
                    area_id=harness.areas[argument.get("area", "c1")],
                    channel=Channel.CONSOLE,
                    reporter_id=resident.id,
                    household_address=argument.get("address", ""),
                )
            )
            values.update(ticket=opened.ticket.id, reference=opened.ticket.reference)
        elif name in ("claim", "resolve", "close"):
            async with harness.database.transaction() as tx:
                actor = await tx.people.by_identity(Channel.CONSOLE, str(argument))
            assert actor is not None, f"setup: nobody enrolled as {argument}"
            if name == "claim":
                await harness.casework.claim(actor, values["ticket"])
            elif name == "resolve":
                await harness.casework.resolve(actor, values["ticket"], "已解决")
            else:
                await harness.casework.close(actor, values["ticket"])
        elif name == "on_call":  # someone on the crisis on-call list all day, for an area or everywhere
            person = await harness.enrol(
                int(argument["user"]), Role(argument.get("role", "supervisor")), argument.get("home", "c2")
            )
            async with harness.database.transaction() as tx:
                await tx.on_call.add(
                    person_id=person.id,
                    area_id=harness.areas[argument["area"]] if "area" in argument else None,
                    from_time=time(0),
                    until_time=time(0),
                    now=harness.clock.now(),
                )
        elif name == "assessment":  # a worker records the household's assessment (tests/assessments.py)
            async with harness.database.transaction() as tx:
                worker = await tx.people.by_identity(Channel.CONSOLE, str(argument["worker"]))
            assert worker is not None, f"setup: nobody enrolled as {argument['worker']}"
            await harness.casework.record_assessment(worker, values["ticket"], answers())
        elif name == "goal":  # a worker sets a goal of the household's plan (a volunteer's task, if named)
            async with harness.database.transaction() as tx:
                worker = await tx.people.by_identity(Channel.CONSOLE, str(argument["worker"]))
                volunteer = (
                    await tx.people.by_identity(Channel.CONSOLE, str(argument["volunteer"]))
                    if "volunteer" in argument
                    else None
                )
            assert worker is not None, f"setup: nobody enrolled as {argument['worker']}"
            await harness.casework.add_goal(
                worker,
                values["ticket"],
                NewGoal(
                    ServiceType(argument.get("service_type", "resource_linking")),
                    argument["title"],
                    owner=GoalOwner.VOLUNTEER if volunteer else GoalOwner.WORKER,
                    owner_person_id=volunteer.id if volunteer else None,
                ),
            )
        elif name == "advance_hours":
            harness.clock.advance(timedelta(hours=float(argument)))
        else:
            raise AssertionError(f"unknown setup action {name}")


async def _step(
    chat: Chat, step: dict[str, Any], saved: dict[str, Button], values: dict[str, Any]
) -> list[str]:
    step = {key: value.format(**values) if isinstance(value, str) else value for key, value in step.items()}
    if "say" in step:
        replies = await chat.say(str(step["say"]))
    elif "press" in step:
        replies = await chat.press(step["press"])
    elif "press_saved" in step:  # a button kept from an earlier message (a flow since ended, say)
        button = saved[step["press_saved"]]
        replies = await chat.send(Turn(channel="console", user_id=chat.user_id, button=button.value))
    elif "share_location" in step:  # [latitude, longitude], as a phone shares it
        latitude, longitude = step["share_location"]
        replies = await chat.send(
            Turn(
                channel="console",
                user_id=chat.user_id,
                latitude=latitude,
                longitude=longitude,
                kind="location",
            )
        )
    elif "share_contact" in step:  # a phone number, as a shared contact card
        replies = await chat.send(
            Turn(channel="console", user_id=chat.user_id, phone=str(step["share_contact"]), kind="contact")
        )
    elif "press_value" in step:  # a button value no message ever offered
        replies = await chat.send(
            Turn(channel="console", user_id=chat.user_id, button=str(step["press_value"]))
        )
    else:
        raise AssertionError(f"a step says or presses: {step}")
    return [reply.key for reply in replies]


@pytest.mark.parametrize("script", _cases())
async def test_conversation(database: Database, script: dict[str, Any]) -> None:
    harness = await build_harness(database)
    language = script.get("language", "zh")
    role = Role(script.get("role", "recipient"))
    if role is not Role.RECIPIENT:
        await harness.enrol(USER, role, script.get("area", "s1"), language=language)
    chat = harness.chat(USER, language)
    if script.get("consent", True):
        await chat.say("/start")
        for _ in range(3):
            await chat.press("button.yes")
    values: dict[str, Any] = {}
    await _setup(harness, script.get("setup", []), values)
    saved: dict[str, Button] = {}
    for number, step in enumerate(script["steps"], start=1):
        if "save_button" in step:
            saved[step["save_button"]] = chat.button(step["save_button"])
            continue
        keys = await _step(chat, step, saved, values)
        where = f"step {number} ({step})"
        if "expect" in step:
            assert keys == step["expect"], f"{where}: got {keys}"
        if "expect_any" in step:
            assert set(step["expect_any"]) & set(keys), f"{where}: none of {step['expect_any']} in {keys}"
        for key in step.get("expect_none", []):
            assert key not in keys, f"{where}: {key} in {keys}"
        for text in step.get("expect_text", []):
            assert text in chat.text(), f"{where}: {text!r} not in {chat.text()!r}"
        if "expect_files" in step:  # the files sent after the replies, by the part of a report each is
            files = [file.part.value for reply in chat.last for file in reply.files]
            assert files == step["expect_files"], f"{where}: got files {files}"
    if "tickets" in script:
        async with harness.database.transaction() as tx:
            person = await tx.people.by_identity(Channel.CONSOLE, str(USER))
            assert person is not None
            tickets = await tx.tickets.find(reporter_id=person.id)
            everything = await tx.tickets.find()
        anonymous = script.get("anonymous_tickets", False)
        found = everything if anonymous else tickets
        assert [
            {key: getattr(ticket, key).value for key in expected}
            for ticket, expected in zip(found, script["tickets"], strict=False)
        ] == script["tickets"]
        assert len(found) == len(script["tickets"])
    if "case_file" in script:  # what the file of the setup's last ticket holds
        async with harness.database.transaction() as tx:
            ticket = await tx.tickets.get(values["ticket"])
        assert ticket is not None
        expected = script["case_file"]
        if ticket.household_id is None:
            assert expected == {"assessments": 0, "goals": [], "reviews": 0}
        else:
            on_file = await harness.casework.case_files.for_operator(ticket.household_id)
            assert {
                "assessments": len(on_file.assessments),
                "goals": [goal.status.value for goal in on_file.goals],
                "reviews": len(on_file.reviews),
            } == expected
