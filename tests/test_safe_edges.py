"""The edges an operator can get wrong: a webhook without a secret, a Redis that is not there
or goes away, and a flood of presses (answered, and counted across processes)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import Chat, Message, Update, User
from redis.asyncio import Redis

from bot.app import create_app, start_background
from bot.fsm import LOCK_TTL, RedisIsolation, create_isolation
from bot.middlewares import ThrottlingMiddleware
from sandbox.bot_api import FakeBotAPI
from storage.settings import Settings, SettingsError, load_settings
from tests.databases import fresh_database
from tests.harness import DISTRICT_ADMIN_ID, TEST_LIMITS, TOKEN, World
from tests.test_process_stop import BotProcess, bot_env, free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def collect_what_redis_left() -> Iterator[None]:
    """After each test here: the connections these tests cut, or whose connect was cut short,
    can be dropped unclosed by redis-py, and their ResourceWarning would otherwise land in
    whichever later test runs at the next garbage collection (test_schedules and
    test_slow_network failed for it). Collected here; any other warning fails the test."""
    yield
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    left = ("redis", "socket", "transport", "StreamWriter")  # what a cut connection leaves
    others = [
        w
        for w in caught
        if not (issubclass(w.category, ResourceWarning) and any(x in str(w.message) for x in left))
    ]
    assert not others, [str(w.message) for w in others]


CLOSED_PORT = "redis://127.0.0.1:6390/0"

pytestmark = pytest.mark.timeout(90)


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "DATABASE_URL", "REDIS_URL", "TELEGRAM_", "WEBHOOK_"))
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), *args],
        cwd=env.pop("cwd", str(ROOT)),
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=30,
        check=False,
    )


# --- 3. a webhook needs its secret ---------------------------------------------------------------


def test_webhook_without_a_secret_does_not_start(tmp_path: Path) -> None:
    """Without WEBHOOK_SECRET anybody could post updates "from" the district admin: refused
    before anything starts, with one line and exit 2."""
    result = run_cli(
        "webhook",
        cwd=str(tmp_path),
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE="http://127.0.0.1:9",
        DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}",
        WEBHOOK_URL="https://linli.example/hook",
        WEBHOOK_PORT=str(free_port()),
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "WEBHOOK_SECRET" in lines[0], result.stderr


def test_a_secret_telegram_would_refuse_is_a_bad_setting() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, webhook_secret="has spaces and ü")
    assert "WEBHOOK_SECRET" in str(caught.value)
    assert load_settings(_env_file=None, webhook_secret="a-Z_09").webhook_secret == "a-Z_09"


async def test_a_forged_update_without_the_secret_gets_401(tmp_path: Path) -> None:
    """A POST without the secret (or with a wrong one) is refused and handled not at all;
    Telegram's own deliveries, with it, go through."""
    port = free_port()
    hook = f"http://127.0.0.1:{port}/tg/hook"
    async with FakeBotAPI() as fake, fresh_database("sqlite", tmp_path) as url:
        fake.set_webhook_target(hook)
        env = bot_env(
            fake,
            url,
            WEBHOOK_URL="https://linli.example/tg/hook",
            WEBHOOK_SECRET="s3cret-token",
            WEBHOOK_HOST="127.0.0.1",
            WEBHOOK_PORT=str(port),
        )
        bot = BotProcess("webhook", env, tmp_path)
        await bot.start()
        try:
            admin = fake.user(DISTRICT_ADMIN_ID)
            mark = fake.mark()
            await admin.send("/start")  # through the fake Telegram, with the secret
            await fake.wait_for_message(DISTRICT_ADMIN_ID, lambda _m: True, after=mark, timeout=30)
            await fake.wait_idle(0.5)
            forged = {
                "update_id": 990_001,
                "message": {
                    "message_id": 1,
                    "date": int(time.time()),
                    "chat": {"id": DISTRICT_ADMIN_ID, "type": "private"},
                    "from": {"id": DISTRICT_ADMIN_ID, "is_bot": False, "first_name": "x"},
                    "text": "/newvillage",
                },
            }
            mark = fake.mark()
            async with aiohttp.ClientSession() as client:
                for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                    async with client.post(hook, json=forged, headers=headers) as response:
                        assert response.status == 401
            await fake.assert_no_message(DISTRICT_ADMIN_ID, after=mark, within=1.0)
        finally:
            await bot.kill()


