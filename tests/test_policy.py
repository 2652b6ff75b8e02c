from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from casework.domain import InvalidInput, Refusal
from nlu.policy import KNOWLEDGE_FILE, OutOfScope, PolicyEntry, PolicyKnowledgeBase, chinese_number
from nlu.policy_evaluation import evaluate_policy, load_policy_cases
from nlu.policy_terms import Lexicon

DATA = Path(__file__).parent / "data"

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


def assert_answered_surely(knowledge: PolicyKnowledgeBase, question: str, entry_id: str) -> None:
    answer = knowledge.ask(question)
    assert answer.best is not None
    assert answer.best.entry.id == entry_id
    assert answer.confident


@pytest.mark.parametrize(("entry_id", "language", "question"), VARIANTS)
def test_each_question_variant_retrieves_its_own_entry_first(
    knowledge: PolicyKnowledgeBase, entry_id: str, language: str, question: str
) -> None:
    answer = knowledge.ask(question, language)
    assert answer.best is not None
    assert answer.best.entry.id == entry_id


def test_the_knowledge_base_is_sure_of_nearly_all_its_own_phrasings(knowledge: PolicyKnowledgeBase) -> None:
    # A few phrasings sit between two entries of one programme on purpose ("临时救助怎么申请"): the
    # margin may leave those unsure, never most of them.
    answers = [
        knowledge.ask(question, language)
        for entry in knowledge.entries
        for language, questions in entry.questions.items()
        for question in questions
    ]
    assert sum(answer.confident for answer in answers) / len(answers) >= 0.97


@pytest.mark.parametrize(
    "question", ["明天天气怎么样", "what's the weather tomorrow", "推荐一部好看的电影", "tell me a joke"]
)
def test_an_unrelated_question_is_answered_as_unsure(knowledge: PolicyKnowledgeBase, question: str) -> None:
    assert not knowledge.ask(question).confident


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
    with pytest.raises(InvalidInput) as refused:
        knowledge.ask("  ")
    assert refused.value.code is Refusal.POLICY_QUESTION_EMPTY


def test_an_entry_without_a_citation_is_refused(tmp_path: Path) -> None:
    document = yaml.safe_load(KNOWLEDGE_FILE.read_text(encoding="utf-8"))
    document["entries"][0]["source"] = {"document": "社会救助暂行办法", "articles": []}
    path = tmp_path / "policy.yml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        PolicyKnowledgeBase.load(path)
    assert refused.value.code is Refusal.POLICY_ENTRY_NEEDS_SOURCE


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        # common paraphrases once answered wrongly
        ("租不起房子，公租房怎么申请", "housing-assistance-application"),
        ("我儿子是二级残疾，每个月能领什么补贴", "disability-allowances"),
        ("how much is the minimum living allowance per month", "dibao-payment-amount"),
        # who may apply and how to apply are told apart within a programme
        ("看病的钱医保报完还差好多，怎么办", "medical-assistance-eligibility"),
        ("医疗救助去哪里申请，要什么手续", "medical-assistance-application"),
        ("失业了找不到工作，政府能帮我吗", "employment-assistance-eligibility"),
        ("家里着火了东西全烧了，能申请临时救助吗", "temporary-assistance-eligibility"),
    ],
)
def test_a_question_finds_the_entry_that_answers_it(
    knowledge: PolicyKnowledgeBase, question: str, entry_id: str
) -> None:
    answer = knowledge.ask(question)
    assert answer.best is not None
    assert answer.best.entry.id == entry_id


@pytest.mark.parametrize(
    "question",
    [
        "公积金怎么提取",
        "离婚财产怎么分",
        "护照在哪里办理",
        "how do I renew my passport",
        "recommend a good restaurant",
    ],
)
def test_a_question_no_entry_answers_is_not_sure(knowledge: PolicyKnowledgeBase, question: str) -> None:
    assert not knowledge.ask(question).confident


