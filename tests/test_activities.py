"""Activity rules on both databases: who may organise and sign up (a forged press refused),
capacity under concurrent presses, the waiting list moved up, the rotating check-in code (an
expired one refused), a check-in credited once however it is pressed, closing, the reminder
job once per activity, and the attendance export."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from exports.activities import export_activities
from schedules.runtime import Runtime
from storage import activities, org, points
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.activities import Attendance, Audience, Signup, SignupStatus
from storage.models.common import OutboxMessage
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
from storage.models.points import PointEntry
from storage.permissions.org import Actor
from views.i18n import PoI18n

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
_ids = itertools.count(1)


@dataclass
class Place:
    village_id: int
    grids: list[int]
    admin: Actor
    worker: Actor  # a grid worker of grids[0]
    residents: list[
        Actor
    ]  # approved: [0], [1] share a household in grids[0]; the last in grids[1]
    pending: Actor
    item_id: int


async def make_place(sessions: SessionFactory, residents: int = 6) -> Place:
    n = next(_ids)
    async with unit_of_work(sessions) as session:
        village = Village(name=f"活动村{n}")
        session.add(village)
        await session.flush()
        grids = [Grid(village_id=village.id or 0, name=f"{i}网格") for i in (1, 2)]
        session.add_all(grids)
        await session.flush()
        people: list[Person] = []
        household = None
        for i in range(residents + 1):
            grid = grids[1] if i == residents - 1 else grids[0]
            if i != 1:
                household = Household(grid_id=grid.id or 0, label=f"{n}-{i}")
                session.add(household)
                await session.flush()
            assert household is not None
            person = Person(telegram_id=n * 100_000 + i, full_name=f"居民{i}")
            session.add(person)
            await session.flush()
            status = MembershipStatus.APPROVED if i < residents else MembershipStatus.PENDING
            session.add(
                Membership(
                    person_id=person.id or 0,
                    village_id=village.id or 0,
                    grid_id=household.grid_id,
                    household_id=household.id or 0,
                    status=status,
                )
            )
            person.household_id = household.id
            people.append(person)
        admin = Person(telegram_id=n * 100_000 + 99_999, full_name="书记")
        worker = Person(telegram_id=n * 100_000 + 99_998, full_name="网格员")
        session.add_all([admin, worker])
        await session.flush()
        session.add_all(
            [
                RoleAssignment(
                    person_id=admin.id or 0, village_id=village.id or 0, role=Role.VILLAGE_ADMIN
                ),
                RoleAssignment(
                    person_id=worker.id or 0,
                    village_id=village.id or 0,
                    role=Role.GRID_WORKER,
                    grid_id=grids[0].id,
                ),
                BoundChat(chat_id=-(10**9) - n, village_id=village.id or 0),
            ]
        )
        await session.flush()
        actors = [await org.load_actor(session, p) for p in [*people, admin, worker]]
        item = next(i for i in await points.catalogue(session, village.id or 0) if i.points == 2)
    return Place(
        village.id or 0,
        [g.id or 0 for g in grids],
        actors[-2],
        actors[-1],
        actors[:residents],
        actors[residents],
        item.id or 0,
    )


async def new_activity(
    sessions: SessionFactory,
    place: Place,
    *,
    capacity: int | None = 2,
    audience: Audience = Audience.VILLAGE,
    grid_ids: tuple[int, ...] = (),
    tag: str | None = None,
    by: Actor | None = None,
) -> int:
    async with unit_of_work(sessions) as session:
        activity = await activities.create_activity(
            session,
            by or place.admin,
            village_id=place.village_id,
            title="清扫村道",
            description="带上扫帚",
            place="村委会门口",
            starts_at=NOW + timedelta(days=2),
            ends_at=NOW + timedelta(days=2, hours=2),
            signup_deadline=NOW + timedelta(days=1, hours=12),
            capacity=capacity,
            audience=audience,
            grid_ids=grid_ids,
            tag=tag,
            item_id=place.item_id,
            now=NOW,
        )
    return activity.id or 0


async def sign_up(
    sessions: SessionFactory, actor: Actor | None, activity_id: int, at: datetime = NOW
):
    async with unit_of_work(sessions) as session:
        return await activities.sign_up(session, actor, activity_id, at)


async def test_capacity_holds_under_concurrent_presses(sessions: SessionFactory) -> None:
    place = await make_place(sessions, residents=6)
    activity_id = await new_activity(sessions, place, capacity=2)
    presses = [sign_up(sessions, r, activity_id) for r in place.residents for _ in range(2)]
    outcomes = await asyncio.gather(*presses, return_exceptions=True)
    made = [o for o in outcomes if isinstance(o, activities.SignedUp)]
    assert len(made) == 6  # each person once; the second press of each is "already"
    assert all(
        isinstance(o, AlreadyDone) for o in outcomes if not isinstance(o, activities.SignedUp)
    )
    assert sum(o.seat for o in made) == 2
    async with sessions() as session:
        got = await activities.counts(session, activity_id)
        assert (got.signed, got.waiting) == (2, 4)
        activity = await activities.get_activity(session, activity_id)
        assert activity.taken == 2


async def test_waiting_list_moves_up_once(sessions: SessionFactory) -> None:
    place = await make_place(sessions, residents=4)
    activity_id = await new_activity(sessions, place, capacity=1)
    first, second, third = place.residents[:3]
    assert (await sign_up(sessions, first, activity_id)).seat
    waiting = await sign_up(sessions, second, activity_id, NOW + timedelta(minutes=1))
    assert not waiting.seat and waiting.place == 1
    later = await sign_up(sessions, third, activity_id, NOW + timedelta(minutes=2))
    assert later.place == 2
    async with unit_of_work(sessions) as session:
        cancelled = await activities.cancel_signup(session, first, activity_id, NOW)
    assert cancelled.promoted is not None and cancelled.promoted.id == second.person_id
    async with unit_of_work(sessions) as session:
        with pytest.raises(AlreadyDone):
            await activities.cancel_signup(session, first, activity_id, NOW)
    async with sessions() as session:
        signed = [p.id for p in await activities.signed_people(session, activity_id)]
        assert signed == [second.person_id]
        assert (await activities.get_activity(session, activity_id)).taken == 1
    # The first signs up again: at the end of the line.
    again = await sign_up(sessions, first, activity_id, NOW + timedelta(minutes=5))
    assert not again.seat and again.place == 2


async def test_outside_the_audience_cannot_sign_up(sessions: SessionFactory) -> None:
    place = await make_place(sessions, residents=4)
    other = await make_place(sessions, residents=2)
    grid_only = await new_activity(
        sessions, place, audience=Audience.GRIDS, grid_ids=(place.grids[0],), by=place.worker
    )
    tagged = await new_activity(sessions, place, audience=Audience.TAG, tag="老年人")
    outsider = place.residents[-1]  # lives in the second grid
    with pytest.raises(NotAllowed):
        await sign_up(sessions, outsider, grid_only)
    with pytest.raises(NotAllowed):  # a resident of another village pressing a forged button
        await sign_up(sessions, other.residents[0], grid_only)
    with pytest.raises(NotAllowed):
        await sign_up(sessions, place.pending, grid_only)
    with pytest.raises(NotAllowed):
        await sign_up(sessions, None, grid_only)
    with pytest.raises(NotFound):
        await sign_up(sessions, place.residents[0], 10**6)
    assert (await sign_up(sessions, place.residents[0], grid_only)).seat
    with pytest.raises(NotAllowed):
        await sign_up(sessions, place.residents[2], tagged)
    async with unit_of_work(sessions) as session:
        assert await activities.add_tag(
            session, place.admin, place.village_id, place.residents[2].person_id, "老年人", NOW
        )
        with pytest.raises(NotAllowed):
            await activities.add_tag(
                session,
                place.worker,
                place.village_id,
                place.residents[3].person_id,
                "老年人",
                NOW,
            )
    assert (await sign_up(sessions, place.residents[2], tagged)).seat
    # A grid worker cannot organise for another grid; a resident not at all.
    with pytest.raises(NotAllowed):
        await new_activity(
            sessions, place, audience=Audience.GRIDS, grid_ids=(place.grids[1],), by=place.worker
        )
    with pytest.raises(NotAllowed):
        await new_activity(sessions, place, by=place.residents[0])
    # After the deadline nobody signs up.
    with pytest.raises(AlreadyDone):
        await sign_up(sessions, place.residents[3], tagged, NOW + timedelta(days=1, hours=13))


async def test_checkin_code_rotates_and_credits_once(sessions: SessionFactory) -> None:
    place = await make_place(sessions, residents=4)
    activity_id = await new_activity(sessions, place, capacity=None)
    alice = place.residents[0]
    await sign_up(sessions, alice, activity_id)
    start = NOW + timedelta(days=2, minutes=10)
    async with sessions() as session:
        activity = await activities.get_activity(session, activity_id)
        alice_person = await session.get(Person, alice.person_id)
    old_code = activities.current_code(activity, start - timedelta(minutes=10))
    code = activities.current_code(activity, start)
    assert len(code) == 6 and code.isdigit()

    async def check(code: str, at: datetime, *, by_link: bool = True):
        async with unit_of_work(sessions) as session:
            return await activities.check_in_by_code(
                session,
                alice,
                alice_person,
                code,
                at,
                TZ,
                activity_id=activity_id if by_link else None,
            )

    if old_code != code:  # a forwarded screenshot of ten minutes ago
        with pytest.raises(RuleError):
            await check(old_code, start)
    # The same code twice at once (two phones of one person) and once more by typing it.
    outcomes = await asyncio.gather(
        check(code, start),
        check(code, start),
        check(code, start, by_link=False),
        return_exceptions=True,
    )
    assert sum(isinstance(o, activities.CheckedIn) for o in outcomes) == 1
    assert sum(isinstance(o, AlreadyDone) for o in outcomes) == 2
    async with sessions() as session:
        entries = (
            await session.exec(select(PointEntry).where(PointEntry.person_id == alice.person_id))
        ).all()
        assert [e.points for e in entries] == [2]
        rows = (
            await session.exec(select(Attendance).where(Attendance.activity_id == activity_id))
        ).all()
        assert len(rows) == 1 and rows[0].entry_id == entries[0].id
    # The organiser's list: a second tap on the same name does nothing more.
    bob = place.residents[2]
    await sign_up(sessions, bob, activity_id)
    async with unit_of_work(sessions) as session:
        with pytest.raises(NotAllowed):  # not the organiser
            await activities.check_in_from_list(
                session, bob, activity_id, bob.person_id, start, TZ
            )
    taps = [_tap(sessions, place.admin, activity_id, bob.person_id, start) for _ in range(3)]
    outcomes = await asyncio.gather(*taps, return_exceptions=True)
    assert sum(isinstance(o, activities.CheckedIn) for o in outcomes) == 1
    async with unit_of_work(sessions) as session:
        with pytest.raises(NotFound):  # not signed up: not on the list
            await activities.check_in_from_list(
                session, place.admin, activity_id, place.residents[3].person_id, start, TZ
            )
    # Closing: the summary counts; nothing more after it.
    async with unit_of_work(sessions) as session:
        done = await activities.close_activity(
            session, place.admin, activity_id, "很好", [], start + timedelta(hours=2)
        )
    assert (done.signed, done.came, done.points) == (2, 2, 4)
    with pytest.raises(AlreadyDone):
        await check(
            activities.current_code(activity, start + timedelta(hours=2)),
            start + timedelta(hours=2),
        )
    with pytest.raises(AlreadyDone):
        async with unit_of_work(sessions) as session:
            await activities.close_activity(session, place.admin, activity_id, "", [], start)


async def _tap(
    sessions: SessionFactory, actor: Actor, activity_id: int, person_id: int, at: datetime
):
    async with unit_of_work(sessions) as session:
        return await activities.check_in_from_list(session, actor, activity_id, person_id, at, TZ)


async def test_an_expired_code_is_refused_after_the_grace(sessions: SessionFactory) -> None:
    place = await make_place(sessions, residents=2)
    activity_id = await new_activity(sessions, place, capacity=None)
    async with sessions() as session:
        activity = await activities.get_activity(session, activity_id)
    boundary = datetime.fromtimestamp(
        (int((NOW + timedelta(days=2)).timestamp()) // 300 + 1) * 300, UTC
    )
    before = activities.current_code(activity, boundary - timedelta(seconds=1))
    assert activities.code_matches(activity, before, boundary + timedelta(seconds=10))
    assert not activities.code_matches(activity, before, boundary + timedelta(seconds=31))
    assert not activities.code_matches(activity, before, boundary + timedelta(minutes=5))
    assert activities.code_valid_until(boundary - timedelta(seconds=1)) == boundary


async def test_reminder_once_and_export(sessions: SessionFactory, tmp_path: Path) -> None:
    place = await make_place(sessions, residents=3)
    activity_id = await new_activity(sessions, place, capacity=1)
    await sign_up(sessions, place.residents[0], activity_id)
    await sign_up(sessions, place.residents[2], activity_id)  # waiting: not reminded
    PoI18n().activate()
    runtime = Runtime(sessions, Clock(), TZ)
    at = NOW + timedelta(days=1, hours=1)
    first = await runtime.run("activity_reminder", at=at)
    assert list(first.values()) == [1]
    assert await runtime.run("activity_reminder", at=at) == {}
    async with sessions() as session:
        sent = (
            await session.exec(
                select(OutboxMessage).where(
                    col(OutboxMessage.batch).startswith("activity_reminder")
                )
            )
        ).all()
        assert [m.chat_id for m in sent] == [place.residents[0].telegram_id]
    async with unit_of_work(sessions) as session:
        person = await session.get(Person, place.residents[0].person_id)
        assert person is not None
        await activities.check_in_from_list(
            session, place.admin, activity_id, person.id or 0, NOW + timedelta(days=2), TZ
        )
    out = tmp_path / "a.xlsx"
    async with sessions() as session:
        village = await org.get_village(session, place.village_id)
        await export_activities(session, village, "2026-12", TZ, out)
        figures = await activities.attendance_by_grid(
            session, place.village_id, NOW - timedelta(days=1), NOW + timedelta(days=30)
        )
    assert [(f.activities, f.came) for f in figures] == [(1, 1), (1, 0)]
    book = load_workbook(out)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert any("清扫村道" in str(r) for r in rows)
    people = list(book.worksheets[1].iter_rows(values_only=True))
    assert any("居民0" in str(r) for r in people)


async def test_signup_rows_stay_consistent(sessions: SessionFactory) -> None:
    """Signing up, cancelling and signing up again, concurrently, never leaves two rows."""
    place = await make_place(sessions, residents=3)
    activity_id = await new_activity(sessions, place, capacity=1)
    alice = place.residents[0]

    async def cancel():
        async with unit_of_work(sessions) as session:
            return await activities.cancel_signup(session, alice, activity_id, NOW)

    await sign_up(sessions, alice, activity_id)
    await asyncio.gather(
        cancel(), cancel(), sign_up(sessions, alice, activity_id), return_exceptions=True
    )
    async with sessions() as session:
        rows = (await session.exec(select(Signup).where(Signup.activity_id == activity_id))).all()
        assert len(rows) == 1
        activity = await activities.get_activity(session, activity_id)
        assert activity.taken == (1 if rows[0].status == SignupStatus.SIGNED else 0)
