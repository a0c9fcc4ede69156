"""What neighbours reported, as people read it: the grid's list (看看邻居报的) with its 关注
buttons and pages, the duplicate hint of the report wizard, the weekly 报事进展 post of a grid's
group, and the card that turns that post on or off."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.text_decorations import html_decoration as hd

from storage.reports import DEFAULT_NAMES
from storage.reports_neighbours import (
    PAGE_SIZE,
    RECENT_DAYS,
    WEEKLY_HOUR,
    WEEKLY_SHOWN,
    GridReports,
    NeighbourReport,
    PostChoice,
    WeekProgress,
)
from views.dates import week_title
from views.home import Home, home_button
from views.i18n import tr
from views.keyboards import button, flow_button, keyboard
from views.reports import status_label

SHORT = 40  # characters of a description in a list


class NeighbourPage(CallbackData, prefix="nb"):
    """A page of the grid's reports."""

    page: int


class NeighbourFollow(CallbackData, prefix="nf"):
    """关注 on the grid's list: the report, and the page to show again."""

    task_id: int
    page: int


class HintFollow(CallbackData, prefix="hf"):
    """就是这个，关注它: follow the hinted report instead of filing."""

    task_id: int


class PostToggle(CallbackData, prefix="wp"):
    """Turn a grid's weekly post on (1) or off (0)."""

    grid_id: int
    on: int


def kind_of(item: NeighbourReport, locale: str | None) -> str:
    category = item.category
    if category is None:
        return "—"
    if category.code in DEFAULT_NAMES:
        return tr(locale, DEFAULT_NAMES[category.code])
    return hd.quote(category.name)


def days_text(item: NeighbourReport, locale: str | None) -> str:
    """How long, as people say it: 今天报的, 昨天报的, 报了5天; 当天修好, 用了3天修好."""
    if item.is_open:
        if item.days == 0:
            return tr(locale, "filed today")
        if item.days == 1:
            return tr(locale, "filed yesterday")
        return tr(locale, "open for {days} days", days=item.days)
    if item.days == 0:
        return tr(locale, "fixed the same day")
    return tr(locale, "fixed in {days} days", days=item.days)


def who_text(item: NeighbourReport, locale: str | None) -> str:
    if item.reporter_name is None:
        return tr(locale, "a resident (anonymous)")
    return hd.quote(item.reporter_name)


def short(text: str) -> str:
    return hd.quote(text if len(text) <= SHORT else text[: SHORT - 1] + "…")


def item_lines(n: int, item: NeighbourReport, locale: str | None) -> list[str]:
    """1. R-2026-00012 · 道路设施 · 已受理 · 报了3天 ⚠超时
    村东桥头路灯不亮了（村东桥头）· 报事人：张三"""
    task = item.task
    head = (
        f"{n}. <b>{task.number}</b> · {kind_of(item, locale)} · "
        f"{status_label(task.status, locale)} · {days_text(item, locale)}"
    )
    if item.late:
        head += " " + tr(locale, "⚠ late")
    body = short(task.description)
    if task.location:
        body += tr(locale, " ({place})", place=hd.quote(task.location))
    marks = [tr(locale, "reported by {name}", name=who_text(item, locale))]
    if item.own:
        marks.append(tr(locale, "your own report"))
    elif item.followed:
        marks.append(tr(locale, "✓ you follow it"))
    return [head, body + " · " + " · ".join(marks)]


def grid_reports_text(result: GridReports, locale: str | None) -> str:
    lines = [
        tr(
            locale,
            "<b>Reports of {grid}</b>: {open} open, {fixed} fixed in the last {days} days",
            grid=hd.quote(result.grid.name),
            open=result.open_count,
            fixed=result.fixed_count,
            days=RECENT_DAYS,
        )
    ]
    if not result.items:
        lines.append(tr(locale, "Nothing reported in your grid lately."))
    start = result.page * PAGE_SIZE + 1
    for n, item in enumerate(result.items, start=start):
        lines.append("")
        lines += item_lines(n, item, locale)
    lines.append("")
    if any(item.can_follow for item in result.items):
        lines.append(
            tr(
                locale,
                "Seen the same problem? Tap 👀 Follow under its number: you will hear of every "
                "change, with no need to report it again.",
            )
        )
    else:
        lines.append(tr(locale, "Something else wrong? Tap 📣 Report a problem."))
    if result.pages > 1:
        lines.append(
            tr(locale, "Page {page} of {pages}", page=result.page + 1, pages=result.pages)
        )
    return "\n".join(lines)


