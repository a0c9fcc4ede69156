"""Hourly check: at each village's digest hour (default 08:00, /reportsettings), every grid
worker gets one message listing their open and overdue tasks. The period is the day per village
(`2026-11-29/v3`), so a worker gets one digest a day, also when the job runs twice or late."""

from __future__ import annotations

from datetime import time
from typing import Any

from sqlmodel import select

from schedules.runtime import Job, JobContext, register
from storage import org, outbox, reports
from storage.models.org import Village
from storage.periods import day_key, latest_daily
from views.i18n import locale_of, tr

NAME = "task_digest"
SHOWN = 15


async def run(ctx: JobContext) -> dict[str, Any]:
    session = ctx.session
    open_by_grid = await reports.open_tasks_by_grid(session)
    digests = 0
    for village in (await session.exec(select(Village))).all():
        settings = await reports.settings_of(session, village.id or 0)
        day = latest_daily(ctx.now_local, time(settings.digest_hour))
        if day != ctx.now_local.date():  # the hour has not come yet today
            continue
        period = f"{day_key(day)}/v{village.id}"
        grids = await org.grids_of(session, village.id or 0)
        if not any(open_by_grid.get(g.id or 0) for g in grids):
            continue
        if not await ctx.claim(period):
            continue
        for grid in grids:
            tasks = open_by_grid.get(grid.id or 0, [])
            if not tasks:
                continue
            for worker in await org.grid_workers(session, grid.id or 0):
                locale = locale_of(worker)
                overdue = [t for t in tasks if reports.is_overdue(t, ctx.now)]
                lines = [
                    tr(
                        locale,
                        "<b>Your tasks in {grid} today: {open} open, {overdue} overdue</b>",
                        grid=grid.name,
                        open=len(tasks),
                        overdue=len(overdue),
                    )
                ]
                for task in tasks[:SHOWN]:
                    mark = "⚠ " if task in overdue else "• "
                    status = tr(locale, reports.STATUS_NAMES[reports.TaskStatus(task.status)])
                    lines.append(f"{mark}{task.number} · {status}")
                lines.append(tr(locale, "See /tasks to act on them."))
                outbox.enqueue(
                    session, worker.telegram_id, "\n".join(lines), batch=f"{NAME}:{period}"
                )
                digests += 1
    return {"digests": digests}


JOB = register(
    Job(
        name=NAME,
        description="Daily digest of open and overdue tasks to each grid worker",
        trigger={"trigger": "cron", "minute": 0},
        run=run,
    )
)
