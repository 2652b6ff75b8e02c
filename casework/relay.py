"""Delivering the alert outbox: in process straight from the table, or through a Redis stream.

Alerts are written in the same transaction as the ticket change they announce. A relay hands each to
the ``Notifier``; success is recorded with where it went (so it can be edited later), a failure is
retried with growing delays, and after the last attempt the alert is marked undeliverable, stays in
the table for anyone to see, and the area's supervisors are told.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import SQLAlchemyError

from casework import disclosure, routing
from casework.clock import Clock
from casework.domain import AlertKind, Channel, OutboxAlert, OutboxStatus, Role
from casework.notify import Notifier, NotifierError, Recipient, Undelivered
from casework.unit_of_work import Transaction, UnitOfWork

log = logging.getLogger(__name__)

UNDELIVERABLE_EVENT = AlertKind.ALERT_UNDELIVERABLE


class Outcome(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"  # not pending (done already) or not due
    RETRY = "retry"
    WAITING = "waiting"  # an edit whose original has not gone out yet
    UNDELIVERABLE = "undeliverable"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=10)
    claim_for: timedelta = timedelta(seconds=60)  # how long one delivery attempt holds the alert

    def retry_at(self, attempts_made: int, now: datetime) -> datetime | None:
        """When to try again after ``attempts_made`` failures (exponential, with jitter); None: give up."""
        if attempts_made >= self.attempts:
            return None
        delay = min(self.max_delay, self.first_delay * (1 << max(0, attempts_made - 1)))
        jitter: float = random.uniform(0.8, 1.2)  # noqa: S311 - spreading retries, not secrecy
        return now + delay * jitter


class AlertDelivery:
    """Delivers one outbox alert; safe to call twice for the same alert, from any process."""

    def __init__(
        self,
        database: UnitOfWork,
        notifier: Notifier,
        clock: Clock,
        retry: RetryPolicy | None = None,
        *,
        channel: Channel = Channel.TELEGRAM,
    ) -> None:
        self.database = database
        self.notifier = notifier
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.channel = channel  # the notifier's: a person's chat is the one of their account there
        self.delivered = (
            asyncio.Event()
        )  # set after every successful delivery (tests and benchmarks wait on it)

    async def _recipient(self, tx: Transaction, alert: OutboxAlert) -> Recipient | None:
        if alert.recipient_person_id is not None:
            person = await tx.people.get(alert.recipient_person_id)
            if person is None or not person.active:
                return None
            account = person.identity_on(self.channel)
            chat_id = account.chat_id if account is not None else None
            return Recipient(person=person, chat_id=chat_id, language=person.language)
        return Recipient(person=None, chat_id=alert.recipient_chat_id, language="zh")

    async def deliver(self, alert_id: int) -> Outcome:
        now = self.clock.now()
        async with self.database.transaction() as tx:
            alert = await tx.outbox.claim_for_delivery(alert_id, now=now, until=now + self.retry.claim_for)
            if alert is None:
                return Outcome.SKIPPED
            recipient = await self._recipient(tx, alert)
            original = None
            edit_of = alert.payload.get("edit_of")
            if edit_of is not None:
                original = await tx.outbox.get(int(edit_of))
                if original is not None and original.status is OutboxStatus.PENDING:
                    await tx.outbox.postpone(alert.id, until=now + timedelta(seconds=2))
                    return Outcome.WAITING
                if (
                    original is None
                    or original.status is OutboxStatus.UNDELIVERABLE
                    or not original.delivery_ref
                ):
                    await tx.outbox.close_without_sending(
                        alert.id, reason="nothing delivered to edit", now=now
                    )
                    return Outcome.SKIPPED
        if recipient is None:
            return await self._failed(alert, NotifierError(Undelivered.NOT_ENROLLED, permanent=True))
        try:
            if original is not None:
                assert original.delivery_ref is not None
                await self.notifier.edit(original.delivery_ref, alert, recipient)
                reference = original.delivery_ref
            else:
                reference = await self.notifier.send(alert, recipient)
        except NotifierError as error:
            return await self._failed(alert, error)
        except Exception as error:  # a channel's unexpected failure must not lose the alert
            log.exception("notifier failed on alert %s", alert.id)
            return await self._failed(alert, NotifierError(Undelivered.FAILED, type(error).__name__))
        async with self.database.transaction() as tx:
            await tx.outbox.record_delivery(alert.id, ref=reference, now=self.clock.now())
        self.delivered.set()
        return Outcome.SENT

    async def _failed(self, alert: OutboxAlert, error: NotifierError) -> Outcome:
        now = self.clock.now()
        retry_at = None if error.permanent else self.retry.retry_at(alert.attempts + 1, now)
        async with self.database.transaction() as tx:
            await tx.outbox.mark_failed(alert.id, error=str(error), retry_at=retry_at)
            if retry_at is not None:
                log.info("alert %s (%s) failed, retrying: %s", alert.id, alert.event, error)
                return Outcome.RETRY
            log.warning("alert %s (%s) undeliverable: %s", alert.id, alert.event, error)
            if alert.event != UNDELIVERABLE_EVENT:
                await self._tell_supervisors(tx, alert, error.why)
        return Outcome.UNDELIVERABLE

    async def _tell_supervisors(self, tx: Transaction, alert: OutboxAlert, why: Undelivered) -> None:
        ticket = await tx.tickets.get(alert.ticket_id) if alert.ticket_id is not None else None
        if ticket is not None:
            supervisors = await routing.supervisors_of(tx, await routing.area_chain(tx, ticket.area_id))
        else:
            supervisors = []
        supervisors = supervisors or await tx.people.find(role=Role.ADMIN)
        for supervisor in supervisors:
            if supervisor.id == alert.recipient_person_id:
                continue
            told = disclosure.payload_for(
                UNDELIVERABLE_EVENT,
                disclosure.relation_to(supervisor, ticket),
                {
                    "failed": {"alert": alert.id, "event": alert.event, "reason": why.value},
                    "ticket": {"reference": ticket.reference} if ticket else None,
                },
            )
            if told is None:
                continue
            await tx.outbox.queue(
                event=UNDELIVERABLE_EVENT,
                payload=told,
                now=self.clock.now(),
                ticket_id=alert.ticket_id,
                recipient_person_id=supervisor.id,
                key_suffix=f"#{alert.id}",
            )


async def _sleep_or_wake(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    wake.clear()


class OutboxRelay:
    """Without Redis: poll the outbox, and deliver at once whenever this process queued alerts."""

    def __init__(
        self, delivery: AlertDelivery, *, poll_seconds: float = 1.0, batch: int = 50, concurrency: int = 8
    ) -> None:
        self.delivery = delivery
        self.poll_seconds = poll_seconds
        self.batch = batch
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        async with self.delivery.database.transaction() as tx:
            due = await tx.outbox.due(now=self.delivery.clock.now(), limit=self.batch)

        async def one(alert: OutboxAlert) -> Outcome:
            async with self._limit:
                return await self.delivery.deliver(alert.id)

        outcomes = await asyncio.gather(*(one(alert) for alert in due))
        return sum(outcome is Outcome.SENT for outcome in outcomes)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                delivered = await self.run_once()
            except Exception:
                log.exception("outbox relay pass failed")
                delivered = 0
            if delivered < self.batch:
                await _sleep_or_wake(self._wake, stop, self.poll_seconds)


class RedisStreamRelay:
    """With Redis: publish outbox rows to a stream; a consumer group delivers and acknowledges them.

    An entry is acknowledged only after the delivery was recorded, so one read by a consumer that died
    stays pending and is claimed again after ``claim_idle``. Rows queued while Redis is away stay
    unpublished in the table and go out when it is back. A row published but still undelivered after
    ``republish_after`` (Redis lost the stream, or a delivery attempt died) is published again; a
    duplicate entry is harmless, since delivery checks the row first.
    """

    STREAM = "needsbot:alerts"
    GROUP = "relay"

    def __init__(
        self,
        client: aioredis.Redis,
        delivery: AlertDelivery,
        *,
        consumer: str,
        stream: str = STREAM,
        claim_idle: timedelta = timedelta(seconds=30),
        republish_after: timedelta = timedelta(minutes=2),
        poll_seconds: float = 0.5,
        batch: int = 50,
    ) -> None:
        self.republish_after = republish_after
        self.client = client
        self.delivery = delivery
        self.consumer = consumer
        self.stream = stream
        self.claim_idle = claim_idle
        self.poll_seconds = poll_seconds
        self.batch = batch
        self._wake = asyncio.Event()
        self._redis_down = False
        self._database_down = False

    def wake(self) -> None:
        self._wake.set()

    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.stream, self.GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def publish_once(self) -> int:
        """Hand due, unpublished outbox rows to the stream; rows stay unpublished if Redis fails."""
        database = self.delivery.database
        now = self.delivery.clock.now()
        async with database.transaction() as tx:
            rows = await tx.outbox.unpublished(
                now=now, stale_before=now - self.republish_after, limit=self.batch
            )
        if not rows:
            return 0
        async with self.client.pipeline(transaction=False) as pipe:
            for alert in rows:
                pipe.xadd(self.stream, {"alert": str(alert.id)})
            await pipe.execute()
        async with database.transaction() as tx:
            await tx.outbox.mark_published(rows, now=self.delivery.clock.now())
        return len(rows)

    async def _handle(self, entries: list[tuple[Any, dict[Any, Any]]]) -> int:
        sent = 0
        for entry_id, fields in entries:
            # Keys and values arrive as bytes unless the client decodes responses.
            alert_id = fields[b"alert"] if b"alert" in fields else fields["alert"]
            outcome = await self.delivery.deliver(int(alert_id))
            sent += outcome is Outcome.SENT
            await self.client.xack(self.stream, self.GROUP, entry_id)
        return sent

    async def consume_once(self, *, block_ms: int | None = 1000) -> int:
        """Read new entries for this consumer and deliver them."""
        answer: Any = await self.client.xreadgroup(
            self.GROUP, self.consumer, {self.stream: ">"}, count=self.batch, block=block_ms
        )
        entries = [entry for _, stream_entries in answer or [] for entry in stream_entries]
        return await self._handle(entries)

    async def reclaim_once(self) -> int:
        """Take over entries another consumer read but never acknowledged, and deliver them."""
        idle_ms = int(self.claim_idle.total_seconds() * 1000)
        answer: Any = await self.client.xautoclaim(
            self.stream, self.GROUP, self.consumer, min_idle_time=idle_ms, start_id="0-0", count=self.batch
        )
        entries = answer[1]
        # Entries deleted from the stream come back without fields; there is nothing to deliver.
        return await self._handle([entry for entry in entries if entry and entry[1]])

    async def _guarded(self, step: Callable[[], Awaitable[int]]) -> int:
        """The step's result, or -1 when it failed: an outage of Redis or of the database is logged once
        when it begins and once when it ends, each under its own name. Redis counts as back only once it
        answers (a step may succeed without asking it anything, as publishing with nothing to publish)."""
        try:
            result = await step()
            if self._redis_down:
                await self.client.ping()
            if self._database_down:
                await self.delivery.database.ping()
        except RedisError as error:
            if not self._redis_down:
                self._redis_down = True
                log.warning(
                    "Redis unavailable for the alert stream (%s); alerts wait in the outbox",
                    type(error).__name__,
                )
            return -1
        except Exception as error:
            if not isinstance(error, OSError | SQLAlchemyError):
                log.exception("alert stream step failed; trying again")
            elif not self._database_down:
                self._database_down = True
                log.warning("the database is unavailable to the alert relay (%s)", type(error).__name__)
            return -1
        if self._redis_down:
            self._redis_down = False
            log.info("Redis is back; publishing the alerts that waited")
        if self._database_down:
            self._database_down = False
            log.info("the database is back for the alert relay")
        return result

    async def run_publisher(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            published = await self._guarded(self.publish_once)
            if published < self.batch:
                await _sleep_or_wake(self._wake, stop, self.poll_seconds if published >= 0 else 2.0)

    async def run_consumer(self, stop: asyncio.Event) -> None:
        ready = False
        rounds = 0
        while not stop.is_set():
            if not ready:
                ready = await self._guarded(self._ready) >= 0
                if not ready:
                    await asyncio.sleep(2.0)
                    continue
            if await self._guarded(lambda: self.consume_once(block_ms=int(self.poll_seconds * 1000))) < 0:
                ready = False
                await asyncio.sleep(2.0)
                continue
            rounds += 1
            if rounds % 20 == 0:
                await self._guarded(self.reclaim_once)

    async def _ready(self) -> int:
        await self.ensure_group()
        return 0

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(self.run_publisher(stop), self.run_consumer(stop))
