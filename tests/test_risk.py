from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from casework.domain import InvalidInput, Refusal, Urgency
from nlu import risk
from nlu.crisis import CrisisScreener
from nlu.types import Classification, Intent, IntentScore
from nlu.understanding import ParseAssembler


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("risk-model")


@pytest.fixture(scope="module")
def screener(model_dir: Path) -> CrisisScreener:
    return CrisisScreener.load(model_dir=model_dir)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("隔壁家小孩才四岁，大人两天没回来了，一直在哭", "child_in_danger"),
        ("我妈摔倒在地上起不来了，叫她也不答应", "elder_in_danger"),
        ("孩子被他爸打得浑身青一块紫一块", "child_in_danger"),
        ("my neighbours kid, like 4 yrs old, has been alone since yesterday", "child_in_danger"),
    ],
)
def test_the_walk_through_dangers_are_critical(screener: CrisisScreener, text: str, kind: str) -> None:
    screening = screener.screen(text)
    assert screening.urgency is Urgency.CRITICAL
    assert kind in screening.kinds


@pytest.mark.parametrize(
    "text",
    [
        "你们这个表格填得我要死了",
        "我不想活得这么窝囊了，想学点技术",
        "累死了",
        "笑死",
        "这事要了我的老命",
        "this form is killing me",
    ],
)
def test_figures_of_speech_and_wanting_a_better_life_are_not_critical(
    screener: CrisisScreener, text: str
) -> None:
    assert screener.screen(text).urgency is not Urgency.CRITICAL


# Paraphrases written for this test, in none of the corpus's or the lexicon's words.
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("感觉自己活在世上就是多余的，哪天走了也好", "self_harm"),
        ("sometimes i think everyone would be happier if i just wasn't here anymore", "self_harm"),
        ("我已经想好用什么办法了结，就这几天", "self_harm"),
        ("i've been planning how to end my life", "self_harm"),
        ("我偷偷攒了好多片安定，藏在鞋盒里", "self_harm"),
        ("i stockpiled my pills and wrote letters to my family", "self_harm"),
        ("我朋友刚才吞了一大瓶药，现在人昏昏沉沉的", "self_harm"),
        ("my sister swallowed a handful of pills and is barely awake", "self_harm"),
        ("他喝多了就掐我脖子，还说要打死我", "violence"),
        ("my husband grabbed a knife and said he would finish me", "violence"),
        ("the little kid upstairs has been left on his own for two days", "child_in_danger"),
        ("楼下独居的老爷子好几天没露面，报纸堆在门口", "elder_in_danger"),
        ("my elderly neighbour collapsed in her kitchen and isn't responding", "elder_in_danger"),
        ("我真想拿刀把那个包工头砍了，刀我都准备好了", "threat_to_others"),
        ("i'm going to stab my foreman tomorrow, i already have the knife", "threat_to_others"),
    ],
)
def test_the_model_recognises_each_kind_in_words_it_never_saw(
    screener: CrisisScreener, text: str, kind: str
) -> None:
    assert screener.model is not None
    assessment = screener.model.assess(screener.prepare(text))
    assert assessment.any_crisis >= screener.thresholds.review, assessment
    assert screener.kind_of(assessment.concept) == kind, assessment


def test_an_unsure_message_goes_to_review_with_what_the_model_suspects(model_dir: Path) -> None:
    # The model's own thresholds set so that any suspicion is unsure: rules that do not fire leave
    # the message to the model, and the model cannot be sure enough to make it critical.
    unsure = CrisisScreener.load(model_dir=model_dir, thresholds=risk.Thresholds(critical=1.0, review=0.01))
    screening = unsure.screen("最近心里很乱，不知道该怎么办")
    assert screening.urgency is Urgency.REVIEW
    assert screening.kinds == ()
    (signal,) = screening.signals
    assert signal.source == "model"
    assert 0.01 <= signal.confidence < 1.0
    assert signal.kind == unsure.kind_of(signal.concept)


def test_the_rules_screen_without_a_model() -> None:
    rules_alone = CrisisScreener.load()
    assert rules_alone.model is None
    screening = rules_alone.screen("我不想活了")
    assert screening.urgency is Urgency.CRITICAL
    assert [(s.concept, s.source, s.confidence) for s in screening.signals] == [
        ("passive_death_wish", "rules", 1.0)
    ]
    assert rules_alone.screen("最近心里很乱").urgency is Urgency.NORMAL


def test_a_parse_carries_the_signals_of_its_screen(screener: CrisisScreener) -> None:
    assembler = ParseAssembler(screener)
    classification = Classification(ranking=(IntentScore(Intent.NEED_PSYCHOLOGICAL_SUPPORT, 0.9),))
    parse = assembler.assemble("I want to kill myself", None, classification, "test")
    assert parse.urgency is Urgency.CRITICAL
    assert parse.crisis_kinds == ("self_harm",)
    assert ("active_ideation", "rules", 1.0) in {
        (s.concept, s.source, s.confidence) for s in parse.crisis_signals
    }


