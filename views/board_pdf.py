"""The month's notice for the board (三务公开栏) as an A4 PDF, ready to print and pin up: the
积分公示 (praise list, grid ranking, the exposure list if the village publishes one, the reward
tiers reached so far in the quarter) and each vote closed in the month as its 表决结果公示.

Drawn with fpdf2 and the bundled font (assets/fonts), embedded in the file, so it prints the
same everywhere with no system font. A character the font lacks prints as 〓.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.fonts import FontFace
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import council, periods, points, votes
from storage.models.votes import VoteStatus
from views.dates import full_date, moment_title, month_title, notice_period
from views.i18n import tr
from views.pictures import FONT_FILE, drawable
from views.points import household_name, issuing_line

FAMILY = "linli"
NOTICE_DAYS = 7
RED = (176, 32, 32)
HEAD_FILL = (242, 230, 208)


@dataclass(frozen=True)
class VoteResult:
    question: str
    closed: str  # when, as people say it
    options: list[tuple[str, int]]
    voters: int
    eligible: int
    passed: bool


@dataclass(frozen=True)
class MonthNotice:
    praise: points.PraiseList
    exposure: bool
    reached: list[tuple[points.Ranked, str, int]]  # household, reward, threshold
    results: list[VoteResult]
    issued: date


async def month_notice(
    session: AsyncSession,
    village_id: int,
    month: str,
    tz: ZoneInfo,
    issued: date,
    locale: str | None = None,
) -> MonthNotice:
    """What the month's notice says (storage decides every figure)."""
    settings = await points.settings_of(session, village_id)
    praise = await points.praise_list(
        session, village_id, month, tz, top=max(settings.top, 10), exposure_limit=40
    )
    reached = [
        (ranked, tier.reward, tier.threshold)
        for ranked, tier in await points.tiers_reached(session, village_id, month, tz)
    ]
    start, end = periods.month_bounds(month, tz)
    year_start = periods.year_bounds(str(start.astimezone(tz).year), tz)[0]
    results = []
    for vote in await votes.votes_of_year(session, village_id, year_start, end):
        deadline = council.aware(vote.deadline)
        if vote.status != VoteStatus.CLOSED or not start <= deadline < end:
            continue
        view = await votes.vote_view(session, vote.id or 0)
        results.append(
            VoteResult(
                question=vote.question,
                closed=moment_title(deadline, tz, locale),
                options=[(o.label, view.counts.get(o.id or 0, 0)) for o in view.options],
                voters=view.voters,
                eligible=view.eligible,
                passed=await council.winner(session, vote) is not None,
            )
        )
    return MonthNotice(praise, settings.exposure, reached, results, issued)


class NoticePdf(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.add_font(FAMILY, fname=str(FONT_FILE))
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(auto=True, margin=18)
        self.footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, size=8)
        self.set_text_color(120, 120, 120)
        self.cell(0, 6, f"{self.footer_text}  {self.page_no()}/{{nb}}", align="C")


