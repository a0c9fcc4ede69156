"""Dates and periods as people say them, in both languages, for posts, pictures, sheets, the
PDF and exports: 12月1日, 12月1日 19:00, 2026年12月1日, 第49周（11月30日—12月6日）, 2026年11月,
2026年第一季度, 公示期：12月1日至12月7日.

Period keys (2026-W49, 2026-11, 2026-Q1, 2026) are the calendar's (storage/periods.py); nobody
reads them: every title here turns a key into words. A key that is not one is shown as it is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from storage import periods
from storage.errors import N_
from views.i18n import tr

QUARTER_NAMES = {
    1: N_("Q1 {year}"),
    2: N_("Q2 {year}"),
    3: N_("Q3 {year}"),
    4: N_("Q4 {year}"),
}


def local(moment: datetime, tz: ZoneInfo) -> datetime:
    """A stored time in the zone `tz` (SQLite gives stored times back naive: they are UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(tz)


def day_title(day: date, locale: str | None = None) -> str:
    """12月1日 (Dec 1)."""
    return tr(locale, "{month}/{day}", month=day.month, day=day.day)


def full_date(day: date, locale: str | None = None) -> str:
    """2026年12月1日 (1 Dec 2026)."""
    return tr(
        locale,
        "{day} {month_name} {year}",
        year=day.year,
        day=day.day,
        month_name=tr(locale, MONTH_NAMES[day.month - 1]),
    )


MONTH_NAMES = (
    N_("Jan"),
    N_("Feb"),
    N_("Mar"),
    N_("Apr"),
    N_("May"),
    N_("Jun"),
    N_("Jul"),
    N_("Aug"),
    N_("Sep"),
    N_("Oct"),
    N_("Nov"),
    N_("Dec"),
)


def moment_title(
    moment: datetime | None,
    tz: ZoneInfo,
    locale: str | None = None,
    *,
    today: date | None = None,
) -> str:
    """12月1日 19:00; with `today` of another year, the year too (2025年12月1日 19:00)."""
    if moment is None:
        return "—"
    seen = local(moment, tz)
    clock = f"{seen.hour:02d}:{seen.minute:02d}"
    other_year = today is not None and seen.year != today.year
    day = full_date(seen.date(), locale) if other_year else day_title(seen.date(), locale)
    return tr(locale, "{day} {time}", day=day, time=clock)


def week_title(week: str, locale: str | None = None) -> str:
    """第49周（11月30日—12月6日）: the ISO week's number and its Monday and Sunday."""
    try:
        monday = periods.first_day("weekly", week)
    except ValueError:
        return week
    return tr(
        locale,
        "week {week} ({start} – {end})",
        week=monday.isocalendar()[1],
        start=day_title(monday, locale),
        end=day_title(monday + timedelta(days=6), locale),
    )


def month_title(month: str, locale: str | None = None) -> str:
    """2026年11月 (Nov 2026)."""
    try:
        start = periods.first_day("monthly", month)
    except ValueError:
        return month
    return tr(
        locale,
        "{month_name} {year}",
        year=start.year,
        month_name=tr(locale, MONTH_NAMES[start.month - 1]),
    )


def quarter_title(key: str, locale: str | None = None) -> str:
    """A quarter's key (2026-Q1) as people say it: 2026年第一季度."""
    try:
        start = periods.first_day("quarterly", key)
    except ValueError:
        return key
    return tr(locale, QUARTER_NAMES[(start.month - 1) // 3 + 1], year=start.year)


def year_title(key: str | int, locale: str | None = None) -> str:
    """2026年 (2026)."""
    return tr(locale, "year {year}", year=key)


def period_title(kind: periods.Kind, key: str, locale: str | None = None) -> str:
    if kind == "weekly":
        return week_title(key, locale)
    if kind == "quarterly":
        return quarter_title(key, locale)
    if kind == "monthly":
        return month_title(key, locale)
    if kind == "daily":
        return day_title(date.fromisoformat(key), locale)
    return year_title(key, locale)


def notice_period(start: date, days: int = 7, locale: str | None = None) -> str:
    """公示期：12月1日至12月7日 — a notice is up for `days` days from `start`, both counted."""
    return tr(
        locale,
        "On the notice board: {start} to {end}",
        start=day_title(start, locale),
        end=day_title(start + timedelta(days=days - 1), locale),
    )
