"""Daily at 09:00: remind grid workers of residents whose join request waits over 24 hours.

The period is the day of the latest 09:00 that has passed. For it (claimed once) every pending
request older than 24 hours is grouped by grid, and each worker of the grid gets one message
listing that grid's waiting residents.
"""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol

from schedules.periods import day_key, latest_daily
from schedules.runtime import Job, JobContext, register
from storage import org, outbox
from storage.org import MembershipView

NAME = "pending_reminder"
AT = time(9, 0)
WAITING_OVER = org.PENDING_REMINDER_AFTER  # 24 hours


class PendingReminderRender(Protocol):
    """The text helper this job needs from `ctx.render` (the bot passes a translated one)."""

    def pending_reminder(
        self, locale: str | None, items: list[MembershipView], now: datetime
    ) -> str:
        """One HTML message for a worker: `items` are one grid's waiting requests, oldest first."""
        ...


def waited(view: MembershipView, now: datetime) -> timedelta:
    """How long a request has waited (a naive `requested_at`, as SQLite returns, is UTC)."""
    requested = view.membership.requested_at
    if requested.tzinfo is None:
        requested = requested.replace(tzinfo=UTC)
    return now - requested


def _duration(delta: timedelta) -> str:
    hours = max(int(delta.total_seconds() // 3600), 0)
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if days else f"{hours} h"


class PlainRender:
    """English text, used when the job runs without the bot's renderer (tests, the CLI)."""

    def pending_reminder(
        self, locale: str | None, items: list[MembershipView], now: datetime
    ) -> str:
        grid = items[0].grid.name
        village = items[0].village.name
        lines = [
            f"<b>Residents waiting for approval in {html.escape(village)} / "
            f"{html.escape(grid)}</b>",
            "",
        ]
        lines.extend(
            f"• {html.escape(item.person.full_name or '?')}, "
            f"{html.escape(item.household.label)}: waiting {_duration(waited(item, now))}"
            for item in items
        )
        lines += [
            "",
            "You can approve them from the original request message or via /pending.",
        ]
        return "\n".join(lines)


async def run(ctx: JobContext) -> dict[str, Any]:
    period = day_key(latest_daily(ctx.now_local, AT))
    if not await ctx.claim(period):
        return {"period": period, "skipped": True}
    render: PendingReminderRender = ctx.render or PlainRender()  # type: ignore[assignment]
    waiting = await org.pending_before(ctx.session, ctx.now - WAITING_OVER)
    by_grid: dict[int, list[MembershipView]] = defaultdict(list)
    for view in waiting:
        by_grid[view.membership.grid_id].append(view)
    reminders = 0
    for grid_id, items in by_grid.items():
        for worker in await org.grid_workers(ctx.session, grid_id):
            text = render.pending_reminder(worker.locale, items, ctx.now)
            outbox.enqueue(ctx.session, worker.telegram_id, text, batch=f"{NAME}:{period}")
            reminders += 1
    result = {"period": period, "reminders": reminders, "pending": len(waiting)}
    await ctx.record(period, result)
    return result


JOB = register(
    Job(
        name=NAME,
        description="Daily reminder to grid workers of residents pending over 24 hours",
        trigger={"trigger": "cron", "hour": AT.hour, "minute": AT.minute},
        run=run,
    )
)
