"""SQLite's write lock: an update's reads take none, its writes hold it briefly, and writers
take their turn first come first served, never refused for what another one wrote meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlmodel import select

from storage import db
from storage.db import for_update, in_turn, unit_of_work, update_slot
from storage.models.org import Village
from tests.databases import fresh_database


@pytest.fixture
async def sqlite_sessions(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with fresh_database("sqlite", tmp_path) as url:
        engine = db.create_engine(url)
        try:
            yield db.create_session_factory(engine)
        finally:
            await engine.dispose()


async def test_reads_of_an_update_take_no_write_lock(sqlite_sessions) -> None:  # type: ignore[no-untyped-def]
    async with unit_of_work(sqlite_sessions) as session:
        session.add(Village(name="甲村"))
    async with for_update(sqlite_sessions)() as reader:
        assert (await reader.exec(select(Village))).all()  # the update has read
        started = time.perf_counter()
        async with unit_of_work(sqlite_sessions) as writer:  # BEGIN IMMEDIATE: not held up
            writer.add(Village(name="乙村"))
        assert time.perf_counter() - started < 1.0
        # reads see what is committed (READ COMMITTED, as on PostgreSQL) ...
        assert {v.name for v in (await reader.exec(select(Village))).all()} == {"甲村", "乙村"}
        # ... and a write after another writer's commit is not refused
        reader.add(Village(name="丙村"))
        await reader.commit()
    async with sqlite_sessions() as session:
        names = {v.name for v in (await session.exec(select(Village))).all()}
    assert names == {"甲村", "乙村", "丙村"}


async def test_a_burst_of_read_then_write_updates_has_no_conflict_and_loses_nothing(
    sqlite_sessions,  # type: ignore[no-untyped-def]
) -> None:
    """Forty updates read the count, then add a row and update the same one: before, all but
    the first were refused ("database is locked") and had to run again."""
    async with unit_of_work(sqlite_sessions) as session:
        session.add(Village(name="计数", created_by=0))
    order: list[int] = []

    async def update(n: int) -> None:
        async with for_update(sqlite_sessions)() as session:
            await session.exec(select(Village))  # a read first, as every handler does
            await asyncio.sleep(0)  # everyone has read before anyone writes
            row = (await session.exec(select(Village).where(Village.name == "计数"))).one()
            session.add(Village(name=f"村{n}"))
            await session.flush()  # the first write: waits its turn here
            order.append(n)
            await session.refresh(row)  # read again inside the write transaction: current
            row.created_by = (row.created_by or 0) + 1
            await session.commit()

    await asyncio.gather(*(update(n) for n in range(40)))
    assert sorted(order) == list(range(40))
    async with sqlite_sessions() as session:
        rows = (await session.exec(select(Village))).all()
    assert len(rows) == 41
    assert next(v.created_by for v in rows if v.name == "计数") == 40


async def test_writers_run_again_in_turn_are_served_first_come_first_served(
    sqlite_sessions,  # type: ignore[no-untyped-def]
) -> None:
    order: list[int] = []

    async def writer(n: int) -> None:
        async with in_turn(sqlite_sessions), unit_of_work(sqlite_sessions) as session:
            order.append(n)
            session.add(Village(name=f"村{n}"))

    await asyncio.gather(*(writer(n) for n in range(8)))
    assert order == list(range(8))


async def test_each_write_transaction_records_how_long_it_held_the_lock(
    sqlite_sessions,  # type: ignore[no-untyped-def]
) -> None:
    db.lock_holds.clear()
    async with for_update(sqlite_sessions)() as session:  # a read alone: no lock, no record
        await session.exec(select(Village))
        await session.commit()
    assert len(db.lock_holds) == 0
    async with for_update(sqlite_sessions)() as session:
        session.add(Village(name="丁村"))
        await session.commit()
    assert len(db.lock_holds) == 1 and 0 < db.lock_holds[0] < 1.0


async def test_updates_waiting_their_turn_leave_connections_for_the_writer_in_turn(
    sqlite_sessions,  # type: ignore[no-untyped-def]
) -> None:
    """Twelve updates wait for the turn, each holding its connection; the writer whose turn it
    is (the delivery loop's) still gets a connection. With every connection of the pool held
    by a waiting update it waited for the pool's 30 s timeout, and everyone behind it."""
    wrote: list[str] = []

    async def update(n: int) -> None:
        async with update_slot(sqlite_sessions), for_update(sqlite_sessions)() as session:
            await session.exec(select(Village))
            session.add(Village(name=f"等{n}"))
            await session.commit()  # waits here for the turn
            wrote.append(f"等{n}")

    async with in_turn(sqlite_sessions):
        waiting = [asyncio.create_task(update(n)) for n in range(12)]
        await asyncio.sleep(0.3)  # they have all read and wait for the turn
        async with asyncio.timeout(5), unit_of_work(sqlite_sessions) as session:
            session.add(Village(name="轮到的"))
    await asyncio.wait_for(asyncio.gather(*waiting), 10)
    assert len(wrote) == 12