def test_synonyms_fold_to_one_concept() -> None:
    lexicon = Lexicon.load()
    assert lexicon.terms("公租房") == lexicon.terms("廉租房") == lexicon.terms("public housing")
    assert lexicon.terms("最低生活保障") == lexicon.terms("吃低保") == lexicon.terms("dibao")
    assert lexicon.terms("五保户") == lexicon.terms("特困人员")


def _twin_entries() -> list[PolicyEntry]:
    """Two entries asked in the same words: a question in those words could be either."""
    entry = PolicyKnowledgeBase.load().entries[0]
    twin = PolicyEntry(
        id="twin",
        topic=entry.topic,
        questions=entry.questions,
        answer=entry.answer,
        citation=entry.citation,
        local_note=entry.local_note,
    )
    return [entry, twin]


def test_a_best_match_level_with_the_next_entry_is_not_sure() -> None:
    knowledge = PolicyKnowledgeBase(_twin_entries())
    answer = knowledge.ask(knowledge.entries[0].questions["zh"][0])
    assert answer.best is not None
    assert answer.best.score >= knowledge.confidence
    assert not answer.confident


def test_without_a_margin_the_same_match_would_be_answered() -> None:
    knowledge = PolicyKnowledgeBase(_twin_entries(), margin=0.0)
    assert knowledge.ask(knowledge.entries[0].questions["zh"][0]).confident


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("残疾人两项补贴怎么申请", "disability-allowances"),
        ("有养老金还能吃低保吗", "pension-and-dibao"),
        ("户口在外地，能在居住地申请低保吗", "apply-outside-hukou"),
        ("地震把房子震塌了有重建补助吗", "house-collapsed-after-disaster"),
        ("村干部的亲戚吃低保合规吗", "officials-relatives-dibao"),
        ("社会救助暂行办法2019年修订过吗", "interim-measures-2019-revision"),
        ("Does a pension count as income for dibao?", "pension-and-dibao"),
    ],
)
def test_the_new_everyday_entries_are_found(
    knowledge: PolicyKnowledgeBase, question: str, entry_id: str
) -> None:
    assert_answered_surely(knowledge, question, entry_id)


def test_the_2015_opinion_is_cited_by_its_number(knowledge: PolicyKnowledgeBase) -> None:
    for entry in knowledge.entries:
        if "社会救助领域社会工作" in entry.citation.document:
            assert "民发〔2015〕88号" in entry.citation.document
            assert "No. 88" in entry.citation.document_en


def test_the_development_set_meets_the_targets(knowledge: PolicyKnowledgeBase) -> None:
    result = evaluate_policy(knowledge, load_policy_cases(DATA / "policy_dev.yml"))
    assert result.top1_accuracy >= 0.9
    assert result.wrong_and_confident <= 0.02
    assert result.unsure_on_unanswerable >= 0.95


def test_the_second_development_set_written_apart_from_the_phrasings_holds_up(
    knowledge: PolicyKnowledgeBase,
) -> None:
    result = evaluate_policy(knowledge, load_policy_cases(DATA / "policy_dev2.yml"))
    assert result.top1_accuracy >= 0.9
    assert result.wrong_and_confident <= 0.03
    assert result.unsure_on_unanswerable >= 0.95


def test_the_once_blind_v1_set_holds_up(knowledge: PolicyKnowledgeBase) -> None:
    # Its unanswerable questions are in out_of_scope.yml now, so "not sure" on them is no longer a
    # measure; the floor only keeps them from coming back. See the next test for a held-out figure.
    result = evaluate_policy(knowledge, load_policy_cases(DATA / "policy_v1.yml"))
    assert result.top1_accuracy >= 0.92
    assert result.wrong_and_confident <= 0.02
    assert result.unsure_on_unanswerable >= 0.95


