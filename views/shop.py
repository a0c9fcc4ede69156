"""What people see of the points shop (积分超市): the household's balance and the goods it can
afford, the order confirmation, the keeper's push with its buttons, the admin's figures."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.text_decorations import html_decoration as hd
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import outbox, shop
from storage.errors import N_
from storage.models.shop import OrderStatus, ShopGood
from storage.permissions.org import Actor
from views.i18n import _, locale_of, tr


class ShopOpen(CallbackData, prefix="sh"):
    """Open the shop (from 📋 我的积分)."""

    village_id: int


class ShopBuy(CallbackData, prefix="sb"):
    """Pick a good (confirm=False) or confirm the order (True): checked again in storage."""

    good_id: int
    confirm: bool


class ShopAct(CallbackData, prefix="so"):
    """On an order: hand it over or cancel it."""

    order_id: int
    action: str


STATUS_NAMES = {
    OrderStatus.HELD: N_("waiting to be handed over"),
    OrderStatus.HANDED: N_("handed over"),
    OrderStatus.CANCELLED: N_("cancelled"),
}


def balance_lines(money: shop.Balance, locale: str | None) -> list[str]:
    return [
        tr(
            locale,
            "Your household's points in {year}: earned {earned}, spent {spent}, "
            "reserved {held}. <b>{available} to spend.</b>",
            year=money.year,
            earned=money.earned,
            spent=money.spent,
            held=money.held,
            available=money.available,
        ),
        tr(
            locale,
            "Spending does not lower your place in the rankings: they count what was earned.",
        ),
    ]


def good_line(good: ShopGood, locale: str | None) -> str:
    limit = (
        tr(locale, ", at most {count} a month per household", count=good.monthly_limit)
        if good.monthly_limit
        else ""
    )
    stock = tr(locale, "{count} left", count=good.stock) if good.stock else tr(locale, "sold out")
    return tr(
        locale,
        "• {name}: {price} points ({stock}{limit})",
        name=hd.quote(good.name),
        price=good.price,
        stock=stock,
        limit=limit,
    )


def buy_button(good: ShopGood, locale: str | None) -> dict:
    return {
        "text": tr(locale, "🛒 {name} · {price}", name=good.name, price=good.price)[:60],
        "callback_data": ShopBuy(good_id=good.id or 0, confirm=False).pack(),
    }


def order_line(view: shop.OrderView, locale: str | None) -> str:
    return tr(
        locale,
        "• {good} ({points} points), {who}: {status}",
        good=hd.quote(view.good),
        points=view.order.points,
        who=hd.quote(view.person),
        status=tr(locale, STATUS_NAMES[OrderStatus(view.order.status)]),
    )


def keeper_markup(order_id: int, locale: str | None) -> dict:
    return {
        "inline_keyboard": [
            [
                {
                    "text": tr(locale, "✔ Handed over"),
                    "callback_data": ShopAct(order_id=order_id, action="hand").pack(),
                },
                {
                    "text": tr(locale, "✖ Cancel the order"),
                    "callback_data": ShopAct(order_id=order_id, action="cancel").pack(),
                },
            ]
        ]
    }


def cancel_markup(order_id: int, locale: str | None) -> dict:
    return {
        "inline_keyboard": [
            [
                {
                    "text": tr(locale, "✖ Cancel this order"),
                    "callback_data": ShopAct(order_id=order_id, action="cancel").pack(),
                }
            ]
        ]
    }


def keeper_text(view: shop.OrderView, locale: str | None) -> str:
    return tr(
        locale,
        "🛒 New order: {good} ({points} points) for {household}, ordered by {who}. "
        "Hand it over, then press ✔.",
        good=hd.quote(view.good),
        points=view.order.points,
        household=hd.quote(view.household),
        who=hd.quote(view.person),
    )


async def tell_keepers(session: AsyncSession, view: shop.OrderView) -> int:
    people = await shop.who_hands_over(session, view.order.village_id)
    for person in people:
        locale = locale_of(person)
        outbox.enqueue(
            session,
            person.telegram_id,
            keeper_text(view, locale),
            reply_markup=keeper_markup(view.order.id or 0, locale),
        )
    return len(people)


def tell_household(
    session: AsyncSession, telegram_id: int, view: shop.OrderView, locale: str
) -> None:
    if view.order.status == OrderStatus.HANDED:
        text = tr(
            locale,
            "🛒 {good} is handed over; {points} points are spent. Thank you!",
            good=hd.quote(view.good),
            points=view.order.points,
        )
    else:
        text = tr(
            locale,
            "🛒 Your order of {good} is cancelled; the {points} points are yours to spend again.",
            good=hd.quote(view.good),
            points=view.order.points,
        )
    outbox.enqueue(session, telegram_id, text)


def figures_lines(figures: shop.ShopFigures, locale: str | None) -> list[str]:
    lines = [
        tr(
            locale,
            "<b>The points shop in {year}</b>: {handed} goods handed over for {spent} points; "
            "{held} points reserved by orders waiting.",
            year=figures.year,
            handed=figures.handed,
            spent=figures.spent,
            held=figures.held,
        )
    ]
    lines += [
        tr(locale, "• {name}: {count} in stock", name=hd.quote(name), count=count)
        for name, count in figures.stock
    ]
    return lines


def open_shop_markup(actor: Actor | None) -> InlineKeyboardMarkup | None:
    """The 🛒 button under 📋 我的积分 (/mypoints), for approved residents."""
    if actor is None or actor.residence is None or not actor.is_approved_resident:
        return None
    data = ShopOpen(village_id=actor.residence.village_id).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("🛒 Points shop"), callback_data=data)]]
    )
