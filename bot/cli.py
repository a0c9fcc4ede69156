"""linli command line: the `linli` command (and `python bot.py` in a clone).

linli [run]                    run the bot (long polling); without a token: the sandbox
linli sandbox [--port 8080]    the bot in a browser, without Telegram (sandbox/)
linli webhook                  run the bot behind a webhook (WEBHOOK_URL)
linli scheduler                run only the scheduled jobs and delivery
linli migrate                  apply the database migrations
linli jobs list                name the scheduled jobs
linli jobs run NAME [--at ISO] run one job now, as if at that time
linli export ...               write records to a file (see --help)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime

from bot.logs import configure_logging, redact_token
from storage.settings import Settings, SettingsError, load_settings

NO_TOKEN = (
    "linli needs a bot token. Get one from @BotFather in Telegram (send /newbot), then put it\n"
    "in a file named .env beside bot.py as BOT_TOKEN=123456:ABC... (see .env.example),\n"
    "or set the BOT_TOKEN environment variable."
)


def start_failure(error: Exception, settings: Settings) -> str | None:
    """One line naming what stopped start-up at the Bot API server, or None if it is not that
    kind of error. Never the token."""
    import aiohttp
    from aiogram.exceptions import (
        ClientDecodeError,
        TelegramNetworkError,
        TelegramNotFound,
        TelegramUnauthorizedError,
    )
    from aiogram.utils.token import TokenValidationError

    from bot.logs import describe, redact

    server = str(settings.telegram_api_base).rstrip("/")
    if isinstance(error, TokenValidationError):
        line = "BOT_TOKEN is not a bot token (it looks like 123456:ABC...): check what @BotFather"
        line += " gave you"
    elif isinstance(error, TelegramUnauthorizedError | TelegramNotFound):
        line = f"the Bot API server at {server} does not accept BOT_TOKEN ({error.message}):"
        line += " check the token @BotFather gave you"
    elif isinstance(error, TelegramNetworkError | aiohttp.ClientError):  # not the database's
        line = f"cannot reach the Bot API server at {server} ({describe(error)}):"
        line += " check TELEGRAM_API_BASE and the network"
    elif isinstance(error, ClientDecodeError):
        line = f"the server at {server} does not answer as a Bot API server ({describe(error)}):"
        line += " check TELEGRAM_API_BASE"
    else:
        return None
    return redact(" ".join(line.split()), settings.token)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="linli", description="linli (邻里) village bot")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the bot with long polling (the default)")
    from sandbox.options import add_sandbox_arguments

    add_sandbox_arguments(
        commands.add_parser("sandbox", help="try the bot in a browser, without Telegram")
    )
    commands.add_parser("webhook", help="run the bot behind a webhook")
    commands.add_parser("scheduler", help="run the scheduled jobs and the delivery loop only")
    commands.add_parser("migrate", help="apply database migrations")
    jobs = commands.add_parser("jobs", help="list or run scheduled jobs")
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    job_commands.add_parser("list", help="name the jobs")
    run = job_commands.add_parser("run", help="run one job now")
    run.add_argument("name")
    run.add_argument("--at", help="run as if at this time (ISO 8601; local time if no offset)")
    export = commands.add_parser("export", help="write records to a file")
    from exports import add_export_commands

    add_export_commands(export)
    return parser.parse_args(argv)


def parse_time(text: str, settings: Settings) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.tz)
    return moment.astimezone(UTC)


async def migrate_only(settings: Settings) -> None:
    from storage.db import create_engine, migrate

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


async def run_bot(settings: Settings, mode: str) -> None:
    """Serve until SIGTERM or SIGINT; a stop asked for so ends normally (exit code 0)."""
    from bot.app import create_app, run_polling, run_scheduler_only, run_webhook
    from bot.gc_tuning import tune_gc

    app = await create_app(settings)
    tune_gc()  # what start-up made stays out of the collector's way: see bot/gc_tuning.py
    runners = {"run": run_polling, "webhook": run_webhook, "scheduler": run_scheduler_only}
    await runners[mode](app)
    logging.getLogger("linli").info("%s stopped", mode)


async def jobs_command(settings: Settings, args: argparse.Namespace) -> int:
    from schedules import all_jobs

    if args.jobs_command == "list":
        for job in all_jobs().values():
            print(f"{job.name:24} {job.description}")
        return 0
    if args.name not in all_jobs():
        print(f"no job named {args.name!r}; try: linli jobs list", file=sys.stderr)
        return 2
    from bot.app import create_runtime
    from storage.clock import Clock
    from storage.db import create_engine, create_session_factory, migrate
    from views.i18n import PoI18n

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        i18n = PoI18n(default_locale=settings.bot_default_locale)
        i18n.activate()
        runtime = create_runtime(settings, create_session_factory(engine), Clock())
        at = parse_time(args.at, settings) if args.at else None
        print(await runtime.run(args.name, at=at))
        print("Messages it wrote go out with the running bot's delivery loop.")
    finally:
        await engine.dispose()
    return 0


def preflight(settings: Settings, command: str) -> None:
    """What a serving process needs before it starts: the webhook's secret, Redis if set."""
    if command == "webhook":
        settings.check_webhook()
    if settings.redis_url:
        from bot.fsm import check_redis

        asyncio.run(check_redis(settings.redis_url))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    command = args.command or "run"
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    redact_token(settings.token)  # an upstream may echo /bot<token>/... in its error pages
    if command == "sandbox" or (args.command is None and not settings.bot_token):
        from sandbox.run import run_sandbox

        asked = command == "sandbox"
        return run_sandbox(args if asked else parse_args(["sandbox"]), settings, asked=asked)
    if command in {"run", "webhook", "scheduler"} and not settings.bot_token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    if command in {"run", "webhook", "scheduler"}:
        try:
            preflight(settings, command)
        except SettingsError as exc:
            print(exc, file=sys.stderr)
            return 2
    if command == "migrate":
        asyncio.run(migrate_only(settings))
        print("database is up to date")
        return 0
    if command == "jobs":
        return asyncio.run(jobs_command(settings, args))
    if command == "export":
        from exports import run_export

        return asyncio.run(run_export(settings, args))
    try:
        asyncio.run(run_bot(settings, command))
    except Exception as error:
        line = start_failure(error, settings)
        if line is None:
            raise
        print(f"linli cannot start: {line}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
