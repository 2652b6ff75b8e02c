"""A household's assessment as a worker records it, for tests: every question of the form answered."""

from __future__ import annotations

from typing import Any

from casework.domain import ServiceType


def answers(*, risk: str = "medium", **changed: Any) -> dict[str, Any]:
    """Answers to every question of ``casework/data/assessment.yml`` (an elder living alone on a small
    pension, behind with the rent), with ``risk`` and any answer ``changed``."""
    given: dict[str, Any] = {
        "members": [
            {"relationship": "self", "age_band": "age_80_plus", "status": ["dibao", "disability"]},
        ],
        "income_sources": ["pension", "dibao"],
        "income_adequacy": "not_enough",
        "housing": "rent",
        "housing_condition": "needs_repair",
        "health_needs": ["chronic_illness"],
        "care_needs": "some",
        "schooling": "no_children",
        "employment": "retired",
        "family_support": "none",
        "neighbour_support": "some",
        "isolation": "somewhat",
        "psychological_state": "stressed",
        "risk_level": risk,
        "risk_reasons": "独居高龄，房租拖欠两个月",
        "needs": {kind.value: "none" for kind in ServiceType}
        | {"resource_linking": "high", "social_integration": "medium"},
    }
    return given | changed
