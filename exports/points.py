"""The month on paper: the praise-list picture (PNG) and the notice-board workbook (.xlsx).

`python bot.py export points --village V --month YYYY-MM --out FILE` writes the workbook.
The picture is drawn with the bundled font (assets/fonts, a Noto Sans CJK subset under the OFL),
so its Chinese renders on any machine; a character the font lacks is drawn as 〓 (the printer's
mark for a missing character), never as an empty box.
"""

from __future__ import annotations

import argparse
import io
import logging
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from sqlmodel.ext.asyncio.session import AsyncSession

from exports import Exporter, register
from storage import org, periods, points
from storage.db import SessionFactory
from storage.errors import N_, RuleError
from storage.models.org import Village
from storage.settings import Settings
from views.i18n import PoI18n, tr
from views.dates import month_title
from views.points import entry_reason

log = logging.getLogger("linli.exports.points")


def utc(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite gives it back naive)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def month_xlsx(
    session: AsyncSession,
    village_id: int,
    month: str,
    tz: ZoneInfo,
    locale: str | None = None,
) -> bytes:
    """The month for the notice board (三务公开栏): praise list, grids, exposure, every entry."""
    settings = await points.settings_of(session, village_id)
    praise = await points.praise_list(
        session, village_id, month, tz, top=100_000, exposure_limit=100_000
    )
    start, end = periods.month_bounds(month, tz)
    entries = await points.entries_between(session, village_id, start, end)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = tr(locale, "Households")[:31]
    bold = Font(bold=True)

    def header(ws: object, *names: str) -> None:
        ws.append([tr(locale, n) for n in names])  # type: ignore[attr-defined]
        for cell in ws[1]:  # type: ignore[index]
            cell.font = bold

    sheet.append(
        [
            tr(
                locale,
                "{village} · points praise list {month}",
                village=praise.village,
                month=month_title(month, locale),
            )
        ]
    )
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    sheet.append([tr(locale, n) for n in (N_("Rank"), N_("Household"), N_("Grid"), N_("Points"))])
    for cell in sheet[3]:
        cell.font = bold
    for r in praise.top:
        sheet.append([r.rank, r.label, r.grid, r.points])
    grids = book.create_sheet(tr(locale, "Grids")[:31])
    header(grids, N_("Rank"), N_("Grid"), N_("Households"), N_("Points"), N_("Average"))
    for g in praise.grids:
        grids.append([g.rank, g.name, g.households, g.points, round(g.average, 1)])
    if settings.exposure:
        exposed = book.create_sheet(tr(locale, "Exposure list")[:31])
        header(exposed, N_("Date"), N_("Household"), N_("Grid"), N_("Reason"), N_("Points"))
        for e in praise.exposure:
            exposed.append(
                [
                    utc(e.at).astimezone(tz).strftime("%Y-%m-%d"),
                    e.household,
                    e.grid,
                    e.reason,
                    e.points,
                ]
            )
    details = book.create_sheet(tr(locale, "Entries")[:31])
    header(
        details, N_("Date"), N_("Household"), N_("Grid"), N_("Person"), N_("Reason"), N_("Points")
    )
    for e in entries:
        details.append(
            [
                utc(e.entry.at).astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                e.household,
                e.grid,
                e.person,
                entry_reason(e.entry, locale),
                e.entry.points,
            ]
        )
    for ws in book.worksheets:
        for column in ("A", "B", "C", "D", "E", "F"):
            ws.column_dimensions[column].width = 18
        for row in ws.iter_rows():
            for cell in row:
                cell.alignment = Alignment(vertical="top")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


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
