from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from casework.directory import hash_invite_code
from casework.domain import Role, ServiceType, TicketStatus, Urgency
from storage import Database
from tests.cli_runner import Needsbot, two_streets

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


@pytest.fixture
def needsbot(sqlite_url: str, tmp_path: Path) -> Needsbot:
    return Needsbot(sqlite_url, tmp_path)


def seed_tickets(needsbot: Needsbot) -> list[str]:
    async def seed(database: Database) -> list[str]:
        async with database.transaction() as tx:
            street, other = await two_streets(tx)
            worker = await tx.people.add(now=NOW, display_name="王社工", role=Role.SOCIAL_WORKER)
            references = []
            for area, kind in (
                (street, ServiceType.RESOURCE_LINKING),
                (other, ServiceType.SOCIAL_INTEGRATION),
            ):
                reference = await tx.tickets.next_reference(NOW.date())
                await tx.tickets.add(
                    reference=reference,
                    service_type=kind,
                    urgency=Urgency.HIGH,
                    area_id=area.id,
                    summary="房租困难",
                    now=NOW,
                )
                references.append(reference)
            first = await tx.tickets.by_reference(references[0])
            assert first is not None
            await tx.tickets.transition(
                first.id, to_status=TicketStatus.ASSIGNED, now=NOW, assignee_id=worker.id
            )
            return references

    return needsbot.on_database(seed)


