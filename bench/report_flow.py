"""The report flow beside a bare aiogram echo bot, in the same run, through the fake Bot API.

Each of N residents files a report in six updates (/report, the category, the description,
Next, Show my name, Send) and waits for each answer, all residents at once; the run ends when
the grid worker has every push (through the outbox). The echo bot gets the same traffic: six
messages per user, each waited for. Before the clock starts, each bot serves WARMUP other
users the same way (first-use costs: compiled SQL, parsed-answer classes, the first
connections), as a bot that has been running a while has. Prints updates/s of both, the CPU
time of this process per update, and the ratio (target >= 0.4).

Then where the time goes: what one report asks of the Bot API and of the database (counted in
the timed run), what one Bot API call and one short transaction cost on their own (measured
here), and the best ratio those alone would allow: a floor that no handler code can go under.

The outbox is paced without Telegram's 1 message/s per chat here, so the figure is the bot's
own work, not the pace Telegram imposes.

Usage: .venv/bin/python bench/report_flow.py [residents] [sqlite|postgres] [redis]  (default
40, sqlite; postgres needs TEST_DATABASE_URL, and a fresh database is made and dropped; redis
runs the bot as several webhook workers would: conversations and per-person locks in Redis at
REDIS_URL, default redis://127.0.0.1:6379/0)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot, Dispatcher, Router  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.types import Message  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from bot.app import create_app, start_background  # noqa: E402
from bot.delivery import Limits  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.db import unit_of_work  # noqa: E402
from storage.models import (  # noqa: E402
    Grid,
    Household,
    Membership,
    MembershipStatus,
    Person,
    Role,
    RoleAssignment,
    Village,
    WorkerKind,
)
from tests.databases import fresh_database  # noqa: E402
from tests.fakebot import FakeBotAPI, FakeUser  # noqa: E402

TOKEN = "123456:BENCH"
STEPS = 6
WORKER_ID = 5_000
FIRST_RESIDENT = 10_000
WARMUP = 5  # residents served before the clock starts, by both bots
CPU: dict[str, float] = {}  # CPU ms per update of this process (bot, fake server, driver)
PER_REPORT: dict[str, float] = {}  # Bot API calls, SQL statements and transactions per report
UNIT: dict[str, float] = {}  # CPU ms of one Bot API call, of one short transaction


async def polling(dp: Dispatcher, bot: Bot) -> asyncio.Task[None]:
    return asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )


async def stop(dp: Dispatcher, task: asyncio.Task[None]) -> None:
    with contextlib.suppress(RuntimeError):
        await dp.stop_polling()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def echo_run(users: int) -> float:
    """Updates per second of a bare aiogram bot that echoes every message."""
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    async with FakeBotAPI() as api:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        dp = Dispatcher()
        dp.include_router(router)
        task = await polling(dp, bot)

        async def talk(user: FakeUser) -> None:
            for step in range(STEPS):
                mark = api.mark()
                await user.send(f"hello {step}")
                await api.wait_for_message(user.id, after=mark, timeout=30)

        warm = [api.user(FIRST_RESIDENT + users + n, f"W{n}") for n in range(WARMUP)]
        await asyncio.gather(*(talk(u) for u in warm))
        people = [api.user(FIRST_RESIDENT + n, f"U{n}") for n in range(users)]
        calls = bot_calls(api)
        started, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(talk(u) for u in people))
        elapsed = time.monotonic() - started
        CPU["echo"] = (time.process_time() - cpu) / (users * STEPS) * 1000
        PER_REPORT["echo calls"] = (bot_calls(api) - calls) / users
        UNIT["api call"] = await api_call_cost(bot, FIRST_RESIDENT)
        await stop(dp, task)
        await bot.session.close()
    return users * STEPS / elapsed


def bot_calls(api: FakeBotAPI) -> int:
    """Bot API calls the bot has made so far, long polls aside."""
    return sum(1 for call in api.calls if call.method.lower() != "getupdates")


async def api_call_cost(bot: Bot, chat_id: int, rounds: int = 300) -> float:
    """CPU ms of one sendMessage to the fake server and back (client and server together)."""
    for _ in range(20):
        await bot.send_message(chat_id, "warm")
    cpu = time.process_time()
    for _ in range(rounds):
        await bot.send_message(chat_id, "cost")
    return (time.process_time() - cpu) / rounds * 1000


async def transaction_cost(sessions: object, rounds: int = 300) -> float:
    """CPU ms of one unit of work that runs one trivial statement (pool, BEGIN, COMMIT)."""

    async def once() -> None:
        async with unit_of_work(sessions) as session:  # type: ignore[arg-type]
            connection = await session.connection()
            await connection.execute(text("SELECT 1"))

    for _ in range(20):
        await once()
    cpu = time.process_time()
    for _ in range(rounds):
        await once()
    return (time.process_time() - cpu) / rounds * 1000


class Counting:
    """SQL statements and transactions on an engine while `on` is set."""

    def __init__(self, engine: object) -> None:
        self.on = False
        self.statements = self.transactions = 0
        sync = engine.sync_engine  # type: ignore[attr-defined]
        event.listen(sync, "before_cursor_execute", self._statement)
        event.listen(sync, "begin", self._begin)

    def _statement(self, _connection: object, _cursor: object, statement: str, *_: object) -> None:
        self.statements += self.on and not statement.startswith("BEGIN")  # SQLite's own BEGIN

    def _begin(self, *_args: object) -> None:
        self.transactions += self.on


async def seed(sessions: object, users: int) -> None:
    async with unit_of_work(sessions) as session:  # type: ignore[arg-type]
        village = Village(name="基准村")
        session.add(village)
        await session.flush()
        grid = Grid(village_id=village.id or 0, name="一网格")
        session.add(grid)
        await session.flush()
        household = Household(grid_id=grid.id or 0, label="1号")
        worker = Person(telegram_id=WORKER_ID, full_name="网格员")
        session.add_all([household, worker])
        await session.flush()
        session.add(
            RoleAssignment(
                person_id=worker.id or 0,
                village_id=village.id or 0,
                role=Role.GRID_WORKER,
                grid_id=grid.id,
                worker_kind=WorkerKind.FULL_TIME,
            )
        )
        for n in range(users):
            resident = Person(
                telegram_id=FIRST_RESIDENT + n, full_name=f"居民{n}", household_id=household.id
            )
            session.add(resident)
            await session.flush()
            session.add(
                Membership(
                    person_id=resident.id or 0,
                    village_id=village.id or 0,
                    grid_id=grid.id or 0,
                    household_id=household.id or 0,
                    status=MembershipStatus.APPROVED,
                    requested_at=datetime.now(UTC),
                )
            )


async def pushes_arrive(api: FakeBotAPI, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(api.sent(WORKER_ID)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def report_run(users: int, database_url: str, redis_url: str | None = None) -> float:
    """Updates per second of linli's report flow, until the worker has every push."""
    async with FakeBotAPI() as api:
        settings = Settings(
            _env_file=None,
            bot_token=TOKEN,
            telegram_api_base=api.base_url,
            database_url=database_url,
            redis_url=redis_url,
        )  # type: ignore[arg-type]
        fast = Limits(per_second=10_000, per_group_per_minute=10_000, private_interval=0)
        app = await create_app(settings, limits=fast)
        await seed(app.sessions, users + WARMUP)
        await start_background(app, scheduler=False)
        task = await polling(app.dp, app.bot)

        async def press_first(user: FakeUser, prefix: str) -> None:
            message = api.last(user.id)
            found = [d for d in message.button_data().values() if d.startswith(prefix)]
            if not found:
                raise SystemExit(f"no {prefix} button for {user.id}: {message.text!r}")
            data = found[0]
            mark = api.mark()
            await user.press(message, data=data)
            await api.wait_for_message(user.id, after=mark, timeout=30)

        async def say(user: FakeUser, text: str) -> None:
            mark = api.mark()
            await user.send(text)
            await api.wait_for_message(user.id, after=mark, timeout=30)

        async def report(user: FakeUser) -> None:
            await say(user, "/report")
            await press_first(user, "pk:rcat:")
            await say(user, f"路灯坏了 {user.id}")
            await press_first(user, "fl:next")
            await press_first(user, "fl:named")
            await press_first(user, "fl:confirm")

        api.user(WORKER_ID, "Worker")
        warm = [api.user(FIRST_RESIDENT + users + n, f"W{n}") for n in range(WARMUP)]
        await asyncio.gather(*(report(u) for u in warm))
        await pushes_arrive(api, WARMUP)
        people = [api.user(FIRST_RESIDENT + n, f"R{n}") for n in range(users)]
        counting, calls = Counting(app.engine), bot_calls(api)
        counting.on = True
        started, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(report(u) for u in people))
        await pushes_arrive(api, WARMUP + users)
        elapsed = time.monotonic() - started
        CPU["report"] = (time.process_time() - cpu) / (users * STEPS) * 1000
        counting.on = False
        pushes = len(api.sent(WORKER_ID)) - WARMUP
        PER_REPORT["report calls"] = (bot_calls(api) - calls) / users
        PER_REPORT["statements"] = counting.statements / users
        PER_REPORT["transactions"] = counting.transactions / users
        UNIT["transaction"] = await transaction_cost(app.sessions)
        await stop(app.dp, task)
        await app.close()
    if pushes < users:
        raise SystemExit(f"only {pushes} of {users} pushes arrived")
    return users * STEPS / elapsed


