"""Delivering the alert outbox: the in-process relay, retries and give-ups, edits, and the Redis stream.

Everything here is real: the ``database`` fixture runs each test on SQLite and on PostgreSQL, the stream
tests talk to the Redis server at ``TEST_REDIS_URL``, and the "Redis is down" test starts and stops a
``redis-server`` of its own. Time in the database is a ``ManualClock``; the notifier is the project's
``RecordingNotifier``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from casework.clock import ManualClock
from casework.domain import (
    AlertKind,
    AreaLevel,
    Channel,
    Identity,
    OutboxAlert,
    OutboxStatus,
    Person,
    Role,
    ServiceType,
    Ticket,
    Urgency,
)
from casework.relay import (
    UNDELIVERABLE_EVENT,
    AlertDelivery,
    OutboxRelay,
    Outcome,
    RedisStreamRelay,
    RetryPolicy,
)
from dialogs.alerts import alert_reply
from dialogs.catalog import Catalog
from storage import Database, create_database
from tests.doubles import RecordingNotifier
from tests.services import TEST_REDIS_URL, RedisServer, free_port, reachable, unavailable

CATALOG = Catalog.load()

ALWAYS = 10**9  # fail_times for a notifier that never succeeds
GROUP = RedisStreamRelay.GROUP


# --- helpers -----------------------------------------------------------------------------------------


async def _person(
    database: Database,
    now: datetime,
    user_id: int,
    *,
    role: Role = Role.SOCIAL_WORKER,
    language: str = "zh",
    area_ids: tuple[int, ...] = (),
) -> Person:
    async with database.transaction() as tx:
        return await tx.people.add(
            now=now,
            identity=Identity(Channel.TELEGRAM, str(user_id)),
            display_name=f"person {user_id}",
            language=language,
            role=role,
            area_ids=area_ids,
        )


async def _queue(
    database: Database,
    now: datetime,
    person: Person,
    event: AlertKind = AlertKind.TICKET_ASSIGNED,
    *,
    key: str = "",
    payload: dict[str, Any] | None = None,
    ticket_id: int | None = None,
) -> OutboxAlert:
    async with database.transaction() as tx:
        alert = await tx.outbox.queue(
            event=event,
            payload=payload or {},
            now=now,
            ticket_id=ticket_id,
            recipient_person_id=person.id,
            key_suffix=key,
        )
    assert alert is not None
    return alert


async def _get(database: Database, alert_id: int) -> OutboxAlert:
    async with database.transaction() as tx:
        alert = await tx.outbox.get(alert_id)
    assert alert is not None
    return alert


async def _all_alerts(database: Database) -> list[OutboxAlert]:
    async with database.transaction() as tx:
        alerts = [alert for status in OutboxStatus for alert in await tx.outbox.with_status(status)]
    return sorted(alerts, key=lambda alert: alert.id)


def _sent_ids(notifier: RecordingNotifier) -> list[int]:
    return [alert.id for alert, _ in notifier.sent]


def _relay(
    database: Database, notifier: RecordingNotifier, clock: ManualClock, retry: RetryPolicy | None = None
) -> OutboxRelay:
    return OutboxRelay(AlertDelivery(database, notifier, clock, retry))


@dataclass(frozen=True)
class District:
    """district → street → community, and a second district with its own supervisor."""

    ticket: Ticket
    street_supervisor: Person
    district_supervisor: Person
    other_supervisor: Person
    admin: Person


async def _district(database: Database, now: datetime) -> District:
    async with database.transaction() as tx:
        district = await tx.areas.add(code="D1", name="城东区", level=AreaLevel.DISTRICT)
        street = await tx.areas.add(
            code="D1-S1", name="和平街道", level=AreaLevel.STREET, parent_id=district.id
        )
        community = await tx.areas.add(
            code="D1-S1-C1", name="光明社区", level=AreaLevel.COMMUNITY, parent_id=street.id
        )
        elsewhere = await tx.areas.add(code="D2", name="城西区", level=AreaLevel.DISTRICT)
        ticket = await tx.tickets.add(
            reference="SA-20261129-0001",
            service_type=ServiceType.RESOURCE_LINKING,
            urgency=Urgency.NORMAL,
            area_id=community.id,
            now=now,
            summary="房租困难",
        )
    return District(
        ticket=ticket,
        street_supervisor=await _person(database, now, 801, role=Role.SUPERVISOR, area_ids=(street.id,)),
        district_supervisor=await _person(database, now, 802, role=Role.SUPERVISOR, area_ids=(district.id,)),
        other_supervisor=await _person(database, now, 803, role=Role.SUPERVISOR, area_ids=(elsewhere.id,)),
        admin=await _person(database, now, 804, role=Role.ADMIN),
    )


# --- the in-process relay ----------------------------------------------------------------------------


async def test_run_once_delivers_each_due_alert_once_and_records_where_it_went(
    database: Database, now: datetime
) -> None:
    clock = ManualClock(now)
    worker = await _person(database, now, 101, language="en")
    reporter = await _person(database, now, 102, role=Role.RECIPIENT, language="zh")
    first = await _queue(database, now, worker, AlertKind.TICKET_OPENED)
    second = await _queue(database, now, reporter, AlertKind.CASE_CLAIMED)
    later = await _queue(database, now + timedelta(hours=1), worker, AlertKind.HOME_VISIT_DUE)
    assert later.next_attempt_at == now + timedelta(hours=1)
    notifier = RecordingNotifier()
    relay = _relay(database, notifier, clock)

    assert await relay.run_once() == 2

    assert sorted(_sent_ids(notifier)) == [first.id, second.id]
    recipients = {alert.id: recipient for alert, recipient in notifier.sent}
    to_worker, to_reporter = recipients[first.id], recipients[second.id]
    assert to_worker.person == worker
    assert (to_worker.language, to_worker.chat_id, to_worker.label) == ("en", 101, f"person:{worker.id}")
    assert to_reporter.person == reporter
    assert (to_reporter.language, to_reporter.chat_id) == ("zh", 102)
    for alert_id in (first.id, second.id):
        row = await _get(database, alert_id)
        assert row.status is OutboxStatus.SENT
        assert row.sent_at == now
        assert row.attempts == 1
        assert row.last_error is None
        message = _sent_ids(notifier).index(alert_id) + 1  # RecordingNotifier numbers its messages
        assert row.delivery_ref == {"message": message, "recipient": recipients[alert_id].label}
    pending = await _get(database, later.id)
    assert pending.status is OutboxStatus.PENDING
    assert pending.attempts == 0
    assert pending.sent_at is None
    assert pending.delivery_ref is None

    assert await relay.run_once() == 0
    assert len(notifier.sent) == 2

    clock.advance(timedelta(hours=1))
    assert await relay.run_once() == 1
    assert _sent_ids(notifier)[2:] == [later.id]
    assert (await _get(database, later.id)).status is OutboxStatus.SENT
    assert await relay.run_once() == 0
    assert len(notifier.sent) == 3


async def test_two_relays_running_at_once_send_each_alert_exactly_once(
    database: Database, now: datetime
) -> None:
    clock = ManualClock(now)
    people = [await _person(database, now, 200 + number) for number in range(5)]
    alerts = [
        await _queue(database, now, person, key=f"#{number}") for person in people for number in range(4)
    ]
    notifier = RecordingNotifier()
    first, second = _relay(database, notifier, clock), _relay(database, notifier, clock)

    counts = await asyncio.gather(first.run_once(), second.run_once())

    assert sum(counts) == len(alerts)
    assert sorted(_sent_ids(notifier)) == sorted(alert.id for alert in alerts)
    rows = await _all_alerts(database)
    assert [row.status for row in rows] == [OutboxStatus.SENT] * len(alerts)
    assert [row.attempts for row in rows] == [1] * len(alerts)
    assert list(await asyncio.gather(first.run_once(), second.run_once())) == [0, 0]
    assert len(notifier.sent) == len(alerts)


# --- failures, retries and giving up -----------------------------------------------------------------


async def test_a_failed_attempt_is_retried_after_a_backoff(database: Database, now: datetime) -> None:
    clock = ManualClock(now)
    worker = await _person(database, now, 301)
    alert = await _queue(database, now, worker)
    notifier = RecordingNotifier(fail_times=1)
    relay = _relay(database, notifier, clock)

    assert await relay.run_once() == 0

    failed = await _get(database, alert.id)
    assert failed.status is OutboxStatus.PENDING
    assert failed.attempts == 1
    assert failed.last_error == "refused: by the recording notifier"
    assert failed.next_attempt_at is not None
    # the first retry waits first_delay (5 s) with ±20 % jitter
    assert now + timedelta(seconds=4) <= failed.next_attempt_at <= now + timedelta(seconds=6)
    assert notifier.sent == []

    assert await relay.run_once() == 0  # not due yet: nothing is tried
    assert (await _get(database, alert.id)).attempts == 1

    clock.advance(timedelta(seconds=7))
    assert await relay.run_once() == 1
    assert _sent_ids(notifier) == [alert.id]
    delivered = await _get(database, alert.id)
    assert delivered.status is OutboxStatus.SENT
    assert delivered.attempts == 2
    assert delivered.last_error is None
    assert delivered.sent_at == clock.now()


async def test_after_the_last_attempt_the_alert_is_undeliverable_and_the_area_supervisors_are_told(
    database: Database, now: datetime
) -> None:
    clock = ManualClock(now)
    district = await _district(database, now)
    worker = await _person(database, now, 311)
    alert = await _queue(database, now, worker, AlertKind.TICKET_OPENED, ticket_id=district.ticket.id)
    notifier = RecordingNotifier(fail_times=ALWAYS)
    relay = _relay(database, notifier, clock, RetryPolicy(attempts=3))

    for attempt in (1, 2):
        assert await relay.run_once() == 0
        row = await _get(database, alert.id)
        assert (row.status, row.attempts) == (OutboxStatus.PENDING, attempt)
        assert row.next_attempt_at is not None
        assert row.next_attempt_at > clock.now()
        clock.advance(timedelta(hours=1))
    assert await relay.run_once() == 0

    given_up = await _get(database, alert.id)
    assert given_up.status is OutboxStatus.UNDELIVERABLE
    assert given_up.attempts == 3
    assert given_up.last_error == "refused: by the recording notifier"
    async with database.transaction() as tx:
        undeliverable = await tx.outbox.with_status(OutboxStatus.UNDELIVERABLE)
        notices = await tx.outbox.for_ticket(district.ticket.id, event=UNDELIVERABLE_EVENT)
    assert [row.id for row in undeliverable] == [alert.id]
    # the supervisors of the ticket's area and the areas above it; not the other district's, not the admin
    assert sorted(notice.recipient_person_id or 0 for notice in notices) == sorted(
        [district.street_supervisor.id, district.district_supervisor.id]
    )
    for notice in notices:
        assert notice.status is OutboxStatus.PENDING
        assert notice.payload["failed"] == {
            "alert": alert.id,
            "event": AlertKind.TICKET_OPENED,
            "reason": "refused",
        }
        assert notice.payload["ticket"] == {"reference": district.ticket.reference}
    words = {
        language: CATALOG.render(alert_reply(notices[0], language), language) for language in ("zh", "en")
    }
    assert "Telegram 拒收了这条消息" in words["zh"]
    assert "refused" not in words["zh"]
    assert "Telegram refused the message" in words["en"]

    # The notices fail too, until they are undeliverable themselves: that tells nobody again.
    for _ in range(4):
        clock.advance(timedelta(hours=1))
        await relay.run_once()
    rows = await _all_alerts(database)
    assert [row.status for row in rows] == [OutboxStatus.UNDELIVERABLE] * 3
    assert sorted(row.event for row in rows) == sorted(
        [AlertKind.TICKET_OPENED, UNDELIVERABLE_EVENT, UNDELIVERABLE_EVENT]
    )
    assert notifier.sent == []


async def test_a_permanent_failure_gives_up_at_once_and_without_a_ticket_the_admins_are_told(
    database: Database, now: datetime
) -> None:
    clock = ManualClock(now)
    worker = await _person(database, now, 321)
    admins = [await _person(database, now, 322 + number, role=Role.ADMIN) for number in range(2)]
    supervisor = await _person(database, now, 330, role=Role.SUPERVISOR)
    alert = await _queue(database, now, worker, AlertKind.TICKET_ASSIGNED)
    notifier = RecordingNotifier(fail_times=1, permanent=True)
    relay = _relay(database, notifier, clock)

    assert await relay.run_once() == 0

    given_up = await _get(database, alert.id)
    assert given_up.status is OutboxStatus.UNDELIVERABLE
    assert given_up.attempts == 1
    notices = [row for row in await _all_alerts(database) if row.event == UNDELIVERABLE_EVENT]
    assert sorted(notice.recipient_person_id or 0 for notice in notices) == [admin.id for admin in admins]
    assert all(notice.payload["failed"]["alert"] == alert.id for notice in notices)
    assert all(notice.payload["ticket"] is None for notice in notices)

    # The notifier works again: the admins get the notice, the supervisor without a ticket does not.
    assert await relay.run_once() == 2
    labels = sorted(recipient.label for _, recipient in notifier.sent)
    assert labels == [f"person:{admin.id}" for admin in admins]
    assert notifier.events_for(f"person:{supervisor.id}") == []
    assert (await _get(database, alert.id)).status is OutboxStatus.UNDELIVERABLE


async def test_alerts_to_erased_or_deactivated_people_are_undeliverable(
    database: Database, now: datetime
) -> None:
    clock = ManualClock(now)
    admin = await _person(database, now, 340, role=Role.ADMIN)
    erased = await _person(database, now, 341, role=Role.RECIPIENT)
    deactivated = await _person(database, now, 342)
    still_here = await _person(database, now, 343)
    to_erased = await _queue(database, now, erased, AlertKind.CASE_RESOLVED)
    to_deactivated = await _queue(database, now, deactivated, AlertKind.TICKET_OPENED)
    to_still_here = await _queue(database, now, still_here, AlertKind.TICKET_OPENED)
    async with database.transaction() as tx:
        await tx.people.erase(erased.id, now)
        await tx.people.update(deactivated.id, active=False)
    notifier = RecordingNotifier()
    relay = _relay(database, notifier, clock)

    assert await relay.run_once() == 1

    assert _sent_ids(notifier) == [to_still_here.id]
    for alert in (to_erased, to_deactivated):
        row = await _get(database, alert.id)
        assert row.status is OutboxStatus.UNDELIVERABLE
        assert row.attempts == 1
        assert row.last_error == "not_enrolled"
    notices = [row for row in await _all_alerts(database) if row.event == UNDELIVERABLE_EVENT]
    assert sorted(notice.payload["failed"]["alert"] for notice in notices) == [
        to_erased.id,
        to_deactivated.id,
    ]
    assert {notice.recipient_person_id for notice in notices} == {admin.id}
    assert await relay.run_once() == 2  # the admin's two notices
    assert notifier.events_for(f"person:{admin.id}") == [UNDELIVERABLE_EVENT] * 2


# --- edits -------------------------------------------------------------------------------------------


async def test_an_edit_waits_for_its_original_then_edits_the_delivered_message(
    database: Database, now: datetime
) -> None:
    clock = ManualClock(now)
    worker = await _person(database, now, 401, language="en")
    original = await _queue(database, now, worker, AlertKind.TICKET_OPENED)
    edit = await _queue(database, now, worker, AlertKind.TICKET_TAKEN, payload={"edit_of": original.id})
    notifier = RecordingNotifier()
    delivery = AlertDelivery(database, notifier, clock)

    assert await delivery.deliver(edit.id) is Outcome.WAITING
    waiting = await _get(database, edit.id)
    assert waiting.status is OutboxStatus.PENDING
    assert waiting.attempts == 0
    assert waiting.last_error is None
    assert waiting.next_attempt_at is not None
    assert waiting.next_attempt_at > now
    assert waiting.published_at is None
    assert notifier.sent == []
    assert notifier.edited == []
    assert await delivery.deliver(edit.id) is Outcome.SKIPPED  # postponed: not due yet

    assert await delivery.deliver(original.id) is Outcome.SENT
    reference = (await _get(database, original.id)).delivery_ref
    assert reference == {"message": 1, "recipient": f"person:{worker.id}"}

    clock.advance(timedelta(seconds=3))
    assert await _relay(database, notifier, clock).run_once() == 1

    assert _sent_ids(notifier) == [original.id]
    assert len(notifier.edited) == 1
    delivered, edited, recipient = notifier.edited[0]
    assert delivered == reference
    assert edited.id == edit.id
    assert recipient.person is not None
    assert recipient.person.id == worker.id
    assert recipient.language == "en"
    done = await _get(database, edit.id)
    assert done.status is OutboxStatus.SENT
    assert done.attempts == 1
    assert done.delivery_ref == reference


async def test_an_edit_of_an_undeliverable_alert_is_closed_without_sending(
    database: Database, now: datetime
) -> None:
    clock = ManualClock(now)
    worker = await _person(database, now, 411)
    original = await _queue(database, now, worker, AlertKind.TICKET_OPENED)
    edit = await _queue(database, now, worker, AlertKind.TICKET_TAKEN, payload={"edit_of": original.id})
    notifier = RecordingNotifier(fail_times=1, permanent=True)
    delivery = AlertDelivery(database, notifier, clock)
    assert await delivery.deliver(original.id) is Outcome.UNDELIVERABLE

    assert await delivery.deliver(edit.id) is Outcome.SKIPPED

    closed = await _get(database, edit.id)
    assert closed.status is not OutboxStatus.PENDING
    assert closed.status is not OutboxStatus.UNDELIVERABLE  # closed, not a failure to report
    assert closed.last_error == "nothing delivered to edit"
    assert not closed.delivery_ref
    assert notifier.sent == []
    assert notifier.edited == []
    clock.advance(timedelta(hours=1))
    assert await _relay(database, notifier, clock).run_once() == 0
    assert notifier.sent == []
    assert notifier.edited == []
    assert [row.event for row in await _all_alerts(database)].count(UNDELIVERABLE_EVENT) == 0


# --- the Redis stream --------------------------------------------------------------------------------


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    if not reachable(TEST_REDIS_URL, 6379):
        unavailable(f"Redis at {TEST_REDIS_URL}")
    client = aioredis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        await client.ping()
    except RedisError:
        await client.aclose()
        unavailable(f"Redis at {TEST_REDIS_URL}")
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def stream(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    """A stream name of this test's own; deleted (with its consumer group) afterwards."""
    name = f"needsbot:test:alerts:{uuid.uuid4().hex}"
    try:
        yield name
    finally:
        await redis_client.delete(name)


