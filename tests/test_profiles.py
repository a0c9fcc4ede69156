"""Who is behind an update, kept in memory: read once, forgotten on every change to its rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import update
from sqlmodel import col

from bot.profile_sync import ProfileSync
from storage import org, profiles
from storage.db import SessionFactory, unit_of_work
from storage.models.org import Household, Role, RoleAssignment
from storage.profiles import Profile, Profiles
from tests.village_builder import BuiltVillage, report_village

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
REDIS_URL = "redis://127.0.0.1:6379/15"


async def setup(sessions: SessionFactory) -> BuiltVillage:
    async with unit_of_work(sessions) as session:
        return await report_village(session, NOW)


async def profile_of(
    sessions: SessionFactory, cache: Profiles, telegram_id: int
) -> Profile | None:
    async with unit_of_work(sessions) as session:
        return await cache.get(session, telegram_id, create=False)


async def test_read_once_then_from_memory(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    cache = Profiles()
    first = await profile_of(sessions, cache, v.person("王网格员").telegram_id)
    assert first is not None
    assert first.actor.worker_grids() == {v.grid("一网格").id}
    assert [r.grid for r in first.roles] == ["一网格"]
    assert first.home is None
    again = await profile_of(sessions, cache, v.person("王网格员").telegram_id)
    assert again is first  # no second read
    resident = await profile_of(sessions, cache, v.person("张三").telegram_id)
    assert resident is not None and resident.home is not None
    assert resident.home.grid == "一网格" and resident.actor.is_approved_resident
    assert await profile_of(sessions, cache, 99_999_999) is None  # not created without asking


async def test_a_role_revoked_elsewhere_is_forgotten(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    cache = Profiles()
    before = await profile_of(sessions, cache, v.person("王网格员").telegram_id)
    assert before is not None and before.actor.worker_grids()
    async with unit_of_work(sessions) as session:  # a bulk UPDATE, as the rules write them
        await session.exec(  # type: ignore[call-overload]
            update(RoleAssignment)
            .where(col(RoleAssignment.person_id) == v.person("王网格员").id)
            .values(revoked_at=NOW)
        )
    after = await profile_of(sessions, cache, v.person("王网格员").telegram_id)
    assert after is not None and after is not before
    assert after.actor.worker_grids() == set() and after.roles == ()


async def test_a_new_role_and_a_renamed_household_are_seen(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    cache = Profiles()
    await profile_of(sessions, cache, v.person("张三").telegram_id)
    async with unit_of_work(sessions) as session:  # a row added through the session
        session.add(
            RoleAssignment(
                person_id=v.person("张三").id or 0, village_id=v.village_id, role=Role.REVIEWER
            )
        )
    found = await profile_of(sessions, cache, v.person("张三").telegram_id)
    assert found is not None and found.actor.reviewer_villages() == {v.village_id}
    async with unit_of_work(sessions) as session:
        household = await session.get(Household, v.person("张三").household_id)
        assert household is not None
        household.label = "3组 12号"
        session.add(household)
    found = await profile_of(sessions, cache, v.person("张三").telegram_id)
    assert found is not None and found.home is not None and found.home.household == "3组 12号"


async def test_a_change_made_through_the_attached_person_is_saved_and_forgotten(
    sessions: SessionFactory,
) -> None:
    v = await setup(sessions)
    cache = Profiles()
    async with unit_of_work(sessions) as session:
        profile = await cache.get(session, v.person("张三").telegram_id, create=False)
        assert profile is not None and profile.person.locale is None
        person = await profile.attach(session)
        org.set_locale(person, "en")
    assert profile.person.locale is None  # the remembered row itself is never changed
    again = await profile_of(sessions, cache, v.person("张三").telegram_id)
    assert again is not None and again.person.locale == "en"


async def test_a_failed_update_is_forgotten_too(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    cache = Profiles()
    first = await profile_of(sessions, cache, v.person("张三").telegram_id)
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions) as session:
            person = await first.attach(session)  # type: ignore[union-attr]
            person.full_name = "改了又撤回"
            session.add(person)
            await session.flush()
            raise RuntimeError
    again = await profile_of(sessions, cache, v.person("张三").telegram_id)
    assert again is not first  # read again: forgetting is always safe
    assert again is not None and again.person.full_name == "张三"


async def test_other_processes_are_told_through_redis(sessions: SessionFactory) -> None:
    """What one process forgot, another forgets on hearing it; a process ignores its own."""
    v = await setup(sessions)
    here, there = ProfileSync(REDIS_URL), ProfileSync(REDIS_URL)
    try:
        await here.redis.ping()
    except (RedisConnectionError, OSError):
        await here.close()
        await there.close()
        pytest.skip("no Redis server at 127.0.0.1:6379")
    cache = Profiles()
    try:
        await here.start()
        await asyncio.wait_for(here.listening.wait(), 5)
        kept = await profile_of(sessions, cache, v.person("张三").telegram_id)
        here.publish({v.person("张三").telegram_id}, set())  # our own: not acted on
        await asyncio.sleep(0.3)  # time for our own message to come back (and be ignored)
        assert await profile_of(sessions, cache, v.person("张三").telegram_id) is kept
        await there.start()
        await asyncio.wait_for(there.listening.wait(), 5)
        kept = await profile_of(sessions, cache, v.person("张三").telegram_id)
        here.publish(set(), {v.person("张三").id or 0})  # by person id, heard by `there`
        for _ in range(50):
            await asyncio.sleep(0.05)  # until the other process has heard it
            if await profile_of(sessions, cache, v.person("张三").telegram_id) is not kept:
                break
        else:
            pytest.fail("the other process did not forget")
    finally:
        await here.close()
        await there.close()
    assert profiles.publish == []


async def test_memory_stays_bounded(sessions: SessionFactory) -> None:
    v = await setup(sessions)
    cache = Profiles(limit=4)
    people = [
        v.person("村管理员"),
        v.person("王网格员"),
        v.person("李网格员"),
        v.person("张三"),
        v.person("赵六"),
    ]
    for someone in people:
        await profile_of(sessions, cache, someone.telegram_id)
    assert len(cache._kept) <= 4 and len(cache._person_ids) <= 4
    for someone in people:  # the forgotten are read again
        found = await profile_of(sessions, cache, someone.telegram_id)
        assert found is not None and found.actor.person_id == someone.id
