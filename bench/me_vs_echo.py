"""Throughput of `/me` in the real linli app beside a bare aiogram echo bot, in the same run.

Both bots poll their own in-process fake Bot API (sandbox/bot_api.py). For each measurement all N
updates ("/me" from U users, round-robin) are enqueued at once; the time runs from the first
enqueue until the Nth sendMessage has been answered by the fake server. A and B alternate for R
rounds; the medians are compared. Target (issue 2): linli / echo >= 0.6.

Linli runs as in tests/harness.py: create_app + the delivery loop + dp.start_polling, against a
fresh migrated database where every user is an approved resident (some also hold a role), so
`/me` reads the person, the membership view and the roles. A fresh app (and fake server) is
built for each round, so ThrottlingMiddleware (20 updates per user per 10 s) never drops one:
each user sends ceil(N/U) plus one warm-up update per round.

Warm-up: before the clock starts, every user sends one `/me` to each bot (a bot that has been
running a while has seen the people who use it; linli keeps who they are in memory). With
--cold only WARMUP distinct users warm up, so most timed updates are a person's first one
since start-up (a fresh process: three more queries each).

Each timed run also records its garbage-collection pauses (bot.gc_tuning.GcPauses); the
collector is set up once each bot is built (--gc, default tuned: bot.gc_tuning.tune_gc, as
bot.py does). --rtt-ms delays every answer of the fake server (default 0: the bot's own work).

Usage: .venv/bin/python -m bench.me_vs_echo [--updates N] [--users U] [--rounds R]
                                            [--database sqlite|postgres] [--tasks-limit K]
                                            [--rtt-ms MS] [--gc tuned|default|freeze|A,B,C]
                                            [--profile FILE]
PostgreSQL: TEST_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

import storage.tables  # noqa: F401 - every table on the metadata
from bench.gc_choice import add_gc_argument, apply_gc
from bot.app import create_app, start_background
from bot.gc_tuning import GcPauses
from sandbox.bot_api import FakeBotAPI
from storage.clock import Clock
from storage.db import CONCURRENT_UPDATES, create_engine, create_session_factory, unit_of_work
from storage.models.common import utcnow
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
from storage.settings import Settings
from tests.databases import fresh_database
from tests.harness import TEST_LIMITS, TOKEN

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
FIRST_USER = 500_000
THROTTLE_BURST = 20  # ThrottlingMiddleware's default burst per user and 10 s window
TARGET = 0.6
WARMUP = 50  # with --cold: updates before each timed run (from distinct users)
COLD = {"on": False}  # set by --cold
SETUP: dict[str, object] = {"rtt_ms": 0.0, "gc": "tuned"}  # set by --rtt-ms and --gc
TIMEOUT = 300.0


# --- the database: U approved residents ---------------------------------------------------


async def seed(url: str, users: int) -> None:
    """One village of 10 grids; every user an approved resident; every 10th a grid worker."""
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    now = utcnow()
    async with unit_of_work(sessions) as session:
        village = Village(name="Bench village")
        session.add(village)
        await session.flush()
        assert village.id is not None
        grids = [Grid(village_id=village.id, name=f"Grid {n}") for n in range(10)]
        session.add_all(grids)
        await session.flush()
        households = [
            Household(grid_id=grid.id or 0, label=f"Building {g}-{n}")
            for g, grid in enumerate(grids)
            for n in range(max(1, users // 40))
        ]
        session.add_all(households)
        await session.flush()
        people = []
        for n in range(users):
            household = households[n % len(households)]
            people.append(
                Person(
                    telegram_id=FIRST_USER + n,
                    full_name=f"Resident {n}",
                    phone=f"+86138{n:08d}",
                    household_id=household.id,
                )
            )
        session.add_all(people)
        await session.flush()
        by_id = {h.id: h for h in households}
        for n, person in enumerate(people):
            household = by_id[person.household_id]
            session.add(
                Membership(
                    person_id=person.id or 0,
                    village_id=village.id,
                    grid_id=household.grid_id,
                    household_id=household.id or 0,
                    status=MembershipStatus.APPROVED,
                    requested_at=now,
                    decided_at=now,
                )
            )
            if n % 10 == 0:
                session.add(
                    RoleAssignment(
                        person_id=person.id or 0,
                        village_id=village.id,
                        role=Role.GRID_WORKER,
                        grid_id=household.grid_id,
                        worker_kind=WorkerKind.FULL_TIME,
                    )
                )
    await engine.dispose()


# --- the two bots --------------------------------------------------------------------------


# start_polling's tasks_concurrency_limit for both bots (as in bot.py); set by --tasks-limit
POLLING: dict[str, int | None] = {"tasks_concurrency_limit": CONCURRENT_UPDATES}


class ErrorLog(logging.Handler):
    """Counts the updates the bot logged as failed, keeping the first error's one-line cause."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if not self.first and record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            self.first = f"{type(error).__module__}.{type(error).__name__}: {error}"[:300]


