"""The dialog engine around the flows: crisis, privacy, status, state stores, locks, abandoned dialogs,
the catalogs, and the console channel."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import LockNotOwnedError, ResponseError
from sqlalchemy import delete, update

from bot.console import ConsoleChannel, ConsoleNotifier, follow_alerts
from casework.domain import (
    ASKED_AT_START,
    Channel,
    ConsentPurpose,
    Identity,
    OutboxStatus,
    Role,
    ServiceType,
    TicketStatus,
    Urgency,
)
from casework.relay import AlertDelivery, OutboxRelay
from dialogs.catalog import LANGUAGES, Catalog
from dialogs.messages import Reply
from dialogs.state import DialogState, DialogStore, MemoryDialogStore, MemoryLocks
from dialogs.turn import Turn
from storage import AfterCommitFailed, Database, dialog_state
from storage.dialog_state import RedisDialogStore, RedisLocks, SqlDialogStore
from storage.models import AreaRow
from tests.dialog_harness import Chat, Harness, build_harness
from tests.reports import rent_need
from tests.services import TEST_REDIS_URL, RedisServer, reachable, unavailable

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def harness(database: Database) -> Harness:
    return await build_harness(database)


async def consented(harness: Harness, user_id: int, language: str = "zh") -> Chat:
    chat = harness.chat(user_id, language)
    await chat.say("/start")
    for _ in range(3):
        await chat.press("button.yes")
    return chat


async def test_a_crisis_mid_flow_gets_hotlines_and_an_urgent_ticket_at_once(harness: Harness) -> None:
    chat = harness.chat(7)
    await chat.say("/start")
    for _ in range(3):
        await chat.press("button.yes")
    await chat.say("孩子学费交不起")
    await chat.press("button.yes")
    replies = await chat.say("我真的不想活了")
    keys = [reply.key for reply in replies]
    assert keys[:3] == ["crisis.reply", "crisis.reached.nobody", "crisis.ticket"]
    assert "12356" in chat.text()
    assert keys[-1] == "need.area"  # the report under way carries on after the crisis reply
    tickets = await harness.casework.reported_by(await harness.people.get(1))
    assert [(t.urgency, t.status) for t in tickets] == [(Urgency.CRITICAL, TicketStatus.NEW)]
    again = await chat.say("I want to end it")
    assert [reply.key for reply in again][:2] == ["crisis.reply", "crisis.ticket_exists"]


async def test_a_crisis_before_any_consent_is_answered_first(harness: Harness) -> None:
    chat = harness.chat(8, "en")
    replies = await chat.say("my husband hits me every night")
    assert [reply.key for reply in replies][:3] == ["crisis.reply", "crisis.reached.nobody", "crisis.ticket"]
    assert "12338" in chat.text() or "110" in chat.text()


async def test_privacy_shows_what_is_kept_and_delete_erases_it(harness: Harness) -> None:
    chat = await consented(harness, 9)
    await chat.report("/report 房租交不起了", "光明社区", 2, phone="13812345678")
    await chat.say("/privacy")
    text = chat.text()
    assert "138****5678" in text
    assert "光明社区" in text
    await chat.say("/delete_my_data")
    await chat.press("button.no")
    assert chat.keys == ["erase.kept"]
    await chat.say("/delete_my_data")
    await chat.press("button.yes")
    assert chat.keys == ["erase.done"]
    async with harness.database.transaction() as tx:
        tickets = await tx.tickets.find()
        reports = await tx.reports.for_ticket(tickets[0].id)
        erased = await tx.people.get(1)
    assert erased is not None
    assert (erased.identities, erased.phone, erased.display_name) == ((), None, "")
    assert reports[0].text == ""
    # The case record stays, anonymised; still open, it closed with the erasure (its worker told).
    assert tickets[0].status is TicketStatus.CLOSED


async def test_status_speaks_in_plain_words(harness: Harness) -> None:
    chat = await consented(harness, 10, "en")
    await chat.say("/status")
    assert chat.keys == ["status.none"]
    await chat.report("I need help paying for my medicine", "Guangming", 1)
    await chat.say("/status")
    assert "received, waiting for a social worker" in chat.text()
    assert "Next: a social worker will take it" in chat.text()


async def test_an_invite_code_enrols_and_a_bad_one_is_refused(harness: Harness) -> None:
    from casework.directory import create_invite

    async with harness.database.transaction() as tx:
        area = await tx.areas.get(harness.areas["s1"])
    assert area is not None
    issued = await create_invite(
        harness.database,
        role=Role.SOCIAL_WORKER,
        area_code=area.code,
        now=harness.clock.now(),
        valid_for=timedelta(days=1),
    )
    chat = harness.chat(11)
    await chat.say("/start nonsense")
    assert chat.keys == ["refusal.invite.unknown"]
    await chat.say(f"/start {issued.code}")
    assert chat.keys == ["enrol.done", "help.menu_worker"]
    other = harness.chat(12)
    await other.say(f"/start {issued.code}")
    assert other.keys == ["refusal.invite.spent"]


async def test_a_photo_or_a_sticker_gets_a_helpful_reply(harness: Harness) -> None:
    from dialogs.turn import Turn

    chat = harness.chat(13)
    for kind in ("photo", "voice", "sticker", "document", "location_unknown"):
        replies = await chat.send(Turn(channel="console", user_id=13, kind=kind))
        assert replies[0].key in (f"unsupported.{kind}", "unsupported.other")


async def test_two_messages_of_one_person_never_interleave(harness: Harness) -> None:
    chat = await consented(harness, 14)
    await chat.say("/report")
    first, second = await asyncio.gather(chat.say("房租交不起了"), chat.say("孩子学费也交不起"))
    keys = [[reply.key for reply in replies] for replies in (first, second)]
    assert ["need.confirm_type"] in keys  # one described the need; the other answered its question
    assert len({tuple(k) for k in keys}) == 2


async def test_an_abandoned_report_is_reminded_once_then_let_go(harness: Harness) -> None:
    chat = await consented(harness, 15)
    await chat.say("房租交不起了")
    sent: list[tuple[str, str]] = []

    async def outbound(key: str, replies: list[Reply], language: str) -> None:
        sent.extend((key, reply.key) for reply in replies)

    engine = harness.engine
    assert await engine.sweep_abandoned(outbound) == 0
    harness.clock.advance(timedelta(minutes=31))
    assert await engine.sweep_abandoned(outbound) == 1
    assert await engine.sweep_abandoned(outbound) == 0
    harness.clock.advance(timedelta(hours=2))
    assert await engine.sweep_abandoned(outbound) == 1
    assert sent == [("console:15", "flow.reminder"), ("console:15", "flow.expired")]
    await chat.press("button.yes")
    assert chat.keys == ["button.expired"]


async def test_a_flow_under_way_is_saved_every_turn_and_a_turn_outside_one_only_when_it_changed(
    harness: Harness,
) -> None:
    saved: list[DialogState] = []
    store = harness.engine.store
    save = store.save

    async def noting(key: str, state: DialogState) -> None:
        saved.append(DialogState.from_json(state.to_json()))
        await save(key, state)

    store.save = noting  # type: ignore[method-assign]  # the same store, each save noted on the way
    chat = await consented(harness, 17)
    saved.clear()
    await chat.say("/help")
    assert saved == []  # no flow, nothing changed: nothing to write
    await chat.say("房租交不起了")
    harness.clock.advance(timedelta(minutes=10))
    await chat.say("/help")  # inside the report: its last activity moves on
    assert [state.flow for state in saved] == ["need", "need"]
    assert saved[1].updated_at - saved[0].updated_at == timedelta(minutes=10)
    await chat.say("/cancel")
    await chat.say("/lang en")
    assert [(state.flow, state.language) for state in saved[2:]] == [(None, None), (None, "en")]
    harness.clock.advance(timedelta(minutes=10))
    await chat.say("/help")  # a chosen language is kept fresh, flow or not
    assert saved[4].updated_at - saved[3].updated_at == timedelta(minutes=10)


async def test_a_dialog_message_is_queued_for_the_person_behind_the_account(harness: Harness) -> None:
    await consented(harness, 16)
    assert await harness.people.message(16, "flow.reminder", now_suffix="x", channel=Channel.CONSOLE)
    assert not await harness.people.message(999, "flow.reminder", now_suffix="x", channel=Channel.CONSOLE)
    async with harness.database.transaction() as tx:
        queued = [a for a in await tx.outbox.with_status(OutboxStatus.PENDING) if a.event == "dialog_message"]
    assert [alert.payload["message_key"] for alert in queued] == ["flow.reminder"]


def test_both_catalogs_have_the_same_keys_and_every_placeholder_matches() -> None:
    catalog = Catalog.load()
    zh, en = (catalog.texts[language] for language in LANGUAGES)
    assert set(zh) == set(en)
    import string

    for key in zh:
        fields = [
            {name for _, name, _, _ in string.Formatter().parse(text) if name} for text in (zh[key], en[key])
        ]
        assert fields[0] == fields[1], key


# --- state stores and locks, one contract for every implementation --------------------------------


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    if not reachable(TEST_REDIS_URL, 6379):
        unavailable(f"Redis at {TEST_REDIS_URL}")
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "sql", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest, database: Database) -> AsyncIterator[DialogStore]:
    if request.param == "memory":
        yield MemoryDialogStore()
    elif request.param == "sql":
        yield SqlDialogStore(database)
    else:
        if not reachable(TEST_REDIS_URL, 6379):
            unavailable(f"Redis at {TEST_REDIS_URL}")
        client = aioredis.Redis.from_url(TEST_REDIS_URL)
        try:
            yield RedisDialogStore(client, database, prefix=f"needsbot:test:{uuid.uuid4().hex}:")
        finally:
            await client.aclose()


async def test_a_dialog_store_keeps_state_and_finds_stale_dialogs(store: DialogStore) -> None:
    assert not (await store.load("console:1")).active
    state = DialogState(
        flow="need", state="area", token="abc123", data={"area_parent": 3, "tags": ["x"]}, language="en"
    )
    await store.save("console:1", state)
    loaded = await store.load("console:1")
    assert (loaded.flow, loaded.state, loaded.token, loaded.data, loaded.language) == (
        "need",
        "area",
        "abc123",
        {"area_parent": 3, "tags": ["x"]},
        "en",
    )
    later = state.updated_at + timedelta(minutes=1)
    assert [key for key, _ in await store.stale(later)] == ["console:1"]
    await store.save("console:1", DialogState(updated_at=state.updated_at))
    assert await store.stale(later) == []


class Crash(Exception):
    pass


async def _turn_that_fails(database: Database, store: DialogStore, state: DialogState) -> None:
    async with database.unit_of_work():
        await store.save("telegram:7", state)
        raise Crash


@pytest.mark.parametrize("store", ["sql", pytest.param("redis", marks=pytest.mark.redis)], indirect=True)
async def test_a_state_saved_in_a_unit_of_work_is_kept_only_if_the_unit_commits(
    store: DialogStore, database: Database
) -> None:
    redis = isinstance(store, RedisDialogStore)
    await store.save("telegram:7", DialogState(flow="need", state="area", token="a"))
    with pytest.raises(Crash):  # the turn fails before its commit: the dialog stays where it was
        await _turn_that_fails(database, store, DialogState(flow="need", state="size", token="b"))
    assert (await store.load("telegram:7")).state == "area"
    async with database.unit_of_work():
        await store.save("telegram:7", DialogState(flow="need", state="size", token="b"))
        # Redis is written once the transaction commits; the database sees its own transaction.
        assert (await store.load("telegram:7")).state == ("area" if redis else "size")
    assert (await store.load("telegram:7")).state == "size"


async def _unit_with_work_after_it(database: Database, done: list[str]) -> None:
    async def failing() -> None:
        raise ConnectionError("the store is away")

    async def later() -> None:
        done.append("later")

    async with database.unit_of_work():
        await database.when_committed(failing)
        database.after_commit(lambda: done.append("callback"))
        await database.when_committed(later)
        assert done == []


async def test_work_after_a_commit_all_runs_when_one_part_fails(database: Database) -> None:
    done: list[str] = []
    with pytest.raises(AfterCommitFailed) as failed:
        await _unit_with_work_after_it(database, done)
    assert isinstance(failed.value.__cause__, ConnectionError)
    assert done == ["callback", "later"]


async def test_state_survives_a_restart_with_the_database(database: Database) -> None:
    await SqlDialogStore(database).save("telegram:5", DialogState(flow="need", state="size", token="t"))
    restarted = SqlDialogStore(database)
    assert (await restarted.load("telegram:5")).state == "size"


@pytest.mark.redis
async def test_redis_locks_keep_one_turn_of_a_person_at_a_time(redis_client: aioredis.Redis) -> None:
    order: list[str] = []
    locks = RedisLocks(redis_client)
    key = f"test:{uuid.uuid4().hex}"

    async def turn(name: str) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    await asyncio.gather(turn("a"), turn("b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


@pytest.fixture
def redis_store(redis_client: aioredis.Redis, database: Database) -> RedisDialogStore:
    return RedisDialogStore(redis_client, database, prefix=f"needsbot:test:{uuid.uuid4().hex}:")


@pytest.mark.redis
async def test_a_state_saved_under_the_persons_lock_is_written_after_the_commit_before_the_lock_goes(
    redis_client: aioredis.Redis, database: Database, redis_store: RedisDialogStore
) -> None:
    locks = RedisLocks(redis_client)
    await redis_store.save("telegram:8", DialogState(flow="need", state="area", token="a"))
    another = RedisDialogStore(redis_client, database, prefix=redis_store.prefix)  # another process's

    async with locks.hold("telegram:8"):
        async with database.unit_of_work():
            state = await redis_store.load("telegram:8")
            assert state.state == "area"
            state.state = "size"
            await redis_store.save("telegram:8", state)
            assert (await another.load("telegram:8")).state == "area"  # not before the commit
        assert (await another.load("telegram:8")).state == "size"  # and before the lock goes
    assert await redis_client.exists("needsbot:lock:telegram:8") == 0

    async def failing_turn() -> None:
        async with locks.hold("telegram:8"), database.unit_of_work():
            await redis_store.save("telegram:8", DialogState(flow="need", state="gone", token="b"))
            raise Crash

    with pytest.raises(Crash):  # a turn that fails before its commit writes nothing, and lets go
        await failing_turn()
    assert (await redis_store.load("telegram:8")).state == "size"
    assert await redis_client.exists("needsbot:lock:telegram:8") == 0


@pytest.mark.redis
async def test_a_lock_is_let_go_when_the_server_lost_its_scripts(
    redis_client: aioredis.Redis, redis_store: RedisDialogStore
) -> None:
    locks = RedisLocks(redis_client)
    async with locks.hold("telegram:9"):
        await redis_store.save("telegram:9", DialogState(flow="need", state="area", token="a"))
        await redis_client.script_flush()  # as after a restart
    assert (await redis_store.load("telegram:9")).state == "area"
    assert await redis_client.exists("needsbot:lock:telegram:9") == 0
    async with locks.hold("telegram:9"):  # and the script is there again for the next
        await redis_store.save("telegram:9", DialogState())
    assert await redis_client.exists("needsbot:lock:telegram:9") == 0


@pytest.mark.redis
async def test_a_state_write_refused_is_raised_and_the_lock_still_let_go(
    redis_client: aioredis.Redis, database: Database
) -> None:
    # A Redis user who may not add to the active-dialog index: the state's transaction is refused
    # whole (EXECABORT), and the lock is still let go.
    user = f"needsbot-test-{uuid.uuid4().hex[:8]}"
    await redis_client.acl_setuser(user, enabled=True, nopass=True, keys=["*"], commands=["+@all", "-zadd"])
    refused = aioredis.Redis.from_url(TEST_REDIS_URL, username=user, password="any")
    try:
        store = RedisDialogStore(refused, database, prefix=f"needsbot:test:{uuid.uuid4().hex}:")
        locks = RedisLocks(refused)

        async def turn() -> None:
            async with locks.hold("telegram:11"):
                await store.save("telegram:11", DialogState(flow="need", state="area", token="a"))

        with pytest.raises(ResponseError):
            await turn()
        assert await redis_client.exists("needsbot:lock:telegram:11") == 0
        assert await redis_client.exists(store.prefix + "telegram:11") == 0  # nothing of it written
    finally:
        await refused.aclose()
        await redis_client.acl_deluser(user)


@pytest.mark.redis
async def test_a_lock_that_ran_out_and_was_taken_is_not_let_go_by_its_first_holder(
    redis_client: aioredis.Redis, redis_store: RedisDialogStore
) -> None:
    slow = RedisLocks(redis_client, lease=timedelta(milliseconds=100))

    async def overlong_turn() -> None:
        async with slow.hold("telegram:10"):
            time.sleep(0.2)  # noqa: ASYNC251 - a stalled process: the lease runs out unrenewed, and another turn takes it
            assert await redis_client.set("needsbot:lock:telegram:10", "other", nx=True)
            await redis_store.save("telegram:10", DialogState(flow="need", state="late", token="c"))

    with pytest.raises(LockNotOwnedError):
        await overlong_turn()
    assert await redis_client.get("needsbot:lock:telegram:10") == b"other"
    await redis_client.delete("needsbot:lock:telegram:10")


_CRASH_HOLDING_A_LOCK = """
import asyncio, os, signal, sys
import redis.asyncio as aioredis
from storage.dialog_state import RedisLocks

