"""Configuration read from the environment and ``.env``.

Every problem is reported as one line naming the variable; secret values never appear in it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from casework.conversation import Signature
from casework.directory import parse_duration
from casework.domain import Channel, InvalidInput

DEFAULT_SQLITE_PATH = Path("var") / "needsbot.sqlite3"
DEFAULT_MODEL_DIR = Path("var") / "nlu"

_BOT_TOKEN = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,100}$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_BOT_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")


class NluBackend(StrEnum):
    EMBEDDED = "embedded"
    RASA = "rasa"


class Language(StrEnum):
    ZH = "zh"
    EN = "en"


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings of a SQLite or PostgreSQL URL and pick the async driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must be a URL such as sqlite:///var/needsbot.sqlite3 or postgresql://host/db")
    driverless = scheme.split("+", 1)[0].lower()
    if driverless in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    if driverless == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError(f"unsupported database '{driverless}'; use sqlite or postgresql")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = Field(default=f"sqlite:///{DEFAULT_SQLITE_PATH}")
    redis_url: str | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_bot_username: str | None = None
    telegram_api_base_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    # The staff's web console: served on WEB_LISTEN:WEB_PORT, reached at WEB_BASE_URL (its sign-in
    # links start there; https:// makes its cookies Secure). No base URL: no console is served.
    web_base_url: str | None = None
    web_listen: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=1, le=65535)
    nlu_backend: NluBackend = NluBackend.EMBEDDED
    nlu_model_dir: Path = DEFAULT_MODEL_DIR
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout: float = Field(default=2.0, gt=0, le=30)
    deadlines_file: Path | None = None
    evaluation_weights: Path | None = None  # how agencies' evaluations weigh each voice (YAML)
    dialog_remind_after: timedelta = timedelta(minutes=30)
    dialog_expire_after: timedelta = timedelta(hours=2)
    default_language: Language = Language.ZH
    # How a worker's message to a person is signed: their name (and agency), or the agency's alone.
    message_signature: Signature = Signature.WORKER
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value.strip())

    @field_validator(
        "redis_url",
        "telegram_api_base_url",
        "webhook_url",
        "web_base_url",
        "telegram_bot_username",
        "deadlines_file",
        "evaluation_weights",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def web_address(self) -> str:
        """Where people reach the web console: ``WEB_BASE_URL``, else where it listens."""
        return self.web_base_url or f"http://{self.web_listen}:{self.web_port}"

    @field_validator("web_base_url")
    @classmethod
    def _web_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("telegram_bot_token", "webhook_secret", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _BOT_TOKEN.match(value.get_secret_value().strip()):
            raise ValueError(
                "is not a bot token as @BotFather issues them (digits, a colon, then the secret)"
            )
        return SecretStr(value.get_secret_value().strip()) if value is not None else None

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("telegram_bot_username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.removeprefix("@")
        if not _BOT_USERNAME.match(value):
            raise ValueError("is not a Telegram bot username")
        return value

    @field_validator("telegram_api_base_url", "rasa_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be an http:// or https:// URL")
            return value.rstrip("/")
        return value

    @model_validator(mode="after")
    def _webhook_url(self) -> Settings:
        if self.webhook_url is not None:
            parts = urlsplit(self.webhook_url)
            # Telegram delivers webhooks over HTTPS only; a self-hosted Bot API server also over HTTP.
            schemes = ("https", "http") if self.telegram_api_base_url else ("https",)
            if parts.scheme not in schemes or not parts.netloc:
                raise ValueError(
                    "WEBHOOK_URL must be an https:// URL (http:// only with TELEGRAM_API_BASE_URL, "
                    "a self-hosted Bot API server)"
                )
        return self

    @field_validator("dialog_remind_after", "dialog_expire_after", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return parse_duration(value)
            except InvalidInput:
                raise ValueError("must be a duration such as 30m, 2h or 1d") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a known time zone such as Asia/Shanghai") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="after")
    def _reminder_before_expiry(self) -> Settings:
        if self.dialog_remind_after >= self.dialog_expire_after:
            raise ValueError("DIALOG_REMIND_AFTER must be shorter than DIALOG_EXPIRE_AFTER")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def alert_channel(self) -> Channel | None:
        """The channel staff are alerted on: Telegram once a bot token is set; otherwise none in
        particular (the console shows an alert to whoever it is for, whatever their accounts)."""
        return Channel.TELEGRAM if self.telegram_bot_token is not None else None

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class ConfigurationError(Exception):
    """Raised with a one-line, secret-free description of what is wrong with the configuration."""


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem: the environment variable and what is wrong, never the value given."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        name = str(problem["loc"][0]).upper() if problem["loc"] else "configuration"
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(error)) from None
