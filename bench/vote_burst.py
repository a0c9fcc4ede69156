"""A vote with 2,000 eligible residents pressing within one minute, through the fake Bot API.

The real bot (polling, delivery, the card job run every second) against sandbox/bot_api.py, whose
every answer arrives --rtt-ms later (default 60 ms, a round trip to Telegram's servers); the
residents are made straight in the database, then each presses a button of the card once,
spread evenly over the seconds. Prints: presses answered, apologies (the bot's "Sorry,
something went wrong"), answer time (press to the press's answer reaching the server), whether
the tally is exact, the busiest minute's card edits in the group (Telegram allows 20 messages a
minute per group), how long each SQLite write transaction held the write lock (from
storage.db.lock_holds, when the code has it) and the worst garbage-collection pause.

Usage: .venv/bin/python bench/vote_burst.py [sqlite|postgres] [residents] [seconds]
                                            [--rtt-ms MS] [--gc tuned|default|freeze|A,B,C]
(defaults: sqlite 2000 60 --rtt-ms 60 --gc tuned; postgres needs TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres is used).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import storage.db  # noqa: E402
from bench.gc_choice import add_gc_argument, apply_gc  # noqa: E402
from bench.me_vs_echo import ErrorLog  # noqa: E402
from bot.gc_tuning import GcPauses  # noqa: E402
from storage import votes  # noqa: E402
from storage.db import unit_of_work  # noqa: E402
from storage.models.org import (
    BoundChat,
    Grid,
    Household,
    Membership,
    MembershipStatus,
    Person,
    Role,
    RoleAssignment,
    Village,
)
from storage.org import load_actor  # noqa: E402
from tests.harness import World, running_world  # noqa: E402
from views.i18n import tr  # noqa: E402
from views.votes import card_markup, card_text  # noqa: E402

GROUP = -1_500_000_001
BASE_ID = 50_000_000
APOLOGY = "Sorry, something went wrong and nothing was changed. Please try again."
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


async def populate(world: World, residents: int) -> int:
    """The village, its residents, the bound group and the vote; returns the vote id."""
    now = world.clock.now()
    async with unit_of_work(world.app.sessions) as session:
        village = Village(name="压测村")
        session.add(village)
        await session.flush()
        grid = Grid(village_id=village.id or 0, name="一网格")
        session.add(grid)
        await session.flush()
        households = [Household(grid_id=grid.id or 0, label=f"{i}号") for i in range(residents)]
        people = [Person(telegram_id=BASE_ID + i, full_name=f"居民{i}") for i in range(residents)]
        session.add_all([*households, *people])
        await session.flush()
        session.add_all(
            Membership(
                person_id=p.id or 0,
                village_id=village.id or 0,
                grid_id=grid.id or 0,
                household_id=h.id or 0,
                status=MembershipStatus.APPROVED,
            )
            for p, h in zip(people, households, strict=True)
        )
        admin = Person(telegram_id=BASE_ID - 1, full_name="书记")
        session.add(admin)
        await session.flush()
        session.add(
            RoleAssignment(
                person_id=admin.id or 0, village_id=village.id or 0, role=Role.VILLAGE_ADMIN
            )
        )
        session.add(BoundChat(chat_id=GROUP, village_id=village.id or 0))
        await session.flush()
        vote = await votes.create_vote(
            session,
            await load_actor(session, admin),
            village_id=village.id or 0,
            question="是否同意硬化村东道路？",
            options=["同意", "不同意", "弃权"],
            deadline=now + timedelta(days=3),
            secret=False,
            quorum_percent=50,
            now=now,
        )
        view = await votes.vote_view(session, vote.id or 0)
        await votes.post_cards(
            session,
            vote,
            card_text(view, "zh", world.app.settings.tz),
            card_markup(view, "zh"),
            now=now,
        )
    world.app.delivery.wake()
    return vote.id or 0


async def refresh_cards(world: World, stop: asyncio.Event) -> None:
    """The card job, every second (the scheduler runs it every 5 s; this is harsher)."""
    while not stop.is_set():
        await world.app.runtime.run("vote_cards")
        await asyncio.sleep(1.0)


def milliseconds(values: list[float]) -> str:
    """Median, p95 and max of durations in seconds, in ms."""
    ordered = sorted(values)
    return (
        f"median {statistics.median(ordered) * 1000:.0f} ms  "
        f"p95 {ordered[min(int(len(ordered) * 0.95), len(ordered) - 1)] * 1000:.0f} ms  "
        f"max {ordered[-1] * 1000:.0f} ms"
    )


def lock_holds_line(backend: str, presses: int) -> str:
    """The SQLite write-lock hold of each write transaction, from storage.db.lock_holds."""
    holds = getattr(storage.db, "lock_holds", None)
    if holds is None:
        return "SQLite write-lock hold: n/a (storage.db has no lock_holds)"
    if not holds:
        return f"SQLite write-lock hold: n/a (no SQLite write transaction on {backend})"
    ordered = sorted(holds)
    p95 = ordered[min(int(len(ordered) * 0.95), len(ordered) - 1)]
    return (
        f"SQLite write-lock hold: median {statistics.median(ordered) * 1000:.2f} ms  "
        f"p95 {p95 * 1000:.2f} ms  max {ordered[-1] * 1000:.1f} ms  "
        f"({len(ordered)} write transactions, {len(ordered) / presses:.2f} per press)"
    )


def apologies(fake: object, chat_ids: set[int]) -> int:
    """Presses answered with the apology, and apologies written into the residents' chats."""
    texts = {tr("zh", APOLOGY), tr("en", APOLOGY)}
    toasts = sum(
        1
        for a in fake.callback_answers.values()  # type: ignore[attr-defined]
        if str(a.get("text") or "") in texts
    )
    written = sum(
        1
        for c in fake.calls  # type: ignore[attr-defined]
        if c.method == "sendMessage"
        and c.chat_id in chat_ids
        and str(c.params.get("text") or "") in texts
    )
    return toasts + written