async def main() -> None:
    async with RedisLocks(aioredis.Redis.from_url(sys.argv[1])).hold(sys.argv[2]):
        print("holding", flush=True)
        await asyncio.sleep(1)  # renewed meanwhile
        os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


@pytest.mark.redis
async def test_a_lock_left_by_a_process_killed_holding_it_is_free_after_one_short_lease(
    redis_client: aioredis.Redis,
) -> None:
    """A turn killed while holding a person's lock: their next turn waits one lease (5 s), not the old
    30 s, and a live turn keeps its lock however long it runs."""
    key = f"telegram:{uuid.uuid4().int % 10**9}"
    crashed = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CRASH_HOLDING_A_LOCK, TEST_REDIS_URL, key, stdout=subprocess.PIPE
    )
    assert crashed.stdout is not None
    assert await crashed.stdout.readline() == b"holding\n"
    assert await crashed.wait() == -9
    assert await redis_client.exists(f"needsbot:lock:{key}") == 1  # orphaned
    patient = RedisLocks(redis_client, wait=timedelta(seconds=8))
    async with patient.hold(key):  # raises LockError if the orphan outlives the wait
        assert await redis_client.pttl(f"needsbot:lock:{key}") <= 5000

    live = RedisLocks(redis_client, lease=timedelta(milliseconds=300))
    async with live.hold(key):
        await asyncio.sleep(1.0)  # three leases: renewed all along
        assert await redis_client.get(f"needsbot:lock:{key}") is not None
    assert await redis_client.exists(f"needsbot:lock:{key}") == 0


