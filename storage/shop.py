"""Points shop rules (积分超市): goods, orders with holds, hand-over and cancelling, keepers,
and the balance a household may spend.

Earned and spent are two ledgers. Rankings sum what was earned (`point_entry`, untouched by the
shop); a household's balance for a points year is

    earned (the year's entries) − redeemed (goods handed over) − held (orders waiting)

An order locks its household's row (PostgreSQL; SQLite writes one transaction at a time), so
two members ordering at once see each other's hold and cannot overspend; stock is taken by a
conditional UPDATE (`stock >= 1`). A hold is released or redeemed once: the order's status
moves once (storage.transitions) and `point_spend` is unique per order and kind.
一年一清零: `settle_year` cancels the orders of a closed year still waiting (their holds are
released, the goods go back to stock), and the next year's balance starts from its own entries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, org, periods, transitions
from storage.db import add_unique, get_or_missing
from storage.errors import N_, AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.org import Household, Person
from storage.models.points import PointEntry
from storage.models.shop import (
    GoodStatus,
    OrderStatus,
    PointSpend,
    ShopGood,
    ShopKeeper,
    ShopOrder,
    SpendKind,
)
from storage.permissions.org import Actor
from storage.permissions.shop import ShopPermissions as Can

NAME_MAX = 40
PRICE_MAX = 10_000
STOCK_MAX = 100_000
LIMIT_MAX = 100


def number(value: int | str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise RuleError(N_("Please send a whole number, for example 3.")) from None
    if not low <= number <= high:
        raise RuleError(N_("Please send a number from {low} to {high}."), low=low, high=high)
    return number


def points_year(now: datetime, tz: ZoneInfo) -> int:
    return now.astimezone(tz).year


# --- keepers -------------------------------------------------------------------------------


async def keeper_villages(session: AsyncSession, person_id: int) -> list[int]:
    query = select(ShopKeeper.village_id).where(ShopKeeper.person_id == person_id)
    return sorted((await session.exec(query)).all())


async def keepers(session: AsyncSession, village_id: int) -> list[Person]:
    query = (
        select(Person)
        .join(ShopKeeper, col(ShopKeeper.person_id) == col(Person.id))
        .where(ShopKeeper.village_id == village_id)
        .order_by(col(Person.id))
    )
    return list((await session.exec(query)).all())


async def who_hands_over(session: AsyncSession, village_id: int) -> list[Person]:
    """Who hears of a new order: the shop keepers, or the village admins when it has none."""
    return await keepers(session, village_id) or await org.village_admins(session, village_id)


async def appoint_keeper(
    session: AsyncSession, actor: Actor, village_id: int, person_id: int, now: datetime
) -> Person:
    if not Can.can_manage(actor, village_id):
        raise NotAllowed(N_("Only village admins can run the points shop."))
    membership = await org.current_membership(session, person_id)
    if membership is None or membership.village_id != village_id:
        raise NotFound(N_("That person is not a resident of this village."))
    person = await get_or_missing(session, Person, person_id, N_("That person is unknown."))
    keeper = ShopKeeper(
        village_id=village_id, person_id=person_id, appointed_by=actor.person_id, appointed_at=now
    )
    if not await add_unique(session, keeper):
        raise AlreadyDone(N_("{name} already keeps the shop."), name=person.full_name)
    audit.record(
        session,
        "shop.keeper",
        actor_id=actor.person_id,
        village_id=village_id,
        target_person_id=person_id,
    )
    return person


# --- goods ---------------------------------------------------------------------------------


async def goods(session: AsyncSession, village_id: int, *, active: bool = True) -> list[ShopGood]:
    query = select(ShopGood).where(ShopGood.village_id == village_id)
    if active:
        query = query.where(ShopGood.status == GoodStatus.ACTIVE)
    return list((await session.exec(query.order_by(col(ShopGood.price), col(ShopGood.id)))).all())


async def get_good(session: AsyncSession, good_id: int) -> ShopGood:
    return await get_or_missing(session, ShopGood, good_id, N_("That item is not in the shop."))


async def add_good(
    session: AsyncSession,
    actor: Actor,
    village_id: int,
    *,
    name: str,
    price: int | str,
    stock: int | str,
    monthly_limit: int | str | None,
    photo_file_id: str | None,
    now: datetime,
) -> ShopGood:
    if not Can.can_manage(actor, village_id):
        raise NotAllowed(N_("Only village admins can run the points shop."))
    good = ShopGood(
        village_id=village_id,
        name=org.require_text(name, NAME_MAX),
        price=number(price, 1, PRICE_MAX),
        stock=number(stock, 0, STOCK_MAX),
        monthly_limit=None
        if monthly_limit in (None, "", 0)
        else number(monthly_limit, 1, LIMIT_MAX),  # type: ignore[arg-type]
        photo_file_id=photo_file_id,
        created_at=now,
    )
    session.add(good)
    await session.flush()
    audit.record(
        session,
        "shop.good.add",
        actor_id=actor.person_id,
        village_id=village_id,
        good_id=good.id,
        price=good.price,
        stock=good.stock,
    )
    return good


async def restock(
    session: AsyncSession, actor: Actor, good_id: int, added: int | str, now: datetime
) -> ShopGood:
    good = await get_good(session, good_id)
    if not Can.can_manage(actor, good.village_id):
        raise NotAllowed(N_("Only village admins can run the points shop."))
    count = number(added, 1, STOCK_MAX)
    await session.exec(  # type: ignore[call-overload]
        update(ShopGood)
        .where(col(ShopGood.id) == good_id)
        .values(stock=ShopGood.stock + count, changed_at=now)
    )
    await session.refresh(good)
    audit.record(
        session,
        "shop.good.restock",
        actor_id=actor.person_id,
        village_id=good.village_id,
        good_id=good_id,
        added=count,
    )
    return good


async def retire_good(session: AsyncSession, actor: Actor, good_id: int, now: datetime) -> None:
    good = await get_good(session, good_id)
    if not Can.can_manage(actor, good.village_id):
        raise NotAllowed(N_("Only village admins can run the points shop."))
    await transitions.move_once(
        session,
        ShopGood,
        good_id,
        GoodStatus.ACTIVE,
        N_("That item is already off the shelf."),
        status=GoodStatus.RETIRED,
        changed_at=now,
    )
    audit.record(
        session,
        "shop.good.retire",
        actor_id=actor.person_id,
        village_id=good.village_id,
        good_id=good_id,
    )


# --- the balance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    year: int
    earned: int  # the year's entries: what rankings count
    spent: int  # goods handed over
    held: int  # orders waiting to be handed over

    @property
    def available(self) -> int:
        return self.earned - self.spent - self.held


async def balance(session: AsyncSession, household_id: int, year: int) -> Balance:
    earned = (
        await session.exec(
            select(func.coalesce(func.sum(PointEntry.points), 0)).where(
                PointEntry.household_id == household_id, PointEntry.year == year
            )
        )
    ).one()
    query = (
        select(PointSpend.kind, func.coalesce(func.sum(PointSpend.points), 0))
        .where(PointSpend.household_id == household_id, PointSpend.year == year)
        .group_by(col(PointSpend.kind))
    )
    by = {kind: int(total) for kind, total in (await session.exec(query)).all()}
    held = by.get(SpendKind.HOLD, 0) - by.get(SpendKind.RELEASE, 0) - by.get(SpendKind.REDEEM, 0)
    return Balance(year, int(earned), by.get(SpendKind.REDEEM, 0), held)


async def _spend(session: AsyncSession, order: ShopOrder, kind: SpendKind, now: datetime) -> None:
    entry = PointSpend(
        village_id=order.village_id,
        household_id=order.household_id,
        order_id=order.id or 0,
        kind=kind,
        points=order.points,
        year=order.year,
        at=now,
    )
    if not await add_unique(session, entry):
        raise AlreadyDone(N_("That order is already settled."))


# --- orders --------------------------------------------------------------------------------


async def lock_household(session: AsyncSession, household_id: int) -> None:
    """Serialise a household's orders (PostgreSQL row lock; SQLite is already serial)."""
    await session.exec(select(Household.id).where(Household.id == household_id).with_for_update())