ERRORS = ErrorLog()


@asynccontextmanager
async def polling(dp: Dispatcher, bot: Bot) -> AsyncIterator[None]:
    task = asyncio.create_task(
        dp.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=1,
            tasks_concurrency_limit=POLLING["tasks_concurrency_limit"],
        )
    )
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError):
            await dp.stop_polling()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def linli_bot(fake: FakeBotAPI, url: str) -> AsyncIterator[None]:
    settings = Settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_base=fake.base_url,
        database_url=url,
        redis_url=None,
        bot_superadmins="1000",
    )  # type: ignore[arg-type]
    app = await create_app(settings, clock=Clock(), limits=TEST_LIMITS, run_migrations=False)
    apply_gc(str(SETUP["gc"]))
    try:
        await start_background(app, scheduler=False)
        async with polling(app.dp, app.bot):
            yield
    finally:
        await app.close()


@asynccontextmanager
async def echo_bot(fake: FakeBotAPI, _url: str) -> AsyncIterator[None]:
    router = Router()

    @router.message()
    async def echo(m: Message) -> None:
        await m.answer(m.text or "")

    dp = Dispatcher()
    dp.include_router(router)
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
    apply_gc(str(SETUP["gc"]))
    try:
        async with polling(dp, bot):
            yield
    finally:
        await bot.session.close()


BotFactory = Callable[[FakeBotAPI, str], contextlib.AbstractAsyncContextManager[None]]


# --- one measurement -----------------------------------------------------------------------


async def wait_sends(fake: FakeBotAPI, start: int, count: int, timeout: float) -> None:
    """Until `count` sendMessage calls made after index `start` of fake.calls are answered."""
    deadline = time.monotonic() + timeout
    scanned, done = start, 0
    while True:
        # calls are recorded in order but may finish out of order: count the finished prefix
        # incrementally, then the unfinished tail
        calls = fake.calls
        while scanned < len(calls) and calls[scanned].status is not None:
            if calls[scanned].method.lower() == "sendmessage" and calls[scanned].ok:
                done += 1
            scanned += 1
        tail = sum(
            1 for call in calls[scanned:] if call.method.lower() == "sendmessage" and call.ok
        )
        if done + tail >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done + tail}/{count} replies after {timeout:.0f} s")
        await asyncio.sleep(0.002)


async def send_all(fake: FakeBotAPI, users: list[int], count: int) -> None:
    for n in range(count):
        await fake.user(users[n % len(users)]).send("/me")


async def measure(
    factory: BotFactory, url: str, users: list[int], updates: int, check: Callable[[str], bool]
) -> tuple[float, float, int, GcPauses]:
    """Updates per second for `updates` "/me" messages through a fresh bot and fake server,
    the CPU time of this process per update (ms; bot, fake server and driver together), how
    many of the replies were not the expected answer (an error message), and the garbage
    collector's pauses in the timed run."""
    ERRORS.count, ERRORS.first = 0, ""
    pauses = GcPauses()
    fake = FakeBotAPI(rtt_ms=float(SETUP["rtt_ms"]))  # type: ignore[arg-type]
    await fake.start()
    for user_id in users:
        fake.user(user_id, f"Resident {user_id - FIRST_USER}")
    try:
        async with factory(fake, url):
            start = len(fake.calls)
            warmup = WARMUP if COLD["on"] else len(users)
            await send_all(fake, users, warmup)  # warm-up: distinct users, one update each
            await wait_sends(fake, start, warmup, 120)
            await fake.wait_idle(0.2)
            start = len(fake.calls)
            pauses.start()
            began, cpu = time.perf_counter(), time.process_time()
            await send_all(fake, users, updates)
            await wait_sends(fake, start, updates, TIMEOUT)
            elapsed = time.perf_counter() - began
            cpu = time.process_time() - cpu
            pauses.stop()
            await fake.wait_idle(0.05)  # answers still on their way back (--rtt-ms)
            replies = [c for c in fake.calls[start:] if c.method.lower() == "sendmessage" and c.ok]
            bad = [c for c in replies if not check(str(c.params.get("text") or ""))]
            if bad:
                print(
                    f"    {len(bad)} of {len(replies)} replies were wrong, e.g. "
                    f"{bad[0].params.get('text')!r}; logged errors: {ERRORS.count}, first: "
                    f"{ERRORS.first}",
                    flush=True,
                )
    finally:
        await fake.stop()
    return updates / elapsed, cpu / updates * 1000, len(bad), pauses


