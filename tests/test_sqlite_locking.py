"""SQLite's write lock: an update's reads take none, its writes hold it briefly, and a write
that meets another writer's is refused at once so the update can run again in turn."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlmodel import select

from storage import db
from storage.db import for_update, in_turn, is_write_conflict, unit_of_work
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
        assert (await reader.exec(select(Village))).all()  # a read transaction is open
        started = time.perf_counter()
        async with unit_of_work(sqlite_sessions) as writer:  # BEGIN IMMEDIATE: not held up
            writer.add(Village(name="乙村"))
        assert time.perf_counter() - started < 1.0
        # the reader's snapshot is now stale: its first write is refused at once
        reader.add(Village(name="丙村"))
        started = time.perf_counter()
        with pytest.raises(Exception) as refused:
            await reader.flush()
        assert is_write_conflict(refused.value)
        assert time.perf_counter() - started < 1.0  # no waiting in SQLite's busy handler
        await reader.rollback()
    async with sqlite_sessions() as session:
        names = {v.name for v in (await session.exec(select(Village))).all()}
    assert names == {"甲村", "乙村"}


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