async def ordered_this_month(
    session: AsyncSession, household_id: int, good_id: int, month: str
) -> int:
    query = (
        select(func.count())
        .select_from(ShopOrder)
        .where(
            ShopOrder.household_id == household_id,
            ShopOrder.good_id == good_id,
            ShopOrder.month == month,
            col(ShopOrder.status).in_([OrderStatus.HELD, OrderStatus.HANDED]),
        )
    )
    return int((await session.exec(query)).one())


async def place_order(
    session: AsyncSession, actor: Actor | None, good_id: int, now: datetime, tz: ZoneInfo
) -> ShopOrder:
    """Reserve the points (a hold) and one of the goods; the keepers hand it over."""
    good = await get_good(session, good_id)
    if actor is None or actor.residence is None or not Can.can_order(actor, good.village_id):
        raise NotAllowed(N_("Only approved residents of this village can order here."))
    if good.status != GoodStatus.ACTIVE:
        raise AlreadyDone(N_("That item is off the shelf."))
    household_id = actor.residence.household_id
    await lock_household(session, household_id)
    month = periods.month_key(now.astimezone(tz).date())
    if good.monthly_limit is not None and (
        await ordered_this_month(session, household_id, good_id, month) >= good.monthly_limit
    ):
        raise RuleError(
            N_("Your household can have {name} at most {count} times a month; that is reached."),
            name=good.name,
            count=good.monthly_limit,
        )
    year = points_year(now, tz)
    money = await balance(session, household_id, year)
    if money.available < good.price:
        raise RuleError(
            N_("{name} costs {price} points; your household has {available} to spend."),
            name=good.name,
            price=good.price,
            available=money.available,
        )
    taken = await session.exec(  # type: ignore[call-overload]
        update(ShopGood)
        .where(
            col(ShopGood.id) == good_id,
            col(ShopGood.stock) >= 1,
            col(ShopGood.status) == GoodStatus.ACTIVE,
        )
        .values(stock=ShopGood.stock - 1)
    )
    if not taken.rowcount:
        raise RuleError(N_("{name} is sold out for now."), name=good.name)
    order = ShopOrder(
        village_id=good.village_id,
        household_id=household_id,
        person_id=actor.person_id,
        good_id=good_id,
        points=good.price,
        year=year,
        month=month,
        created_at=now,
    )
    session.add(order)
    await session.flush()
    await _spend(session, order, SpendKind.HOLD, now)
    audit.record(
        session,
        "shop.order",
        actor_id=actor.person_id,
        village_id=good.village_id,
        order_id=order.id,
        good_id=good_id,
        points=good.price,
    )
    return order