# --- 4. Redis unreachable ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["run", "scheduler"])
def test_unreachable_redis_stops_start_up_with_one_line(mode: str, tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_cli(
        mode,
        cwd=str(tmp_path),
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE="http://127.0.0.1:9",
        DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}",
        REDIS_URL="redis://:hunter2@127.0.0.1:6390/0",
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "REDIS_URL" in lines[0], result.stderr
    assert "hunter2" not in lines[0]
    assert time.monotonic() - started < 20


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    """A throwaway Redis of our own (no data kept), shut down at the end."""
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        pytest.skip("redis-server is not on PATH")
    port = free_port()
    subprocess.run(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]
        + ["--daemonize", "yes", "--bind", "127.0.0.1"],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 10
    while (
        subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
        ).stdout.strip()
        != "PONG"
    ):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], check=False)


class CuttableProxy:
    """A TCP proxy in front of Redis: `cut()` drops every connection and refuses new ones
    (Redis itself keeps its keys, as behind a network cut); `restore()` listens again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()
        self.serving: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def restore(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.pipes):
            writer.transport.abort()
        self.pipes.clear()
        for task in list(self.serving):
            task.cancel()
        await asyncio.gather(*self.serving, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.serving.add(task)
        task.add_done_callback(self.serving.discard)
        with contextlib.suppress(asyncio.CancelledError):  # cut(): the proxy's own end
            await self._pipe(reader, writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.pipes.update({writer, up_writer})

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


@pytest.fixture
async def proxy(redis_port: int) -> AsyncIterator[CuttableProxy]:
    proxy = CuttableProxy(redis_port)
    await proxy.restore()
    try:
        yield proxy
    finally:
        await proxy.cut()


async def test_a_lock_whose_holder_lost_redis_is_gone_in_seconds(
    proxy: CuttableProxy, redis_port: int
) -> None:
    """The holder's Redis is cut while it handles an update: its update still ends (no error
    from the lock), and another process gets the person's lock within LOCK_TTL, not 60 s."""
    key = StorageKey(bot_id=1, chat_id=42, user_id=42)
    holder = create_isolation(proxy.url)
    other = create_isolation(f"redis://127.0.0.1:{redis_port}/0")
    try:
        async with holder.lock(key):
            await proxy.cut()
        started = time.monotonic()
        async with asyncio.timeout(LOCK_TTL + 2), other.lock(key):
            waited = time.monotonic() - started
        assert waited <= LOCK_TTL + 1
    finally:
        await holder.close()
        await other.close()


async def test_a_lock_held_longer_than_its_ttl_is_renewed(redis_port: int) -> None:
    key = StorageKey(bot_id=1, chat_id=43, user_id=43)
    url = f"redis://127.0.0.1:{redis_port}/0"
    first, second = create_isolation(url), create_isolation(url)
    try:
        async with first.lock(key):
            await asyncio.sleep(LOCK_TTL + 1)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5), second.lock(key):
                    pass
    finally:
        await first.close()
        await second.close()