def grid_reports_keyboard(result: GridReports, locale: str | None) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    follows = [
        button(
            tr(locale, "👀 Follow {number}", number=item.task.number),
            NeighbourFollow(task_id=item.id, page=result.page).pack(),
        )
        for item in result.items
        if item.can_follow
    ]
    rows += [follows[i : i + 1] for i in range(len(follows))]
    pager = []
    if result.page > 0:
        pager.append(button(tr(locale, "◀ Newer"), NeighbourPage(page=result.page - 1).pack()))
    if result.page + 1 < result.pages:
        pager.append(button(tr(locale, "Older ▶"), NeighbourPage(page=result.page + 1).pack()))
    rows.append(pager)
    rows.append([button(tr(locale, "📣 Report a problem"), Home(go="report").pack())])
    rows.append([home_button()])
    return keyboard(*rows)


def neighbours_button(locale: str | None) -> InlineKeyboardButton:
    """看看邻居报的: under the first step of the report wizard."""
    return button(tr(locale, "👀 See what neighbours reported"), NeighbourPage(page=0).pack())


# --- the duplicate hint --------------------------------------------------------------------


def hint_text(hints: list[NeighbourReport], locale: str | None) -> str:
    lines = [
        tr(
            locale,
            "Your neighbours have reported these, still open. Is yours one of them?",
        )
    ]
    for n, item in enumerate(hints, start=1):
        task = item.task
        lines.append("")
        lines.append(
            f"{n}. <b>{task.number}</b> · {kind_of(item, locale)} · "
            f"{status_label(task.status, locale)} · {days_text(item, locale)}"
        )
        body = short(task.description)
        if task.location:
            body += tr(locale, " ({place})", place=hd.quote(task.location))
        lines.append(body)
    lines.append("")
    lines.append(
        tr(
            locale,
            "If it is the same, follow it: you will hear of every change and need not report "
            "it again. If not, carry on with your report.",
        )
    )
    return "\n".join(lines)


def hint_keyboard(hints: list[NeighbourReport], locale: str | None) -> InlineKeyboardMarkup:
    rows = []
    for n, item in enumerate(hints, start=1):
        text = (
            tr(locale, "👀 It is this one: follow it")
            if len(hints) == 1
            else tr(locale, "👀 It is No. {n}: follow it", n=n)
        )
        rows.append([button(text, HintFollow(task_id=item.id).pack())])
    rows.append([flow_button(tr(locale, "➡ No, carry on with my report"), "notsame")])
    rows.append([flow_button(tr(locale, "✖ Cancel"), "cancel")])
    return keyboard(*rows)


def followed_instead_text(number: str, grid: str, locale: str | None) -> str:
    return tr(
        locale,
        "Done: you now follow {number} and need not report it again. The workers of {grid} "
        "have it; I will tell you here of every change, and when it is fixed.",
        number=number,
        grid=hd.quote(grid),
    )


# --- the weekly post -----------------------------------------------------------------------


def _post_lines(
    heading: str, items: list[NeighbourReport], locale: str | None, *, fixed: bool = False
) -> list[str]:
    lines = [heading]
    for item in items[:WEEKLY_SHOWN]:
        task = item.task
        mark = "⚠ " if item.late and not fixed else "• "
        line = f"{mark}{task.number} · {kind_of(item, locale)} · {short(task.description)}"
        if task.location:
            line += tr(locale, " ({place})", place=hd.quote(task.location))
        line += " · " + (
            days_text(item, locale) if fixed or item.is_open else status_label(task.status, locale)
        )
        if item.reporter_name is not None:
            line += " · " + hd.quote(item.reporter_name)
        lines.append(line)
    if len(items) > WEEKLY_SHOWN:
        lines.append(tr(locale, "…and {count} more.", count=len(items) - WEEKLY_SHOWN))
    return lines


