"""The one place that chooses implementations from the settings."""

from __future__ import annotations

from bot.settings import NluBackend, Settings
from nlu import embedded
from nlu.crisis import CrisisScreener
from nlu.policy import PolicyKnowledgeBase
from nlu.rasa_client import RasaClassifier
from nlu.understanding import EmbeddedClassifier, IntentClassifier, ParseAssembler


def build_embedded_classifier(settings: Settings) -> EmbeddedClassifier:
    assembler = ParseAssembler(CrisisScreener.load(), default_language=settings.default_language.value)
    return EmbeddedClassifier(embedded.load_or_train(settings.nlu_model_dir), assembler)


def build_classifier(settings: Settings, backend: NluBackend | None = None) -> IntentClassifier:
    local = build_embedded_classifier(settings)
    if (backend or settings.nlu_backend) is NluBackend.RASA:
        return RasaClassifier(settings.rasa_url, local, local.assembler, timeout=settings.rasa_timeout)
    return local


def build_knowledge_base() -> PolicyKnowledgeBase:
    return PolicyKnowledgeBase.load()
