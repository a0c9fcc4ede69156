"""The points shop end to end through the fake Bot API: the admin puts two goods on the shelf
and appoints a keeper; a household of two orders both (each sees what it can still afford),
the keeper hands one over and the household cancels the other; the balances are right, the
ranking still counts what was earned, and a settled order's buttons do nothing more."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

from storage import periods, points, shop
from storage.db import unit_of_work
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
from storage.models.points import EntryKind
from tests.harness import World

_n = itertools.count(1)
BASE = 64_000_000


@dataclass
class Cast:
    village_id: int
    household_id: int
    admin: int
    husband: int
    wife: int
    keeper: int


async def setup_village(world: World) -> Cast:
    """A village whose first household (two members) earned 10 points this year."""
    n = next(_n) + int(str(id(world))[-3:]) * 10
    base = BASE + n * 100
    now = world.clock.now()
    async with unit_of_work(world.app.sessions) as session:
        village = Village(name=f"超市村{n}")
        session.add(village)
        await session.flush()
        grid = Grid(village_id=village.id or 0, name="一网格")
        session.add(grid)
        await session.flush()
        homes = [Household(grid_id=grid.id or 0, label=f"{i + 1}号") for i in range(2)]
        session.add_all(homes)
        await session.flush()
        for i, home in enumerate([homes[0], homes[0], homes[1]]):
            person = Person(telegram_id=base + i, full_name=f"户员{i}", household_id=home.id)
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
        admin = Person(telegram_id=base + 50, full_name="书记")
        session.add(admin)
        await session.flush()
        session.add(
            RoleAssignment(
                person_id=admin.id or 0, village_id=village.id or 0, role=Role.VILLAGE_ADMIN
            )
        )
        session.add(BoundChat(chat_id=-3_200_000_000 - n, village_id=village.id or 0))
        await points.add_entry(
            session,
            village_id=village.id or 0,
            household_id=homes[0].id or 0,
            person_id=None,
            item_id=None,
            points=10,
            kind=EntryKind.AWARD,
            reason="志愿服务",
            now=now - timedelta(minutes=5),
            tz=world.app.settings.tz,
            recorded_by=admin.id,
        )
    for i in range(3):
        world.fake.user(base + i, f"H{i}")
    world.fake.user(base + 50, "书记")
    return Cast(village.id or 0, homes[0].id or 0, base + 50, base, base + 1, base + 2)


async def test_a_household_orders_two_goods_one_handed_over_one_cancelled(
    world: World,
) -> None:
    fake = world.fake
    cast = await setup_village(world)
    admin, husband, wife, keeper = (
        world.person(i) for i in (cast.admin, cast.husband, cast.wife, cast.keeper)
    )

    # The admin puts two goods on the shelf and appoints the keeper.
    for name, price, stock in (("食用油", "6", "5"), ("肥皂", "3", "2")):
        menu = await admin.say("/shopadmin", expect="积分超市")
        ask = await admin.tap(menu, "➕ 新增商品", expect="商品叫什么")
        del ask
        await admin.say(name, expect="多少积分")
        await admin.say(price, expect="库存")
        limit = await admin.say(stock, expect="每户每月")
        confirm = await admin.tap(limit, "不限", expect="上架")
        await admin.tap(confirm, "✔ 上架", expect="已上架")
    menu = await admin.say("/shopadmin", expect="还没有指定")
    people = await admin.tap(menu, "👤 指定超市管理员", expect="请指定超市管理员")
    mark = fake.mark()
    await admin.tap(people, "户员2", expect="已是超市管理员")
    await fake.wait_for_message(keeper.id, lambda m: "超市管理员" in (m.text or ""), after=mark)

    # The husband orders the oil from 📋 我的积分 → 🛒; the keeper is told with buttons.
    mine = await husband.say("/mypoints", expect="积分")
    shelf = await husband.tap(mine, "🛒 积分超市", expect="可用 10 分")
    assert shelf.buttons() == ["🛒 肥皂 · 3 分", "🛒 食用油 · 6 分"]
    ask = await husband.tap(shelf, "🛒 食用油 · 6 分", expect="用 6 分兑换食用油吗")
    mark = fake.mark()
    await husband.tap(ask, "✔ 确认兑换", expect="还剩 4 分可用")
    oil_push = await fake.wait_for_message(
        keeper.id, lambda m: "食用油" in (m.text or "") and bool(m.buttons()), after=mark
    )

    # The wife sees what is left: only the soap is within reach now.
    shelf = await wife.say("/shop", expect="可用 4 分")
    assert shelf.buttons() == ["🛒 肥皂 · 3 分"]
    ask = await wife.tap(shelf, "🛒 肥皂 · 3 分", expect="用 3 分兑换肥皂吗")
    mark = fake.mark()
    await wife.tap(ask, "✔ 确认兑换", expect="还剩 1 分可用")
    soap_push = await fake.wait_for_message(
        keeper.id, lambda m: "肥皂" in (m.text or "") and bool(m.buttons()), after=mark
    )

    # The keeper hands the oil over; the husband is told.
    mark = fake.mark()
    await keeper.tap(oil_push, "✔ 已交付", expect="已交付")
    told = await fake.wait_for_message(
        husband.id, lambda m: "已交付" in (m.text or ""), after=mark
    )
    assert "扣除 6 分" in (told.text or "")

    # The wife cancels the soap from /shop; its hold is released once.
    mark = fake.mark()
    await wife.say("/shop", expect="可用 1 分")
    waiting = await fake.wait_for_message(
        wife.id, lambda m: "等待领取" in (m.text or "") and bool(m.buttons()), after=mark
    )
    cancel_data = waiting.button_data()["✖ 取消这张兑换单"]
    await wife.tap(waiting, "✖ 取消这张兑换单", expect="已取消")
    assert "已经处理过了" in await keeper.tap_for_toast(soap_push, "✔ 已交付")
    assert "已经处理过了" in await wife.tap_for_toast(waiting, data=cancel_data)

    # Balances: earned 10, spent 6, nothing held, 4 to spend; the ranking counts the 10.
    await husband.say("/shop", expect="获得 10 分，已兑换 6 分，预留 0 分。可用 4 分")
    tz = world.app.settings.tz
    async with world.app.sessions() as session:
        year = shop.points_year(world.clock.now(), tz)
        money = await shop.balance(session, cast.household_id, year)
        assert (money.earned, money.spent, money.held, money.available) == (10, 6, 0, 4)
        month = periods.month_key(world.clock.now().astimezone(tz).date())
        start, end = periods.bounds("monthly", month, tz)
        ranking = await points.household_sums(session, cast.village_id, start, end)
        assert ranking[0][0] == cast.household_id and ranking[0][2] == 10
        soap = next(g for g in await shop.goods(session, cast.village_id) if g.name == "肥皂")
        assert soap.stock == 2
    figures = await admin.say("/shopadmin", expect="积分超市")
    assert "已交付 1 件，共 6 分" in (figures.text or "")