async def test_memory_locks_keep_one_turn_of_a_person_at_a_time() -> None:
    order: list[str] = []
    locks = MemoryLocks()

    async def turn(name: str) -> None:
        async with locks.hold("p"):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(turn("a"), turn("b"))
    assert order == ["a in", "a out", "b in", "b out"]


# --- a shared location ----------------------------------------------------------------------------


async def test_a_location_where_no_community_has_one_asks_to_choose(harness: Harness) -> None:
    async with harness.database.engine.begin() as connection:
        await connection.execute(update(AreaRow).values(latitude=None, longitude=None))
    chat = await consented(harness, 31)
    await chat.say("家里房租交不起了")
    await chat.press("button.yes")
    assert "或发送所在位置" not in chat.text()  # no hint where a location cannot help
    replies = await chat.send(Turn(channel="console", user_id=31, latitude=30.556, longitude=114.315))
    assert [reply.key for reply in replies] == ["area.location_unmatched", "need.area"]


async def test_a_community_removed_while_its_confirmation_waits_falls_back_to_the_list(
    harness: Harness,
) -> None:
    chat = await consented(harness, 32)
    await chat.say("家里房租交不起了")
    await chat.press("button.yes")
    await chat.send(Turn(channel="console", user_id=32, latitude=30.528, longitude=114.345))
    assert chat.keys == ["area.location_confirm"]
    async with harness.database.engine.begin() as connection:
        await connection.execute(delete(AreaRow).where(AreaRow.id == harness.areas["c2"]))
    await chat.say("/lang en")  # asks the question again: the community found is gone
    assert chat.keys == ["lang.switched", "need.area"]


