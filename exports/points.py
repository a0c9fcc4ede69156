"""The month on paper: the praise-list picture (PNG) and the notice-board workbook (.xlsx).

`python bot.py export points --village V --month YYYY-MM --out FILE` writes the workbook.
The picture is drawn with the bundled font (assets/fonts, a Noto Sans CJK subset under the OFL),
so its Chinese renders on any machine; a character the font lacks is drawn as 〓 (the printer's
mark for a missing character), never as an empty box.
"""

from __future__ import annotations

import argparse
import logging
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from exports import Exporter, register
from exports.sheets import Column, Titles, add_sheet, new_book, saved
from storage import org, periods, points
from storage.db import SessionFactory
from storage.errors import N_, RuleError
from storage.models.org import Village
from storage.models.points import PointItem
from storage.settings import Settings
from views.dates import month_title
from views.i18n import PoI18n, tr
from views.points import category_label, entry_reason, household_name

log = logging.getLogger("linli.exports.points")


async def month_xlsx(
    session: AsyncSession,
    village_id: int,
    month: str,
    tz: ZoneInfo,
    locale: str | None = None,
    issued: date | None = None,
) -> bytes:
    """The month for the notice board (三务公开栏): praise list, grids, exposure, every entry."""
    settings = await points.settings_of(session, village_id)
    praise = await points.praise_list(
        session, village_id, month, tz, top=100_000, exposure_limit=100_000
    )
    start, end = periods.month_bounds(month, tz)
    entries = await points.entries_between(session, village_id, start, end)
    issued = issued or datetime.now(tz).date()
    titles = Titles(
        village=praise.village,
        period=month_title(month, locale),
        issuer=tr(locale, "{village} points group", village=praise.village),
        issued=issued,
    )
    book = new_book()
    add_sheet(
        book,
        tr(locale, "Households"),
        tr(
            locale,
            "{village} · points praise list {month}",
            village=praise.village,
            month=month_title(month, locale),
        ),
        titles,
        [
            Column(N_("Rank"), 8, "int"),
            Column(N_("Household"), 22),
            Column(N_("House number"), 16),
            Column(N_("Grid"), 14),
            Column(N_("Points"), 10, "int"),
        ],
        [
            [r.rank, household_name(r.label, r.head, locale), r.label, r.grid, r.points]
            for r in praise.top
        ],
        locale=locale,
        tz=tz,
        totals=[tr(locale, "Total"), len(praise.top), "", "", sum(r.points for r in praise.top)],
    )
    add_sheet(
        book,
        tr(locale, "Grids"),
        tr(
            locale,
            "{village} · grid ranking {month}",
            village=praise.village,
            month=month_title(month, locale),
        ),
        titles,
        [
            Column(N_("Rank"), 8, "int"),
            Column(N_("Grid"), 16),
            Column(N_("Households with points"), 14, "int"),
            Column(N_("Points"), 10, "int"),
            Column(N_("Average per household"), 14, "number"),
        ],
        [[g.rank, g.name, g.households, g.points, round(g.average, 1)] for g in praise.grids],
        locale=locale,
        tz=tz,
        totals=[
            tr(locale, "Total"),
            "",
            sum(g.households for g in praise.grids),
            sum(g.points for g in praise.grids),
            "",
        ],
    )
    if settings.exposure:
        add_sheet(
            book,
            tr(locale, "Exposure list"),
            tr(
                locale,
                "{village} · exposure list {month}",
                village=praise.village,
                month=month_title(month, locale),
            ),
            titles,
            [
                Column(N_("Date"), 14, "date"),
                Column(N_("Household"), 16),
                Column(N_("Grid"), 12),
                Column(N_("Reason"), 44),
                Column(N_("Points"), 10, "int"),
            ],
            [[e.at, e.household, e.grid, e.reason, e.points] for e in praise.exposure],
            locale=locale,
            tz=tz,
        )
    items: dict[int, PointItem | None] = {}
    for e in entries:
        if e.entry.item_id is not None and e.entry.item_id not in items:
            items[e.entry.item_id] = await session.get(PointItem, e.entry.item_id)

    def item_of(e: points.EntryView) -> tuple[str, str]:
        item = items.get(e.entry.item_id or 0)
        return (item.code, category_label(item.category, locale)) if item else ("", "")

    add_sheet(
        book,
        tr(locale, "Entries"),
        tr(
            locale,
            "{village} · points entries {month}",
            village=praise.village,
            month=month_title(month, locale),
        ),
        titles,
        [
            Column(N_("Date"), 14, "date"),
            Column(N_("Household"), 14),
            Column(N_("Grid"), 10),
            Column(N_("Person"), 12),
            Column(N_("Item code"), 10),
            Column(N_("Category"), 14),
            Column(N_("Reason"), 40),
            Column(N_("Points"), 9, "int"),
        ],
        [
            [
                e.entry.at,
                e.household,
                e.grid,
                e.person or tr(locale, "whole household"),
                *item_of(e),
                entry_reason(e.entry, locale),
                e.entry.points,
            ]
            for e in entries
        ],
        locale=locale,
        tz=tz,
        totals=[
            tr(locale, "Total"),
            len(entries),
            "",
            "",
            "",
            "",
            "",
            sum(e.entry.points for e in entries),
        ],
    )
    return saved(book)


# --- the command line ----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--village", required=True, help="the village's name or id")
    parser.add_argument("--month", required=True, help="the month, YYYY-MM")
    parser.add_argument("--out", required=True, help="the .xlsx file to write")


async def run(settings: Settings, sessions: SessionFactory, args: argparse.Namespace) -> int:
    PoI18n(default_locale=settings.bot_default_locale).activate()
    try:
        periods.first_day("monthly", args.month)
    except ValueError:
        print(f"--month must look like 2026-11, not {args.month!r}")  # noqa: T201
        return 2
    async with sessions() as session:
        village = await org.village_by_name(session, args.village)
        if village is None and args.village.isdigit():
            village = await session.get(Village, int(args.village))
        if village is None or village.id is None:
            print(f"no village named {args.village!r}")  # noqa: T201
            return 2
        try:
            data = await month_xlsx(session, village.id, args.month, settings.tz)
        except RuleError as error:
            print(error.message)  # noqa: T201
            return 2
    Path(args.out).write_bytes(data)
    print(f"{args.out}: {village.name} {args.month}, {len(data):,} bytes")  # noqa: T201
    return 0


EXPORTER = register(
    Exporter(
        kind="points",
        help="a village's month of points as an .xlsx workbook (the notice board)",
        add_arguments=add_arguments,
        run=run,
    )
)
