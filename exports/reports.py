"""`python bot.py export reports --village V --format open311 --out FILE`: a village's reports
as Open311 GeoReport v2 service requests (JSON). An anonymous reporter is never named; no
reporter is named at all, in fact: GeoReport has no field for it, and the export is public.
`service_name` is the village's own name of the category in the village's language (the
`service_code` stays stable); `status_notes` say in a sentence what happened.

`--format xlsx --month YYYY-MM` writes the month's sheet for the notice board instead."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from exports import Exporter, register
from exports.sheets import Column, Titles, add_sheet, new_book, saved
from storage import org, periods, reports
from storage.db import SessionFactory
from storage.errors import N_
from storage.models.org import Village
from storage.models.reports import ReportCategory, Task, TaskStatus
from storage.reports import DEFAULT_NAMES, STATUS_NAMES
from storage.settings import Settings
from views.dates import month_title
from views.i18n import PoI18n, tr

# GeoReport v2 service request fields, in the order of the specification.
GEOREPORT_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    # "media_url" is left out (not written empty): the bot serves no photo address
)
CLOSED = {TaskStatus.CLOSED, TaskStatus.DUPLICATE, TaskStatus.REJECTED, TaskStatus.RESOLVED}


def stamp(moment: datetime | None) -> str | None:
    moment = reports.aware(moment)
    return moment.isoformat(timespec="seconds") if moment else None


STATUS_NOTES = {
    TaskStatus.NEW: N_("Received; waiting for a grid worker to take it on."),
    TaskStatus.ACCEPTED: N_("A grid worker has taken it on."),
    TaskStatus.IN_PROGRESS: N_("A grid worker is working on it."),
    TaskStatus.RESOLVED: N_("Fixed; waiting for the resident to confirm."),
    TaskStatus.CLOSED: N_("Fixed and closed."),
    TaskStatus.REOPENED: N_("Reopened: the resident says it is not fixed yet."),
    TaskStatus.DUPLICATE: N_("Already reported as {number}."),
    TaskStatus.REJECTED: N_("Not taken up."),
}


def service_name(category: ReportCategory | None, locale: str | None) -> str:
    """The village's own name of the category, in the village's language."""
    if category is None:
        return tr(locale, DEFAULT_NAMES["other"])
    if category.code in DEFAULT_NAMES:
        return tr(locale, DEFAULT_NAMES[category.code])
    return category.name


def status_notes(task: Task, locale: str | None) -> str:
    """What happened to the report, as a sentence (the worker's note after it)."""
    status = TaskStatus(task.status)
    sentence = tr(locale, STATUS_NOTES[status], number=task.note or "")
    if task.note and status in (TaskStatus.RESOLVED, TaskStatus.CLOSED, TaskStatus.REJECTED):
        return f"{sentence} {task.note}"
    return sentence


def service_request(view: reports.TaskView, locale: str | None = None) -> dict[str, Any]:
    """One report as a GeoReport v2 service request. `media_url` is left out: the bot keeps
    photos in Telegram and serves no photo address."""
    task = view.task
    status = TaskStatus(task.status)
    stamps = [
        task.created_at,
        task.accepted_at,
        task.started_at,
        task.resolved_at,
        task.closed_at,
        task.reopened_at,
        task.handed_over_at,
        task.rejected_at,
        task.duplicate_at,
    ]
    updated = max((reports.aware(s) for s in stamps if s is not None), default=None)
    category = view.category
    return {
        "service_request_id": task.number,
        "status": "closed" if status in CLOSED else "open",
        "status_notes": status_notes(task, locale),
        "service_name": service_name(category, locale),
        "service_code": category.code if category else "other",
        "description": task.description,
        "agency_responsible": f"{view.village.name} {view.grid.name}",
        "service_notice": "",
        "requested_datetime": stamp(task.created_at),
        "updated_datetime": stamp(updated),
        "expected_datetime": stamp(task.resolve_due_at),
        "address": task.location,
        "address_id": "",
        "zipcode": "",
        "lat": task.latitude,
        "long": task.longitude,
    }


REPORT_COLUMNS = [
    Column(N_("Number"), 15),
    Column(N_("Received"), 14, "time"),
    Column(N_("Category"), 14),
    Column(N_("Grid"), 10),
    Column(N_("Place"), 16),
    Column(N_("What happened"), 40),
    Column(N_("Status"), 12),
    Column(N_("Fixed on"), 14, "time"),
    Column(N_("Days to fix"), 9, "number"),
]


async def reports_xlsx(
    session: AsyncSession,
    village: Village,
    month: str,
    tz: ZoneInfo,
    locale: str | None = None,
    issued: date | None = None,
) -> bytes:
    """The month's reports for the notice board: what was received and what was fixed. No
    reporter is named (the sheet is public)."""
    start, end = periods.month_bounds(month, tz)
    rows: list[list[object]] = []
    fixed = 0
    for view in await reports.village_reports(session, village.id or 0):
        task = view.task
        created = reports.aware(task.created_at)
        if created is None or not start <= created < end:
            continue
        done = reports.aware(task.resolved_at)
        fixed += done is not None
        rows.append(
            [
                task.number,
                created,
                service_name(view.category, locale),
                view.grid.name,
                task.location or "",
                task.description,
                tr(locale, STATUS_NAMES[TaskStatus(task.status)]),
                done,
                round((done - created).total_seconds() / 86400, 1) if done else None,
            ]
        )
    book = new_book()
    add_sheet(
        book,
        tr(locale, "Reports"),
        tr(
            locale,
            "{village} · reports received and fixed {month}",
            village=village.name,
            month=month_title(month, locale),
        ),
        Titles(
            village=village.name,
            period=month_title(month, locale),
            issuer=tr(locale, "{village} village committee", village=village.name),
            issued=issued or datetime.now(tz).date(),
        ),
        REPORT_COLUMNS,
        rows,
        locale=locale,
        tz=tz,
        totals=[
            tr(locale, "Total"),
            len(rows),
            "",
            "",
            "",
            "",
            tr(locale, "fixed: {count}", count=fixed),
            "",
            "",
        ],
    )
    return saved(book)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--village", required=True, help="the village's name")
    parser.add_argument("--format", default="open311", choices=["open311", "xlsx"])
    parser.add_argument("--month", help="the month of the .xlsx sheet, YYYY-MM")
    parser.add_argument("--out", required=True, type=Path, help="the file to write")


async def export_village(
    sessions: SessionFactory, village_name: str, locale: str | None = None
) -> list[dict[str, Any]]:
    async with sessions() as session:
        village = await org.village_by_name(session, village_name)
        if village is None:
            raise SystemExit(f"No village named {village_name!r}")
        return [
            service_request(v, locale)
            for v in await reports.village_reports(session, village.id or 0)
        ]


async def run(settings: Settings, sessions: SessionFactory, args: argparse.Namespace) -> int:
    PoI18n(default_locale=settings.bot_default_locale).activate()
    locale = settings.bot_default_locale
    if args.format == "xlsx":
        try:
            periods.first_day("monthly", args.month or "")
        except ValueError:
            print(f"--month must look like 2026-11, not {args.month!r}")  # noqa: T201
            return 2
        async with sessions() as session:
            village = await org.village_by_name(session, args.village)
            if village is None:
                print(f"no village named {args.village!r}")  # noqa: T201
                return 2
            args.out.write_bytes(
                await reports_xlsx(session, village, args.month, settings.tz, locale)
            )
        print(f"{args.out}: {village.name} {args.month}")  # noqa: T201
        return 0
    requests = await export_village(sessions, args.village, locale)
    args.out.write_text(json.dumps(requests, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"{len(requests)} service requests written to {args.out}")  # noqa: T201
    return 0


EXPORTER = register(
    Exporter(
        kind="reports",
        help="a village's reports as Open311 GeoReport v2 service requests (JSON)",
        add_arguments=add_arguments,
        run=run,
    )
)