async def main(users: int, backend: str, redis_url: str | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    echo = await echo_run(users)
    with tempfile.TemporaryDirectory() as folder:
        async with fresh_database(backend, Path(folder)) as url:
            flow = await report_run(users, url, redis_url)
    ratio = flow / echo
    where = f"  conversations in Redis ({redis_url})" if redis_url else ""
    print(f"database: {backend}  residents: {users}  updates each: {STEPS}{where}")
    print(f"echo bot:    {echo:7.1f} updates/s   {CPU['echo']:6.2f} ms CPU per update")
    print(
        f"report flow: {flow:7.1f} updates/s   {CPU['report']:6.2f} ms CPU per update"
        " (to the worker's push)"
    )
    print(f"ratio: {ratio:.2f} (target >= 0.4)")
    explain(users)
    return 0 if ratio >= 0.4 else 1


def explain(users: int) -> None:
    """Where a report's time goes, and the best ratio its Bot API calls and transactions allow."""
    echo_calls, calls = PER_REPORT["echo calls"], PER_REPORT["report calls"]
    api, transaction = UNIT["api call"], UNIT["transaction"]
    # What echo spends on an update besides its one call: long polling and dispatching.
    dispatch = max(CPU["echo"] - api * echo_calls / STEPS, 0.0)
    floor = (STEPS * dispatch + calls * api + PER_REPORT["transactions"] * transaction) / STEPS
    print(
        f"per report ({STEPS} updates): {calls:.1f} Bot API calls (echo: {echo_calls:.1f}),"
        f" {PER_REPORT['transactions']:.1f} transactions, {PER_REPORT['statements']:.1f} SQL"
        " statements"
    )
    print(f"one Bot API call: {api:.2f} ms CPU; one transaction: {transaction:.2f} ms CPU")
    print(
        f"floor: {floor:.2f} ms CPU per update for those calls and transactions alone, so the"
        f" ratio can be at most {CPU['echo'] / floor:.2f}; the rest"
        f" ({max(CPU['report'] - floor, 0):.2f} ms) is the statements' own work and the bot's"
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    redis = (
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        if "redis" in sys.argv[3:]
        else None
    )
    sys.exit(asyncio.run(main(count, backend, redis)))
