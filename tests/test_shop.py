"""Points shop rules on both databases: the balance is earned − spent − held while rankings
count what was earned; two members of a household ordering at once cannot overspend it or the
stock; a cancelled order releases its hold once; a keeper cannot hand over another village's
order; 一年一清零 settles the year's holds; the monthly export."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from exports.shop import export_shop
from schedules.runtime import Runtime
from storage import org, periods, points, shop
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, RuleError
from storage.models.org import (
    Grid,
    Household,
    Membership,
    MembershipStatus,
    Person,
    Role,
    RoleAssignment,
    Village,
)
from storage.models.points import EntryKind
from storage.models.shop import OrderStatus, PointSpend, ShopOrder
from storage.permissions.org import Actor
from views.i18n import PoI18n

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
_ids = itertools.count(1)


@dataclass
class Shop:
    village_id: int
    household_id: int
    admin: Actor
    keeper: Actor
    husband: Actor
    wife: Actor
    neighbour: Actor  # another household


async def make_shop(sessions: SessionFactory, earned: int = 10) -> Shop:
    """A village whose first household (two members) earned `earned` points this year; a
    neighbour household earned 3; an admin; a keeper appointed by the admin."""
    n = next(_ids)
    async with unit_of_work(sessions) as session:
        village = Village(name=f"超市村{n}")
        session.add(village)
        await session.flush()
        grid = Grid(village_id=village.id or 0, name="一网格")
        session.add(grid)
        await session.flush()
        homes = [Household(grid_id=grid.id or 0, label=f"{n}-{i}") for i in range(3)]
        session.add_all(homes)
        await session.flush()
        people = []
        for i, home in enumerate([homes[0], homes[0], homes[1], homes[2]]):
            person = Person(
                telegram_id=n * 100_000 + i, full_name=f"户员{i}", household_id=home.id
            )
            session.add(person)
            await session.flush()
            session.add(
                Membership(
                    person_id=person.id or 0,
                    village_id=village.id or 0,
                    grid_id=grid.id or 0,
                    household_id=home.id or 0,
                    status=MembershipStatus.APPROVED,
                )
            )
            people.append(person)
        admin = Person(telegram_id=n * 100_000 + 99_999, full_name="书记")
        session.add(admin)
        await session.flush()
        session.add(
            RoleAssignment(
                person_id=admin.id or 0, village_id=village.id or 0, role=Role.VILLAGE_ADMIN
            )
        )
        await session.flush()
        for home, amount in ((homes[0], earned), (homes[1], 3)):
            await points.add_entry(
                session,
                village_id=village.id or 0,
                household_id=home.id or 0,
                person_id=None,
                item_id=None,
                points=amount,
                kind=EntryKind.AWARD,
                reason="志愿服务",
                now=NOW - timedelta(days=3),
                tz=TZ,
                recorded_by=admin.id,
            )
        actors = [await org.load_actor(session, p) for p in [*people, admin]]
        await shop.appoint_keeper(session, actors[-1], village.id or 0, people[3].id or 0, NOW)
    return Shop(
        village.id or 0, homes[0].id or 0, actors[-1], actors[3], actors[0], actors[1], actors[2]
    )


async def add_good(
    sessions: SessionFactory,
    place: Shop,
    name: str,
    price: int,
    stock: int,
    limit: int | None = None,
) -> int:
    async with unit_of_work(sessions) as session:
        good = await shop.add_good(
            session,
            place.admin,
            place.village_id,
            name=name,
            price=price,
            stock=stock,
            monthly_limit=limit,
            photo_file_id=None,
            now=NOW,
        )
    return good.id or 0


async def order(
    sessions: SessionFactory, actor: Actor, good_id: int, at: datetime = NOW
) -> ShopOrder:
    async with unit_of_work(sessions) as session:
        return await shop.place_order(session, actor, good_id, at, TZ)


async def balance(sessions: SessionFactory, household_id: int) -> shop.Balance:
    async with sessions() as session:
        return await shop.balance(session, household_id, 2026)


async def test_two_members_at_once_cannot_overspend(sessions: SessionFactory) -> None:
    place = await make_shop(sessions, earned=10)
    oil = await add_good(sessions, place, "食用油", 6, stock=5)
    outcomes = await asyncio.gather(
        *(order(sessions, who, oil) for who in (place.husband, place.wife) * 2),
        return_exceptions=True,
    )
    placed = [o for o in outcomes if isinstance(o, ShopOrder)]
    assert len(placed) == 1, outcomes
    assert all(isinstance(o, RuleError) for o in outcomes if not isinstance(o, ShopOrder))
    money = await balance(sessions, place.household_id)
    assert (money.earned, money.held, money.spent, money.available) == (10, 6, 0, 4)
    async with sessions() as session:
        assert (await shop.get_good(session, oil)).stock == 4


async def test_stock_never_goes_below_zero(sessions: SessionFactory) -> None:
    place = await make_shop(sessions, earned=50)
    soap = await add_good(sessions, place, "肥皂", 2, stock=2)
    buyers = [place.husband, place.wife, place.neighbour] * 2
    outcomes = await asyncio.gather(
        *(order(sessions, b, soap) for b in buyers), return_exceptions=True
    )
    assert sum(isinstance(o, ShopOrder) for o in outcomes) == 2
    async with sessions() as session:
        assert (await shop.get_good(session, soap)).stock == 0
        count = len((await session.exec(select(ShopOrder).where(ShopOrder.good_id == soap))).all())
        assert count == 2


async def test_cancel_releases_once_and_hand_over_spends(sessions: SessionFactory) -> None:
    place = await make_shop(sessions, earned=10)
    oil = await add_good(sessions, place, "食用油", 4, stock=5)
    salt = await add_good(sessions, place, "食盐", 3, stock=5)
    first = await order(sessions, place.husband, oil)
    second = await order(sessions, place.wife, salt)
    assert (await balance(sessions, place.household_id)).available == 3

    async def cancel(actor: Actor):
        async with unit_of_work(sessions) as session:
            return await shop.cancel_order(session, actor, second.id or 0, NOW)

    outcomes = await asyncio.gather(
        cancel(place.wife), cancel(place.keeper), cancel(place.wife), return_exceptions=True
    )
    assert sum(isinstance(o, ShopOrder) for o in outcomes) == 1
    assert sum(isinstance(o, AlreadyDone) for o in outcomes) == 2
    async with unit_of_work(sessions) as session:
        with pytest.raises(NotAllowed):  # another household
            await shop.cancel_order(session, place.neighbour, first.id or 0, NOW)
        with pytest.raises(NotAllowed):  # a resident is not a keeper
            await shop.hand_over(session, place.wife, first.id or 0, NOW)
        await shop.hand_over(session, place.keeper, first.id or 0, NOW)
        with pytest.raises(AlreadyDone):
            await shop.hand_over(session, place.keeper, first.id or 0, NOW)
    money = await balance(sessions, place.household_id)
    assert (money.earned, money.spent, money.held, money.available) == (10, 4, 0, 6)
    async with sessions() as session:
        spends = (
            await session.exec(select(PointSpend).where(PointSpend.order_id == second.id))
        ).all()
        assert sorted(s.kind for s in spends) == ["hold", "release"]
        assert (await shop.get_good(session, salt)).stock == 5
        assert (await shop.get_good(session, oil)).stock == 4
        # Rankings count what was earned: the household is still first with 10.
        start, end = periods.bounds("monthly", "2026-11", TZ)
        ranking = await points.household_sums(session, place.village_id, start, end)
        assert ranking[0][0] == place.household_id and ranking[0][2] == 10
        figures = await shop.figures(session, place.village_id, 2026)
        assert (figures.spent, figures.held, figures.handed) == (4, 0, 1)


async def test_a_keeper_cannot_hand_over_another_villages_order(sessions: SessionFactory) -> None:
    ours = await make_shop(sessions)
    theirs = await make_shop(sessions)
    good = await add_good(sessions, theirs, "毛巾", 2, stock=3)
    their_order = await order(sessions, theirs.husband, good)
    async with unit_of_work(sessions) as session:
        with pytest.raises(NotAllowed):
            await shop.hand_over(session, ours.keeper, their_order.id or 0, NOW)
        with pytest.raises(NotAllowed):
            await shop.hand_over(session, ours.admin, their_order.id or 0, NOW)
        with pytest.raises(NotAllowed):
            await shop.cancel_order(session, ours.keeper, their_order.id or 0, NOW)
    with pytest.raises(NotAllowed):  # nor order from another village's shop
        await order(sessions, ours.husband, good)
    async with sessions() as session:
        assert (await shop.get_order(session, their_order.id or 0)).status == OrderStatus.HELD


async def test_monthly_limit_and_year_end(sessions: SessionFactory, tmp_path: Path) -> None:
    place = await make_shop(sessions, earned=20)
    towel = await add_good(sessions, place, "毛巾", 2, stock=9, limit=1)
    kept = await order(sessions, place.husband, towel)
    with pytest.raises(RuleError):  # once a month per household, also for the other member
        await order(sessions, place.wife, towel)
    async with unit_of_work(sessions) as session:
        await shop.hand_over(session, place.keeper, kept.id or 0, NOW)
    waiting = await order(sessions, place.wife, towel, NOW + timedelta(days=15))  # next month
    assert (await balance(sessions, place.household_id)).available == 16
    out = tmp_path / "shop.xlsx"
    PoI18n().activate()
    async with sessions() as session:
        village = await org.get_village(session, place.village_id)
        assert await export_shop(session, village, "2026-11", TZ, out) == 1
    rows = list(load_workbook(out).worksheets[1].iter_rows(values_only=True))
    assert ("毛巾", 2, 7, 1, 0) in rows
    # 一年一清零: on 1 January the year's waiting order is released, once; the balance closes.
    runtime = Runtime(sessions, Clock(), TZ)
    new_year = datetime(2027, 1, 1, 1, 0, tzinfo=UTC)
    result = await runtime.run("shop_yearly", at=new_year)
    assert list(result.values()) == [1], result
    assert await runtime.run("shop_yearly", at=new_year) == {}
    async with sessions() as session:
        assert (await shop.get_order(session, waiting.id or 0)).status == OrderStatus.CANCELLED
        closed = await shop.balance(session, place.household_id, 2026)
        assert (closed.earned, closed.spent, closed.held) == (20, 2, 0)
        fresh = await shop.balance(session, place.household_id, 2027)
        assert fresh.available == 0
    with pytest.raises(RuleError):  # nothing to spend in the new year yet
        await order(sessions, place.husband, towel, new_year + timedelta(days=1))
