from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from casework.domain import InvalidInput
from nlu.policy import KNOWLEDGE_FILE, PolicyKnowledgeBase, chinese_number

EIGHT_KINDS = (
    "最低生活保障",
    "特困人员",
    "受灾人员",
    "医疗救助",
    "教育救助",
    "住房救助",
    "就业救助",
    "临时救助",
)
VARIANTS = [
    pytest.param(entry.id, language, question, id=f"{entry.id}:{language}:{n}")
    for entry in PolicyKnowledgeBase.load().entries
    for language, questions in entry.questions.items()
    for n, question in enumerate(questions)
]


@pytest.fixture(scope="module")
def knowledge() -> PolicyKnowledgeBase:
    return PolicyKnowledgeBase.load()


def test_the_knowledge_base_has_at_least_30_cited_bilingual_entries(knowledge: PolicyKnowledgeBase) -> None:
    assert len(knowledge.entries) >= 30
    for entry in knowledge.entries:
        assert entry.citation.document
        assert entry.citation.articles or entry.citation.section
        for language in ("zh", "en"):
            assert entry.answer[language]
            assert entry.local_note[language]
            assert entry.questions[language]


def test_the_eight_kinds_of_assistance_and_where_to_apply_are_covered(knowledge: PolicyKnowledgeBase) -> None:
    text = "\n".join(entry.answer["zh"] + "".join(entry.questions["zh"]) for entry in knowledge.entries)
    for kind in EIGHT_KINDS:
        assert kind in text, kind
    for office in ("乡镇人民政府", "街道办事处", "民政部门"):
        assert office in text, office


@pytest.mark.parametrize(("entry_id", "language", "question"), VARIANTS)
def test_each_question_variant_retrieves_its_own_entry_first(
    knowledge: PolicyKnowledgeBase, entry_id: str, language: str, question: str
) -> None:
    answer = knowledge.ask(question, language)
    assert answer.best is not None
    assert answer.best.entry.id == entry_id
    assert answer.confident


@pytest.mark.parametrize(
    "question", ["明天天气怎么样", "what's the weather tomorrow", "推荐一部好看的电影", "tell me a joke"]
)
def test_an_unrelated_question_is_answered_as_unsure(knowledge: PolicyKnowledgeBase, question: str) -> None:
    assert not knowledge.ask(question).confident


@pytest.mark.parametrize(
    "question",
    [
        "低保怎么申请",
        "How do I apply for the minimum living allowance?",
        "孩子上学的费用没着落，能申请教育救助吗？",
        "临时救助 临时救助 临时救助",  # repeated n-grams: the sublinear term frequency
        "zzqx",  # no n-gram in the vocabulary
        "   ",
    ],
)
def test_similarities_agree_with_the_fitted_vectorizer(knowledge: PolicyKnowledgeBase, question: str) -> None:
    vectorizer = knowledge.vectorizer
    documents = knowledge._by_gram.T.tocsr()
    expected = (documents @ vectorizer.transform([question]).T).toarray().ravel()
    assert np.allclose(knowledge._similarities(question), expected, atol=1e-12)


def test_answers_come_with_scores_ranked_and_in_the_asked_language(knowledge: PolicyKnowledgeBase) -> None:
    answer = knowledge.ask("how much money do people on dibao get each month")
    assert answer.language == "en"
    scores = [match.score for match in answer.matches]
    assert scores == sorted(scores, reverse=True)
    assert len(answer.matches) == 3
    assert answer.best is not None
    assert "dibao" in answer.best.entry.id


def test_citations_render_in_both_languages(knowledge: PolicyKnowledgeBase) -> None:
    entry = next(entry for entry in knowledge.entries if entry.citation.articles == ("第十一条",))
    assert entry.citation.render("zh") == "《社会救助暂行办法》第十一条"
    assert entry.citation.render("en").endswith("Article 11")


@pytest.mark.parametrize(
    ("text", "number"),
    [("九", 9), ("十", 10), ("十一", 11), ("二十三", 23), ("五十五", 55), ("一百零五", 105)],
)
def test_chinese_article_numbers_are_read(text: str, number: int) -> None:
    assert chinese_number(text) == number


def test_an_empty_question_is_refused(knowledge: PolicyKnowledgeBase) -> None:
    with pytest.raises(InvalidInput):
        knowledge.ask("  ")


def test_an_entry_without_a_citation_is_refused(tmp_path: Path) -> None:
    document = yaml.safe_load(KNOWLEDGE_FILE.read_text(encoding="utf-8"))
    document["entries"][0]["source"] = {"document": "社会救助暂行办法", "articles": []}
    path = tmp_path / "policy.yml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InvalidInput, match="needs a source document and an article or section"):
        PolicyKnowledgeBase.load(path)
