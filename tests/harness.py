"""End-to-end harness: the real bot (polling, delivery loop, jobs) against the fake Bot API.

One fake server and one bot per database backend serve every end-to-end test of a run.
Tests talk through `Resident`-style wrappers: say something, tap a button, read the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.app import App, create_app, start_background
from bot.delivery import Limits
from sandbox.bot_api import FakeBotAPI, FakeUser, SentMessage
from storage.clock import Clock
from storage.settings import Settings
from tests.databases import fresh_database

DISTRICT_ADMIN_ID = 1000
SPARE_DISTRICT_ADMIN_ID = 1001  # for tests that must not disturb the first one's state
TOKEN = "123456:TEST-TOKEN"
# Telegram's real pace, only faster for private chats, so a story is not slowed by 1 s steps.
TEST_LIMITS = Limits(per_second=30, per_group_per_minute=20, private_interval=0.05)


@dataclass
class World:
    fake: FakeBotAPI
    app: App
    clock: Clock

    def person(self, user_id: int, name: str = "") -> Talker:
        return Talker(self, self.fake.user(user_id, name))


class Talker:
    """A Telegram user in a test: says things, taps buttons, reads what the bot answered."""

    def __init__(self, world: World, user: FakeUser) -> None:
        self.world = world
        self.user = user
        self.id = user.id

    async def say(
        self, text: str, *, expect: str | None = None, timeout: float = 5.0
    ) -> SentMessage:
        """Send text in the private chat; return the bot's first answer (containing `expect`)."""
        mark = self.world.fake.mark()
        await self.user.send(text)
        return await self.next_message(after=mark, expect=expect, timeout=timeout)

    async def send_and_wait(
        self,
        action: Callable[[], object],
        *,
        expect: str | None = None,
        chat_id: int | None = None,
    ) -> SentMessage:
        mark = self.world.fake.mark()
        await action()  # type: ignore[misc]
        return await self.next_message(after=mark, expect=expect, chat_id=chat_id)

    async def tap(
        self,
        message: SentMessage,
        button: str,
        *,
        expect: str | None = None,
        chat_id: int | None = None,
    ) -> SentMessage:
        """Press a button; return the next message sent or edited in that chat."""
        mark = self.world.fake.mark()
        await self.user.press(message, button)
        return await self.next_message(
            after=mark, expect=expect, chat_id=chat_id or message.chat_id
        )

    async def tap_for_toast(
        self, message: SentMessage, button: str | None = None, *, data: str | None = None
    ) -> str:
        """Press a button (or forged data); return the short answer (toast) the bot gave."""
        update_id = await self.user.press(message, button, data=data)
        call = await self.world.fake.callback_answer(update_id)
        return str(call.params.get("text") or "")

    async def next_message(
        self,
        *,
        after: int,
        expect: str | None = None,
        chat_id: int | None = None,
        timeout: float = 5.0,
    ) -> SentMessage:
        def matches(message: SentMessage) -> bool:
            text = message.text or message.caption or ""
            return expect is None or expect in text

        return await self.world.fake.wait_for_message(
            chat_id or self.id, matches, after=after, timeout=timeout
        )


def link_code(text: str, prefix: str) -> str:
    """The start parameter of a t.me deep link in a message."""
    found = re.search(r"start=" + re.escape(prefix) + r"([\w-]+)", text)
    assert found, f"no {prefix} link in {text!r}"
    return prefix + found.group(1)


@asynccontextmanager
async def running_world(backend: str, folder: Path, *, rtt_ms: float = 0) -> AsyncIterator[World]:
    """A fresh database, the fake Bot API (answering `rtt_ms` late, as over a real network),
    and the bot polling it with delivery running."""
    fake = FakeBotAPI(rtt_ms=rtt_ms)
    base = await fake.start()
    try:
        async with fresh_database(backend, folder) as url:
            settings = Settings(
                _env_file=None,
                bot_token=TOKEN,
                telegram_api_base=base,
                database_url=url,
                redis_url=None,
                bot_superadmins=f"{DISTRICT_ADMIN_ID},{SPARE_DISTRICT_ADMIN_ID}",
            )  # type: ignore[arg-type]
            clock = Clock()
            app = await create_app(settings, clock=clock, limits=TEST_LIMITS, run_migrations=False)
            await start_background(app, scheduler=False)
            polling = asyncio.create_task(
                app.dp.start_polling(
                    app.bot, handle_signals=False, close_bot_session=False, polling_timeout=1
                )
            )
            try:
                yield World(fake, app, clock)
            finally:
                with contextlib.suppress(RuntimeError):
                    await app.dp.stop_polling()
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polling
                await app.close()
    finally:
        await fake.stop()
