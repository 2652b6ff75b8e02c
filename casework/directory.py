"""The directory the casework routes over: areas, agencies and enrolment invites."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from casework.domain import (
    AREA_LEVEL_DEPTH,
    Area,
    AreaLevel,
    Channel,
    Identity,
    InvalidInput,
    Invite,
    NotFound,
    Organisation,
    Person,
    Refusal,
    Role,
    ServiceType,
    SeveralProblems,
    given_words,
)
from casework.on_call import parse_hours
from casework.unit_of_work import UnitOfWork

AREA_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
INVITE_ROLES = (Role.VOLUNTEER, Role.SOCIAL_WORKER, Role.SUPERVISOR, Role.EVALUATOR, Role.ADMIN)
_DURATION = re.compile(r"^\s*(\d{1,4})\s*([mhdw])\s*$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DEMO_FILE = Path(__file__).resolve().parent / "data" / "demo.yml"


@dataclass(frozen=True, slots=True)
class AreaRecord:
    code: str
    name: str
    level: AreaLevel
    name_en: str | None = None  # None: not given (an update keeps the English name stored)
    parent: str | None = None
    location: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class OrganisationRecord:
    name: str
    contact: str = ""
    service_types: tuple[ServiceType, ...] = ()
    areas: tuple[str, ...] = ()


@dataclass(slots=True)
class DirectoryFile:
    areas: list[AreaRecord] = field(default_factory=list)
    organisations: list[OrganisationRecord] = field(default_factory=list)
    name: str = "file"


@dataclass(frozen=True, slots=True)
class ImportSummary:
    areas_created: int
    areas_updated: int
    organisations_created: int
    organisations_existing: int


# The levels a file may name: a township is a street office's rural peer, a village a community's.
LEVELS = {
    "district": AreaLevel.DISTRICT,
    "street": AreaLevel.STREET,
    "township": AreaLevel.STREET,
    "community": AreaLevel.COMMUNITY,
    "village": AreaLevel.COMMUNITY,
}


def _all_or_problems(problems: list[InvalidInput], file: str) -> None:
    """Nothing when there were no problems; else every one of them at once (one alone as it is)."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise SeveralProblems(Refusal.DIRECTORY_PROBLEMS, problems, file=file, count=len(problems))


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d`` or ``2w``."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(Refusal.DURATION_FORMAT, text=text)
    return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def _text(entry: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = entry.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(Refusal.DIRECTORY_FIELD_MISSING, where=where, key=key)
        return ""
    if not isinstance(value, str | int):
        raise InvalidInput(Refusal.DIRECTORY_FIELD_NOT_TEXT, where=where, key=key)
    return str(value).strip()


def _coordinate(entry: Mapping[str, Any], key: str, where: str, limit: float) -> float | None:
    value = entry.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            Refusal.DIRECTORY_COORDINATE_NOT_NUMBER, where=where, key=key, value=str(value)
        ) from None
    if not -limit <= number <= limit:
        raise InvalidInput(
            Refusal.DIRECTORY_COORDINATE_RANGE, where=where, key=key, value=number, limit=f"{limit:g}"
        )
    return number


def _location(entry: Mapping[str, Any], where: str) -> tuple[float, float] | None:
    """A community's centre from ``latitude`` and ``longitude`` (decimal degrees, WGS 84): both or neither."""
    latitude = _coordinate(entry, "latitude", where, 90)
    longitude = _coordinate(entry, "longitude", where, 180)
    if latitude is None and longitude is None:
        return None
    if latitude is None or longitude is None:
        raise InvalidInput(Refusal.DIRECTORY_LOCATION_HALF, where=where)
    return latitude, longitude


def _area_record(entry: Any, where: str, parent: str | None) -> AreaRecord:
    if not isinstance(entry, Mapping):
        raise InvalidInput(Refusal.DIRECTORY_AREA_NOT_MAPPING, where=where)
    code = _text(entry, "code", where)
    if not AREA_CODE.match(code):
        raise InvalidInput(Refusal.DIRECTORY_CODE_FORMAT, where=where, code=code)
    level_text = _text(entry, "level", where)
    level = LEVELS.get(level_text.casefold())
    if level is None:
        raise InvalidInput(
            Refusal.DIRECTORY_LEVEL_UNKNOWN, where=where, level=level_text, levels=", ".join(LEVELS)
        )
    explicit_parent = _text(entry, "parent", where, required=False) or None
    if explicit_parent and parent and explicit_parent != parent:
        raise InvalidInput(
            Refusal.DIRECTORY_PARENT_CONTRADICTS, where=where, parent=explicit_parent, place=parent
        )
    return AreaRecord(
        code=code,
        name=_text(entry, "name", where),
        level=level,
        name_en=_text(entry, "name_en", where, required=False) or None,
        parent=parent or explicit_parent,
        location=_location(entry, where),
    )


