from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from tests.cli_runner import Needsbot

HELD_OUT = Path(__file__).parent / "data" / "nlu_heldout.yml"


@pytest.fixture
def needsbot(tmp_path: Path) -> Needsbot:
    return Needsbot(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_nlu_train_stores_the_embedded_model(needsbot: Needsbot) -> None:
    result = needsbot("nlu", "train")
    assert result.exit_code == 0, result.output
    assert re.search(r"trained on \d+ examples, 14 intents", result.output)
    assert (needsbot.tmp_path / "nlu-model" / "embedded.joblib").exists()
    assert re.search(r"crisis risk model trained on \d+ examples, 8 concepts", result.output)
    assert (needsbot.tmp_path / "nlu-model" / "risk.joblib").exists()


def test_nlu_parse_describes_one_message(needsbot: Needsbot) -> None:
    result = needsbot("nlu", "parse", "我家房租交不起了，能帮帮我吗")
    assert result.exit_code == 0, result.output
    assert "intent    need_resource_linking" in result.output
    assert "service   resource_linking" in result.output
    assert "resource=房租" in result.output


def test_nlu_parse_of_a_crisis_shows_the_hotlines(needsbot: Needsbot) -> None:
    result = needsbot("nlu", "parse", "I don't want to live anymore")
    assert "urgency   critical (self_harm)" in result.output
    assert "crisis    passive_death_wish (self_harm) from rules 1.00" in result.output
    assert "12356" in result.output


def test_nlu_parse_json_says_which_concept_fired_from_which_source_how_surely(needsbot: Needsbot) -> None:
    parsed = json.loads(needsbot("nlu", "parse", "I want to kill myself", "--json").output)
    assert parsed["urgency"] == "critical"
    assert parsed["crisis_kinds"] == ["self_harm"]
    signal = parsed["crisis_signals"][0]
    assert signal == {"concept": "active_ideation", "kind": "self_harm", "source": "rules", "confidence": 1.0}


def test_nlu_parse_shows_a_model_signal_for_words_no_rule_knows(needsbot: Needsbot) -> None:
    parsed = json.loads(needsbot("nlu", "parse", "我偷偷攒了好多片安定，藏在鞋盒里", "--json").output)
    assert parsed["urgency"] in {"critical", "review"}
    (signal,) = parsed["crisis_signals"]
    assert signal["source"] == "model"
    assert signal["kind"] == "self_harm"
    assert 0 < signal["confidence"] <= 1


def test_nlu_parse_json_is_one_object(needsbot: Needsbot) -> None:
    parsed = json.loads(needsbot("nlu", "parse", "低保怎么申请", "--json").output)
    assert parsed["intent"] == "ask_policy"
    assert parsed["service_type"] == "policy_advocacy"
    assert parsed["urgency"] == "normal"
    assert parsed["backend"] == "embedded"


def test_nlu_parse_reads_standard_input_one_json_object_per_line(needsbot: Needsbot) -> None:
    result = needsbot("nlu", "parse", input="你好\n\n我想找份工作\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line.get("intent") for line in lines] == ["greet", None, "need_capacity_building"]
    assert lines[1] == {"line": 2, "error": "empty line"}


def test_nlu_parse_of_nothing_is_a_clear_error(needsbot: Needsbot) -> None:
    result = needsbot("nlu", "parse", "   ")
    assert result.exit_code == 1
    assert "There is no text to understand." in result.output


def test_the_rasa_backend_without_a_server_answers_through_the_embedded_model(needsbot: Needsbot) -> None:
    result = needsbot(
        "nlu", "parse", "谢谢你", "--backend", "rasa", "--json", RASA_URL=f"http://127.0.0.1:{closed_port()}"
    )
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.output)
    assert parsed["backend"] == "embedded (rasa unavailable)"
    assert parsed["intent"] == "thanks"


def test_nlu_evaluate_prints_the_figures_for_a_labelled_file(needsbot: Needsbot) -> None:
    result = needsbot("nlu", "evaluate", "--data", str(HELD_OUT))
    assert result.exit_code == 0, result.output
    macro_f1 = float(re.search(r"macro-F1  ([0-9.]+)", result.output).group(1))  # type: ignore[union-attr]
    assert macro_f1 >= 0.9
    assert "need_resource_linking" in result.output
    assert "precision" in result.output
    as_json = json.loads(needsbot("nlu", "evaluate", "--data", str(HELD_OUT), "--json").output)
    assert as_json["macro_f1"] == pytest.approx(macro_f1, abs=0.001)
    assert {row["intent"] for row in as_json["per_intent"]} >= {"ask_policy", "greet"}


def test_nlu_evaluate_cross_validates_the_training_data(needsbot: Needsbot) -> None:
    result = needsbot("nlu", "evaluate", "--folds", "5", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert len(figures["fold_macro_f1"]) == 5
    assert 0.5 < figures["macro_f1"] <= 1


@pytest.mark.parametrize(
    ("args", "code", "complaint"),
    [
        (("nlu", "evaluate"), 2, "give either --data FILE or --folds N"),
        (("nlu", "evaluate", "--data", "x.yml", "--folds", "3"), 2, "give either --data FILE or --folds N"),
        (("nlu", "evaluate", "--data", "missing.yml"), 1, "missing.yml: no such file"),
        (("nlu", "evaluate", "--folds", "1"), 2, "Invalid value for '--folds'"),
        (("nlu", "parse", "hi", "--backend", "bert"), 2, "Invalid value for '--backend'"),
    ],
)
def test_nlu_commands_refuse_bad_input(
    needsbot: Needsbot, args: tuple[str, ...], code: int, complaint: str
) -> None:
    result = needsbot(*args)
    assert result.exit_code == code
    assert complaint in result.output


def test_nlu_evaluate_refuses_a_file_that_is_not_rasa_data(needsbot: Needsbot) -> None:
    path = needsbot.write("notes.yml", "- just\n- a list\n")
    result = needsbot("nlu", "evaluate", "--data", str(path))
    assert result.exit_code == 1
    assert "top-level 'nlu' list" in result.output


def test_policy_ask_answers_with_a_citation(needsbot: Needsbot) -> None:
    result = needsbot("policy", "ask", "低保怎么申请")
    assert result.exit_code == 0, result.output
    assert "《社会救助暂行办法》" in result.output
    english = needsbot("policy", "ask", "How do I apply for dibao?")
    assert "Interim Measures for Social Assistance" in english.output


def test_policy_ask_json_carries_scores_and_citations(needsbot: Needsbot) -> None:
    answer = json.loads(needsbot("policy", "ask", "临时救助谁能申请", "--json").output)
    assert answer["confident"] is True
    assert answer["language"] == "zh"
    best = answer["matches"][0]
    assert best["citation"].startswith("《")
    assert best["score"] >= answer["matches"][-1]["score"]


def test_policy_ask_says_when_it_is_unsure(needsbot: Needsbot) -> None:
    result = needsbot("policy", "ask", "明天天气怎么样")
    assert result.exit_code == 0
    assert "这个问题我没有把握回答" in result.output
    english = needsbot("policy", "ask", "what's the weather tomorrow", "--lang", "en")
    assert "I am not sure I can answer that correctly" in english.output


def test_policy_ask_without_a_question_answers_each_line_of_standard_input(needsbot: Needsbot) -> None:
    result = needsbot("policy", "ask", input="低保怎么申请\nhow do I renew my passport\n")
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert first["confident"] is True
    assert first["matches"][0]["id"] == "dibao-application-review"
    assert first["matches"][0]["citation"].startswith("《")
    assert second["confident"] is False


def test_policy_ask_reports_an_empty_line_of_standard_input_and_fails(needsbot: Needsbot) -> None:
    result = needsbot("policy", "ask", input="低保怎么申请\n\n")
    assert result.exit_code == 1
    assert json.loads(result.output.splitlines()[1]) == {"line": 2, "error": "empty line"}
    assert "Traceback" not in result.output
