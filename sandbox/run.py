"""`linli sandbox` (and `linli` without a token): the real bot, as it is, long-polling a local Bot
API server (sandbox/bot_api.py), and a chat page (sandbox/web.py) where one plays its people.

The sandbox's data is an SQLite file of its own (default ./data/sandbox.db): kept between runs,
emptied and built again by the page's reset button. The jobs do not run by the clock; the page's
clock runs one as if at a chosen time, as `linli jobs run NAME --at ISO` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.app import App, StopSignal, create_app, set_menu, start_background
from bot.polling import Polling
from sandbox.bot_api import FakeBotAPI, FakeGroup, FakeUser
from sandbox.demo import GRID_GROUP, PERSONAS, VILLAGE_ADMIN, VILLAGE_GROUP, build_demo
from sandbox.web import start_page
from storage.clock import Clock
from storage.db import CONCURRENT_UPDATES
from storage.settings import Settings

log = logging.getLogger("linli.sandbox")

TOKEN = "4242:SANDBOX-NOT-A-TELEGRAM-TOKEN"  # the local server takes any "<digits>:..." token
BOT_USERNAME = "linli_sandbox_bot"
CARD_REFRESH = 5.0  # seconds, as schedules/votes.py's vote_cards job is scheduled

BANNER = """\
────────────────────────────────────────────────────────────────────────
 邻里 · 体验模式（不连 Telegram）  linli sandbox (no Telegram)
{why}
 打开 / open:  {page}
 页面上可切换身份（区管理员、村管理员、网格员、审核员、三位居民），
 点按钮、发文字、发照片或语音，都和在 Telegram 里一样。
 Switch persona on the page; tap buttons, type, send photos or voice notes.
 数据 / data:  {data}（页面上"重置"可恢复示范村 / "重置" rebuilds it）

 正式使用 / to run on Telegram: 向 @BotFather 发送 /newbot 取得 token，
 写入 .env：BOT_TOKEN=123456:ABC...（见 .env.example），再运行 ./run.sh
 Get a token from @BotFather (/newbot), put BOT_TOKEN=... in .env, run ./run.sh
 Ctrl-C 停止 / stops.
