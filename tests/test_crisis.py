from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from casework.domain import Urgency
from nlu.crisis import CrisisScreener

DATA = Path(__file__).parent / "data"
CASE_FILES = ("crisis_cases.yml", "crisis_cases_blind.yml")


def _cases(section: str) -> list[Any]:
    cases = []
    for name in CASE_FILES:
        for case in yaml.safe_load((DATA / name).read_text(encoding="utf-8"))[section]:
            cases.append(pytest.param(case, id=f"{name.split('.')[0]}:{case['text'][:24]}"))
    return cases


@pytest.fixture(scope="module")
def screener(tmp_path_factory: pytest.TempPathFactory) -> CrisisScreener:
    """The screen as the bot runs it: the lexicon rules and the risk model beside them."""
    return CrisisScreener.load(model_dir=tmp_path_factory.mktemp("risk-model"))


@pytest.mark.parametrize("case", _cases("critical"))
def test_every_critical_case_is_caught(screener: CrisisScreener, case: dict[str, str]) -> None:
    screening = screener.screen(case["text"])
    assert screening.urgency is Urgency.CRITICAL
    assert screening.kinds


@pytest.mark.parametrize("case", _cases("not_critical"))
def test_figures_of_speech_and_ordinary_needs_are_not_critical(
    screener: CrisisScreener, case: dict[str, str]
) -> None:
    assert screener.screen(case["text"]).urgency is not Urgency.CRITICAL


def test_the_case_lists_cover_both_languages_and_every_kind() -> None:
    critical = [case for name in CASE_FILES for case in yaml.safe_load((DATA / name).read_text())["critical"]]
    assert {case["kind"] for case in critical} == {
        "self_harm",
        "violence",
        "child_in_danger",
        "elder_in_danger",
    }
    assert sum(case["lang"] == "en" for case in critical) >= len(critical) / 3


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("不想活了", "self_harm"),
        ("一了百了算了", "self_harm"),
        ("我想结束这一切", "self_harm"),
        ("活着没意思", "self_harm"),
        ("I want to end it", "self_harm"),
        ("他又家暴我", "violence"),
        ("老公打我", "violence"),
        ("he threatened to kill me", "violence"),
        ("隔壁孩子被关在家里好几天没人管", "child_in_danger"),
        ("独居老人好几天没开门了", "elder_in_danger"),
    ],
)
def test_the_named_crisis_phrases_are_critical_with_their_kind(
    screener: CrisisScreener, text: str, kind: str
) -> None:
    screening = screener.screen(text)
    assert screening.urgency is Urgency.CRITICAL
    assert kind in screening.kinds


@pytest.mark.parametrize(
    "text", ["累死了", "这事要了我的命", "this form is killing me", "笑死我了", "打电话问问社区"]
)
def test_idioms_do_not_trip_the_screen(screener: CrisisScreener, text: str) -> None:
    assert screener.screen(text).urgency is Urgency.NORMAL
    assert CrisisScreener.load().screen(text).urgency is Urgency.NORMAL


@pytest.mark.parametrize(
    "text", ["家里已经断粮三天了", "房东说下周就要把我们赶出去", "we are being evicted on friday"]
)
def test_urgent_but_not_dangerous_needs_are_high_or_for_review_never_critical(
    screener: CrisisScreener, text: str
) -> None:
    # Recall first: where the risk model suspects more than the hardship the rules see, a person
    # looks within the hour (review) rather than within four (high).
    assert screener.screen(text).urgency in (Urgency.HIGH, Urgency.REVIEW)


def test_traditional_and_full_width_text_is_screened_like_simplified(screener: CrisisScreener) -> None:
    assert screener.screen("我真的不想活了").urgency is Urgency.CRITICAL
    assert screener.screen("我真的不想活了").urgency is screener.screen("我眞的不想活了").urgency
    assert screener.screen("活著沒意思").urgency is Urgency.CRITICAL
    assert screener.screen("Ｉ ｗａｎｔ ｔｏ ｅｎｄ ｉｔ").urgency is Urgency.CRITICAL


