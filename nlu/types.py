"""What understanding a message yields: intents, entities, urgency and the parse that carries them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from casework.domain import ServiceType, Urgency


class Intent(StrEnum):
    NEED_SOCIAL_INTEGRATION = "need_social_integration"
    NEED_CAPACITY_BUILDING = "need_capacity_building"
    NEED_PSYCHOLOGICAL_SUPPORT = "need_psychological_support"
    NEED_RESOURCE_LINKING = "need_resource_linking"
    ASK_POLICY = "ask_policy"
    POLICY_FEEDBACK = "policy_feedback"
    FLAG_HOUSEHOLD = "flag_household"
    CHECK_TICKET_STATUS = "check_ticket_status"
    GREET = "greet"
    GOODBYE = "goodbye"
    THANKS = "thanks"
    AFFIRM = "affirm"
    DENY = "deny"
    OUT_OF_SCOPE = "out_of_scope"
    NLU_FALLBACK = "nlu_fallback"


LABELS: tuple[Intent, ...] = tuple(intent for intent in Intent if intent is not Intent.NLU_FALLBACK)

SERVICE_TYPE_OF_INTENT: dict[Intent, ServiceType] = {
    Intent.NEED_SOCIAL_INTEGRATION: ServiceType.SOCIAL_INTEGRATION,
    Intent.NEED_CAPACITY_BUILDING: ServiceType.CAPACITY_BUILDING,
    Intent.NEED_PSYCHOLOGICAL_SUPPORT: ServiceType.PSYCHOLOGICAL_SUPPORT,
    Intent.NEED_RESOURCE_LINKING: ServiceType.RESOURCE_LINKING,
    Intent.ASK_POLICY: ServiceType.POLICY_ADVOCACY,
    Intent.POLICY_FEEDBACK: ServiceType.POLICY_ADVOCACY,
}


@dataclass(frozen=True, slots=True)
class IntentScore:
    intent: Intent
    confidence: float


@dataclass(frozen=True, slots=True)
class Entity:
    entity: str
    value: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class CrisisSignal:
    """One critical concept a screen found: the coarse kind of danger it is, which reader found it
    (``rules`` or ``model``) and how sure that reader is (a rule that fires is 1.0)."""

    concept: str
    kind: str
    source: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Screening:
    """The crisis screen of one message: its urgency, the kinds of danger that pick the hotlines
    (critical only), and the signals behind it (for review, what the model suspects)."""

    urgency: Urgency
    kinds: tuple[str, ...] = ()
    signals: tuple[CrisisSignal, ...] = ()


@dataclass(frozen=True, slots=True)
class Classification:
    """What a classifier backend says: intents ranked best first, and the entities it found."""

    ranking: tuple[IntentScore, ...]
    entities: tuple[Entity, ...] = ()


@dataclass(frozen=True, slots=True)
class Parse:
    text: str
    language: str
    intent: Intent
    confidence: float
    ranking: tuple[IntentScore, ...]
    entities: tuple[Entity, ...]
    service_type: ServiceType | None
    urgency: Urgency
    crisis_kinds: tuple[str, ...] = ()
    crisis_signals: tuple[CrisisSignal, ...] = ()
    candidates: tuple[IntentScore, ...] = field(default=())
    backend: str = ""

    @property
    def is_fallback(self) -> bool:
        return self.intent is Intent.NLU_FALLBACK

    @property
    def top(self) -> IntentScore:
        """The best intent the classifier saw, even when the parse fell back."""
        return self.ranking[0]
