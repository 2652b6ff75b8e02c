from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from casework.domain import InvalidInput, Refusal, ServiceType, Urgency
from nlu import embedded
from nlu.crisis import CrisisScreener
from nlu.embedded import EmbeddedModel
from nlu.evaluation import score
from nlu.language import detect_language
from nlu.training_data import RASA_PROJECT, TRAINING_DATA, TrainingData, load_project_data, load_training_data
from nlu.types import LABELS, Classification, Intent, IntentScore
from nlu.understanding import EmbeddedClassifier, ParseAssembler

HELD_OUT = Path(__file__).parent / "data" / "nlu_heldout.yml"
NEED_INTENTS = {
    "need_social_integration",
    "need_capacity_building",
    "need_psychological_support",
    "need_resource_linking",
    "ask_policy",
    "policy_feedback",
    "flag_household",
}


@pytest.fixture(scope="module")
def data() -> TrainingData:
    return load_project_data()


@pytest.fixture(scope="module")
def model(data: TrainingData) -> EmbeddedModel:
    return EmbeddedModel.train(data)


@pytest.fixture(scope="module")
def classifier(model: EmbeddedModel) -> EmbeddedClassifier:
    return EmbeddedClassifier(model, ParseAssembler(CrisisScreener.load()))


def test_the_training_data_has_every_label_with_enough_varied_examples(data: TrainingData) -> None:
    counts = dict.fromkeys(LABELS, 0)
    for example in data.examples:
        counts[Intent(example.intent)] += 1
    for intent, count in counts.items():
        assert count >= (40 if intent.value in NEED_INTENTS else 15), intent
    english = sum(1 for example in data.examples if detect_language(example.text) == "en")
    assert 0.25 <= english / len(data.examples) <= 0.45
    texts = [example.text for example in data.examples]
    assert len(set(texts)) == len(texts)


def test_the_rasa_domain_lists_exactly_the_labels_and_the_annotated_entities(data: TrainingData) -> None:
    domain = yaml.safe_load((RASA_PROJECT / "domain.yml").read_text(encoding="utf-8"))
    assert domain["intents"] == [intent.value for intent in LABELS]
    annotated = {entity.entity for example in data.examples for entity in example.entities}
    assert annotated == set(domain["entities"]) == {"area", "household_type", "resource", "person"}


def test_the_held_out_file_is_not_training_data(data: TrainingData) -> None:
    held_out = load_training_data([HELD_OUT])
    assert len(held_out.examples) >= 150
    english = sum(1 for example in held_out.examples if detect_language(example.text) == "en")
    assert english / len(held_out.examples) >= 0.3
    assert not {e.text for e in held_out.examples} & {e.text for e in data.examples}


def test_the_embedded_model_reaches_macro_f1_090_on_the_held_out_file(model: EmbeddedModel) -> None:
    held_out = load_training_data([HELD_OUT])
    texts, gold = held_out.texts_and_labels()
    predicted = [model.classify(text).ranking[0].intent.value for text in texts]
    result = score(gold, predicted)
    assert result.macro_f1 >= 0.90, result.confusions


def test_the_fast_scorer_agrees_with_the_fitted_pipeline(model: EmbeddedModel) -> None:
    texts = [*load_training_data([HELD_OUT]).texts_and_labels()[0], "", "  ", "😀😀😀", "低保" * 3000]
    expected = model.pipeline.predict_proba(texts)
    computed = np.array([model.scorer.probabilities(text) for text in texts])
    np.testing.assert_allclose(computed, expected, atol=1e-6)


def test_entities_are_found_and_synonyms_mapped(classifier: EmbeddedClassifier) -> None:
    parse = classifier.parse_now("最低生活保障怎么申请？我家是独居老人")
    found = {(entity.entity, entity.value, entity.text) for entity in parse.entities}
    assert ("resource", "低保", "最低生活保障") in found
    assert ("household_type", "独居老人", "独居老人") in found
    first = parse.entities[0]
    assert parse.text[first.start : first.end] == first.text


@pytest.mark.parametrize(
    ("text", "intent", "service_type"),
    [
        ("房租交不起了，能不能帮帮我", Intent.NEED_RESOURCE_LINKING, ServiceType.RESOURCE_LINKING),
        (
            "I want to learn a skill so I can find a job",
            Intent.NEED_CAPACITY_BUILDING,
            ServiceType.CAPACITY_BUILDING,
        ),
        ("低保怎么申请", Intent.ASK_POLICY, ServiceType.POLICY_ADVOCACY),
        ("你好", Intent.GREET, None),
    ],
)
def test_clear_messages_get_their_intent_and_service_type(
    classifier: EmbeddedClassifier, text: str, intent: Intent, service_type: ServiceType | None
) -> None:
    parse = classifier.parse_now(text)
    assert parse.intent is intent
    assert parse.service_type is service_type
    assert parse.backend == "embedded"
    assert parse.ranking[0].confidence == parse.confidence
    assert abs(sum(score.confidence for score in parse.ranking) - 1) < 1e-6