async def _pending_entries(client: aioredis.Redis, stream: str) -> int:
    summary: Any = await client.xpending(stream, GROUP)
    return int(summary["pending"])


def _stream_relay(
    client: aioredis.Redis,
    delivery: AlertDelivery,
    stream: str,
    consumer: str,
    claim_idle: timedelta = timedelta(milliseconds=100),
) -> RedisStreamRelay:
    return RedisStreamRelay(client, delivery, consumer=consumer, stream=stream, claim_idle=claim_idle)


class _Published(NamedTuple):
    clock: ManualClock
    alert: OutboxAlert
    notifier: RecordingNotifier
    delivery: AlertDelivery
    relay: RedisStreamRelay


async def _one_published(
    database: Database,
    now: datetime,
    redis_client: aioredis.Redis,
    stream: str,
    user_id: int,
    consumer: str,
    *,
    fail_times: int = 0,
) -> _Published:
    """An alert for the worker ``user_id``, published to ``stream`` by the relay of ``consumer`` (its
    group made), which has read nothing yet; the notifier fails the first ``fail_times`` deliveries."""
    clock = ManualClock(now)
    worker = await _person(database, now, user_id)
    alert = await _queue(database, now, worker)
    notifier = RecordingNotifier(fail_times=fail_times)
    delivery = AlertDelivery(database, notifier, clock)
    relay = _stream_relay(redis_client, delivery, stream, consumer)
    await relay.ensure_group()
    assert await relay.publish_once() == 1
    return _Published(clock, alert, notifier, delivery, relay)