def test_v1s_unanswerable_questions_are_unsure_even_when_none_of_them_is_learned() -> None:
    cases = load_policy_cases(DATA / "policy_v1.yml")
    held_out = {case.text for case in cases if case.expected is None}
    learned = OutOfScope.load()
    without_v1 = OutOfScope(
        questions=tuple(question for question in learned.questions if question not in held_out),
        field_words=learned.field_words,
    )
    assert len(without_v1.questions) < len(learned.questions)
    knowledge = PolicyKnowledgeBase(PolicyKnowledgeBase.load().entries, out_of_scope=without_v1)
    result = evaluate_policy(knowledge, cases)
    assert result.unsure_on_unanswerable >= 0.9
    assert result.wrong_and_confident <= 0.02


@pytest.mark.parametrize(
    "question",
    [
        "我爸的退休金今年能涨多少",
        "退休年龄到底是多少岁",
        "住院医保能报百分之多少",
        "孩子户口怎么落到城里",
        "宝宝出生了怎么办户口",
        "领结婚证需要什么材料",
        "身份证过期了去哪换",
        "区民政局的电话号码是多少",
        "孩子上初中怎么报名",
        "公积金能取出来吗",
        "社保一年要交多少钱",
        "拆迁款怎么算",
        "失业金能领多久",
        "how old do I have to be to retire",
        "how much does medical insurance pay back for an operation",
        "how do we register our newborn's hukou",
        "how do I get a new ID card",
        "what time does the civil affairs office open",
        "what is the phone number of the street office",
    ],
)
def test_a_near_domain_question_no_entry_answers_is_not_sure(
    knowledge: PolicyKnowledgeBase, question: str
) -> None:
    assert not knowledge.ask(question).confident


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("我爸有退休金，还能申请低保吗", "pension-and-dibao"),
        ("退休金算进低保的家庭收入里吗", "pension-and-dibao"),
        ("I get a small pension, can I still get dibao", "pension-and-dibao"),
        ("户口不在这里，能在现在住的地方申请低保吗", "apply-outside-hukou"),
        ("外地户口在这边能申请临时救助吗", "apply-outside-hukou"),
        (
            "can I apply for assistance in the city where I live if my hukou is elsewhere",
            "apply-outside-hukou",
        ),
        ("申请低保要带身份证和户口本吗", "apply-documents"),
        ("申请救助要准备什么证明材料", "apply-documents"),
        ("what documents should I bring to apply for dibao", "apply-documents"),
    ],
)
def test_the_entries_next_to_other_fields_still_answer_their_own_questions(
    knowledge: PolicyKnowledgeBase, question: str, entry_id: str
) -> None:
    assert_answered_surely(knowledge, question, entry_id)


def test_a_pension_alone_is_another_field_and_a_pension_with_dibao_is_ours(
    knowledge: PolicyKnowledgeBase,
) -> None:
    assert not knowledge.ask("养老金每个月能领多少").confident
    answer = knowledge.ask("我每个月有一千块养老金，还能吃低保吗")
    assert answer.best is not None
    assert answer.best.entry.id == "pension-and-dibao"
    assert answer.confident


def test_no_out_of_scope_question_is_one_an_entry_answers(knowledge: PolicyKnowledgeBase) -> None:
    phrasings = {
        question
        for entry in knowledge.entries
        for questions in entry.questions.values()
        for question in questions
    }
    out_of_scope = OutOfScope.load()
    assert not phrasings & set(out_of_scope.questions)
    assert not [question for question in out_of_scope.questions if knowledge.names_the_field(question)]


@pytest.mark.parametrize("question", ["低保", "吃低保", "dibao", "特困", "医疗救助", "临时救助"])
def test_a_programme_name_alone_is_not_answered_with_one_specific_entry(
    knowledge: PolicyKnowledgeBase, question: str
) -> None:
    assert not knowledge.ask(question).confident


def test_each_entry_is_asked_in_many_ways(knowledge: PolicyKnowledgeBase) -> None:
    for entry in knowledge.entries:
        assert len(entry.questions["zh"]) >= 8, entry.id
        assert len(entry.questions["en"]) >= 4, entry.id
