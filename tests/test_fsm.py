"""FSM storage: the same contract on the database (SQLite, PostgreSQL) and on Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import event
from sqlmodel import select

from bot.fsm import EMPTY_ROWS_KEPT, DatabaseStorage, create_fsm_storage
from storage.db import SessionFactory, active_session, commit, unit_of_work
from storage.models.common import FsmRecord, utcnow
from storage.models.org import Village

REDIS_URL = "redis://127.0.0.1:6379/15"

ALICE = StorageKey(bot_id=1, chat_id=100, user_id=100)
ALICE_IN_GROUP = StorageKey(bot_id=1, chat_id=-500, user_id=100)
BOB = StorageKey(bot_id=1, chat_id=200, user_id=200)
ALICE_SCENE = StorageKey(bot_id=1, chat_id=100, user_id=100, destiny="scene")


class Join(StatesGroup):
    name = State()
    household = State()


@pytest.fixture(params=["database", "redis"])
async def storage(
    request: pytest.FixtureRequest, sessions: SessionFactory
) -> AsyncIterator[BaseStorage]:
    if request.param == "database":
        yield DatabaseStorage(sessions)
        return
    prefix = f"linli-test-{uuid.uuid4().hex}"
    redis_storage = RedisStorage.from_url(
        REDIS_URL, key_builder=DefaultKeyBuilder(prefix=prefix, with_destiny=True)
    )
    try:
        await redis_storage.redis.ping()
    except (RedisConnectionError, OSError):
        await redis_storage.close()
        pytest.skip("no Redis server at 127.0.0.1:6379")
    try:
        yield redis_storage
    finally:
        keys = [key async for key in redis_storage.redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis_storage.redis.delete(*keys)
        await redis_storage.close()


async def test_empty_key_has_no_state_and_no_data(storage: BaseStorage) -> None:
    assert await storage.get_state(ALICE) is None
    assert await storage.get_data(ALICE) == {}


async def test_state_and_data_round_trip(storage: BaseStorage) -> None:
    await storage.set_state(ALICE, Join.name)
    await storage.set_data(ALICE, {"invite": "abc", "household_id": 7, "tags": ["a", "b"]})
    assert await storage.get_state(ALICE) == "Join:name"
    assert await storage.get_data(ALICE) == {
        "invite": "abc",
        "household_id": 7,
        "tags": ["a", "b"],
    }
    await storage.set_state(ALICE, "Join:household")
    assert await storage.get_state(ALICE) == Join.household.state
    assert (await storage.get_data(ALICE))["invite"] == "abc"  # data kept when state changes


async def test_update_data_merges(storage: BaseStorage) -> None:
    await storage.set_data(ALICE, {"a": 1, "b": 2})
    assert await storage.update_data(ALICE, {"b": 3, "c": "x"}) == {"a": 1, "b": 3, "c": "x"}
    assert await storage.get_data(ALICE) == {"a": 1, "b": 3, "c": "x"}
    assert await storage.get_value(ALICE, "c") == "x"


async def test_returned_data_is_a_copy(storage: BaseStorage) -> None:
    await storage.set_data(ALICE, {"a": 1})
    data = await storage.get_data(ALICE)
    data["a"] = 2
    assert await storage.get_data(ALICE) == {"a": 1}


async def test_users_chats_and_destinies_do_not_mix(storage: BaseStorage) -> None:
    await storage.set_state(ALICE, Join.name)
    await storage.set_data(ALICE, {"who": "alice"})
    await storage.set_state(BOB, Join.household)
    await storage.set_data(ALICE_IN_GROUP, {"who": "alice in group"})
    await storage.set_state(ALICE_SCENE, "scene:state")
    assert await storage.get_state(ALICE) == "Join:name"
    assert await storage.get_state(BOB) == "Join:household"
    assert await storage.get_state(ALICE_IN_GROUP) is None
    assert await storage.get_state(ALICE_SCENE) == "scene:state"
    assert await storage.get_data(ALICE) == {"who": "alice"}
    assert await storage.get_data(BOB) == {}
    assert await storage.get_data(ALICE_IN_GROUP) == {"who": "alice in group"}


async def test_clearing(storage: BaseStorage) -> None:
    await storage.set_state(ALICE, Join.name)
    await storage.set_data(ALICE, {"a": 1})
    await storage.set_state(BOB, Join.name)
    await storage.set_state(ALICE, None)
    await storage.set_data(ALICE, {})
    assert await storage.get_state(ALICE) is None
    assert await storage.get_data(ALICE) == {}
    assert await storage.get_state(BOB) == "Join:name"


async def test_database_state_survives_a_restart(sessions: SessionFactory) -> None:
    first = DatabaseStorage(sessions)
    await first.set_state(ALICE, Join.household)
    await first.update_data(ALICE, {"name": "Wang Fang"})
    await first.close()
    second = DatabaseStorage(sessions)
    assert await second.get_state(ALICE) == "Join:household"
    assert await second.get_data(ALICE) == {"name": "Wang Fang"}


async def test_database_clearing_leaves_an_empty_row_that_goes_later(
    sessions: SessionFactory,
) -> None:
    storage = DatabaseStorage(sessions)
    await storage.set_state(ALICE, Join.name)
    await storage.set_data(ALICE, {"a": 1})
    await storage.set_state(ALICE, None)
    async with sessions() as session:
        assert len((await session.exec(select(FsmRecord))).all()) == 1  # data is still there
    await storage.set_data(ALICE, {})
    async with sessions() as session:
        (row,) = (await session.exec(select(FsmRecord))).all()
    assert (row.state, row.data) == (None, {})  # ended: kept a while, against older writes
    await storage.write_behind()
    async with sessions() as session:
        assert len((await session.exec(select(FsmRecord))).all()) == 1  # not yet
    async with unit_of_work(sessions) as session:
        row.updated_at = utcnow() - EMPTY_ROWS_KEPT - timedelta(seconds=1)
        session.add(row)
    await storage.write_behind()
    async with sessions() as session:
        assert (await session.exec(select(FsmRecord))).all() == []
    assert await storage.get_state(ALICE) is None


async def test_a_step_that_changed_only_its_state_commits_nothing_and_is_written_behind(
    sessions: SessionFactory,
) -> None:
    storage = DatabaseStorage(sessions, flush_interval=60)
    async with sessions() as session:  # as the database middleware runs an update
        token = active_session.set(session)
        try:
            await storage.set_state(ALICE, Join.name)
            await commit(session)
        finally:
            active_session.reset(token)
    assert await storage.get_state(ALICE) == "Join:name"  # this process knows at once
    async with sessions() as session:
        assert (await session.exec(select(FsmRecord))).all() == []  # no transaction of its own
    assert await storage.write_behind() == 1
    async with sessions() as session:
        (row,) = (await session.exec(select(FsmRecord))).all()
    assert row.state == "Join:name"

    async with sessions() as session:  # a step that changes something else saves it with that
        token = active_session.set(session)
        try:
            await storage.set_state(ALICE, Join.household)
            session.add(Village(name="写后村"))
            await commit(session)
        finally:
            active_session.reset(token)
    async with sessions() as session:
        (row,) = (await session.exec(select(FsmRecord))).all()
    assert row.state == "Join:household"
    await storage.close()


async def test_a_late_write_behind_does_not_undo_a_newer_state(sessions: SessionFactory) -> None:
    storage = DatabaseStorage(sessions, flush_interval=60)
    async with sessions() as session:
        token = active_session.set(session)
        try:
            await storage.set_state(ALICE, Join.name)  # kept behind
            await commit(session)
        finally:
            active_session.reset(token)
    stale = dict(storage._behind)
    async with sessions() as session:  # then the wizard ends, with a change of its own
        token = active_session.set(session)
        try:
            await storage.set_state(ALICE, None)
            session.add(Village(name="后写村"))
            await commit(session)
        finally:
            active_session.reset(token)
    storage._behind.update(stale)  # as if that write-behind had been taken just before
    await storage.write_behind()
    async with sessions() as session:
        (row,) = (await session.exec(select(FsmRecord))).all()
    assert row.state is None
    await storage.close()


async def test_redis_storage_survives_a_restart() -> None:
    prefix = f"linli-test-{uuid.uuid4().hex}"
    builder = DefaultKeyBuilder(prefix=prefix, with_destiny=True)
    first = RedisStorage.from_url(REDIS_URL, key_builder=builder)
    try:
        await first.redis.ping()
    except (RedisConnectionError, OSError):
        await first.close()
        pytest.skip("no Redis server at 127.0.0.1:6379")
    try:
        await first.set_state(ALICE, Join.name)
        await first.set_data(ALICE, {"a": 1})
    finally:
        await first.close()
    second = RedisStorage.from_url(REDIS_URL, key_builder=builder)
    try:
        assert await second.get_state(ALICE) == "Join:name"
        assert await second.get_data(ALICE) == {"a": 1}
    finally:
        keys = [key async for key in second.redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await second.redis.delete(*keys)
        await second.close()


async def test_create_fsm_storage_picks_the_backend(sessions: SessionFactory) -> None:
    database = create_fsm_storage(None, sessions)
    assert isinstance(database, DatabaseStorage)
    redis_storage = create_fsm_storage(REDIS_URL, sessions)
    try:
        assert isinstance(redis_storage, RedisStorage)
        assert isinstance(redis_storage.key_builder, DefaultKeyBuilder)
        assert redis_storage.key_builder.with_destiny
    finally:
        await redis_storage.close()


async def test_database_writes_in_an_update_commit_or_roll_back_with_it(
    sessions: SessionFactory,
) -> None:
    """Inside an update, writes wait for its commit: a failed update leaves the state as it was,
    in memory as in the table, and a committed one is what a restarted bot reads."""
    storage = DatabaseStorage(sessions)
    await storage.set_state(ALICE, Join.name)

    class Failed(Exception):
        pass

    with pytest.raises(Failed):
        async with unit_of_work(sessions) as session:
            token = active_session.set(session)
            try:
                await storage.set_state(ALICE, Join.household)
                await storage.update_data(ALICE, {"name": "Wang Fang"})
                assert await storage.get_state(ALICE) == "Join:household"  # seen in the update
                raise Failed
            finally:
                active_session.reset(token)
    assert await storage.get_state(ALICE) == "Join:name"
    assert await storage.get_data(ALICE) == {}
    assert await DatabaseStorage(sessions).get_state(ALICE) == "Join:name"

    async with unit_of_work(sessions) as session:
        token = active_session.set(session)
        try:
            await storage.set_state(ALICE, Join.household)
            await storage.update_data(ALICE, {"name": "Wang Fang"})
        finally:
            active_session.reset(token)
    await storage.close()  # a clean stop writes what a step kept behind
    restarted = DatabaseStorage(sessions)
    assert await restarted.get_state(ALICE) == "Join:household"
    assert await restarted.get_data(ALICE) == {"name": "Wang Fang"}


async def test_database_memory_stays_bounded(sessions: SessionFactory) -> None:
    storage = DatabaseStorage(sessions, cache_limit=8)
    for user in range(20):
        await storage.set_state(StorageKey(bot_id=1, chat_id=user, user_id=user), Join.name)
    assert len(storage._committed) <= 8
    for user in range(20):  # the forgotten ones are read again from the table
        key = StorageKey(bot_id=1, chat_id=user, user_id=user)
        assert await storage.get_state(key) == "Join:name"


async def test_database_loads_every_conversation_once_then_reads_no_row(
    sessions: SessionFactory,
) -> None:
    await DatabaseStorage(sessions).set_state(ALICE, Join.name)
    engine = sessions.kw["bind"].sync_engine
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        storage = DatabaseStorage(sessions)
        assert await storage.get_state(ALICE) == "Join:name"  # the one read of the table
        reads = len(statements)
        for user in range(10):  # people with no conversation: nothing more is read
            key = StorageKey(bot_id=1, chat_id=500 + user, user_id=500 + user)
            assert await storage.get_state(key) is None
        assert len(statements) == reads

        small = DatabaseStorage(sessions, cache_limit=1)  # they do not fit: read one by one
        assert await small.get_state(ALICE) == "Join:name"
        before = len(statements)
        assert await small.get_state(BOB) is None
        assert len(statements) > before
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def test_the_first_read_inside_a_writing_update_does_not_wait_for_its_lock(
    sessions: SessionFactory,
) -> None:
    """A new person's first update after start-up writes their row, then reads the state:
    the one load of every conversation joins that transaction instead of waiting behind it."""
    storage = DatabaseStorage(sessions)
    async with unit_of_work(sessions) as session:
        session.add(Village(name="首读村"))
        await session.flush()  # the update holds SQLite's write lock from here
        token = active_session.set(session)
        try:
            async with asyncio.timeout(5):
                assert await storage.get_state(ALICE) is None
        finally:
            active_session.reset(token)
    await storage.close()