def test_the_corpus_has_every_concept_in_both_languages_and_hundreds_of_negatives() -> None:
    corpus = risk.load_corpus()
    screener = CrisisScreener.load()
    assert set(corpus.concepts) == {concept.name for concept in screener.concepts}
    for concept in corpus.concepts:
        languages = [
            language
            for label, language in zip(corpus.labels, corpus.languages, strict=True)
            if label == concept
        ]
        assert languages.count("zh") >= 40, concept
        assert languages.count("en") >= 20, concept
    negatives = {group for label, group in zip(corpus.labels, corpus.groups, strict=True) if label == "none"}
    assert negatives >= {"figure_of_speech", "ordinary_need", "distress_not_crisis"}
    assert corpus.labels.count("none") >= 300
    assert len(set(corpus.texts)) == len(corpus.texts)


@pytest.mark.parametrize(
    ("content", "complaint", "arguments"),
    [
        ('critical:\n  self_harm:\n    zh: ["一", "二"\n  none: {}\n', Refusal.FILE_NOT_YAML_AT, {"line": 4}),
        ("critical:\n  - self_harm\n", Refusal.RISK_CORPUS_SHAPE, {}),
    ],
)
def test_a_malformed_corpus_is_refused_with_where_it_goes_wrong(
    tmp_path: Path, content: str, complaint: Refusal, arguments: dict[str, int]
) -> None:
    path = tmp_path / "corpus.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        risk.load_corpus(path)
    assert refused.value.code is complaint
    assert refused.value.arguments == {"file": str(path), **arguments}


def test_the_fast_scorer_agrees_with_the_fitted_pipeline(screener: CrisisScreener) -> None:
    assert screener.model is not None
    texts = [screener.prepare(text) for text in ("我不想活了", "hello there", "", "低保" * 2000)]
    expected = screener.model.pipeline.predict_proba(texts)
    computed = np.array([screener.model.scorer.probabilities(text) for text in texts])
    np.testing.assert_allclose(computed, expected, atol=1e-6)


def test_the_model_is_stored_and_reused_until_the_corpus_changes(tmp_path: Path) -> None:
    prepare = CrisisScreener.load().prepare
    corpus = risk.load_corpus()
    first = risk.load_or_train(tmp_path, prepare, prepare.signature, corpus)
    stored = tmp_path / risk.MODEL_FILE
    written = stored.stat().st_mtime_ns
    assert risk.load_or_train(tmp_path, prepare, prepare.signature, corpus).fingerprint == first.fingerprint
    assert stored.stat().st_mtime_ns == written
    changed = tmp_path / "corpus.yml"
    changed.write_text(
        risk.CORPUS_FILE.read_text(encoding="utf-8").replace("version: 1", "version: 1\n# changed"),
        encoding="utf-8",
    )
    retrained = risk.load_or_train(tmp_path, prepare, prepare.signature, risk.load_corpus(changed))
    assert retrained.fingerprint != first.fingerprint
    assert stored.stat().st_mtime_ns != written


def test_a_damaged_model_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / risk.MODEL_FILE).write_bytes(b"not a model")
    screener = CrisisScreener.load(model_dir=tmp_path)
    assert screener.model is not None


def test_a_child_left_hungry_with_the_adults_gone_is_a_crisis_to_the_model(screener: CrisisScreener) -> None:
    # Which concept it names wavers between child and elder ("adults unseen for days" reads like an
    # elder nobody has seen) as the corpus grows; that it is a crisis does not.
    assert screener.model is not None
    assessment = screener.model.assess(screener.prepare("对门那家的娃饿得直哭，大人好几天没见了"))
    assert assessment.any_crisis >= screener.thresholds.critical, assessment
    assert assessment.concept in ("child_in_danger", "elder_in_danger")


def test_each_example_is_also_learned_beside_an_ordinary_request_of_its_language() -> None:
    texts = ["我不想活了", "i want to end it", "想办低保", "need help with rent", "累死了"]
    labels = ["active_ideation", "active_ideation", "none", "none", "none"]
    groups = ["active_ideation", "active_ideation", "ordinary_need", "hardship", "figure_of_speech"]
    languages = ["zh", "en", "zh", "en", "zh"]

    joined, joined_labels = risk.with_context(texts, labels, groups, languages)

    assert joined[:5] == texts
    assert joined_labels == labels + labels
    assert "想办低保" in joined[5]  # beside the Chinese ordinary need
    assert "need help with rent" in joined[6]  # beside the English one
    assert "想办低保" in joined[9]  # a figure of speech is never the context
    assert all(original in text for original, text in zip(texts, joined[5:], strict=True))
    assert risk.with_context(texts, labels, groups, languages) == (joined, joined_labels)


def test_a_crisis_said_in_one_clause_of_a_request_is_critical(screener: CrisisScreener) -> None:
    text = "请问低保年审要带哪些材料？另外我已经攒了两瓶安眠药，这周就打算走了"
    assert screener.screen(text).urgency is Urgency.CRITICAL
