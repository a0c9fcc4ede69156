"""The points shop (积分超市): /shop for residents (the household's balance, the goods it can
afford, its orders), the keepers' ✔ handed over / ✖ cancel, /shoporders for keepers, and
/shopadmin for village admins (goods, stock, keepers, figures, the month's .xlsx).

Every press is checked again in storage.shop.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TypedDict

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from exports.shop import export_shop
from storage import org, outbox, shop
from storage.errors import N_, NotAllowed, RuleError
from storage.models.org import Membership, MembershipStatus, Person
from storage.models.shop import OrderStatus
from storage.permissions.org import Actor
from storage.permissions.shop import ShopPermissions
from storage.settings import Settings
from views.i18n import _, locale_of, tr
from views.keyboards import FlowAction, Pick, button, cancel_row, flow_button, keyboard, picker
from views.replies import edit_after_press
from views.shop import (
    ShopAct,
    ShopBuy,
    ShopOpen,
    balance_lines,
    buy_button,
    cancel_markup,
    figures_lines,
    good_line,
    keeper_markup,
    keeper_text,
    order_line,
    tell_household,
    tell_keepers,
)

router = Router(name="shop")

LIMITS = (0, 1, 2, 4)


# --- residents -----------------------------------------------------------------------------


@router.message(Command("shop"), F.chat.type == "private")
async def open_shop(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    settings: Settings,
    now: datetime,
) -> None:
    await show_shop(message, session, actor, settings, now)


@router.callback_query(ShopOpen.filter())
async def open_shop_button(
    query: CallbackQuery,
    session: AsyncSession,
    actor: Actor | None,
    settings: Settings,
    now: datetime,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await show_shop(query.message, session, actor, settings, now)


async def show_shop(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    settings: Settings,
    now: datetime,
) -> None:
    """The household's balance, the goods (buttons for what it can afford), its orders."""
    if actor is None or actor.residence is None or not actor.is_approved_resident:
        await message.answer(_("The points shop is for approved residents. See /me."))
        return
    residence = actor.residence
    money = await shop.balance(session, residence.household_id, shop.points_year(now, settings.tz))
    goods = await shop.goods(session, residence.village_id)
    lines = [_("🛒 <b>Points shop (积分超市)</b>"), *balance_lines(money, None), ""]
    if not goods:
        lines.append(_("The shop has no goods yet."))
    lines += [good_line(g, None) for g in goods]
    affordable = [g for g in goods if g.stock > 0 and g.price <= money.available]
    if goods and not affordable:
        lines.append(_("Nothing is within your household's points yet."))
    elif affordable:
        lines.append(_("Tap what you would like; you confirm on the next step."))
    rows = [[buy_button(g, None)] for g in affordable[:20]]
    await message.answer(
        "\n".join(lines),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows) if rows else None,  # type: ignore[arg-type]
    )
    orders = [
        v
        for v in await shop.household_orders(session, residence.household_id)
        if v.order.status == OrderStatus.HELD
    ]
    for view in orders[:10]:
        await message.answer(
            _("Waiting to be handed over:") + "\n" + order_line(view, None),
            reply_markup=InlineKeyboardMarkup.model_validate(
                cancel_markup(view.order.id or 0, None)
            ),
        )


@router.callback_query(ShopBuy.filter(~F.confirm))
async def pick_good(
    query: CallbackQuery,
    callback_data: ShopBuy,
    session: AsyncSession,
    actor: Actor | None,
    settings: Settings,
    now: datetime,
) -> None:
    good = await shop.get_good(session, callback_data.good_id)
    if actor is None or not ShopPermissions.can_order(actor, good.village_id):
        raise NotAllowed(N_("Only approved residents of this village can order here."))
    money = await shop.balance(
        session,
        actor.residence.household_id,
        shop.points_year(now, settings.tz),  # type: ignore[union-attr]
    )
    await edit_after_press(
        query,
        _(
            "Order {name} for {price} points? The points are reserved now and spent when the "
            "shop keeper hands it over; until then you can cancel. Left after this: {left}."
        ).format(name=hd.quote(good.name), price=good.price, left=money.available - good.price),
        reply_markup=keyboard(
            [button(_("✔ Order"), ShopBuy(good_id=good.id or 0, confirm=True).pack())],
            cancel_row(),
        ),
    )