def heading(pdf: NoticePdf, text: str) -> None:
    pdf.ln(4)
    pdf.set_font(FAMILY, size=13)
    pdf.set_text_color(*RED)
    pdf.multi_cell(0, 8, drawable(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def table(
    pdf: NoticePdf, headers: list[str], rows: list[list[str]], widths: tuple[int, ...]
) -> None:
    pdf.set_font(FAMILY, size=10.5)
    with pdf.table(
        col_widths=widths,
        line_height=7,
        text_align="LEFT",
        headings_style=FontFace(emphasis=None, fill_color=HEAD_FILL),
        wrapmode="CHAR",
        padding=1.2,
    ) as grid:
        for row in [headers, *rows]:
            cells = grid.row()
            for value in row:
                cells.cell(drawable(value))


def title_block(pdf: NoticePdf, title: str, subtitle: str) -> None:
    pdf.set_font(FAMILY, size=20)
    pdf.set_text_color(*RED)
    pdf.multi_cell(0, 11, drawable(title), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FAMILY, size=11)
    pdf.multi_cell(0, 7, drawable(subtitle), align="C", new_x="LMARGIN", new_y="NEXT")


def signature(pdf: NoticePdf, line: str) -> None:
    pdf.ln(6)
    pdf.set_font(FAMILY, size=11)
    pdf.multi_cell(0, 7, drawable(line), align="R", new_x="LMARGIN", new_y="NEXT")


def month_pdf(notice: MonthNotice, locale: str | None = None) -> bytes:
    """The notice as PDF bytes: the 积分公示 first, then a page per vote result."""
    praise = notice.praise
    month = month_title(praise.month, locale)
    pdf = NoticePdf()
    pdf.footer_text = drawable(
        tr(locale, "{village} · notice of {month}", village=praise.village, month=month)
    )
    pdf.set_title(f"{praise.village} {month}")
    pdf.add_page()
    period = notice_period(notice.issued, NOTICE_DAYS, locale)
    title_block(
        pdf,
        tr(locale, "{village} · points notice {month}", village=praise.village, month=month),
        period,
    )
    heading(pdf, tr(locale, "Households"))
    if praise.top:
        table(
            pdf,
            [
                tr(locale, "Rank"),
                tr(locale, "Household"),
                tr(locale, "Grid"),
                tr(locale, "Points"),
            ],
            [
                [str(r.rank), household_name(r.label, r.head, locale), r.grid, str(r.points)]
                for r in praise.top
            ],
            (14, 80, 50, 30),
        )
    else:
        pdf.set_font(FAMILY, size=11)
        pdf.cell(
            0, 8, drawable(tr(locale, "No points this month.")), new_x="LMARGIN", new_y="NEXT"
        )
    if praise.grids:
        heading(pdf, tr(locale, "Grids (average per household)"))
        table(
            pdf,
            [
                tr(locale, "Rank"),
                tr(locale, "Grid"),
                tr(locale, "Households with points"),
                tr(locale, "Average per household"),
            ],
            [[str(g.rank), g.name, str(g.households), f"{g.average:.1f}"] for g in praise.grids],
            (14, 80, 40, 40),
        )
    if notice.exposure and praise.exposure:
        heading(pdf, tr(locale, "Exposure list"))
        table(
            pdf,
            [
                tr(locale, "Household"),
                tr(locale, "Grid"),
                tr(locale, "Reason"),
                tr(locale, "Points"),
            ],
            [[e.household, e.grid, e.reason, str(e.points)] for e in praise.exposure],
            (40, 30, 80, 24),
        )
    if notice.reached:
        heading(pdf, tr(locale, "Reward tiers reached this quarter so far"))
        table(
            pdf,
            [
                tr(locale, "Household"),
                tr(locale, "Grid"),
                tr(locale, "Points"),
                tr(locale, "Reward"),
            ],
            [
                [
                    household_name(r.label, r.head, locale),
                    r.grid,
                    str(r.points),
                    tr(
                        locale,
                        "{reward} (from {threshold} points)",
                        reward=reward,
                        threshold=threshold,
                    ),
                ]
                for r, reward, threshold in notice.reached
            ],
            (54, 36, 24, 60),
        )
    pdf.ln(3)
    pdf.set_font(FAMILY, size=10)
    pdf.multi_cell(
        0,
        6,
        drawable(
            tr(
                locale,
                "Anyone who disagrees may tell the points group or the village committee "
                "within the notice period.",
            )
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    signature(pdf, issuing_line(praise.village, notice.issued, locale))
    for result in notice.results:
        pdf.add_page()
        title_block(pdf, tr(locale, "{village} · vote result", village=praise.village), period)
        heading(pdf, result.question)
        pdf.set_font(FAMILY, size=11)
        pdf.multi_cell(
            0,
            7,
            drawable(
                tr(
                    locale,
                    "Closed {closed}. Voted: {voters} of {eligible}.",
                    closed=result.closed,
                    voters=result.voters,
                    eligible=result.eligible,
                )
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(2)
        table(
            pdf,
            [tr(locale, "Option"), tr(locale, "Votes")],
            [[label, str(count)] for label, count in result.options],
            (120, 54),
        )
        heading(
            pdf,
            tr(locale, "Result: passed") if result.passed else tr(locale, "Result: not passed"),
        )
        signature(
            pdf,
            tr(
                locale,
                "{village} village committee, {date}",
                village=praise.village,
                date=full_date(notice.issued, locale),
            ),
        )
    return bytes(pdf.output())
