"""`python bot.py export votes --village V --year YYYY --out FILE`: every vote of a village's
year as .xlsx for the notice board: each vote's result (通过 / 未通过), turnout and tally.
No one's choice is ever written; `--record` writes the admins' record of who voted in named
votes instead (never how), which is not for posting.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from exports import Exporter, register
from exports.sheets import Column, Titles, add_sheet, new_book, saved
from storage import council, org, votes
from storage.db import SessionFactory
from storage.errors import N_
from storage.models.org import Household, Village
from storage.models.votes import DecideRule, VoteStatus
from storage.periods import year_bounds
from storage.settings import Settings
from views.dates import year_title
from views.i18n import PoI18n, tr

VOTE_COLUMNS = [
    Column(N_("No."), 7, "int"),
    Column(N_("Question"), 34),
    Column(N_("Agenda item"), 13),
    Column(N_("Opened"), 14, "time"),
    Column(N_("Deadline"), 14, "time"),
    Column(N_("Rule"), 12),
    Column(N_("Ballot"), 10),
    Column(N_("Eligible"), 9, "int"),
    Column(N_("Voted"), 9, "int"),
    Column(N_("Turnout"), 9, "percent"),
    Column(N_("Result"), 12),
]
OPTION_COLUMNS = [
    Column(N_("No."), 7, "int"),
    Column(N_("Question"), 34),
    Column(N_("Option"), 24),
    Column(N_("Votes"), 9, "int"),
    Column(N_("Share"), 9, "percent"),
]
RECORD_COLUMNS = [
    Column(N_("No."), 7, "int"),
    Column(N_("Question"), 30),
    Column(N_("Name"), 14),
    Column(N_("Household"), 16),
    Column(N_("Voted at"), 16, "time"),
]


async def outcome(session: AsyncSession, view: votes.VoteView, locale: str | None) -> str:
    """通过 / 未通过 once a vote closed (storage decides: council.winner), 投票中 before."""
    vote = view.vote
    if vote.status != VoteStatus.CLOSED:
        return tr(locale, "open for voting")
    if vote.max_picks > 1 or vote.decide_rule != DecideRule.TOP:  # what the vote chose
        chosen = "、".join(option.label for option in view.winners)
        if not chosen:
            return tr(locale, "No option is chosen.")
        return tr(locale, "Chosen: {options}", options=chosen)
    if await council.winner(session, vote) is not None:
        return tr(locale, "passed")
    return tr(locale, "not passed")


def titles_of(village: Village, year: int, locale: str | None, issued: date) -> Titles:
    return Titles(
        village=village.name,
        period=year_title(year, locale),
        issuer=tr(locale, "{village} village committee", village=village.name),
        issued=issued,
    )


async def votes_xlsx(
    session: AsyncSession,
    village: Village,
    year: int,
    tz: ZoneInfo,
    locale: str | None = None,
    issued: date | None = None,
) -> tuple[bytes, int]:
    """The public workbook of the year's votes: results and tallies, never who chose what (nor
    who voted: that is the admins' record). A secret vote's tally shows once it closed."""
    start, end = year_bounds(str(year), tz)
    titles = titles_of(village, year, locale, issued or datetime.now(tz).date())
    found = await votes.votes_of_year(session, village.id or 0, start, end)
    summary: list[list[object]] = []
    options: list[list[object]] = []
    for vote in found:
        view = await votes.vote_view(session, vote.id or 0)
        summary.append(
            [
                vote.id,
                vote.question,
                votes.proposal_code(view.proposal) if view.proposal else "",
                vote.created_at,
                vote.deadline,
                tr(locale, "one vote per household")
                if vote.per_household
                else tr(locale, "one vote per person"),
                tr(locale, "secret ballot") if vote.secret else tr(locale, "named"),
                view.eligible,
                view.voters,  # online and on paper
                view.online_voters / view.eligible if view.eligible else 0,
                await outcome(session, view, locale),
            ]
        )
        for n, option in enumerate(view.options):
            count = view.total(option)  # online and on paper
            options.append(
                [
                    vote.id,
                    vote.question if n == 0 else "",
                    option.label,
                    count if view.show_tally else tr(locale, "after the close"),
                    (count / view.voters if view.voters else 0) if view.show_tally else None,
                ]
            )
    book = new_book()
    add_sheet(
        book,
        tr(locale, "Vote results"),
        tr(
            locale,
            "{village} · vote results {year}",
            village=village.name,
            year=year_title(year, locale),
        ),
        titles,
        VOTE_COLUMNS,
        summary,
        locale=locale,
        tz=tz,
        notes=[tr(locale, "How each person voted is not published.")],
    )
    add_sheet(
        book,
        tr(locale, "Votes per option"),
        tr(
            locale,
            "{village} · votes per option {year}",
            village=village.name,
            year=year_title(year, locale),
        ),
        titles,
        OPTION_COLUMNS,
        options,
        locale=locale,
        tz=tz,
    )
    return saved(book), len(found)


async def vote_record_xlsx(
    session: AsyncSession,
    village: Village,
    year: int,
    tz: ZoneInfo,
    locale: str | None = None,
    issued: date | None = None,
) -> bytes:
    """For the admins only: who voted in each named (open) vote of the year, never how. A
    secret vote lists nobody."""
    start, end = year_bounds(str(year), tz)
    titles = titles_of(village, year, locale, issued or datetime.now(tz).date())
    rows: list[list[object]] = []
    for vote in await votes.votes_of_year(session, village.id or 0, start, end):
        if vote.secret:
            continue
        for person, ballot in await votes.voters_of(session, vote.id or 0):
            household = (
                await session.get(Household, ballot.household_id) if ballot.household_id else None
            )
            rows.append(
                [
                    vote.id,
                    vote.question,
                    person.full_name,
                    household.label if household else "",
                    ballot.cast_at,
                ]
            )
    book = new_book()
    add_sheet(
        book,
        tr(locale, "Who voted"),
        tr(
            locale,
            "{village} · who voted {year} (for the admins, not for posting)",
            village=village.name,
            year=year_title(year, locale),
        ),
        titles,
        RECORD_COLUMNS,
        rows,
        locale=locale,
        tz=tz,
        notes=[tr(locale, "Named votes only; no choice is recorded here.")],
    )
    return saved(book)


async def export_votes(
    session: AsyncSession,
    village_name: str,
    year: int,
    out: Path,
    tz: ZoneInfo | None = None,
    locale: str | None = None,
    *,
    record: bool = False,
) -> int:
    """Write the public workbook (or, with `record`, the admins' record of who voted) in
    `locale` (None: the current one); returns the number of votes."""
    tz = tz or ZoneInfo("Asia/Shanghai")
    village = await org.village_by_name(session, village_name)
    if village is None:
        raise SystemExit(f"no village named {village_name!r}")
    data, count = await votes_xlsx(session, village, year, tz, locale)
    if record:
        data = await vote_record_xlsx(session, village, year, tz, locale)
    out.write_bytes(data)
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--village", required=True, help="the village's name")
    parser.add_argument("--year", required=True, type=int)
    parser.add_argument("--out", required=True, type=Path, help="the .xlsx file to write")
    parser.add_argument(
        "--record",
        action="store_true",
        help="the admins' record of who voted in named votes (never how), not for posting",
    )


async def run(settings: Settings, sessions: SessionFactory, args: argparse.Namespace) -> int:
    PoI18n(default_locale=settings.bot_default_locale).activate()
    async with sessions() as session:
        count = await export_votes(
            session,
            args.village,
            args.year,
            args.out,
            settings.tz,
            settings.bot_default_locale,
            record=args.record,
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
