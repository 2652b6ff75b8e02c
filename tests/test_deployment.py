"""The compose file and the example configuration agree with the settings the bot reads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import Settings, load_settings
from tests.services import unavailable

ROOT = Path(__file__).resolve().parent.parent
SETTING_NAMES = {name.upper() for name in Settings.model_fields}
COMPOSE_ENVIRONMENT = {
    "POSTGRES_PASSWORD": "compose-test-password",
    "TELEGRAM_BOT_TOKEN": "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ra",
    "WEBHOOK_URL": "https://bot.example.org/telegram",
    "WEBHOOK_SECRET": "compose-test-secret",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as docker-compose itself resolves it (anchors and variables filled in)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        unavailable("docker-compose (Debian package docker-compose)")
        raise AssertionError("unreachable")
    environment = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    result = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config"],
        env={**environment, **COMPOSE_ENVIRONMENT},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = yaml.safe_load(result.stdout)
    return resolved


def test_docker_compose_refuses_to_start_without_the_secrets() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        unavailable("docker-compose (Debian package docker-compose)")
        return
    environment = {key: value for key, value in os.environ.items() if key not in COMPOSE_ENVIRONMENT}
    result = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "set " in result.stderr


def test_every_service_the_bot_needs_is_there_with_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("postgres", "redis", "rasa", "bot"):
        assert name in services, name
        assert "test" in services[name]["healthcheck"], name
    assert services["rasa"]["image"] == "rasa/rasa:3.6.21-full"
    assert "--enable-api" in services["rasa"]["command"]
    bot_needs = services["bot"]["depends_on"]
    for name in ("postgres", "redis", "rasa"):
        assert bot_needs[name]["condition"] == "service_healthy"
    assert bot_needs["migrate"]["condition"] == "service_completed_successfully"


def test_the_bot_environment_is_exactly_settings_the_bot_reads(compose: dict[str, Any]) -> None:
    environment = compose["services"]["bot"]["environment"]
    assert set(environment) <= SETTING_NAMES, set(environment) - SETTING_NAMES
    assert environment["NLU_BACKEND"] == "rasa"
    assert environment["RASA_URL"] == "http://rasa:5005"
    assert environment["REDIS_URL"].startswith("redis://redis:")
    assert "@postgres:5432/" in environment["DATABASE_URL"]


def test_the_bot_environment_passes_the_bot_validation(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in compose["services"]["bot"]["environment"].items():
        monkeypatch.setenv(name, str(value))
    settings = load_settings()
    assert settings.database_url.startswith("postgresql+asyncpg://needsbot:")
    assert settings.webhook_url == COMPOSE_ENVIRONMENT["WEBHOOK_URL"]


def test_the_migration_job_the_scheduler_and_the_bot_share_one_configuration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["environment"] == services["bot"]["environment"]
    assert services["scheduler"]["environment"] == services["bot"]["environment"]
    assert services["migrate"]["command"] == ["needsbot", "db", "upgrade"]
    assert services["scheduler"]["command"] == ["needsbot", "scheduler", "run"]
    assert "test" in services["scheduler"]["healthcheck"]


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    names = set()
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.split("=", 1)[0])
    assert names == SETTING_NAMES


def test_the_image_installs_every_package_the_distribution_ships() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for package in ("bot", "nlu", "dialogs", "storage", "casework"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert 'CMD ["needsbot", "run"]' in dockerfile
