"""Training and serving the Rasa project in ``nlu/rasa`` with Rasa's own Python 3.10 environment.

Rasa runs as a separate program; this module only starts it. Everything it writes (the model, its
cache, its home directory with telemetry settings) stays inside the project and the environment.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from nlu.training_data import RASA_PROJECT

REPOSITORY = RASA_PROJECT.parent.parent
DEFAULT_VENV = REPOSITORY / ".venv-rasa"
STATE = REPOSITORY / "var" / "rasa"
MODELS = RASA_PROJECT / "models"
MODEL_NAME = "needsbot"


class RasaError(Exception):
    pass


def rasa_binary(venv: Path = DEFAULT_VENV) -> Path:
    binary = venv / "bin" / "rasa"
    if not binary.exists():
        raise RasaError(f"no Rasa environment at {venv}: run `make rasa-env` first")
    return binary


def rasa_environment() -> dict[str, str]:
    """Rasa's process environment: telemetry off, and its home, caches and temporary files kept here."""
    home = STATE / "home"
    for folder in (home, STATE / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "MPLCONFIGDIR": str(home / ".cache" / "matplotlib"),
        "TMPDIR": str(STATE / "tmp"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONWARNINGS": "ignore",
    }


def model_path() -> Path:
    return MODELS / f"{MODEL_NAME}.tar.gz"


def _training_command(venv: Path) -> list[str]:
    return [
        str(rasa_binary(venv)),
        "train",
        "nlu",
        "--config",
        "config.yml",
        "--nlu",
        "data",
        "--domain",
        "domain.yml",
        "--out",
        str(MODELS),
        "--fixed-model-name",
        MODEL_NAME,
    ]


def train(venv: Path = DEFAULT_VENV, *, quiet: bool = False) -> Path:
    """Train the NLU model; Rasa reuses its cache and skips work when the data has not changed."""
    result = subprocess.run(  # noqa: S603 - our own fixed command line
        _training_command(venv),
        cwd=RASA_PROJECT,
        env=rasa_environment(),
        check=False,
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
    )
    return _trained(result.returncode, result.stderr if quiet else None)


def start_training(venv: Path = DEFAULT_VENV, *, niceness: int = 10) -> subprocess.Popen[str]:
    """Training started in the background, at a lower priority than this process (it takes minutes
    and every core it can): ``finish_training`` waits for it."""
    return subprocess.Popen(  # noqa: S603 - our own fixed command line
        _training_command(venv),
        cwd=RASA_PROJECT,
        env=rasa_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.nice(niceness),
    )


def finish_training(process: subprocess.Popen[str]) -> Path:
    """The model a background training wrote, once it has; ``RasaError`` when it failed."""
    _, errors = process.communicate()
    return _trained(process.returncode, errors)


def _trained(returncode: int, errors: str | None) -> Path:
    """The model a training wrote; ``RasaError`` with the last line it printed when it failed."""
    if returncode != 0:
        detail = (errors or "").strip().splitlines()[-1:]
        raise RasaError(f"rasa train nlu failed ({returncode}) {' '.join(detail)}".rstrip())
    return model_path()


def validate(venv: Path = DEFAULT_VENV) -> None:
    command = [
        str(rasa_binary(venv)),
        "data",
        "validate",
        "--data",
        "data",
        "--domain",
        "domain.yml",
        "--config",
        "config.yml",
    ]
    result = subprocess.run(  # noqa: S603
        command, cwd=RASA_PROJECT, env=rasa_environment(), check=False, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RasaError(f"rasa data validate failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def serve(
    venv: Path = DEFAULT_VENV, *, host: str = "127.0.0.1", port: int = 5005, log_file: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``rasa run --enable-api`` on the trained model; the caller stops it."""
    model = model_path()
    if not model.exists():
        raise RasaError(f"no trained model at {model}: run `needsbot nlu train --backend rasa` first")
    command = [
        str(rasa_binary(venv)),
        "run",
        "--enable-api",
        "--model",
        str(model),
        "--interface",
        host,
        "--port",
        str(port),
    ]
    output = log_file.open("ab") if log_file else None
    try:
        return subprocess.Popen(  # noqa: S603
            command,
            cwd=RASA_PROJECT,
            env=rasa_environment(),
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
        )
    finally:
        if output:
            output.close()


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes] | None = None, *, timeout: float = 300
) -> None:
    """Until the server parses a message (model loaded), or fail when it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RasaError(f"the Rasa server exited with code {process.returncode} while starting")
        try:
            response = httpx.post(f"{url}/model/parse", json={"text": "你好"}, timeout=5)
            if response.status_code == 200 and response.json().get("intent"):
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RasaError(f"the Rasa server at {url} was not ready within {timeout:.0f} s")
