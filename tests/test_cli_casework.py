from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.bootstrap import bootstrap
from casework.case_file import NewGoal
from casework.clock import ManualClock
from casework.domain import Role, ServiceType
from casework.scheduling import job_store_url
from casework.service import Casework
from storage import Database
from tests.assessments import answers
from tests.cli_runner import Needsbot, two_streets
from tests.conftest import settings_for
from tests.doubles import RecordingFollowUps
from tests.reports import rent_need

LONG_AGO = datetime.now(UTC) - timedelta(days=2)


def casework_on(database: Database) -> Casework:
    """The casework on the seeded database, as it was two days ago."""
    return bootstrap(
        settings_for(database),
        conversations=False,
        database=database,
        clock=ManualClock(LONG_AGO),
        follow_ups=RecordingFollowUps(),
    ).casework


def seed(needsbot: Needsbot) -> dict[str, int]:
    """A street with two workers and a supervisor, an agency, and two tickets opened two days ago."""

    async def run(database: Database) -> dict[str, int]:
        async with database.transaction() as tx:
            street, other = await two_streets(tx)
            agency = await tx.organisations.add(name="阳光社工", area_ids=[street.id], now=LONG_AGO)
            kinds = [ServiceType.RESOURCE_LINKING]
            ids = {"street": street.id, "agency": agency.id}
            for name, role, area in (
                ("王", Role.SOCIAL_WORKER, street),
                ("李", Role.SOCIAL_WORKER, street),
                ("赵", Role.SOCIAL_WORKER, other),
                ("主任", Role.SUPERVISOR, street),
                ("居民", Role.RECIPIENT, street),
            ):
                person = await tx.people.add(
                    now=LONG_AGO, display_name=name, role=role, area_ids=[area.id], service_types=kinds
                )
                ids[name] = person.id
        casework = casework_on(database)
        for number in (1, 2):
            opened = await casework.open_ticket(
                rent_need(street.id, text="房租交不起", reporter_id=ids["居民"])
            )
            ids[f"ticket{number}"] = opened.ticket.id
        return ids

    return needsbot.on_database(run)


@pytest.fixture
def needsbot(sqlite_url: str, tmp_path: Path) -> Needsbot:
    return Needsbot(sqlite_url, tmp_path)


def references(needsbot: Needsbot, *args: str) -> list[str]:
    return [row["reference"] for row in json.loads(needsbot("tickets", "list", "--json", *args).output)]


def test_overdue_lists_tickets_past_their_claim_deadline(needsbot: Needsbot) -> None:
    seed(needsbot)
    rows = json.loads(needsbot("tickets", "list", "--overdue", "--json").output)
    assert len(rows) == 2
    assert {row["sla"] for row in rows} == {"breached"}
    assert "breached" in needsbot("tickets", "list").output


def test_a_supervisor_assigns_refers_closes_and_reopens_from_the_command_line(needsbot: Needsbot) -> None:
    ids = seed(needsbot)
    first, second = references(needsbot)
    chief = str(ids["主任"])
    assigned = needsbot("tickets", "assign", first, "--to", str(ids["王"]), "--as", chief)
    assert assigned.exit_code == 0, assigned.output
    assert f"assigned to #{ids['王']}" in assigned.output
    assert references(needsbot, "--overdue") == [second]  # claimed: now measured against resolution
    referred = needsbot(
        "tickets", "refer", first, "--to-org", "阳光社工", "--reason", "需要专业机构", "--as", chief
    )
    assert referred.exit_code == 0, referred.output
    assert "waiting for them to accept" in referred.output
    closed = needsbot("tickets", "close", second, "--note", "重复报告", "--as", chief)
    assert closed.exit_code == 0, closed.output
    reopened = needsbot("tickets", "reopen", second, "--reason", "并非重复")
    assert reopened.exit_code == 0, reopened.output
    trail = json.loads(needsbot("tickets", "show", second, "--json").output)["events"]
    assert [event["action"] for event in trail][-3:] == ["closed", "reopened", "read"]
    assert trail[-2]["actor_id"] != ids["主任"]  # the command-line operator, recorded as such