# --- the console channel --------------------------------------------------------------------------


def test_the_console_chat_works_piped_line_by_line(sqlite_url: str, tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "DATABASE_URL": sqlite_url,
        "REDIS_URL": "",
        "NLU_MODEL_DIR": str(tmp_path / "nlu"),
    }
    for command in (["demo", "load"], ["chat", "--as", "worker"]):  # a social worker in the first street
        subprocess.run(
            [sys.executable, "-m", "bot.cli", *command],
            env=environment,
            cwd=tmp_path,
            check=True,
            capture_output=True,
            input="",
            text=True,
            timeout=120,
        )
    lines = ["/start", "1", "1", "1", "我家房租交不起了", "1", "1", "2", "3", "9", "1", "1", "/status"]
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--lang", "zh"],
        input="\n".join(lines) + "\n",
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "[1] 是" in out
    assert "听起来您需要的是「资源链接」方面的帮助" in out
    assert "已提交，编号 SA-" in out
    assert "已受理，等待社工认领" in out
    assert "→ person:" in out  # the alerts to the area's workers, shown as routed


async def test_the_console_takes_a_geo_uri_as_a_shared_location(harness: Harness) -> None:
    chat = await consented(harness, 33)
    await chat.say("家里房租交不起了")
    await chat.press("button.yes")
    out = io.StringIO()
    console = ConsoleChannel(harness.engine, harness.catalog, user_id=33, language="zh", out=out)
    await console.handle_line("geo:30.5562,114.3149\n")
    assert "离“光明社区”最近（约 50 米）" in out.getvalue()
    await console.handle_line("1")
    assert "家里一共几口人？" in out.getvalue()
    before = len(out.getvalue())
    await console.handle_line("geo:91,0")  # not a place on Earth: taken as typed text, a bad size
    assert out.getvalue()[before:].startswith("请点选人数")


