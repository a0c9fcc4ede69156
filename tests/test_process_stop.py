"""Each process as its own OS process (`python bot.py run|webhook|scheduler`) against the fake
Bot API: killed with -9 in the middle of a burst, or stopped with SIGTERM, and started again.

What the stories check: a SIGTERM ends the process within 10 s with code 0; after a restart no
update is lost (each is handled in the end) and none is applied twice, and every outbox row is
sent exactly once. The burst is residents filing reports by replying to the bot in the village's
group: each handled update makes one task and one push, so a repeat shows as a duplicate row.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import col, select

from sandbox.bot_api import FakeBotAPI, SentMessage
from storage import outbox, reports
from storage.db import SessionFactory, create_engine, create_session_factory, unit_of_work
from storage.models.common import OutboxMessage, OutboxStatus
from storage.models.reports import Task
from tests.databases import fresh_database, postgres_server_url
from tests.harness import DISTRICT_ADMIN_ID, TOKEN
from tests.village_builder import VillagePlan

ROOT = Path(__file__).resolve().parent.parent
STOP_LIMIT = 10.0  # the contract: a stopped process is gone within this many seconds
BURST = 30
GROUP = -1_000_777_001
RESIDENTS = 61_000_000
WORKERS = 62_000_000
HOOK_PATH = "/tg/hook"
SECRET = "stop-test-secret"
PUSH_HEADER = "📣 新报事"

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not postgres_server_url():
        pytest.skip("TEST_DATABASE_URL is not set")
    return str(request.param)


# --- the bot as an OS process ------------------------------------------------------------------


class BotProcess:
    """`bot.py MODE` in its own process, run from an empty folder (no stray .env), its output
    in a log file that failing assertions quote."""

    def __init__(self, mode: str, env: dict[str, str], folder: Path) -> None:
        self.mode = mode
        self.env = env
        self.folder = folder
        self.log = folder / f"bot-{mode}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"--- start {self.mode}\n".encode())
            out.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "bot.py"),
                self.mode,
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def stop(self, sig: signal.Signals) -> tuple[int, float]:
        """Send `sig`; the exit code and the seconds it took to exit."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            code = await asyncio.wait_for(self.process.wait(), STOP_LIMIT + 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            message = f"{self.mode} did not exit after {sig.name}\n{self.tail()}"
            raise AssertionError(message) from None
        return code, time.monotonic() - started

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
async def processes() -> AsyncIterator[list[BotProcess]]:
    """Every process a test starts is killed at its end, if it is still running."""
    started: list[BotProcess] = []
    try:
        yield started
    finally:
        for process in started:
            await process.kill()


