"""`python bot.py export votes --village V --year YYYY --out FILE`: every vote of a village's
year as .xlsx: the votes with their options, tallies and turnout, and who voted.

A secret vote's voters are listed without their choice, and its tally only once it closed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.settings import Settings
from exports import Exporter, register
from schedules.periods import year_bounds
from storage import org, votes
from storage.db import SessionFactory
from storage.models import Household

VOTE_COLUMNS = [
    "vote",
    "question",
    "agenda item",
    "created",
    "deadline",
    "status",
    "rule",
    "secret",
    "eligible",
    "turnout",
    "quorum %",
    "quorum reached",
    "option",
    "votes",
]
VOTER_COLUMNS = ["vote", "question", "name", "household", "voted at", "changed at", "choice"]


def _time(moment: object, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""  # type: ignore[attr-defined]


async def export_votes(
    session: AsyncSession,
    village_name: str,
    year: int,
    out: Path,
    tz: ZoneInfo | None = None,
) -> int:
    """Write the workbook; returns the number of votes."""
    tz = tz or ZoneInfo("Asia/Shanghai")
    village = await org.village_by_name(session, village_name)
    if village is None:
        raise SystemExit(f"no village named {village_name!r}")
    start, end = year_bounds(str(year), tz)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "votes"
    sheet.append(VOTE_COLUMNS)
    voters_sheet = book.create_sheet("voters")
    voters_sheet.append(VOTER_COLUMNS)
    found = await votes.votes_of_year(session, village.id or 0, start, end)
    for vote in found:
        view = await votes.vote_view(session, vote.id or 0)
        item = votes.proposal_code(view.proposal) if view.proposal else ""
        head = [
            vote.id,
            vote.question,
            item,
            _time(vote.created_at, tz),
            _time(vote.deadline, tz),
            vote.status.value,
            "per household" if vote.per_household else "per person",
            "yes" if vote.secret else "no",
            view.eligible,
            view.voters,
            vote.quorum_percent,
            "" if view.quorum_reached is None else ("yes" if view.quorum_reached else "no"),
        ]
        for option in view.options:
            count = (
                view.counts.get(option.id or 0, 0) if view.show_tally else "(secret until close)"
            )
            sheet.append([*head, option.label, count])
        labels = {option.id: option.label for option in view.options}
        for person, ballot in await votes.voters_of(session, vote.id or 0):
            household = (
                await session.get(Household, ballot.household_id) if ballot.household_id else None
            )
            voters_sheet.append(
                [
                    vote.id,
                    vote.question,
                    person.full_name,
                    household.label if household else "",
                    _time(ballot.cast_at, tz),
                    _time(ballot.changed_at, tz),
                    "(secret)" if vote.secret else labels.get(ballot.option_id, ""),
                ]
            )
    book.save(out)
    return len(found)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--village", required=True, help="the village's name")
    parser.add_argument("--year", required=True, type=int)
    parser.add_argument("--out", required=True, type=Path, help="the .xlsx file to write")


async def run(settings: Settings, sessions: SessionFactory, args: argparse.Namespace) -> int:
    async with sessions() as session:
        count = await export_votes(session, args.village, args.year, args.out, settings.tz)
    print(f"{count} votes written to {args.out}")  # noqa: T201
    return 0


EXPORTER = register(
    Exporter(
        kind="votes",
        help="votes of a village's year (.xlsx)",
        add_arguments=add_arguments,
        run=run,
    )
)
