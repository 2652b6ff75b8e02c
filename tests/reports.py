"""The need most tests open a ticket for: a resident who cannot pay the rent."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from casework.domain import Channel, ServiceType, Urgency
from casework.opening import NewReport


def rent_need(area_id: int, **changes: Any) -> NewReport:
    """「房租交不起了」 in ``area_id``: resource linking, normal urgency, told at the console; ``changes``
    replace any part of it."""
    need = NewReport(
        text="房租交不起了",
        language="zh",
        intent="need_resource_linking",
        confidence=0.9,
        service_type=ServiceType.RESOURCE_LINKING,
        urgency=Urgency.NORMAL,
        area_id=area_id,
        channel=Channel.CONSOLE,
    )
    return replace(need, **changes)