@pytest.mark.parametrize(
    ("args", "code", "complaint"),
    [
        (("tickets", "assign", "SA-20000101-0001", "--to", "1"), 1, "no ticket with reference"),
        (("tickets", "refer", "{first}", "--reason", "x"), 2, "give either --to-worker ID or --to-org NAME"),
        (("tickets", "refer", "{first}", "--to-org", "无名", "--reason", "x"), 1, "no organisation named"),
        (("tickets", "reopen", "{first}", "--reason", "x"), 1, "only finished tickets reopen"),
        (("tickets", "assign", "{first}", "--to", "{赵}"), 1, "does not work in this ticket's area"),
        (
            ("tickets", "assign", "{first}", "--to", "{居民}"),
            1,
            "Tickets are assigned to active social workers",
        ),
        (("tickets", "close", "{first}", "--as", "{王}"), 1, "made as a supervisor or an admin"),
        (("tickets", "close", "{first}", "--as", "999"), 1, "no active person with id 999"),
        (("tickets", "assign", "{first}"), 2, "Missing option '--to'"),
    ],
)
def test_ticket_commands_refuse_bad_input(
    needsbot: Needsbot, args: tuple[str, ...], code: int, complaint: str
) -> None:
    ids = seed(needsbot)
    first = references(needsbot)[0]
    values = {"first": first, **{name: str(value) for name, value in ids.items()}}
    result = needsbot(*(arg.format(**values) for arg in args))
    assert result.exit_code == code, result.output
    assert complaint in result.output
    assert "Traceback" not in result.output


def test_people_list_shows_roles_without_contact_details(needsbot: Needsbot) -> None:
    seed(needsbot)
    workers = json.loads(needsbot("people", "list", "--role", "social_worker", "--json").output)
    assert [person["display_name"] for person in workers] == ["王", "李", "赵"]
    assert "phone" not in workers[0]
    assert "identities" not in workers[0]


def test_the_scheduler_process_leads_installs_its_jobs_and_stops_cleanly(
    sqlite_url: str, tmp_path: Path
) -> None:
    environment = {**os.environ, "DATABASE_URL": sqlite_url, "REDIS_URL": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "scheduler", "run"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "scheduler running" in process.stdout.readline()
        deadline = time.monotonic() + 30
        jobs: set[str] = set()
        while time.monotonic() < deadline and not {"sweep_deadlines", "weekly_digest"} <= jobs:
            time.sleep(0.2)
            with sqlite3.connect(job_store_url(sqlite_url).split(":///", 1)[1]) as connection:
                try:
                    jobs = {row[0] for row in connection.execute("SELECT id FROM apscheduler_jobs")}
                except sqlite3.OperationalError:
                    jobs = set()
        assert {"sweep_deadlines", "weekly_digest"} <= jobs
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_a_close_from_the_command_line_leaves_the_survey_to_the_scheduler(needsbot: Needsbot) -> None:
    ids = seed(needsbot)
    first = references(needsbot)[0]
    assert (
        needsbot("tickets", "close", first, "--note", "已电话回访", "--as", str(ids["主任"])).exit_code == 0
    )
    with sqlite3.connect(job_store_url(needsbot.database_url).split(":///", 1)[1]) as connection:
        jobs = {row[0] for row in connection.execute("SELECT id FROM apscheduler_jobs")}
    assert f"survey:{ids['ticket1']}" in jobs


def test_tickets_show_prints_the_households_file_without_its_answers(needsbot: Needsbot) -> None:
    ids = seed(needsbot)

    async def keep_a_file(database: Database) -> None:
        casework = casework_on(database)
        async with database.transaction() as tx:
            wang = await tx.people.get(ids["王"])
        assert wang is not None
        await casework.claim(wang, ids["ticket1"])
        await casework.record_assessment(wang, ids["ticket1"], answers(risk="high"))
        await casework.add_goal(wang, ids["ticket1"], NewGoal(ServiceType.RESOURCE_LINKING, "申请临时救助"))

    needsbot.on_database(keep_a_file)
    first = references(needsbot)[0]
    shown = needsbot("tickets", "show", first)
    assert shown.exit_code == 0, shown.output
    assert "assessment: v1" in shown.output
    assert "risk high" in shown.output
    assert "resource_linking high" in shown.output
    assert "goal #1:   planned" in shown.output
    assert "申请临时救助" in shown.output
    assert "next review:" in shown.output
    assert "reassess by:" in shown.output
    assert "age_80_plus" not in shown.output  # the answers (an age band, say) are not printed
    as_json = json.loads(needsbot("tickets", "show", first, "--json").output)["file"]
    assert [a["version"] for a in as_json["assessments"]] == [1]
    assert "answers" not in as_json["assessments"][0]
    assert as_json["goals"][0]["title"] == "申请临时救助"