async def test_the_console_writes_a_reports_charts_and_workbook_to_files(
    harness: Harness, tmp_path: Path
) -> None:
    await harness.enrol(35, Role.SUPERVISOR, "s1")
    out = io.StringIO()
    console = ConsoleChannel(
        harness.engine, harness.catalog, user_id=35, language="zh", out=out, files=tmp_path
    )
    await console.handle_line("/evaluation")
    await console.handle_line("3")  # this month
    written = [Path(line[2:]) for line in out.getvalue().splitlines() if line.startswith(f"📎 {tmp_path}")]
    assert [path.suffix for path in written] == [".png", ".png", ".png", ".xlsx"]
    assert all(path.parent == tmp_path and path.stat().st_size > 0 for path in written)


async def test_the_console_shows_its_own_users_alerts_whoever_delivers_them_and_others_as_a_line(
    harness: Harness,
) -> None:
    """Alerts reach a console account through its identity on the console: the same number on
    Telegram is someone else, whose alert is only listed by the process that delivered it. The
    console user's own alert is shown by their console even when another process delivered it."""
    mine = await harness.enrol(40, Role.SOCIAL_WORKER, "c1")
    async with harness.database.transaction() as tx:
        stranger = await tx.people.add(
            now=harness.clock.now(),
            identity=Identity(Channel.TELEGRAM, "40"),
            role=Role.SOCIAL_WORKER,
            area_ids=[harness.areas["c1"]],
            service_types=list(ServiceType),
        )
    mine_out, elsewhere_out = io.StringIO(), io.StringIO()
    console = ConsoleChannel(harness.engine, harness.catalog, user_id=40, language="zh", out=mine_out)
    elsewhere = ConsoleChannel(harness.engine, harness.catalog, user_id=41, language="zh", out=elsewhere_out)
    following = asyncio.create_task(
        follow_alerts(console, harness.database, mine.id, harness.clock, every=0.02)
    )
    try:
        await harness.casework.open_ticket(rent_need(harness.areas["c1"], text="家里房租交不起了"))
        # Another console's process delivers both alerts.
        await OutboxRelay(
            AlertDelivery(harness.database, ConsoleNotifier(elsewhere), harness.clock)
        ).run_once()
        for _ in range(100):
            if "🔔" in mine_out.getvalue():
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # no second showing of the same alert
    finally:
        # Cancelled, and awaited: a cancellation that lands in its read must finish before the
        # database goes away (left running, it can wait on a closed connection for ever).
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
    assert mine_out.getvalue().count("🔔") == 1
    assert "新工单" in mine_out.getvalue()
    routed = elsewhere_out.getvalue()
    assert "🔔" not in routed
    assert f"→ person:{stranger.id}:" in routed
    assert f"→ person:{mine.id}:" in routed  # not this console's user: listed where it was delivered


