"""The Rasa backend against a real Rasa server (trained from the project's data) and real sockets."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nlu import rasa_server
from nlu.crisis import CrisisScreener
from nlu.embedded import EmbeddedModel
from nlu.rasa_client import RasaClassifier
from nlu.training_data import load_project_data
from nlu.types import Intent
from nlu.understanding import EmbeddedClassifier, ParseAssembler
from tests.conftest import RASA_TRAINING
from tests.services import unavailable

TIMEOUT = 2.0
GRACE = 3.0  # how much longer than its timeout a fallback answer may take before the test calls it hung


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def local() -> EmbeddedClassifier:
    return EmbeddedClassifier(EmbeddedModel.train(load_project_data()), ParseAssembler(CrisisScreener.load()))


@pytest.fixture(scope="module")
def rasa_model(request: pytest.FixtureRequest) -> Path:
    if not (rasa_server.DEFAULT_VENV / "bin" / "rasa").exists():
        unavailable(f"the Rasa environment at {rasa_server.DEFAULT_VENV} (make rasa-env)")
    training = request.config.stash.get(RASA_TRAINING, None)  # started when the tests were collected
    if training is not None:
        return rasa_server.finish_training(training)
    return rasa_server.train(quiet=True)


@pytest.fixture
def rasa_process(rasa_model: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = tmp_path / "rasa.log"
    process = rasa_server.serve(port=port, log_file=log_file)
    try:
        try:
            rasa_server.wait_until_ready(url, process, timeout=300)
        except rasa_server.RasaError as error:
            tail = log_file.read_text(errors="replace")[-3000:] if log_file.exists() else ""
            pytest.fail(f"{error}\n{tail}")
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


@pytest.mark.rasa
def test_rasa_accepts_the_project_unchanged(rasa_model: Path) -> None:
    rasa_server.validate()
    assert rasa_model.exists()


@pytest.mark.rasa
async def test_parse_through_a_real_rasa_server_then_fall_back_once_it_stops(
    rasa_process: tuple[str, subprocess.Popen[bytes]],
    local: EmbeddedClassifier,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, process = rasa_process
    classifier = RasaClassifier(url, local, local.assembler, timeout=TIMEOUT)
    try:
        parse = await classifier.parse("我家房租交不起了，能帮帮我吗")
        assert parse.backend == "rasa"
        assert parse.top.intent is Intent.NEED_RESOURCE_LINKING
        assert parse.ranking[0].confidence >= parse.ranking[-1].confidence
        synonym = await classifier.parse("最低生活保障怎么申请")
        assert synonym.top.intent is Intent.ASK_POLICY
        assert any(entity.value == "低保" and entity.text == "最低生活保障" for entity in synonym.entities)
        crisis = await classifier.parse("我真的不想活了")
        assert crisis.urgency == "critical"

        process.terminate()
        process.wait(timeout=60)
        caplog.set_level(logging.INFO, logger="nlu.rasa_client")
        for text in ("你好", "I need help paying rent", "谢谢"):
            answered = await asyncio.wait_for(classifier.parse(text), TIMEOUT + GRACE)
            assert answered.backend == "embedded (rasa unavailable)"
        assert answered.intent is Intent.THANKS
        outages = [record for record in caplog.records if "unavailable" in record.getMessage()]
        assert len(outages) == 1
        assert "我" not in caplog.text  # the message text never reaches the log
    finally:
        await classifier.aclose()


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A real TCP server that accepts connections and never answers them."""
    accepted: list[int] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        await reader.read(65536)
        await asyncio.sleep(3600)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()


@pytest.fixture
async def rude_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A real TCP server that hangs up on every connection at once."""
    accepted: list[int] = []

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()


async def test_a_server_that_never_answers_is_given_up_after_the_timeout(
    silent_server: tuple[str, list[int]], local: EmbeddedClassifier
) -> None:
    url, accepted = silent_server
    classifier = RasaClassifier(url, local, local.assembler, timeout=0.5)
    try:
        parse = await asyncio.wait_for(classifier.parse("低保怎么申请"), 0.5 + GRACE)
        assert parse.backend == "embedded (rasa unavailable)"
        assert parse.intent is Intent.ASK_POLICY
        assert len(accepted) == 1  # a timeout is not retried: it would only wait again
    finally:
        await classifier.aclose()


async def test_a_dropped_connection_is_retried_once_and_the_circuit_opens_after_repeated_failures(
    rude_server: tuple[str, list[int]], local: EmbeddedClassifier
) -> None:
    url, accepted = rude_server
    classifier = RasaClassifier(url, local, local.assembler, breaker_threshold=2, breaker_seconds=60)
    try:
        await classifier.parse("你好")
        assert len(accepted) == 2  # the request and its one retry
        await classifier.parse("你好")
        assert len(accepted) == 4
        for _ in range(3):
            parse = await classifier.parse("你好")
            assert parse.backend == "embedded (rasa unavailable)"
        assert len(accepted) == 4  # the open circuit sends nothing more
    finally:
        await classifier.aclose()


async def test_nobody_listening_falls_back_at_once(local: EmbeddedClassifier) -> None:
    classifier = RasaClassifier(f"http://127.0.0.1:{free_port()}", local, local.assembler, timeout=TIMEOUT)
    try:
        parse = await asyncio.wait_for(classifier.parse("我想找份工作"), TIMEOUT + GRACE)
        assert parse.backend == "embedded (rasa unavailable)"
        assert parse.intent is Intent.NEED_CAPACITY_BUILDING
    finally:
        await classifier.aclose()