def bot_env(fake: FakeBotAPI, url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BOT_", "WEBHOOK_", "TELEGRAM_", "DATABASE_", "REDIS_"))
    }
    env.update(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=fake.base_url,
        DATABASE_URL=url,
        BOT_SUPERADMINS=str(DISTRICT_ADMIN_ID),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def eventually(
    check: Callable[[], Awaitable[bool]],
    what: str,
    process: BotProcess,
    *,
    timeout: float = 20.0,
    every: float = 0.1,
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}\n{process.tail()}")
        await asyncio.sleep(every)


# --- the village: a grid, a worker and a resident per report; the village's group ---------------


@dataclass
class Burst:
    residents: list[int]
    workers: list[int]

    @staticmethod
    def text(index: int) -> str:
        return f"第{index}号路灯不亮了"


async def populate(sessions: SessionFactory, size: int) -> Burst:
    """Each resident in their own grid with its own worker, so that the pushes go to different
    chats (one private chat gets a message a second) and the burst's outbox is quick to send."""
    plan = VillagePlan("停机村").group(chat_id=GROUP)
    for i in range(size):
        plan.grid(f"{i}网格").household(f"{i}号", grid=f"{i}网格")
        plan.resident(f"居民{i}", home=f"{i}号", telegram_id=RESIDENTS + i)
    for i in range(size):
        plan.worker(f"网格员{i}", grid=f"{i}网格", telegram_id=WORKERS + i)
    async with unit_of_work(sessions) as session:
        v = await plan.build(session)
        await reports.categories(session, v.village_id)  # the defaults, made once here
    return Burst([RESIDENTS + i for i in range(size)], [WORKERS + i for i in range(size)])


async def filed(sessions: SessionFactory) -> Counter[str]:
    """How many tasks each report text made."""
    async with sessions() as session:
        return Counter((await session.exec(select(Task.description))).all())


async def outbox_rows(sessions: SessionFactory) -> list[OutboxMessage]:
    async with sessions() as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        return list((await session.exec(query)).all())


async def ask_how_to_report(fake: FakeBotAPI, burst: Burst) -> SentMessage:
    """/report in the group: the bot's answer is what the residents reply to."""
    group = fake.group(GROUP, "停机村村民群")
    first = fake.user(burst.residents[0])
    mark = fake.mark()
    await first.send("/report", chat=group)
    return await fake.wait_for_message(
        GROUP, lambda m: "回复" in (m.text or ""), after=mark, timeout=20
    )


async def file_all(fake: FakeBotAPI, burst: Burst, how: SentMessage) -> int:
    """Every resident replies at once; returns the mark taken before."""
    group = fake.group(GROUP, "停机村村民群")
    mark = fake.mark()
    for index, resident in enumerate(burst.residents):
        await fake.user(resident).send(Burst.text(index), chat=group, reply_to=how)
    return mark


def thanks_since(fake: FakeBotAPI, how: SentMessage) -> int:
    """Group answers sent after `how`: one per report handled."""
    return sum(
        1 for m in fake.sent(GROUP) if m.message_id > how.message_id and "已提交" in (m.text or "")
    )


async def wait_for_some(fake: FakeBotAPI, how: SentMessage, count: int, bot: BotProcess) -> int:
    """Until `count` reports are answered; how many are, in the end."""

    async def some() -> bool:
        return thanks_since(fake, how) >= count

    await eventually(some, f"{count} reports answered", bot, every=0.01)
    return thanks_since(fake, how)


def slow_answers(fake: FakeBotAPI) -> None:
    """Each answer takes a while, so that the burst lasts. (Reports are numbered one at a
    time, and for now the answer goes out inside the transaction: about 0.12 s an update.)"""
    fake.set_latency("sendMessage", 0.1)


async def assert_each_filed_once(sessions: SessionFactory, burst: Burst, bot: BotProcess) -> None:
    """Every report handled in the end, and exactly once: one task and one push each."""
    expected = {Burst.text(i) for i in range(len(burst.residents))}

    async def all_filed() -> bool:
        return set(await filed(sessions)) >= expected

    await eventually(all_filed, "every report filed", bot)
    counts = await filed(sessions)
    twice = {text: n for text, n in counts.items() if n != 1}
    assert not twice, f"reports applied more than once: {twice}"
    pushes = Counter(row.chat_id for row in await outbox_rows(sessions) if is_push(row))
    assert pushes == Counter(burst.workers), f"pushes per worker: {pushes}"


def is_push(row: OutboxMessage) -> bool:
    """A report's push to its worker (the restart's catch-up also sends each a digest)."""
    return PUSH_HEADER in str(row.payload.get("text", ""))


async def settled(fake: FakeBotAPI) -> bool:
    """Telegram holds no update: each was confirmed (polling) or answered 200 (webhook)."""
    return not fake.pending_updates()


# --- the stories -----------------------------------------------------------------------------


@pytest.fixture
async def world(backend: str, tmp_path: Path) -> AsyncIterator[tuple[FakeBotAPI, str, Burst]]:
    async with FakeBotAPI() as fake, fresh_database(backend, tmp_path) as url:
        engine = create_engine(url)
        try:
            burst = await populate(create_session_factory(engine), BURST)
        finally:
            await engine.dispose()
        for person in (*burst.residents, *burst.workers):
            fake.user(person)
        yield fake, url, burst


@pytest.fixture
async def sessions(world: tuple[FakeBotAPI, str, Burst]) -> AsyncIterator[SessionFactory]:
    engine = create_engine(world[1])
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


async def test_kill_9_mid_burst_then_restart_applies_each_update_once(
    backend: str,
    world: tuple[FakeBotAPI, str, Burst],
    sessions: SessionFactory,
    processes: list[BotProcess],
    tmp_path: Path,
) -> None:
    """A polling bot killed with -9 while it handles a burst: after a restart every report is
    filed, once. (Needs the update ledger: updates handled but not yet confirmed to Telegram
    when the process died come again, and must change nothing the second time.)"""
    fake, url, burst = world
    bot = BotProcess("run", bot_env(fake, url), tmp_path)
    processes.append(bot)
    await bot.start()
    how = await ask_how_to_report(fake, burst)
    slow_answers(fake)
    await file_all(fake, burst, how)
    # Half of them: aiogram's own polling would by then have confirmed the rest to Telegram.
    answered = await wait_for_some(fake, how, BURST // 2, bot)
    code, _took = await bot.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert answered < BURST, "the burst was over before the kill: nothing was tested"

    fake.set_latency("sendMessage", 0)
    await bot.start()
    await assert_each_filed_once(sessions, burst, bot)
    await eventually(lambda: settled(fake), "every update confirmed", bot)
    await fake.wait_idle(0.5)
    await assert_each_filed_once(sessions, burst, bot)
    await bot.stop(signal.SIGTERM)


async def get_healthz(port: int) -> tuple[int, dict]:
    """GET /healthz of a webhook process, once it listens (within 20 s)."""
    async with aiohttp.ClientSession() as client:
        for _ in range(200):
            try:
                async with client.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    return answer.status, await answer.json()
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    raise AssertionError("the webhook process never listened")


@pytest.mark.parametrize("mode", ["run", "webhook"])
async def test_sigterm_mid_burst_stops_in_time_and_loses_nothing(
    mode: str,
    backend: str,
    world: tuple[FakeBotAPI, str, Burst],
    sessions: SessionFactory,
    processes: list[BotProcess],
    tmp_path: Path,
) -> None:
    """SIGTERM while a burst is being handled: exit 0 within 10 s; after a restart every
    report is filed exactly once (and, polling, every push sent exactly once)."""
    fake, url, burst = world
    extra: dict[str, str] = {}
    if mode == "webhook":
        port = free_port()
        extra = {
            "WEBHOOK_URL": f"https://linli.example{HOOK_PATH}",
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_HOST": "127.0.0.1",
            "WEBHOOK_PORT": str(port),
        }
        fake.set_webhook_target(f"http://127.0.0.1:{port}{HOOK_PATH}")
    bot = BotProcess(mode, bot_env(fake, url, **extra), tmp_path)
    processes.append(bot)
    await bot.start()
    if mode == "webhook":  # a load balancer's check: the database answers, no scheduler yet
        status, body = await get_healthz(int(extra["WEBHOOK_PORT"]))
        assert status in {200, 503} and body["database"] == "ok", body
        assert status == 200 or body["delivery"]["status"] != "ok", body
    how = await ask_how_to_report(fake, burst)
    slow_answers(fake)
    await file_all(fake, burst, how)
    # A few: polling then has twenty in hand and the rest not yet taken.
    answered = await wait_for_some(fake, how, 5, bot)
    code, took = await bot.stop(signal.SIGTERM)
    print(f"{mode} ({backend}): stopped in {took:.2f} s, code {code}")  # noqa: T201
    assert code == 0, bot.tail()
    assert took < STOP_LIMIT, bot.tail()
    assert answered < BURST, "the burst was over before the stop: nothing was tested"

    fake.set_latency("sendMessage", 0)
    await bot.start()
    await assert_each_filed_once(sessions, burst, bot)
    await eventually(lambda: settled(fake), "every update confirmed", bot)
    if mode == "webhook":  # while the bot was away, Telegram kept trying the rest
        assert any(d["error"] for d in fake.webhook_deliveries)
    if mode == "run":  # the polling process sends the outbox too (webhook: the scheduler does)

        async def all_sent() -> bool:
            return all(row.status == OutboxStatus.SENT for row in await outbox_rows(sessions))

        await eventually(all_sent, "every push sent", bot)
    await fake.wait_idle(0.5)
    await assert_each_filed_once(sessions, burst, bot)
    if mode == "run":
        pushed = Counter(m.chat_id for m in fake.sent() if PUSH_HEADER in (m.text or ""))
        assert pushed == Counter(burst.workers), f"pushes received per worker: {pushed}"
    code, _took = await bot.stop(signal.SIGTERM)
    assert code == 0, bot.tail()


async def test_sigterm_to_the_scheduler_sends_each_row_once(
    backend: str,
    world: tuple[FakeBotAPI, str, Burst],
    sessions: SessionFactory,
    processes: list[BotProcess],
    tmp_path: Path,
) -> None:
    """SIGTERM while the delivery loop sends a backlog: the sends in flight finish and are
    recorded, no claim is left behind, exit 0 within 10 s; the restart sends the rest; the fake
    server receives every row exactly once."""
    fake, url, burst = world
    chats = burst.residents + burst.workers[:10]
    async with unit_of_work(sessions) as session:
        for chat in chats:
            outbox.enqueue(session, chat, f"通知 {chat}")
    fake.set_latency("sendMessage", 0.25)  # sends are in flight when the signal comes
    bot = BotProcess("scheduler", bot_env(fake, url), tmp_path)
    processes.append(bot)
    await bot.start()

    async def some_sent() -> bool:
        return len(fake.sent()) >= 8

    await eventually(some_sent, "some rows sent", bot)
    code, took = await bot.stop(signal.SIGTERM)
    print(f"scheduler ({backend}): stopped in {took:.2f} s, code {code}")  # noqa: T201
    assert code == 0, bot.tail()
    assert took < STOP_LIMIT, bot.tail()
    rows = await outbox_rows(sessions)
    sent_rows = {row.chat_id for row in rows if row.status == OutboxStatus.SENT}
    received = Counter(m.chat_id for m in fake.sent())
    assert len(sent_rows) < len(chats), "the backlog was sent before the stop: nothing tested"
    # Every send that reached the server was recorded as sent, and nothing else.
    assert sent_rows == set(received), (sorted(sent_rows), sorted(received))
    claimed = [r.id for r in rows if r.status == OutboxStatus.PENDING and r.attempts]
    assert not claimed, f"claims left behind: {claimed}"

    fake.set_latency("sendMessage", 0)
    await bot.start()

    async def all_sent() -> bool:
        return all(row.status == OutboxStatus.SENT for row in await outbox_rows(sessions))

    await eventually(all_sent, "every row sent after the restart", bot)
    await fake.wait_idle(0.3)
    received = Counter(m.chat_id for m in fake.sent())
    assert received == Counter(chats), f"messages per chat: {received}"
    calls = Counter(c.chat_id for c in fake.calls if c.method.lower() == "sendmessage")
    assert calls == Counter(chats), f"sendMessage calls per chat: {calls}"
    code, _took = await bot.stop(signal.SIGTERM)
    assert code == 0, bot.tail()