def is_me_reply(text: str) -> bool:
    return "Resident" in text and "Bench village" in text


def is_echo(text: str) -> bool:
    return text == "/me"


# --- the run -------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    if args.users < WARMUP:
        raise SystemExit(f"--users must be at least {WARMUP} (the warm-up uses distinct users)")
    if math.ceil(args.updates / args.users) + 1 > THROTTLE_BURST:
        raise SystemExit(
            f"{args.updates} updates from {args.users} users would trip the throttling "
            f"({THROTTLE_BURST} per user per 10 s): raise --users"
        )
    users = [FIRST_USER + n for n in range(args.users)]
    results: dict[str, list[float]] = {"linli": [], "echo": []}
    cpu: dict[str, list[float]] = {"linli": [], "echo": []}
    wrong = 0
    worst: dict[str, GcPauses] = {}
    with tempfile.TemporaryDirectory() as folder:
        async with fresh_database(args.database, Path(folder)) as url:
            await seed(url, args.users)
            for round_no in range(1, args.rounds + 1):
                me, me_cpu, me_wrong, me_gc = await measure(
                    linli_bot, url, users, args.updates, is_me_reply
                )
                echo, echo_cpu, echo_wrong, echo_gc = await measure(
                    echo_bot, url, users, args.updates, is_echo
                )
                for name, seen in (("linli", me_gc), ("echo", echo_gc)):
                    if name not in worst or seen.worst > worst[name].worst:
                        worst[name] = seen
                wrong += me_wrong + echo_wrong
                results["linli"].append(me)
                results["echo"].append(echo)
                cpu["linli"].append(me_cpu)
                cpu["echo"].append(echo_cpu)
                print(
                    f"  round {round_no}: linli /me {me:7.1f} updates/s ({me_cpu:5.2f} ms CPU)   "
                    f"echo {echo:7.1f} updates/s ({echo_cpu:5.2f} ms CPU)   "
                    f"ratio {me / echo:.2f}   worst GC pause {me_gc.worst * 1000:.1f} / "
                    f"{echo_gc.worst * 1000:.1f} ms",
                    flush=True,
                )
    me = statistics.median(results["linli"])
    echo = statistics.median(results["echo"])
    ratio = me / echo
    met = ratio >= TARGET and not wrong
    print()
    print(
        f"database: {args.database}   updates N={args.updates}   users U={args.users}   "
        f"rounds R={args.rounds} (medians)   tasks limit: {args.tasks_limit}   "
        f"warm-up: {'50 users (cold)' if args.cold else 'every user once'}   "
        f"rtt: {args.rtt_ms:g} ms   gc: {args.gc}"
    )
    me_cpu, echo_cpu = statistics.median(cpu["linli"]), statistics.median(cpu["echo"])
    print(f"  {'':<22}{'updates/s':>10}  {'CPU ms/update (this process)':>30}")
    print(f"  {'linli /me':<22}{me:10.1f}  {me_cpu:30.2f}")
    print(f"  {'bare aiogram echo':<22}{echo:10.1f}  {echo_cpu:30.2f}")
    print(f"  {'ratio (linli / echo)':<22}{ratio:10.2f}")
    for name in ("linli", "echo"):
        print(f"  {name} (worst round): {worst[name].summary()}")
    if wrong:
        print(f"  wrong replies (errors): {wrong}, so the figures do not count")
    print(f"  target >= {TARGET}: {'met' if met else 'NOT met'}")
    return 0 if met else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--tasks-limit",
        type=int,
        default=CONCURRENT_UPDATES,
        help="tasks_concurrency_limit for both bots' start_polling (default: as bot.py)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help=f"warm up with {WARMUP} users only, not every user",
    )
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="the fake server's delay")
    add_gc_argument(parser)
    parser.add_argument("--profile", help="write a cProfile of the whole run to this file")
    args = parser.parse_args()
    SETUP.update(rtt_ms=args.rtt_ms, gc=args.gc)
    if args.database == "postgres" and not os.environ.get("TEST_DATABASE_URL"):
        os.environ["TEST_DATABASE_URL"] = DEFAULT_POSTGRES
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("linli.errors").addHandler(ERRORS)
    logging.getLogger("linli.errors").propagate = False  # counted and summarised, not dumped
    POLLING["tasks_concurrency_limit"] = args.tasks_limit
    COLD["on"] = args.cold
    if args.profile:
        profiler = cProfile.Profile()
        code = profiler.runcall(asyncio.run, run(args))
        profiler.dump_stats(args.profile)
        return code
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
