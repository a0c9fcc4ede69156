"""linli's report flow beside a textbook aiogram bot and a bare echo bot, in the same run.

Each of N residents files a report in six updates (/report, the category, the description,
Next, Show my name, Send) and waits for each answer, all residents at once; the run ends when
the grid worker has every push. Each describes a problem of their own (no two alike, so
linli's duplicate hint, which looks at them all, shows none). Three bots get the same
traffic from the same driver, each through its own fake Bot API server (sandbox/bot_api.py,
same settings: every answer arrives --rtt-ms later, default 60 ms, a round trip to Telegram):

- linli (create_app, the delivery loop: the push goes through the outbox);
- the textbook peer (bench/textbook_peer.py): the same six updates written the way aiogram's
  docs and the common templates write them (FSM in MemoryStorage, or RedisStorage with redis;
  one AsyncSession per update from a middleware; an ORM insert; the push by bot.send_message);
- a bare echo bot: six messages per user, each answered and waited for.

Before the clock starts, each bot serves as many other users the same way, all at once
(first-use costs: compiled SQL, parsed-answer classes, the connections a burst this size
needs), as a bot that has been running a while has; under --telegram-limits, WARMUP of them
(their pushes would take a second each). Prints updates/s of each, the CPU time of this
process per update, linli / peer (target >= 1.0) and linli / echo, the worst garbage-collection
pause of each timed run, and per report: Bot API calls, transactions (target for linli <= 4)
and SQL statements.

Then where linli's time goes: what one Bot API call and one short transaction cost on their
own (CPU, measured here), and the best ratio to echo those alone would allow; and the in-order
bound: linli sends one chat's messages one at a time (so that they arrive in order), so the
worker's pushes cannot all have arrived before the first one's send plus one round trip a push,
and it prints the best linli / peer that allows.

The outbox is paced without Telegram's 1 message/s per chat here, so the figure is the bot's
own work, not the pace Telegram imposes. With --telegram-limits the fake servers enforce
Telegram's flood limits instead (a private chat: a burst of 3, then 1 message/s; a send over
the limit is answered 429, as Telegram does) and linli keeps its own pace (bot.delivery's
Limits): it prints what each bot then delivers, what it loses, and the 429s it met.

Usage: .venv/bin/python bench/report_flow.py [residents] [sqlite|postgres] [redis]
                                             [--rtt-ms MS] [--gc tuned|default|freeze|A,B,C]
                                             [--telegram-limits]
(default 40 sqlite, --rtt-ms 60, --gc tuned; postgres uses TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres, and fresh databases are made and dropped;
redis: linli as several webhook workers run it, conversations and per-person locks in Redis,
and the peer with aiogram's RedisStorage, at REDIS_URL, default redis://127.0.0.1:6379/0)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot, Dispatcher, Router  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.types import Message  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from bench.gc_choice import add_gc_argument, apply_gc  # noqa: E402
from bench.textbook_peer import create_peer, peer_database  # noqa: E402
from bot.app import create_app, start_background  # noqa: E402
from bot.delivery import Limits  # noqa: E402
from bot.gc_tuning import GcPauses  # noqa: E402
from sandbox.bot_api import FakeBotAPI, FakeUser  # noqa: E402
from storage.db import lock_holds, unit_of_work  # noqa: E402
from storage.models.org import (
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
from storage.settings import Settings  # noqa: E402
from tests.databases import fresh_database  # noqa: E402

TOKEN = "123456:BENCH"
STEPS = 6
WORKER_ID = 5_000
FIRST_RESIDENT = 10_000
WARMUP = 5  # residents served before the clock starts under Telegram's limits
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_PEER = 1.0  # linli / peer
TARGET_TRANSACTIONS = 4  # per report, linli
RATE: dict[str, float] = {}  # updates/s of each bot
CPU: dict[str, float] = {}  # CPU ms per update of this process (bot, fake server, driver)
PER_REPORT: dict[str, float] = {}  # Bot API calls, SQL statements and transactions per report
UNIT: dict[str, float] = {}  # CPU ms of one Bot API call, of one short transaction
ANSWERED: dict[str, float] = {}  # seconds until the last resident had the last answer
ELAPSED: dict[str, float] = {}  # seconds until the worker had the last push, too
FIRST_PUSH: dict[str, float] = {}  # seconds until the first push of the timed run was sent
PAUSES: dict[str, GcPauses] = {}  # garbage-collection pauses of each bot's timed run
STALLED: dict[str, int] = {}  # residents whose report never got its answers (limits)
PUSHED: dict[str, int] = {}  # pushes the worker got in the timed run
REFUSED: dict[str, int] = {}  # sends answered 429 by the fake server (limits)
SETUP: dict[str, Any] = {"rtt_ms": 60.0, "gc": "tuned", "limits": False}  # the command line


def warmup(users: int) -> int:
    """Residents served before the clock starts: a burst as large as the timed one."""
    return WARMUP if SETUP["limits"] else users


def fake_server() -> FakeBotAPI:
    return FakeBotAPI(rtt_ms=SETUP["rtt_ms"], enforce_limits=SETUP["limits"])


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


def bot_calls(api: FakeBotAPI) -> int:
    """Bot API calls the bot has made so far, long polls aside."""
    return sum(1 for call in api.calls if call.method.lower() != "getupdates")


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


# --- the driver: the same for every bot ----------------------------------------------------


async def press_first(api: FakeBotAPI, user: FakeUser, prefix: str) -> None:
    message = api.last(user.id)
    found = [d for d in message.button_data().values() if d.startswith(prefix)]
    if not found:
        raise SystemExit(f"no {prefix} button for {user.id}: {message.text!r}")
    mark = api.mark()
    await user.press(message, data=found[0])
    await api.wait_for_message(user.id, after=mark, timeout=30)


async def say(api: FakeBotAPI, user: FakeUser, words: str) -> None:
    mark = api.mark()
    await user.send(words)
    await api.wait_for_message(user.id, after=mark, timeout=30)


def problem(n: int) -> str:
    """A description of its own for resident n: eight characters drawn for n alone (the same
    each run), so no two residents' words look alike."""
    draw = random.Random(n)
    return "".join(chr(0x4E00 + draw.randrange(20_000)) for _ in range(8))


