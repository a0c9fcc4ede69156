"""`python bot.py export council --village V --year YYYY --out FILE`: the year's decisions of
the village council (村民议事会) as a sheet for the notice board: each meeting's agenda items,
what was decided, deferred or dropped."""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from exports import Exporter, register
from exports.sheets import Column, Titles, add_sheet, new_book, saved
from storage import council, org
from storage.db import SessionFactory
from storage.errors import N_
from storage.models.council import ItemOutcome
from storage.models.org import Village
from storage.periods import year_bounds
from storage.settings import Settings
from storage.votes import proposal_code
from views.dates import year_title
from views.i18n import PoI18n, tr

OUTCOME_NAMES = {
    ItemOutcome.DECIDED: N_("decided"),
    ItemOutcome.DEFERRED: N_("deferred to the next meeting"),
    ItemOutcome.DROPPED: N_("not taken up"),
}
DECISION_COLUMNS = [
    Column(N_("Meeting"), 16, "date"),
    Column(N_("Agenda item"), 13),
    Column(N_("Subject"), 28),
    Column(N_("Outcome"), 14),
    Column(N_("Decision"), 46),
]


async def decisions_xlsx(
    session: AsyncSession,
    village: Village,
    year: int,
    tz: ZoneInfo,
    locale: str | None = None,
    issued: date | None = None,
) -> tuple[bytes, int]:
    start, end = year_bounds(str(year), tz)
    found = await council.decisions_between(session, village.id or 0, start, end)
    rows = [
        [
            v.meeting.starts_at,
            proposal_code(v.proposal),
            v.proposal.title,
            tr(locale, OUTCOME_NAMES.get(ItemOutcome(v.item.outcome), N_("decided"))),
            v.item.decision or "",
        ]
        for v in found
    ]
    book = new_book()
    add_sheet(
        book,
        tr(locale, "Council decisions"),
        tr(
            locale,
            "{village} · council decisions {year}",
            village=village.name,
            year=year_title(year, locale),
        ),
        Titles(
            village=village.name,
            period=year_title(year, locale),
            issuer=tr(locale, "{village} village committee", village=village.name),
            issued=issued or datetime.now(tz).date(),
        ),
        DECISION_COLUMNS,
        rows,
        locale=locale,
        tz=tz,
        totals=[tr(locale, "Total"), len(rows), "", "", ""],
    )
    return saved(book), len(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--village", required=True, help="the village's name")
    parser.add_argument("--year", required=True, type=int)
    parser.add_argument("--out", required=True, type=Path, help="the .xlsx file to write")


async def run(settings: Settings, sessions: SessionFactory, args: argparse.Namespace) -> int:
    PoI18n(default_locale=settings.bot_default_locale).activate()
    async with sessions() as session:
        village = await org.village_by_name(session, args.village)
        if village is None:
            print(f"no village named {args.village!r}")  # noqa: T201
            return 2
        data, count = await decisions_xlsx(
            session, village, args.year, settings.tz, settings.bot_default_locale
        )
    args.out.write_bytes(data)
    print(f"{count} decisions written to {args.out}")  # noqa: T201
    return 0


EXPORTER = register(
    Exporter(
        kind="council",
        help="the council's decisions of a village's year (.xlsx)",
        add_arguments=add_arguments,
        run=run,
    )
)
