"""The Rasa backend: ``POST /model/parse`` on a Rasa server, with the embedded model behind it.

Each request has a short timeout and one retry on a connection failure; a circuit breaker stops
asking a server that keeps failing. Whenever Rasa cannot answer, the embedded classifier does, and
the outage is logged once, not once per message.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_fixed

from nlu.types import Classification, Entity, Intent, IntentScore, Parse
from nlu.understanding import EmbeddedClassifier, ParseAssembler, require_text

log = logging.getLogger(__name__)

_KNOWN_INTENTS = {intent.value for intent in Intent} - {Intent.NLU_FALLBACK.value}


class RasaUnavailable(Exception):
    pass


def _worth_retrying(error: BaseException) -> bool:
    """A refused or dropped connection, or a server error; not a timeout, which would only wait again."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code >= 500
    return isinstance(error, httpx.TransportError) and not isinstance(error, httpx.TimeoutException)


def classification_from_rasa(body: dict[str, Any], text: str) -> Classification:
    """Rasa's answer in our terms; its own ``nlu_fallback`` is dropped, ours is decided later."""
    ranking_source = body.get("intent_ranking") or ([body["intent"]] if body.get("intent") else [])
    ranking = tuple(
        IntentScore(Intent(item["name"]), float(item["confidence"]))
        for item in ranking_source
        if item.get("name") in _KNOWN_INTENTS
    )
    if not ranking:
        raise RasaUnavailable("the Rasa model answered with none of the project's intents")
    entities = tuple(
        Entity(
            entity=str(item["entity"]),
            value=str(item.get("value", text[item["start"] : item["end"]])),
            start=int(item["start"]),
            end=int(item["end"]),
            text=text[item["start"] : item["end"]],
        )
        for item in body.get("entities") or []
        if {"entity", "start", "end"} <= item.keys()
    )
    return Classification(ranking=tuple(sorted(ranking, key=lambda s: -s.confidence)), entities=entities)


class RasaClassifier:
    name = "rasa"

    def __init__(
        self,
        url: str,
        fallback: EmbeddedClassifier,
        assembler: ParseAssembler,
        *,
        timeout: float = 2.0,
        retries: int = 1,
        breaker_threshold: int = 3,
        breaker_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.fallback = fallback
        self.assembler = assembler
        self.retries = retries
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout, transport=transport)
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=breaker_threshold, default_ttl=breaker_seconds
        )
        self._in_outage = False

    async def _ask_rasa(self, text: str) -> Classification:
        try:
            breaker = await self._breakers.get_breaker("rasa")
            async with breaker:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self.retries + 1),
                    wait=wait_fixed(0.05),
                    retry=retry_if_exception(_worth_retrying),
                    reraise=True,
                ):
                    with attempt:
                        response = await self._client.post("/model/parse", json={"text": text})
                        response.raise_for_status()
                        body = response.json()
        except OpenedState:
            raise RasaUnavailable("circuit open after repeated failures") from None
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from None
        except ValueError:
            raise RasaUnavailable("the answer was not JSON") from None
        return classification_from_rasa(body, text)

    async def parse(self, text: str, language: str | None = None) -> Parse:
        require_text(text)
        try:
            classification = await self._ask_rasa(text)
        except RasaUnavailable as why:
            if not self._in_outage:
                self._in_outage = True
                log.warning(
                    "Rasa server at %s unavailable (%s); answering with the embedded model", self.url, why
                )
            return self.fallback.parse_now(text, language, backend="embedded (rasa unavailable)")
        if self._in_outage:
            self._in_outage = False
            log.info("Rasa server at %s answers again", self.url)
        return self.assembler.assemble(text, language, classification, backend="rasa")

    async def aclose(self) -> None:
        await self._client.aclose()