────────────────────────────────────────────────────────────────────────"""
WHY_NO_TOKEN = (
    " 没有设置 BOT_TOKEN，所以启动体验模式。 No BOT_TOKEN is set, so this is the sandbox."
)
WHY_ASKED = " 体验模式已启动。 The sandbox is running."


@dataclass
class Sandbox:
    """The local Bot API server and the real bot polling it; reset builds both anew."""

    data: Path
    base: Settings
    host: str = "127.0.0.1"
    api_port: int = 0
    demo: bool = True
    fake: FakeBotAPI = field(init=False)
    app: App | None = field(default=None, init=False)
    users: dict[str, FakeUser] = field(default_factory=dict, init=False)
    groups: dict[int, FakeGroup] = field(default_factory=dict, init=False)
    generation: int = field(default=0, init=False)  # moves on at each reset
    _polling: Polling | None = field(default=None, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    @property
    def settings(self) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            bot_token=TOKEN,  # type: ignore[arg-type]
            telegram_api_base=self.fake.base_url,  # type: ignore[arg-type]
            database_url=f"sqlite:///{self.data.resolve()}",
            redis_url=None,
            bot_superadmins=str(PERSONAS[0].telegram_id),  # type: ignore[arg-type]
            bot_timezone=self.base.bot_timezone,
            bot_default_locale=self.base.bot_default_locale,
            log_level=self.base.log_level,
            log_format=self.base.log_format,
        )

    async def start(self, *, fresh: bool = False) -> None:
        if fresh:
            self._remove_database()
        new = not self.data.exists()
        self.fake = FakeBotAPI(username=BOT_USERNAME, first_name="邻里")
        await self.fake.start(self.api_port, self.host)
        self.api_port = int(self.fake.base_url.rsplit(":", 1)[1])  # the same one after a reset
        self.users = {
            p.key: self.fake.user(p.telegram_id, p.name, language_code="zh") for p in PERSONAS
        }
        self.groups = {}
        for chat_id, title in (VILLAGE_GROUP, GRID_GROUP):
            group = self.fake.group(chat_id, title)
            group.bot_status = "administrator"
            self.fake.set_member_status(chat_id, VILLAGE_ADMIN.telegram_id, "creator")
            self.groups[chat_id] = group
        settings = self.settings
        app = self.app = await create_app(settings, clock=Clock())
        if new and self.demo:
            await build_demo(app.sessions, now=app.clock.now(), tz=settings.tz)
        await set_menu(app.bot, app.i18n)
        await start_background(app, scheduler=False)  # the jobs run from the page's clock
        self._polling = Polling(app.dp, app.bot, concurrency=CONCURRENT_UPDATES, grace=2.0)
        self._task = asyncio.create_task(self._polling.run(), name="sandbox-polling")
        app.tasks.append(asyncio.create_task(self._refresh_cards(app), name="vote-cards"))

    @staticmethod
    def _quiet_card_runs(record: logging.LogRecord) -> bool:
        """The card refresh that found nothing to edit is not logged every 5 s."""
        args = record.args if isinstance(record.args, tuple) else ()
        return not (args and args[0] == "vote_cards" and args[-1] == {})

    async def _refresh_cards(self, app: App) -> None:
        """The one job that keeps what is shown current (the vote cards' tallies) runs as the
        scheduler would run it; the others wait for the page's clock."""
        quiet = logging.getLogger("linli.schedules")
        if self._quiet_card_runs not in quiet.filters:
            quiet.addFilter(self._quiet_card_runs)
        while app.stop_deadline is None:
            await asyncio.sleep(CARD_REFRESH)
            if app.stop_deadline is None:
                await app.runtime.run("vote_cards")

    async def stop(self) -> None:
        if self.app is not None and self._polling is not None:
            self.app.begin_stop()
            self._polling.stop()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.app is not None:
            await self.app.close()
            self.app = None
        await self.fake.stop()

    async def reset(self) -> None:
        """Forget everything: the chats, the database; the demo village built again."""
        async with self._lock:
            await self.stop()
            self.generation += 1
            await self.start(fresh=True)

    def _remove_database(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.data}{suffix}").unlink(missing_ok=True)

    async def run_job(self, name: str, at: datetime | None) -> Any:
        """Run one job now, as if at `at` (as `linli jobs run NAME --at ISO`); what it wrote
        goes out at once."""
        assert self.app is not None
        result = await self.app.runtime.run(name, at=at)
        self.app.delivery.wake()
        return result


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


async def serve(args: argparse.Namespace, base: Settings, *, asked: bool) -> None:

    sandbox = Sandbox(data=args.data, base=base, host=args.host, api_port=args.api_port)
    sandbox.demo = args.demo
    signals = StopSignal()
    await sandbox.start(fresh=args.reset)
    runner = await start_page(sandbox, args.host, args.port)
    try:
        port = runner.addresses[0][1]
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        print(
            BANNER.format(
                why=WHY_ASKED if asked else WHY_NO_TOKEN,
                page=f"http://{shown}:{port}",
                data=args.data,
            ),
            flush=True,
        )
        await signals.wait()
    finally:
        await runner.cleanup()
        await sandbox.stop()


def run_sandbox(args: argparse.Namespace, base: Settings, *, asked: bool) -> int:
    if not is_loopback(args.host):
        log.warning(
            "the sandbox listens on %s: anyone who can reach this machine can use it as any of"
            " its people (the default, 127.0.0.1, is this machine only)",
            args.host,
        )
    args.data.parent.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(serve(args, base, asked=asked))
    except OSError as error:  # a port taken, most often
        print(f"linli sandbox cannot start: {error}")
        return 2
    return 0
