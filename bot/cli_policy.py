"""``needsbot policy``: answers about assistance policy from the knowledge base, with citations.

It loads only the knowledge base and the message catalog, so a question is answered without the
database, the settings or an intent model.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from dialogs.catalog import Catalog
from nlu.policy import PolicyAnswer, PolicyKnowledgeBase


def answer_as_json(answer: PolicyAnswer) -> dict[str, Any]:
    return {
        "question": answer.question,
        "language": answer.language,
        "confident": answer.confident,
        "matches": [
            {
                "id": match.entry.id,
                "score": round(match.score, 4),
                "answer": match.entry.answer_in(answer.language),
                "citation": match.entry.citation.render(answer.language),
                "local_note": match.entry.note_in(answer.language),
            }
            for match in answer.matches
        ],
    }


def print_answer(answer: PolicyAnswer) -> None:
    catalog = Catalog.load()
    best = answer.best
    if best is None or not answer.confident:
        click.echo(catalog.text("policy.unsure", answer.language))
        for match in answer.matches:
            click.echo(f"  · {match.entry.questions[answer.language][0]}  ({match.score:.2f})")
        return
    entry = best.entry
    click.echo(entry.answer_in(answer.language))
    click.echo(f"\n— {entry.citation.render(answer.language)}")
    click.echo(entry.note_in(answer.language))
    others = answer.matches[1:]
    if others:
        click.echo("\n" + catalog.text("policy.related", answer.language))
        for match in others:
            click.echo(f"  · {match.entry.questions[answer.language][0]}")


@click.group()
def policy() -> None:
    """Assistance policy answers with citations."""


@policy.command("ask")
@click.argument("question", required=False)
@click.option(
    "--lang", type=click.Choice(["zh", "en"]), default=None, help="Answer language; guessed if unset."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (always, when reading standard input).")
def policy_ask(question: str | None, lang: str | None, as_json: bool) -> None:
    """Answer QUESTION, citing the source; without it, each line of standard input, as JSON lines."""
    knowledge = PolicyKnowledgeBase.load()
    if question is not None:
        answer = knowledge.ask(question, lang)
        if as_json:
            click.echo(json.dumps(answer_as_json(answer), ensure_ascii=False, indent=2))
        else:
            print_answer(answer)
        return
    if sys.stdin.isatty():
        raise click.UsageError("give a QUESTION, or questions on standard input, one a line")
    failed = False
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            click.echo(json.dumps({"line": number, "error": "not UTF-8 text"}))
            failed = True
            continue
        if not line.strip():
            click.echo(json.dumps({"line": number, "error": "empty line"}))
            failed = True
            continue
        click.echo(json.dumps(answer_as_json(knowledge.ask(line, lang)), ensure_ascii=False))
    if failed:
        sys.exit(1)
