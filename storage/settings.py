"""Settings from the environment or `.env`, built once by `bot.py` (see `.env.example`)."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/linli.db"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
# What Telegram accepts as a webhook's secret token (setWebhook's `secret_token`)
WEBHOOK_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,256}")


class SettingsError(Exception):
    """A setting has a bad value; the message is one line for the operator."""


def async_database_url(url: str) -> str:
    """Normalise a database URL to the async driver SQLAlchemy needs (asyncpg, aiosqlite)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"only sqlite and postgresql are supported, not {backend!r}")
    return parsed.render_as_string(hide_password=False)


class Settings(BaseSettings):
    """Everything an operator can set. Names match the environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore"
    )

    bot_token: SecretStr | None = None
    telegram_api_base: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org")
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    bot_timezone: str = "Asia/Shanghai"
    bot_superadmins: Annotated[tuple[int, ...], NoDecode] = ()
    bot_default_locale: Literal["zh", "en"] = "zh"
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: str | None = None
    webhook_host: str = "0.0.0.0"  # noqa: S104 - a webhook listens where the operator says
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    log_level: str = "INFO"
    log_format: str = "text"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return async_database_url(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"not a redis URL: {value!r}")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        if value and not WEBHOOK_SECRET_SHAPE.fullmatch(value):
            raise ValueError("use 1 to 256 of the characters A-Z a-z 0-9 _ -")
        return value or None

    @field_validator("bot_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("bot_superadmins", mode="before")
    @classmethod
    def _superadmins(cls, value: object) -> tuple[int, ...]:
        if isinstance(value, int):
            return (value,)
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            bad = [part for part in parts if not part.lstrip("-").isdigit()]
            if bad:
                raise ValueError(f"Telegram user ids are numbers, not {', '.join(bad)}")
            return tuple(int(part) for part in parts)
        return tuple(value)  # type: ignore[arg-type]

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"one of {', '.join(LOG_LEVELS)}, not {value!r}")
        return level

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        fmt = value.strip().lower()
        if fmt not in LOG_FORMATS:
            raise ValueError(f"text or json, not {value!r}")
        return fmt

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.bot_timezone)

    @property
    def token(self) -> str:
        return self.bot_token.get_secret_value() if self.bot_token else ""

    def check_webhook(self) -> None:
        """Webhook mode needs its public URL and a secret: without one, anybody could post
        updates "from" anyone (a district admin) to the bot's port."""
        if self.webhook_url is None:
            raise SettingsError("Bad setting WEBHOOK_URL: webhook mode needs the public HTTPS URL")
        if not self.webhook_secret:
            raise SettingsError(
                "Bad setting WEBHOOK_SECRET: webhook mode needs a secret (1 to 256 of A-Z a-z "
                "0-9 _ -, e.g. from `openssl rand -hex 32`) so that forged updates are refused"
            )


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a validation error into one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"Bad setting {name}: {message}") from None
