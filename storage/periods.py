"""Period keys and bounds for scheduled jobs, in local time.

A job that runs "daily at 09:00" works for the period of the latest 09:00 that has passed. Keys
sort as text and read well in the `job_run` table:

| kind      | key          | period (local time)                   |
|-----------|--------------|---------------------------------------|
| daily     | `2026-11-29` | that day                              |
| weekly    | `2026-W48`   | that ISO week, Monday to Sunday       |
| monthly   | `2026-11`    | that month                            |
| quarterly | `2026-Q4`    | that quarter                          |
| yearly    | `2026`       | that year                             |

The `latest_*` functions take `now_local`, an aware datetime in the configured zone (use
`now.astimezone(tz)`), and return the key of the period holding the latest occurrence of the
schedule at or before it. A job that reports on the period *before* the occurrence (the monthly
praise list run on the 1st) takes `shift(kind, key, -1)`.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
KINDS: tuple[Kind, ...] = ("daily", "weekly", "monthly", "quarterly", "yearly")

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^\d{4}$")


# --- keys ----------------------------------------------------------------------------------


def day_key(day: date) -> str:
    return day.isoformat()


def week_key(day: date) -> str:
    """The ISO week holding `day`: 2027-01-01 is in 2026-W53."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def month_key(day: date) -> str:
    return f"{day.year}-{day.month:02d}"


def quarter_key(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def year_key(day: date) -> str:
    return str(day.year)


def key_of(kind: Kind, day: date) -> str:
    """The key of the `kind` period holding `day`."""
    return _KEY_OF[kind](day)


_KEY_OF = {
    "daily": day_key,
    "weekly": week_key,
    "monthly": month_key,
    "quarterly": quarter_key,
    "yearly": year_key,
}


def first_day(kind: Kind, key: str) -> date:
    """The first local day of the period `key`; ValueError for a malformed key."""
    if kind == "daily":
        return date.fromisoformat(key)
    if kind == "weekly" and (match := _WEEK.match(key)):
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    if kind == "monthly" and (match := _MONTH.match(key)):
        return date(int(match[1]), int(match[2]), 1)
    if kind == "quarterly" and (match := _QUARTER.match(key)):
        return date(int(match[1]), (int(match[2]) - 1) * 3 + 1, 1)
    if kind == "yearly" and _YEAR.match(key):
        return date(int(key), 1, 1)
    raise ValueError(f"not a {kind} period key: {key!r}")


def shift(kind: Kind, key: str, n: int = 1) -> str:
    """The key `n` periods after `key` (before, when `n` is negative)."""
    start = first_day(kind, key)
    if kind == "daily":
        return day_key(start + timedelta(days=n))
    if kind == "weekly":
        return week_key(start + timedelta(weeks=n))
    months = {"monthly": 1, "quarterly": 3, "yearly": 12}[kind] * n
    index = start.year * 12 + start.month - 1 + months
    return key_of(kind, date(index // 12, index % 12 + 1, 1))


# --- the latest occurrence ------------------------------------------------------------------


def _passed(now_local: datetime, day: date, at: time) -> bool:
    """Whether `day` at `at` (local) is at or before `now_local`."""
    return (now_local.date(), now_local.time().replace(tzinfo=None)) >= (day, at)


def _clamped(year: int, month: int, day: int) -> date:
    """`day` of that month, or its last day when the month is shorter (31 → 30 November)."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def latest_daily(now_local: datetime, at: time) -> date:
    """The latest day whose `at` has passed: today if it has, else yesterday."""
    today = now_local.date()
    return today if _passed(now_local, today, at) else today - timedelta(days=1)


def latest_weekly(now_local: datetime, weekday: int, at: time) -> str:
    """The ISO week of the latest `weekday` (0 = Monday … 6 = Sunday) at `at`."""
    day = now_local.date() - timedelta(days=(now_local.weekday() - weekday) % 7)
    if not _passed(now_local, day, at):
        day -= timedelta(weeks=1)
    return week_key(day)


def latest_monthly(now_local: datetime, day: int, at: time) -> str:
    """The month of the latest `day` of a month at `at` (a short month runs on its last day)."""
    year, month = now_local.year, now_local.month
    if not _passed(now_local, _clamped(year, month, day), at):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return f"{year}-{month:02d}"


def latest_quarterly(now_local: datetime, day: int, at: time, month: int = 1) -> str:
    """The quarter of the latest `day` of its `month`-th month (1–3) at `at`."""
    year, quarter = now_local.year, (now_local.month - 1) // 3
    if not _passed(now_local, _clamped(year, quarter * 3 + month, day), at):
        year, quarter = (year, quarter - 1) if quarter > 0 else (year - 1, 3)
    return f"{year}-Q{quarter + 1}"


def latest_yearly(now_local: datetime, month: int, day: int, at: time) -> str:
    """The year of the latest `month`/`day` at `at`."""
    year = now_local.year
    if not _passed(now_local, _clamped(year, month, day), at):
        year -= 1
    return str(year)


def latest(
    kind: Kind, now_local: datetime, *, at: time, weekday: int = 0, day: int = 1, month: int = 1
) -> str:
    """The key of the latest occurrence of a `kind` schedule, whatever the kind.

    `weekday` is for weekly schedules, `day` for monthly, quarterly and yearly ones, `month` for
    quarterly (month of the quarter, 1–3) and yearly ones.
    """
    if kind == "daily":
        return day_key(latest_daily(now_local, at))
    if kind == "weekly":
        return latest_weekly(now_local, weekday, at)
    if kind == "monthly":
        return latest_monthly(now_local, day, at)
    if kind == "quarterly":
        return latest_quarterly(now_local, day, at, month)
    return latest_yearly(now_local, month, day, at)


def periods_between(
    kind: Kind,
    last_key: str | None,
    now_local: datetime,
    *,
    at: time,
    weekday: int = 0,
    day: int = 1,
    month: int = 1,
    limit: int | None = None,
) -> list[str]:
    """The keys due after `last_key` up to the latest occurrence at `now_local`, oldest first.

    With no `last_key` (the job never ran) only the latest is due. `limit` keeps the newest
    `limit` keys, so a bot that was down for long does not flood anyone.
    """
    newest = latest(kind, now_local, at=at, weekday=weekday, day=day, month=month)
    if last_key is None:
        return [newest]
    keys: list[str] = []
    key = shift(kind, last_key)
    newest_start = first_day(kind, newest)
    while first_day(kind, key) <= newest_start:
        keys.append(key)
        key = shift(kind, key)
    if limit is not None:
        keys = keys[-limit:] if limit > 0 else []
    return keys


def span(kind: Kind, after: str, upto: str) -> list[str]:
    """The keys after `after` up to and including `upto`, oldest first (none if `upto` is not
    later)."""
    keys: list[str] = []
    key, last = shift(kind, after), first_day(kind, upto)
    while first_day(kind, key) <= last:
        keys.append(key)
        key = shift(kind, key)
    return keys


# --- bounds --------------------------------------------------------------------------------


def _utc_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def bounds(kind: Kind, key: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The period `key` as [start, end) in UTC, its days taken in the zone `tz`."""
    start = first_day(kind, key)
    return _utc_midnight(start, tz), _utc_midnight(first_day(kind, shift(kind, key)), tz)


def day_bounds(key: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return bounds("daily", key, tz)


def iso_week_bounds(key: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00, local time, as UTC."""
    return bounds("weekly", key, tz)


def month_bounds(key: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return bounds("monthly", key, tz)


def quarter_bounds(key: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return bounds("quarterly", key, tz)


def year_bounds(key: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return bounds("yearly", key, tz)