@router.callback_query(ShopBuy.filter(F.confirm))
async def confirm_order(
    query: CallbackQuery,
    callback_data: ShopBuy,
    session: AsyncSession,
    actor: Actor | None,
    settings: Settings,
    now: datetime,
) -> None:
    order = await shop.place_order(session, actor, callback_data.good_id, now, settings.tz)
    view = await shop.order_view(session, order.id or 0)
    told = await tell_keepers(session, view)
    money = await shop.balance(session, order.household_id, order.year)
    await edit_after_press(
        query,
        _(
            "Ordered: {good}. {points} points are reserved ({available} left to spend). "
            "The shop keeper is told ({count}) and hands it over; you will hear when. "
            "To cancel, see /shop."
        ).format(
            good=hd.quote(view.good), points=order.points, available=money.available, count=told
        ),
        toast=_("Ordered."),
    )


# --- keepers -------------------------------------------------------------------------------


@router.callback_query(ShopAct.filter(F.action.in_({"hand", "cancel"})))
async def act_on_order(
    query: CallbackQuery,
    callback_data: ShopAct,
    session: AsyncSession,
    actor: Actor,
    person: Person,
    now: datetime,
) -> None:
    if callback_data.action == "hand":
        order = await shop.hand_over(session, actor, callback_data.order_id, now)
    else:
        order = await shop.cancel_order(session, actor, callback_data.order_id, now)
    view = await shop.order_view(session, order.id or 0)
    buyer = await session.get(Person, order.person_id)
    if buyer is not None and buyer.id != person.id:
        tell_household(session, buyer.telegram_id, view, locale_of(buyer))
    text = (
        _("Handed over: {good} to {household}; {points} points spent.")
        if order.status == OrderStatus.HANDED
        else _("Cancelled: {good} for {household}; the {points} points are released.")
    ).format(good=hd.quote(view.good), household=hd.quote(view.household), points=order.points)
    await edit_after_press(query, text, toast=_("Done."))


@router.message(Command("shoporders"), F.chat.type == "private")
async def list_orders(message: Message, session: AsyncSession, actor: Actor | None) -> None:
    """The orders waiting to be handed over, for the keepers and admins."""
    villages = set(await shop.keeper_villages(session, actor.person_id)) if actor else set()
    villages |= actor.admin_villages() if actor else set()
    if not villages:
        await message.answer(_("Only the shop keepers and village admins see the orders."))
        return
    shown = 0
    for village_id in sorted(villages):
        for view in await shop.waiting_orders(session, village_id):
            await message.answer(
                keeper_text(view, None),
                reply_markup=InlineKeyboardMarkup.model_validate(
                    keeper_markup(view.order.id or 0, None)
                ),
            )
            shown += 1
    if not shown:
        await message.answer(_("No orders are waiting."))


# --- admins --------------------------------------------------------------------------------


class NewGood(StatesGroup):
    name = State()
    price = State()
    stock = State()
    limit = State()
    confirm = State()


class Restock(StatesGroup):
    count = State()


class GoodForm(TypedDict, total=False):
    village_id: int
    name: str
    price: int
    stock: int
    limit: int | None
    photo: str | None