@pytest.mark.redis
async def test_the_stream_publishes_pending_alerts_and_a_consumer_delivers_them(
    database: Database, now: datetime, redis_client: aioredis.Redis, stream: str
) -> None:
    clock = ManualClock(now)
    worker = await _person(database, now, 501, language="en")
    alerts = [await _queue(database, now, worker, key=f"#{number}") for number in range(3)]
    later = await _queue(database, now + timedelta(hours=1), worker, AlertKind.HOME_VISIT_DUE)
    notifier = RecordingNotifier()
    relay = _stream_relay(redis_client, AlertDelivery(database, notifier, clock), stream, "consumer-a")
    await relay.ensure_group()
    await relay.ensure_group()  # a second start finds the group there

    assert await relay.publish_once() == 3

    for alert in alerts:
        assert (await _get(database, alert.id)).published_at == now
    assert (await _get(database, later.id)).published_at is None
    assert await redis_client.xlen(stream) == 3
    assert await relay.publish_once() == 0  # published rows are not published again
    assert await redis_client.xlen(stream) == 3

    assert await relay.consume_once(block_ms=None) == 3

    assert sorted(_sent_ids(notifier)) == [alert.id for alert in alerts]
    assert {recipient.language for _, recipient in notifier.sent} == {"en"}
    for alert in alerts:
        row = await _get(database, alert.id)
        assert row.status is OutboxStatus.SENT
        assert row.delivery_ref is not None
    assert await _pending_entries(redis_client, stream) == 0
    assert await relay.consume_once(block_ms=None) == 0
    assert len(notifier.sent) == 3