async def test_the_console_files_a_report_whose_words_hold_a_nul_and_a_lone_surrogate(
    harness: Harness,
) -> None:
    """Text PostgreSQL refuses (a NUL) or no encoder takes (a surrogate alone) is cleaned where it
    comes in, whatever the channel: the report is filed, with what could be kept of its words."""
    await consented(harness, 34)
    out = io.StringIO()
    console = ConsoleChannel(harness.engine, harness.catalog, user_id=34, language="zh", out=out)
    await console.handle_line("家里房租交不起了\x00，房东\ud800催了好几次\n")
    assert "资源链接" in out.getvalue()
    for choice in ("button.yes", "光明社区", "1", "button.done", "need.contact.chat", "need.button.submit"):
        await console.handle_line(harness.catalog.text(choice, "zh") if "." in choice else choice)
    assert "SA-" in out.getvalue()
    [ticket] = await harness.casework.reported_by(await harness.people.get(1))
    async with harness.database.transaction() as tx:
        [report] = await tx.reports.for_ticket(ticket.id)
    assert report.text == "家里房租交不起了，房东\ufffd催了好几次"


async def test_a_workers_case_note_about_suicide_is_not_taken_for_their_own_crisis(harness: Harness) -> None:
    resident = await consented(harness, 20)
    await resident.report("我心里很难受，天天睡不着", "光明社区", 1)
    ticket = (await harness.casework.reported_by(await harness.people.get(1)))[0]
    await harness.enrol(21, Role.SOCIAL_WORKER, "s1")
    worker = harness.chat(21)
    await worker.send(Turn(channel="console", user_id=21, button=f"!claim:{ticket.id}"))
    await worker.send(Turn(channel="console", user_id=21, button=f"!note:{ticket.id}"))
    replies = await worker.say("老人说最近想自杀，已联系家属陪同")
    assert "crisis.reply" not in [reply.key for reply in replies]
    async with harness.database.transaction() as tx:
        critical = [t for t in await tx.tickets.find() if t.urgency is Urgency.CRITICAL]
        notes = [e.note for e in await tx.tickets.events(ticket.id) if e.action == "note"]
    assert critical == []
    assert notes == ["老人说最近想自杀，已联系家属陪同"]


