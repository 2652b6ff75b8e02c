"""The one interface to understanding a message, and the steps every backend shares."""

from __future__ import annotations

from typing import Protocol

from casework.domain import InvalidInput, Refusal, ServiceType, Urgency
from nlu.crisis import CrisisScreener
from nlu.embedded import EmbeddedModel
from nlu.language import detect_language
from nlu.types import SERVICE_TYPE_OF_INTENT, Classification, Intent, Parse

DEFAULT_CONFIDENCE_THRESHOLD = 0.45
DEFAULT_AMBIGUITY_MARGIN = 0.1
CRISIS_SERVICE_TYPE = ServiceType.PSYCHOLOGICAL_SUPPORT


class IntentClassifier(Protocol):
    name: str

    async def parse(self, text: str, language: str | None = None) -> Parse: ...

    async def aclose(self) -> None: ...


class ParseAssembler:
    """Turns a backend's ranking into a ``Parse``: crisis screen, fallback decision, service type.

    Below the confidence threshold, or when the best two are within the margin, the parse says
    ``nlu_fallback`` and carries the two candidates, so a dialog can ask instead of guessing.
    """

    def __init__(
        self,
        screener: CrisisScreener,
        *,
        confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
        ambiguity_margin: float = DEFAULT_AMBIGUITY_MARGIN,
        default_language: str = "zh",
    ) -> None:
        self.screener = screener
        self.confidence_threshold = confidence_threshold
        self.ambiguity_margin = ambiguity_margin
        self.default_language = default_language

    def assemble(
        self, text: str, language: str | None, classification: Classification, backend: str
    ) -> Parse:
        ranking = classification.ranking
        if not ranking:
            raise ValueError("a classification needs at least one intent")
        top = ranking[0]
        runner_up = ranking[1] if len(ranking) > 1 else None
        uncertain = top.confidence < self.confidence_threshold or (
            runner_up is not None and top.confidence - runner_up.confidence < self.ambiguity_margin
        )
        intent = Intent.NLU_FALLBACK if uncertain else top.intent
        screening = self.screener.screen(text)
        service_type = SERVICE_TYPE_OF_INTENT.get(intent)
        if screening.urgency is Urgency.CRITICAL and service_type is None:
            service_type = CRISIS_SERVICE_TYPE
        return Parse(
            text=text,
            language=language or detect_language(text, self.default_language),
            intent=intent,
            confidence=top.confidence,
            ranking=ranking,
            entities=classification.entities,
            service_type=service_type,
            urgency=screening.urgency,
            crisis_kinds=screening.kinds,
            crisis_signals=screening.signals,
            candidates=tuple(ranking[:2]) if uncertain else (),
            backend=backend,
        )


def require_text(text: str) -> str:
    if not text or not text.strip():
        raise InvalidInput(Refusal.NLU_TEXT_EMPTY)
    return text


class EmbeddedClassifier:
    """The scikit-learn model in this process."""

    name = "embedded"

    def __init__(self, model: EmbeddedModel, assembler: ParseAssembler) -> None:
        self.model = model
        self.assembler = assembler

    def parse_now(self, text: str, language: str | None = None, *, backend: str = "embedded") -> Parse:
        """The same as ``parse``, for callers without an event loop (it never waits on anything)."""
        require_text(text)
        return self.assembler.assemble(text, language, self.model.classify(text), backend)

    async def parse(self, text: str, language: str | None = None) -> Parse:
        return self.parse_now(text, language)

    async def aclose(self) -> None:
        return None
