"""`python bot.py export votes --village V --year YYYY --out FILE`: every vote of a village's
year as .xlsx: the votes with their options, tallies and turnout, and who voted.

Voters are listed without their choice (a ballot may pick several options, and how anyone
voted is never written down beside their name); a secret vote's tally shows only once it closed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlmodel.ext.asyncio.session import AsyncSession

from exports import Exporter, register
from storage import org, votes
from storage.db import SessionFactory
from storage.errors import N_
from storage.models.org import Household
from storage.models.votes import VoteStatus
from storage.periods import year_bounds
from storage.settings import Settings
from views.i18n import PoI18n, tr

VOTE_COLUMNS = [
    N_("vote"),
    N_("question"),
    N_("agenda item"),
    N_("created"),
    N_("deadline"),
    N_("status"),
    N_("rule"),
    N_("secret"),
    N_("eligible"),
    N_("turnout"),
    N_("quorum %"),
    N_("quorum reached"),
    N_("option"),
    N_("votes"),
]
VOTER_COLUMNS = [
    N_("vote"),
    N_("question"),
    N_("name"),
    N_("household"),
    N_("voted at"),
    N_("changed at"),
]
VOTE_STATUS_NAMES = {VoteStatus.OPEN: N_("open for voting"), VoteStatus.CLOSED: N_("vote closed")}


def _time(moment: object, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""  # type: ignore[attr-defined]


async def export_votes(
    session: AsyncSession,
    village_name: str,
    year: int,
    out: Path,
    tz: ZoneInfo | None = None,
    locale: str | None = None,
) -> int:
    """Write the workbook in `locale` (None: the current one); returns the number of votes."""
    tz = tz or ZoneInfo("Asia/Shanghai")
    village = await org.village_by_name(session, village_name)
    if village is None:
        raise SystemExit(f"no village named {village_name!r}")
    start, end = year_bounds(str(year), tz)
    book = Workbook()
    sheet = book.active
    assert sheet is not None

    def say(message: str) -> str:
        return tr(locale, message)

    yes, no = tr(locale, "yes"), tr(locale, "no")
    sheet.title = tr(locale, "the votes")[:31]
    sheet.append([say(name) for name in VOTE_COLUMNS])
    voters_sheet = book.create_sheet(tr(locale, "voters")[:31])
    voters_sheet.append([say(name) for name in VOTER_COLUMNS])
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
            say(VOTE_STATUS_NAMES[VoteStatus(vote.status)]),
            (
                tr(locale, "one vote per household")
                if vote.per_household
                else tr(locale, "one vote per person")
            ),
            yes if vote.secret else no,
            view.eligible,
            view.voters,
            vote.quorum_percent,
            "" if view.quorum_reached is None else (yes if view.quorum_reached else no),
        ]
        for option in view.options:
            count = (
                view.counts.get(option.id or 0, 0)
                if view.show_tally
                else tr(locale, "(secret until the vote closes)")
            )
            sheet.append([*head, option.label, count])
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
                ]
            )
    book.save(out)
    return len(found)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--village", required=True, help="the village's name")
    parser.add_argument("--year", required=True, type=int)
    parser.add_argument("--out", required=True, type=Path, help="the .xlsx file to write")


async def run(settings: Settings, sessions: SessionFactory, args: argparse.Namespace) -> int:
    PoI18n(default_locale=settings.bot_default_locale).activate()
    async with sessions() as session:
        count = await export_votes(
            session, args.village, args.year, args.out, settings.tz, settings.bot_default_locale
        )
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