@router.message(Command("shopadmin"), F.chat.type == "private")
async def shop_admin(
    message: Message,
    session: AsyncSession,
    actor: Actor | None,
    settings: Settings,
    now: datetime,
    state: FSMContext,
) -> None:
    villages = await org.administered_villages(session, actor) if actor else []
    if not villages:
        await message.answer(_("Only village admins can run the points shop."))
        return
    village = villages[0]
    await state.clear()
    await state.set_data({"village_id": village.id})
    figures = await shop.figures(session, village.id or 0, shop.points_year(now, settings.tz))
    keepers = await shop.keepers(session, village.id or 0)
    lines = [hd.quote(village.name), *figures_lines(figures, None)]
    lines.append(
        _("Shop keepers: {names}").format(names=hd.quote("、".join(p.full_name for p in keepers)))
        if keepers
        else _("Shop keepers: none yet (orders go to the village admins).")
    )
    rows = [
        [flow_button(_("➕ Add goods"), "shop_add"), flow_button(_("📦 Restock"), "shop_restock")],
        [flow_button(_("👤 Appoint a shop keeper"), "shop_keeper")],
        [flow_button(_("📤 This month as .xlsx"), "shop_export")],
    ]
    await message.answer("\n".join(lines), reply_markup=keyboard(*rows))


async def admin_village(state: FSMContext, actor: Actor) -> int:
    village_id = int((await state.get_data()).get("village_id") or 0)
    if not ShopPermissions.can_manage(actor, village_id):
        raise NotAllowed(N_("Only village admins can run the points shop."))
    return village_id