@pytest.mark.redis
async def test_a_failed_delivery_from_the_stream_is_published_again_when_due(
    database: Database, now: datetime, redis_client: aioredis.Redis, stream: str
) -> None:
    clock, alert, notifier, _, relay = await _one_published(
        database, now, redis_client, stream, 511, "consumer-a", fail_times=1
    )
    assert await relay.consume_once(block_ms=None) == 0
    failed = await _get(database, alert.id)
    assert (failed.status, failed.attempts, failed.published_at) == (OutboxStatus.PENDING, 1, None)
    assert await _pending_entries(redis_client, stream) == 0
    assert await relay.publish_once() == 0  # not due yet

    clock.advance(timedelta(minutes=1))
    assert await relay.publish_once() == 1
    assert await relay.consume_once(block_ms=None) == 1
    assert _sent_ids(notifier) == [alert.id]
    assert (await _get(database, alert.id)).status is OutboxStatus.SENT
    assert await _pending_entries(redis_client, stream) == 0


@pytest.mark.redis
async def test_entries_a_dead_consumer_read_are_reclaimed_and_delivered_exactly_once(
    database: Database, now: datetime, redis_client: aioredis.Redis, stream: str
) -> None:
    clock = ManualClock(now)
    worker = await _person(database, now, 521)
    alerts = [await _queue(database, now, worker, key=f"#{number}") for number in range(4)]
    notifier = RecordingNotifier()
    publisher = _stream_relay(redis_client, AlertDelivery(database, notifier, clock), stream, "publisher")
    await publisher.ensure_group()
    assert await publisher.publish_once() == 4

    # A consumer reads every entry and dies before it delivers or acknowledges any of them.
    await redis_client.xreadgroup(GROUP, "dead-consumer", {stream: ">"})
    assert await _pending_entries(redis_client, stream) == 4
    first = _stream_relay(redis_client, AlertDelivery(database, notifier, clock), stream, "consumer-b")
    second = _stream_relay(redis_client, AlertDelivery(database, notifier, clock), stream, "consumer-c")
    assert await first.consume_once(block_ms=None) == 0  # nothing new for the living
    assert notifier.sent == []

    await asyncio.sleep(0.3)  # past claim_idle
    counts = await asyncio.gather(first.reclaim_once(), second.reclaim_once())

    assert sum(counts) == 4
    assert sorted(_sent_ids(notifier)) == [alert.id for alert in alerts]
    assert [row.status for row in await _all_alerts(database)] == [OutboxStatus.SENT] * 4
    assert await _pending_entries(redis_client, stream) == 0
    await asyncio.sleep(0.3)
    assert await first.reclaim_once() == 0
    assert len(notifier.sent) == 4