async def test_the_scheduler_job_runs_the_dialog_sweep_it_is_given(harness: Harness) -> None:
    from casework import jobs

    chat = await consented(harness, 30)
    await chat.say("房租交不起了")
    harness.clock.advance(timedelta(minutes=45))
    reminded: list[str] = []

    async def outbound(key: str, replies: list[Reply], language: str) -> None:
        reminded.extend(f"{key} {reply.key}" for reply in replies)

    services = jobs.JobServices(harness.work, sweep_dialogs=lambda: harness.engine.sweep_abandoned(outbound))
    await jobs.expire_dialogs(services)
    assert reminded == ["console:30 flow.reminder"]


@pytest.mark.redis
async def test_a_persons_turn_right_after_redis_restarted_finds_new_connections(
    database: Database, own_redis: RedisServer
) -> None:
    """Redis restarts (every pooled connection dies with it): the very next turns work, on new
    connections, instead of failing on the dead ones."""
    client = dialog_state.redis_client(own_redis.url)
    try:
        store = RedisDialogStore(client, database, prefix="needsbot:test:")
        locks = RedisLocks(client)
        keys = [f"telegram:{n}" for n in range(4)]

        async def turns(state: str) -> None:
            async def one(key: str) -> None:
                async with locks.hold(key):
                    await store.save(key, DialogState(flow="need", state=state, token="t"))

            await asyncio.gather(*(one(key) for key in keys))  # the pool holds four connections

        await turns("area")
        own_redis.stop()
        own_redis.start()  # empty, same port
        await turns("size")
        assert [(await store.load(key)).state for key in keys] == ["size"] * 4
    finally:
        await client.aclose()


