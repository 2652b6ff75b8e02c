"""The need most tests open a ticket for: a resident who cannot pay the rent."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from casework.domain import Channel, NeedReport, ServiceType, Urgency
from casework.opening import NewReport
from storage.repositories import Transaction

# 「房租交不起了」 as the NLU reads it
RENT: dict[str, Any] = {
    "text": "房租交不起了",
    "language": "zh",
    "intent": "need_resource_linking",
    "confidence": 0.9,
    "urgency": Urgency.NORMAL,
}


def rent_need(area_id: int, **changes: Any) -> NewReport:
    """「房租交不起了」 in ``area_id``: resource linking, normal urgency, told at the console; ``changes``
    replace any part of it."""
    need = NewReport(
        **RENT, service_type=ServiceType.RESOURCE_LINKING, area_id=area_id, channel=Channel.CONSOLE
    )
    return replace(need, **changes)


async def store_report(tx: Transaction, now: datetime, **fields: Any) -> NeedReport:
    """A need report written straight to the store at ``now``: 「房租交不起了」 (resource linking, normal
    urgency) told on Telegram, with no service type; ``fields`` replace or add to any of it
    (``tx.reports.add``'s keywords)."""
    return await tx.reports.add(now=now, **(RENT | {"channel": Channel.TELEGRAM} | fields))