@pytest.mark.redis
async def test_an_entry_delivered_but_never_acknowledged_is_acknowledged_on_reclaim_without_a_resend(
    database: Database, now: datetime, redis_client: aioredis.Redis, stream: str
) -> None:
    _, alert, notifier, delivery, relay = await _one_published(
        database, now, redis_client, stream, 531, "consumer-b"
    )

    # The dead consumer read the entry, delivered the alert and recorded it, then died before XACK.
    answer: Any = await redis_client.xreadgroup(GROUP, "dead-consumer", {stream: ">"})
    [(_, [(_, fields)])] = answer
    assert await delivery.deliver(int(fields["alert"])) is Outcome.SENT
    assert _sent_ids(notifier) == [alert.id]
    assert await _pending_entries(redis_client, stream) == 1

    await asyncio.sleep(0.3)
    assert await relay.reclaim_once() == 0

    assert _sent_ids(notifier) == [alert.id]
    assert (await _get(database, alert.id)).status is OutboxStatus.SENT
    assert await _pending_entries(redis_client, stream) == 0


@pytest.mark.redis
async def test_an_alert_claimed_by_a_consumer_that_died_mid_delivery_is_still_delivered(
    database: Database, now: datetime, redis_client: aioredis.Redis, stream: str
) -> None:
    """The dead consumer read the entry and took the alert for delivery in the database, then died.

    Its claim in the table lasts ``claim_for`` (60 s); the stream entry may be reclaimed after
    ``claim_idle`` (30 s by default), i.e. while the table still holds the alert for the dead consumer.
    Whatever the reclaim does then, the alert must still reach its recipient once the claim has expired.
    """
    clock, alert, notifier, delivery, relay = await _one_published(
        database, now, redis_client, stream, 541, "consumer-b"
    )
    await redis_client.xreadgroup(GROUP, "dead-consumer", {stream: ">"})
    async with database.transaction() as tx:
        claimed = await tx.outbox.claim_for_delivery(
            alert.id, now=clock.now(), until=clock.now() + delivery.retry.claim_for
        )
    assert claimed is not None

    clock.advance(timedelta(seconds=31))  # past the default claim_idle, within claim_for
    await asyncio.sleep(0.3)
    await relay.reclaim_once()
    clock.advance(timedelta(minutes=5))  # the dead consumer's claim has long expired
    for _ in range(3):
        await relay.publish_once()
        await relay.consume_once(block_ms=None)
        await asyncio.sleep(0.3)
        await relay.reclaim_once()

    assert _sent_ids(notifier) == [alert.id]
    assert (await _get(database, alert.id)).status is OutboxStatus.SENT
    assert await _pending_entries(redis_client, stream) == 0


