"""The embedded classifier beside a Rasa DIET server trained on the same data, in one run.

Prints, for each backend: parse latency p50 / p99, throughput sequentially and with 8 concurrent
clients, resident memory, cold start, and macro-F1 on the held-out file; then the ratios the
targets are stated in (embedded p50 <= 1 ms and >= 10x faster than Rasa; <= 150 MB resident;
macro-F1 no lower than Rasa's).

Then the crisis screen on case lists (default: the two in tests/data): recall and false-critical rate
per concept and per kind, for the lexicon rules alone, the risk model alone and both combined, and
how many messages went to review. ``--crisis-cv`` also prints the five-fold cross-validation of the
risk model on its own corpus, from which the thresholds in nlu/risk.py were chosen.

    .venv/bin/python -m bench.nlu [--requests 400] [--concurrency 8] [--no-rasa]
        [--crisis-cases PATH ...] [--crisis-cv] [--crisis-only]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import yaml

from bench.common import percentile
from casework.domain import Urgency
from nlu import embedded, rasa_server, risk
from nlu.crisis import CrisisScreener
from nlu.evaluation import evaluate_classifier
from nlu.policy import PolicyKnowledgeBase
from nlu.policy_evaluation import evaluate_policy, load_policy_cases
from nlu.rasa_client import RasaClassifier
from nlu.training_data import load_project_data, load_training_data
from nlu.understanding import EmbeddedClassifier, IntentClassifier, ParseAssembler

TESTS_DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
HELD_OUT = TESTS_DATA / "nlu_heldout.yml"
CRISIS_CASES = (TESTS_DATA / "crisis_cases.yml", TESTS_DATA / "crisis_cases_blind.yml")
POLICY_CASES = Path(__file__).resolve().parent.parent / "tests" / "data" / "policy_dev.yml"

# Loads the stored model and parses one message, in a fresh interpreter: cold start and memory of the
# embedded path as a bot process would have it.
COLD_START = """
import sys, time
from pathlib import Path
from nlu import embedded
from nlu.crisis import CrisisScreener
from nlu.understanding import EmbeddedClassifier, ParseAssembler
model = embedded.load_or_train(Path(sys.argv[1]))
classifier = EmbeddedClassifier(model, ParseAssembler(CrisisScreener.load()))
classifier.parse_now("我家房租交不起了，能帮帮我吗")
rss = next(line for line in open("/proc/self/status") if line.startswith("VmRSS"))
print(int(rss.split()[1]) // 1024)
"""


def resident_mb(pid: int) -> float:
    """Resident memory of a process and its children, from /proc."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                total += int(line.split()[1])
    return total / 1024


async def timed(parse: Callable[[str], Awaitable[object]], texts: list[str], count: int) -> list[float]:
    latencies = []
    for number in range(count):
        started = time.perf_counter()
        await parse(texts[number % len(texts)])
        latencies.append(time.perf_counter() - started)
    return latencies


async def concurrent_rate(
    parse: Callable[[str], Awaitable[object]], texts: list[str], count: int, clients: int
) -> float:
    numbers = iter(range(count))

    async def client() -> None:
        for number in numbers:
            await parse(texts[number % len(texts)])

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return count / (time.perf_counter() - started)


async def measure(
    classifier: IntentClassifier, texts: list[str], requests: int, clients: int
) -> dict[str, float]:
    await timed(classifier.parse, texts, min(50, requests))  # warm up
    latencies = await timed(classifier.parse, texts, requests)
    rate = await concurrent_rate(classifier.parse, texts, requests, clients)
    held_out = await evaluate_classifier(classifier, load_training_data([HELD_OUT]))
    return {
        "p50 ms": percentile(latencies, 0.5) * 1000,
        "p99 ms": percentile(latencies, 0.99) * 1000,
        "seq /s": len(latencies) / sum(latencies),
        f"{clients} clients /s": rate,
        "macro-F1": held_out.macro_f1,
    }


def embedded_cold_start(model_dir: Path) -> tuple[float, float]:
    started = time.perf_counter()
    output = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", COLD_START, str(model_dir)], capture_output=True, text=True, check=True
    ).stdout
    return time.perf_counter() - started, float(output.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def crisis_cases(paths: list[Path], screener: CrisisScreener) -> list[tuple[str, str, str]]:
    """(text, concept, kind) of each case; negatives under ``not_critical`` have concept "none".
    Old lists name a coarse ``kind``, new ones a ``concept`` (its kind taken from the lexicon)."""
    cases = []
    for path in paths:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in document.get("critical") or []:
            concept = case.get("concept") or ""
            kind = case.get("kind") or screener.kind_of(concept)
            cases.append((str(case["text"]), concept, kind))
        for case in document.get("not_critical") or []:
            cases.append((str(case["text"]), risk.NONE, case.get("kind") or risk.NONE))
    return cases


def crisis_report(paths: list[Path], screener: CrisisScreener) -> None:
    assert screener.model is not None
    cases = crisis_cases(paths, screener)
    critical_at = screener.thresholds.critical
    readers: dict[str, list[bool]] = {"rules": [], "model": [], "combined": []}
    review = 0
    for text, _, _ in cases:
        prepared = screener.prepare(text)
        by_rules = any(p.search(prepared) for c in screener.concepts for p in c.patterns)
        by_model = screener.model.assess(prepared).any_crisis >= critical_at
        readers["rules"].append(by_rules)
        readers["model"].append(by_model)
        urgency = screener.screen(text).urgency
        readers["combined"].append(urgency is Urgency.CRITICAL)
        review += urgency is Urgency.REVIEW
    print(f"\ncrisis screen on {', '.join(path.name for path in paths)}: {len(cases)} cases")
    rows: list[tuple[str, list[int]]] = [("all critical", [i for i, c in enumerate(cases) if c[1] != "none"])]
    for label, position in (("concept", 1), ("kind", 2)):
        for value in sorted({case[position] for case in cases if case[1] != "none" and case[position]}):
            rows.append((f"{label} {value}", [i for i, c in enumerate(cases) if c[position] == value]))
    negatives = [i for i, case in enumerate(cases) if case[1] == "none"]
    print(f"{'recall':<34}" + "".join(f"{reader:>10}" for reader in readers) + f"{'n':>6}")
    for name, indices in rows:
        figures = "".join(
            f"{sum(flags[i] for i in indices) / max(len(indices), 1):>10.3f}" for flags in readers.values()
        )
        print(f"{name:<34}{figures}{len(indices):>6}")
    groups = sorted({cases[i][2] for i in negatives})
    print(f"{'false critical':<34}" + "".join(f"{reader:>10}" for reader in readers) + f"{'n':>6}")
    for name, indices in [("all negatives", negatives)] + [
        (f"  {group}", [i for i in negatives if cases[i][2] == group]) for group in groups if group != "none"
    ]:
        figures = "".join(
            f"{sum(flags[i] for i in indices) / max(len(indices), 1):>10.3f}" for flags in readers.values()
        )
        print(f"{name:<34}{figures}{len(indices):>6}")
    negatives_in_review = sum(screener.screen(cases[i][0]).urgency is Urgency.REVIEW for i in negatives)
    print(f"review band: {review} of {len(cases)} messages ({negatives_in_review} of them negatives)")


def crisis_cross_validation(screener: CrisisScreener) -> None:
    """Each corpus example scored by a model that never saw it, alone and with the lexicon rules beside
    it as the screen decides: the grid the thresholds in nlu/risk.py were chosen from."""
    corpus = risk.load_corpus()
    scores = risk.cross_validated_scores(corpus, screener.prepare)
    prepared = [screener.prepare(text) for text in corpus.texts]
    rules = [any(p.search(text) for c in screener.concepts for p in c.patterns) for text in prepared]
    positives = [i for i, label in enumerate(corpus.labels) if label != risk.NONE]
    negatives = [i for i, label in enumerate(corpus.labels) if label == risk.NONE]
    print(f"\nrisk model, 5-fold cross-validation on its corpus ({len(corpus.texts)} examples)")
    header = ("critical at", "review at", "recall", "caught", "false crit", "neg review")
    print(f"{'':<10}" + " ".join(f"{column:>11}" for column in header))
    for critical_at in (0.8, 0.85, 0.9, 0.95):
        for review_at in (0.4, 0.5, 0.55, 0.6, 0.7):
            f = risk.figures_at(scores, critical_at, review_at)
            critical = [
                rules[i] or scores.assessments[i].any_crisis >= critical_at for i in range(len(rules))
            ]
            held = [critical[i] or scores.assessments[i].any_crisis >= review_at for i in range(len(rules))]
            for reader, figures in (
                ("model", (f.recall, f.caught, f.false_critical, f.review_rate)),
                (
                    "+ rules",
                    (
                        sum(critical[i] for i in positives) / len(positives),
                        sum(held[i] for i in positives) / len(positives),
                        sum(critical[i] for i in negatives) / len(negatives),
                        sum(held[i] and not critical[i] for i in negatives) / len(negatives),
                    ),
                ),
            ):
                print(
                    f"{reader:<10}{critical_at:>11.2f} {review_at:>11.2f} "
                    + " ".join(f"{figure:>11.3f}" for figure in figures)
                )
    t = screener.thresholds
    print(
        f"screen thresholds: critical {t.critical}, review {t.review} (rules written with the corpus in view)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-rasa", action="store_true", help="measure the embedded backend only")
    parser.add_argument(
        "--policy-cases",
        type=Path,
        default=POLICY_CASES,
        help="policy questions (answerable with the expected entry, and unanswerable) to score",
    )
    parser.add_argument(
        "--crisis-cases", type=Path, action="append", help="a crisis case list (repeat for more)"
    )
    parser.add_argument("--crisis-cv", action="store_true", help="cross-validate the risk model too")
    parser.add_argument("--crisis-only", action="store_true", help="only the crisis figures")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        screener = CrisisScreener.load(model_dir=Path(folder))
    crisis_report(arguments.crisis_cases or list(CRISIS_CASES), screener)
    if arguments.crisis_cv:
        crisis_cross_validation(screener)
    if arguments.crisis_only:
        return

    texts = load_training_data([HELD_OUT]).texts_and_labels()[0]
    data = load_project_data()
    results: dict[str, dict[str, float]] = {}

    with tempfile.TemporaryDirectory() as folder:
        model = embedded.train_and_store(Path(folder), data)
        cold, memory = embedded_cold_start(Path(folder))
    local = EmbeddedClassifier(model, ParseAssembler(screener))
    results["embedded"] = asyncio.run(measure(local, texts, arguments.requests, arguments.concurrency))
    results["embedded"].update({"RSS MB": memory, "cold start s": cold})

    if not arguments.no_rasa:
        rasa_server.train(quiet=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        process = rasa_server.serve(port=port, log_file=Path(os.devnull))
        try:
            rasa_server.wait_until_ready(url, process, timeout=600)
            cold = time.perf_counter() - started

            async def rasa_figures() -> dict[str, float]:
                classifier = RasaClassifier(url, local, local.assembler, timeout=30, breaker_threshold=10**6)
                try:
                    return await measure(classifier, texts, arguments.requests, arguments.concurrency)
                finally:
                    await classifier.aclose()

            results["rasa"] = asyncio.run(rasa_figures())
            results["rasa"].update({"RSS MB": resident_mb(process.pid), "cold start s": cold})
        finally:
            process.terminate()
            process.wait(timeout=60)

    columns = list(results["embedded"])
    print(f"{'backend':<10}" + "".join(f"{column:>14}" for column in columns))
    for backend, figures in results.items():
        print(f"{backend:<10}" + "".join(f"{figures[column]:>14.3f}" for column in columns))
    if "rasa" in results:
        embedded_figures, rasa = results["embedded"], results["rasa"]
        print(f"Rasa p50 / embedded p50:              {rasa['p50 ms'] / embedded_figures['p50 ms']:.1f}x")
        print(f"embedded / Rasa sequential throughput: {embedded_figures['seq /s'] / rasa['seq /s']:.1f}x")
        print(f"embedded macro-F1 - Rasa macro-F1:    {embedded_figures['macro-F1'] - rasa['macro-F1']:+.3f}")
        print(f"Rasa RSS / embedded RSS:              {rasa['RSS MB'] / embedded_figures['RSS MB']:.1f}x")
    print_policy_figures(arguments.policy_cases)


def print_policy_figures(path: Path) -> None:
    """Policy answers on a labelled set: right first, wrong yet sure, and "not sure" when no entry fits."""
    started = time.perf_counter()
    knowledge = PolicyKnowledgeBase.load()
    loaded = time.perf_counter() - started
    result = evaluate_policy(knowledge, load_policy_cases(path))
    print(
        f"\npolicy answers on {path.name}: {result.answerable} answerable, {result.unanswerable} unanswerable"
    )
    print(f"top-1 accuracy                 {result.top1_accuracy:.3f}")
    print(f"right and sure                 {result.right_and_sure:.3f}")
    print(f"wrong and confident            {result.wrong_and_confident:.1%}")
    print(f"not sure on unanswerable       {result.unsure_on_unanswerable:.3f}")
    print(f"look-up p50 ms                 {result.p50_ms:.3f}   (knowledge base loaded in {loaded:.2f} s)")


if __name__ == "__main__":
    main()