@pytest.mark.parametrize(
    "text",
    [
        "房东说明天就把我们一家赶出去",
        "The landlord says he'll throw my family out tomorrow",
        "房子漏雨了，能不能申请住房救助",
        "our roof leaks, can we get housing assistance",
        "我住光明社区，家里断粮了",
    ],
)
def test_a_residents_own_trouble_is_their_need_for_resources_not_a_flag_nor_policy(
    classifier: EmbeddedClassifier, text: str
) -> None:
    parse = classifier.parse_now(text)
    assert parse.intent is Intent.NEED_RESOURCE_LINKING, parse.ranking[:3]


@pytest.mark.parametrize(
    "text",
    [
        "楼上那家房东说明天就把他们一家赶出去",
        "the landlord says he'll throw the family next door out tomorrow",
        "my neighbour's family has run out of food",
    ],
)
def test_the_same_trouble_of_another_household_is_a_flag(classifier: EmbeddedClassifier, text: str) -> None:
    assert classifier.parse_now(text).intent is Intent.FLAG_HOUSEHOLD


def test_a_crisis_message_is_critical_whatever_its_intent(classifier: EmbeddedClassifier) -> None:
    parse = classifier.parse_now("我不想活了")
    assert parse.urgency is Urgency.CRITICAL
    assert parse.crisis_kinds == ("self_harm",)
    assert parse.service_type is ServiceType.PSYCHOLOGICAL_SUPPORT


def test_empty_text_is_refused(classifier: EmbeddedClassifier) -> None:
    with pytest.raises(InvalidInput) as refused:
        classifier.parse_now("   ")
    assert refused.value.code is Refusal.NLU_TEXT_EMPTY


def test_a_very_long_message_is_classified_and_screened_in_full(classifier: EmbeddedClassifier) -> None:
    text = "我想问问低保的事情。" * 400 + "我不想活了"
    parse = classifier.parse_now(text)
    assert parse.urgency is Urgency.CRITICAL
    assert parse.text == text


def _assembled(*scores: tuple[Intent, float]) -> Classification:
    return Classification(ranking=tuple(IntentScore(intent, confidence) for intent, confidence in scores))


def test_a_low_confidence_parse_falls_back_with_the_two_best_candidates() -> None:
    assembler = ParseAssembler(CrisisScreener.load(), confidence_threshold=0.45, ambiguity_margin=0.1)
    low = assembler.assemble(
        "x",
        None,
        _assembled((Intent.ASK_POLICY, 0.40), (Intent.POLICY_FEEDBACK, 0.20), (Intent.GREET, 0.1)),
        "t",
    )
    assert low.intent is Intent.NLU_FALLBACK
    assert low.is_fallback
    assert [c.intent for c in low.candidates] == [Intent.ASK_POLICY, Intent.POLICY_FEEDBACK]
    assert low.service_type is None
    close = assembler.assemble(
        "x", None, _assembled((Intent.ASK_POLICY, 0.50), (Intent.POLICY_FEEDBACK, 0.45)), "t"
    )
    assert close.is_fallback
    sure = assembler.assemble(
        "x", None, _assembled((Intent.ASK_POLICY, 0.60), (Intent.POLICY_FEEDBACK, 0.30)), "t"
    )
    assert sure.intent is Intent.ASK_POLICY
    assert sure.candidates == ()


def test_the_model_is_stored_and_reused_until_the_data_changes(tmp_path: Path, data: TrainingData) -> None:
    first = embedded.load_or_train(tmp_path, data)
    stored = tmp_path / embedded.MODEL_FILE
    written = stored.stat().st_mtime_ns
    again = embedded.load_or_train(tmp_path, data)
    assert stored.stat().st_mtime_ns == written
    assert again.fingerprint == first.fingerprint

    changed_file = tmp_path / "nlu.yml"
    changed_file.write_text(
        TRAINING_DATA.read_text(encoding="utf-8") + "\n- intent: greet\n  examples: |\n    - 早上好呀朋友\n",
        encoding="utf-8",
    )
    changed = load_training_data([changed_file])
    retrained = embedded.load_or_train(tmp_path, changed)
    assert retrained.fingerprint == changed.fingerprint != first.fingerprint
    assert stored.stat().st_mtime_ns != written


def test_a_damaged_model_file_is_replaced(tmp_path: Path, data: TrainingData) -> None:
    (tmp_path / embedded.MODEL_FILE).write_bytes(b"not a model")
    model = embedded.load_or_train(tmp_path, data)
    assert model.fingerprint == data.fingerprint
    assert embedded.load_or_train(tmp_path, data).fingerprint == data.fingerprint


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("nlu: [", Refusal.FILE_NOT_YAML),
        ("version: '3.1'\n", Refusal.RASA_NOT_NLU_DATA),
        ("nlu:\n- intent: greet\n  examples: |\n    hello\n", Refusal.RASA_EXAMPLE_LINE),
        ('nlu:\n- intent: greet\n  examples: |\n    - [x]{"entity": }\n', Refusal.RASA_ANNOTATION_NOT_JSON),
    ],
)
def test_malformed_training_data_is_refused_clearly(tmp_path: Path, content: str, complaint: Refusal) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        load_training_data([path])
    assert refused.value.code is complaint


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("你好", "zh"),
        ("hello there", "en"),
        ("我要申请dibao", "zh"),
        ("SA-20261129-0042", "en"),
        ("😀", "zh"),
    ],
)
def test_the_language_is_told_from_the_script(text: str, language: str) -> None:
    assert detect_language(text) == language