def test_letter_case_does_not_matter(screener: CrisisScreener) -> None:
    assert screener.screen("I WANT TO KILL MYSELF").kinds == ("self_harm",)
    assert screener.screen("He Threatened To Kill Me").kinds == ("violence",)
    assert screener.screen("THIS FORM IS KILLING ME").urgency is Urgency.NORMAL
    assert screener.screen("We Are Being Evicted On Friday").urgency is Urgency.HIGH
    assert screener.screen("I WANT TO KİLL MYSELF").kinds == ("self_harm",)  # as case-blind matching
    assert screener.screen("i want to kıll myself").kinds == ("self_harm",)


def test_a_pattern_with_upper_case_letters_is_refused() -> None:
    """Text is lower-cased before it is matched: such a pattern could never match."""
    lexicon = {"critical": {"self_harm": {"en": [r"\bend it\b", "End my life"]}}}
    with pytest.raises(ValueError, match="End my life"):
        CrisisScreener(lexicon, [])
    escapes = CrisisScreener({"critical": {"self_harm": {"en": [r"\Bnd\W+it\b"]}}}, [])  # \B, \W: escapes
    assert escapes.screen("I'll END it").urgency is Urgency.CRITICAL
    assert escapes.screen("I'll ND it").urgency is Urgency.NORMAL


def test_hotlines_come_from_data_emergencies_before_the_lines_for_one_kind(screener: CrisisScreener) -> None:
    def numbers(*kinds: str) -> list[str]:
        return [hotline.number for hotline in screener.hotlines_for(kinds)]

    assert numbers("self_harm") == ["12356", "110", "120"]  # a wish to die is talked through first
    assert numbers("violence") == ["110", "120", "12338"]  # danger to life: the police first
    assert numbers("elder_in_danger") == ["110", "120"]  # no non-emergency line for a fallen elder
    assert numbers("child_in_danger") == ["110", "120", "12355"]
    assert numbers("threat_to_others") == ["110"]
    assert screener.hotlines_for([]) == []
    assert screener.hotlines_for(["violence"])[-1].label("en").startswith("All-China")


# Written for these tests from the concepts, in none of the corpus's or the case lists' words: the
# rules alone must read each (the model is not consulted).
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("邻居把孩子锁在阳台上一整晚", "child_in_danger"),
        ("那个娃饿得去翻垃圾桶找吃的", "child_in_danger"),
        ("楼道里有个纸箱，里面是个刚出生的婴儿", "child_in_danger"),
        ("the neighbours lock their kids in the car while they gamble", "child_in_danger"),
        ("found a newborn left on the church steps", "child_in_danger"),
        ("对门的独居老人一个星期没下楼了", "elder_in_danger"),
        ("我爸摔在卫生间里，爬不起来了", "elder_in_danger"),
        ("奶奶有老年痴呆，早上出门后找不到了", "elder_in_danger"),
        ("my grandad fell in the garden and has been lying there for hours", "elder_in_danger"),
        ("the carer hasn't come for two days and my mum can't get out of bed", "elder_in_danger"),
        ("我要去把那个包工头砍死", "threat_to_others"),
        ("汽油已经买好了，明天去他家", "threat_to_others"),
        ("i'm going to hurt someone at the benefits office", "threat_to_others"),
        ("i know where he lives and i've got a knife", "threat_to_others"),
        ("木炭已经买回来了", "self_harm"),
        ("我把门窗都用胶带封好了", "self_harm"),
        ("以后我女儿就拜托你们了", "self_harm"),
        ("i wrote letters to my family and picked the date", "self_harm"),
        ("我就是个累赘，没有我家里还轻松点", "self_harm"),
        ("想自我了断", "self_harm"),
        ("我这回真不活了", "self_harm"),
        ("吃了一瓶安眠药，喊也喊不醒，快来人", "self_harm"),
        ("今天又划了手，血止不住了", "self_harm"),
        ("我把猫托付给邻居了，今晚去江边", "self_harm"),
        ("mum keeps saying she wants to die since dad passed", "self_harm"),
        ("better i was dead honestly", "self_harm"),
        ("he took a bunch of pills and now he's passed out and barely breathing", "self_harm"),
        ("kms tonight", "self_harm"),
        ("被人打了，现在头还在流血", "violence"),
        ("she's choking him in the hallway", "violence"),
        ("细路仔成日俾佢老豆打", "child_in_danger"),
        ("my stepdad hits my little brother with a belt", "child_in_danger"),
        ("老爷子摔了一跤起唔到身，喊他也没反应", "elder_in_danger"),
        ("grandpa collapsed in the garden and is barely breathing", "elder_in_danger"),
        ("那个人扬言要把街道办炸了", "threat_to_others"),
    ],
)
def test_the_rules_read_each_weak_concept_in_both_languages(text: str, kind: str) -> None:
    screening = CrisisScreener.load().screen(text)
    assert screening.urgency is Urgency.CRITICAL
    assert kind in screening.kinds


