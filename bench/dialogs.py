"""Turns per second through the whole path — dialog engine, NLU, casework, storage — on SQLite and on
PostgreSQL, beside bare NLU parsing of the same messages in the same run.

Each conversation is a resident reporting a need from first words to submitted ticket (9 turns).

    .venv/bin/python -m bench.dialogs [--conversations 60]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.common import stores
from storage import create_database
from storage.migrate import upgrade
from tests.dialog_harness import build_harness

MESSAGES = [
    "我家房租交不起了，能帮帮我吗",
    "I need help paying my rent",
    "孩子上学的费用没着落",
    "I feel so alone since my wife died",
]


async def conversations(url: str, count: int) -> tuple[float, float]:
    """(turns per second through the engine, parses per second of the same texts by the NLU alone)."""
    upgrade(url)
    database = create_database(url)
    try:
        harness = await build_harness(database)
        turns = 0
        started = time.perf_counter()
        for number in range(count):
            chat = harness.chat(10_000 + number, "zh" if number % 2 == 0 else "en")
            await chat.say("/start")
            for _ in range(3):
                await chat.press("button.yes")
            await chat.say(MESSAGES[number % len(MESSAGES)])
            await chat.press(
                "button.yes" if "need.confirm_type" in chat.keys else 1
            )  # agree, or take the first
            await chat.press(1)  # the first community
            await chat.press(1)  # household size
            await chat.press("button.done")
            turns += 9
            if "need.contact" in chat.keys:
                await chat.press("need.contact.chat")
                turns += 1
            await chat.press("need.button.submit")
            turns += 1
        engine_rate = turns / (time.perf_counter() - started)
        texts = [MESSAGES[number % len(MESSAGES)] for number in range(turns)]
        started = time.perf_counter()
        for text in texts:
            await harness.engine.services.nlu.parse(text)
        return engine_rate, len(texts) / (time.perf_counter() - started)
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=60)
    arguments = parser.parse_args()
    with stores() as found:
        print(f"{'store':<11} {'turns/s':>9} {'NLU parses/s':>13} {'ratio':>7}")
        for store, url in found.items():
            turns, parses = asyncio.run(conversations(url, arguments.conversations))
            print(f"{store:<11} {turns:>9.1f} {parses:>13.0f} {turns / parses:>7.3f}")


if __name__ == "__main__":
    main()
