from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import ConfigurationError, NluBackend, load_settings

TOKEN = "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ra"
SETTINGS_VARIABLES = (
    "DIALOG_REMIND_AFTER",
    "DIALOG_EXPIRE_AFTER",
    "DATABASE_URL",
    "REDIS_URL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_BOT_USERNAME",
    "TELEGRAM_API_BASE_URL",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "NLU_BACKEND",
    "RASA_URL",
    "DEFAULT_LANGUAGE",
    "TIMEZONE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_the_embedded_single_machine_shape() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///var/needsbot.sqlite3"
    assert settings.redis_url is None
    assert settings.telegram_bot_token is None
    assert settings.nlu_backend is NluBackend.EMBEDDED
    assert settings.default_language == "zh"
    assert settings.timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql://h/db", "postgresql+asyncpg://h/db"),
        ("postgresql+psycopg://h/db", "postgresql+asyncpg://h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_urls_get_the_async_driver(
    given: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings().database_url == expected


def test_the_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\nNLU_BACKEND=rasa\n")
    settings = load_settings()
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == TOKEN
    assert settings.nlu_backend is NluBackend.RASA


def test_blank_optional_values_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_URL", "TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET", "TELEGRAM_API_BASE_URL"):
        monkeypatch.setenv(name, "")
    settings = load_settings()
    assert settings.redis_url is None
    assert settings.telegram_bot_token is None
    assert settings.webhook_url is None


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("DATABASE_URL", "mysql://h/db", "DATABASE_URL: unsupported database"),
        ("REDIS_URL", "http://h", "REDIS_URL: must start with redis://"),
        ("NLU_BACKEND", "bert", "NLU_BACKEND: Input should be 'embedded' or 'rasa'"),
        ("RASA_URL", "localhost:5005", "RASA_URL: must be an http:// or https:// URL"),
        ("WEBHOOK_URL", "http://bot.example.org", "WEBHOOK_URL must be an https:// URL"),
        ("DEFAULT_LANGUAGE", "fr", "DEFAULT_LANGUAGE: Input should be 'zh' or 'en'"),
        ("TIMEZONE", "Asia/Atlantis", "TIMEZONE: 'Asia/Atlantis' is not a known time zone"),
        ("WEBHOOK_PORT", "70000", "WEBHOOK_PORT: Input should be less than or equal to 65535"),
    ],
)
def test_an_invalid_value_names_the_variable(
    variable: str, value: str, complaint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert complaint in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("variable", ["TELEGRAM_BOT_TOKEN", "WEBHOOK_SECRET"])
def test_a_malformed_secret_is_reported_without_its_value(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "not:a valid secret value with spaces 0123456789"
    monkeypatch.setenv(variable, secret)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert variable in str(raised.value)
    assert "spaces" not in str(raised.value)
    assert secret not in repr(raised.value)


def test_secrets_do_not_show_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret-value")
    settings = load_settings()
    assert TOKEN not in repr(settings)
    assert "s3cret-value" not in repr(settings)


def test_the_program_stops_with_exit_code_2_and_one_line(tmp_path: Path) -> None:
    environment = {**os.environ, "TIMEZONE": "Nowhere/Land", "TELEGRAM_BOT_TOKEN": "12345:short-secret-xyz"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "tickets", "list"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "TIMEZONE" in lines[0]
    assert "TELEGRAM_BOT_TOKEN" in lines[0]
    assert "short-secret-xyz" not in result.stderr + result.stdout


def test_dialog_timings_are_durations_and_the_reminder_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALOG_REMIND_AFTER", "10m")
    monkeypatch.setenv("DIALOG_EXPIRE_AFTER", "1h")
    settings = load_settings()
    assert (settings.dialog_remind_after.total_seconds(), settings.dialog_expire_after.total_seconds()) == (
        600,
        3600,
    )
    monkeypatch.setenv("DIALOG_REMIND_AFTER", "2h")
    with pytest.raises(
        ConfigurationError, match="DIALOG_REMIND_AFTER must be shorter than DIALOG_EXPIRE_AFTER"
    ):
        load_settings()
    monkeypatch.setenv("DIALOG_REMIND_AFTER", "soon")
    with pytest.raises(ConfigurationError, match="DIALOG_REMIND_AFTER: must be a duration"):
        load_settings()


def test_an_http_webhook_is_accepted_only_with_a_self_hosted_bot_api_server() -> None:
    settings = load_settings(
        webhook_url="http://127.0.0.1:8443/hook", telegram_api_base_url="http://127.0.0.1:8081"
    )
    assert settings.webhook_url == "http://127.0.0.1:8443/hook"
    with pytest.raises(ConfigurationError, match="WEBHOOK_URL must be an https:// URL"):
        load_settings(webhook_url="http://127.0.0.1:8443/hook")