def _flatten(
    entries: Any, where: str, parent: str | None, into: list[AreaRecord], problems: list[InvalidInput]
) -> None:
    """The areas of a tree in a list, parents first; each entry's problem in ``problems`` (an entry
    that is wrong is left out with the areas under it)."""
    if not isinstance(entries, list):
        problems.append(InvalidInput(Refusal.DIRECTORY_AREAS_NOT_LIST, where=where))
        return
    for index, entry in enumerate(entries, start=1):
        here = f"{where}[{index}]"
        try:
            record = _area_record(entry, here, parent)
        except InvalidInput as problem:
            problems.append(problem)
            continue
        into.append(record)
        children = entry.get("children")
        if children is not None:
            _flatten(children, f"{here}.children", record.code, into, problems)


def _organisation_record(entry: Any, where: str) -> OrganisationRecord:
    if not isinstance(entry, Mapping):
        raise InvalidInput(Refusal.DIRECTORY_ORGANISATION_NOT_MAPPING, where=where)
    kinds = entry.get("service_types") or []
    areas = entry.get("areas") or []
    if not isinstance(kinds, list) or not isinstance(areas, list):
        raise InvalidInput(Refusal.DIRECTORY_ORGANISATION_LISTS, where=where)
    return OrganisationRecord(
        name=_text(entry, "name", where),
        contact=_text(entry, "contact", where, required=False),
        service_types=tuple(parse_service_type(str(kind), where) for kind in kinds),
        areas=tuple(str(code) for code in areas),
    )


def parse_service_type(text: str, where: str = "service type") -> ServiceType:
    try:
        return ServiceType(text.strip())
    except ValueError:
        raise InvalidInput(
            Refusal.SERVICE_TYPE_UNKNOWN, where=where, value=text, service_types=", ".join(ServiceType)
        ) from None


def parse_directory_yaml(content: str, name: str = "file") -> DirectoryFile:
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        if mark is None:
            raise InvalidInput(Refusal.FILE_NOT_YAML, file=name) from None
        raise InvalidInput(Refusal.FILE_NOT_YAML_AT, file=name, line=mark.line + 1) from None
    result = DirectoryFile()
    if isinstance(document, list):
        document = {"areas": document}
    if not isinstance(document, Mapping):
        raise InvalidInput(Refusal.DIRECTORY_SHAPE, file=name)
    problems: list[InvalidInput] = []
    _flatten(document.get("areas") or [], f"{name}: areas", None, result.areas, problems)
    organisations = document.get("organisations") or []
    if not isinstance(organisations, list):
        problems.append(InvalidInput(Refusal.DIRECTORY_ORGANISATIONS_NOT_LIST, file=name))
        organisations = []
    for index, entry in enumerate(organisations, start=1):
        try:
            result.organisations.append(_organisation_record(entry, f"{name}: organisations[{index}]"))
        except InvalidInput as problem:
            problems.append(problem)
    _all_or_problems(problems, name)
    result.name = name
    return result


def parse_areas_csv(content: str, name: str = "file") -> DirectoryFile:
    reader = csv.DictReader(io.StringIO(content))
    missing = {"code", "name", "level"} - set(reader.fieldnames or [])
    if missing:
        raise InvalidInput(Refusal.DIRECTORY_CSV_HEADER, file=name)
    result = DirectoryFile(name=name)
    problems: list[InvalidInput] = []
    for row in reader:
        if any(row.values()):
            try:
                result.areas.append(_area_record(row, f"{name}: line {reader.line_num}", None))
            except InvalidInput as problem:
                problems.append(problem)
    _all_or_problems(problems, name)
    return result