async def test_a_lock_that_expired_is_not_taken_for_a_lost_redis(
    redis_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis answers, but the lock is gone (it expired while Redis was cut): its release is no
    second "Redis lost" (the cut's one line was followed by this one, under load)."""
    key = StorageKey(bot_id=1, chat_id=44, user_id=44)
    isolation = create_isolation(f"redis://127.0.0.1:{redis_port}/0")
    assert isinstance(isolation, RedisIsolation)
    caplog.set_level(logging.WARNING)
    try:
        async with isolation.lock(key):
            await isolation.redis.delete(isolation.key_builder.build(key, "lock"))
    finally:
        await isolation.close()
    assert not [r for r in caplog.records if "Redis lost" in r.getMessage()]
    assert isolation.lost is False


async def test_a_cut_of_redis_heals_by_itself_and_is_logged_once(
    proxy: CuttableProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The running bot loses Redis for a while: once it is back, updates are answered again
    without a restart, and the loss is logged once, not at every retry."""
    caplog.set_level(logging.WARNING)
    person = 77_000_001
    async with FakeBotAPI() as fake, fresh_database("sqlite", tmp_path) as url:
        settings = Settings(
            _env_file=None,
            bot_token=TOKEN,
            telegram_api_base=fake.base_url,
            database_url=url,
            redis_url=proxy.url,
        )  # type: ignore[arg-type]
        app = await create_app(settings, limits=TEST_LIMITS)
        await start_background(app, scheduler=False)
        polling = asyncio.create_task(
            app.dp.start_polling(
                app.bot, handle_signals=False, close_bot_session=False, polling_timeout=1
            )
        )
        world = World(fake, app, app.clock)
        talker = world.person(person, "断线")
        try:
            await talker.say("/help", timeout=10)
            await proxy.cut()
            await talker.say("/help", timeout=20)  # the apology: nothing could be read
            await asyncio.sleep(7)  # several of profile sync's retries
            await proxy.restore()
            start = time.monotonic()
            answer = await talker.say("/help", timeout=LOCK_TTL + 10)
            assert "Sorry" not in (answer.text or "") and "抱歉" not in (answer.text or "")
            assert time.monotonic() - start < LOCK_TTL + 5
        finally:
            with contextlib.suppress(RuntimeError):
                await app.dp.stop_polling()
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
            await app.close()
    messages = [r.getMessage() for r in caplog.records]
    for loss in ("profile sync lost Redis", "per-person locks: Redis lost"):
        assert len([m for m in messages if loss in m]) == 1, messages


# --- 5. throttled presses are answered, and counted across processes -----------------------------


async def test_presses_past_the_flood_limit_are_answered(world: Any) -> None:
    """/help and twenty-five quick presses: the first twenty updates are handled, the other
    six presses told to wait; none is left spinning."""
    talker = world.person(77_000_101, "手快")
    home = await talker.say("/help")
    presses = [await talker.user.press(home, data=f"zz:{i}") for i in range(25)]
    answers = [await world.fake.callback_answer(u, timeout=10) for u in presses]
    texts = [str(a.params.get("text") or "") for a in answers]
    too_fast = [t for t in texts if "太快" in t]
    assert len(too_fast) == 6 and len(texts) == 25, texts


def _update(update_id: int, user: User) -> Update:
    chat = Chat(id=user.id, type="private")
    message = Message(message_id=update_id, date=0, chat=chat, from_user=user, text="hi")  # type: ignore[arg-type]
    return Update(update_id=update_id, message=message)


async def test_the_flood_limit_holds_across_processes(redis_port: int) -> None:
    """Two webhook workers share the count: 12 updates through each is 24, four too many."""
    user = User(id=77_000_201, is_bot=False, first_name="x")
    redis = Redis.from_url(f"redis://127.0.0.1:{redis_port}/0")
    try:
        await redis.delete(f"linli:throttle:{user.id}")
        workers = [ThrottlingMiddleware(redis=redis), ThrottlingMiddleware(redis=redis)]
        handled: list[int] = []

        async def handler(event: Any, _data: dict[str, Any]) -> None:
            handled.append(event.update_id)

        for i in range(24):
            await workers[i % 2](handler, _update(i, user), {"event_from_user": user})
        assert len(handled) == 20
    finally:
        await redis.aclose()