@pytest.mark.parametrize(
    "text",
    [
        "累死了",
        "笑死",
        "这个月的账单要了我的老命",
        "这个表格填得我要死了",
        "等公交等得我想死",
        "整死我了 这表又填错了",
        "这政策看得我头都要炸了",
        "再让我排一次队还不如杀了我",
        "this form is killing me",
        "i'd kill for a cup of coffee",
        "on hold for an hour, shoot me now",
        "超市跳楼价大甩卖",
        "这辣条辣死我了",
        "社死了，群里发错消息",
        "这波补贴杀疯了",
        "说明书看得我想死",
        "笑不活了哈哈",
        "秒杀活动几点开始",
    ],
)
def test_figures_of_speech_are_normal(screener: CrisisScreener, text: str) -> None:
    assert screener.screen(text).urgency is Urgency.NORMAL


@pytest.mark.parametrize(
    "text",
    [
        "我爷爷有点老年痴呆，想申请防走失手环",
        "孩子走丢了后来找到了，要去派出所登记吗",
        "我爸八十多了身体还硬朗，想办个老年证",
        "我恨死那个骗子了，想去法院告他",
        "不想活得这么窝囊了，想学门手艺",
        "my grandmother died peacefully last night, what do we do about the funeral",
        "i want to change my life and learn a trade",
    ],
)
def test_hard_negatives_are_not_critical(screener: CrisisScreener, text: str) -> None:
    assert screener.screen(text).urgency is not Urgency.CRITICAL


# Blind lists v3, v4, v5 and v7 joined training after their one blind score: regression lists now, not
# measures. Every crisis in them is still critical; no negative is critical.
JOINED = {
    name: yaml.safe_load((DATA / f"crisis_cases_{name}.yml").read_text(encoding="utf-8"))
    for name in ("v3", "v4", "v5", "v7")
}


def _joined(section: str) -> list[Any]:
    return [
        pytest.param(case, id=f"{name}:{case['text'][:24]}")
        for name, cases in JOINED.items()
        for case in cases[section]
    ]


@pytest.mark.parametrize("case", _joined("critical"))
def test_the_joined_lists_crisis_messages_are_still_critical(
    screener: CrisisScreener, case: dict[str, str]
) -> None:
    assert screener.screen(case["text"]).urgency is Urgency.CRITICAL


# Figures of speech the rules still take for danger, kept so for recall: a parent's or a boss's "打死我"
# may be meant, "掐死你" is a threat in other words, "别找我" is how a farewell is said, and "要死啦" or
# "i want to die lol" how a wish to die may be (a laugh after it proves nothing).
ACCEPTED_FALSE_ALARMS = frozenset(
    {
        "我妈要是知道我又把钥匙弄丢了 非打死我不可",
        "老板说这个月再迟到就弄死我 哈哈开玩笑的",
        "我宣布我已经死了 周一别找我",
        "要死啦 忘了交材料 明天补还来得及吗",
        "你再给我发这种表情包我就掐死你 哈哈哈",
        "我要是再迟到一次，我们主任肯定弄死我",
        "this wifi is so slow i want to die lol",
        "要死咯，这个月电费又涨了",
        "if my mum finds out i lost the form shes going to kill me haha",
    }
)


@pytest.mark.parametrize("case", _joined("not_critical"))
def test_the_joined_lists_negatives_are_not_critical(screener: CrisisScreener, case: dict[str, str]) -> None:
    expected_alarm = case["text"] in ACCEPTED_FALSE_ALARMS
    assert (screener.screen(case["text"]).urgency is Urgency.CRITICAL) is expected_alarm
