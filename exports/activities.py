"""`python bot.py export activities --village V --month YYYY-MM --out FILE`: a month of a
village's activities as .xlsx: each activity (signed up, came, points given), who came, and the
figures per grid."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlmodel.ext.asyncio.session import AsyncSession

from exports import Exporter, register
from storage import activities, org
from storage.db import SessionFactory
from storage.errors import N_
from storage.models.activities import ActivityStatus, CheckinWay
from storage.models.org import Village
from storage.periods import month_bounds
from storage.settings import Settings
from views.i18n import PoI18n, tr

ACTIVITY_COLUMNS = [
    N_("activity"),
    N_("title"),
    N_("place"),
    N_("starts"),
    N_("ends"),
    N_("places"),
    N_("signed up"),
    N_("came"),
    N_("points given"),
    N_("status"),
    N_("note"),
]
ATTENDANCE_COLUMNS = [
    N_("activity"),
    N_("title"),
    N_("name"),
    N_("grid"),
    N_("checked in at"),
    N_("how"),
]
GRID_COLUMNS = [N_("grid"), N_("activities"), N_("came")]
STATUS_NAMES = {
    ActivityStatus.OPEN: N_("open"),
    ActivityStatus.CLOSED: N_("closed"),
    ActivityStatus.CANCELLED: N_("cancelled"),
}
WAY_NAMES = {CheckinWay.CODE: N_("by code"), CheckinWay.LIST: N_("from the list")}


def _time(moment: object, tz: ZoneInfo) -> str:
    if not moment:
        return ""
    return activities.aware(moment).astimezone(tz).strftime("%Y-%m-%d %H:%M")  # type: ignore[arg-type]


async def export_activities(
    session: AsyncSession,
    village: Village,
    month: str,
    tz: ZoneInfo,
    out: Path | BinaryIO,
    locale: str | None = None,
) -> int:
    """Write the workbook in `locale` (None: the current one); returns the number of activities."""
    start, end = month_bounds(month, tz)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = tr(locale, "activities")[:31]
    sheet.append([tr(locale, c) for c in ACTIVITY_COLUMNS])
    people = book.create_sheet(tr(locale, "attendance")[:31])
    people.append([tr(locale, c) for c in ATTENDANCE_COLUMNS])
    found = await activities.between(session, village.id or 0, start, end)
    for activity in found:
        got = await activities.summary(session, activity.id or 0)
        sheet.append(
            [
                activity.id,
                activity.title,
                activity.place,
                _time(activity.starts_at, tz),
                _time(activity.ends_at, tz),
                activity.capacity or "",
                got.signed,
                got.came,
                got.points,
                tr(locale, STATUS_NAMES[ActivityStatus(activity.status)]),
                activity.note or "",
            ]
        )
        for attendance, name, grid in await activities.attendance_rows(session, activity.id or 0):
            people.append(
                [
                    activity.id,
                    activity.title,
                    name,
                    grid,
                    _time(attendance.at, tz),
                    tr(locale, WAY_NAMES[CheckinWay(attendance.way)]),
                ]
            )
    grids = book.create_sheet(tr(locale, "per grid")[:31])
    grids.append([tr(locale, c) for c in GRID_COLUMNS])
    for row in await activities.attendance_by_grid(session, village.id or 0, start, end):
        grids.append([row.grid, row.activities, row.came])
    book.save(out)
    return len(found)


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
        count = await export_activities(
            session, village, args.month, settings.tz, args.out, settings.bot_default_locale
        )
    print(f"{count} activities written to {args.out}")  # noqa: T201
    return 0


EXPORTER = register(
    Exporter(
        kind="activities",
        help="a month of a village's activities and attendance (.xlsx)",
        add_arguments=add_arguments,
        run=run,
    )
)