@router.callback_query(FlowAction.filter(F.action == "shop_add"))
async def ask_good_name(query: CallbackQuery, state: FSMContext, actor: Actor) -> None:
    village_id = await admin_village(state, actor)
    await state.set_state(NewGood.name)
    await state.set_data(GoodForm(village_id=village_id, photo=None))
    await edit_after_press(
        query,
        _(
            "What are the goods called? (for example 食用油 5升; a photo with the name as its "
            "caption works too)"
        ),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(NewGood.name, F.text | F.photo)
async def receive_good_name(message: Message, state: FSMContext) -> None:
    name = message.text if message.text else message.caption
    await state.update_data(
        name=org.require_text(name, shop.NAME_MAX),
        photo=(message.photo or [None])[-1].file_id if message.photo else None,  # type: ignore[union-attr]
    )
    await state.set_state(NewGood.price)
    await message.answer(_("How many points does it cost?"), reply_markup=keyboard(cancel_row()))


@router.message(NewGood.price, F.text)
async def receive_price(message: Message, state: FSMContext) -> None:
    await state.update_data(price=shop.number(message.text or "", 1, shop.PRICE_MAX))
    await state.set_state(NewGood.stock)
    await message.answer(_("How many are in stock?"), reply_markup=keyboard(cancel_row()))


@router.message(NewGood.stock, F.text)
async def receive_stock(message: Message, state: FSMContext) -> None:
    await state.update_data(stock=shop.number(message.text or "", 0, shop.STOCK_MAX))
    await state.set_state(NewGood.limit)
    choices = [(n, _("No limit") if n == 0 else str(n)) for n in LIMITS]
    await message.answer(
        _("How many may one household have a month?"),
        reply_markup=picker("shop_limit", choices, columns=4),
    )


@router.callback_query(NewGood.limit, Pick.filter(F.what == "shop_limit"))
async def pick_limit(query: CallbackQuery, callback_data: Pick, state: FSMContext) -> None:
    if callback_data.value not in LIMITS:
        raise RuleError(N_("Please use the buttons."))
    await state.update_data(limit=callback_data.value or None)
    form: GoodForm = await state.get_data()  # type: ignore[assignment]
    await state.set_state(NewGood.confirm)
    await edit_after_press(
        query,
        _(
            "Add to the shop: {name}, {price} points, {stock} in stock, {limit} a month per "
            "household?"
        ).format(
            name=hd.quote(form["name"]),
            price=form["price"],
            stock=form["stock"],
            limit=form.get("limit") or _("no limit"),
        ),
        reply_markup=keyboard([flow_button(_("✔ Add"), "confirm")], cancel_row()),
    )


@router.callback_query(NewGood.confirm, FlowAction.filter(F.action == "confirm"))
async def add_good(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    form: GoodForm = await state.get_data()  # type: ignore[assignment]
    good = await shop.add_good(
        session,
        actor,
        form["village_id"],
        name=form["name"],
        price=form["price"],
        stock=form["stock"],
        monthly_limit=form.get("limit"),
        photo_file_id=form.get("photo"),
        now=now,
    )
    await state.clear()
    await edit_after_press(
        query,
        _("{name} is in the shop. Residents see it in /shop (and from /mypoints).").format(
            name=hd.quote(good.name)
        ),
        toast=_("Added."),
    )


@router.callback_query(FlowAction.filter(F.action == "shop_restock"))
async def pick_restock(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, actor: Actor
) -> None:
    village_id = await admin_village(state, actor)
    goods = await shop.goods(session, village_id)
    if not goods:
        raise RuleError(N_("The shop has no goods yet."))
    await edit_after_press(
        query,
        _("Restock which goods?"),
        reply_markup=picker("shop_good", [(g.id or 0, f"{g.name} ({g.stock})") for g in goods]),
    )


@router.callback_query(Pick.filter(F.what == "shop_good"))
async def ask_restock(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
) -> None:
    good = await shop.get_good(session, callback_data.value)
    if not ShopPermissions.can_manage(actor, good.village_id):
        raise NotAllowed(N_("Only village admins can run the points shop."))
    await state.set_state(Restock.count)
    await state.set_data({"good_id": good.id})
    await edit_after_press(
        query,
        _("How many {name} are added to the stock?").format(name=hd.quote(good.name)),
        reply_markup=keyboard(cancel_row()),
    )


@router.message(Restock.count, F.text)
async def receive_restock(
    message: Message, state: FSMContext, session: AsyncSession, actor: Actor, now: datetime
) -> None:
    good_id = int((await state.get_data())["good_id"])
    good = await shop.restock(session, actor, good_id, message.text or "", now)
    await state.clear()
    await message.answer(
        _("{name}: {count} in stock now.").format(name=hd.quote(good.name), count=good.stock)
    )


@router.callback_query(FlowAction.filter(F.action == "shop_keeper"))
async def pick_keeper(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, actor: Actor
) -> None:
    village_id = await admin_village(state, actor)
    people = (
        await session.exec(
            select(Person)
            .join(Membership, col(Membership.person_id) == col(Person.id))
            .where(
                Membership.village_id == village_id,
                Membership.status == MembershipStatus.APPROVED,
            )
            .order_by(col(Person.full_name))
            .limit(40)
        )
    ).all()
    await edit_after_press(
        query,
        _("Who keeps the shop? They get the orders and hand the goods over."),
        reply_markup=picker("shop_keeper", [(p.id or 0, p.full_name) for p in people]),
    )


@router.callback_query(Pick.filter(F.what == "shop_keeper"))
async def appoint_keeper(
    query: CallbackQuery,
    callback_data: Pick,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    now: datetime,
) -> None:
    village_id = await admin_village(state, actor)
    person = await shop.appoint_keeper(session, actor, village_id, callback_data.value, now)
    outbox.enqueue(
        session,
        person.telegram_id,
        tr(
            locale_of(person),
            "🛒 You now keep the points shop: orders come to you with their buttons; "
            "/shoporders lists those waiting.",
        ),
    )
    await state.clear()
    await edit_after_press(
        query,
        _("{name} now keeps the shop and gets its orders.").format(
            name=hd.quote(person.full_name)
        ),
        toast=_("Saved."),
    )


@router.callback_query(FlowAction.filter(F.action == "shop_export"))
async def send_export(
    query: CallbackQuery,
    state: FSMContext,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
    locale: str,
) -> None:
    village_id = await admin_village(state, actor)
    village = await org.get_village(session, village_id)
    month = now.astimezone(settings.tz).strftime("%Y-%m")
    buffer = io.BytesIO()
    await export_shop(session, village, month, settings.tz, buffer, locale)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer_document(
            BufferedInputFile(buffer.getvalue(), filename=f"shop-{month}.xlsx"),
            caption=_("The points shop in {month}: orders and stock.").format(month=month),
        )