async def get_order(session: AsyncSession, order_id: int) -> ShopOrder:
    return await get_or_missing(session, ShopOrder, order_id, N_("That order no longer exists."))


async def hand_over(
    session: AsyncSession, actor: Actor, order_id: int, now: datetime
) -> ShopOrder:
    """The keeper hands the goods over: the hold becomes spent (once)."""
    order = await get_order(session, order_id)
    if not Can.can_hand_over(actor, order, await keeper_villages(session, actor.person_id)):
        raise NotAllowed(N_("Only this village's shop keepers can hand goods over."))
    await transitions.move_once(
        session,
        ShopOrder,
        order_id,
        OrderStatus.HELD,
        N_("That order is already settled."),
        status=OrderStatus.HANDED,
        handed_at=now,
        handed_by=actor.person_id,
    )
    await session.refresh(order)
    await _spend(session, order, SpendKind.REDEEM, now)
    audit.record(
        session,
        "shop.hand_over",
        actor_id=actor.person_id,
        village_id=order.village_id,
        order_id=order_id,
    )
    return order


async def _release(session: AsyncSession, order: ShopOrder, by: int | None, now: datetime) -> bool:
    """Cancel a waiting order: the hold released and the goods back in stock, once."""
    if not await transitions.move(
        session,
        ShopOrder,
        order.id,
        OrderStatus.HELD,
        status=OrderStatus.CANCELLED,
        cancelled_at=now,
        cancelled_by=by,
    ):
        return False
    await _spend(session, order, SpendKind.RELEASE, now)
    await session.exec(  # type: ignore[call-overload]
        update(ShopGood).where(col(ShopGood.id) == order.good_id).values(stock=ShopGood.stock + 1)
    )
    await session.refresh(order)
    return True