async def test_consent_questions_cut_off_halfway_lose_no_answer_and_are_asked_again(harness: Harness) -> None:
    """The dialog state is lost after the first consent answer (Redis restarted empty, say): that
    answer is in the database already, the next press says the conversation was cut off and asks the
    questions again, and nothing is reported before all three are answered."""
    chat = harness.chat(36)
    await chat.say("/start")
    await chat.press("button.yes")  # yes to keeping the report
    person = await harness.people.known(36, channel=Channel.CONSOLE)
    assert person is not None
    assert ConsentPurpose.STORE_REPORT in await harness.people.consents(person.id)
    await harness.engine.store.save("console:36", DialogState())  # the state lost

    await chat.press("button.yes")  # the second question's button, from a conversation now gone
    assert chat.keys[:2] == ["flow.interrupted", "welcome.intro"]
    assert "consent.ask.store_report" in chat.keys
    assert not await harness.people.consent_asked(person.id)
    for _ in range(3):
        await chat.press("button.yes")
    assert await harness.people.consent_asked(person.id)
    assert set(await harness.people.consents(person.id)) == set(ASKED_AT_START)


async def test_a_consent_answer_after_a_lost_state_write_is_taken_for_its_own_question(
    harness: Harness,
) -> None:
    """A crash after the commit and before the dialog state was written leaves the state one question
    behind what the person saw: their press on the question they saw is that question's answer, not
    a stale button (each consent is recorded as it is given)."""
    chat = harness.chat(61)
    await chat.say("/start")
    key = "console:61"
    before = (await harness.engine.store.load(key)).to_json()  # asking ① store_report
    await chat.press("button.yes")
    assert chat.keys == ["consent.ask.share_with_agency"]
    await harness.engine.store.save(key, DialogState.from_json(before))  # the write after ① was lost
    await chat.press("button.yes")  # ②'s button, as the person saw it
    assert chat.keys == ["consent.ask.contact_me"]
    await chat.press("button.no")
    assert chat.keys[0] == "consent.recorded"
    person = await harness.people.known(61, channel=Channel.CONSOLE)
    assert person is not None
    granted = await harness.people.consents(person.id)
    assert set(granted) == {ConsentPurpose.STORE_REPORT, ConsentPurpose.SHARE_WITH_AGENCY}
