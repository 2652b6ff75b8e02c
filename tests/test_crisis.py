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
def screener() -> CrisisScreener:
    return CrisisScreener.load()


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


@pytest.mark.parametrize(
    "text", ["家里已经断粮三天了", "房东说下周就要把我们赶出去", "we are being evicted on friday"]
)
def test_urgent_but_not_dangerous_needs_are_high(screener: CrisisScreener, text: str) -> None:
    assert screener.screen(text).urgency is Urgency.HIGH


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


def test_hotlines_come_from_data_most_specific_first(screener: CrisisScreener) -> None:
    self_harm = [hotline.number for hotline in screener.hotlines_for(["self_harm"])]
    assert self_harm[0] == "12356"
    assert {"110", "120"} <= set(self_harm)
    violence = [hotline.number for hotline in screener.hotlines_for(("violence",))]
    assert violence[0] == "12338"
    assert screener.hotlines_for([]) == []
    assert screener.hotlines_for(["violence"])[0].label("en").startswith("All-China")