@pytest.mark.redis
async def test_an_alert_failing_while_its_publication_is_recorded_is_still_retried(
    database: Database, now: datetime, redis_client: aioredis.Redis, stream: str
) -> None:
    """``run`` publishes and consumes side by side, as here: publish_once XADDs, then records the rows
    published, while the consumer may already have read the entry, failed, and reset ``published_at``
    so that the retry is published again. Recording the publication must not undo that reset.

    The interleaving depends on timing; on SQLite it happens almost every round, on PostgreSQL rarely.
    """
    clock = ManualClock(now)
    worker = await _person(database, now, 551)
    notifier = RecordingNotifier(fail_times=ALWAYS)
    relay = _stream_relay(redis_client, AlertDelivery(database, notifier, clock), stream, "consumer-a")
    await relay.ensure_group()
    alerts = []
    for number in range(10):
        alerts.append(await _queue(database, now, worker, key=f"#{number}"))
        await asyncio.gather(relay.publish_once(), relay.consume_once(block_ms=2000))
    assert [row.attempts for row in await _all_alerts(database)] == [1] * len(alerts)

    notifier.fail_times = 0
    clock.advance(timedelta(minutes=10))  # every retry is due
    for _ in range(3):
        await relay.publish_once()
        await relay.consume_once(block_ms=None)

    stuck = [row.id for row in await _all_alerts(database) if row.status is OutboxStatus.PENDING]
    assert stuck == [], "pending alerts marked published, with no stream entry left to deliver them"
    assert sorted(_sent_ids(notifier)) == [alert.id for alert in alerts]
    assert await _pending_entries(redis_client, stream) == 0


