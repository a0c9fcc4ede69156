"""Daily at 09:00: remind grid workers of residents whose join request waits over 24 hours.

The period is the day of the latest 09:00 that has passed. For it (claimed once) every pending
request older than 24 hours is grouped by grid, and each worker of the grid gets one message
listing that grid's waiting residents.
"""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from schedules.runtime import Job, JobContext, register
from storage import org, outbox
from storage.org import MembershipView
from storage.periods import day_key, latest_daily
from views.i18n import locale_of, tr

NAME = "pending_reminder"
AT = time(9, 0)
WAITING_OVER = org.PENDING_REMINDER_AFTER  # 24 hours


def waited(view: MembershipView, now: datetime) -> timedelta:
    """How long a request has waited (a naive `requested_at`, as SQLite returns, is UTC)."""
    requested = view.membership.requested_at
    if requested.tzinfo is None:
        requested = requested.replace(tzinfo=UTC)
    return now - requested


def duration(delta: timedelta, locale: str) -> str:
    hours = max(int(delta.total_seconds() // 3600), 0)
    days, hours = divmod(hours, 24)
    if days:
        return tr(locale, "{days} d {hours} h", days=days, hours=hours)
    return tr(locale, "{hours} h", hours=hours)


def reminder_text(locale: str, items: list[MembershipView], now: datetime) -> str:
    """One message for a worker: `items` are one grid's waiting requests, oldest first."""
    lines = [tr(locale, "<b>Join requests waiting for you ({count})</b>", count=len(items))]
    lines += [
        tr(
            locale,
            "• {name}, {household} ({grid}), waiting {waited}",
            name=html.escape(view.person.full_name or "?"),
            household=html.escape(view.household.label),
            grid=html.escape(view.grid.name),
            waited=duration(waited(view, now), locale),
        )
        for view in items
    ]
    lines.append(tr(locale, "Approve or reject them with /pending."))
    return "\n".join(lines)


async def run(ctx: JobContext) -> dict[str, Any]:
    period = day_key(latest_daily(ctx.now_local, AT))
    if not await ctx.claim(period):
        return {"period": period, "skipped": True}
    waiting = await org.pending_before(ctx.session, ctx.now - WAITING_OVER)
    by_grid: dict[int, list[MembershipView]] = defaultdict(list)
    for view in waiting:
        by_grid[view.membership.grid_id].append(view)
    reminders = 0
    for grid_id, items in by_grid.items():
        village_id = items[0].village.id or 0
        for worker in await org.grid_deciders(ctx.session, village_id, grid_id):
            text = reminder_text(locale_of(worker), items, ctx.now)
            outbox.enqueue(ctx.session, worker.telegram_id, text, batch=f"{NAME}:{period}")
            reminders += 1
    result = {"period": period, "reminders": reminders, "pending": len(waiting)}
    await ctx.record(period, result)
    return result


JOB = register(
    Job(
        name=NAME,
        description=(
            "Daily reminder to grid workers (admins where a grid has none) of residents"
            " pending over 24 hours"
        ),
        trigger={"trigger": "cron", "hour": AT.hour, "minute": AT.minute},
        run=run,
    )
)
