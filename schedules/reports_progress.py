"""报事进展: every Monday at 08:00 (local), each grid whose weekly post is on (off by default;
/gridpost) gets last week's reports in its bound groups — new, fixed, still open and late —
through the outbox, anonymous reporters never named.

The period is the week per grid (`2026-W48/g7`), claimed before the post is queued, so a week
is posted once however often the job runs. After downtime the weeks missed since the grid's
last one are posted, oldest first, at most `CAP` (what is still open only with the latest);
only weeks that ended after the post was turned on. A week with nothing to say, or a grid
with no group bound, is claimed and stays quiet."""

from __future__ import annotations

from datetime import time
from typing import Any

from schedules.runtime import Job, JobContext, register
from storage import jobs as job_runs
from storage import org, outbox, periods
from storage import reports_neighbours as neighbours
from storage.clock import aware
from views.dates import day_title
from views.i18n import locale_of
from views.reports_neighbours import weekly_progress_text

NAME = "report_progress"
AT = time(neighbours.WEEKLY_HOUR)
CAP = 4  # weeks a catch-up still posts


async def run(ctx: JobContext) -> dict[str, Any]:
    newest = periods.shift(
        "weekly", periods.latest_weekly(ctx.now_local, neighbours.WEEKLY_WEEKDAY, AT), -1
    )
    posted: dict[str, int] = {}
    for post in await neighbours.posts_on(ctx.session):
        suffix = f"/g{post.grid_id}"
        last = await job_runs.last_period_ending(ctx.session, ctx.job, suffix)
        weeks = periods.span("weekly", last.partition("/g")[0], newest) if last else [newest]
        since = aware(post.changed_at)
        weeks = [w for w in weeks if periods.iso_week_bounds(w, ctx.tz)[1] > since]
        due = weeks[-CAP:]
        for week in due:
            period = f"{week}{suffix}"
            if not await ctx.claim(period):
                continue
            start, end = periods.iso_week_bounds(week, ctx.tz)
            # What is still open is told once, with the latest week (it is the same for all).
            progress = await neighbours.week_progress(
                ctx.session, post.grid_id, start, end, ctx.now, ctx.tz, with_open=week == due[-1]
            )
            chats = await org.bound_chats(ctx.session, post.village_id, grid_id=post.grid_id)
            if chats and not progress.empty:
                locale = locale_of(None)  # a group reads the default language
                as_of = day_title(ctx.now_local.date(), locale)
                text = weekly_progress_text(progress, week, locale, as_of)
                for chat in chats:
                    outbox.enqueue(ctx.session, chat.chat_id, text, batch=f"{NAME}:{period}")
                posted[period] = len(chats)
            await ctx.record(
                period,
                {
                    "new": len(progress.new),
                    "fixed": len(progress.fixed),
                    "open": len(progress.still_open),
                    "late": len(progress.late),
                    "groups": len(chats),
                },
            )
    return posted


JOB = register(
    Job(
        name=NAME,
        description="Weekly report progress (报事进展) to the grids' groups that turned it on",
        trigger={"trigger": "cron", "minute": 0},
        run=run,
    )
)
