"""What people see of points: claim and review cards, the catalogue as buttons, the weekly,
monthly and quarterly posts, and the callback data of points buttons."""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import date

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.text_decorations import html_decoration as hd
from PIL import Image, ImageDraw
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org, outbox, periods, points
from storage.errors import N_
from storage.models.org import Village
from storage.models.points import (
    CapPeriod,
    ClaimStatus,
    EntryKind,
    PointAppeal,
    PointEntry,
    PointItem,
)
from storage.permissions.points import PointsPermissions as Can
from views.dates import full_date, month_title, week_title
from views.i18n import _, locale_of, tr
from views.keyboards import (
    button,
    keyboard,
    picker,
)
from views.pictures import (
    GOLD,
    GREY,
    INK,
    MARGIN,
    PAPER,
    WIDTH,
    drawable,
    font,
    png,
    wrap,
)


def entry_reason(entry: PointEntry, locale: str | None = None) -> str:
    """An entry's reason as shown; a correction (an upheld appeal) is said in words."""
    if entry.kind == EntryKind.CORRECTION and entry.corrects_id is not None:
        return tr(locale, "appeal upheld: entry #{entry} cancelled", entry=entry.corrects_id)
    return entry.reason


STATUS_NAMES = {
    ClaimStatus.PENDING: N_("waiting for review"),
    ClaimStatus.APPROVED: N_("approved"),
    ClaimStatus.REJECTED: N_("rejected"),
    ClaimStatus.RETRACTED: N_("retracted"),
}


class RetractClaim(CallbackData, prefix="rc"):
    claim_id: int


class AppealEntry(CallbackData, prefix="ap"):
    entry_id: int


def category_label(code: str, locale: str | None) -> str:
    zh, en = points.category_names().get(code, ("其他", "Other"))
    return zh if (locale or "zh") == "zh" else en


def item_label(item: PointItem, locale: str | None) -> str:
    name = item.name if (locale or "zh") == "zh" or not item.name_en else item.name_en
    return f"{name} ({item.points:+d})"


def cap_text(item: PointItem) -> str:
    if not item.cap_count:
        return ""
    if item.cap_period == CapPeriod.WEEK:
        return _("at most {count} a week").format(count=item.cap_count)
    return _("at most {count} a month").format(count=item.cap_count)


async def category_picker(
    session: AsyncSession, village_id: int, what: str, locale: str | None, *, claims: bool = False
) -> InlineKeyboardMarkup:
    """Buttons for the categories that have active items (value: index in the catalogue);
    `claims`: only items a resident may claim (no deductions)."""
    items = await points.catalogue(session, village_id, claimable=claims)
    used = {item.category for item in items}
    codes = [c["code"] for c in points.categories()] + [points.UNCATEGORISED]
    choices = [(i, category_label(code, locale)) for i, code in enumerate(codes) if code in used]
    return picker(what, choices, columns=2)


def category_code(index: int) -> str:
    codes = [c["code"] for c in points.categories()] + [points.UNCATEGORISED]
    return codes[index] if 0 <= index < len(codes) else points.UNCATEGORISED


async def item_picker(
    session: AsyncSession,
    village_id: int,
    category: str,
    what: str,
    locale: str | None,
    *,
    claims: bool = False,
) -> InlineKeyboardMarkup:
    items = await points.catalogue(session, village_id, category=category, claimable=claims)
    return picker(what, [(i.id or 0, item_label(i, locale)) for i in items], columns=1)


def entry_notice(locale: str, village: str, points_: int, reason: str, item: str) -> str:
    return tr(
        locale,
        "{village}: the points group recorded {points:+d} points for your household: "
        "{item}. Reason: {reason}",
        village=hd.quote(village),
        points=points_,
        item=hd.quote(item),
        reason=hd.quote(reason),
    )


def appeal_keyboard(entry_id: int, locale: str) -> dict:
    markup = keyboard([button(tr(locale, "⚖ Appeal"), AppealEntry(entry_id=entry_id).pack())])
    return markup.model_dump(exclude_none=True)


class ReviewClaim(CallbackData, prefix="rv"):
    claim_id: int
    action: str  # a = approve, r = reject, s = skip


class DecideAppeal(CallbackData, prefix="ad"):
    appeal_id: int
    uphold: bool


class ItemAction(CallbackData, prefix="it"):
    item_id: int
    action: str  # p = change points, r = retire


class HandOver(CallbackData, prefix="rw"):
    grant_id: int


class RetireTier(CallbackData, prefix="rt"):
    tier_id: int


class ExportMonth(CallbackData, prefix="px"):
    village_id: int
    month: str


def household_name(label: str, head: str | None, locale: str | None = None) -> str:
    """How villagers know a household: by its head's name (王秀英户) when the village gave
    one, by its label (1组 3号) otherwise."""
    return tr(locale, "{head}'s household", head=head) if head else label