# --- Redis going away and coming back ----------------------------------------------------------------


async def _delivered(delivery: AlertDelivery, notifier: RecordingNotifier, count: int) -> None:
    """Return once ``count`` alerts went out through ``delivery``."""
    while len(notifier.sent) < count:
        delivery.delivered.clear()
        await delivery.delivered.wait()


@pytest.mark.redis
async def test_alerts_written_while_redis_is_down_are_delivered_once_it_is_back(
    database: Database, now: datetime, own_redis: RedisServer
) -> None:
    clock = ManualClock(now)
    worker = await _person(database, now, 601)
    stream = f"needsbot:test:alerts:{uuid.uuid4().hex}"
    client = aioredis.Redis.from_url(
        own_redis.url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
    )
    try:
        notifier = RecordingNotifier()
        relay = RedisStreamRelay(
            client,
            AlertDelivery(database, notifier, clock),
            consumer="consumer-a",
            stream=stream,
            poll_seconds=0.1,
        )
        await relay.ensure_group()
        assert await relay.publish_once() == 0

        own_redis.stop()
        alerts = [await _queue(database, now, worker, key=f"#{number}") for number in range(3)]

        assert await relay._guarded(relay.publish_once) == -1
        with pytest.raises((RedisError, OSError)):
            await relay.publish_once()
        assert await relay._guarded(lambda: relay.consume_once(block_ms=None)) == -1
        for alert in alerts:
            row = await _get(database, alert.id)
            assert (row.status, row.published_at) == (OutboxStatus.PENDING, None)
        assert notifier.sent == []

        own_redis.start()  # same port, empty: no stream, no group
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await asyncio.wait_for(_delivered(relay.delivery, notifier, len(alerts)), timeout=20)
            await asyncio.sleep(0.5)  # room for a duplicate to show up
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=10)

        assert sorted(_sent_ids(notifier)) == [alert.id for alert in alerts]
        for alert in alerts:
            row = await _get(database, alert.id)
            assert row.status is OutboxStatus.SENT
        assert await _pending_entries(client, stream) == 0
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_the_relay_tells_a_redis_outage_from_a_database_one_and_says_back_only_when_it_is(
    database: Database, now: datetime, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(now)
    client = aioredis.Redis.from_url(own_redis.url, socket_timeout=2, socket_connect_timeout=2)
    unreachable = create_database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    try:
        relay = RedisStreamRelay(
            client,
            AlertDelivery(database, RecordingNotifier(), clock),
            consumer="a",
            stream="needsbot:test:x",
        )
        own_redis.stop()
        with caplog.at_level("INFO", logger="casework.relay"):
            assert await relay._guarded(lambda: relay.consume_once(block_ms=None)) == -1
            for _ in range(3):  # nothing to publish: no word to Redis, which is still down
                assert await relay._guarded(relay.publish_once) == -1
            own_redis.start()
            assert await relay._guarded(relay.publish_once) == 0
        messages = [record.getMessage() for record in caplog.records]
        assert [m for m in messages if "Redis" in m] == [
            "Redis unavailable for the alert stream (ConnectionError); alerts wait in the outbox",
            "Redis is back; publishing the alerts that waited",
        ]

        caplog.clear()
        cut_off = RedisStreamRelay(
            client,
            AlertDelivery(unreachable, RecordingNotifier(), clock),
            consumer="b",
            stream="needsbot:test:y",
        )
        with caplog.at_level("INFO", logger="casework.relay"):
            assert await cut_off._guarded(cut_off.publish_once) == -1
            assert await cut_off._guarded(cut_off.publish_once) == -1
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 1
        assert messages[0].startswith("the database is unavailable to the alert relay")
    finally:
        await client.aclose()
        await unreachable.dispose()


@pytest.mark.redis
async def test_alerts_published_to_a_redis_that_lost_its_data_are_still_delivered(
    database: Database, now: datetime, own_redis: RedisServer
) -> None:
    """Redis restarted without its data (no persistence, a failover, a crash within the fsync window):
    the rows it had been handed are still pending in the outbox and must still reach their recipients.
    """
    clock = ManualClock(now)
    worker = await _person(database, now, 611)
    stream = f"needsbot:test:alerts:{uuid.uuid4().hex}"
    client = aioredis.Redis.from_url(
        own_redis.url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
    )
    try:
        notifier = RecordingNotifier()
        delivery = AlertDelivery(database, notifier, clock)
        relay = RedisStreamRelay(client, delivery, consumer="consumer-a", stream=stream, poll_seconds=0.1)
        await relay.ensure_group()
        alerts = [await _queue(database, now, worker, key=f"#{number}") for number in range(2)]
        assert await relay.publish_once() == 2

        own_redis.stop()  # before any consumer read the entries
        own_redis.start()
        clock.advance(timedelta(minutes=10))
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await asyncio.wait_for(_delivered(delivery, notifier, len(alerts)), timeout=5)
        except TimeoutError:
            pass
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=10)

        assert sorted(_sent_ids(notifier)) == [alert.id for alert in alerts]
        assert [row.status for row in await _all_alerts(database)] == [OutboxStatus.SENT] * len(alerts)
    finally:
        await client.aclose()
