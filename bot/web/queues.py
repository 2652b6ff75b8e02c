"""The console's queues of open tickets and the filters over them.

Each queue is a view of two reads the casework already gives a person — the tickets they hold
(``Casework.mine``) and the open tickets of their areas (``Casework.queue``, breached first) — so the
console shows nobody a ticket the chat would not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import urlencode

from starlette.requests import Request

from casework.deadlines import SlaState
from casework.domain import ServiceType, TicketStatus, Urgency
from casework.reading import QueueItem

E = TypeVar("E", ServiceType, Urgency, TicketStatus)
PAGE_SIZE = 50  # rows a queue page shows at once; "more" brings the next
CRISIS = frozenset({Urgency.CRITICAL, Urgency.REVIEW})


@dataclass(frozen=True, slots=True)
class Queue:
    name: str  # its place in the address, /queue/<name>, and its words, web.queue.<name>
    pick: Callable[[list[QueueItem], list[QueueItem]], list[QueueItem]]  # (mine, the areas') → the queue's


def _unclaimed(mine: list[QueueItem], area: list[QueueItem]) -> list[QueueItem]:
    return [item for item in area if item.ticket.assignee_id is None and item.ticket.organisation_id is None]


QUEUES: Mapping[str, Queue] = {
    queue.name: queue
    for queue in (
        Queue("mine", lambda mine, area: mine),
        Queue("unclaimed", _unclaimed),
        Queue("team", lambda mine, area: area),
        Queue("overdue", lambda mine, area: [item for item in area if item.sla is SlaState.BREACHED]),
        Queue("crisis", lambda mine, area: [item for item in area if item.ticket.urgency in CRISIS]),
    )
}


@dataclass(frozen=True, slots=True)
class Filters:
    """What a queue page is narrowed to; each unset one lets everything through."""

    service: ServiceType | None = None
    urgency: Urgency | None = None
    area: int | None = None
    status: TicketStatus | None = None
    older_than_days: int | None = None

    @classmethod
    def read(cls, query: Mapping[str, str]) -> Filters:
        """The filters a page's address asks for; a value that is not one is ignored, not an error."""

        def enum(kind: type[E], name: str) -> E | None:
            try:
                return kind(query.get(name, ""))
            except ValueError:
                return None

        def number(name: str) -> int | None:
            value = query.get(name, "")
            return int(value) if value.isdigit() else None

        return cls(
            service=enum(ServiceType, "service"),
            urgency=enum(Urgency, "urgency"),
            area=number("area"),
            status=enum(TicketStatus, "status"),
            older_than_days=number("age"),
        )

    def keeps(self, item: QueueItem, now: datetime) -> bool:
        ticket = item.ticket
        return (
            (self.service is None or ticket.service_type is self.service)
            and (self.urgency is None or ticket.urgency is self.urgency)
            and (self.area is None or item.area.id == self.area)
            and (self.status is None or ticket.status is self.status)
            and (
                self.older_than_days is None
                or now - ticket.created_at >= timedelta(days=self.older_than_days)
            )
        )


def queue_items(items: list[QueueItem], filters: Filters, *, now: datetime) -> list[QueueItem]:
    """The queue's tickets the filters keep, in the casework's order (breached first)."""
    return [item for item in items if filters.keeps(item, now)]


@dataclass(frozen=True, slots=True)
class Shown:
    """Which of a queue's rows a request shows: ``PAGE_SIZE`` of them from its ``page`` on."""

    page: int
    total: int
    start: int
    end: int
    next_query: str | None  # the address's query for the rows after these, if there are more

    @classmethod
    def of(cls, request: Request, total: int) -> Shown:
        page = request.query_params.get("page", "1")
        number = max(1, int(page)) if page.isdigit() else 1
        start = min((number - 1) * PAGE_SIZE, total)
        end = min(start + PAGE_SIZE, total)
        query = None
        if end < total:
            query = urlencode({**request.query_params, "page": number + 1})
        return cls(number, total, start, end, query)