def weekly_progress_text(progress: WeekProgress, week: str, locale: str | None, as_of: str) -> str:
    """报事进展 of one grid's week: new, fixed, still open (and late). Anonymous reporters are
    never named."""
    lines = [
        tr(
            locale,
            "📰 <b>Report progress of {grid}, {week}</b>",
            grid=hd.quote(progress.grid.name),
            week=week_title(week, locale),
        )
    ]
    lines.append("")
    lines += _post_lines(
        tr(locale, "New this week: {count}", count=len(progress.new)), progress.new, locale
    )
    lines.append("")
    lines += _post_lines(
        tr(locale, "Fixed this week: {count}", count=len(progress.fixed)),
        progress.fixed,
        locale,
        fixed=True,
    )
    if progress.open_shown:
        lines.append("")
        lines += _post_lines(
            tr(
                locale,
                "Still open on {day}: {count}, of them late: {late}",
                day=as_of,
                count=len(progress.still_open),
                late=len(progress.late),
            ),
            progress.still_open,
            locale,
        )
    lines.append("")
    lines.append(
        tr(
            locale,
            "Seen one of these too? Send me /reports in a private chat and follow it.",
        )
    )
    return "\n".join(lines)


def post_choices_text(choices: list[PostChoice], locale: str | None) -> str:
    lines = [
        tr(
            locale,
            "<b>Weekly report progress</b>\nEvery Monday at {hour}:00, a grid's group can get "
            "last week's reports: new, fixed, still open and late. Anonymous reporters are "
            "never named. It is off until you turn it on.",
            hour=WEEKLY_HOUR,
        ),
        "",
    ]
    if not choices:
        lines.append(tr(locale, "You have no grid to set."))
    for choice in choices:
        names = {"village": hd.quote(choice.village.name), "grid": hd.quote(choice.grid.name)}
        line = (
            tr(locale, "{village} · {grid}: turned on", **names)
            if choice.enabled
            else tr(locale, "{village} · {grid}: turned off", **names)
        )
        if not choice.groups:
            line += tr(locale, " (no group bound yet: nothing is posted until one is)")
        lines.append(line)
    lines.append("")
    lines.append(tr(locale, "Tap a grid to turn its post on or off."))
    return "\n".join(lines)


def post_choices_keyboard(choices: list[PostChoice], locale: str | None) -> InlineKeyboardMarkup:
    rows = []
    for choice in choices[:30]:
        text = (
            tr(locale, "✓ {grid}: on · turn off", grid=choice.grid.name)
            if choice.enabled
            else tr(locale, "{grid}: off · turn on", grid=choice.grid.name)
        )
        rows.append(
            [
                button(
                    text,
                    PostToggle(grid_id=choice.grid.id or 0, on=int(not choice.enabled)).pack(),
                )
            ]
        )
    rows.append([home_button()])
    return keyboard(*rows)


def post_changed_text(choice_grid: str, on: bool, groups: int, locale: str | None) -> str:
    if not on:
        return tr(locale, "The weekly post of {grid} is off.", grid=hd.quote(choice_grid))
    if not groups:
        return tr(
            locale,
            "The weekly post of {grid} is on. No group of the grid is bound yet: once one is "
            "(/bindgroup), it gets the post every Monday at {hour}:00.",
            grid=hd.quote(choice_grid),
            hour=WEEKLY_HOUR,
        )
    return tr(
        locale,
        "The weekly post of {grid} is on: its group gets last week's reports every Monday at "
        "{hour}:00, the first next Monday.",
        grid=hd.quote(choice_grid),
        hour=WEEKLY_HOUR,
    )
