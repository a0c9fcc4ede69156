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
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from fontTools.ttLib import TTFont
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from PIL import Image, ImageDraw, ImageFont
from sqlmodel.ext.asyncio.session import AsyncSession

from exports import Exporter, register
from storage import org, periods, points
from storage.db import SessionFactory
from storage.errors import N_, RuleError
from storage.models.org import Village
from storage.settings import Settings
from views.i18n import tr
from views.org import entry_reason

log = logging.getLogger("linli.exports.points")

FONT_FILE = (
    Path(__file__).resolve().parent.parent / "assets" / "fonts" / "LinliSansCJK-Regular.otf"
)
MISSING = "〓"
WIDTH = 900
MARGIN = 40
GOLD = (176, 32, 32)
INK = (34, 34, 34)
GREY = (110, 110, 110)
PAPER = (255, 250, 240)


@cache
def covered() -> frozenset[int]:
    """The code points the bundled font draws."""
    with TTFont(FONT_FILE, lazy=True) as font_file:
        return frozenset(font_file["cmap"].getBestCmap())


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_FILE), size)


def drawable(text: str) -> str:
    """`text` with every character the font lacks replaced by 〓."""
    cmap = covered()
    out = "".join(c if ord(c) in cmap or c in "\n\t" else MISSING for c in text)
    if out != text:
        log.info("characters outside the bundled font drawn as %s: %r", MISSING, text)
    return out


def utc(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite gives it back naive)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def month_title(month: str, locale: str | None) -> str:
    start = periods.first_day("monthly", month)
    return tr(locale, "{year}-{month:02d}", year=start.year, month=start.month)


def praise_lines(
    praise: points.PraiseList, locale: str | None, *, exposure: bool
) -> list[tuple[str, int, tuple[int, int, int]]]:
    """The picture's lines: (text, font size, colour)."""
    lines: list[tuple[str, int, tuple[int, int, int]]] = [
        (
            tr(
                locale,
                "{village} · points praise list {month}",
                village=praise.village,
                month=month_title(praise.month, locale),
            ),
            34,
            GOLD,
        ),
        ("", 12, INK),
        (tr(locale, "Households"), 26, INK),
    ]
    lines += [
        (
            tr(
                locale,
                "{rank}. {household} ({grid}) — {points} points",
                rank=r.rank,
                household=r.label,
                grid=r.grid,
                points=r.points,
            ),
            22,
            INK,
        )
        for r in praise.top
    ] or [(tr(locale, "No points this month."), 22, GREY)]
    if praise.grids:
        lines += [("", 12, INK), (tr(locale, "Grids (average per household)"), 26, INK)]
        lines += [
            (
                tr(
                    locale,
                    "{rank}. {grid} — {average} points",
                    rank=g.rank,
                    grid=g.name,
                    average=round(g.average, 1),
                ),
                22,
                INK,
            )
            for g in praise.grids
        ]
    if exposure and praise.exposure:
        lines += [("", 12, INK), (tr(locale, "Exposure list"), 26, INK)]
        lines += [
            (
                tr(
                    locale,
                    "{household} ({grid}): {reason}, {points} points",
                    household=e.household,
                    grid=e.grid,
                    reason=e.reason,
                    points=e.points,
                ),
                22,
                GREY,
            )
            for e in praise.exposure
        ]
    return lines


def praise_png(
    praise: points.PraiseList, locale: str | None = None, *, exposure: bool = False
) -> bytes:
    """The praise list as a PNG picture."""
    lines = praise_lines(praise, locale, exposure=exposure)
    height = MARGIN * 2 + sum(int(size * 1.55) for _t, size, _c in lines)
    image = Image.new("RGB", (WIDTH, height), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, WIDTH - 9, height - 9), outline=GOLD, width=4)
    y = MARGIN
    for text, size, colour in lines:
        if text:
            draw.text((MARGIN, y), drawable(text)[:60], font=font(size), fill=colour)
        y += int(size * 1.55)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


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
    from views.i18n import PoI18n

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
