"""The factory: builds the Bot, the Dispatcher and everything around them from the settings.

Nothing is built at import time; `bot.py`, the tests and the benches all call `create_app`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import BotCommand, BotCommandScopeDefault
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.after_commit import HoldUntilCommit
from bot.delivery import Delivery, Limits
from bot.edits import EditFallback
from bot.fsm import create_fsm_storage, create_isolation
from bot.i18n import PoI18n, tr
from bot.middlewares import setup_middlewares
from bot.profile_sync import ProfileSync
from bot.response_types import KeepResponseTypes
from bot.settings import Settings
from handlers import feature_routers
from schedules.runtime import Runtime
from storage.clock import Clock
from storage.db import (
    CONCURRENT_UPDATES,
    SessionFactory,
    create_engine,
    create_session_factory,
    migrate,
)
from storage.errors import N_
from storage.profiles import Profiles

log = logging.getLogger("linli")

MENU = (
    ("me", N_("Who you are and where")),
    ("help", N_("What you can do")),
    ("language", N_("中文 / English")),
    ("cancel", N_("Stop what you are doing")),
)


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    clock: Clock
    i18n: PoI18n
    bot: Bot
    dp: Dispatcher
    fsm: BaseStorage
    delivery: Delivery
    runtime: Runtime
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        self.runtime.shutdown()
        self.delivery.stop()  # lets a send in flight finish and record its outcome
        _done, pending = await asyncio.wait(self.tasks, timeout=10) if self.tasks else ((), ())
        for task in pending:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.fsm.close()
        await self.bot.session.close()
        await self.delivery.bot.session.close()
        await self.engine.dispose()


def create_bot(settings: Settings, *, answering: bool = True) -> Bot:
    """A Bot on the configured server; the one `answering` updates edits leniently."""
    api = TelegramAPIServer.from_base(str(settings.telegram_api_base).rstrip("/"))
    bot = Bot(
        settings.token,
        session=AiohttpSession(api=api),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    if answering:  # what an update says waits for its commit (bot.after_commit)
        bot.session.middleware(HoldUntilCommit())
    bot.session.middleware(KeepResponseTypes())
    if answering:
        bot.session.middleware(EditFallback())
    return bot


def create_dispatcher(
    *,
    settings: Settings,
    sessions: SessionFactory,
    clock: Clock,
    i18n: PoI18n,
    fsm: BaseStorage,
    delivery: Delivery | None,
) -> Dispatcher:
    dp = Dispatcher(storage=fsm, disable_fsm=True)  # placed in our chain, see setup_middlewares
    isolation = create_isolation(settings.redis_url)
    dp.shutdown.register(isolation.close)
    dp["settings"] = settings
    dp["clock"] = clock
    if settings.redis_url:  # several processes: tell each other whom to forget
        sync = ProfileSync(settings.redis_url)
        dp.startup.register(sync.start)
        dp.shutdown.register(sync.close)
    setup_middlewares(
        dp,
        sessions=sessions,
        clock=clock,
        i18n=i18n,
        isolation=isolation,
        profiles=Profiles(district_admins=settings.bot_superadmins),
        on_outbox=delivery.wake if delivery else None,
    )
    dp.include_routers(*feature_routers())
    return dp


async def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    limits: Limits | None = None,
    run_migrations: bool = True,
) -> App:
    """Everything wired, nothing started. Migrations are applied unless told otherwise."""
    engine = create_engine(settings.database_url)
    if run_migrations:
        await migrate(engine)
    sessions = create_session_factory(engine)
    clock = clock or Clock()
    i18n = PoI18n(default_locale=settings.bot_default_locale)
    i18n.activate()  # pushes and jobs translate outside of any update
    bot = create_bot(settings)
    fsm = create_fsm_storage(settings.redis_url, sessions)
    delivery = Delivery(
        create_bot(settings, answering=False), sessions, clock, limits=limits or Limits()
    )
    runtime = create_runtime(settings, sessions, clock, after_commit=delivery.wake)
    dp = create_dispatcher(
        settings=settings, sessions=sessions, clock=clock, i18n=i18n, fsm=fsm, delivery=delivery
    )
    return App(
        settings=settings,
        engine=engine,
        sessions=sessions,
        clock=clock,
        i18n=i18n,
        bot=bot,
        dp=dp,
        fsm=fsm,
        delivery=delivery,
        runtime=runtime,
    )


def create_runtime(
    settings: Settings,
    sessions: SessionFactory,
    clock: Clock,
    *,
    after_commit: Callable[[], object] | None = None,
) -> Runtime:
    """The jobs' runtime. Jobs translate with `bot.i18n.tr`: activate an I18n first."""
    return Runtime(sessions, clock, settings.tz, settings=settings, after_commit=after_commit)


async def set_menu(bot: Bot, i18n: PoI18n) -> None:
    """The command menu in both languages: an extra, so a failure is only logged."""
    try:
        for language in ("zh", "en"):
            commands = [
                BotCommand(command=name, description=tr(language, text)) for name, text in MENU
            ]
            await bot.set_my_commands(
                commands,
                scope=BotCommandScopeDefault(),
                language_code=None if language == i18n.default_locale else language,
            )
    except (TelegramAPIError, OSError) as exc:
        log.warning("could not set the command menu: %s", exc)


async def start_background(app: App, *, scheduler: bool = True) -> None:
    """The delivery loop, the catch-up of missed job periods, and the scheduler."""
    app.tasks.append(asyncio.create_task(app.delivery.run(), name="delivery"))
    if scheduler:
        await app.runtime.catch_up()
        app.runtime.start()


async def run_polling(app: App) -> None:
    await set_menu(app.bot, app.i18n)
    await app.bot.delete_webhook(drop_pending_updates=False)
    await start_background(app)
    try:
        await app.dp.start_polling(
            app.bot,
            handle_signals=True,
            close_bot_session=False,
            tasks_concurrency_limit=CONCURRENT_UPDATES,
        )
    finally:
        await app.close()


async def run_scheduler_only(app: App) -> None:
    """The jobs and the delivery loop, without reading updates (beside webhook workers)."""
    await start_background(app)
    try:
        await asyncio.Event().wait()
    finally:
        await app.close()


async def run_webhook(app: App) -> None:
    """Updates arrive over HTTPS; run `bot.py scheduler` once beside any number of these."""
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web

    settings = app.settings
    if settings.webhook_url is None:
        raise SystemExit("Bad setting WEBHOOK_URL: webhook mode needs the public HTTPS URL")
    web_app = web.Application()
    SimpleRequestHandler(
        dispatcher=app.dp, bot=app.bot, secret_token=settings.webhook_secret
    ).register(web_app, path=settings.webhook_url.path or "/")
    setup_application(web_app, app.dp, bot=app.bot)
    await set_menu(app.bot, app.i18n)
    await app.bot.set_webhook(str(settings.webhook_url), secret_token=settings.webhook_secret)
    runner = web.AppRunner(web_app)
    await runner.setup()
    await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await app.close()
