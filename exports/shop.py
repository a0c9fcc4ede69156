"""`python bot.py export shop --village V --month YYYY-MM --out FILE`: the points shop's month
as .xlsx: every order (held, handed over, cancelled) and each good's stock and orders."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlmodel.ext.asyncio.session import AsyncSession

from exports import Exporter, register
from storage import org, shop
from storage.db import SessionFactory
from storage.errors import N_
from storage.models.org import Village
from storage.models.shop import OrderStatus
from storage.settings import Settings
from views.i18n import PoI18n, tr

ORDER_COLUMNS = [
    N_("order"),
    N_("ordered at"),
    N_("household"),
    N_("name"),
    N_("goods"),
    N_("points"),
    N_("status"),
    N_("settled at"),
]
STOCK_COLUMNS = [N_("goods"), N_("price"), N_("in stock"), N_("handed over"), N_("waiting")]
STATUS_NAMES = {
    OrderStatus.HELD: N_("waiting to be handed over"),
    OrderStatus.HANDED: N_("handed over"),
    OrderStatus.CANCELLED: N_("cancelled"),
}


def _time(moment: object, tz: ZoneInfo) -> str:
    if not moment:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))  # type: ignore[attr-defined]
    return aware.astimezone(tz).strftime("%Y-%m-%d %H:%M")


async def export_shop(
    session: AsyncSession,
    village: Village,
    month: str,
    tz: ZoneInfo,
    out: Path | BinaryIO,
    locale: str | None = None,
) -> int:
    """Write the workbook; returns the number of orders."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = tr(locale, "orders")[:31]
    sheet.append([tr(locale, c) for c in ORDER_COLUMNS])
    orders = await shop.orders_of_month(session, village.id or 0, month)
    handed: Counter[int] = Counter()
    waiting: Counter[int] = Counter()
    for view in orders:
        order = view.order
        if order.status == OrderStatus.HANDED:
            handed[order.good_id] += 1
        elif order.status == OrderStatus.HELD:
            waiting[order.good_id] += 1
        sheet.append(
            [
                order.id,
                _time(order.created_at, tz),
                view.household,
                view.person,
                view.good,
                order.points,
                tr(locale, STATUS_NAMES[OrderStatus(order.status)]),
                _time(order.handed_at or order.cancelled_at, tz),
            ]
        )
    stock = book.create_sheet(tr(locale, "stock")[:31])
    stock.append([tr(locale, c) for c in STOCK_COLUMNS])
    for good in await shop.goods(session, village.id or 0, active=False):
        stock.append(
            [good.name, good.price, good.stock, handed[good.id or 0], waiting[good.id or 0]]
        )
    book.save(out)
    return len(orders)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--village", required=True, help="the village's name")
    parser.add_argument("--month", required=True, help="YYYY-MM")
    parser.add_argument("--out", required=True, type=Path, help="the .xlsx file to write")


async def run(settings: Settings, sessions: SessionFactory, args: argparse.Namespace) -> int:
    PoI18n(default_locale=settings.bot_default_locale).activate()
    async with sessions() as session:
        village = await org.village_by_name(session, args.village)
        if village is None:
            raise SystemExit(f"no village named {args.village!r}")
        count = await export_shop(
            session, village, args.month, settings.tz, args.out, settings.bot_default_locale
        )
    print(f"{count} orders written to {args.out}")  # noqa: T201
    return 0


EXPORTER = register(
    Exporter(
        kind="shop",
        help="a month of the points shop: orders and stock (.xlsx)",
        add_arguments=add_arguments,
        run=run,
    )
)
