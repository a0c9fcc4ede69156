"""The factory: builds the Bot, the Dispatcher and everything around them from the settings,
and the three ways to run them (polling, webhook, scheduler), each stopping cleanly on SIGTERM.

Nothing is built at import time; `bot.py`, the tests and the benches all call `create_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import AiogramError
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import BotCommandScopeDefault
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.after_commit import HoldUntilCommit
from bot.delivery import Delivery, Limits
from bot.edits import EditFallback
from bot.fsm import create_fsm_storage, create_isolation, redis_client
from bot.health import healthz
from bot.logs import describe
from bot.middlewares import setup_middlewares
from bot.polling import Polling
from bot.profile_sync import ProfileSync
from bot.response_types import KeepResponseTypes
from bot.typed_buttons import RememberButtons
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
from storage.profiles import Profiles
from storage.settings import Settings
from views.home import ShownButtons, menu
from views.i18n import PoI18n

log = logging.getLogger("linli")

# After SIGTERM or SIGINT the work in hand (updates, a job's run, sends in flight) gets this many
# seconds, all side by side; then what is left is cut off (it rolls back, and Telegram or the
# outbox has it again). With closing, the process is gone well within 10 s.
STOP_GRACE = 4.0


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
    stop_deadline: float | None = None  # the loop's time when the work in hand is cut off

    def begin_stop(self) -> None:
        """No job starts and no message is sent from now on; what is in hand has STOP_GRACE
        seconds (the delivery loop's send in flight finishes and records its outcome)."""
        if self.stop_deadline is None:
            self.stop_deadline = asyncio.get_running_loop().time() + STOP_GRACE
        self.runtime.pause()
        self.delivery.stop()

    def grace_left(self) -> float:
        if self.stop_deadline is None:
            return STOP_GRACE
        return max(0.0, self.stop_deadline - asyncio.get_running_loop().time())

    async def close(self) -> None:
        """Stop (see `begin_stop`), wait for the work in hand within the grace, free it all."""
        self.begin_stop()
        await self.runtime.stop(self.grace_left())
        if self.tasks:
            # The delivery loop cuts its own sends off at the grace; this is a last resort.
            _done, pending = await asyncio.wait(self.tasks, timeout=self.grace_left() + 1)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.fsm.close()
        await self.bot.session.close()
        await self.delivery.bot.session.close()
        await self.engine.dispose()


def create_bot(
    settings: Settings, *, answering: bool = True, shown: ShownButtons | None = None
) -> Bot:
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
    if shown is not None:
        bot.session.middleware(RememberButtons(shown))
    return bot


def create_dispatcher(
    *,
    settings: Settings,
    sessions: SessionFactory,
    clock: Clock,
    i18n: PoI18n,
    fsm: BaseStorage,
    delivery: Delivery | None,
    shown: ShownButtons | None = None,
) -> Dispatcher:
    dp = Dispatcher(storage=fsm, disable_fsm=True)  # placed in our chain, see setup_middlewares
    dp["shown_buttons"] = shown or ShownButtons()
    isolation = create_isolation(settings.redis_url)
    dp.shutdown.register(isolation.close)
    dp["settings"] = settings
    dp["clock"] = clock
    if settings.redis_url:  # several processes: tell each other whom to forget
        sync = ProfileSync(settings.redis_url)
        dp.startup.register(sync.start)
        dp.shutdown.register(sync.close)
    throttle_redis = redis_client(settings.redis_url) if settings.redis_url else None
    if throttle_redis is not None:
        dp.shutdown.register(throttle_redis.aclose)
    setup_middlewares(
        dp,
        sessions=sessions,
        clock=clock,
        i18n=i18n,
        isolation=isolation,
        profiles=Profiles(district_admins=settings.bot_superadmins),
        on_outbox=delivery.wake if delivery else None,
        redis=throttle_redis,
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
    shown = ShownButtons()
    bot = create_bot(settings, shown=shown)
    fsm = create_fsm_storage(settings.redis_url, sessions)
    delivery = Delivery(
        create_bot(settings, answering=False),
        sessions,
        clock,
        limits=limits or Limits(),
        stop_grace=STOP_GRACE,
    )
    runtime = create_runtime(settings, sessions, clock, after_commit=delivery.wake)
    dp = create_dispatcher(
        settings=settings,
        sessions=sessions,
        clock=clock,
        i18n=i18n,
        fsm=fsm,
        delivery=delivery,
        shown=shown,
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
    """The jobs' runtime. Jobs translate with `views.i18n.tr`: activate an I18n first."""
    return Runtime(sessions, clock, settings.tz, settings=settings, after_commit=after_commit)


async def set_menu(bot: Bot, i18n: PoI18n) -> None:
    """The default "/" menu (a resident's) in both languages; each person gets their own
    when they first write (bot.menus). An extra, so a failure (an error, the network, an
    answer outside the Bot API's shape) is only logged."""
    try:
        for language in ("zh", "en"):
            await bot.set_my_commands(
                menu(None, language, default=True),
                scope=BotCommandScopeDefault(),
                language_code=None if language == i18n.default_locale else language,
            )
    except (AiogramError, OSError, TimeoutError) as exc:
        log.warning("could not set the command menu: %s", describe(exc))


async def start_background(app: App, *, scheduler: bool = True) -> None:
    """The delivery loop, and the catch-up of missed job periods followed by the scheduler, as
    tasks beside the bot: start-up does not wait for them, so polling starts at once."""
    app.tasks.append(asyncio.create_task(app.delivery.run(), name="delivery"))
    if scheduler:
        catch_up = app.runtime.catch_up_and_start()
        app.tasks.append(asyncio.create_task(catch_up, name="catch-up"))


class StopSignal:
    """From its creation, SIGTERM and SIGINT ask the process to stop instead of killing it."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, on_signal: Callable[[], None] | None = None) -> None:
        self.received = asyncio.Event()
        self.on_signal = on_signal
        loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            loop.add_signal_handler(sig, self._receive, sig)

    def _receive(self, sig: signal.Signals) -> None:
        if self.received.is_set():
            log.warning("%s: already stopping", sig.name)
            return
        log.warning("%s: stopping (the work in hand has %s s)", sig.name, STOP_GRACE)
        self.received.set()
        if self.on_signal is not None:
            self.on_signal()

    async def wait(self, task: asyncio.Future[Any] | None = None) -> None:
        """Until a signal arrives, or `task` ends first (its error, if any, is raised)."""
        received = asyncio.ensure_future(self.received.wait())
        try:
            waiting = {received, task} if task is not None else {received}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            received.cancel()
        if task is not None and task.done() and not self.received.is_set():
            task.result()

    async def unless_stopped(self, work: Awaitable[None]) -> bool:
        """Do `work` (start-up) unless a signal comes first and cancels it. True if done."""
        task = asyncio.ensure_future(work)
        try:
            await self.wait(task)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled():
            return False
        task.result()
        return True


async def run_polling(app: App) -> None:
    """Long polling until SIGTERM or SIGINT. Then no update is taken, those in hand finish and
    are confirmed to Telegram (see bot/polling.py), the jobs and the delivery loop stop beside
    them, and the app closes."""
    polling = Polling(app.dp, app.bot, concurrency=CONCURRENT_UPDATES, grace=STOP_GRACE)

    def stop() -> None:
        app.begin_stop()
        polling.stop()

    signals = StopSignal(on_signal=stop)
    running: asyncio.Task[None] | None = None
    try:
        if await signals.unless_stopped(_start_polling(app)):
            running = asyncio.create_task(polling.run())
            await signals.wait(running)
    finally:
        stop()
        if running is not None:  # its error, if it failed by itself, is already on its way
            for error in await asyncio.gather(running, return_exceptions=True):
                if isinstance(error, Exception) and signals.received.is_set():
                    log.error("polling failed while stopping: %r", error)
        await app.close()


async def _start_polling(app: App) -> None:
    await set_menu(app.bot, app.i18n)
    await app.bot.delete_webhook(drop_pending_updates=False)
    await start_background(app)


async def run_scheduler_only(app: App) -> None:
    """The jobs and the delivery loop, without reading updates (beside webhook workers), until
    SIGTERM or SIGINT: then no job starts, the run in progress commits (or, past the grace, rolls
    back), the send in flight finishes, unfinished claims go back to the outbox."""
    signals = StopSignal(on_signal=app.begin_stop)
    try:
        if await signals.unless_stopped(start_background(app)):
            await signals.wait()
    finally:
        await app.close()


def add_health_route(web_app: Any, app: App) -> None:
    """`GET /healthz` for a load balancer (bot/health.py)."""
    web_app.router.add_get("/healthz", healthz(app.sessions, app.clock))


async def run_webhook(app: App) -> None:
    """Updates arrive over HTTPS; run `bot.py scheduler` once beside any number of these.

    Telegram gets its 200 only once an update is handled (and committed): an update cut off by
    a stop or a crash is sent again. On SIGTERM or SIGINT the server stops listening, requests
    in hand finish within the grace, and the app closes; the webhook stays set for the others.
    """
    settings = app.settings
    settings.check_webhook()  # a URL and a secret: requests without the secret get 401
    assert settings.webhook_url is not None
    signals = StopSignal(on_signal=app.begin_stop)
    handler = SimpleRequestHandler(
        dispatcher=app.dp,
        bot=app.bot,
        secret_token=settings.webhook_secret,
        handle_in_background=False,
    )
    web_app = web.Application()
    # Not handler.register(): it would close the bot's session before the requests in hand end.
    web_app.router.add_post(settings.webhook_url.path or "/", handler.handle)
    add_health_route(web_app, app)
    # aiohttp waits up to this for each request in hand, then cancels it and waits as long again.
    runner = web.AppRunner(web_app, handle_signals=False, shutdown_timeout=STOP_GRACE / 2)
    data: dict[str, Any] = {"bots": (app.bot,), **app.dp.workflow_data}
    started = False

    async def start() -> None:
        nonlocal started
        await app.dp.emit_startup(bot=app.bot, **data)
        started = True
        await set_menu(app.bot, app.i18n)
        await runner.setup()
        await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
        await app.bot.set_webhook(str(settings.webhook_url), secret_token=settings.webhook_secret)

    try:
        if await signals.unless_stopped(start()):
            await signals.wait()
    finally:
        app.begin_stop()
        await runner.cleanup()
        if started:
            await app.dp.emit_shutdown(bot=app.bot, **data)
        await app.close()