def test_upgrade_then_health_reports_ok(tmp_path: Path) -> None:
    needsbot = Needsbot(f"sqlite:///{tmp_path / 'fresh' / 'needsbot.sqlite3'}", tmp_path)
    assert needsbot("health").exit_code == 1
    upgraded = needsbot("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    health = needsbot("health")
    assert health.exit_code == 0
    assert health.output.strip() == "ok"


def test_a_command_on_a_database_never_set_up_says_what_to_do(tmp_path: Path) -> None:
    needsbot = Needsbot(f"sqlite:///{tmp_path / 'empty.sqlite3'}", tmp_path)
    result = needsbot("tickets", "list")
    assert result.exit_code == 1
    assert "run `needsbot db upgrade` first" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    needsbot = Needsbot("postgresql://nobody:pw@127.0.0.1:1/none", tmp_path)
    result = needsbot("tickets", "list")
    assert result.exit_code == 1
    assert "cannot use the database at postgresql+asyncpg://***@127.0.0.1:1/none" in result.output
    assert "pw" not in result.output


def test_demo_data_loads_once_into_a_new_database(needsbot: Needsbot) -> None:
    first = needsbot("demo", "load")
    assert first.exit_code == 0
    assert "7 areas, 2 organisations" in first.output
    assert "@ 30.55600, 114.31500" in needsbot("areas", "list").output  # 光明社区, located
    again = needsbot("demo", "load")
    assert "already has areas" in again.output
    listed = json.loads(needsbot("areas", "list", "--json").output)
    levels = [area["level"] for area in listed]
    assert levels.count("district") == 1
    assert levels.count("street") == 2
    assert levels.count("community") == 4
    assert len(json.loads(needsbot("orgs", "list", "--json").output)) == 2


def test_areas_import_from_yaml_creates_then_updates(needsbot: Needsbot) -> None:
    areas = needsbot.write(
        "areas.yml",
        """
areas:
  - {code: west, name: 城西区, name_en: West District, level: district, children: [
      {code: w1, name: 西一街道, level: street, children: [{code: w1a, name: 甲社区, level: community}]}]}
organisations:
  - {name: 西城社工站, service_types: [resource_linking], areas: [w1]}
""",
    )
    created = needsbot("areas", "import", str(areas))
    assert created.exit_code == 0, created.output
    assert "3 created, 0 updated" in created.output
    assert "organisations: 1 created" in created.output
    again = needsbot("areas", "import", str(areas))
    assert "0 created, 3 updated" in again.output
    assert "1 already there" in again.output
    tree = needsbot("areas", "list").output.splitlines()
    nobody = "⚠ nobody to alert in a crisis"  # nobody is enrolled yet
    assert tree == [
        f"west  城西区  West District  {nobody}",
        f"  w1  西一街道  {nobody}",
        f"    w1a  甲社区  {nobody}",
    ]


def test_areas_import_from_csv_accepts_children_before_parents(needsbot: Needsbot) -> None:
    areas = needsbot.write(
        "areas.csv",
        "code,name,name_en,level,parent\nc1,一社区,,community,s1\ns1,一街道,,street,d1\nd1,一区,One,district,\n",
    )
    result = needsbot("areas", "import", str(areas))
    assert result.exit_code == 0, result.output
    assert "3 created" in result.output


def test_areas_import_takes_community_locations_and_keeps_them_when_a_file_leaves_them_out(
    needsbot: Needsbot,
) -> None:
    located = needsbot.write(
        "located.csv",
        "code,name,level,parent,latitude,longitude\n"
        "d1,一区,district,,,\ns1,一街道,street,d1,,\nc1,一社区,community,s1,30.556,114.315\n",
    )
    assert needsbot("areas", "import", str(located)).exit_code == 0
    renamed = needsbot.write("renamed.yml", "- {code: c1, name: 新一社区, level: community, parent: s1}")
    assert needsbot("areas", "import", str(renamed)).exit_code == 0
    assert (
        needsbot("areas", "list")
        .output.splitlines()[-1]
        .startswith("    c1  新一社区  @ 30.55600, 114.31500")
    )
    listed = json.loads(needsbot("areas", "list", "--json").output)
    assert [area["location"] for area in listed if area["code"] == "c1"] == [[30.556, 114.315]]


@pytest.mark.parametrize(
    ("name", "content", "complaint"),
    [
        ("bad.yml", "areas: [ {code: x", "not valid YAML at line"),
        ("level.yml", "- {code: x, name: X, level: county}", "level 'county' is not one of"),
        ("tree.yml", "- {code: x, name: X, level: district, children: 3}", "expected a list of areas"),
        ("code.yml", "- {code: 'Big Area', name: X, level: district}", "code 'Big Area' must be lower-case"),
        ("orphan.csv", "code,name,level,parent\nc1,一社区,community,nowhere\n", "unknown parent 'nowhere'"),
        ("header.csv", "id,title\n1,x\n", "the header must name code, name, level"),
        ("order.yml", "- {code: s, name: S, level: street}", "is a street and needs a parent"),
        (
            "twice.yml",
            "- {code: d, name: D, level: district}\n- {code: d, name: E, level: district}",
            "appears twice",
        ),
        ("areas.txt", "whatever", "expected a .yml, .yaml or .csv file"),
        (
            "half.yml",
            "- {code: d, name: D, level: district, latitude: 30.5}",
            "give both latitude and longitude",
        ),
        (
            "north.yml",
            "- {code: d, name: D, level: district, latitude: 95, longitude: 1}",
            "latitude 95.0 is outside ±90°",
        ),
        (
            "words.csv",
            "code,name,level,latitude,longitude\nd,D,district,north,east\n",
            "latitude 'north' is not a number",
        ),
        (
            "org.yml",
            "organisations: [{name: X, service_types: [food], areas: []}]",
            "'food' is not a service type",
        ),
    ],
)
def test_a_bad_areas_file_is_refused_with_a_clear_message(
    needsbot: Needsbot, name: str, content: str, complaint: str
) -> None:
    result = needsbot("areas", "import", str(needsbot.write(name, content)))
    assert result.exit_code == 1
    assert complaint in result.output
    assert "Traceback" not in result.output
    assert json.loads(needsbot("areas", "list", "--json").output) == []


def test_areas_import_does_not_move_an_area_to_another_parent_unasked(needsbot: Needsbot) -> None:
    """The same code under another district in a later file: refused without --move, so a street is
    not re-parented and renamed by a copy-paste slip; with --move it moves, keeping its English name."""
    first = needsbot.write(
        "first.yml",
        """
- {code: east, name: 城东区, level: district, children: [
    {code: heping, name: 和平街道, name_en: Heping Subdistrict, level: street}]}
- {code: west, name: 城西区, level: district}
""",
    )
    assert needsbot("areas", "import", str(first)).exit_code == 0
    slip = needsbot.write(
        "slip.yml",
        "- {code: west, name: 城西区, level: district, children: [\n"
        "    {code: heping, name: 和平镇, level: township}]}",
    )
    refused = needsbot("areas", "import", str(slip))
    assert refused.exit_code == 1
    assert (
        "Area 'heping' is stored under 'east'; the file puts it under 'west'. Give --move" in refused.output
    )
    assert "  heping  和平街道  Heping Subdistrict" in needsbot("areas", "list").output
    moved = needsbot("areas", "import", "--move", str(slip))
    assert moved.exit_code == 0, moved.output
    tree = needsbot("areas", "list").output
    assert tree.index("west") < tree.index("heping  和平镇  Heping Subdistrict")


def test_areas_import_takes_township_and_village_as_the_levels_they_are(needsbot: Needsbot) -> None:
    rural = needsbot.write(
        "rural.csv",
        "code,name,level,parent\nxian,某县,district,\nzhen,某镇,Township,xian\ncun,某村,village,zhen\n",
    )
    result = needsbot("areas", "import", str(rural))
    assert result.exit_code == 0, result.output
    levels = {area["code"]: area["level"] for area in json.loads(needsbot("areas", "list", "--json").output)}
    assert levels == {"xian": "district", "zhen": "street", "cun": "community"}


def test_areas_import_names_every_problem_of_a_file_and_imports_nothing(needsbot: Needsbot) -> None:
    broken = needsbot.write(
        "broken.csv",
        "code,name,level,parent\n"
        "d,一区,district,\n"
        "s,一街道,county,d\n"  # an unknown level
        "Big,二街道,street,d\n"  # a code with capitals
        "c,一社区,community,nowhere\n"  # an unknown parent
        "c2,二社区,community,d\n",  # a community straight under a district
    )
    result = needsbot("areas", "import", str(broken))
    assert result.exit_code == 1
    output = result.output
    assert "broken.csv: 2 problems, nothing imported:" in output
    assert "level 'county' is not one of district, street, township, community, village" in output
    assert "code 'Big' must be lower-case" in output
    assert json.loads(needsbot("areas", "list", "--json").output) == []
    # The file's own problems fixed, the ones only the tree shows are all named at once too.
    fixed = needsbot.write(
        "tree.csv",
        "code,name,level,parent\nd,一区,district,\nc,一社区,community,nowhere\nc2,二社区,community,d\n",
    )
    result = needsbot("areas", "import", str(fixed))
    assert "tree.csv: 2 problems, nothing imported:" in result.output
    assert "Area 'c' names an unknown parent 'nowhere'." in result.output
    assert "Area 'c2' is a community and cannot sit under a district." in result.output
    assert json.loads(needsbot("areas", "list", "--json").output) == []


def test_a_missing_areas_file_is_named(needsbot: Needsbot) -> None:
    result = needsbot("areas", "import", "no-such.yml")
    assert result.exit_code == 1
    assert "no-such.yml: no such file" in result.output


def test_orgs_add_lists_and_refuses_duplicates_and_unknown_areas(needsbot: Needsbot) -> None:
    needsbot("demo", "load")
    added = needsbot(
        "orgs", "add", "--name", "新希望社工", "--service-type", "capacity_building", "--area", "xingfu"
    )
    assert added.exit_code == 0, added.output
    listed = json.loads(needsbot("orgs", "list", "--json").output)
    assert listed[-1]["name"] == "新希望社工"
    assert listed[-1]["service_types"] == ["capacity_building"]
    duplicate = needsbot("orgs", "add", "--name", "新希望社工")
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.output
    unknown = needsbot("orgs", "add", "--name", "别的", "--area", "atlantis")
    assert unknown.exit_code == 1
    assert "no area with code 'atlantis'" in unknown.output
    bad_kind = needsbot("orgs", "add", "--name", "别的", "--service-type", "food")
    assert bad_kind.exit_code == 2
    assert "Invalid value for '--service-type'" in bad_kind.output


def test_invite_create_prints_a_code_whose_hash_alone_is_stored(needsbot: Needsbot) -> None:
    needsbot("demo", "load")
    result = needsbot(
        "invite",
        "create",
        "--role",
        "social_worker",
        "--area",
        "heping",
        "--org",
        "阳光社会工作服务中心",
        "--expires",
        "2d",
        TELEGRAM_BOT_USERNAME="needs_helper_bot",
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines())
    code = lines["code"].strip()
    assert lines["link"].strip() == f"https://t.me/needs_helper_bot?start={code}"

    async def stored(database: Database) -> tuple[str, datetime, datetime] | None:
        async with database.transaction() as tx:
            invite = await tx.invites.by_hash(hash_invite_code(code))
            return (invite.role, invite.created_at, invite.expires_at) if invite else None

    found = needsbot.on_database(stored)
    assert found is not None
    role, created_at, expires_at = found
    assert role == "social_worker"
    assert expires_at - created_at == timedelta(days=2)


@pytest.mark.parametrize(
    ("args", "code", "complaint"),
    [
        (("--role", "recipient", "--area", "heping"), 2, "Invalid value for '--role'"),
        (("--role", "volunteer", "--area", "atlantis"), 1, "no area with code 'atlantis'"),
        (("--role", "volunteer", "--area", "heping", "--expires", "soon"), 1, "not a duration"),
        (("--role", "volunteer", "--area", "heping", "--org", "无名机构"), 1, "no organisation named"),
        (("--role", "volunteer"), 2, "Missing option '--area'"),
    ],
)
def test_invite_create_refuses_bad_input(
    needsbot: Needsbot, args: tuple[str, ...], code: int, complaint: str
) -> None:
    needsbot("demo", "load")
    result = needsbot("invite", "create", *args)
    assert result.exit_code == code
    assert complaint in result.output


def test_tickets_list_filters_by_status_and_area_and_prints_json(needsbot: Needsbot) -> None:
    first, second = seed_tickets(needsbot)
    everything = needsbot("tickets", "list")
    assert everything.exit_code == 0
    assert [line.split()[0] for line in everything.output.splitlines()] == [first, second]
    assert "王社工" in everything.output
    assigned = json.loads(needsbot("tickets", "list", "--status", "assigned", "--json").output)
    assert [ticket["reference"] for ticket in assigned] == [first]
    assert assigned[0]["assignee"] == "王社工"
    in_area = json.loads(needsbot("tickets", "list", "--area", "s2", "--json").output)
    assert [ticket["reference"] for ticket in in_area] == [second]
    whole_district = json.loads(needsbot("tickets", "list", "--area", "d1", "--json").output)
    assert len(whole_district) == 2
    assert needsbot("tickets", "list", "--status", "closed").output.strip() == "no tickets"
    assert needsbot("tickets", "list", "--status", "lost").exit_code == 2


def test_tickets_show_prints_the_ticket_and_records_the_read(needsbot: Needsbot) -> None:
    first, _ = seed_tickets(needsbot)
    shown = needsbot("tickets", "show", first.lower())
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith(f"{first}  assigned  high  resource_linking")
    assert "一区 / 一街" in shown.output
    details = json.loads(needsbot("tickets", "show", first, "--json").output)
    assert details["ticket"]["reference"] == first
    assert [event["action"] for event in details["events"]] == ["read", "read"]
    missing = needsbot("tickets", "show", "SA-20000101-0001")
    assert missing.exit_code == 1
    assert "no ticket with reference" in missing.output


@pytest.mark.postgres
def test_the_command_line_works_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    needsbot = Needsbot(postgres_url, tmp_path)
    assert needsbot("db", "upgrade").exit_code == 0
    health = needsbot("health")  # the shared database may hold other tests' areas: a warning, not a failure
    assert health.exit_code == 0
    assert health.output.strip().endswith("ok")
    needsbot("areas", "import", str(needsbot.write("a.yml", "- {code: pgd, name: 区, level: district}")))
    assert "pgd" in needsbot("areas", "list").output


def test_the_demonstration_is_staffed_so_a_crisis_anywhere_reaches_someone(needsbot: Needsbot) -> None:
    needsbot("demo", "load")
    assert "⚠" not in needsbot("areas", "list").output
    listed = json.loads(needsbot("oncall", "list", "--json").output)
    assert [(row["role"], row["hours"], row["area"], row["on_duty_now"]) for row in listed] == [
        ("supervisor", "00:00-24:00", None, True)
    ]
    people = json.loads(needsbot("people", "list", "--json").output)
    assert {person["role"] for person in people} >= {"social_worker", "supervisor"}


def test_a_telegram_bots_demonstration_has_no_console_staff_it_could_not_reach(needsbot: Needsbot) -> None:
    loaded = needsbot("demo", "load", TELEGRAM_BOT_TOKEN="123456:" + "A" * 35)
    assert loaded.exit_code == 0, loaded.output
    assert "no staff: enrol them by invite" in loaded.output
    assert json.loads(needsbot("people", "list", "--json").output) == []
    assert json.loads(needsbot("oncall", "list", "--json").output) == []
    assert "⚠ nobody to alert in a crisis" in needsbot("areas", "list").output


def test_console_staff_do_not_count_as_reachable_once_the_bot_runs_on_telegram(needsbot: Needsbot) -> None:
    """The console demonstration's staff have no Telegram chat: with a bot token set, the area list and
    the health check say a crisis would reach nobody, and none of them can go on call."""
    needsbot("demo", "load")
    assert "⚠ nobody to alert in a crisis" not in needsbot("areas", "list").output
    token = "123456:" + "A" * 35
    listed = needsbot("areas", "list", TELEGRAM_BOT_TOKEN=token).output
    assert "⚠ nobody to alert in a crisis" in listed
    assert "would reach nobody now" in needsbot("health", TELEGRAM_BOT_TOKEN=token).output
    people = json.loads(needsbot("people", "list", "--json").output)
    worker = next(person["id"] for person in people if person["role"] == "social_worker")
    refused = needsbot("oncall", "add", str(worker), TELEGRAM_BOT_TOKEN=token)
    assert refused.exit_code == 1
    assert f"Person {worker} has no chat with the bot to be alerted in" in refused.output
    assert needsbot("oncall", "add", str(worker)).exit_code == 0


def test_health_and_areas_list_say_where_a_crisis_would_reach_nobody(
    needsbot: Needsbot, tmp_path: Path
) -> None:
    areas = tmp_path / "areas.yml"
    areas.write_text(
        "areas:\n  - {code: west, name: 城西区, level: district, children: [\n"
        "      {code: w1, name: 西一街道, level: street}]}\n",
        encoding="utf-8",
    )
    needsbot("areas", "import", str(areas))
    health = needsbot("health")
    assert health.exit_code == 0  # the bot is healthy; the staffing gap is told, not failed
    assert "a crisis in 2 areas would reach nobody now: west, w1" in health.output
    assert needsbot("areas", "list").output.count("⚠ nobody to alert in a crisis") == 2


def test_oncall_add_list_and_remove_with_clear_refusals(needsbot: Needsbot) -> None:
    needsbot("demo", "load")
    people = json.loads(needsbot("people", "list", "--json").output)
    worker = next(person["id"] for person in people if person["role"] == "social_worker")
    added = needsbot("oncall", "add", str(worker), "--hours", "20:00-08:00", "--area", "xinhua")
    assert added.exit_code == 0, added.output
    assert f"person {worker}, 20:00-08:00, xinhua" in added.output
    listed = json.loads(needsbot("oncall", "list", "--json").output)
    entry = next(row for row in listed if row["person_id"] == worker)
    assert (entry["hours"], entry["area"]) == ("20:00-08:00", "xinhua")
    for arguments, message in (
        (("--hours", "8-20"), "hours are written 08:00-20:00"),
        (("--hours", "25:00-26:00"), "is not a time of day range"),
        (("--area", "atlantis"), "no area with code 'atlantis'"),
    ):
        refused = needsbot("oncall", "add", str(worker), *arguments)
        assert refused.exit_code == 1
        assert message in refused.output
    nobody = needsbot("oncall", "add", "9999")
    assert nobody.exit_code == 1
    assert "no active person with id 9999" in nobody.output
    removed = needsbot("oncall", "remove", str(entry["id"]))
    assert removed.exit_code == 0, removed.output
    assert all(row["person_id"] != worker for row in json.loads(needsbot("oncall", "list", "--json").output))
    again = needsbot("oncall", "remove", str(entry["id"]))
    assert again.exit_code == 1
    assert f"no on-call entry {entry['id']}" in again.output


def test_needsbot_web_on_a_port_already_taken_says_which_and_stops(needsbot: Needsbot) -> None:
    needsbot("db", "upgrade")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = needsbot("web", WEB_LISTEN="127.0.0.1", WEB_PORT=str(port))
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in result.output