def issuing_line(village: str, issued: date, locale: str | None = None) -> str:
    """幸福村积分管理小组  2026年12月1日: who issues the notice, and when."""
    return tr(
        locale,
        "{village} points group, {date}",
        village=village,
        date=full_date(issued, locale),
    )


PictureRow = tuple[str, str, str, tuple[int, int, int]]  # rank, text, points, colour


def praise_rows(
    praise: points.PraiseList, locale: str | None, *, exposure: bool
) -> list[tuple[str, list[PictureRow]]]:
    """The picture's sections: a heading and its rows (rank, text, points, colour)."""
    sections: list[tuple[str, list[PictureRow]]] = []
    households: list[PictureRow] = [
        (
            f"{r.rank}.",
            tr(
                locale,
                "{household} ({grid})",
                household=household_name(r.label, r.head, locale),
                grid=r.grid,
            ),
            tr(locale, "{points} pts", points=r.points),
            INK,
        )
        for r in praise.top
    ] or [("", tr(locale, "No points this month."), "", GREY)]
    sections.append((tr(locale, "Households"), households))
    if praise.grids:
        sections.append(
            (
                tr(locale, "Grids (average per household)"),
                [
                    (
                        f"{g.rank}.",
                        g.name,
                        tr(locale, "{points} pts", points=format(g.average, ".1f")),
                        INK,
                    )
                    for g in praise.grids
                ],
            )
        )
    if exposure and praise.exposure:
        sections.append(
            (
                tr(locale, "Exposure list"),
                [
                    (
                        "",
                        tr(
                            locale,
                            "{household} ({grid}): {reason}",
                            household=e.household,
                            grid=e.grid,
                            reason=e.reason,
                        ),
                        tr(locale, "{points} pts", points=e.points),
                        GREY,
                    )
                    for e in praise.exposure
                ],
            )
        )
    return sections


BORDER = 4  # the frame's width; it is drawn from 8 px in from each edge
RANK_WIDTH = 56
POINTS_WIDTH = 130
ROW_SIZE, HEADING_SIZE, TITLE_SIZE = 22, 26, 34


def praise_png(
    praise: points.PraiseList,
    locale: str | None = None,
    *,
    exposure: bool = False,
    issued: date | None = None,
) -> bytes:
    """The praise list as a PNG picture: every line inside the frame (long ones wrap), the
    points in one column on the right, the issuing line at the foot."""
    text_left = MARGIN + RANK_WIDTH
    text_width = WIDTH - MARGIN - POINTS_WIDTH - text_left
    title = tr(
        locale,
        "{village} · points praise list {month}",
        village=praise.village,
        month=month_title(praise.month, locale),
    )
    # (x, y, text, size, colour, anchor) to draw, laid out first to know the height
    ops: list[tuple[float, int, str, int, tuple[int, int, int], str]] = []
    y = MARGIN
    for line in wrap(drawable(title), TITLE_SIZE, WIDTH - 2 * MARGIN):
        ops.append((MARGIN, y, line, TITLE_SIZE, GOLD, "la"))
        y += int(TITLE_SIZE * 1.4)
    for heading, rows in praise_rows(praise, locale, exposure=exposure):
        y += 14
        for line in wrap(drawable(heading), HEADING_SIZE, WIDTH - 2 * MARGIN):
            ops.append((MARGIN, y, line, HEADING_SIZE, INK, "la"))
            y += int(HEADING_SIZE * 1.5)
        for rank, text, score, colour in rows:
            ops.append((MARGIN, y, rank, ROW_SIZE, colour, "la"))
            ops.append((WIDTH - MARGIN, y, drawable(score), ROW_SIZE, colour, "ra"))
            for line in wrap(drawable(text), ROW_SIZE, text_width):
                ops.append((text_left, y, line, ROW_SIZE, colour, "la"))
                y += int(ROW_SIZE * 1.5)
    if issued is not None:
        y += 18
        for line in wrap(
            drawable(issuing_line(praise.village, issued, locale)), 20, WIDTH - 2 * MARGIN
        ):
            ops.append((WIDTH - MARGIN, y, line, 20, GREY, "ra"))
            y += 30
    height = y + MARGIN
    image = Image.new("RGB", (WIDTH, height), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, WIDTH - 9, height - 9), outline=GOLD, width=BORDER)
    for x, top, text, size, colour, anchor in ops:
        if text:
            draw.text((x, top), text, font=font(size), fill=colour, anchor=anchor)
    return png(image)


LINES_MAX = 40  # households or entries in one post; the rest are counted


def quote(text: str) -> str:
    return html.escape(text, quote=False)


def signed(value: int) -> str:
    return f"{value:+d}"


def missed_posts(kind: periods.Kind, locale: str | None) -> str:
    if kind == "weekly":
        return tr(locale, "weekly points confirmations")
    if kind == "monthly":
        return tr(locale, "monthly praise lists")
    if kind == "quarterly":
        return tr(locale, "quarterly rewards")
    return tr(locale, "year closings")


