"""Settings and the command line: bad values stop start-up with one clear line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def settings(**values: str) -> Settings:
    return load_settings(_env_file=None, **values)


def test_defaults() -> None:
    loaded = settings()
    assert loaded.database_url == "sqlite+aiosqlite:///./data/linli.db"
    assert loaded.bot_timezone == "Asia/Shanghai" and loaded.bot_default_locale == "zh"
    assert loaded.bot_superadmins == () and loaded.redis_url is None


def test_values_are_normalised() -> None:
    loaded = settings(
        database_url="postgresql://u:p@db:5432/linli",
        bot_superadmins="1, 22 ,333",
        redis_url="redis://127.0.0.1:6379/0",
    )
    assert loaded.database_url == "postgresql+asyncpg://u:p@db:5432/linli"
    assert loaded.bot_superadmins == (1, 22, 333)


@pytest.mark.parametrize(
    ("name", "value", "mentions"),
    [
        ("bot_timezone", "Mars/Olympus", "BOT_TIMEZONE"),
        ("bot_superadmins", "12,abc", "BOT_SUPERADMINS"),
        ("database_url", "not a url", "DATABASE_URL"),
        ("database_url", "mysql://x/y", "DATABASE_URL"),
        ("telegram_api_base", "ftp:/nowhere", "TELEGRAM_API_BASE"),
        ("bot_default_locale", "fr", "BOT_DEFAULT_LOCALE"),
        ("redis_url", "localhost:6379", "REDIS_URL"),
        ("log_level", "LOUD", "LOG_LEVEL"),
        ("log_format", "xml", "LOG_FORMAT"),
    ],
)
def test_a_bad_value_is_one_clear_line(name: str, value: str, mentions: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(**{name: value})
    message = str(caught.value)
    assert mentions in message and "\n" not in message


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "DATABASE_URL", "REDIS_URL", "TELEGRAM_", "LOG_"))
    }
    return subprocess.run(
        [sys.executable, "bot.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
        check=False,
    )


def test_without_a_token_the_bot_says_how_to_get_one(tmp_path: Path) -> None:
    result = run_cli("run", DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2
    assert "@BotFather" in result.stderr and ".env" in result.stderr


def test_a_bad_setting_stops_the_command_line_with_exit_2() -> None:
    result = run_cli("run", BOT_TOKEN="1:x", BOT_TIMEZONE="Nowhere/Land")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "BOT_TIMEZONE" in lines[0]


def test_jobs_list_and_run_as_of_a_time(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'jobs.db'}"
    listed = run_cli("jobs", "list", DATABASE_URL=database)
    assert listed.returncode == 0 and "pending_reminder" in listed.stdout
    first = run_cli(
        "jobs", "run", "pending_reminder", "--at", "2026-11-29T10:00", DATABASE_URL=database
    )
    assert first.returncode == 0, first.stderr
    assert "'period': '2026-11-29'" in first.stdout and "skipped" not in first.stdout
    again = run_cli(
        "jobs", "run", "pending_reminder", "--at", "2026-11-29T11:00", DATABASE_URL=database
    )
    assert "'skipped': True" in again.stdout
    unknown = run_cli("jobs", "run", "no_such_job", DATABASE_URL=database)
    assert unknown.returncode == 2


def test_migrate_creates_the_database(tmp_path: Path) -> None:
    result = run_cli("migrate", DATABASE_URL=f"sqlite:///{tmp_path / 'm.db'}")
    assert result.returncode == 0 and (tmp_path / "m.db").exists()