async def bench(backend: str, residents: int, seconds: float, rtt_ms: float, gc_mode: str) -> int:
    logging.basicConfig(level=logging.WARNING)
    errors = ErrorLog()
    logging.getLogger("linli.errors").addHandler(errors)
    logging.getLogger("linli.errors").propagate = False  # counted and summarised, not dumped
    with tempfile.TemporaryDirectory() as folder:
        async with running_world(backend, Path(folder)) as world:
            logging.getLogger("linli").setLevel(logging.WARNING)
            fake = world.fake
            fake.rtt_ms = rtt_ms
            fake.group(GROUP, "压测村村民群")
            vote_id = await populate(world, residents)
            card = await fake.wait_for_message(GROUP, timeout=10)
            labels = card.buttons()
            users = [fake.user(BASE_ID + i, f"R{i}") for i in range(residents)]
            gc_setting = apply_gc(gc_mode)
            pauses = GcPauses().start()
            holds = getattr(storage.db, "lock_holds", None)
            if holds is not None:
                holds.clear()
            stop = asyncio.Event()
            refresher = asyncio.create_task(refresh_cards(world, stop))
            pressed_at: dict[int, float] = {}
            started = time.monotonic()
            for i, user in enumerate(users):
                delay = started + i * seconds / residents - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                update_id = await user.press(card, labels[i % len(labels)])
                pressed_at[update_id] = time.monotonic()
            pressing = time.monotonic() - started
            latencies = []
            for update_id, at in pressed_at.items():
                call = await fake.callback_answer(update_id, timeout=120)
                latencies.append(call.at - at)
            answered = time.monotonic() - started
            lock_line = lock_holds_line(backend, residents)  # the presses' own transactions
            await asyncio.sleep(7)  # the last batched edit
            stop.set()
            await refresher
            await world.app.delivery.drain(30)
            async with world.app.sessions() as session:
                counts = await votes.tally(session, vote_id)
                options = await votes.options_of(session, vote_id)
            expected = {
                o.id: sum(1 for i in range(residents) if i % len(labels) == n)
                for n, o in enumerate(options)
            }
            edits = sorted(
                c.at for c in fake.calls if c.method == "editMessageText" and c.chat_id == GROUP
            )
            group_calls = sorted(c.at for c in fake.calls if c.chat_id == GROUP and c.ok)
            busiest_edits = max(
                (sum(1 for t in edits if s <= t < s + 60) for s in edits), default=0
            )
            busiest_group = max(
                (sum(1 for t in group_calls if s <= t < s + 60) for s in group_calls), default=0
            )
            toasts_ok = sum(
                1 for a in fake.callback_answers.values() if "已记录" in str(a.get("text") or "")
            )
            pauses.stop()
            sorry = apologies(fake, {u.id for u in users})
            final = fake.last(GROUP).text or ""
            print(
                f"backend: {backend}  residents: {residents}  pressing window: {pressing:.1f} s  "
                f"rtt: {rtt_ms:g} ms  gc: {gc_setting}"
            )
            print(
                f"presses answered: {len(latencies)}/{residents}  recorded toasts: {toasts_ok}  "
                f"apologies: {sorry}"
            )
            if errors.count:
                print(f"failed updates logged: {errors.count}, the first: {errors.first}")
            print(
                f"answer time: {milliseconds(latencies)}  "
                f"(all answered {answered:.1f} s after start)"
            )
            print(f"tally: {counts}  expected: {expected}  exact: {counts == expected}")
            print(
                f"card edits: {len(edits)}  busiest minute: {busiest_edits} edits, "
                f"{busiest_group} group messages in all (limit 20)"
            )
            print(f"card shows the final count: {f'{residents} / {residents}' in final}")
            print(lock_line)
            print(pauses.summary())
            ok = (
                len(latencies) == residents
                and toasts_ok == residents
                and sorry == 0
                and counts == expected
                and busiest_group <= 20
                and f"{residents} / {residents}" in final
            )
            print("OK" if ok else "FAILED")
            return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend", nargs="?", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("residents", nargs="?", type=int, default=2000)
    parser.add_argument("seconds", nargs="?", type=float, default=60.0)
    parser.add_argument("--rtt-ms", type=float, default=60.0, help="the fake server's delay")
    add_gc_argument(parser)
    args = parser.parse_args()
    if args.backend == "postgres" and not os.environ.get("TEST_DATABASE_URL"):
        os.environ["TEST_DATABASE_URL"] = DEFAULT_POSTGRES
    return asyncio.run(bench(args.backend, args.residents, args.seconds, args.rtt_ms, args.gc))


if __name__ == "__main__":
    sys.exit(main())
