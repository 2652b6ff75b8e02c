"""The Alembic migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.migrate import current_revision, downgrade, head_revision, upgrade
from storage.models import Base
from tests.services import scratch_postgres_database

T = TypeVar("T")

MODEL_TABLES = frozenset(Base.metadata.tables)


def _drift(connection: Connection) -> list[Any]:
    """What autogenerate would change to make the database match the models; empty when in step."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _recorded_revision(connection: Connection) -> str | None:
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    return None if revision is None else str(revision)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _columns(connection: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns(table)}


# --- 0007: accounts on channels instead of a Telegram id -----------------------------------------------

ENROLLED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
_people_0006 = sa.table(
    "people",
    sa.column("id", sa.Integer()),
    sa.column("telegram_user_id", sa.BigInteger()),
    sa.column("display_name", sa.String()),
    sa.column("language", sa.String()),
    sa.column("role", sa.String()),
    sa.column("active", sa.Boolean()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_identities_0007 = sa.table(
    "identities",
    sa.column("channel", sa.String()),
    sa.column("external_id", sa.String()),
    sa.column("person_id", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _people_before_identities(connection: Connection) -> None:
    """At 0006: a Telegram user, the console's resident account, a demonstration worker (a console
    account too) and the command line's operator, who has no account anywhere."""
    people: list[dict[str, Any]] = [
        {"id": 1, "telegram_user_id": 42, "display_name": "李阿姨"},
        {"id": 2, "telegram_user_id": 900_001, "display_name": "console resident"},
        {"id": 3, "telegram_user_id": 900_003, "display_name": "演示社工"},
        {"id": 4, "telegram_user_id": None, "display_name": "needsbot command line"},
    ]
    connection.execute(
        _people_0006.insert(),
        [
            {**person, "language": "zh", "role": "recipient", "active": True, "created_at": ENROLLED}
            for person in people
        ],
    )
    connection.commit()


def _accounts(connection: Connection) -> set[tuple[str, str, int, datetime]]:
    rows = connection.execute(sa.select(_identities_0007)).all()
    return {(row.channel, row.external_id, row.person_id, row.created_at) for row in rows}


def _more_accounts(connection: Connection) -> None:
    """At 0007: the Telegram user gets a console account too, the operator a console one named, not
    numbered."""
    connection.execute(
        _identities_0007.insert(),
        [
            {"channel": "console", "external_id": "5", "person_id": 1, "created_at": ENROLLED},
            {"channel": "console", "external_id": "operator", "person_id": 4, "created_at": ENROLLED},
        ],
    )
    connection.commit()


def _telegram_ids(connection: Connection) -> dict[int, int | None]:
    rows = connection.execute(sa.select(_people_0006.c.id, _people_0006.c.telegram_user_id)).all()
    return {row.id: row.telegram_user_id for row in rows}


def _telegram_id_is_unique(connection: Connection) -> bool:
    return any(
        constraint["column_names"] == ["telegram_user_id"]
        for constraint in inspect(connection).get_unique_constraints("people")
    )


def _as_utc(accounts: set[tuple[str, str, int, datetime]]) -> set[tuple[str, str, int, datetime]]:
    """SQLite gives the times back without their zone (UTC, as written)."""
    return {(c, e, p, t if t.tzinfo else t.replace(tzinfo=UTC)) for c, e, p, t in accounts}


ACCOUNTS_AFTER_0007 = {
    ("telegram", "42", 1, ENROLLED),
    ("console", "900001", 2, ENROLLED),
    ("console", "900003", 3, ENROLLED),
}
# Back at 0006, everyone has the id they had; the Telegram account wins over a console one, and an
# account whose id is not a number is lost.
TELEGRAM_IDS_BACK_AT_0006 = {1: 42, 2: 900_001, 3: 900_003, 4: None}


# --- 0008: a ticket's status times on its trail -------------------------------------------------------

CLAIMED = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
RECLAIMED = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)
RESOLVED = datetime(2026, 11, 6, 17, 0, tzinfo=UTC)
STATUS_TIMES_GONE = {"assigned_at", "in_progress_at", "referred_at", "reopened_at"}


def _ticket_with_a_trail(connection: Connection) -> None:
    """At 0007: a ticket claimed twice (a decline between), then resolved, with its times on the trail
    and, as 0007 kept them, in its status columns."""
    connection.execute(
        text(
            "INSERT INTO areas (id, code, name, name_en, level) VALUES (1, 'HP', '和平社区', '', 'community')"
        )
    )
    connection.execute(
        text(
            "INSERT INTO tickets (id, reference, service_type, urgency, status, area_id, summary, created_at,"
            " updated_at, assigned_at, resolved_at) VALUES (1, 'SA-20261103-0001', 'resource_linking',"
            " 'normal', 'resolved', 1, '', :opened, :resolved, :reclaimed, :resolved)"
        ),
        {"opened": ENROLLED, "reclaimed": RECLAIMED, "resolved": RESOLVED},
    )
    connection.execute(
        text(
            "INSERT INTO ticket_events (ticket_id, action, to_status, created_at)"
            " VALUES (1, 'claimed', 'assigned', :claimed), (1, 'claimed', 'assigned', :reclaimed),"
            " (1, 'resolved', 'resolved', :resolved)"
        ),
        {"claimed": CLAIMED, "reclaimed": RECLAIMED, "resolved": RESOLVED},
    )
    connection.commit()


def _status_times(connection: Connection) -> dict[str, datetime | None]:
    row = connection.execute(text("SELECT * FROM tickets WHERE id = 1")).mappings().one()
    times = {name: row[name] for name in row if name in STATUS_TIMES_GONE | {"resolved_at"}}
    return {name: _utc(value) for name, value in times.items()}


def _utc(value: Any) -> datetime | None:
    """SQLite gives a time back as text, without its zone (UTC, as written)."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# After 0008 only the resolution's time is on the ticket; back at 0007 each status time is the last
# move to that status on the trail.
TIMES_AT_0008 = {"resolved_at": RESOLVED}
TIMES_BACK_AT_0007 = {
    "assigned_at": RECLAIMED,
    "in_progress_at": None,
    "referred_at": None,
    "reopened_at": None,
    "resolved_at": RESOLVED,
}


# --- 0010: the household's case file ---------------------------------------------------------------

CASE_FILE_TABLES = {"assessments", "plan_goals", "plan_reviews", "goal_progress"}


def _referred_case(connection: Connection) -> None:
    """At 0009: a household's ticket, referred to an agency."""
    connection.execute(
        text(
            "INSERT INTO areas (id, code, name, name_en, level) VALUES (1, 'HP', '和平社区', '', 'community')"
        )
    )
    connection.execute(
        text(
            "INSERT INTO households (id, area_id, address, vulnerability_tags, created_at)"
            " VALUES (1, 1, '幸福路12号', '[]', :at)"
        ),
        {"at": ENROLLED},
    )
    connection.execute(
        text(
            "INSERT INTO organisations (id, name, contact, active, created_at)"
            " VALUES (1, '阳光社工', '', true, :at)"
        ),
        {"at": ENROLLED},
    )
    connection.execute(
        text(
            "INSERT INTO tickets (id, reference, service_type, urgency, status, area_id, household_id,"
            " summary, created_at, updated_at) VALUES (1, 'SA-20261103-0001', 'resource_linking',"
            " 'normal', 'referred', 1, 1, '', :at, :at)"
        ),
        {"at": ENROLLED},
    )
    connection.execute(
        text(
            "INSERT INTO referrals (id, ticket_id, to_organisation_id, status, reason, created_at)"
            " VALUES (1, 1, 1, 'pending', '需要专业机构', :at)"
        ),
        {"at": ENROLLED},
    )
    connection.commit()


def _a_goal_for_the_referral(connection: Connection) -> tuple[Any, ...]:
    """At 0010: the household's first goal, which the referral is then said to be for."""
    connection.execute(
        text(
            "INSERT INTO plan_goals (id, household_id, ticket_id, number, service_type, title, owner,"
            " owner_organisation_id, status, created_at, updated_at) VALUES (1, 1, 1, 1, 'resource_linking',"
            " '链接租房补贴', 'agency', 1, 'planned', :at, :at)"
        ),
        {"at": ENROLLED},
    )
    connection.execute(text("UPDATE referrals SET goal_id = 1 WHERE id = 1"))
    connection.commit()
    return tuple(connection.execute(text("SELECT id, status, reason, goal_id FROM referrals")).one())


def _referrals(connection: Connection) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(text("SELECT id, status, reason FROM referrals"))]


# --- SQLite -----------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "fresh.sqlite3"


@pytest.fixture
def sqlite_engine(sqlite_file: Path) -> Iterator[Engine]:
    """A synchronous engine on the same file, for inspection only."""
    engine = create_engine(f"sqlite:///{sqlite_file}")
    try:
        yield engine
    finally:
        engine.dispose()


def _async_sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _on_sqlite(engine: Engine, function: Callable[[Connection], T]) -> T:
    with engine.connect() as connection:
        return function(connection)


def test_the_sqlite_file_starts_empty(sqlite_file: Path, sqlite_engine: Engine) -> None:
    assert not sqlite_file.exists() or _on_sqlite(sqlite_engine, _tables) == set()


def test_an_empty_sqlite_database_upgrades_to_head_without_drift(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    upgrade(_async_sqlite_url(sqlite_file))
    assert _on_sqlite(sqlite_engine, _tables) == MODEL_TABLES | {"alembic_version"}
    assert _on_sqlite(sqlite_engine, _drift) == []


def test_sqlite_records_the_head_revision_after_upgrade(sqlite_file: Path, sqlite_engine: Engine) -> None:
    head = head_revision()
    assert head is not None
    upgrade(_async_sqlite_url(sqlite_file))
    assert _on_sqlite(sqlite_engine, _recorded_revision) == head
    assert _on_sqlite(sqlite_engine, current_revision) == head


def test_sqlite_downgrades_to_base_and_upgrades_to_head_again(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    url = _async_sqlite_url(sqlite_file)
    upgrade(url)
    downgrade(url, "base")
    assert _on_sqlite(sqlite_engine, _tables) <= {"alembic_version"}
    assert _on_sqlite(sqlite_engine, current_revision) is None
    upgrade(url)
    assert _on_sqlite(sqlite_engine, _tables) == MODEL_TABLES | {"alembic_version"}
    assert _on_sqlite(sqlite_engine, _recorded_revision) == head_revision()
    assert _on_sqlite(sqlite_engine, _drift) == []


def test_upgrading_an_sqlite_database_already_at_head_changes_nothing(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    url = _async_sqlite_url(sqlite_file)
    upgrade(url)
    upgrade(url)
    assert _on_sqlite(sqlite_engine, _recorded_revision) == head_revision()
    assert _on_sqlite(sqlite_engine, _drift) == []


def test_sqlite_turns_telegram_ids_into_accounts_on_their_channels_and_back(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    url = _async_sqlite_url(sqlite_file)
    upgrade(url, "0006")
    _on_sqlite(sqlite_engine, _people_before_identities)
    upgrade(url, "0007")
    assert "telegram_user_id" not in _on_sqlite(
        sqlite_engine, lambda connection: _columns(connection, "people")
    )
    assert _as_utc(_on_sqlite(sqlite_engine, _accounts)) == ACCOUNTS_AFTER_0007
    _on_sqlite(sqlite_engine, _more_accounts)
    downgrade(url, "0006")
    assert "identities" not in _on_sqlite(sqlite_engine, _tables)
    assert _on_sqlite(sqlite_engine, _telegram_ids) == TELEGRAM_IDS_BACK_AT_0006
    assert _on_sqlite(sqlite_engine, _telegram_id_is_unique)


def test_sqlite_keeps_status_times_on_the_trail_and_puts_them_back(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    url = _async_sqlite_url(sqlite_file)
    upgrade(url, "0007")
    _on_sqlite(sqlite_engine, _ticket_with_a_trail)
    upgrade(url, "0008")
    assert _on_sqlite(sqlite_engine, _status_times) == TIMES_AT_0008
    downgrade(url, "0007")
    assert _on_sqlite(sqlite_engine, _status_times) == TIMES_BACK_AT_0007


def test_sqlite_adds_the_case_file_beside_what_was_there_and_takes_it_away(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    url = _async_sqlite_url(sqlite_file)
    upgrade(url, "0009")
    _on_sqlite(sqlite_engine, _referred_case)
    upgrade(url, "0010")
    assert _on_sqlite(sqlite_engine, _tables) >= CASE_FILE_TABLES
    assert _on_sqlite(sqlite_engine, _a_goal_for_the_referral) == (1, "pending", "需要专业机构", 1)
    downgrade(url, "0009")
    assert not CASE_FILE_TABLES & _on_sqlite(sqlite_engine, _tables)
    assert "goal_id" not in _on_sqlite(sqlite_engine, lambda connection: _columns(connection, "referrals"))
    assert _on_sqlite(sqlite_engine, _referrals) == [(1, "pending", "需要专业机构")]


# --- 0011: files with replies -----------------------------------------------------------------------


def _a_waiting_reply(connection: Connection) -> None:
    connection.execute(
        text(
            "INSERT INTO outgoing_messages (channel, chat_id, text, created_at, attempts, refused)"
            " VALUES ('telegram', 42, '您的事项已提交', :at, 0, false)"
        ),
        {"at": ENROLLED},
    )
    connection.commit()


def _a_file_with_the_reply(connection: Connection) -> tuple[Any, ...]:
    connection.execute(
        text("UPDATE outgoing_messages SET file_name = 'a.png', file_kind = 'photo', file_content = :png"),
        {"png": b"\x89PNG"},
    )
    connection.commit()
    row = connection.execute(text("SELECT text, file_name, file_kind, file_content FROM outgoing_messages"))
    return tuple(row.one())


def test_sqlite_keeps_waiting_replies_when_files_join_them_and_leave(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    url = _async_sqlite_url(sqlite_file)
    upgrade(url, "0010")
    _on_sqlite(sqlite_engine, _a_waiting_reply)
    upgrade(url, "0011")
    assert _on_sqlite(sqlite_engine, _a_file_with_the_reply) == (
        "您的事项已提交",
        "a.png",
        "photo",
        b"\x89PNG",
    )
    downgrade(url, "0010")
    columns = _on_sqlite(sqlite_engine, lambda connection: _columns(connection, "outgoing_messages"))
    assert not {"file_name", "file_kind", "file_content"} & set(columns)
    waiting = _on_sqlite(sqlite_engine, lambda c: c.execute(text("SELECT text FROM outgoing_messages")).all())
    assert [tuple(row) for row in waiting] == [("您的事项已提交",)]


# --- 0013: the evaluator role ----------------------------------------------------------------------


def _an_evaluator(connection: Connection) -> None:
    connection.execute(
        text(
            "INSERT INTO people (id, display_name, language, role, active, created_at)"
            " VALUES (7, '第三方评估', 'zh', 'evaluator', true, :at)"
        ),
        {"at": ENROLLED},
    )
    connection.commit()


def _roles(connection: Connection) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(text("SELECT id, role, active FROM people ORDER BY id"))]


def test_sqlite_takes_evaluators_in_and_closes_their_accounts_on_the_way_down(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    url = _async_sqlite_url(sqlite_file)
    upgrade(url, "0013")
    _on_sqlite(sqlite_engine, _an_evaluator)
    assert _on_sqlite(sqlite_engine, _roles) == [(7, "evaluator", 1)]
    downgrade(url, "0012")
    assert _on_sqlite(sqlite_engine, _roles) == [(7, "recipient", 0)]


def _a_web_account_signed_in(connection: Connection) -> None:
    """A supervisor with a web console login name, a password, a session and a line in the log."""
    _an_evaluator(connection)
    at = {"at": ENROLLED}
    connection.execute(
        text(
            "INSERT INTO identities (channel, external_id, person_id, created_at)"
            " VALUES ('web', 'chief', 7, :at)"
        ),
        at,
    )
    connection.execute(
        text(
            "INSERT INTO staff_passwords (person_id, password_hash, failures, set_at) VALUES (7, 'h', 0, :at)"
        ),
        at,
    )
    connection.execute(
        text(
            "INSERT INTO staff_sessions (token_hash, person_id, csrf_token, via, created_at, last_seen_at)"
            " VALUES ('t', 7, 'c', 'link', :at, :at)"
        ),
        at,
    )
    connection.execute(
        text("INSERT INTO staff_log (person_id, event, detail, at) VALUES (7, 'signed_in', 'link', :at)"), at
    )
    connection.commit()


def _web_accounts(connection: Connection) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(text("SELECT channel, external_id FROM identities"))]


def test_sqlite_takes_web_accounts_in_and_out(sqlite_file: Path, sqlite_engine: Engine) -> None:
    url = _async_sqlite_url(sqlite_file)
    upgrade(url, "0016")
    _on_sqlite(sqlite_engine, _a_web_account_signed_in)
    assert ("web", "chief") in _on_sqlite(sqlite_engine, _web_accounts)
    downgrade(url, "0015")
    assert ("web", "chief") not in _on_sqlite(sqlite_engine, _web_accounts)
    assert not {"staff_sessions", "staff_passwords", "staff_log"} & _on_sqlite(sqlite_engine, _tables)
    upgrade(url, "head")
    assert _on_sqlite(sqlite_engine, _drift) == []


def _an_admins_change_logged(connection: Connection) -> None:
    at = {"at": datetime(2026, 12, 5, tzinfo=UTC)}
    connection.execute(
        text(
            "INSERT INTO staff_log (person_id, event, detail, at) VALUES (7, 'staff_changed', 'by #1', :at)"
        ),
        at,
    )
    connection.commit()


def _log_events(connection: Connection) -> list[str]:
    return [row[0] for row in connection.execute(text("SELECT event FROM staff_log ORDER BY id"))]


def test_sqlite_logs_an_admins_changes_to_staff_and_forgets_them_on_the_way_down(
    sqlite_file: Path, sqlite_engine: Engine
) -> None:
    url = _async_sqlite_url(sqlite_file)
    upgrade(url, "0017")
    _on_sqlite(sqlite_engine, _a_web_account_signed_in)
    with pytest.raises(IntegrityError):  # not an event the log had
        _on_sqlite(sqlite_engine, _an_admins_change_logged)
    upgrade(url, "0018")
    _on_sqlite(sqlite_engine, _an_admins_change_logged)
    assert _on_sqlite(sqlite_engine, _log_events) == ["signed_in", "staff_changed"]
    downgrade(url, "0017")
    assert _on_sqlite(sqlite_engine, _log_events) == ["signed_in"]
    upgrade(url, "head")
    assert _on_sqlite(sqlite_engine, _drift) == []


# --- PostgreSQL -------------------------------------------------------------------------------------


@pytest.fixture
def postgres_scratch_url() -> Iterator[str]:
    """An empty PostgreSQL database of this test's own, dropped afterwards."""
    with scratch_postgres_database(prefix="needsbot_migrate") as url:
        yield url


@pytest.fixture
async def postgres_engine(postgres_scratch_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(postgres_scratch_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _on_postgres(engine: AsyncEngine, function: Callable[[Connection], T]) -> T:
    async with engine.connect() as connection:
        return await connection.run_sync(function)


@pytest.mark.postgres
async def test_an_empty_postgres_database_upgrades_to_head_without_drift(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    assert await _on_postgres(postgres_engine, _tables) == set()
    upgrade(postgres_scratch_url)
    assert await _on_postgres(postgres_engine, _tables) == MODEL_TABLES | {"alembic_version"}
    assert await _on_postgres(postgres_engine, _drift) == []


@pytest.mark.postgres
async def test_postgres_records_the_head_revision_after_upgrade(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    head = head_revision()
    assert head is not None
    upgrade(postgres_scratch_url)
    assert await _on_postgres(postgres_engine, _recorded_revision) == head
    assert await _on_postgres(postgres_engine, current_revision) == head


@pytest.mark.postgres
async def test_postgres_downgrades_to_base_and_upgrades_to_head_again(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    upgrade(postgres_scratch_url)
    downgrade(postgres_scratch_url, "base")
    assert await _on_postgres(postgres_engine, _tables) <= {"alembic_version"}
    assert await _on_postgres(postgres_engine, current_revision) is None
    upgrade(postgres_scratch_url)
    assert await _on_postgres(postgres_engine, _tables) == MODEL_TABLES | {"alembic_version"}
    assert await _on_postgres(postgres_engine, _recorded_revision) == head_revision()
    assert await _on_postgres(postgres_engine, _drift) == []


@pytest.mark.postgres
async def test_upgrading_a_postgres_database_already_at_head_changes_nothing(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    upgrade(postgres_scratch_url)
    upgrade(postgres_scratch_url)
    assert await _on_postgres(postgres_engine, _recorded_revision) == head_revision()
    assert await _on_postgres(postgres_engine, _drift) == []


@pytest.mark.postgres
async def test_postgres_turns_telegram_ids_into_accounts_on_their_channels_and_back(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    upgrade(postgres_scratch_url, "0006")
    await _on_postgres(postgres_engine, _people_before_identities)
    upgrade(postgres_scratch_url, "0007")
    people_columns = await _on_postgres(postgres_engine, lambda connection: _columns(connection, "people"))
    assert "telegram_user_id" not in people_columns
    assert await _on_postgres(postgres_engine, _accounts) == ACCOUNTS_AFTER_0007
    await _on_postgres(postgres_engine, _more_accounts)
    downgrade(postgres_scratch_url, "0006")
    assert "identities" not in await _on_postgres(postgres_engine, _tables)
    assert await _on_postgres(postgres_engine, _telegram_ids) == TELEGRAM_IDS_BACK_AT_0006
    assert await _on_postgres(postgres_engine, _telegram_id_is_unique)


@pytest.mark.postgres
async def test_postgres_keeps_status_times_on_the_trail_and_puts_them_back(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    upgrade(postgres_scratch_url, "0007")
    await _on_postgres(postgres_engine, _ticket_with_a_trail)
    upgrade(postgres_scratch_url, "0008")
    assert await _on_postgres(postgres_engine, _status_times) == TIMES_AT_0008
    downgrade(postgres_scratch_url, "0007")
    await postgres_engine.dispose()  # its connections' statements were prepared for the other columns
    assert await _on_postgres(postgres_engine, _status_times) == TIMES_BACK_AT_0007


@pytest.mark.postgres
async def test_postgres_adds_the_case_file_beside_what_was_there_and_takes_it_away(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    upgrade(postgres_scratch_url, "0009")
    await _on_postgres(postgres_engine, _referred_case)
    upgrade(postgres_scratch_url, "0010")
    assert await _on_postgres(postgres_engine, _tables) >= CASE_FILE_TABLES
    assert await _on_postgres(postgres_engine, _a_goal_for_the_referral) == (1, "pending", "需要专业机构", 1)
    downgrade(postgres_scratch_url, "0009")
    await postgres_engine.dispose()
    assert not CASE_FILE_TABLES & await _on_postgres(postgres_engine, _tables)
    columns = await _on_postgres(postgres_engine, lambda connection: _columns(connection, "referrals"))
    assert "goal_id" not in columns
    assert await _on_postgres(postgres_engine, _referrals) == [(1, "pending", "需要专业机构")]


@pytest.mark.postgres
async def test_postgres_keeps_waiting_replies_when_files_join_them_and_leave(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    upgrade(postgres_scratch_url, "0010")
    await _on_postgres(postgres_engine, _a_waiting_reply)
    upgrade(postgres_scratch_url, "0011")
    found = await _on_postgres(postgres_engine, _a_file_with_the_reply)
    assert found == ("您的事项已提交", "a.png", "photo", b"\x89PNG")
    downgrade(postgres_scratch_url, "0010")
    await postgres_engine.dispose()
    columns = await _on_postgres(
        postgres_engine, lambda connection: _columns(connection, "outgoing_messages")
    )
    assert not {"file_name", "file_kind", "file_content"} & set(columns)


@pytest.mark.postgres
async def test_postgres_takes_evaluators_in_and_closes_their_accounts_on_the_way_down(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    upgrade(postgres_scratch_url, "0013")
    await _on_postgres(postgres_engine, _an_evaluator)
    assert await _on_postgres(postgres_engine, _roles) == [(7, "evaluator", True)]
    downgrade(postgres_scratch_url, "0012")
    await postgres_engine.dispose()
    assert await _on_postgres(postgres_engine, _roles) == [(7, "recipient", False)]


@pytest.mark.postgres
async def test_postgres_takes_web_accounts_in_and_out(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    upgrade(postgres_scratch_url, "0016")
    await _on_postgres(postgres_engine, _a_web_account_signed_in)
    assert ("web", "chief") in await _on_postgres(postgres_engine, _web_accounts)
    downgrade(postgres_scratch_url, "0015")
    await postgres_engine.dispose()
    assert ("web", "chief") not in await _on_postgres(postgres_engine, _web_accounts)
    assert not {"staff_sessions", "staff_passwords", "staff_log"} & await _on_postgres(
        postgres_engine, _tables
    )


@pytest.mark.postgres
async def test_postgres_logs_an_admins_changes_to_staff_and_forgets_them_on_the_way_down(
    postgres_scratch_url: str, postgres_engine: AsyncEngine
) -> None:
    upgrade(postgres_scratch_url, "0017")
    await _on_postgres(postgres_engine, _a_web_account_signed_in)
    upgrade(postgres_scratch_url, "0018")
    await _on_postgres(postgres_engine, _an_admins_change_logged)
    assert await _on_postgres(postgres_engine, _log_events) == ["signed_in", "staff_changed"]
    downgrade(postgres_scratch_url, "0017")
    await postgres_engine.dispose()
    assert await _on_postgres(postgres_engine, _log_events) == ["signed_in"]
    upgrade(postgres_scratch_url, "head")
    await postgres_engine.dispose()
    assert await _on_postgres(postgres_engine, _drift) == []
