"""Deadlines of grid tasks, every 10 minutes, each step exactly once:

- a task not accepted in time is pushed again to its grid and to the village admins
  (period `a<task>-<deadline>`: once per deadline, so a reopened or handed-over task can be
  escalated again for its new deadline);
- a task past its resolve time is escalated to the village admins (`r<task>-<deadline>`);
- a resolved report whose reporter did not answer "is it fixed?" in 3 days is closed
  (`c<task>-<reopen count>`), and the reporter and followers are told.
"""

from __future__ import annotations

from typing import Any

from schedules.runtime import Job, JobContext, register
from storage import org, outbox, reports
from storage.errors import N_
from storage.models.org import Person
from views.i18n import locale_of, tr
from views.reports import markup_dict, notify_change, push_task, task_card, worker_keyboard

NAME = "report_deadlines"


def stamp(moment: object) -> int:
    aware = reports.aware(moment)  # type: ignore[arg-type]
    return int(aware.timestamp()) if aware else 0


async def run(ctx: JobContext) -> dict[str, Any]:
    session = ctx.session
    pushed = escalated = closed = 0
    for task in await reports.past_accept_deadline(session, ctx.now):
        if not await ctx.claim(f"a{task.id}-{stamp(task.accept_due_at)}"):
            continue
        view = await reports.task_view(session, task.id or 0)
        admins = await org.village_admins(session, task.village_id)
        await push_task(
            session, view, ctx.tz, header=N_("⏰ Not accepted in time: please accept"), also=admins
        )
        pushed += 1
    for task in await reports.past_resolve_deadline(session, ctx.now):
        if not await ctx.claim(f"r{task.id}-{stamp(task.resolve_due_at)}"):
            continue
        view = await reports.task_view(session, task.id or 0)
        admins = await org.village_admins(session, task.village_id)
        await _escalate(ctx, view, admins)
        escalated += 1
    for task_id in await reports.waiting_for_follow_up(session, ctx.now):
        task = await session.get(reports.Task, task_id)
        if task is None or not await ctx.claim(f"c{task_id}-{task.reopen_count}"):
            continue
        view = await reports.auto_close(session, task_id, ctx.now, ctx.tz)
        if view is not None:
            await notify_change(session, view)
            closed += 1
    return {"pushed_again": pushed, "escalated": escalated, "closed": closed}


async def _escalate(ctx: JobContext, view: reports.TaskView, admins: list[Person]) -> None:
    """Only the admins get it: the grid already has it in its lists."""
    for admin in admins:
        locale = locale_of(admin)
        text = tr(locale, "⚠ Past its time to resolve: escalated to you") + "\n\n"
        outbox.enqueue(
            ctx.session,
            admin.telegram_id,
            text + task_card(view, locale, ctx.tz),
            reply_markup=markup_dict(worker_keyboard(view.task, locale)),
        )


JOB = register(
    Job(
        name=NAME,
        description="Grid tasks: push again when not accepted, escalate when late, auto-close",
        trigger={"trigger": "interval", "minutes": 10},
        run=run,
    )
)
