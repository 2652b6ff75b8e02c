"""``needsbot nlu``: training, parsing and evaluating intent models."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from bot import bootstrap
from bot.cli_support import echo_json, fail, jsonable, settings_of
from bot.settings import NluBackend
from casework.domain import InvalidInput, Refusal, Urgency
from nlu import embedded, rasa_server, risk
from nlu.crisis import CrisisScreener, text_preparation
from nlu.evaluation import Evaluation, cross_validate, evaluate_classifier
from nlu.training_data import load_project_data, load_training_data
from nlu.types import Parse
from nlu.understanding import IntentClassifier

BACKEND = click.Choice([backend.value for backend in NluBackend])


@click.group()
def nlu() -> None:
    """Intent models: train, parse, evaluate."""


@nlu.command("train")
@click.option("--backend", type=BACKEND, default=NluBackend.EMBEDDED.value, show_default=True)
@click.option(
    "--rasa-venv", type=click.Path(path_type=Path), default=rasa_server.DEFAULT_VENV, show_default=True
)
@click.pass_context
def nlu_train(ctx: click.Context, backend: str, rasa_venv: Path) -> None:
    """Train a model from nlu/rasa/data (embedded: scikit-learn; rasa: DIET, in Rasa's environment)."""
    settings = settings_of(ctx)
    started = time.perf_counter()
    if backend == NluBackend.RASA.value:
        try:
            model = rasa_server.train(rasa_venv)
        except rasa_server.RasaError as error:
            fail(str(error))
        click.echo(f"Rasa model at {model} ({time.perf_counter() - started:.0f} s)")
        return
    data = load_project_data()
    model_file = settings.nlu_model_dir / embedded.MODEL_FILE
    embedded.train_and_store(settings.nlu_model_dir, data)
    click.echo(
        f"embedded model trained on {len(data.examples)} examples, {len(data.intents)} intents, "
        f"in {time.perf_counter() - started:.1f} s: {model_file}"
    )
    started = time.perf_counter()
    corpus = risk.load_corpus()
    prepare = text_preparation()  # the crisis screen's own: the model learns from what it will see
    risk.train_and_store(settings.nlu_model_dir, prepare, prepare.signature, corpus)
    click.echo(
        f"crisis risk model trained on {len(corpus.texts)} examples, {len(corpus.concepts)} concepts, "
        f"in {time.perf_counter() - started:.1f} s: {settings.nlu_model_dir / risk.MODEL_FILE}"
    )


@nlu.command("serve")
@click.option("--port", type=click.IntRange(1, 65535), default=5005, show_default=True)
@click.option(
    "--rasa-venv", type=click.Path(path_type=Path), default=rasa_server.DEFAULT_VENV, show_default=True
)
def nlu_serve(port: int, rasa_venv: Path) -> None:
    """Serve the trained Rasa model with `rasa run --enable-api` on 127.0.0.1 until interrupted."""
    try:
        process = rasa_server.serve(rasa_venv, port=port)
    except rasa_server.RasaError as error:
        fail(str(error))
    try:
        sys.exit(process.wait())
    except KeyboardInterrupt:
        process.terminate()
        process.wait(timeout=30)


def _with_classifier(
    ctx: click.Context, backend: str | None, work: Any, screener: CrisisScreener | None = None
) -> Any:
    settings = settings_of(ctx)

    async def main() -> Any:
        classifier = bootstrap.build_classifier(
            settings, NluBackend(backend) if backend else None, screener=screener
        )
        try:
            return await work(classifier)
        finally:
            await classifier.aclose()

    return asyncio.run(main())


def _describe(parse: Parse, screener: CrisisScreener) -> list[str]:
    if parse.is_fallback:
        candidates = " / ".join(f"{c.intent.value} {c.confidence:.2f}" for c in parse.candidates)
        lines = [f"intent    nlu_fallback (unsure between {candidates})"]
    else:
        lines = [f"intent    {parse.intent.value} ({parse.confidence:.2f})"]
    lines.append(f"service   {parse.service_type.value if parse.service_type else '-'}")
    urgency = parse.urgency.value + (f" ({', '.join(parse.crisis_kinds)})" if parse.crisis_kinds else "")
    lines.append(f"urgency   {urgency}")
    if parse.crisis_signals:
        lines.append(
            "crisis    "
            + ", ".join(
                f"{signal.concept} ({signal.kind}) from {signal.source} {signal.confidence:.2f}"
                for signal in parse.crisis_signals
            )
        )
    if parse.urgency is Urgency.CRITICAL:
        hotlines = screener.hotlines_for(parse.crisis_kinds)
        lines.append("hotlines  " + ", ".join(f"{h.label(parse.language)} {h.number}" for h in hotlines))
    if parse.entities:
        lines.append("entities  " + ", ".join(f"{e.entity}={e.value} ({e.text})" for e in parse.entities))
    lines.append("ranking   " + ", ".join(f"{s.intent.value} {s.confidence:.2f}" for s in parse.ranking[:4]))
    lines.append(f"language  {parse.language}   backend {parse.backend}")
    return lines


@nlu.command("parse")
@click.argument("text", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (always, when reading standard input).")
@click.option("--backend", type=BACKEND, default=None, help="Defaults to NLU_BACKEND.")
@click.pass_context
def nlu_parse(ctx: click.Context, text: str | None, as_json: bool, backend: str | None) -> None:
    """Understand TEXT; without it, each line of standard input, one JSON object per line."""
    screener = bootstrap.build_screener(settings_of(ctx))

    async def work(classifier: IntentClassifier) -> None:
        if text is not None:
            parse = await classifier.parse(text)
            if as_json:
                echo_json(parse)
            else:
                click.echo("\n".join(_describe(parse, screener)))
            return
        for number, line in enumerate(sys.stdin, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                click.echo(json.dumps({"line": number, "error": "empty line"}))
                continue
            parse = await classifier.parse(line)
            click.echo(json.dumps(jsonable(parse), ensure_ascii=False))

    _with_classifier(ctx, backend, work, screener)


def _print_evaluation(result: Evaluation, title: str) -> None:
    click.echo(f"{title}: {result.examples} examples")
    if result.backends:
        answered = ", ".join(f"{backend} {count}" for backend, count in sorted(result.backends.items()))
        click.echo(f"answered  {answered}")
    click.echo(f"accuracy  {result.accuracy:.3f}")
    click.echo(f"macro-F1  {result.macro_f1:.3f}")
    if result.fold_macro_f1:
        folds = ", ".join(f"{value:.3f}" for value in result.fold_macro_f1)
        click.echo(f"folds     {folds} (spread {result.fold_spread:.3f})")
    else:
        click.echo(f"fallback  {result.fallback_rate:.1%} of parses would ask instead of guessing")
    click.echo(f"\n{'intent':<28} {'precision':>9} {'recall':>7} {'F1':>6} {'n':>4}")
    for row in result.per_intent:
        click.echo(
            f"{row.intent:<28} {row.precision:>9.3f} {row.recall:>7.3f} {row.f1:>6.3f} {row.support:>4}"
        )
    if result.confusions:
        click.echo("\nmost confused (true → predicted):")
        for gold, predicted, count in result.confusions:
            click.echo(f"  {count:>3}  {gold} → {predicted}")


@nlu.command("evaluate")
@click.option(
    "--data", "data_file", type=click.Path(path_type=Path, dir_okay=False), help="Rasa NLU YAML file."
)
@click.option(
    "--folds", type=click.IntRange(2, 20), default=None, help="Cross-validate on the training data."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--backend", type=BACKEND, default=None, help="Defaults to NLU_BACKEND.")
@click.pass_context
def nlu_evaluate(
    ctx: click.Context, data_file: Path | None, folds: int | None, as_json: bool, backend: str | None
) -> None:
    """Accuracy, macro-F1, per-intent figures and the most confused pairs on a labelled file."""
    if (data_file is None) == (folds is None):
        raise click.UsageError("give either --data FILE or --folds N")
    if folds is not None:
        if backend == NluBackend.RASA.value:
            raise click.UsageError("cross-validation trains the embedded model; use --data for Rasa")
        result = cross_validate(load_project_data(), folds=folds)
        title = f"{folds}-fold cross-validation of the embedded model"
    else:
        assert data_file is not None
        if not data_file.exists():
            raise InvalidInput(Refusal.FILE_MISSING, file=str(data_file))
        data = load_training_data([data_file])
        if not data.examples:
            raise InvalidInput(Refusal.NLU_NO_EXAMPLES, file=str(data_file))

        async def work(classifier: IntentClassifier) -> Evaluation:
            return await evaluate_classifier(classifier, data)

        result = _with_classifier(ctx, backend, work)
        title = f"{data_file.name}"
    if as_json:
        echo_json(result)
    else:
        _print_evaluation(result, title)