def weekly_text(village: Village, week: str, entries: list[points.EntryView], pending: int) -> str:
    by_household: dict[tuple[str, str], list[points.EntryView]] = defaultdict(list)
    for view in entries:
        by_household[(view.household, view.grid)].append(view)
    lines = [
        tr(
            None,
            "<b>{village} · points confirmed, {week}</b>",
            village=quote(village.name),
            week=week_title(week, None),
        )
    ]
    ordered = sorted(by_household.items(), key=lambda kv: -sum(v.entry.points for v in kv[1]))
    for (household, grid), views in ordered[:LINES_MAX]:
        items = "；".join(
            f"{quote(v.person or household)} {quote(entry_reason(v.entry))} "
            f"{signed(v.entry.points)}"
            for v in views
        )
        total = sum(v.entry.points for v in views)
        lines.append(f"• {quote(household)}（{quote(grid)}）{signed(total)}：{items}")
    if len(ordered) > LINES_MAX:
        lines.append(tr(None, "…and {count} more households.", count=len(ordered) - LINES_MAX))
    if pending:
        lines.append(
            tr(None, "{count} claims are still being reviewed; they carry over.", count=pending)
        )
    lines.append(tr(None, "Questions? Talk to the points group. /leaderboard shows the month."))
    return "\n".join(lines)


def ranked_lines(ranked: list[points.Ranked]) -> list[str]:
    return [
        tr(
            None,
            "{rank}. {household} ({grid}) — {points} points",
            rank=r.rank,
            household=quote(r.label),
            grid=quote(r.grid),
            points=r.points,
        )
        for r in ranked
    ]


def monthly_text(praise: points.PraiseList, *, exposure: bool, top: int = 10) -> str:
    lines = [
        tr(
            None,
            "<b>{village} · points praise list {month}</b>",
            village=quote(praise.village),
            month=month_title(praise.month, None),
        ),
        "",
        tr(None, "<b>Households</b>"),
    ]
    lines += ranked_lines(praise.top[:top]) or [tr(None, "No points this month.")]
    if praise.grids:
        lines += ["", tr(None, "<b>Grids (average per household)</b>")]
        lines += [
            tr(
                None,
                "{rank}. {grid} — {average} points",
                rank=g.rank,
                grid=quote(g.name),
                average=round(g.average, 1),
            )
            for g in praise.grids[:LINES_MAX]
        ]
    if exposure and praise.exposure:
        lines += ["", tr(None, "<b>Exposure list</b>")]
        lines += [
            tr(
                None,
                "{household} ({grid}): {reason}, {points} points",
                household=quote(e.household),
                grid=quote(e.grid),
                reason=quote(e.reason),
                points=e.points,
            )
            for e in praise.exposure[:LINES_MAX]
        ]
    lines += ["", tr(None, "Thank you, everyone. Keep it up!")]
    return "\n".join(lines)


async def notify_entry(session: AsyncSession, entry: PointEntry) -> None:
    village = await org.get_village(session, entry.village_id)
    item = await points.get_item(session, entry.item_id) if entry.item_id else None
    for member in await points.household_members(session, entry.household_id):
        locale = locale_of(member)
        outbox.enqueue(
            session,
            member.telegram_id,
            entry_notice(
                locale, village.name, entry.points, entry.reason, item.name if item else ""
            ),
            reply_markup=entry_keyboard(entry, locale),
        )


def entry_keyboard(entry: PointEntry, locale: str) -> dict | None:
    """The appeal button under an entry's notice, when storage would take the appeal."""
    return appeal_keyboard(entry.id or 0, locale) if Can.is_appealable(entry) else None


async def push_appeal(
    session: AsyncSession, appeal: PointAppeal, entry: PointEntry, village: str
) -> int:
    """Send the appeal to the reviewers who did not record the entry; returns how many."""
    household = await points.household_label(session, entry.household_id)
    reviewers = await points.appeal_reviewers(session, appeal)
    for reviewer in reviewers:
        locale = locale_of(reviewer)
        markup = keyboard(
            [
                button(
                    tr(locale, "✔ Withdraw the deduction"),
                    DecideAppeal(appeal_id=appeal.id or 0, uphold=True).pack(),
                ),
                button(
                    tr(locale, "✖ Keep it"),
                    DecideAppeal(appeal_id=appeal.id or 0, uphold=False).pack(),
                ),
            ]
        )
        outbox.enqueue(
            session,
            reviewer.telegram_id,
            tr(
                locale,
                "{village}: {household} appeals a deduction of {points} points "
                "({reason}).\nTheir reason: {text}",
                village=hd.quote(village),
                household=hd.quote(household),
                points=entry.points,
                reason=hd.quote(entry.reason),
                text=hd.quote(appeal.text),
            ),
            reply_markup=markup.model_dump(exclude_none=True),
        )
    return len(reviewers)
