"""The embedded classifier beside a Rasa DIET server trained on the same data, in one run.

Prints, for each backend: parse latency p50 / p99, throughput sequentially and with 8 concurrent
clients, resident memory, cold start, and macro-F1 on the held-out file; then the ratios the
targets are stated in (embedded p50 <= 1 ms and >= 10x faster than Rasa; <= 150 MB resident;
macro-F1 no lower than Rasa's).

    .venv/bin/python -m bench.nlu [--requests 400] [--concurrency 8] [--no-rasa]
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

from bench.common import percentile
from nlu import embedded, rasa_server
from nlu.crisis import CrisisScreener
from nlu.evaluation import evaluate_classifier
from nlu.rasa_client import RasaClassifier
from nlu.training_data import load_project_data, load_training_data
from nlu.understanding import EmbeddedClassifier, IntentClassifier, ParseAssembler

HELD_OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "nlu_heldout.yml"

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-rasa", action="store_true", help="measure the embedded backend only")
    arguments = parser.parse_args()

    texts = load_training_data([HELD_OUT]).texts_and_labels()[0]
    data = load_project_data()
    results: dict[str, dict[str, float]] = {}

    with tempfile.TemporaryDirectory() as folder:
        model = embedded.train_and_store(Path(folder), data)
        cold, memory = embedded_cold_start(Path(folder))
    local = EmbeddedClassifier(model, ParseAssembler(CrisisScreener.load()))
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


if __name__ == "__main__":
    main()