def read_directory_file(path: Path) -> DirectoryFile:
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(Refusal.FILE_MISSING, file=str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(Refusal.FILE_UNREADABLE, file=str(path), problem=type(error).__name__) from None
    if path.suffix.lower() == ".csv":
        return parse_areas_csv(content, path.name)
    if path.suffix.lower() in (".yml", ".yaml"):
        return parse_directory_yaml(content, path.name)
    raise InvalidInput(Refusal.FILE_KIND, file=str(path))


def _in_tree_order(
    records: list[AreaRecord], known: Mapping[str, Area], problems: list[InvalidInput]
) -> list[AreaRecord]:
    """Parents before children; every parent named must be in the file or already stored (each
    record that breaks that is left out, its problem in ``problems``)."""
    by_code: dict[str, AreaRecord] = {}
    for record in records:
        if record.code in by_code:
            problems.append(InvalidInput(Refusal.DIRECTORY_CODE_TWICE, code=record.code))
        by_code[record.code] = record
    ordered: list[AreaRecord] = []
    placed: set[str] = set()
    refused: set[str] = set()

    def place(record: AreaRecord, trail: tuple[str, ...]) -> bool:
        if record.code in placed or record.code in refused:
            return record.code in placed
        if record.code in trail:
            problems.append(InvalidInput(Refusal.DIRECTORY_CYCLE, cycle=" → ".join((*trail, record.code))))
            refused.add(record.code)
            return False
        if record.parent is not None:
            parent = by_code.get(record.parent)
            if parent is not None:
                if not place(parent, (*trail, record.code)):
                    refused.add(record.code)
                    return False
            elif record.parent not in known:
                problems.append(
                    InvalidInput(Refusal.DIRECTORY_UNKNOWN_PARENT, code=record.code, parent=record.parent)
                )
                refused.add(record.code)
                return False
        ordered.append(record)
        placed.add(record.code)
        return True

    for record in records:
        place(record, ())
    return ordered


def _check_level(record: AreaRecord, parent_level: AreaLevel | None) -> None:
    depth = AREA_LEVEL_DEPTH[record.level]
    if parent_level is None:
        if depth != 0:
            raise InvalidInput(Refusal.DIRECTORY_NEEDS_PARENT, code=record.code, level=record.level)
    elif AREA_LEVEL_DEPTH[parent_level] != depth - 1:
        raise InvalidInput(
            Refusal.DIRECTORY_LEVEL_ORDER, code=record.code, level=record.level, parent_level=parent_level
        )


def _check_move(record: AreaRecord, before: Area | None, codes: Mapping[int, str]) -> None:
    """An area stored under another parent than the file gives is not moved unasked."""
    if before is None:
        return
    now_under = codes.get(before.parent_id) if before.parent_id is not None else None
    if now_under != record.parent:
        raise InvalidInput(
            Refusal.DIRECTORY_MOVES, code=record.code, parent=record.parent or "-", now_under=now_under or "-"
        )


async def import_directory(
    database: UnitOfWork, directory: DirectoryFile, *, now: datetime, move: bool = False
) -> ImportSummary:
    """Create or update the areas and add the organisations of a directory file, all or nothing: a
    file with problems imports nothing and names every one of them. An area stored under another
    parent than the file gives is moved only with ``move``; an English name or a location the file
    leaves out is kept."""
    created = updated = organisations_created = organisations_existing = 0
    async with database.transaction() as tx:
        stored = {area.code: area for area in await tx.areas.list_all()}
        ordered, problems = _checked(directory, stored, move=move)
        _all_or_problems(problems, directory.name)
        for record in ordered:
            parent = stored.get(record.parent) if record.parent else None
            area, was_created = await tx.areas.upsert(
                code=record.code,
                name=record.name,
                name_en=record.name_en,
                level=record.level,
                parent_id=parent.id if parent else None,
                location=record.location,
            )
            stored[area.code] = area
            created += was_created
            updated += not was_created
        for organisation in directory.organisations:
            if await tx.organisations.by_name(organisation.name):
                organisations_existing += 1
                continue
            await tx.organisations.add(
                name=organisation.name,
                contact=organisation.contact,
                service_types=organisation.service_types,
                area_ids=[_known_area(stored, code).id for code in organisation.areas],
                now=now,
            )
            organisations_created += 1
    return ImportSummary(created, updated, organisations_created, organisations_existing)


def _checked(
    directory: DirectoryFile, stored: Mapping[str, Area], *, move: bool
) -> tuple[list[AreaRecord], list[InvalidInput]]:
    """The file's areas, parents first, and every problem with them against what is ``stored``."""
    problems: list[InvalidInput] = []
    ordered = _in_tree_order(directory.areas, stored, problems)
    levels = {code: area.level for code, area in stored.items()} | {r.code: r.level for r in ordered}
    codes = {area.id: code for code, area in stored.items()}
    for record in ordered:
        try:
            _check_level(record, levels[record.parent] if record.parent else None)
            if not move:
                _check_move(record, stored.get(record.code), codes)
        except InvalidInput as problem:
            problems.append(problem)
    return ordered, problems


class Change(StrEnum):
    NEW = "new"
    MOVED = "moved"
    RENAMED = "renamed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class AreaChange:
    record: AreaRecord
    change: Change
    before: Area | None


@dataclass(frozen=True, slots=True)
class ImportPreview:
    """What importing a directory file would change, and every problem that would stop it."""

    areas: list[AreaChange]
    new_organisations: list[str]
    known_organisations: list[str]
    problems: list[InvalidInput]


async def preview_directory(
    database: UnitOfWork, directory: DirectoryFile, *, move: bool = False
) -> ImportPreview:
    """What ``import_directory`` would do with the file, nothing written: each area new, moved,
    renamed or unchanged, the agencies it would add, and the problems that would refuse it all."""
    async with database.transaction(savepoint=False) as tx:
        stored = {area.code: area for area in await tx.areas.list_all()}
        known = {o.name for o in directory.organisations if await tx.organisations.by_name(o.name)}
    ordered, problems = _checked(directory, stored, move=move)
    codes = {area.id: code for code, area in stored.items()}
    changes = []
    for record in ordered:
        before = stored.get(record.code)
        if before is None:
            change = Change.NEW
        elif (codes.get(before.parent_id) if before.parent_id is not None else None) != record.parent:
            change = Change.MOVED
        elif before.name != record.name or (record.name_en or before.name_en) != before.name_en:
            change = Change.RENAMED
        else:
            change = Change.UNCHANGED
        changes.append(AreaChange(record, change, before))
    names = [o.name for o in directory.organisations]
    return ImportPreview(
        changes, [n for n in names if n not in known], [n for n in names if n in known], problems
    )


def _known_area(stored: Mapping[str, Area], code: str) -> Area:
    area = stored.get(code)
    if area is None:
        raise NotFound(Refusal.AREA_UNKNOWN_CODE, code=code)
    return area


async def load_demo_if_empty(
    database: UnitOfWork, *, now: datetime, with_staff: bool = False
) -> ImportSummary | None:
    """Load the demonstration district into a new database, with its staff when asked; leave a
    database with areas alone. The staff are console accounts: a bot on Telegram could not reach
    them, and a person in a crisis would be told staff were alerted when none could be."""
    async with database.transaction() as tx:
        if await tx.areas.count():
            return None
    summary = await import_directory(database, read_directory_file(DEMO_FILE), now=now)
    if with_staff:
        staff = yaml.safe_load(DEMO_FILE.read_text(encoding="utf-8")).get("staff", [])
        await _load_demo_staff(database, staff, now)
    return summary


async def _load_demo_staff(database: UnitOfWork, staff: list[dict[str, Any]], now: datetime) -> None:
    """The demonstration's staff: console accounts serving every service type, one of them on call."""
    async with database.transaction() as tx:
        areas = {area.code: area for area in await tx.areas.list_all()}
        for entry in staff:
            person = await tx.people.add(
                now=now,
                identity=Identity(Channel.CONSOLE, str(entry["console_user"])),
                display_name=str(entry["name"]),
                role=Role(entry["role"]),
                area_ids=[_known_area(areas, code).id for code in entry["areas"]],
                service_types=list(ServiceType),
            )
            if "on_call" in entry:
                start, end = parse_hours(str(entry["on_call"]))
                await tx.on_call.add(
                    person_id=person.id, area_id=None, from_time=start, until_time=end, now=now
                )


async def add_organisation(
    database: UnitOfWork,
    *,
    name: str,
    now: datetime,
    contact: str = "",
    service_types: Iterable[ServiceType] = (),
    area_codes: Iterable[str] = (),
) -> Organisation:
    name = given_words(name, Refusal.ORGANISATION_NEEDS_NAME)
    async with database.transaction() as tx:
        area_ids = []
        for code in area_codes:
            area = await tx.areas.by_code(code)
            if area is None:
                raise NotFound(Refusal.AREA_UNKNOWN_CODE, code=code)
            area_ids.append(area.id)
        return await tx.organisations.add(
            name=name, contact=contact.strip(), service_types=service_types, area_ids=area_ids, now=now
        )


def hash_invite_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedInvite:
    code: str
    invite: Invite
    area: Area
    organisation: Organisation | None


async def create_invite(
    database: UnitOfWork,
    *,
    role: Role,
    area_code: str,
    now: datetime,
    valid_for: timedelta,
    organisation_name: str | None = None,
    created_by_id: int | None = None,
) -> IssuedInvite:
    """Issue a one-time enrolment code; only its hash is stored."""
    if role not in INVITE_ROLES:
        raise InvalidInput(Refusal.INVITE_ROLE, roles=", ".join(INVITE_ROLES))
    if valid_for <= timedelta(0):
        raise InvalidInput(Refusal.INVITE_NO_TIME)
    code = secrets.token_urlsafe(12)
    async with database.transaction() as tx:
        area = await tx.areas.by_code(area_code)
        if area is None:
            raise NotFound(Refusal.AREA_UNKNOWN_CODE, code=area_code)
        organisation = None
        if organisation_name is not None:
            organisation = await tx.organisations.by_name(organisation_name.strip())
            if organisation is None:
                raise NotFound(Refusal.ORGANISATION_UNKNOWN, name=organisation_name)
        invite = await tx.invites.add(
            code_hash=hash_invite_code(code),
            role=role,
            area_id=area.id,
            organisation_id=organisation.id if organisation else None,
            created_by_id=created_by_id,
            expires_at=now + valid_for,
            now=now,
        )
    return IssuedInvite(code=code, invite=invite, area=area, organisation=organisation)


CONSOLE_DISPLAY_NAMES = {
    Role.RECIPIENT: "console resident",
    Role.VOLUNTEER: "console volunteer",
    Role.SOCIAL_WORKER: "console social worker",
    Role.SUPERVISOR: "console supervisor",
    Role.EVALUATOR: "console evaluator",
}


async def console_person(database: UnitOfWork, user_id: int, role: Role, *, now: datetime) -> Person:
    """The person behind a console session, enrolled as ``role`` in the first area of the tree:
    workers and supervisors in the first street, with every service type; volunteers in its first
    community. A console user is a demonstration account, never a real resident."""
    async with database.transaction() as tx:
        roots = await tx.areas.children(None)
        if not roots:
            raise NotFound(Refusal.AREAS_NONE)
        streets = await tx.areas.children(roots[0].id) or roots
        communities = await tx.areas.children(streets[0].id) or streets
        area = communities[0] if role is Role.VOLUNTEER else streets[0]
        person = await tx.people.by_identity(Channel.CONSOLE, str(user_id))
        if person is not None and person.role is role and (person.area_ids or role is Role.RECIPIENT):
            return person  # as enrolled before (the demonstration's staff, say)
        if person is None:
            person = await tx.people.add(
                now=now,
                identity=Identity(Channel.CONSOLE, str(user_id)),
                display_name=CONSOLE_DISPLAY_NAMES.get(role, ""),
                role=role,
            )
        elif person.role is not role:
            person = await tx.people.update(person.id, role=role)
        if role is not Role.RECIPIENT:
            await tx.people.set_service_types(
                person.id, list(ServiceType) if role is not Role.VOLUNTEER else []
            )
            person = await tx.people.set_areas(person.id, [area.id])
        return person


COMMAND_LINE_OPERATOR = "needsbot command line"


async def command_line_actor(database: UnitOfWork, person_id: int | None, *, now: datetime) -> Person:
    """Who acts when a command changes a ticket: the person named, who must be a supervisor or admin,
    or else the command-line operator, an admin account made on first use so the trail names it."""
    async with database.transaction() as tx:
        if person_id is not None:
            person = await tx.people.get(person_id)
            if person is None or not person.active:
                raise NotFound(Refusal.PERSON_NOT_ACTIVE, person_id=person_id)
            if person.role not in (Role.SUPERVISOR, Role.ADMIN):
                raise InvalidInput(Refusal.COMMAND_LINE_ACTOR_ROLE)
            return person
        for admin in await tx.people.find(role=Role.ADMIN):
            if admin.display_name == COMMAND_LINE_OPERATOR and not admin.identities:
                return admin
        return await tx.people.add(now=now, display_name=COMMAND_LINE_OPERATOR, role=Role.ADMIN)