async def cancel_order(
    session: AsyncSession, actor: Actor, order_id: int, now: datetime
) -> ShopOrder:
    order = await get_order(session, order_id)
    if not Can.can_cancel(actor, order, await keeper_villages(session, actor.person_id)):
        raise NotAllowed(N_("Only the household or the shop keepers can cancel this order."))
    if not await _release(session, order, actor.person_id, now):
        raise AlreadyDone(N_("That order is already settled."))
    audit.record(
        session,
        "shop.cancel",
        actor_id=actor.person_id,
        village_id=order.village_id,
        order_id=order_id,
    )
    return order


async def settle_year(session: AsyncSession, village_id: int, year: int, now: datetime) -> int:
    """一年一清零: the closed year's waiting orders are cancelled and their holds released."""
    query = select(ShopOrder).where(
        ShopOrder.village_id == village_id,
        ShopOrder.year == year,
        ShopOrder.status == OrderStatus.HELD,
    )
    settled = 0
    for order in (await session.exec(query)).all():
        if await _release(session, order, None, now):
            settled += 1
    if settled:
        audit.record(
            session,
            "shop.settle_year",
            actor_id=None,
            village_id=village_id,
            year=year,
            orders=settled,
        )
    return settled


@dataclass(frozen=True)
class OrderView:
    order: ShopOrder
    good: str
    household: str
    person: str


async def order_views(session: AsyncSession, *where: object, limit: int = 50) -> list[OrderView]:
    query = (
        select(ShopOrder, ShopGood.name, Household.label, Person.full_name)
        .join(ShopGood, col(ShopGood.id) == col(ShopOrder.good_id))
        .join(Household, col(Household.id) == col(ShopOrder.household_id))
        .join(Person, col(Person.id) == col(ShopOrder.person_id))
        .where(*where)
        .order_by(col(ShopOrder.created_at), col(ShopOrder.id))
        .limit(limit)
    )
    return [OrderView(o, g, h, p) for o, g, h, p in (await session.exec(query)).all()]


async def order_view(session: AsyncSession, order_id: int) -> OrderView:
    found = await order_views(session, col(ShopOrder.id) == order_id)
    if not found:
        raise NotFound(N_("That order no longer exists."))
    return found[0]


async def waiting_orders(session: AsyncSession, village_id: int) -> list[OrderView]:
    return await order_views(
        session, ShopOrder.village_id == village_id, ShopOrder.status == OrderStatus.HELD
    )


async def household_orders(session: AsyncSession, household_id: int) -> list[OrderView]:
    return await order_views(session, ShopOrder.household_id == household_id, limit=20)


async def orders_of_month(session: AsyncSession, village_id: int, month: str) -> list[OrderView]:
    return await order_views(
        session, ShopOrder.village_id == village_id, ShopOrder.month == month, limit=100_000
    )


@dataclass(frozen=True)
class ShopFigures:
    """What the shop gave out: this year's points spent and held, and each good's stock."""

    year: int
    spent: int
    held: int
    handed: int  # goods handed over this year
    stock: list[tuple[str, int]]


async def figures(session: AsyncSession, village_id: int, year: int) -> ShopFigures:
    query = (
        select(PointSpend.kind, func.coalesce(func.sum(PointSpend.points), 0), func.count())
        .where(PointSpend.village_id == village_id, PointSpend.year == year)
        .group_by(col(PointSpend.kind))
    )
    sums: dict[SpendKind, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for kind, total, count in (await session.exec(query)).all():
        sums[kind] = (int(total), int(count))
    held = sums[SpendKind.HOLD][0] - sums[SpendKind.RELEASE][0] - sums[SpendKind.REDEEM][0]
    stock = [(g.name, g.stock) for g in await goods(session, village_id)]
    return ShopFigures(year, sums[SpendKind.REDEEM][0], held, sums[SpendKind.REDEEM][1], stock)