async def report(api: FakeBotAPI, user: FakeUser) -> None:
    """The six updates of one report, each waited for."""
    await say(api, user, "/report")
    await press_first(api, user, "pk:rcat:")
    await say(api, user, problem(user.id))
    await press_first(api, user, "fl:next")
    await press_first(api, user, "fl:named")
    await press_first(api, user, "fl:confirm")


async def echo_talk(api: FakeBotAPI, user: FakeUser) -> None:
    for step in range(STEPS):
        await say(api, user, f"hello {step}")


async def pushes_arrive(api: FakeBotAPI, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(api.sent(WORKER_ID)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def timed(
    name: str,
    api: FakeBotAPI,
    users: int,
    flow: Callable[[FakeBotAPI, FakeUser], Awaitable[None]],
    counting: Counting | None = None,
    pushes: bool = True,
) -> None:
    """Warm up with warmup(users) users, then time `users` users at once: RATE, CPU,
    PER_REPORT."""
    api.user(WORKER_ID, "Worker")
    STALLED[name] = 0

    async def one(user: FakeUser) -> None:
        try:
            await flow(api, user)
        except (TimeoutError, SystemExit):
            if not SETUP["limits"]:
                raise
            STALLED[name] += 1  # under Telegram's limits a bot may lose an answer: go on

    warm = [api.user(FIRST_RESIDENT + users + n, f"W{n}") for n in range(warmup(users))]
    await asyncio.gather(*(one(u) for u in warm))
    if pushes:
        await pushes_arrive(api, len(warm), timeout=30 if SETUP["limits"] else 60)
    STALLED[name] = 0  # the warm-up's do not count
    warm_pushes = len(api.sent(WORKER_ID))
    refused = api.violations
    people = [api.user(FIRST_RESIDENT + n, f"R{n}") for n in range(users)]
    calls = bot_calls(api)
    mark = len(api.calls)
    pauses = PAUSES[name] = GcPauses()

    if counting is not None:
        counting.on = True
        holds = len(lock_holds)
    with pauses:
        started, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(one(u) for u in people))
        ANSWERED[name] = time.monotonic() - started
        if pushes:
            await pushes_arrive(api, warm_pushes + users, timeout=120 if SETUP["limits"] else 60)
        elapsed = time.monotonic() - started
        CPU[name] = (time.process_time() - cpu) / (users * STEPS) * 1000
    RATE[name] = users * STEPS / elapsed
    ELAPSED[name] = elapsed
    sent = [c.at for c in api.calls[mark:] if c.chat_id == WORKER_ID and c.method != "getUpdates"]
    FIRST_PUSH[name] = min(sent, default=started) - started
    REFUSED[name] = api.violations - refused if SETUP["limits"] else 0
    PER_REPORT[f"{name} calls"] = (bot_calls(api) - calls) / users
    if counting is not None:
        counting.on = False
        PER_REPORT[f"{name} writes"] = (len(lock_holds) - holds) / users  # SQLite only
        PER_REPORT[f"{name} statements"] = counting.statements / users
        PER_REPORT[f"{name} transactions"] = counting.transactions / users
    PUSHED[name] = len(api.sent(WORKER_ID)) - warm_pushes
    if pushes and PUSHED[name] < users and not SETUP["limits"]:
        raise SystemExit(f"{name}: only {PUSHED[name]} of {users} pushes arrived")


# --- the three bots ------------------------------------------------------------------------


async def echo_run(users: int) -> None:
    """A bare aiogram bot that echoes every message."""
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    async with fake_server() as api:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        dp = Dispatcher()
        dp.include_router(router)
        apply_gc(SETUP["gc"])
        task = await polling(dp, bot)
        await timed("echo", api, users, echo_talk, pushes=False)
        UNIT["api call"] = await api_call_cost(bot, FIRST_RESIDENT)
        await api.wait_idle(0.05)
        await stop(dp, task)
        await bot.session.close()


async def api_call_cost(bot: Bot, chat_id: int, rounds: int = 300) -> float:
    """CPU ms of one sendMessage to the fake server and back (client and server together)."""
    for _ in range(20):
        await bot.send_message(chat_id, "warm")
    cpu = time.process_time()
    await asyncio.gather(*(bot.send_message(chat_id, "cost") for _ in range(rounds)))
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


async def linli_run(users: int, database_url: str, redis_url: str | None) -> None:
    """linli's report flow, until the worker has every push (through the outbox)."""
    async with fake_server() as api:
        settings = Settings(
            _env_file=None,
            bot_token=TOKEN,
            telegram_api_base=api.base_url,
            database_url=database_url,
            redis_url=redis_url,
        )  # type: ignore[arg-type]
        fast = Limits(per_second=10_000, per_group_per_minute=10_000, private_interval=0)
        app = await create_app(settings, limits=Limits() if SETUP["limits"] else fast)
        await seed(app.sessions, users + warmup(users))
        apply_gc(SETUP["gc"])
        await start_background(app, scheduler=False)
        task = await polling(app.dp, app.bot)
        await timed("linli", api, users, report, Counting(app.engine))
        UNIT["transaction"] = await transaction_cost(app.sessions)
        await api.wait_idle(0.05)
        await stop(app.dp, task)
        await app.close()


async def peer_run(users: int, database_url: str, redis_url: str | None) -> None:
    """The textbook peer's report flow, until the worker has every push."""
    async with fake_server() as api:
        peer = await create_peer(
            token=TOKEN,
            api_base=api.base_url,
            database_url=database_url,
            worker_id=WORKER_ID,
            redis_url=redis_url,
        )
        apply_gc(SETUP["gc"])
        task = await polling(peer.dp, peer.bot)
        await timed("peer", api, users, report, Counting(peer.engine))
        await api.wait_idle(0.05)
        await stop(peer.dp, task)
        await peer.close()


# --- the run -------------------------------------------------------------------------------


async def main(users: int, backend: str, redis_url: str | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    if not SETUP["limits"]:  # six messages a second from one person: no one types so fast
        await echo_run(users)
    with tempfile.TemporaryDirectory() as folder:
        async with fresh_database(backend, Path(folder)) as url:
            await linli_run(users, url, redis_url)
        server = os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)
        async with peer_database(backend, Path(folder), server) as url:
            await peer_run(users, url, redis_url)
    where = f"Redis ({redis_url})" if redis_url else "memory / database"
    print(
        f"database: {backend}  residents: {users}  updates each: {STEPS}  "
        f"rtt: {SETUP['rtt_ms']:g} ms  conversations: {where}  gc: {SETUP['gc']}"
        f"  flood limits: {'as Telegram' if SETUP['limits'] else 'none'}"
    )
    labels = {"linli": "linli", "peer": "textbook peer", "echo": "echo bot"}
    if SETUP["limits"]:
        return under_limits(users, labels)
    for name, label in labels.items():
        print(
            f"{label + ':':15}{RATE[name]:7.1f} updates/s  {CPU[name]:6.2f} ms CPU per update"
            f"  worst GC pause {PAUSES[name].worst * 1000:5.1f} ms"
            f"  (last answer {ANSWERED[name]:.2f} s, last push {ELAPSED[name]:.2f} s)"
        )
    versus_peer = RATE["linli"] / RATE["peer"]
    versus_echo = RATE["linli"] / RATE["echo"]
    transactions = PER_REPORT["linli transactions"]
    writes = PER_REPORT["linli writes"]
    print(
        f"linli / peer: {versus_peer:.2f} (target >= {TARGET_PEER}: "
        f"{'met' if versus_peer >= TARGET_PEER else 'NOT met'})   linli / echo: {versus_echo:.2f}"
    )
    print(
        f"per report ({STEPS} updates): linli {PER_REPORT['linli calls']:.1f} Bot API calls,"
        f" {transactions:.1f} transactions (target <= {TARGET_TRANSACTIONS}: "
        f"{'met' if transactions <= TARGET_TRANSACTIONS else 'NOT met'}"
        + (f"; {writes:.1f} of them took SQLite's write lock" if backend == "sqlite" else "")
        + f"), {PER_REPORT['linli statements']:.1f} SQL statements; peer"
        f" {PER_REPORT['peer calls']:.1f} calls, {PER_REPORT['peer transactions']:.1f}"
        f" transactions, {PER_REPORT['peer statements']:.1f} statements; echo"
        f" {PER_REPORT['echo calls']:.1f} calls"
    )
    explain()
    in_order_bound(users)
    for name, label in labels.items():
        print(f"{label}: {PAUSES[name].summary()}")
    met = versus_peer >= TARGET_PEER and transactions <= TARGET_TRANSACTIONS
    return 0 if met else 1


def under_limits(users: int, labels: dict[str, str]) -> int:
    """What linli and the peer deliver when the fake servers enforce Telegram's limits."""
    for name in ("linli", "peer"):
        print(
            f"{labels[name] + ':':15}{users - STALLED[name]} of {users} residents got every"
            f" answer, the worker got {PUSHED[name]} of {users} pushes, {REFUSED[name]} sends"
            f" refused (429); last answer {ANSWERED[name]:.2f} s, last push {ELAPSED[name]:.2f} s"
        )
    whole = all(STALLED[n] == 0 and PUSHED[n] == users for n in ("linli",))
    return 0 if whole else 1


def explain() -> None:
    """Where linli's time goes, and the best ratio to echo its calls and transactions allow."""
    echo_calls, calls = PER_REPORT["echo calls"], PER_REPORT["linli calls"]
    api, transaction = UNIT["api call"], UNIT["transaction"]
    # What echo spends on an update besides its one call: long polling and dispatching.
    dispatch = max(CPU["echo"] - api * echo_calls / STEPS, 0.0)
    floor = (
        STEPS * dispatch + calls * api + PER_REPORT["linli transactions"] * transaction
    ) / STEPS
    print(f"one Bot API call: {api:.2f} ms CPU; one transaction: {transaction:.2f} ms CPU")
    print(
        f"floor: {floor:.2f} ms CPU per update for linli's calls and transactions alone, so"
        f" linli / echo in CPU could be at most {CPU['echo'] / floor:.2f}; the rest"
        f" ({max(CPU['linli'] - floor, 0):.2f} ms) is the statements' own work and the bot's"
    )


def in_order_bound(users: int) -> None:
    """The earliest linli's last push could arrive if the worker's pushes go one at a time, in
    order, each waiting its round trip; and the best linli / peer that would allow, also for a
    bot as quick as the peer to its first push."""
    rtt = SETUP["rtt_ms"] / 1000
    first, peer_first = FIRST_PUSH["linli"], FIRST_PUSH["peer"]
    earliest = first + users * rtt
    best = users * STEPS / max(ANSWERED["linli"], earliest) / RATE["peer"]
    best_quick = users * STEPS / max(ANSWERED["peer"], peer_first + users * rtt) / RATE["peer"]
    print(
        f"the worker's {users} pushes one at a time, in order: the first sent at {first:.2f} s,"
        f" then {users} round trips of {rtt * 1000:g} ms, so the last arrives at {earliest:.2f} s"
        f" at the earliest (linli's: {ELAPSED['linli']:.2f} s); a bot that keeps a chat's"
        f" messages in order reaches linli / peer {best:.2f} at most in this run, and"
        f" {best_quick:.2f} if it were as quick as the peer to its first push ({peer_first:.2f}"
        f" s). The peer sends all {users} at once; Telegram allows about one a second into a"
        f" private chat"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("residents", nargs="?", type=int, default=40)
    parser.add_argument("backend", nargs="?", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("redis", nargs="?", choices=["redis"], help="conversations in Redis")
    parser.add_argument("--rtt-ms", type=float, default=60.0, help="the fake servers' delay")
    parser.add_argument(
        "--telegram-limits",
        action="store_true",
        help="the fake servers enforce Telegram's flood limits; linli keeps its own pace",
    )
    add_gc_argument(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    SETUP.update(rtt_ms=args.rtt_ms, gc=args.gc, limits=args.telegram_limits)
    if args.backend == "postgres" and not os.environ.get("TEST_DATABASE_URL"):
        os.environ["TEST_DATABASE_URL"] = DEFAULT_POSTGRES
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0") if args.redis else None
    sys.exit(asyncio.run(main(args.residents, args.backend, redis)))
